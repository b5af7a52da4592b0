/**
 * Brute force and credential stuffing, with scripted attack clients against the demo notes API
 * (examples/api/server.ts, its POST /v1/login marked `x-portcullis-login` in
 * examples/openapi.yaml) through a real gateway. Every test counts how many guesses reached the
 * API: that number, not the answers the attacker saw, is what protection means.
 *
 * Client IPs come from X-Forwarded-For (127.0.0.1 is a trusted proxy here), so one process can
 * play many attackers.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { createExampleApi } from '../examples/api/server.js';
import { solveChallenge } from '../src/abuse/index.js';
import { startTestGateway, type TestGateway } from './helpers.js';
import { randomPrefix, redisMissing, SHARED_REDIS_URL } from './redis-helpers.js';

const agent = new Agent({ connections: 128 });

interface Api {
  readonly url: string;
  /** POST /v1/login requests the API received. */
  logins: number;
  close(): void;
}

async function startApi(): Promise<Api> {
  const inner = createExampleApi();
  const api: Api = { url: '', logins: 0, close: () => undefined };
  const server: Server = inner;
  server.prependListener('request', (req) => {
    if (req.url === '/v1/login') api.logins++;
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return Object.assign(api, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  });
}

function gatewayConfig(apiUrl: string, bruteForce: string, extra = ''): string {
  return `version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { enabled: false }
trustedProxies: [127.0.0.1]
identity:
  apiKeys: { keys: [] }
  schemes:
    bearer: { type: jwt, issuer: demo, audiences: [notes-api], algorithms: [HS256], keys: [{ secret: "\${JWT_SECRET}" }] }
bruteForce:
${bruteForce}
${extra}
apis:
  - name: notes
    spec: ./openapi.yaml
    upstream: ${apiUrl}
`;
}

async function login(gw: TestGateway, ip: string, username: string, password: string) {
  const res = await request(`${gw.url}/v1/login`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
    body: JSON.stringify({ username, password }),
  });
  const text = await res.body.text();
  const code = res.headers['content-type'] === 'application/problem+json' ? (JSON.parse(text) as { code: string }).code : undefined;
  return { status: res.statusCode, code, retryAfter: res.headers['retry-after'] as string | undefined };
}

const SPEC = readFileSync(join(process.cwd(), 'examples', 'openapi.yaml'), 'utf8');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function bruteForceGateway(bruteForce: string) {
  const env = { api: undefined as unknown as Api, gw: undefined as unknown as TestGateway };
  before(async () => {
    env.api = await startApi();
    env.gw = await startTestGateway(gatewayConfig(env.api.url, bruteForce), { 'openapi.yaml': SPEC }, { JWT_SECRET: 'a-test-secret-of-enough-length-0123456789' });
  });
  after(async () => {
    await env.gw.close();
    env.api.close();
  });
  return env;
}

describe('brute force against the demo login: attackers that do not wait', () => {
  // A first delay of 10 s: no delay runs out while the attack lasts, even on a slow machine.
  const env = bruteForceGateway(`  perIp: { delayAfter: 5, banAfter: 12 }
  perUsername: { delayAfter: 3, lockAfter: 8 }
  delayBaseMs: 10000
  banTtl: 10m
  stuffing: { threshold: 1000 }`);

  test('a fast dictionary attack on one username: 200 guesses, 3 reach the API', async (t) => {
    const { gw, api } = env;
    const before = api.logins;
    const seen = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const r = await login(gw, '203.0.113.1', 'alice@example.com', i === 150 ? 'alice-demo-password' : `guess-${i}`);
      const key = r.code ?? String(r.status);
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    const reached = api.logins - before;
    t.diagnostic(`fast attack: ${reached} of 200 guesses reached the API (${JSON.stringify([...seen])})`);
    assert.equal(reached, 3, `guesses that reached the API: ${JSON.stringify([...seen])}`);
    assert.equal(seen.get('200'), undefined, 'the right password, guess 151, never got through');
    assert.equal(seen.get('login_throttled'), 197);
    const r = await login(gw, '203.0.113.1', 'alice@example.com', 'x');
    assert.equal(r.code, 'login_throttled');
    assert.ok(Number(r.retryAfter) >= 1);
    // The audit event of a throttled attempt: the code, never the password.
    const events = await gw.waitEvents(200);
    assert.ok(events.some((e) => e.code === 'login_throttled'));
    assert.ok(!JSON.stringify(events).includes('guess-'), 'no password in any audit event');
  });

  test('50 parallel guesses at once: only the first 3 reach the API', async (t) => {
    const { gw, api } = env;
    const before = api.logins;
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => login(gw, '203.0.113.50', 'carol@example.com', `parallel-${i}`)));
    const reached = api.logins - before;
    t.diagnostic(`parallel attack: ${reached} of 50 guesses reached the API`);
    assert.equal(reached, 3, `reached ${reached}: ${JSON.stringify(answers.map((a) => a.code ?? a.status))}`);
    assert.equal(answers.filter((a) => a.code === 'login_throttled').length, 47);
  });

  test('a successful login clears the username: two typos, then the password, then three typos pass unthrottled', async () => {
    const { gw } = env;
    const ip = '192.0.2.10';
    const user = 'bob@example.com';
    assert.equal((await login(gw, ip, user, 'typo')).status, 401);
    assert.equal((await login(gw, ip, user, 'typo')).status, 401);
    assert.equal((await login(gw, ip, user, 'bob-demo-password')).status, 200);
    const after = [];
    for (let i = 0; i < 4; i++) after.push((await login(gw, `192.0.2.${20 + i}`, user, 'typo')).code ?? 401);
    assert.deepEqual(after, [401, 401, 401, 'login_throttled'], 'the count started again at the success');
  });
});

