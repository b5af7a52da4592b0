/**
 * The key store through the real gateway: keys issued, revoked and rotated through the admin
 * API (`/admin/keys`) and used on a route at once; and the real CLI (`portcullis run` with two
 * workers, `portcullis keys …`) with a revocation refused by every worker within a second.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startTestGateway, startUpstream, tempDir, writeFiles, type TestGateway, type Upstream } from './helpers.js';

const TOKEN = 'keys-admin-token-0123456789abcdef';
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

interface Reply {
  readonly status: number;
  readonly body: string;
  /** `code` of a problem+json body, if any. */
  readonly code: string | undefined;
  json(): Record<string, unknown>;
}

/** One request on a connection of its own (no keep-alive), so a cluster spreads them over its workers. */
function call(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path, agent: false, headers: { connection: 'close', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers }, timeout: 5000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let code: string | undefined;
          try {
            const parsed = JSON.parse(text) as { code?: unknown };
            code = typeof parsed.code === 'string' ? parsed.code : undefined;
          } catch {
            code = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: text, code, json: () => JSON.parse(text) as Record<string, unknown> });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

const admin = { authorization: `Bearer ${TOKEN}` };
const withKey = (key: string): Record<string, string> => ({ 'x-api-key': key });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function gatewayConfig(upstream: string, store: string | undefined): string {
  return `version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { enabled: true, host: 127.0.0.1, port: 0, token: '\${ADMIN_TOKEN}' }
${store === undefined ? '' : `identity:\n  apiKeys:\n    store: ${store}\n`}routes:
  - { name: orders, methods: [GET], path: '/orders/*', upstream: ${upstream} }
  - { name: reports, methods: [GET], path: '/reports/*', upstream: ${upstream}, roles: [auditor] }
`;
}

