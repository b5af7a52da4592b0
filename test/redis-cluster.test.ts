/**
 * Rate limits and failure counters on a real Redis Cluster: three redis-server nodes of our own
 * (cluster mode, no persistence), joined with `redis-cli --cluster create`. A request's limits
 * whose counters fall in different slots are checked per slot and still enforced; the slot the
 * store computes is the one Redis computes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { request } from 'undici';
import { keySlot, RedisStore } from '../src/store/index.js';
import { startTestGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';
import { OwnRedis, randomPrefix, redisServerMissing } from './redis-helpers.js';

const run = promisify(execFile);

describe('Redis Cluster (three nodes of our own)', async () => {
  const skip = redisServerMissing();
  const nodes: OwnRedis[] = [];
  let upstream: Upstream;
  let gw: TestGateway;
  const prefix = randomPrefix('cluster');

  before(async () => {
    if (skip) return;
    for (let i = 0; i < 3; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-'));
      nodes.push(await OwnRedis.start(() => ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--dir', dir]));
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
    const end = Date.now() + 10_000;
    for (;;) {
      const { stdout } = await run('redis-cli', ['-p', String(nodes[0]!.port), 'cluster', 'info']);
      if (stdout.includes('cluster_state:ok')) break;
      if (Date.now() > end) throw new Error('cluster did not become ok');
      await new Promise((r) => setTimeout(r, 100));
    }
    upstream = await startUpstream();
    gw = await startTestGateway(`version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { enabled: false }
threats: { enabled: false }
store:
  type: redis
  redis: { url: "redis://127.0.0.1:${nodes[0]!.port}", cluster: true, keyPrefix: "${prefix}", commandTimeoutMs: 2000, onUnavailable: fail-closed }
rateLimits:
  limits:
    per-ip: { key: [ip], algorithm: gcra, limit: 3, window: 1h }
    per-tenant: { key: ['header:x-tenant'], algorithm: fixed-window, limit: 5, window: 1h }
  apply: [per-ip, per-tenant]
routes:
  - { name: x, methods: [GET], path: /x, upstream: ${upstream.url}, public: true }
`);
    await gw.handle.gateway.runtime.abuse.redis!.ready(5000);
  });
  after(async () => {
    if (skip) return;
    await gw.close();
    await upstream.close();
    for (const n of nodes) await n.kill();
  });

  test('the store computes the slot Redis computes', { skip }, async () => {
    const c = new Redis(nodes[0]!.url);
    try {
      for (const key of ['plain', `${prefix}rl:{per-ip:127.0.0.1}`, 'a{}b', 'x{user}y', `{${'é'.repeat(5)}}`]) {
        assert.equal(keySlot(key), Number(await c.call('CLUSTER', 'KEYSLOT', key)), key);
      }
    } finally {
      c.disconnect();
    }
  });

  test('two limits in different slots are both enforced through the gateway; refusals never reach the upstream', { skip }, async () => {
    const store = gw.handle.gateway.runtime.abuse.redis!;
    const rules = ['per-ip', 'per-tenant'].map((n) => gw.handle.gateway.runtime.abuse.limit(n).shared);
    const slots = [keySlot(store.limitKey(rules[0]!, '127.0.0.1')), keySlot(store.limitKey(rules[1]!, 'acme'))];
    assert.notEqual(slots[0], slots[1], 'the two counters live in different slots');
    const codes: (number | string)[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await request(`${gw.url}/x`, { headers: { 'x-tenant': 'acme' } });
      const text = await res.body.text();
      codes.push(res.statusCode === 200 ? 200 : (JSON.parse(text) as { code: string }).code);
      if (i === 0) assert.equal(res.headers.ratelimit, '"per-ip";r=2;t=1200, "per-tenant";r=4;t=' + String(res.headers.ratelimit).split('t=')[2]);
    }
    assert.deepEqual(codes, [200, 200, 200, 'rate_limited']);
    assert.equal(upstream.seen.length, 3);
    // Both counters are in the cluster (on whichever nodes own their slots); a single script
    // with both keys would have been refused with CROSSSLOT.
    const cluster = new Cluster([{ host: '127.0.0.1', port: nodes[0]!.port }]);
    try {
      await new Promise((r) => cluster.once('ready', r));
      const perNode = await Promise.all(cluster.nodes('master').map(async (n) => (await n.keys(`${prefix}*`)).length));
      assert.equal(perNode.reduce((a, b) => a + b, 0), 2, `keys per node: ${perNode.join(',')}`);
    } finally {
      cluster.disconnect();
    }
  });

  test('failure counters on several slots: counted, peeked and taken back per key', { skip }, async () => {
    const store = new RedisStore({ url: nodes[1]!.url, cluster: true, keyPrefix: randomPrefix('cluster-fc'), connectTimeoutMs: 1000, commandTimeoutMs: 2000, recoverIntervalMs: 100, maxBans: 10 });
    try {
      await store.ready(5000);
      const keys = ['ip:1', 'user:abc', 'login:route', 'ip:2'];
      assert.ok(new Set(keys.map((k) => keySlot(store.counterKey(k)))).size > 1);
      assert.deepEqual(await store.hit(keys, 60_000), [1, 1, 1, 1]);
      assert.deepEqual(await store.hit(['ip:1', 'user:abc'], 60_000), [2, 2]);
      const peek = await store.peek(keys);
      assert.deepEqual(peek.counts.map((c) => c.count), [2, 2, 1, 1]);
      assert.ok(peek.now > Date.now() - 5000);
      assert.deepEqual(await store.unhit(['ip:1', 'ip:2']), [1, 0]);
    } finally {
      await store.close();
    }
  });
});