describe('brute force against the demo login: attackers that honour Retry-After', () => {
  // Short delays so that a patient attacker gets through them within the test.
  const env = bruteForceGateway(`  perIp: { delayAfter: 5, banAfter: 12 }
  perUsername: { delayAfter: 3, lockAfter: 8 }
  delayBaseMs: 50
  maxDelayMs: 400
  banTtl: 10m
  stuffing: { threshold: 1000 }`);

  test('the username is locked after 8 failures, from every IP: 8 guesses reach the API', async (t) => {
    const { gw, api } = env;
    const before = api.logins;
    let locked: { code: string | undefined; retryAfter: string | undefined } | undefined;
    for (let i = 0; i < 40 && locked === undefined; i++) {
      const r = await login(gw, `198.51.100.${(i % 3) + 1}`, 'bob@example.com', `try-${i}`);
      if (r.code === 'login_locked') locked = r;
      else if (r.code === 'login_throttled') await sleep(Math.min(Number(r.retryAfter) * 1000, 450));
    }
    t.diagnostic(`patient attack on one username: ${api.logins - before} guesses reached the API before the lock`);
    assert.equal(locked?.code, 'login_locked');
    assert.ok(Number(locked?.retryAfter) > 500, 'locked for the ban TTL (10 min)');
    assert.equal(api.logins - before, 8, 'exactly lockAfter guesses reached the API');
    // The right password from a fresh IP is refused too while the lock lasts.
    assert.equal((await login(gw, '192.0.2.200', 'bob@example.com', 'bob-demo-password')).code, 'login_locked');
  });

  test('one IP spraying many usernames is banned from every route after 12 failures', async (t) => {
    const { gw, api } = env;
    const ip = '203.0.113.77';
    const before = api.logins;
    const codes: (string | number)[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await login(gw, ip, `user${i}@example.com`, 'Winter2026!');
      codes.push(r.code ?? r.status);
      if (r.code === 'client_banned') break;
      if (r.code === 'login_throttled') await sleep(Math.min(Number(r.retryAfter) * 1000, 450));
    }
    t.diagnostic(`password spraying from one IP: ${api.logins - before} guesses reached the API before the ban`);
    assert.equal(codes.at(-1), 'client_banned', codes.join(','));
    assert.equal(api.logins - before, 12);
    const other = await request(`${gw.url}/v1/health`, { dispatcher: agent, headers: { 'x-forwarded-for': ip } });
    assert.equal(other.statusCode, 429);
    assert.ok(Number(other.headers['retry-after']) > 500);
    assert.equal(((await other.body.json()) as { code: string }).code, 'client_banned');
    const fine = await request(`${gw.url}/v1/health`, { dispatcher: agent, headers: { 'x-forwarded-for': '203.0.113.78' } });
    assert.equal(fine.statusCode, 200);
    await fine.body.text();
    const metrics = await gw.handle.telemetry.metrics.registry.metrics();
    assert.match(metrics, /portcullis_bans_total\{kind="ip",reason="brute-force"\} 1/);
    assert.match(metrics, /portcullis_bans_total\{kind="user",reason="brute-force"\} 1/);
  });
});

