/**
 * Temporary bans: an IP that keeps sending attacks is banned (`bans.onAttacks`) and refused on
 * every route with 429 `client_banned` and `Retry-After`; other clients are not affected. With
 * Redis, a ban placed by one instance is enforced by the others at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { hashApiKey } from '../src/identity/apikey.js';
import { startTestGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';
import { randomPrefix, redisMissing, SHARED_REDIS_URL } from './redis-helpers.js';

const agent = new Agent({ connections: 16 });

async function get(gw: TestGateway, path: string, ip: string, key?: string) {
  const res = await request(`${gw.url}${path}`, { dispatcher: agent, headers: { 'x-forwarded-for': ip, ...(key === undefined ? {} : { 'x-api-key': key }) } });
  const text = await res.body.text();
  return { status: res.statusCode, retryAfter: res.headers['retry-after'], code: text.startsWith('{"type"') ? (JSON.parse(text) as { code: string }).code : undefined };
}

const SQLI = "/search?q=%27%20OR%201%3D1--";

function config(upstream: string, store = ''): string {
  return `version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { enabled: false }
trustedProxies: [127.0.0.1]
${store}
bans:
  onAttacks: { threshold: 3, window: 1m, ttl: 10m }
identity:
  apiKeys:
    keys:
      - { id: mallory, sha256: ${hashApiKey('key-mallory')}, owner: mallory }
      - { id: trent, sha256: ${hashApiKey('key-trent')}, owner: trent }
routes:
  - { name: private, methods: [GET], path: /private, upstream: ${upstream}, security: [{ apiKey: [] }] }
  - { name: search, methods: [GET], path: /search, upstream: ${upstream}, public: true }
  - { name: other, methods: [GET], path: /other, upstream: ${upstream}, public: true }
`;
}

describe('bans after repeated attacks (memory store)', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway(config(upstream.url));
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('3 attacks from one IP: banned on every route for the TTL; another IP is not', async () => {
    const ip = '203.0.113.9';
    for (let i = 0; i < 3; i++) assert.equal((await get(gw, SQLI, ip)).code, 'attack_detected');
    const seen = upstream.seen.length;
    const banned = await get(gw, '/other', ip);
    assert.equal(banned.status, 429);
    assert.equal(banned.code, 'client_banned');
    assert.ok(Number(banned.retryAfter) > 590 && Number(banned.retryAfter) <= 600, `retry-after ${banned.retryAfter}`);
    assert.equal(upstream.seen.length, seen, 'nothing from the banned IP reaches the upstream');
    assert.equal((await get(gw, '/other', '203.0.113.10')).status, 200);
    // Two attacks from another IP stay below the threshold.
    await get(gw, SQLI, '203.0.113.11');
    await get(gw, SQLI, '203.0.113.11');
    assert.equal((await get(gw, '/other', '203.0.113.11')).status, 200);
    const metrics = await gw.handle.telemetry.metrics.registry.metrics();
    assert.match(metrics, /portcullis_bans_total\{kind="ip",reason="attacks"\} 1/);
    assert.ok(gw.logs().some((l) => l.msg === 'temporary ban' && l.subject === ip && l.reason === 'attacks'));
  });
});

describe('bans of an authenticated attacker follow the key, not the IP', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startTestGateway(config(upstream.url));
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('3 attacks with one API key from 3 IPs: the principal is banned from any IP; other keys pass', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get(gw, `/private?q=%27%20OR%201%3D1--`, `192.0.2.${i + 1}`, 'key-mallory')).code, 'attack_detected');
    const banned = await get(gw, '/private', '192.0.2.99', 'key-mallory');
    assert.equal(banned.code, 'client_banned');
    assert.ok(Number(banned.retryAfter) > 590);
    assert.equal((await get(gw, '/private', '192.0.2.99', 'key-trent')).status, 200, 'the same IP with another key is fine');
    assert.equal((await get(gw, '/private', '192.0.2.1')).code, 'unauthenticated', 'no IP reached the threshold on its own');
    assert.match(await gw.handle.telemetry.metrics.registry.metrics(), /portcullis_bans_total\{kind="principal",reason="attacks"\} 1/);
  });
});

describe('bans are shared through Redis', async () => {
  const skip = await redisMissing();
  let upstream: Upstream;
  let a: TestGateway;
  let b: TestGateway;
  before(async () => {
    if (skip) return;
    upstream = await startUpstream();
    const store = `store: { type: redis, redis: { url: "${SHARED_REDIS_URL}", keyPrefix: "${randomPrefix('bans')}" } }`;
    a = await startTestGateway(config(upstream.url, store));
    b = await startTestGateway(config(upstream.url, store));
    await Promise.all([a.handle.gateway.runtime.abuse.redis!.ready(3000), b.handle.gateway.runtime.abuse.redis!.ready(3000)]);
  });
  after(async () => {
    if (skip) return;
    await Promise.all([a.close(), b.close()]);
    await upstream.close();
  });

  test('attacks spread over two instances add up, and the ban placed by one is enforced by the other', { skip }, async () => {
    const ip = '198.51.100.99';
    assert.equal((await get(a, SQLI, ip)).code, 'attack_detected');
    assert.equal((await get(b, SQLI, ip)).code, 'attack_detected');
    assert.equal((await get(a, SQLI, ip)).code, 'attack_detected');
    // The third attack, on a, bans; b learns it through the ban channel.
    const end = Date.now() + 3000;
    let onB = await get(b, '/other', ip);
    while (onB.code !== 'client_banned' && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 20));
      onB = await get(b, '/other', ip);
    }
    assert.equal(onB.code, 'client_banned');
    assert.equal((await get(a, '/other', ip)).code, 'client_banned');
    assert.equal((await get(b, '/other', '198.51.100.100')).status, 200);
  });
});
