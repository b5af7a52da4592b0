import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import type { Config } from '../src/config/types.js';
import { startAdminServer, ADMIN_LIMITS } from '../src/admin/index.js';
import type { AdminDeps, AdminServer } from '../src/admin/index.js';
import { createMetrics, registrySource } from '../src/telemetry/index.js';
import { completed } from './telemetry-helpers.test.js';

const TOKEN = 'admin-token-0123456789abcdef';

function adminConfig(over: Partial<Config['admin']> = {}): Config['admin'] {
  return { enabled: true, host: '127.0.0.1', port: 0, token: TOKEN, metricsRequireToken: false, ...over };
}

/** Mutable deps: tests flip readiness and swap the admin config as a reload would. */
const state = {
  admin: adminConfig(),
  ready: false,
  reloads: 0,
  reloadResult: { ok: true, revision: 'rev-2' } as { ok: boolean; revision?: string; errors?: string[] },
  logged: [] as unknown[],
};
const metrics = createMetrics({ collectDefault: false });
const deps: AdminDeps = {
  getConfig: () => state.admin,
  ready: () => state.ready,
  status: () => ({ revision: 'rev-1', loadedAt: '2025-01-01T00:00:00.000Z', workers: 2, version: '0.1.0' }),
  reload: async () => {
    state.reloads++;
    await new Promise((r) => setTimeout(r, 20));
    return state.reloadResult;
  },
  metrics: registrySource(metrics.registry).metrics,
  logger: { error: (...a: unknown[]) => state.logged.push(a), warn: (...a: unknown[]) => state.logged.push(a) } as never,
};

let server: AdminServer;
let base: string;
before(async () => {
  server = await startAdminServer(state.admin, deps);
  base = `http://127.0.0.1:${server.port}`;
});
after(async () => {
  await server.close();
});

