import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyHost, classifyIPv4, detectRfi, detectSsrf, parseIPv4, parseIPv6 } from '../src/threats/detectors/ssrf.js';
import { detectRfi as detectRfiFromTraversal } from '../src/threats/detectors/traversal.js';
import type { DetectContext, Detector, Hit, InputLocation, Paranoia } from '../src/threats/types.js';
import { assertCheap } from './threats-timing.js';

function run(d: Detector, value: string, paranoia: Paranoia = 1, name = 'q', location: InputLocation = 'query'): Hit | undefined {
  const ctx: DetectContext = { paranoia, location, name, isKey: false };
  return d(value, value.toLowerCase(), ctx);
}

const strong = (h: Hit | undefined): boolean => h !== undefined && h.paranoia === 1 && h.severity >= 5;

// ---------------------------------------------------------------------------------------
// host parsers

test('IPv4 parser reads every WHATWG notation', () => {
  const cases: readonly (readonly [string, string, boolean])[] = [
    ['127.0.0.1', '127.0.0.1', true],
    ['2130706433', '127.0.0.1', false],
    ['0x7f000001', '127.0.0.1', false],
    ['0X7F.0.0.1', '127.0.0.1', false],
    ['0177.0.0.1', '127.0.0.1', false],
    ['0177.00.00.01', '127.0.0.1', false],
    ['127.1', '127.0.0.1', false],
    ['127.0.1', '127.0.0.1', false],
    ['0', '0.0.0.0', false],
    ['169.254.43518', '169.254.169.254', false],
    ['169.16689662', '169.254.169.254', false],
    ['0xA9.0xFE.0xA9.0xFE', '169.254.169.254', false],
    ['0251.0376.0251.0376', '169.254.169.254', false],
    ['7147006462', '169.254.169.254', false], // wraps modulo 2^32
    ['0x41414141A9FEA9FE', '169.254.169.254', false],
    ['017700000001', '127.0.0.1', false],
    ['10.0.0.1.', '10.0.0.1', true],
  ];
  for (const [input, dotted, canonical] of cases) {
    const v = parseIPv4(input.toLowerCase());
    assert.ok(v !== undefined, input);
    const x = v.value;
    const got = [Math.floor(x / 16777216), Math.floor(x / 65536) % 256, Math.floor(x / 256) % 256, x % 256].join('.');
    assert.equal(got, dotted, input);
    assert.equal(v.canonical, canonical, input);
  }
  for (const bad of ['', 'example.com', '1.2.3.4.5', '1..2', '08.1.1.1', '0xg.1.1.1', 'a1']) {
    assert.equal(parseIPv4(bad), undefined, bad);
  }
});