describe('API keys through the admin API and the gateway (one process)', () => {
  let up: Upstream;
  let gw: TestGateway;
  let adminPort: number;

  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(gatewayConfig(up.url, './keys.db'), {}, { ADMIN_TOKEN: TOKEN });
    adminPort = Number(new URL(gw.adminUrl ?? 'http://x:0').port);
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  it('/admin/keys needs the admin token', async () => {
    const none = await call(adminPort, 'GET', '/admin/keys');
    assert.equal(none.status, 401);
    assert.equal(none.code, 'admin_unauthorized');
    const wrong = await call(adminPort, 'POST', '/admin/keys', { authorization: 'Bearer nope' }, JSON.stringify({ owner: 'mallory' }));
    assert.equal(wrong.status, 401);
    const listed = await call(adminPort, 'GET', '/admin/keys', admin);
    assert.equal(listed.status, 200, listed.body);
    assert.deepEqual(listed.json(), { keys: [] }, 'the refused create created nothing');
    const unknown = await call(adminPort, 'GET', '/admin/keys/key_abc/delete', admin);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.code, 'route_not_found');
  });

  it('a key created through the admin API works at once, with its owner and roles; revoked, it is refused within a second', async () => {
    const created = await call(adminPort, 'POST', '/admin/keys', admin, JSON.stringify({ owner: 'svc-reporting', scopes: ['orders:read'], roles: ['auditor'], name: 'nightly' }));
    assert.equal(created.status, 201, created.body);
    const { key, id, roles } = created.json() as { key: string; id: string; roles: string[] };
    assert.deepEqual(roles, ['auditor']);

    const ok = await call(gw.port, 'GET', '/orders/created-via-admin', withKey(key));
    assert.equal(ok.status, 200, ok.body);
    const events = await gw.waitEvents(1);
    const event = events.find((e) => e['path'] === '/orders/created-via-admin');
    assert.deepEqual(event?.['principal'], { id: 'svc-reporting', type: 'api-key', credentialId: id });

    // The role from the store is the principal's: the auditor-only route lets it in, and not a key without it.
    assert.equal((await call(gw.port, 'GET', '/reports/q1', withKey(key))).status, 200);
    const plain = (await call(adminPort, 'POST', '/admin/keys', admin, JSON.stringify({ owner: 'svc-plain' }))).json() as { key: string };
    const denied = await call(gw.port, 'GET', '/reports/q1', withKey(plain.key));
    assert.equal(denied.status, 403, denied.body);
    assert.equal(denied.code, 'role_required');
    assert.equal((await call(gw.port, 'GET', '/orders/1', withKey(plain.key))).status, 200);

    const revoked = await call(adminPort, 'POST', `/admin/keys/${id}/revoke`, admin);
    assert.equal(revoked.status, 200, revoked.body);
    const revokedAt = Date.now();
    let refusal: Reply | undefined;
    while (Date.now() - revokedAt < 1000) {
      const r = await call(gw.port, 'GET', '/orders/after-revoke', withKey(key));
      if (r.status !== 200) {
        refusal = r;
        break;
      }
      await sleep(10);
    }
    assert.ok(refusal !== undefined, 'still accepted a second after the revoke');
    assert.equal(refusal.status, 401, refusal.body);
    assert.equal(refusal.code, 'invalid_api_key');
    // And it stays refused; other keys are unaffected.
    assert.equal((await call(gw.port, 'GET', '/orders/again', withKey(key))).code, 'invalid_api_key');
    assert.equal((await call(gw.port, 'GET', '/orders/again', withKey(plain.key))).status, 200);
  });

  it('rotation through the admin API: old and new key both work during the overlap, the old one not after it', async () => {
    const a = (await call(adminPort, 'POST', '/admin/keys', admin, JSON.stringify({ owner: 'svc-rotating', roles: ['auditor'] }))).json() as { key: string; id: string };
    const rotated = await call(adminPort, 'POST', `/admin/keys/${a.id}/rotate`, admin, JSON.stringify({ overlapSeconds: 300 }));
    assert.equal(rotated.status, 201, rotated.body);
    const b = rotated.json() as { key: string; id: string; roles: string[]; previous: { replacedBy: string; expiresAt: string } };
    assert.equal(b.previous.replacedBy, b.id);
    assert.deepEqual(b.roles, ['auditor']);
    assert.ok(Math.abs(Date.parse(b.previous.expiresAt) - (Date.now() + 300_000)) < 30_000);

    for (const k of [a.key, b.key]) {
      const r = await call(gw.port, 'GET', '/reports/overlap', withKey(k));
      assert.equal(r.status, 200, `during the overlap: ${r.body}`);
    }

    // Overlap 0 ends the previous key at once.
    const c = (await call(adminPort, 'POST', `/admin/keys/${b.id}/rotate`, admin, JSON.stringify({ overlapSeconds: 0 }))).json() as { key: string; id: string };
    const old = await call(gw.port, 'GET', '/orders/after-overlap', withKey(b.key));
    assert.equal(old.status, 401, old.body);
    assert.equal(old.code, 'invalid_api_key');
    assert.equal((await call(gw.port, 'GET', '/reports/newest', withKey(c.key))).status, 200);
    assert.equal((await call(gw.port, 'GET', '/orders/first', withKey(a.key))).status, 200, 'the first key is still in its own overlap');

    const listed = (await call(adminPort, 'GET', '/admin/keys', admin)).json() as { keys: { id: string; replacedBy: string | null }[] };
    assert.equal(listed.keys.find((k) => k.id === a.id)?.replacedBy, b.id);
    assert.ok(!JSON.stringify(listed).includes(c.key.slice(12)), 'listings never show a key');
  });

  it('a reload that moves the store: the admin API and the routes follow the new file', async () => {
    const before = (await call(adminPort, 'POST', '/admin/keys', admin, JSON.stringify({ owner: 'svc-old-store' }))).json() as { key: string };
    writeFileSync(gw.configFile, gatewayConfig(up.url, './other/keys.db'));
    const outcome = await gw.handle.reload();
    assert.ok(outcome.ok, JSON.stringify(outcome.errors));
    const listed = await call(adminPort, 'GET', '/admin/keys', admin);
    assert.deepEqual(listed.json(), { keys: [] });
    assert.equal((await call(gw.port, 'GET', '/orders/1', withKey(before.key))).code, 'invalid_api_key');
    const fresh = (await call(adminPort, 'POST', '/admin/keys', admin, JSON.stringify({ owner: 'svc-new-store' }))).json() as { key: string };
    assert.equal((await call(gw.port, 'GET', '/orders/1', withKey(fresh.key))).status, 200);
  });
});

