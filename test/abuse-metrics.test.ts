/**
 * Abuse metrics on /metrics: each counter or gauge moves after the real request that should
 * move it, read through the admin listener as Prometheus scrapes it. Rate-limit decisions by
 * limit and result, bans by kind and reason, challenges issued / solved / failed, load-shed
 * refusals, the credential-stuffing alarm, and the shared store's health and fallbacks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { solveChallenge } from '../src/abuse/index.js';
import { startTestGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';
import { randomPrefix, redisMissing, SHARED_REDIS_URL } from './redis-helpers.js';

const TOKEN = 'metrics-admin-token-0123456789';
const agent = new Agent({ connections: 16 });
const BROWSER = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0', accept: 'text/html', 'accept-language': 'en' };

/** Value of one sample (`name{labels}`) in Prometheus text; 0 when the series is absent. */
function sample(text: string, series: string): number {
  for (const line of text.split('\n')) if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
  return 0;
}

async function scrape(gw: TestGateway): Promise<string> {
  const res = await request(`${gw.adminUrl}/metrics`, { dispatcher: agent });
  assert.equal(res.statusCode, 200);
  return res.body.text();
}

async function call(gw: TestGateway, path: string, ip: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const res = await request(`${gw.url}${path}`, {
    dispatcher: agent,
    method: (init.method ?? 'GET') as 'GET',
    headers: { 'x-forwarded-for': ip, ...BROWSER, ...init.headers },
    body: init.body,
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: (text.startsWith('{') ? JSON.parse(text) : {}) as Record<string, unknown> };
}

/** Runs `act` and returns how much each series moved. */
async function delta(gw: TestGateway, series: readonly string[], act: () => Promise<void>): Promise<number[]> {
  const before = await scrape(gw);
  await act();
  const after = await scrape(gw);
  return series.map((s) => sample(after, s) - sample(before, s));
}

describe('abuse metrics (memory store)', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway(`version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { port: 0, token: ${TOKEN} }
trustedProxies: [127.0.0.1]
telemetry: { audit: { enabled: false } }
loadShedding: { maxConcurrent: 1, maxQueue: 0, retryAfterSeconds: 2 }
bans:
  onAttacks: { threshold: 2, window: 1m, ttl: 10m }
rateLimits:
  limits:
    two-per-minute: { key: [ip], algorithm: fixed-window, limit: 2, window: 1m }
bruteForce:
  perIp: { delayAfter: 100, banAfter: 100 }
  perUsername: { delayAfter: 100, lockAfter: 100 }
  stuffing: { threshold: 5, window: 5m, challengeFor: 10m }
bots:
  enabled: true
  challenge: { difficulty: 4 }
routes:
  - { name: limited, methods: [GET], path: /limited, upstream: ${upstream.url}, public: true, bots: { enabled: false }, rateLimits: { apply: [two-per-minute] } }
  - { name: open, methods: [GET], path: /open/*, upstream: ${upstream.url}, public: true, bots: { enabled: false } }
  - { name: signin, methods: [POST], path: /status/401, upstream: ${upstream.url}, public: true, bots: { enabled: false }, login: true }
  - { name: guarded, methods: [GET], path: /guarded, upstream: ${upstream.url}, public: true }
`);
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('rate-limit decisions, by limit and result', async () => {
    const allowed = 'portcullis_rate_limit_decisions_total{limit="two-per-minute",result="allowed"}';
    const denied = 'portcullis_rate_limit_decisions_total{limit="two-per-minute",result="denied"}';
    const moved = await delta(gw, [allowed, denied], async () => {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await call(gw, '/limited', '192.0.2.10')).status);
      assert.deepEqual(statuses, [200, 200, 429]);
    });
    assert.deepEqual(moved, [2, 1]);
  });

  test('bans by kind and reason: repeated attacks, and the admin API', async () => {
    const attacks = 'portcullis_bans_total{kind="ip",reason="attacks"}';
    const admin = 'portcullis_bans_total{kind="ip",reason="admin"}';
    const moved = await delta(gw, [attacks, admin], async () => {
      for (let i = 0; i < 2; i++) assert.equal((await call(gw, "/open/x?q=%27%20OR%201%3D1--", '192.0.2.20')).status, 403);
      // The ban is placed when the second refusal completes; it shows on the next request.
      assert.equal((await call(gw, '/open/y', '192.0.2.20')).status, 429);
      const r = await request(`${gw.adminUrl}/admin/bans`, {
        dispatcher: agent,
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'ip', value: '192.0.2.21', ttl: '1m' }),
      });
      assert.equal(r.statusCode, 201);
      await r.body.dump();
    });
    assert.deepEqual(moved, [1, 1]);
  });

  test('challenges: issued, solved, failed', async () => {
    const [issued, solved, failed] = ['issued', 'solved', 'failed'].map((r) => `portcullis_challenges_total{result="${r}"}`) as [string, string, string];
    const ua = { 'user-agent': 'curl/8.5.0', accept: '*/*' };
    const moved = await delta(gw, [issued, solved, failed], async () => {
      const first = await call(gw, '/guarded', '192.0.2.30', { headers: ua });
      assert.equal(first.json['code'], 'challenge_required');
      const { token, difficulty } = first.json['challenge'] as { token: string; difficulty: number };
      const post = (solution: string) =>
        call(gw, '/.well-known/portcullis/challenge', '192.0.2.30', { method: 'POST', headers: { ...ua, 'content-type': 'application/json' }, body: JSON.stringify({ token, solution }) });
      assert.equal((await post('not a solution')).status, 403);
      assert.equal((await post(solveChallenge(token, difficulty))).status, 204);
    });
    assert.deepEqual(moved, [1, 1, 1]);
  });

  test('load shedding: a request beyond the concurrency limit is counted', async () => {
    const shed = 'portcullis_load_shed_total';
    const moved = await delta(gw, [shed], async () => {
      const slow = call(gw, '/open/slow?ms=400', '192.0.2.40');
      // Wait until the slow request holds the only slot.
      const until = Date.now() + 3000;
      while (upstream.seen.every((s) => !s.url.includes('slow')) && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      const refused = await call(gw, '/open/z', '192.0.2.41');
      assert.equal(refused.status, 503);
      assert.equal(refused.json['code'], 'overloaded');
      assert.equal((await slow).status, 200);
    });
    assert.deepEqual(moved, [1]);
  });

  test('credential stuffing: the alarm gauge is 1 while the alarm is raised, and the alarm is counted', async () => {
    const active = 'portcullis_credential_stuffing_alarms_active';
    const raised = 'portcullis_credential_stuffing_alarms_total{route="route:signin"}';
    assert.equal(sample(await scrape(gw), active), 0);
    const moved = await delta(gw, [active, raised], async () => {
      for (let i = 0; i < 6; i++) {
        await call(gw, '/status/401', `198.51.100.${i + 1}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: `user${i}`, password: 'x' }) });
      }
    });
    assert.deepEqual(moved, [1, 1]);
  });
});

describe('abuse metrics: the shared store', async () => {
  const skip = await redisMissing();

  test('Redis unreachable: store_up is 0 from the start and each limited request counts a fallback', async () => {
    const upstream = await startUpstream();
    const gw = await startTestGateway(`version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { port: 0 }
telemetry: { audit: { enabled: false } }
store: { type: redis, redis: { url: "redis://127.0.0.1:1", onUnavailable: local, connectTimeoutMs: 200 } }
rateLimits: { limits: { l: { key: [ip], limit: 100, window: 1m } }, apply: [l] }
routes: [{ name: r, methods: [GET], path: /r, upstream: ${upstream.url}, public: true }]
`);
    try {
      const fallback = 'portcullis_rate_limit_fallback_total{mode="local"}';
      const moved = await delta(gw, [fallback], async () => {
        for (let i = 0; i < 3; i++) assert.equal((await call(gw, '/r', '192.0.2.50')).status, 200);
      });
      assert.deepEqual(moved, [3]);
      const text = await scrape(gw);
      assert.equal(sample(text, 'portcullis_store_up{store="redis"}'), 0);
      assert.ok(text.includes('portcullis_store_up{store="redis"} 0'));
    } finally {
      await gw.close();
      await upstream.close();
    }
  });

  test('Redis reachable: store_up goes to 1 and the transition is counted', { skip }, async () => {
    const upstream = await startUpstream();
    const gw = await startTestGateway(`version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { port: 0 }
telemetry: { audit: { enabled: false } }
store: { type: redis, redis: { url: "${SHARED_REDIS_URL}", keyPrefix: "${randomPrefix('metrics')}" } }
routes: [{ name: r, methods: [GET], path: /r, upstream: ${upstream.url}, public: true }]
`);
    try {
      await gw.handle.gateway.runtime.abuse.redis!.ready(3000);
      const text = await scrape(gw);
      assert.equal(sample(text, 'portcullis_store_up{store="redis"}'), 1);
      assert.equal(sample(text, 'portcullis_store_transitions_total{store="redis",to="up"}'), 1);
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});