test('IPv6 parser handles compression, embedded IPv4 and zones', () => {
  assert.deepEqual(parseIPv6('::1'), [0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(parseIPv6('::'), [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(parseIPv6('::ffff:127.0.0.1'), [0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]);
  assert.deepEqual(parseIPv6('fe80::1%eth0'), [0xfe80, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual(parseIPv6('2001:db8:0:0:1:0:0:1'), [0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]);
  for (const bad of ['1:2', ':::', '1::2::3', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', '::1.2.3']) {
    assert.equal(parseIPv6(bad), undefined, bad);
  }
});

test('host classification', () => {
  const cases: readonly (readonly [string, string])[] = [
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.0.1', 'private'],
    ['100.64.0.1', 'cgnat'],
    ['169.254.169.254', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['192.0.0.192', 'metadata'],
    ['169.254.1.1', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['8.8.8.8', 'public'],
    ['[::1]', 'loopback'],
    ['[::]', 'unspecified'],
    ['[::ffff:a9fe:a9fe]', 'metadata'],
    ['[::ffff:7f00:1]', 'loopback'],
    ['[::127.0.0.1]', 'loopback'],
    ['[64:ff9b::10.0.0.1]', 'private'],
    ['[2002:7f00:1::]', 'loopback'],
    ['[fd00:ec2::254]', 'metadata'],
    ['[fe80::1%25en0]', 'link-local'],
    ['[fc00::1]', 'private'],
    ['[2606:4700::1111]', 'public'],
    ['localhost', 'loopback'],
    ['api.localhost', 'loopback'],
    ['ip6-localhost', 'loopback'],
    ['metadata.google.internal', 'metadata'],
    ['host.docker.internal', 'internal-name'],
    ['kubernetes.default.svc.cluster.local', 'internal-name'],
    ['printer.local', 'internal-name'],
    ['127.0.0.1.nip.io', 'loopback'],
    ['app.10.0.0.1.nip.io', 'private'],
    ['10-0-0-1.sslip.io', 'private'],
    ['app-192-168-1-1.sslip.io', 'private'],
    ['7f000001.nip.io', 'loopback'],
    ['8.8.8.8.nip.io', 'public'],
    ['localtest.me', 'loopback'],
    ['foo.lvh.me', 'loopback'],
    ['7f000001.c0a80001.rbndr.us', 'rebinding'],
    ['example.com', 'public'],
    ['①②⑦.⓪.⓪.①', 'loopback'],
    ['169。254。169。254', 'metadata'],
    ['ⓛⓞⓒⓐⓛⓗⓞⓢⓣ', 'loopback'],
  ];
  for (const [host, kind] of cases) {
    const info = classifyHost(host.toLowerCase());
    assert.equal(info?.kind, kind, host);
  }
  assert.equal(classifyIPv4(0x7f000001), 'loopback');
});

// ---------------------------------------------------------------------------------------
// SSRF

const SSRF_ATTACKS: readonly string[] = [
  'http://127.0.0.1/admin',
  'http://localhost:8080/actuator/env',
  'https://localhost/',
  'http://127.1/',
  'http://0/',
  'http://0.0.0.0:6379/',
  'http://2130706433/',
  'http://0x7f000001/',
  'http://0177.0.0.1/',
  'http://0x7f.0.0.1/',
  'http://127.0.0.1.nip.io/',
  'http://10-0-0-1.sslip.io/',
  'http://localtest.me/',
  'http://admin.localhost/',
  'http://[::1]/',
  'http://[::]/',
  'http://[::ffff:127.0.0.1]/',
  'http://[::ffff:7f00:1]/',
  'http://[0:0:0:0:0:ffff:169.254.169.254]/',
  'http://[fe80::1%25eth0]/',
  'http://[fd00:ec2::254]/latest/meta-data/',
  'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
  'http://metadata.google.internal/computeMetadata/v1/',
  'http://100.100.100.200/latest/meta-data/',
  'http://192.0.0.192/latest/user-data/',
  'https://metadata.packet.net/userdata',
  'http://2852039166/',
  'http://7147006462/',
  'http://0xA9FEA9FE/',
  'http://169.254.43518/',
  'http://10.0.0.5:9200/_cat/indices',
  'http://192.168.1.1/cgi-bin/admin',
  'http://172.16.5.4/',
  'http://100.64.0.1/',
  'http://host.docker.internal:2375/containers/json',
  'http://kubernetes.default.svc.cluster.local/api',
  'http://good.com@127.0.0.1/',
  'http://user:pass@10.0.0.1/',
  'http://google.com:80 &@google.com:80# @127.88.23.245:22/',
  'http://google.com:80 &@127.88.23.245:22/# @google.com:80/',
  'http://\\\\l\\\\o\\\\c\\\\a\\\\l\\\\h\\\\o\\\\s\\\\t/',
  'http:\\\\127.0.0.1\\admin',
  'http:127.0.0.1',
  'http:/127.0.0.1/',
  'http:2852039166',
  'http:[::ffff:a9fe:a9fe]',
  'http://①②⑦.⓪.⓪.①/',
  'http://169。254。169。254/',
  'ftp://127.0.0.1/',
  'ssh://0177.00.00.01',
  'rtmp://017700000001',
  'irc://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ',
  'xri://[0:0:0:0:0:ffff:169.254.169.254]',
  'gopher://127.0.0.1:6379/_FLUSHALL',
  'gopher://example.com/_SSRFTest!',
  'dict://127.0.0.1:11211/stats',
  'dict://evil.example:11211/',
  'tftp://evil.example/file',
  'netdoc:/etc/passwd',
  'jar:http://evil.example/a.jar!/',
  'ldap://127.0.0.1/',
  'file:///etc/passwd',
  'file:/etc/passwd',
  'file:\\\\server\\share\\x',
  'url=http://127.0.0.1/ and more text',
  '{"target":"http://169.254.169.254/"}',
  '//127.0.0.1/admin',
  'localhost/',
  'localhost:6379/0',
  'host.docker.internal/',
  'kubernetes.default.svc.cluster.local/',
  'lvh.me/',
  '169.254.169.254/latest/user-data',
];

for (const a of SSRF_ATTACKS) {
  test(`ssrf blocks ${JSON.stringify(a)}`, () => {
    const h = run(detectSsrf, a);
    assert.ok(strong(h), `not blocked: ${JSON.stringify(h)}`);
    assert.equal(h?.category, 'ssrf');
    assert.ok((h?.evidence.length ?? 99) <= 40);
  });
}

const SSRF_BENIGN: readonly string[] = [
  // `file:` as a label, not a file URL (Debian: "invoke your editor, with optional file:lineno handling")
  'invoke your editor, with optional file:lineno handling',
  'file:README.md',
  'https://example.com/',
  'https://api.github.com/repos/nodejs/node',
  'http://www.example.org/some/path?x=1&y=2',
  'https://medium.com/@user/post-title',
  'https://[2606:4700:4700::1111]/',
  'http://[2001:db8::1]/',
  'http://203.0.113.5/',
  'http://8.8.8.8/',
  'ldap://ldap.example.com/',
  'version 1.2.3.4',
  '10.0.0.1',
  '192.168.1.10:8080',
  '10.0.0.0/8',
  '172.16.0.0/12 and 192.168.0.0/16',
  'localhost',
  'server=localhost',
  'mylocalhost',
  'example.com/',
  '2852039166',
  '0x41414141A9FEA9FE',
  '169.16689662',
  '[::ffff:a9fe:a9fe]',
  '12.05.2023',
  '0.5',
  '3.14',
  '$1,234.56',
  '€12.50',
  '+1 (555) 010-0199',
  'john.doe@example.com',
  'admin@localhost',
  'mailto:admin@example.com',
  'tel:+1-555-0100',
  'urn:isbn:0451450523',
  'std::vector<int> v;',
  '10:30',
  'ratio 3:1',
  'Note: see http: the protocol',
  "O'Brien",
  'select a plan',
  'data:image/png;base64,iVBORw0KGgo=',
  'Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0',
  'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'Calle Mayor 5, 2ºB',
  'C:\\Windows\\System32',
];

for (const b of SSRF_BENIGN) {
  test(`ssrf lets through ${JSON.stringify(b)}`, () => {
    assert.equal(strong(run(detectSsrf, b)), false, JSON.stringify(run(detectSsrf, b)));
  });
}

test('bare internal addresses count at higher paranoia only', () => {
  const ip = run(detectSsrf, '10.0.0.1', 4);
  assert.ok(ip !== undefined && ip.paranoia === 3);
  const withPort = run(detectSsrf, '192.168.1.10:8080/admin', 4);
  assert.ok(withPort !== undefined && withPort.paranoia === 2 && withPort.severity >= 5);
  const name = run(detectSsrf, 'localhost', 4);
  assert.ok(name !== undefined && name.paranoia === 2);
  assert.equal(run(detectSsrf, '8.8.8.8', 4), undefined);
  assert.equal(run(detectSsrf, '2130706433', 4), undefined);
});

test('loopback redirect_uri (RFC 8252 native apps) is not refused, metadata still is', () => {
  assert.equal(strong(run(detectSsrf, 'http://127.0.0.1:53682/callback', 1, 'redirect_uri')), false);
  assert.equal(strong(run(detectSsrf, 'http://localhost:3000/auth/callback', 1, 'redirectUrl')), false);
  assert.equal(strong(run(detectSsrf, 'http://169.254.169.254/', 1, 'redirect_uri')), true);
  assert.equal(strong(run(detectSsrf, 'http://0x7f000001/', 1, 'redirect_uri')), true);
  assert.equal(strong(run(detectSsrf, 'http://localhost:3000/hook', 1, 'webhook')), true);
});

test('host headers may hold private addresses; Referer may be localhost', () => {
  assert.equal(run(detectSsrf, '10.1.2.3, 192.168.0.7', 4, 'x-forwarded-for', 'header'), undefined);
  assert.equal(run(detectSsrf, 'localhost:8080', 4, 'host', 'header'), undefined);
  assert.equal(strong(run(detectSsrf, 'http://localhost/test', 1, 'referer', 'header')), false);
  assert.equal(strong(run(detectSsrf, 'http://169.254.169.254/', 1, 'x-callback', 'header')), true);
});

// ---------------------------------------------------------------------------------------
// RFI

test('detectRfi is the same function from both modules', () => {
  assert.equal(detectRfiFromTraversal, detectRfi);
});

const RFI_ATTACKS: readonly (readonly [string, string])[] = [
  ['src', 'http://66.240.183.75/crash.php'],
  ['src', 'https://[2001:41d0:701:1100::29c8]/gecko.php'],
  ['src', 'https://2001:41d0:701:1100::29c8/gecko.php'],
  ['q', 'ftp://1.1.1.1'],
  ['q', 'http://evil.example/shell.txt?'],
  ['q', 'http://evil.example/shell.txt??'],
  ['q', 'http://evil.example/c99.php#'],
  ['q', 'https://foo.bar?'],
  ['q', 'http://198.51.100.7/x.txt'],
  ['_CONF[path]', 'https://foo.bar'],
  ['mosConfig_absolute_path', 'https://foo.bar'],
  ['page', 'http://evil.example/x'],
  ['template', 'ftp://evil.example/t.tpl'],
  ['include_file', 'http://evil.example/inc'],
  ['lang', 'http://evil.example/en'],
  ['q', 'http://example.com/:asd@evil.com/'],
  ['q', 'http://example.com/:foo@bar@evil.com/'],
  ['file_location', 'http://evil.example/shell.php'],
];

for (const [name, value] of RFI_ATTACKS) {
  test(`rfi blocks ${name}=${value}`, () => {
    const h = run(detectRfi, value, 1, name);
    assert.ok(strong(h), `not blocked: ${JSON.stringify(h)}`);
    assert.equal(h?.category, 'rfi');
  });
}

const RFI_BENIGN: readonly (readonly [string, string])[] = [
  ['redirect_uri', 'https://app.example.com/callback'],
  ['website', 'https://www.example.com/'],
  ['avatar', 'https://cdn.example.com/u/42.png'],
  ['url', 'https://example.com/docs/page.php'],
  ['page', '2'],
  ['template', 'invoice-v2'],
  ['imageUrl', 'https://images.example.com/a.jpg'],
  ['callback', 'https://hooks.example.com/x'],
  ['q', 'https://example.com/search?'],
  ['q', 'https://example.com/#'],
  ['q', 'http://203.0.113.5/'],
  ['q', 'see https://example.com/page for details'],
  ['q', 'https://medium.com/@user/post'],
  ['q', 'http://foo:bar@example.com/'],
  ['q', 'x=file?'],
  ['q', 'mailto:a@example.com'],
  // a browser's script in an error tracker's frame or a CSP report, a page's location in analytics
  ['/exception/values/0/stacktrace/frames/0/filename', 'https://shop.example/_next/static/chunks/framework-5429a50ba5373c56.js'],
  ['/csp-report/source-file', 'https://app.example/assets/app-9d1e.css'],
  ['page_location', 'https://shop.example/products/42?color=red'],
];

for (const [name, value] of RFI_BENIGN) {
  test(`rfi lets through ${name}=${value}`, () => {
    assert.equal(strong(run(detectRfi, value, 1, name)), false, JSON.stringify(run(detectRfi, value, 1, name)));
  });
}

test('never throws on odd input', () => {
  const odd = ['', ':', '::', '[', ']', '[::', 'http:', 'http://', 'http://[', 'http://@', 'http://\\', 'a:b:c', '%', '\ud800:', 'http://\ud800/', 'http://[::ffff:1.2.3]/'];
  for (const v of odd) {
    assert.doesNotThrow(() => run(detectSsrf, v, 4), v);
    assert.doesNotThrow(() => run(detectRfi, v, 4), v);
  }
});


test('linear time on pathological input (100 KB)', () => {
  const units = ['[', '[[[[', '0x', '0x0x', ':', '::', '[::', 'a:', 'http:', 'http://', 'http://a@', 'http://a/', 'http://[', 'http://\\a', '@', '.', '1.', '1.2.3.4 ', 'a.b ', '/', '//', 'localhost/', 'http://x?', '%', '\\'];
  for (const u of units) {
    const v = u.repeat(Math.ceil(100_000 / u.length)).slice(0, 100_000);
    for (const [label, d] of [['ssrf', detectSsrf], ['rfi', detectRfi]] as const) {
      const ctx: DetectContext = { paranoia: 4, location: 'query', name: 'file', isKey: false };
      assertCheap(`${label} ${JSON.stringify(u)}`, (s) => (d as Detector)(s, s.toLowerCase(), ctx), v, { ceilingMs: 80, runs: 3 });
    }
  }
});
