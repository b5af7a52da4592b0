/**
 * The bans admin API (`/admin/bans`) through real admin HTTP: token required; a ban placed
 * there is enforced by the gateway on the next request and lifted by DELETE; with Redis, a ban
 * placed on one instance is enforced by another; with `workers: 2` (memory store) the admin
 * listener in the primary reaches every worker.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { hashApiKey } from '../src/identity/apikey.js';
import { startTestGateway, startUpstream, writeFiles, type TestGateway, type Upstream } from './helpers.js';
import { randomPrefix, redisMissing, SHARED_REDIS_URL } from './redis-helpers.js';

const TOKEN = 'bans-admin-token-0123456789';
const agent = new Agent({ connections: 8 });

function config(upstream: string, extra = '', admin = `admin: { port: 0, token: ${TOKEN} }`): string {
  return `version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
${admin}
trustedProxies: [127.0.0.1]
telemetry: { audit: { enabled: false } }
${extra}
identity:
  apiKeys:
    keys:
      - { id: mallory, sha256: ${hashApiKey('key-mallory')}, owner: mallory }
      - { id: trent, sha256: ${hashApiKey('key-trent')}, owner: trent }
routes:
  - { name: private, methods: [GET], path: /private, upstream: ${upstream}, security: [{ apiKey: [] }] }
  - { name: open, methods: [GET], path: /open, upstream: ${upstream}, public: true }
`;
}

async function get(base: string, path: string, ip: string, key?: string) {
  const res = await request(`${base}${path}`, { dispatcher: agent, headers: { 'x-forwarded-for': ip, ...(key === undefined ? {} : { 'x-api-key': key }) } });
  const text = await res.body.text();
  return { status: res.statusCode, retryAfter: res.headers['retry-after'], code: text.startsWith('{"type"') ? (JSON.parse(text) as { code: string }).code : undefined };
}

/** `token: null` sends no Authorization header. */
async function admin(base: string, method: string, path: string, body?: unknown, token: string | null = TOKEN) {
  const res = await request(`${base}${path}`, {
    dispatcher: agent,
    method: method as 'GET',
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, type: String(res.headers['content-type']), json: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> };
}

/** Polls `probe` until it returns true or `ms` pass (a ban crossing instances or workers takes a message). */
async function eventually(probe: () => Promise<boolean>, ms = 3000): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('bans admin API (memory store, one process)', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  let adm: string;
  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway(config(upstream.url));
    adm = gw.adminUrl!;
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('without the token, or with a wrong one: 401 problem, and no ban is placed', async () => {
    for (const [method, path, body] of [
      ['GET', '/admin/bans', undefined],
      ['POST', '/admin/bans', { kind: 'ip', value: '203.0.113.1', ttl: '1h' }],
      ['DELETE', '/admin/bans/ip/203.0.113.1', undefined],
    ] as const) {
      for (const token of [null, 'wrong-token']) {
        const r = await admin(adm, method, path, body, token);
        assert.equal(r.status, 401, `${method} ${path} token=${token}`);
        assert.equal(r.type, 'application/problem+json');
        assert.equal(r.json['code'], 'admin_unauthorized');
      }
    }
    assert.equal((await get(gw.url, '/open', '203.0.113.1')).status, 200);
  });

  test('an IP banned through the API is refused at once, listed, and accepted again after DELETE', async () => {
    const ip = '203.0.113.50';
    assert.equal((await get(gw.url, '/open', ip)).status, 200);
    const placed = await admin(adm, 'POST', '/admin/bans', { kind: 'ip', value: ip, ttl: '10m', reason: 'abuse report #42' });
    assert.equal(placed.status, 201);
    assert.equal(placed.json['value'], ip);
    assert.equal(placed.json['shared'], false, 'memory store: this host only');
    assert.ok(Number(placed.json['ttlSeconds']) > 590);
    const seen = upstream.seen.length;
    const refused = await get(gw.url, '/open', ip);
    assert.equal(refused.status, 429);
    assert.equal(refused.code, 'client_banned');
    assert.ok(Number(refused.retryAfter) > 590 && Number(refused.retryAfter) <= 600, `retry-after ${refused.retryAfter}`);
    assert.equal(upstream.seen.length, seen, 'nothing from the banned IP reaches the upstream');
    assert.equal((await get(gw.url, '/open', '203.0.113.51')).status, 200, 'the neighbour is not banned');

    const list = await admin(adm, 'GET', '/admin/bans');
    assert.equal(list.status, 200);
    const bans = list.json['bans'] as Record<string, unknown>[];
    const mine = bans.find((b) => b['value'] === ip);
    assert.ok(mine, JSON.stringify(list.json));
    assert.equal(mine['kind'], 'ip');
    assert.equal(mine['reason'], 'abuse report #42');
    assert.ok(Date.parse(String(mine['expiresAt'])) > Date.now() + 590_000);
    assert.equal(list.json['truncated'], false);

    const lifted = await admin(adm, 'DELETE', `/admin/bans/ip/${ip}`);
    assert.equal(lifted.status, 200);
    assert.equal(lifted.json['removed'], true);
    assert.equal((await get(gw.url, '/open', ip)).status, 200);
    const again = await admin(adm, 'DELETE', `/admin/bans/ip/${ip}`);
    assert.equal(again.status, 404);
    assert.equal(again.json['code'], 'not_found');
    const metrics = await gw.handle.telemetry.metrics.registry.metrics();
    assert.match(metrics, /portcullis_bans_total\{kind="ip",reason="admin"\} [1-9]/);
  });

  test('a CIDR ban (IPv4 and IPv6) covers its range only; the value is stored in canonical form', async () => {
    const v4 = await admin(adm, 'POST', '/admin/bans', { kind: 'ip', value: '198.51.100.7/24', ttl: '1h' });
    assert.equal(v4.status, 201);
    assert.equal(v4.json['value'], '198.51.100.0/24', 'host bits dropped');
    const v6 = await admin(adm, 'POST', '/admin/bans', { kind: 'ip', value: '2001:DB8:0:0::/48', ttl: '1h' });
    assert.equal(v6.json['value'], '2001:db8::/48');
    assert.equal((await get(gw.url, '/open', '198.51.100.200')).code, 'client_banned');
    assert.equal((await get(gw.url, '/open', '198.51.101.1')).status, 200);
    assert.equal((await get(gw.url, '/open', '2001:db8:0:ffff::1')).code, 'client_banned');
    assert.equal((await get(gw.url, '/open', '2001:db8:1::1')).status, 200);
    // The CIDR's slash may stay unencoded in the path, or be %2F.
    assert.equal((await admin(adm, 'DELETE', '/admin/bans/ip/198.51.100.0/24')).status, 200);
    assert.equal((await admin(adm, 'DELETE', '/admin/bans/ip/2001%3Adb8%3A%3A%2F48')).status, 200);
    assert.equal((await get(gw.url, '/open', '198.51.100.200')).status, 200);
    assert.equal((await get(gw.url, '/open', '2001:db8:0:ffff::1')).status, 200);
  });

  test('a principal ban follows the credential from any IP; other keys pass', async () => {
    assert.equal((await admin(adm, 'POST', '/admin/bans', { kind: 'principal', value: 'mallory', ttl: '5m', reason: 'leaked key' })).status, 201);
    assert.equal((await get(gw.url, '/private', '192.0.2.1', 'key-mallory')).code, 'client_banned');
    assert.equal((await get(gw.url, '/private', '192.0.2.2', 'key-mallory')).code, 'client_banned');
    assert.equal((await get(gw.url, '/private', '192.0.2.1', 'key-trent')).status, 200);
    // A shorter ban on a banned subject keeps the later end, and says so.
    const shorter = await admin(adm, 'POST', '/admin/bans', { kind: 'principal', value: 'mallory', ttl: '10s' });
    assert.ok(Number(shorter.json['ttlSeconds']) > 290, JSON.stringify(shorter.json));
    const list = await admin(adm, 'GET', '/admin/bans?kind=principal');
    assert.deepEqual(
      (list.json['bans'] as Record<string, unknown>[]).map((b) => [b['kind'], b['value'], b['reason']]),
      [['principal', 'mallory', 'leaked key']],
    );
    assert.equal((await admin(adm, 'DELETE', '/admin/bans/principal/mallory')).status, 200);
    assert.equal((await get(gw.url, '/private', '192.0.2.1', 'key-mallory')).status, 200);
  });

  test('the list is capped by limit and says truncated', async () => {
    for (const ip of ['192.0.2.101', '192.0.2.102', '192.0.2.103']) assert.equal((await admin(adm, 'POST', '/admin/bans', { kind: 'ip', value: ip, ttl: '1m' })).status, 201);
    const two = await admin(adm, 'GET', '/admin/bans?kind=ip&limit=2');
    assert.equal((two.json['bans'] as unknown[]).length, 2);
    assert.equal(two.json['count'], 2);
    assert.equal(two.json['truncated'], true);
    const all = await admin(adm, 'GET', '/admin/bans?kind=ip&limit=1000');
    assert.equal(all.json['truncated'], false);
    for (const ip of ['192.0.2.101', '192.0.2.102', '192.0.2.103']) assert.equal((await admin(adm, 'DELETE', `/admin/bans/ip/${ip}`)).status, 200);
  });

  test('bad input: 400 admin_request_invalid with a detail, nothing banned', async () => {
    const cases: [string, string, unknown, RegExp][] = [
      ['POST', '/admin/bans', 'not json', /JSON object/],
      ['POST', '/admin/bans', [1], /JSON object/],
      ['POST', '/admin/bans', { kind: 'ip', value: '203.0.113.9', ttl: '1h', extra: 1 }, /unknown field "extra"/],
      ['POST', '/admin/bans', { kind: 'user', value: 'bob', ttl: '1h' }, /kind must be "ip" or "principal"/],
      ['POST', '/admin/bans', { kind: 'ip', value: '203.0.113.999', ttl: '1h' }, /IPv4 or IPv6/],
      ['POST', '/admin/bans', { kind: 'ip', value: '203.0.113.0/33', ttl: '1h' }, /prefix length/],
      ['POST', '/admin/bans', { kind: 'ip', value: '0.0.0.0/0', ttl: '1h' }, /every address/],
      ['POST', '/admin/bans', { kind: 'ip', value: '203.0.113.9' }, /ttl is required/],
      ['POST', '/admin/bans', { kind: 'ip', value: '203.0.113.9', ttl: '3600' }, /ttl is required/],
      ['POST', '/admin/bans', { kind: 'ip', value: '203.0.113.9', ttl: '31d' }, /between 1s and 30d/],
      ['POST', '/admin/bans', { kind: 'ip', value: '203.0.113.9', ttl: '1h', reason: 'a\nb' }, /control characters/],
      ['POST', '/admin/bans', { kind: 'principal', value: 'x'.repeat(300), ttl: '1h' }, /1 to 256/],
      ['GET', '/admin/bans?limit=0', undefined, /limit must be/],
      ['GET', '/admin/bans?kind=alarm', undefined, /kind must be/],
      ['GET', '/admin/bans?sort=up', undefined, /unknown query parameter "sort"/],
      ['DELETE', '/admin/bans/ip', undefined, /expected \/admin\/bans\/\{kind\}\/\{value\}/],
      ['DELETE', '/admin/bans/ip/%E0%A4%A', undefined, /percent-encoding/],
    ];
    for (const [method, path, body, detail] of cases) {
      const r = await admin(adm, method, path, body);
      assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(r.json)}`);
      assert.equal(r.type, 'application/problem+json');
      assert.equal(r.json['code'], 'admin_request_invalid');
      assert.match(String(r.json['detail']), detail);
    }
    const wrongMethod = await admin(adm, 'PUT', '/admin/bans');
    assert.equal(wrongMethod.status, 405);
    const big = await admin(adm, 'POST', '/admin/bans', { kind: 'ip', value: '203.0.113.9', ttl: '1h', reason: 'x'.repeat(5000) });
    assert.equal(big.status, 413);
    assert.equal((await get(gw.url, '/open', '203.0.113.9')).status, 200);
  });
});

describe('bans admin API without an admin token', () => {
  test('/admin/bans does not exist (404), and routes carry no ban check', async () => {
    const upstream = await startUpstream();
    const gw = await startTestGateway(config(upstream.url, '', 'admin: { port: 0 }'));
    try {
      const r = await admin(gw.adminUrl!, 'GET', '/admin/bans');
      assert.equal(r.status, 404);
      assert.equal(r.json['code'], 'route_not_found');
      const found = gw.handle.gateway.runtime.table.lookup('GET', '/open', undefined);
      assert.ok(found.kind === 'found');
      assert.ok(!found.value.chain.some((e) => e.stage.name === 'bans'));
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});

describe('bans admin API with Redis: every instance', async () => {
  const skip = await redisMissing();
  let upstream: Upstream;
  let a: TestGateway;
  let b: TestGateway;
  const store = `store: { type: redis, redis: { url: "${SHARED_REDIS_URL}", keyPrefix: "${randomPrefix('adminbans')}" } }`;
  before(async () => {
    if (skip) return;
    upstream = await startUpstream();
    a = await startTestGateway(config(upstream.url, store));
    b = await startTestGateway(config(upstream.url, store));
    await Promise.all([a.handle.gateway.runtime.abuse.redis!.ready(3000), b.handle.gateway.runtime.abuse.redis!.ready(3000)]);
  });
  after(async () => {
    if (skip) return;
    await Promise.all([a.close(), b.close()]);
    await upstream.close();
  });

  test('banned through instance A: refused by B; lifted through B: accepted by A', { skip }, async () => {
    const ip = '198.51.100.42';
    const placed = await admin(a.adminUrl!, 'POST', '/admin/bans', { kind: 'ip', value: ip, ttl: '10m', reason: 'from A' });
    assert.equal(placed.status, 201);
    assert.equal(placed.json['shared'], true);
    assert.equal((await get(a.url, '/open', ip)).code, 'client_banned', 'A at once');
    assert.ok(await eventually(async () => (await get(b.url, '/open', ip)).code === 'client_banned'), 'B learns it through the ban channel');
    const listB = await admin(b.adminUrl!, 'GET', '/admin/bans?kind=ip');
    const onB = (listB.json['bans'] as Record<string, unknown>[]).find((x) => x['value'] === ip);
    assert.equal(onB?.['reason'], 'from A');
    // An instance started later loads the ban, and its reason, from Redis.
    const c = await startTestGateway(config(upstream.url, store));
    try {
      await c.handle.gateway.runtime.abuse.redis!.ready(3000);
      assert.ok(await eventually(async () => (await get(c.url, '/open', ip)).code === 'client_banned'));
      const listC = await admin(c.adminUrl!, 'GET', '/admin/bans?kind=ip');
      assert.equal((listC.json['bans'] as Record<string, unknown>[]).find((x) => x['value'] === ip)?.['reason'], 'from A');
    } finally {
      await c.close();
    }
    const lifted = await admin(b.adminUrl!, 'DELETE', `/admin/bans/ip/${ip}`);
    assert.equal(lifted.status, 200);
    assert.equal(lifted.json['shared'], true);
    assert.equal((await get(b.url, '/open', ip)).status, 200);
    assert.ok(await eventually(async () => (await get(a.url, '/open', ip)).status === 200), 'A learns the unban');
    // A CIDR crosses instances too.
    assert.equal((await admin(b.adminUrl!, 'POST', '/admin/bans', { kind: 'ip', value: '198.51.100.128/25', ttl: '1m' })).status, 201);
    assert.ok(await eventually(async () => (await get(a.url, '/open', '198.51.100.200')).code === 'client_banned'));
    assert.equal((await get(a.url, '/open', '198.51.100.100')).status, 200);
    assert.equal((await admin(a.adminUrl!, 'DELETE', '/admin/bans/ip/198.51.100.128/25')).status, 200);
  });
});

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

describe('bans with workers: 2 (memory store)', () => {
  test('the primary reaches both workers; a ban one worker places holds on the other; a restarted worker gets them all', { timeout: 180_000 }, async () => {
    const upstream = await startUpstream();
    const yaml = config(upstream.url, 'bans:\n  onAttacks: { threshold: 1, window: 1m, ttl: 10m }').replace('version: 1\n', 'version: 1\nworkers: 2\n');
    const dir = writeFiles({ 'portcullis.yaml': yaml });
    const child = spawn(process.execPath, [CLI, 'run', '-c', join(dir, 'portcullis.yaml')], { stdio: ['ignore', 'ignore', 'pipe'] });
    const logs: Record<string, unknown>[] = [];
    let buf = '';
    child.stderr.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          logs.push({ text: line });
        }
      }
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const portOf = (l: Record<string, unknown> | undefined) => Number(String(l?.['address']).split(':').pop());
      const listening = () => logs.filter((l) => l['msg'] === 'listening');
      assert.ok(await eventually(async () => listening().length >= 2 && logs.some((l) => l['msg'] === 'admin listener'), 60_000), JSON.stringify(logs).slice(0, 2000));
      const base = `http://127.0.0.1:${portOf(listening()[0])}`;
      const adm = `http://127.0.0.1:${portOf(logs.find((l) => l['msg'] === 'admin listener'))}`;
      const ready = async () => (await request(`${adm}/readyz`).then(async (r) => (await r.body.dump(), r.statusCode))) === 200;
      assert.ok(await eventually(ready, 60_000));
      // A new connection each time: the cluster hands connections to the workers in turn.
      const fresh = async (ip: string, path = '/open') => {
        const r = await request(`${base}${path}`, { reset: true, headers: { 'x-forwarded-for': ip } });
        await r.body.dump();
        return r.statusCode;
      };
      const twelve = async (ip: string) => {
        const out: number[] = [];
        for (let i = 0; i < 12; i++) out.push(await fresh(ip));
        return out;
      };
      const refused = Array(12).fill(429);

      // Through the admin API (in the primary): every worker.
      const byAdmin = '203.0.113.77';
      const placed = await admin(adm, 'POST', '/admin/bans', { kind: 'ip', value: byAdmin, ttl: '10m', reason: 'cluster' });
      assert.equal(placed.status, 201, JSON.stringify(placed.json));
      assert.deepEqual(await twelve(byAdmin), refused, 'refused by both workers');
      const list = await admin(adm, 'GET', '/admin/bans');
      assert.deepEqual((list.json['bans'] as Record<string, unknown>[]).map((b) => b['value']), [byAdmin], 'merged: listed once');

      // Placed by one worker (one attack, threshold 1): relayed to the other.
      const attacker = '198.51.100.66';
      assert.equal(await fresh(attacker, "/open?q=%27%20OR%201%3D1--"), 403);
      assert.ok(await eventually(async () => (await twelve(attacker)).every((s) => s === 429), 10_000), 'the ban reached both workers');

      // Summed over the workers, each ban counts once (the relayed copy and the other workers' copies of the admin ban do not).
      // Checked before a worker is killed: a dead worker's counters leave the sum.
      const metrics = await (await request(`${adm}/metrics`)).body.text();
      assert.match(metrics, /portcullis_bans_total\{kind="ip",reason="admin"\} 1$/m);
      assert.match(metrics, /portcullis_bans_total\{kind="ip",reason="attacks"\} 1$/m);
      // A worker that dies is replaced; the new one learns both bans from the primary.
      const victim = Number(listening()[0]!['pid']);
      process.kill(victim, 'SIGKILL');
      assert.ok(await eventually(async () => listening().some((l) => !([victim, Number(listening()[1]!['pid'])] as number[]).includes(Number(l['pid']))), 60_000), 'a new worker');
      assert.ok(await eventually(ready, 60_000));
      assert.deepEqual(await twelve(byAdmin), refused, 'the admin ban holds on the new worker');
      assert.deepEqual(await twelve(attacker), refused, 'the relayed ban holds on the new worker');

      assert.equal((await admin(adm, 'DELETE', `/admin/bans/ip/${byAdmin}`)).status, 200);
      assert.deepEqual(await twelve(byAdmin), Array(12).fill(200), 'lifted on both workers');
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      child.kill('SIGKILL');
      await upstream.close();
    }
  });
});