describe('API keys without a key store', () => {
  it('/admin/keys answers 404 saying no key store is configured (after the token check)', async () => {
    const up = await startUpstream();
    const gw = await startTestGateway(gatewayConfig(up.url, undefined), {}, { ADMIN_TOKEN: TOKEN });
    try {
      const port = Number(new URL(gw.adminUrl ?? 'http://x:0').port);
      for (const [method, path] of [
        ['GET', '/admin/keys'],
        ['POST', '/admin/keys'],
        ['POST', '/admin/keys/key_abc/revoke'],
      ] as const) {
        const r = await call(port, method, path, admin, method === 'POST' ? '{"owner":"x"}' : undefined);
        assert.equal(r.status, 404, `${method} ${path}`);
        const p = r.json();
        assert.equal(p['code'], 'route_not_found');
        assert.match(String(p['detail']), /no key store is configured.*identity\.apiKeys\.store/);
      }
      const anonymous = await call(port, 'GET', '/admin/keys');
      assert.equal(anonymous.status, 401, 'the token is checked first');
      assert.equal(anonymous.json()['detail'], undefined);
    } finally {
      await gw.close();
      await up.close();
    }
  });
});

// ---------------------------------------------------------------------------------------

async function freePort(): Promise<number> {
  const s = createNetServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('API keys with the real CLI and two workers', () => {
  it('a key revoked with `portcullis keys revoke` is refused by every worker within a second', { timeout: 90_000 }, async (t) => {
    const upstreamPorts = new Set<number>();
    const up = await startUpstream((req, res) => {
      upstreamPorts.add(req.socket.remotePort ?? 0);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    const [port, adminPort] = [await freePort(), await freePort()];
    const yaml = (store: string): string => `version: 1
workers: 2
listeners: [{ port: ${port}, host: 127.0.0.1 }]
admin: { enabled: true, host: 127.0.0.1, port: ${adminPort}, token: '\${ADMIN_TOKEN}' }
telemetry: { audit: { destination: ./audit.jsonl } }
identity:
  apiKeys:
    store: ${store}
routes:
  - { name: orders, methods: [GET], path: '/orders/*', upstream: ${up.url} }
`;
    const dir = writeFiles({ 'portcullis.yaml': yaml('./keys.db') }, tempDir('gateway-keys-cluster-'));
    const config = join(dir, 'portcullis.yaml');
    const env = { ...process.env, ADMIN_TOKEN: TOKEN };
    const keysCli = (args: string[]) => spawnSync(process.execPath, [CLI, 'keys', ...args, '-c', config], { encoding: 'utf8', timeout: 20_000, env });

    let output = '';
    const child: ChildProcess = spawn(process.execPath, [CLI, 'run', '-c', config], { stdio: ['ignore', 'pipe', 'pipe'], env });
    const keep = (c: Buffer): void => {
      output = (output + c.toString('utf8')).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));

    try {
      // Ready: both workers listening (the primary's /readyz counts them).
      const until = Date.now() + 30_000;
      for (;;) {
        if (child.exitCode !== null) assert.fail(`the gateway exited (${child.exitCode}):\n${output}`);
        const r = await call(adminPort, 'GET', '/readyz').catch(() => undefined);
        if (r?.status === 200) break;
        if (Date.now() > until) assert.fail(`the gateway never became ready:\n${output}`);
        await sleep(100);
      }

      const created = keysCli(['create', '--owner', 'svc-cluster', '--role', 'ops', '--json']);
      assert.equal(created.status, 0, created.stderr);
      const { key, id } = JSON.parse(created.stdout) as { key: string; id: string };
      // Every worker sees a new key within a second, as it sees a revocation.
      await sleep(1000);

      for (let i = 0; i < 40; i++) {
        const r = await call(port, 'GET', `/orders/before-${i}`, withKey(key));
        assert.equal(r.status, 200, `request ${i} before the revoke: ${r.body}`);
      }
      // Each worker keeps its own upstream connection: two of them (at least) mean both workers served.
      assert.ok(upstreamPorts.size >= 2, `upstream connections seen: ${upstreamPorts.size}`);

      // The admin API of the primary sees the CLI's key too.
      const listed = await call(adminPort, 'GET', '/admin/keys', admin);
      assert.equal(listed.status, 200, listed.body);
      assert.deepEqual((listed.json()['keys'] as { id: string; roles: string[] }[]).map((k) => [k.id, k.roles]), [[id, ['ops']]]);

      const revoke = keysCli(['revoke', id]);
      const revokedAt = Date.now();
      assert.equal(revoke.status, 0, revoke.stderr);

      const after: { t: number; status: number; code: string | undefined }[] = [];
      while (Date.now() - revokedAt < 1600) {
        const t = Date.now();
        const r = await call(port, 'GET', `/orders/after-${after.length}`, withKey(key));
        after.push({ t: t - revokedAt, status: r.status, code: r.code });
      }
      for (const r of after) assert.ok(r.status === 200 || (r.status === 401 && r.code === 'invalid_api_key'), `unexpected answer ${r.status} ${r.code ?? ''} at +${r.t} ms`);
      const late = after.filter((r) => r.t > 1000);
      assert.ok(late.length >= 20, `only ${late.length} requests were sent more than a second after the revoke`);
      const accepted = late.filter((r) => r.status !== 401 || r.code !== 'invalid_api_key');
      assert.deepEqual(accepted, [], 'every request more than a second after the revoke is refused');
      const lastAccepted = after.filter((r) => r.status === 200).at(-1);
      const firstRefused = after.find((r) => r.status === 401);
      t.diagnostic(`after the revoke: ${after.length} requests, last accepted at +${lastAccepted?.t ?? '-'} ms, first refused at +${firstRefused?.t ?? '-'} ms`);

      const stillListed = keysCli(['list', '--all', '--json']);
      assert.equal((JSON.parse(stillListed.stdout) as { status: string }[])[0]?.status, 'revoked');

      // A reload that moves the store: the primary's admin API and the workers follow it.
      writeFileSync(config, yaml('./moved/keys.db'));
      const reloaded = await call(adminPort, 'POST', '/admin/reload', admin);
      assert.equal(reloaded.status, 200, reloaded.body);
      assert.deepEqual((await call(adminPort, 'GET', '/admin/keys?all=1', admin)).json(), { keys: [] });
      const moved = await call(adminPort, 'POST', '/admin/keys', admin, JSON.stringify({ owner: 'svc-moved' }));
      assert.equal(moved.status, 201, moved.body);
      await sleep(1000);
      for (let i = 0; i < 6; i++) {
        const r = await call(port, 'GET', `/orders/moved-${i}`, withKey((moved.json() as { key: string }).key));
        assert.equal(r.status, 200, `request ${i} with a key of the moved store: ${r.body}`);
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
      const stop = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(stop);
      await up.close();
    }
    // SIGTERM drains both workers and stops the primary cleanly.
    const { code, signal } = await exited;
    assert.equal(signal, null, `the gateway was killed (${signal ?? ''}):\n${output}`);
    assert.equal(code, 0, `the gateway exited ${code ?? ''}:\n${output}`);
  });
});
