/**
 * Rate limits on a real Redis:
 * - exactness: two gateway instances (each its own Redis connection) share one limit; many
 *   concurrent clients spread over both; exactly L requests pass;
 * - Redis going away mid-test and coming back (our own redis-server, killed and restarted):
 *   `local`, `fail-open` and `fail-closed` each do what they say, the transition is a metric and
 *   a log line, and limits are shared again once Redis answers;
 * - a Redis that lost its scripts (NOSCRIPT) is served by EVAL and keeps working.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { Agent, request } from 'undici';
import { startTestGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';
import { OwnRedis, randomPrefix, redisMissing, redisServerMissing, SHARED_REDIS_URL } from './redis-helpers.js';

const agent = new Agent({ connections: 64 });

async function status(gw: TestGateway, path = '/x'): Promise<{ status: number; code: string | undefined; headers: Record<string, string | string[] | undefined> }> {
  const res = await request(`${gw.url}${path}`, { dispatcher: agent });
  const text = await res.body.text();
  return { status: res.statusCode, code: text.startsWith('{') ? (JSON.parse(text) as { code?: string }).code : undefined, headers: res.headers };
}

function config(upstream: string, redisUrl: string, prefix: string, limit: string, onUnavailable = 'local', commandTimeoutMs = 200): string {
  return `version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { enabled: false }
threats: { enabled: false }
store:
  type: redis
  redis: { url: "${redisUrl}", keyPrefix: "${prefix}", commandTimeoutMs: ${commandTimeoutMs}, connectTimeoutMs: 500, onUnavailable: ${onUnavailable} }
rateLimits:
  limits:
    shared: ${limit}
  apply: [shared]
routes:
  - { name: x, methods: [GET], path: /x, upstream: ${upstream}, public: true }
`;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('two gateway instances share one exact limit through Redis', async () => {
  const skip = await redisMissing();
  let upstream: Upstream;
  let a: TestGateway;
  let b: TestGateway;

  before(async () => {
    if (skip) return;
    // A day-long window: do not start within a few seconds of UTC midnight.
    const msToMidnight = 86_400_000 - (Date.now() % 86_400_000);
    if (msToMidnight < 15_000) await new Promise((r) => setTimeout(r, msToMidnight + 100));
    upstream = await startUpstream();
    const prefix = randomPrefix('exact');
    // fail-closed and a patient timeout: a late Redis answer on a loaded machine shows up as a
    // 503, never as requests let through by a fallback.
    const yaml = config(upstream.url, SHARED_REDIS_URL, prefix, '{ key: [global], algorithm: fixed-window, limit: 300, window: 1d }', 'fail-closed', 5000);
    a = await startTestGateway(yaml);
    b = await startTestGateway(yaml);
    await Promise.all([a.handle.gateway.runtime.abuse.redis!.ready(3000), b.handle.gateway.runtime.abuse.redis!.ready(3000)]);
  });
  after(async () => {
    if (skip) return;
    await Promise.all([a.close(), b.close()]);
    await upstream.close();
  });

  test('900 requests from 48 concurrent clients over both instances: exactly 300 pass', { skip }, async () => {
    const L = 300;
    const total = 900;
    let next = 0;
    const counts = new Map<number, number>();
    const client = async (i: number) => {
      const gw = i % 2 === 0 ? a : b;
      while (next < total) {
        next++;
        const r = await status(gw);
        counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 48 }, (_, i) => client(i)));
    const allowed = counts.get(200) ?? 0;
    assert.equal(allowed + (counts.get(429) ?? 0), total, `only 200 and 429: ${JSON.stringify([...counts])}`);
    assert.ok(Math.abs(allowed - L) <= L * 0.01, `allowed ${allowed}, limit ${L}`);
    assert.equal(allowed, L, 'atomic scripts: not one request over or under');
    assert.equal(upstream.seen.length, allowed);
  });
});

describe('Redis goes away mid-traffic and comes back', async () => {
  const skip = (await redisMissing()) || redisServerMissing();
  let upstream: Upstream;
  let redis: OwnRedis;
  const gws: Record<'local' | 'fail-open' | 'fail-closed', TestGateway> = {} as never;
  const prefix = randomPrefix('outage');

  before(async () => {
    if (skip) return;
    upstream = await startUpstream();
    redis = await OwnRedis.start();
    for (const mode of ['local', 'fail-open', 'fail-closed'] as const) {
      // A patient command timeout: on a loaded machine a late answer must not pass for the outage
      // (a killed Redis closes the connection, which marks the store down at once anyway).
      gws[mode] = await startTestGateway(config(upstream.url, redis.url, `${prefix}${mode}:`, '{ key: [global], algorithm: fixed-window, limit: 3, window: 1d }', mode, 3000));
      await gws[mode].handle.gateway.runtime.abuse.redis!.ready(3000);
    }
  });
  after(async () => {
    if (skip) return;
    for (const gw of Object.values(gws)) await gw.close();
    await redis.kill();
    await upstream.close();
  });

  const burst = async (gw: TestGateway, n: number) => {
    const out: (number | string)[] = [];
    for (let i = 0; i < n; i++) {
      const r = await status(gw);
      out.push(r.code ?? r.status);
    }
    return out;
  };
  const metric = async (gw: TestGateway, line: string) => (await gw.handle.telemetry.metrics.registry.metrics()).includes(line);

  test('up: each instance limited by Redis; down: local, fail-open and fail-closed; back: shared again', { skip }, async () => {
    for (const gw of Object.values(gws)) assert.deepEqual(await burst(gw, 4), [200, 200, 200, 'rate_limited']);
    assert.ok(await metric(gws.local, 'portcullis_store_up{store="redis"} 1'));

    await redis.kill();
    for (const gw of Object.values(gws)) await until('the store to be down', () => gw.handle.gateway.runtime.abuse.redis!.health === 'down');

    // local: the same limit, counted in this process from zero.
    assert.deepEqual(await burst(gws.local, 4), [200, 200, 200, 'rate_limited']);
    // fail-open: no limit at all while Redis is away, and no budget headers.
    const open = await burst(gws['fail-open'], 5);
    assert.deepEqual(open, [200, 200, 200, 200, 200]);
    assert.equal((await status(gws['fail-open'])).headers.ratelimit, undefined);
    // fail-closed: refused with 503 and Retry-After.
    const closed = await status(gws['fail-closed']);
    assert.deepEqual([closed.status, closed.code, closed.headers['retry-after']], [503, 'rate_limit_unavailable', '1']);

    for (const gw of Object.values(gws)) {
      assert.ok(await metric(gw, 'portcullis_store_up{store="redis"} 0'));
      assert.ok(await metric(gw, 'portcullis_store_transitions_total{store="redis",to="down"} 1'));
      assert.ok(gw.logs().some((l) => l.msg === 'store unavailable: applying store.redis.onUnavailable until it answers again' && l.store === 'redis'));
      assert.ok(await metric(gw, 'portcullis_rate_limit_fallback_total{mode='));
    }
    // No secret and no URL in the log line.
    assert.ok(!JSON.stringify(gws.local.logs()).includes(redis.url));

    await redis.restart();
    for (const gw of Object.values(gws)) await until('the store to recover', () => gw.handle.gateway.runtime.abuse.redis!.health === 'up');
    for (const gw of Object.values(gws)) {
      assert.ok(gw.logs().some((l) => l.msg === 'store available: limits, counters and bans are shared again'));
      assert.ok(await metric(gw, 'portcullis_store_up{store="redis"} 1'));
      // The restarted Redis kept nothing: a fresh window, counted in Redis again.
      assert.deepEqual(await burst(gw, 4), [200, 200, 200, 'rate_limited']);
    }
    const direct = new Redis(redis.url);
    try {
      const keys = await direct.keys(`${prefix}*`);
      assert.equal(keys.length, 3, `one counter per instance in Redis after recovery: ${keys.join(', ')}`);
      // Scripts are gone after the restart: the first call was answered NOSCRIPT, then EVAL.
      assert.ok(gws.local.handle.gateway.runtime.abuse.redis!.noScriptFallbacks >= 1);
    } finally {
      direct.disconnect();
    }
  });
});
