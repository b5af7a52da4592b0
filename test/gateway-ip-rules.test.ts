/**
 * IP allow and deny lists on a running gateway: real sockets, a real upstream, list files on
 * disk, reload. Client addresses other than loopback come through X-Forwarded-For from a
 * trusted proxy (127.0.0.1), which is exactly how the gateway resolves the real client IP.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { formatDiagnostic, loadConfig } from '../src/config/index.js';
import { startGateway } from '../src/server/process.js';
import { startTestGateway, startUpstream, writeFiles, type TestGateway, type Upstream } from './helpers.js';

const from = (ip: string, extra: Record<string, string> = {}) => ({ headers: { 'x-forwarded-for': ip, ...extra } });

async function call(gw: TestGateway | string, path: string, ip: string, extra: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const base = typeof gw === 'string' ? gw : gw.url;
  const res = await request(base + path, from(ip, extra));
  const text = await res.body.text();
  return { status: res.statusCode, body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const base = (upstream: string, body: string) => `version: 1
listeners: [{ host: 127.0.0.1, port: 0 }]
admin: { enabled: false }
trustedProxies: [127.0.0.1]
${body}
routes:
  - { name: open, methods: [GET, POST], path: /open/*, upstream: ${upstream}, public: true }
  - name: partners
    methods: [GET]
    path: /partners/*
    upstream: ${upstream}
    public: true
    ipRules: { allow: { entries: ["198.51.100.0/24", "2001:db8:1::/48"] } }
  - name: health
    methods: [GET]
    path: /health
    upstream: ${upstream}
    public: true
    ipRules: { inherit: false }
  - name: watched
    methods: [GET]
    path: /watched/*
    upstream: ${upstream}
    public: true
    stages: { ip-rules: { mode: monitor } }
  - name: cors
    methods: [GET]
    path: /cors/*
    upstream: ${upstream}
    public: true
    cors: { allowOrigins: ["https://app.example"] }
`;

describe('ip-rules: deny and allow lists on a running gateway', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(
      base(
        up.url,
        `ipRules:
  deny:
    entries: ["203.0.113.0/24"]
    files: [lists/tor-exits.txt]`,
      ),
      { 'lists/tor-exits.txt': '# exit nodes\n192.0.2.66\n2001:db8:dead::/48 # a v6 block\n' },
    );
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  it('refuses a denied client with 403 ip_denied before anything is forwarded, and names the list in the audit event', async () => {
    const seen = up.seen.length;
    const r = await call(gw, '/open/x', '203.0.113.50');
    assert.equal(r.status, 403);
    assert.equal(r.body.code, 'ip_denied');
    assert.equal(up.seen.length, seen, 'not forwarded');
    const byFile = await call(gw, '/open/x', '192.0.2.66');
    assert.equal(byFile.status, 403);
    const v6 = await call(gw, '/open/x', '2001:db8:dead:1::9');
    assert.equal(v6.status, 403, 'IPv6 entry from the file');
    const events = await gw.waitEvents(3);
    const reasons = events.filter((e) => e.code === 'ip_denied').map((e) => e.reason);
    assert.ok(reasons.includes('in deny list ipRules.deny'), JSON.stringify(reasons));
    assert.equal(events.find((e) => e.code === 'ip_denied')?.clientIp, '203.0.113.50');
  });

  it('lets other clients through, and matches IPv4-mapped IPv6 clients against IPv4 entries', async () => {
    assert.equal((await call(gw, '/open/x', '203.0.114.1')).status, 200);
    assert.equal((await call(gw, '/open/x', '2001:db8:beef::1')).status, 200);
    // ::ffff:cb00:7109 is 203.0.113.9 written as IPv6.
    assert.equal((await call(gw, '/open/x', '::ffff:cb00:7109')).status, 403);
    assert.equal((await call(gw, '/open/x', '::ffff:203.0.113.9')).status, 403);
  });

  it('a route allow list refuses every address outside it, and the global deny list still applies there', async () => {
    assert.equal((await call(gw, '/partners/a', '198.51.100.20')).status, 200);
    assert.equal((await call(gw, '/partners/a', '2001:db8:1:2::3')).status, 200);
    const outside = await call(gw, '/partners/a', '198.51.101.20');
    assert.equal(outside.status, 403);
    assert.equal(outside.body.code, 'ip_denied');
    assert.equal((await call(gw, '/partners/a', '2001:db8:2::1')).status, 403);
    const events = await gw.waitEvents(1);
    assert.ok(events.some((e) => e.reason === 'not in allow list routes[1].ipRules.allow'));
  });

  it('inherit: false exempts a route from the top-level lists', async () => {
    assert.equal((await call(gw, '/health', '203.0.113.50')).status, 200);
  });

  it('monitor mode records the refusal and forwards', async () => {
    const r = await call(gw, '/watched/x', '203.0.113.77', { 'x-request-id': 'ignored' });
    assert.equal(r.status, 200);
    const events = await gw.waitEvents(1);
    const e = events.find((ev) => ev.clientIp === '203.0.113.77');
    assert.ok(e, 'event recorded');
    assert.deepEqual(
      (e.findings as { code: string; monitored: boolean }[]).map((f) => [f.code, f.monitored]),
      [['ip_denied', true]],
    );
  });

  it('runs before CORS: a preflight from a denied address is refused', async () => {
    const pre = { method: 'OPTIONS' as const, headers: { 'x-forwarded-for': '203.0.113.5', origin: 'https://app.example', 'access-control-request-method': 'GET' } };
    const denied = await request(`${gw.url}/cors/x`, pre);
    assert.equal(denied.statusCode, 403);
    assert.equal(((await denied.body.json()) as { code: string }).code, 'ip_denied');
    const ok = await request(`${gw.url}/cors/x`, { ...pre, headers: { ...pre.headers, 'x-forwarded-for': '192.0.2.1' } });
    assert.equal(ok.statusCode, 204);
    await ok.body.dump();
  });

  it('without a trusted proxy, X-Forwarded-For is ignored: the socket peer is the client', async () => {
    const g = await startTestGateway(base(up.url, 'ipRules: { deny: { entries: ["203.0.113.0/24"] } }').replace('trustedProxies: [127.0.0.1]', ''));
    try {
      assert.equal((await call(g, '/open/x', '203.0.113.50')).status, 200, 'the header cannot put a client on or off a list');
    } finally {
      await g.close();
    }
  });
});

describe('ip-rules: a global allow list, IPv6 listeners', () => {
  it('an allow list refuses everyone else, IPv6 and loopback included', async () => {
    const up = await startUpstream();
    const gw = await startTestGateway(base(up.url, 'ipRules: { allow: { entries: ["10.0.0.0/8"] } }').replace('host: 127.0.0.1, port: 0 }]', 'host: 127.0.0.1, port: 0 }, { host: "::1", port: 0 }]'));
    try {
      assert.equal((await call(gw, '/open/x', '10.1.2.3')).status, 200);
      assert.equal((await call(gw, '/open/x', '11.1.2.3')).status, 403);
      // Straight from ::1: not a trusted proxy, so ::1 itself is the client, and it is not allowed.
      const v6 = await request(`http://[::1]:${gw.ports[1]}/open/x`);
      assert.equal(v6.statusCode, 403);
      assert.equal(((await v6.body.json()) as { code: string }).code, 'ip_denied');
    } finally {
      await gw.close();
      await up.close();
    }
  });
});

describe('ip-rules: config errors and reload', () => {
  it('a bad entry in a list file names the file, line and what was expected; an inline one names the config line', async () => {
    const dir = writeFiles({
      'portcullis.yaml': `version: 1
listeners: [{ port: 0 }]
ipRules:
  deny:
    entries: ["10.0.0.0/8", "10.0.0.300"]
    files: [tor.txt, missing.txt]
routes: [{ name: r, methods: [GET], path: /, upstream: "http://127.0.0.1:1", public: true }]
`,
      'tor.txt': '# header\n192.0.2.1\n192.0.2.0/33\nexample.org\n',
    });
    const r = await loadConfig(join(dir, 'portcullis.yaml'), { env: {} });
    assert.equal(r.ok, false);
    const lines = r.ok ? [] : r.diagnostics.map((d) => formatDiagnostic(d, dir));
    assert.ok(lines.includes('tor.txt:3:1: error: ipRules.deny.files[0]: invalid entry "192.0.2.0/33": prefix length /33 is longer than the 32 bits of an IPv4 address'), lines.join('\n'));
    assert.ok(lines.includes('tor.txt:4:1: error: ipRules.deny.files[0]: invalid entry "example.org": expected an IPv4 or IPv6 address or CIDR such as 203.0.113.0/24 or 2001:db8::/32'), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('portcullis.yaml:5:') && l.includes('ipRules.deny.entries[1]: invalid entry "10.0.0.300"')), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('portcullis.yaml:6:') && l.includes('cannot read IP list "missing.txt"')), lines.join('\n'));
  });

  it('the list file is a dependency: editing it reloads the lists; a broken edit keeps the old lists serving', async () => {
    const up = await startUpstream();
    const dir = writeFiles({
      'portcullis.yaml': base(up.url, 'ipRules: { deny: { files: [deny.txt] } }'),
      'deny.txt': '192.0.2.1\n',
    });
    const loaded = await loadConfig(join(dir, 'portcullis.yaml'), { env: {} });
    assert.ok(loaded.ok);
    assert.ok(loaded.config.files.includes(join(dir, 'deny.txt')));
    // Watching on, as in production: the change alone must trigger the reload.
    const handle = await startGateway({ config: loaded.config, env: {}, watch: true, signals: false, auditStream: new (await import('node:stream')).PassThrough().resume(), logStream: new (await import('node:stream')).PassThrough().resume() });
    const url = `http://127.0.0.1:${handle.listeners[0]!.port}`;
    const until = async (ip: string, status: number) => {
      const deadline = Date.now() + 5000;
      for (;;) {
        const r = await call(url, '/open/x', ip);
        if (r.status === status) return;
        if (Date.now() > deadline) assert.fail(`${ip}: expected ${status}, still ${r.status}`);
        await new Promise((res) => setTimeout(res, 50));
      }
    };
    try {
      assert.equal((await call(url, '/open/x', '192.0.2.1')).status, 403);
      assert.equal((await call(url, '/open/x', '192.0.2.2')).status, 200);
      const rev = handle.config().revision;
      writeFileSync(join(dir, 'deny.txt'), '192.0.2.2\n');
      await until('192.0.2.2', 403);
      await until('192.0.2.1', 200);
      assert.notEqual(handle.config().revision, rev, 'the list is part of the revision');

      writeFileSync(join(dir, 'deny.txt'), '192.0.2.3\nbroken entry\n');
      const outcome = await handle.reload();
      assert.equal(outcome.ok, false);
      assert.ok(outcome.errors?.some((e) => e.includes('deny.txt:2:1') && e.includes('invalid entry "broken entry"')), JSON.stringify(outcome.errors));
      assert.equal((await call(url, '/open/x', '192.0.2.2')).status, 403, 'old list still serving');
      assert.equal((await call(url, '/open/x', '192.0.2.3')).status, 200);
    } finally {
      await handle.shutdown();
      await up.close();
    }
  });
});