describe('credential stuffing against the demo login', () => {
  let api: Api;
  let gw: TestGateway;

  before(async () => {
    api = await startApi();
    gw = await startTestGateway(
      gatewayConfig(
        api.url,
        `  perIp: { delayAfter: 5, banAfter: 50 }
  perUsername: { delayAfter: 3, lockAfter: 50 }
  stuffing: { threshold: 30, window: 5m, challengeFor: 10m }`,
      ),
      { 'openapi.yaml': SPEC },
      { JWT_SECRET: 'a-test-secret-of-enough-length-0123456789' },
    );
  });
  after(async () => {
    await gw.close();
    api.close();
  });

  test('60 IPs, 120 usernames, 2 tries each: the alarm rises at 30 failures and the login is challenged, not forwarded', async () => {
    const before = api.logins;
    const results: (string | number)[] = [];
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 60; i++) {
        const r = await login(gw, `10.${round}.0.${i + 1}`, `victim${i * 2 + round}@example.com`, 'Summer2025!');
        results.push(r.code ?? r.status);
      }
    }
    const reached = api.logins - before;
    assert.ok(reached >= 30 && reached <= 32, `failures that reached the API before the alarm: ${reached}`);
    // After the alarm, attempts are answered with the proof-of-work challenge, never forwarded.
    assert.equal(results.filter((r) => r === 401).length, reached);
    assert.equal(results.at(-1), 'challenge_required');
    const metrics = await gw.handle.telemetry.metrics.registry.metrics();
    assert.match(metrics, /portcullis_credential_stuffing_alarms_total\{route="notes:login"\} 1/);
    assert.ok(gw.logs().some((l) => String(l.msg).startsWith('credential-stuffing alarm') && l.route === 'notes:login'));
    const events = await gw.waitEvents(120);
    const challenged = events.filter((e) => (e.findings as { code: string }[]).some((f) => f.code === 'credential_stuffing'));
    assert.ok(challenged.length >= 80, `attempts recorded with the credential_stuffing finding: ${challenged.length}`);
    // Other operations are not affected.
    const health = await request(`${gw.url}/v1/health`, { dispatcher: agent });
    assert.equal(health.statusCode, 200);
    await health.body.text();
  });

  test('during the alarm, a client that pays for the challenge logs in; one that does not is never forwarded', async () => {
    const ip = '198.51.100.23';
    const headers = { 'content-type': 'application/json', 'x-forwarded-for': ip, 'user-agent': 'real-user-app/1.0' };
    const body = JSON.stringify({ username: 'bob@example.com', password: 'bob-demo-password' });
    const before = api.logins;
    const first = await request(`${gw.url}/v1/login`, { method: 'POST', dispatcher: agent, headers, body });
    assert.equal(first.statusCode, 403);
    const problem = (await first.body.json()) as { code: string; challenge: { token: string; difficulty: number } };
    assert.equal(problem.code, 'challenge_required');
    assert.equal(api.logins, before, 'a challenged attempt is not forwarded');
    const paid = await request(`${gw.url}/.well-known/portcullis/challenge`, {
      method: 'POST',
      dispatcher: agent,
      headers,
      body: JSON.stringify({ token: problem.challenge.token, solution: solveChallenge(problem.challenge.token, problem.challenge.difficulty) }),
    });
    assert.equal(paid.statusCode, 204, await paid.body.text());
    const cookie = String(paid.headers['set-cookie']).split(';', 1)[0]!;
    const second = await request(`${gw.url}/v1/login`, { method: 'POST', dispatcher: agent, headers: { ...headers, cookie }, body });
    assert.equal(second.statusCode, 200, await second.body.text());
    assert.equal(api.logins, before + 1);
    // The clearance is bound to the client: another address with the same cookie is challenged.
    const stolen = await request(`${gw.url}/v1/login`, { method: 'POST', dispatcher: agent, headers: { ...headers, cookie, 'x-forwarded-for': '203.0.113.200' }, body });
    assert.equal(stolen.statusCode, 403);
    assert.equal(((await stolen.body.json()) as { code: string }).code, 'challenge_required');
    assert.equal(api.logins, before + 1);
  });
});

describe('brute force across two instances sharing Redis', async () => {
  const skip = await redisMissing();
  let api: Api;
  let a: TestGateway;
  let b: TestGateway;

  before(async () => {
    if (skip) return;
    api = await startApi();
    const store = `store: { type: redis, redis: { url: "${SHARED_REDIS_URL}", keyPrefix: "${randomPrefix('bf')}", commandTimeoutMs: 2000 } }`;
    const yaml = gatewayConfig(
      api.url,
      `  perIp: { delayAfter: 5, banAfter: 12 }
  perUsername: { delayAfter: 3, lockAfter: 8 }
  delayBaseMs: 10000`,
      store,
    );
    a = await startTestGateway(yaml, { 'openapi.yaml': SPEC }, { JWT_SECRET: 'a-test-secret-of-enough-length-0123456789' });
    b = await startTestGateway(yaml, { 'openapi.yaml': SPEC }, { JWT_SECRET: 'a-test-secret-of-enough-length-0123456789' });
    await Promise.all([a.handle.gateway.runtime.abuse.redis!.ready(3000), b.handle.gateway.runtime.abuse.redis!.ready(3000)]);
  });
  after(async () => {
    if (skip) return;
    await Promise.all([a.close(), b.close()]);
    api.close();
  });

  test('guesses alternating between the instances are counted together: 3 of 60 reach the API', { skip }, async (t) => {
    const before = api.logins;
    const codes = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const r = await login(i % 2 === 0 ? a : b, `203.0.113.${(i % 4) + 1}`, 'alice@example.com', `guess-${i}`);
      const k = r.code ?? String(r.status);
      codes.set(k, (codes.get(k) ?? 0) + 1);
    }
    t.diagnostic(`two instances: ${api.logins - before} of 60 guesses reached the API (${JSON.stringify([...codes])})`);
    assert.equal(api.logins - before, 3);
    assert.equal(codes.get('login_throttled'), 57);
  });
});