async function call(method: string, path: string, headers: Record<string, string> = {}, body?: string) {
  const res = await request(base + path, { method: method as 'GET', headers, body });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

const auth = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

function assertCommonHeaders(h: Record<string, string | string[] | undefined>): void {
  assert.equal(h['cache-control'], 'no-store');
  assert.equal(h['x-content-type-options'], 'nosniff');
}

function assertProblem(r: Awaited<ReturnType<typeof call>>, status: number, code: string): void {
  assert.equal(r.status, status);
  assert.equal(r.headers['content-type'], 'application/problem+json');
  assertCommonHeaders(r.headers);
  const b = r.json();
  assert.equal(b['type'], `https://portcullis.dev/errors/${code}`);
  assert.equal(b['status'], status);
  assert.equal(b['code'], code);
  assert.equal(typeof b['title'], 'string');
}

test('admin: /healthz is always 200', async () => {
  const r = await call('GET', '/healthz');
  assert.equal(r.status, 200);
  assert.deepEqual(r.json(), { status: 'ok' });
  assert.match(String(r.headers['content-type']), /^application\/json/);
  assertCommonHeaders(r.headers);
  const head = await call('HEAD', '/healthz');
  assert.equal(head.status, 200);
  assert.equal(head.text, '');
});

test('admin: /readyz flips with readiness', async () => {
  state.ready = false;
  const down = await call('GET', '/readyz');
  assert.equal(down.status, 503);
  assert.deepEqual(down.json(), { status: 'not-ready' });
  state.ready = true;
  const up = await call('GET', '/readyz');
  assert.equal(up.status, 200);
  assert.deepEqual(up.json(), { status: 'ready', revision: 'rev-1' });
});

test('admin: /metrics serves Prometheus text with observed labels', async () => {
  metrics.observe(completed({ status: 401, outcome: 'denied', code: 'invalid_api_key' }));
  const r = await call('GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  assertCommonHeaders(r.headers);
  for (const s of [
    'portcullis_requests_total{route="petstore:getPet",method="GET",status="401",outcome="denied"} 1',
    'portcullis_denials_total{route="petstore:getPet",code="invalid_api_key"} 1',
    'portcullis_request_duration_seconds_bucket',
    'portcullis_stage_duration_seconds_bucket',
    'portcullis_upstream_duration_seconds_bucket',
    'portcullis_upstream_errors_total',
    'portcullis_inflight_requests',
    'portcullis_config_info',
    'portcullis_config_reload_total{result="success"} 0',
  ]) {
    assert.ok(r.text.includes(s), s);
  }
});

test('admin: /metrics needs the token only when metricsRequireToken', async () => {
  state.admin = adminConfig({ metricsRequireToken: true });
  try {
    assertProblem(await call('GET', '/metrics'), 401, 'admin_unauthorized');
    assert.equal((await call('GET', '/metrics', auth(TOKEN))).status, 200);
    state.admin = adminConfig({ metricsRequireToken: true, token: undefined });
    assertProblem(await call('GET', '/metrics'), 404, 'route_not_found');
  } finally {
    state.admin = adminConfig();
  }
});

test('admin: no token configured → admin endpoints are 404 (deny by default)', async () => {
  state.admin = adminConfig({ token: undefined });
  try {
    assertProblem(await call('GET', '/admin/status', auth(TOKEN)), 404, 'route_not_found');
    assertProblem(await call('POST', '/admin/reload', auth('')), 404, 'route_not_found');
    state.admin = adminConfig({ token: '' });
    assertProblem(await call('GET', '/admin/status', auth('')), 404, 'route_not_found');
    assert.equal(state.reloads, 0);
  } finally {
    state.admin = adminConfig();
  }
});

test('admin: missing or wrong token → 401 with WWW-Authenticate', async () => {
  for (const headers of [
    {},
    auth('wrong'),
    auth(TOKEN + 'x'),
    auth(TOKEN.slice(0, -1)),
    { authorization: TOKEN },
    { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
    { authorization: 'Bearer ' },
  ]) {
    const r = await call('GET', '/admin/status', headers);
    assertProblem(r, 401, 'admin_unauthorized');
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="portcullis-admin"');
    assert.equal(r.text.includes(TOKEN), false);
  }
  assertProblem(await call('POST', '/admin/reload', auth('nope')), 401, 'admin_unauthorized');
  assert.equal(state.reloads, 0);
});

test('admin: right token → status', async () => {
  const r = await call('GET', '/admin/status', { authorization: `bearer   ${TOKEN}` });
  assert.equal(r.status, 200);
  assertCommonHeaders(r.headers);
  assert.deepEqual(r.json(), { revision: 'rev-1', loadedAt: '2025-01-01T00:00:00.000Z', workers: 2, version: '0.1.0' });
});

test('admin: the token is read per request (rotated on reload)', async () => {
  state.admin = adminConfig({ token: 'rotated-token' });
  try {
    assertProblem(await call('GET', '/admin/status', auth(TOKEN)), 401, 'admin_unauthorized');
    assert.equal((await call('GET', '/admin/status', auth('rotated-token'))).status, 200);
  } finally {
    state.admin = adminConfig();
  }
});

test('admin: reload returns the deps result; concurrent calls share one reload', async () => {
  state.reloads = 0;
  const [a, b] = await Promise.all([call('POST', '/admin/reload', auth(TOKEN)), call('POST', '/admin/reload', auth(TOKEN))]);
  assert.equal(a.status, 200);
  assert.deepEqual(a.json(), { ok: true, revision: 'rev-2' });
  assert.deepEqual(b.json(), { ok: true, revision: 'rev-2' });
  assert.equal(state.reloads, 1);

  state.reloadResult = { ok: false, errors: ['portcullis.yaml:3:5 apis[0].upstream: expected a URL'] };
  try {
    const bad = await call('POST', '/admin/reload', auth(TOKEN), '{}');
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.json(), state.reloadResult);
    assert.equal(state.reloads, 2);
  } finally {
    state.reloadResult = { ok: true, revision: 'rev-2' };
  }
});

test('admin: wrong method → 405 with Allow', async () => {
  const r = await call('POST', '/healthz');
  assertProblem(r, 405, 'method_not_allowed');
  assert.equal(r.headers['allow'], 'GET, HEAD');
  const r2 = await call('GET', '/admin/reload', auth(TOKEN));
  assertProblem(r2, 405, 'method_not_allowed');
  assert.equal(r2.headers['allow'], 'POST');
  assert.equal((await call('DELETE', '/admin/status', auth(TOKEN))).headers['allow'], 'GET, HEAD');
});

test('admin: unknown paths → 404 problem', async () => {
  for (const p of ['/', '/admin', '/admin/', '/healthz/', '/HEALTHZ', '/admin//status', '/admin/status%2F', '/__proto__', '/constructor']) {
    assertProblem(await call('GET', p, auth(TOKEN)), 404, 'route_not_found');
  }
  // A query string does not change the endpoint.
  assert.equal((await call('GET', '/healthz?x=1')).status, 200);
});

test('admin: request bodies are bounded', async () => {
  const big = 'x'.repeat(ADMIN_LIMITS.maxBodyBytes + 1);
  const r = await call('POST', '/admin/reload', auth(TOKEN), big);
  assertProblem(r, 413, 'body_too_large');
  const ok = await call('POST', '/admin/reload', auth(TOKEN), 'x'.repeat(1024));
  assert.equal(ok.status, 200);
});

test('admin: a failing dependency → 500 problem, logged without the token', async () => {
  const failing = await startAdminServer(adminConfig(), {
    ...deps,
    metrics: () => Promise.reject(new Error('registry broke')),
    status: () => {
      throw new Error('status broke');
    },
  });
  try {
    const url = `http://127.0.0.1:${failing.port}`;
    const m = await request(url + '/metrics');
    assert.equal(m.statusCode, 500);
    const body = (await m.body.json()) as Record<string, unknown>;
    assert.equal(body['code'], 'internal_error');
    assert.equal(JSON.stringify(body).includes('broke'), false);
    const s = await request(url + '/admin/status', { headers: auth(TOKEN) });
    assert.equal(s.statusCode, 500);
    await s.body.dump();
    assert.equal(JSON.stringify(state.logged).includes(TOKEN), false);
    assert.ok(JSON.stringify(state.logged).includes('status broke'));
  } finally {
    await failing.close();
  }
});

test('admin: a busy port is reported', async () => {
  await assert.rejects(startAdminServer(adminConfig({ port: server.port }), deps), { code: 'EADDRINUSE' });
});
