/**
 * The two stores behind rate limits, failure counters and bans: the same behaviour from the
 * in-process store and from a real Redis (shared server, random key prefix).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ALGO_FIXED,
  ALGO_GCRA,
  ALGO_SLIDING,
  ALLOWED,
  BoundedMap,
  STORE_UNAVAILABLE,
  MemoryBans,
  MemoryCounters,
  MemoryLimiter,
  OUT_STRIDE,
  RedisStore,
  type LimitRule,
} from '../src/store/index.js';
import { Redis } from 'ioredis';
import { OwnRedis, randomPrefix, redisMissing, redisServerMissing, SHARED_REDIS_URL } from './redis-helpers.js';

const rule = (over: Partial<LimitRule> & Pick<LimitRule, 'algo'>): LimitRule => ({
  name: 'r',
  slot: 0,
  limit: 10,
  windowMs: 1000,
  burst: 10,
  calendar: undefined,
  ...over,
});

describe('memory limiter', () => {
  test('GCRA: a burst of `burst` passes at once, then one per emission interval', () => {
    const m = new MemoryLimiter(100);
    const r = [rule({ algo: ALGO_GCRA, limit: 10, windowMs: 1000, burst: 3 })];
    const out = new Float64Array(OUT_STRIDE);
    const t0 = 1_000_000;
    const answers = [0, 1, 2, 3].map(() => m.check(r, ['k'], 1, 1, t0, out));
    assert.deepEqual(answers, [ALLOWED, ALLOWED, ALLOWED, 0]);
    assert.equal(out[0], 0); // nothing remaining
    assert.equal(out[2], 100); // next unit in 100 ms (10 per second)
    assert.equal(m.check(r, ['k'], 1, 1, t0 + 99, out), 0);
    assert.equal(m.check(r, ['k'], 1, 1, t0 + 100, out), ALLOWED);
    // Another key has its own budget.
    assert.equal(m.check(r, ['other'], 1, 1, t0, out), ALLOWED);
    assert.equal(out[0], 2);
  });

  test('GCRA: cost counts as that many requests', () => {
    const m = new MemoryLimiter(100);
    const r = [rule({ algo: ALGO_GCRA, limit: 10, windowMs: 1000, burst: 10 })];
    const out = new Float64Array(OUT_STRIDE);
    assert.equal(m.check(r, ['k'], 1, 10, 5000, out), ALLOWED);
    assert.equal(out[0], 0);
    assert.equal(m.check(r, ['k'], 1, 1, 5000, out), 0);
  });

  test('fixed window: `limit` per window, reset at the boundary, remaining and reset reported', () => {
    const m = new MemoryLimiter(100);
    const r = [rule({ algo: ALGO_FIXED, limit: 5, windowMs: 60_000 })];
    const out = new Float64Array(OUT_STRIDE);
    const t0 = 60_000 * 100 + 10_000; // 10 s into a window
    for (let i = 0; i < 5; i++) assert.equal(m.check(r, ['k'], 1, 1, t0 + i, out), ALLOWED);
    assert.equal(out[0], 0);
    assert.equal(out[1], 50_000 - 4);
    assert.equal(m.check(r, ['k'], 1, 1, t0 + 5, out), 0);
    assert.equal(out[2], 50_000 - 5); // retry at the next window
    assert.equal(m.check(r, ['k'], 1, 1, 60_000 * 101, out), ALLOWED);
    assert.equal(out[0], 4);
  });

  test('sliding window: the previous window still counts by its remaining share', () => {
    const m = new MemoryLimiter(100);
    const r = [rule({ algo: ALGO_SLIDING, limit: 10, windowMs: 1000 })];
    const out = new Float64Array(OUT_STRIDE);
    for (let i = 0; i < 10; i++) assert.equal(m.check(r, ['k'], 1, 1, 5000 + i, out), ALLOWED);
    // 25 % into the next window, 75 % of the 10 still count: 7.5, so 2 more fit.
    assert.equal(m.check(r, ['k'], 1, 1, 6250, out), ALLOWED);
    assert.equal(m.check(r, ['k'], 1, 1, 6250, out), ALLOWED);
    assert.equal(m.check(r, ['k'], 1, 1, 6250, out), 0);
    assert.ok(out[2]! > 0 && out[2]! <= 750, `retry ${out[2]}`);
  });

  test('several limits: all or nothing', () => {
    const m = new MemoryLimiter(100);
    const rules = [rule({ algo: ALGO_FIXED, limit: 100, slot: 0 }), rule({ name: 'b', algo: ALGO_FIXED, limit: 2, slot: 1 })];
    const out = new Float64Array(2 * OUT_STRIDE);
    assert.equal(m.check(rules, ['a', 'b'], 2, 1, 0, out), ALLOWED);
    assert.equal(m.check(rules, ['a', 'b'], 2, 1, 0, out), ALLOWED);
    assert.equal(m.check(rules, ['a', 'b'], 2, 1, 0, out), 1);
    assert.equal(m.check(rules, ['a', 'b'], 2, 1, 0, out), 1);
    // The refused requests did not consume from the first limit: 98 of 100 left.
    assert.equal(out[0], 98);
  });

  test('bounded: a flood of keys never grows a table past maxEntries', () => {
    const m = new MemoryLimiter(1000);
    const r = [rule({ algo: ALGO_GCRA })];
    const out = new Float64Array(OUT_STRIDE);
    for (let i = 0; i < 20_000; i++) m.check(r, [`ip-${i}`], 1, 1, 1000, out);
    assert.equal(m.size(0), 1000);
  });

  test('bounded map: expired entries go first, then the oldest', () => {
    const b = new BoundedMap<{ exp: number }>(3);
    b.insert('a', { exp: 10 }, 0);
    b.insert('b', { exp: 5000 }, 0);
    b.insert('c', { exp: 5000 }, 0);
    b.insert('d', { exp: 5000 }, 2000); // sweep drops a (expired)
    assert.equal(b.get('a'), undefined);
    assert.ok(b.get('b'));
    b.insert('e', { exp: 5000 }, 2001); // full again, sweep too recent: oldest (b) goes
    assert.equal(b.get('b'), undefined);
    assert.equal(b.size, 3);
    assert.equal(b.evicted, 1);
  });

  test('failure counters: runs end a window after the last event', () => {
    const c = new MemoryCounters(10);
    assert.deepEqual(c.hit(['ip', 'user'], 1000, 0), [1, 1]);
    assert.deepEqual(c.hit(['ip'], 1000, 900), [2]);
    assert.deepEqual(c.peek(['ip', 'user'], 1500), [{ count: 2, last: 900 }, { count: 0, last: 0 }]);
    assert.deepEqual(c.hit(['ip'], 1000, 2000), [1]);
  });

  test('bans: remaining time, a shorter ban never shortens a longer one, expiry', () => {
    const b = new MemoryBans(10);
    b.set('ip:1.2.3.4', 10_000, 'attacks', 0);
    b.set('ip:1.2.3.4', 5_000, 'brute force', 0);
    assert.equal(b.remaining('ip:1.2.3.4', 1000), 9000);
    assert.equal(b.remaining('ip:5.6.7.8', 1000), 0);
    assert.equal(b.remaining('ip:1.2.3.4', 10_000), 0);
    assert.equal(b.size, 0);
  });
});

describe('redis store (shared Redis, random prefix)', async () => {
  const skip = await redisMissing();
  let store: RedisStore;

  before(async () => {
    if (skip) return;
    store = new RedisStore({ url: SHARED_REDIS_URL, keyPrefix: randomPrefix('store'), connectTimeoutMs: 1000, commandTimeoutMs: 1000, recoverIntervalMs: 200, maxBans: 100 });
    await store.ready(3000);
  });
  after(async () => {
    if (!skip) await store.close();
  });

  test('GCRA: burst, then refused with a retry time, as in memory', { skip }, async () => {
    const r = [rule({ algo: ALGO_GCRA, limit: 10, windowMs: 1000, burst: 3 })];
    const out = new Float64Array(OUT_STRIDE);
    const answers: number[] = [];
    for (let i = 0; i < 4; i++) answers.push(await store.checkLimits(r, ['k'], 1, 1, out, Date.now()));
    assert.deepEqual(answers, [ALLOWED, ALLOWED, ALLOWED, 0]);
    assert.equal(out[0], 0);
    assert.ok(out[2]! > 0 && out[2]! <= 100, `retry ${out[2]}`);
  });

  test('fixed and sliding windows, several limits in one call, all or nothing', { skip }, async () => {
    const rules = [rule({ name: 'big', algo: ALGO_SLIDING, limit: 100, windowMs: 60_000 }), rule({ name: 'small', algo: ALGO_FIXED, limit: 2, windowMs: 60_000 })];
    const out = new Float64Array(2 * OUT_STRIDE);
    const seq: number[] = [];
    for (let i = 0; i < 4; i++) seq.push(await store.checkLimits(rules, ['a', 'a'], 2, 1, out, Date.now()));
    assert.deepEqual(seq, [ALLOWED, ALLOWED, 1, 1]);
    assert.ok(out[0]! >= 97 && out[0]! <= 98, `remaining of the big limit ${out[0]}`); // the sliding estimate may round down
    assert.equal(out[3], 0);
    assert.ok(out[5]! > 0);
  });

  test('keys carry a hash tag per counter (Redis Cluster slots) and expire', { skip }, async () => {
    const r = rule({ name: 'tagged', algo: ALGO_FIXED, limit: 5, windowMs: 2000 });
    await store.checkLimits([r], ['1.2.3.4'], 1, 1, new Float64Array(3), Date.now());
    const key = store.limitKey(r, '1.2.3.4');
    assert.match(key, /rl:\{tagged:1\.2\.3\.4\}$/);
    const ttl = await store.client.pttl(key);
    assert.ok(ttl > 0 && ttl <= 2000, `ttl ${ttl}`);
    // A long attacker-chosen key part is hashed, so keys stay short.
    assert.ok(store.limitKey(r, 'x'.repeat(10_000)).length < 120);
  });

  test('failure counters and bans, and the local mirror learns bans through the channel', { skip }, async () => {
    assert.deepEqual(await store.hit(['ip:a', 'user:b'], 5000), [1, 1]);
    assert.deepEqual(await store.hit(['ip:a'], 5000), [2]);
    const peek = await store.peek(['ip:a', 'none']);
    assert.equal(peek.counts[0]!.count, 2);
    assert.equal(peek.counts[1]!.count, 0);
    await store.reset(['ip:a']);
    assert.equal((await store.peek(['ip:a'])).counts[0]!.count, 0);

    const mirror = new MemoryBans(100);
    await store.mirrorBans((subject, until, reason) => (until === 0 ? mirror.delete(subject) : mirror.set(subject, until, reason, Date.now())));
    await store.ban('ip:9.9.9.9', 60_000, 'test');
    const until = Date.now() + 2000;
    while (mirror.remaining('ip:9.9.9.9', Date.now()) === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.ok(mirror.remaining('ip:9.9.9.9', Date.now()) > 55_000);
    await store.unban('ip:9.9.9.9');
    while (mirror.remaining('ip:9.9.9.9', Date.now()) > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.equal(mirror.remaining('ip:9.9.9.9', Date.now()), 0);
  });
});

describe('redis store health (our own redis-server)', async () => {
  const skip = redisServerMissing();

  test('late answers: one gets the fail mode, three in a row mark the store down; a PING brings it back', { skip }, async () => {
    const own = await OwnRedis.start();
    const store = new RedisStore({ url: own.url, keyPrefix: randomPrefix('health'), connectTimeoutMs: 500, commandTimeoutMs: 80, recoverIntervalMs: 100, maxBans: 10 });
    const changes: string[] = [];
    store.onHealth((_s, health) => changes.push(health));
    const blocker = new Redis(own.url);
    try {
      await store.ready(3000);
      const r = [rule({ algo: ALGO_FIXED, limit: 100, windowMs: 60_000 })];
      const out = new Float64Array(OUT_STRIDE);
      assert.equal(await store.checkLimits(r, ['k'], 1, 1, out, Date.now()), ALLOWED);
      // Redis busy for 600 ms: the connection stays up, answers come late.
      const sleeping = blocker.call('DEBUG', 'SLEEP', '0.6');
      await new Promise((res) => setTimeout(res, 20));
      assert.equal(await store.checkLimits(r, ['k'], 1, 1, out, Date.now()), STORE_UNAVAILABLE);
      assert.equal(store.health, 'up', 'one late answer is not an outage');
      await store.checkLimits(r, ['k'], 1, 1, out, Date.now());
      await store.checkLimits(r, ['k'], 1, 1, out, Date.now());
      assert.equal(store.health, 'down');
      await sleeping;
      const end = Date.now() + 3000;
      while (store.health !== 'up' && Date.now() < end) await new Promise((res) => setTimeout(res, 20));
      assert.equal(store.health, 'up');
      assert.deepEqual(changes, ['up', 'down', 'up']);
    } finally {
      blocker.disconnect();
      await store.close();
      await own.kill();
    }
  });
});
