/**
 * Rate limits and quotas through the whole gateway with the in-process store: 429 problem+json
 * with `rate_limited`, `Retry-After` and the IETF RateLimit fields; budgets per IP, per API key,
 * per header; cost per operation; limits from an OpenAPI extension; monitor mode; the refused
 * request never reaches the upstream; clear config errors.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { CalendarWindow } from '../src/abuse/index.js';
import { loadConfig } from '../src/config/index.js';
import { hashApiKey } from '../src/identity/apikey.js';
import { startTestGateway, startUpstream, writeFiles, type TestGateway, type Upstream } from './helpers.js';

async function get(gw: TestGateway, path: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await request(`${gw.url}${path}`, { method: method as 'GET', headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

const SPEC = `openapi: 3.1.0
info: { title: t, version: '1' }
security: [{ key: [] }]
components:
  securitySchemes:
    key: { type: apiKey, in: header, name: x-api-key }
paths:
  /cheap:
    get:
      operationId: cheap
      responses: { '200': { description: ok } }
  /report:
    post:
      operationId: report
      x-portcullis-rate-limit: { apply: [reports], cost: 2, inherit: false }
      responses: { '200': { description: ok } }
  /health:
    get:
      operationId: health
      security: []
      x-portcullis-rate-limit: { inherit: false }
      responses: { '200': { description: ok } }
`;

describe('rate limits in process memory', () => {
  let upstream: Upstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway(
      `version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { enabled: false }
threats: { enabled: false }
identity:
  apiKeys:
    keys:
      - { id: alice, sha256: ${hashApiKey('key-alice')}, owner: alice }
      - { id: bob, sha256: ${hashApiKey('key-bob')}, owner: bob }
      - { id: carol, sha256: ${hashApiKey('key-carol')}, owner: carol }
rateLimits:
  limits:
    per-ip: { key: [ip], algorithm: gcra, limit: 1000, window: 1s }
    per-caller: { key: [principal], algorithm: fixed-window, limit: 3, window: 1h }
    reports: { key: [principal], algorithm: gcra, limit: 4, window: 1h }
    per-tenant: { key: ['header:x-tenant'], algorithm: fixed-window, limit: 2, window: 1h, whenMissing: shared }
    burst3: { key: [ip, route], algorithm: gcra, limit: 3, window: 1h }
    watch: { key: [ip], algorithm: gcra, limit: 1, window: 1h }
  apply: [per-ip]
apis:
  - name: api
    spec: ./openapi.yaml
    upstream: ${upstream.url}
    rateLimits: { apply: [per-caller] }
routes:
  - { name: open, methods: [GET], path: /open, upstream: ${upstream.url}, public: true, rateLimits: { apply: [burst3] } }
  - { name: tenant, methods: [GET], path: /tenant, upstream: ${upstream.url}, public: true, rateLimits: { apply: [per-tenant], inherit: false } }
  - name: watched
    methods: [GET]
    path: /watched
    upstream: ${upstream.url}
    public: true
    rateLimits: { apply: [watch], inherit: false }
    stages: { rate-limit: { mode: monitor } }
`,
      { 'openapi.yaml': SPEC },
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('a burst passes with the RateLimit fields; the next request is refused with 429, Retry-After and problem+json, unforwarded', async () => {
    const seen = upstream.seen.length;
    for (let i = 0; i < 3; i++) {
      const ok = await get(gw, '/open');
      assert.equal(ok.status, 200);
      assert.equal(ok.headers['ratelimit-policy'], '"per-ip";q=1000;w=1, "burst3";q=3;w=3600');
      assert.match(String(ok.headers.ratelimit), new RegExp(`"burst3";r=${2 - i};t=\\d+`));
    }
    const refused = await get(gw, '/open');
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['content-type'], 'application/problem+json');
    assert.equal(refused.json?.code, 'rate_limited');
    assert.ok(Number(refused.headers['retry-after']) >= 1000, `retry-after ${refused.headers['retry-after']} (one request per 20 min)`);
    assert.match(String(refused.headers.ratelimit), /"burst3";r=0;t=\d+/);
    assert.equal(upstream.seen.length, seen + 3, 'the refused request did not reach the upstream');
    const events = await gw.waitEvents(4);
    const last = events.at(-1)!;
    assert.equal(last.code, 'rate_limited');
    assert.match(String(last.reason), /rate limit "burst3" exceeded/);
    assert.equal(typeof (last.stages as Record<string, number>)['rate-limit'], 'number');
  });

  test('a limit keyed on the principal: each API key has its own quota (after authentication)', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get(gw, '/cheap', { 'x-api-key': 'key-alice' })).status, 200);
    const refused = await get(gw, '/cheap', { 'x-api-key': 'key-alice' });
    assert.equal(refused.json?.code, 'rate_limited');
    assert.match(String(refused.headers.ratelimit), /"per-caller";r=0/);
    assert.equal((await get(gw, '/cheap', { 'x-api-key': 'key-bob' })).status, 200, "bob's budget is his own");
    // An unauthenticated request is refused by authentication, never counted against anyone.
    assert.equal((await get(gw, '/cheap')).json?.code, 'unauthenticated');
  });

  test('cost: an expensive operation spends 2 units of its own limit per request', async () => {
    const first = await get(gw, '/report', { 'x-api-key': 'key-carol' }, 'POST');
    assert.equal(first.status, 200);
    assert.equal(first.headers.ratelimit, '"reports";r=2;t=1800', 'GCRA: 4 per hour, 2 spent: whole again in 30 min');
    assert.equal((await get(gw, '/report', { 'x-api-key': 'key-carol' }, 'POST')).status, 200);
    const refused = await get(gw, '/report', { 'x-api-key': 'key-carol' }, 'POST');
    assert.equal(refused.status, 429);
    assert.equal(refused.json?.title, 'Too many requests.');
  });

  test('inherit: false drops inherited limits (a public health check is not limited)', async () => {
    const r = await get(gw, '/health');
    assert.equal(r.status, 200);
    assert.equal(r.headers.ratelimit, undefined);
  });

  test('a key from a header: each tenant has a budget; requests without the header share one', async () => {
    for (let i = 0; i < 2; i++) assert.equal((await get(gw, '/tenant', { 'x-tenant': 'acme' })).status, 200);
    assert.equal((await get(gw, '/tenant', { 'x-tenant': 'acme' })).status, 429);
    assert.equal((await get(gw, '/tenant', { 'x-tenant': 'globex' })).status, 200);
    assert.equal((await get(gw, '/tenant')).status, 200);
    assert.equal((await get(gw, '/tenant')).status, 200);
    assert.equal((await get(gw, '/tenant')).status, 429, 'requests without the header share one counter');
  });

  test('monitor mode: headers and a finding, never a refusal', async () => {
    const a = await get(gw, '/watched');
    const b = await get(gw, '/watched');
    assert.deepEqual([a.status, b.status], [200, 200]);
    assert.match(String(b.headers.ratelimit), /"watch";r=0/);
    const events = await gw.waitEvents(1);
    const monitored = events.filter((e) => (e.findings as { code: string; monitored: boolean }[]).some((f) => f.code === 'rate_limited' && f.monitored));
    assert.equal(monitored.length, 1);
  });
});

describe('rate-limit config errors name the key and what was expected', () => {
  test('unknown limit names, gcra over a month, a bad time zone, burst on a window, a bad extension', async () => {
    const dir = writeFiles({
      'openapi.yaml': `openapi: 3.1.0
info: { title: t, version: '1' }
paths:
  /x:
    get:
      operationId: x
      x-portcullis-rate-limit: { apply: [nope], cost: 0 }
      responses: { '200': { description: ok } }
`,
      'portcullis.yaml': `version: 1
listeners: [{ port: 0 }]
rateLimits:
  limits:
    monthly: { algorithm: gcra, limit: 10, window: month }
    zoned: { algorithm: fixed-window, limit: 10, window: 1d, timeZone: Mars/Olympus }
    bursty: { algorithm: fixed-window, limit: 10, window: 1m, burst: 5 }
  apply: [missing]
apis:
  - { name: a, spec: ./openapi.yaml, upstream: http://127.0.0.1:1 }
`,
    });
    const r = await loadConfig(`${dir}/portcullis.yaml`, { env: {} });
    assert.equal(r.ok, false);
    const msgs = r.ok ? [] : r.diagnostics.map((d) => `${d.path}: ${d.message}`);
    const expect = [
      /rateLimits\.limits\.monthly\.window: window "month" needs algorithm fixed-window/,
      /rateLimits\.limits\.zoned\.timeZone: unknown time zone "Mars\/Olympus"/,
      /rateLimits\.limits\.bursty\.burst: burst only applies to algorithm gcra/,
      /rateLimits\.apply\[0\]: unknown limit "missing"/,
      /x-portcullis-rate-limit\.apply: unknown limit "nope"/,
      /x-portcullis-rate-limit\.cost: expected an integer/,
    ];
    for (const e of expect) assert.ok(msgs.some((m) => e.test(m)), `${e} in:\n${msgs.join('\n')}`);
    const line = r.ok ? undefined : r.diagnostics.find((d) => d.path === 'rateLimits.limits.zoned.timeZone')?.line;
    assert.equal(line, 6);
  });
});

describe('login and store config', () => {
  test('x-portcullis-login and apis[].login are checked; routes[].login: true marks a route', async () => {
    const dir = writeFiles({
      'openapi.yaml': `openapi: 3.1.0
info: { title: t, version: '1' }
paths:
  /a:
    post:
      operationId: a
      x-portcullis-login: { usernameField: 7, failureStatuses: [99], password: x }
      responses: { '200': { description: ok } }
`,
      'portcullis.yaml': `version: 1
listeners: [{ port: 0 }]
apis:
  - { name: a, spec: ./openapi.yaml, upstream: http://127.0.0.1:1, login: { operations: [nope] } }
`,
    });
    const r = await loadConfig(`${dir}/portcullis.yaml`, { env: {} });
    const msgs = r.ok ? [] : r.diagnostics.map((d) => `${d.path}: ${d.message}`);
    for (const e of [/x-portcullis-login: unknown key "password"/, /x-portcullis-login.usernameField: expected/, /x-portcullis-login.failureStatuses: expected/, /apis\[0\]\.login\.operations\[0\]: no operation "nope"/]) {
      assert.ok(msgs.some((m) => e.test(m)), `${e} in:\n${msgs.join('\n')}`);
    }
    const ok = writeFiles({
      'portcullis.yaml': `version: 1
workers: 2
listeners: [{ port: 0 }]
rateLimits: { limits: { l: { limit: 10, window: 1s } }, apply: [l] }
routes:
  - { name: signin, methods: [POST], path: /signin, upstream: http://127.0.0.1:1, public: true, login: true }
  - { name: other, methods: [GET], path: /other, upstream: http://127.0.0.1:1, public: true }
`,
    });
    const loaded = await loadConfig(`${ok}/portcullis.yaml`, { env: {} });
    assert.ok(loaded.ok);
    if (!loaded.ok) return;
    assert.deepEqual(loaded.config.abuse.routes.get('route:signin')?.login, { usernamePointer: '/username', failureStatuses: [401, 403] });
    assert.equal(loaded.config.abuse.routes.get('route:other')?.login, undefined);
    assert.ok(loaded.warnings.some((w) => w.path === 'store.type' && w.message.includes('split between the workers')));
  });

  test('the Redis URL takes no password (it goes in store.redis.password)', async () => {
    const dir = writeFiles({ 'portcullis.yaml': 'version: 1\nlisteners: [{ port: 0 }]\nstore: { type: redis, redis: { url: "redis://:hunter2@cache:6379" } }\n' });
    const r = await loadConfig(`${dir}/portcullis.yaml`, { env: {} });
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.diagnostics.some((d) => d.path === 'store.redis.url'));
  });
});

describe('calendar windows', () => {
  test('days start at local midnight, across a DST change; months follow the calendar', () => {
    const out = new Float64Array(2);
    const berlin = new CalendarWindow('Europe/Berlin', 1);
    // 2026-03-29 is the spring DST change in Berlin: a 23-hour day.
    berlin.bounds(Date.parse('2026-03-29T12:00:00Z'), out);
    assert.equal(new Date(out[0]!).toISOString(), '2026-03-28T23:00:00.000Z');
    assert.equal(new Date(out[1]!).toISOString(), '2026-03-29T22:00:00.000Z');
    const month = new CalendarWindow('UTC', 0);
    month.bounds(Date.parse('2026-02-14T08:00:00Z'), out);
    assert.deepEqual([new Date(out[0]!).toISOString(), new Date(out[1]!).toISOString()], ['2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z']);
    const ny = new CalendarWindow('America/New_York', 0);
    ny.bounds(Date.parse('2026-01-01T03:00:00Z'), out); // still Dec 31 in New York
    assert.equal(new Date(out[0]!).toISOString(), '2025-12-01T05:00:00.000Z');
  });
});
