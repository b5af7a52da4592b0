/**
 * Bot signals on a running gateway: scripted and missing User-Agents, header anomalies and
 * impossible rates challenge or refuse unauthenticated requests; authenticated API clients are
 * never challenged; a scripted client that pays the challenge gets through.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { RateTracker, scriptedAgent, solveChallenge } from '../src/abuse/index.js';
import { formatDiagnostic, loadConfig } from '../src/config/index.js';
import { hashApiKey } from '../src/identity/apikey.js';
import { startTestGateway, startUpstream, writeFiles, type TestGateway, type Upstream } from './helpers.js';

const BROWSER = {
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  accept: 'application/json',
  'accept-language': 'en-GB,en;q=0.9',
  'accept-encoding': 'gzip, deflate, br',
};

describe('scripted User-Agent list', () => {
  it('finds HTTP libraries, tools, scanners and headless browsers, and not browsers', () => {
    const table: [string, string | undefined][] = [
      ['curl/8.5.0', 'curl/'],
      ['python-requests/2.31.0', 'python-requests'],
      ['Go-http-client/1.1', 'go-http-client'],
      ['Java/17.0.9', 'java/'],
      ['okhttp/4.12.0', 'okhttp/'],
      ['Wget/1.21.4', 'wget/'],
      ['sqlmap/1.7.2#stable (https://sqlmap.org)', 'sqlmap'],
      ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36', 'headlesschrome'],
      ['axios/1.6.2', 'axios/'],
      ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36', undefined],
      ['Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15', undefined],
      ['Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0', undefined],
      ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1', undefined],
    ];
    for (const [ua, expected] of table) assert.equal(scriptedAgent(ua), expected, ua);
    assert.equal(scriptedAgent('MyCorpBot/2', ['mycorpbot']), 'mycorpbot');
  });

  it('reads at most 512 characters of a hostile header: a 100 KB one costs what a 600-byte one does', () => {
    assert.equal(scriptedAgent('a'.repeat(600) + 'curl/8'), undefined, 'past the first 512 characters');
    const long = 'Mozilla/'.repeat(100_000 / 8);
    const short = 'Mozilla/'.repeat(600 / 8);
    const time = (ua: string) => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < 1000; i++) assert.equal(scriptedAgent(ua), undefined);
      return Number(process.hrtime.bigint() - t0);
    };
    // Interleaved rounds, best of each: a loaded machine slows both alike. Reading the whole
    // 100 KB would cost ~160 times the short header.
    let l = Infinity;
    let sh = Infinity;
    for (let round = 0; round < 5; round++) {
      l = Math.min(l, time(long));
      sh = Math.min(sh, time(short));
    }
    assert.ok(l / sh < 8, `100 KB: ${(l / 1000).toFixed(0)} µs, 600 B: ${(sh / 1000).toFixed(0)} µs per 1000`);
  });
});

describe('rate tracker', () => {
  it('counts per client within a window and forgets the oldest clients beyond its bound', () => {
    const r = new RateTracker(3, 1000, 100);
    assert.deepEqual([1, 2, 3, 4].map(() => r.hit('a', 0)), [false, false, false, true]);
    assert.equal(r.hit('a', 1000), false, 'a new window');
    for (let i = 0; i < 1000; i++) r.hit(`c${i}`, 5);
    assert.equal(r.size, 100);
  });
});

describe('bots stage on a running gateway', () => {
  let up: Upstream;
  let gw: TestGateway;
  const KEY = 'bots-test-key-0123456789';
  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(`version: 1
listeners: [{ host: 127.0.0.1, port: 0 }]
admin: { enabled: false }
trustedProxies: [127.0.0.1]
identity:
  apiKeys:
    keys: [{ id: ci, sha256: ${hashApiKey(KEY)} }]
bots:
  enabled: true
  rate: { requests: 5, windowSeconds: 60 }
  challenge: { difficulty: 8 }
routes:
  - { name: public, methods: [GET, POST], path: /public/*, upstream: ${up.url}, public: true }
  - { name: strict, methods: [GET], path: /strict/*, upstream: ${up.url}, public: true, bots: { challengeAt: 3 } }
  - { name: private, methods: [GET], path: /private/*, upstream: ${up.url} }
  - { name: watched, methods: [GET], path: /watched/*, upstream: ${up.url}, public: true, stages: { bots: { mode: monitor } } }
  - { name: exempt, methods: [GET], path: /exempt/*, upstream: ${up.url}, public: true, bots: { enabled: false } }
`);
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  // A fresh client address per test, so the rate signal starts at zero.
  let n = 0;
  const client = () => `198.51.100.${++n}`;
  const get = (path: string, ip: string, headers: Record<string, string>) => request(`${gw.url}${path}`, { headers: { 'x-forwarded-for': ip, ...headers } });
  const code = async (res: Awaited<ReturnType<typeof request>>) => {
    const text = await res.body.text();
    return text.startsWith('{') ? (JSON.parse(text) as { code: string }).code : '';
  };

  it('a browser with the usual headers passes; curl and a missing User-Agent are challenged', async () => {
    assert.equal((await get('/public/a', client(), BROWSER)).statusCode, 200);
    const curl = await get('/public/a', client(), { 'user-agent': 'curl/8.5.0', accept: '*/*' });
    assert.equal(curl.statusCode, 403);
    assert.equal(await code(curl), 'challenge_required');
    const none = await get('/public/a', client(), {});
    assert.equal(none.statusCode, 403);
    assert.equal(await code(none), 'challenge_required');
    const events = await gw.waitEvents(3);
    const reasons = events.filter((e) => e.code === 'challenge_required').map((e) => e.reason);
    assert.ok(reasons.includes('bots: bot score 4: scripted user-agent (curl/)'), JSON.stringify(reasons));
    assert.ok(reasons.includes('bots: bot score 5: no user-agent'), JSON.stringify(reasons));
  });

  it('header anomalies score: a browser User-Agent without Accept-Language is challenged where the route says 3', async () => {
    const { 'accept-language': _drop, ...partial } = BROWSER;
    assert.equal((await get('/public/a', client(), partial)).statusCode, 200, 'score 3 is under the default 4');
    const strict = await get('/strict/a', client(), partial);
    assert.equal(strict.statusCode, 403);
    assert.equal(await code(strict), 'challenge_required');
    const e = (await gw.waitEvents(1)).at(-1)!;
    assert.equal(e.reason, 'bots: bot score 3: browser user-agent without accept-language');
  });

  it('authenticated API clients are never challenged, whatever their User-Agent', async () => {
    const ip = client();
    for (let i = 0; i < 10; i++) {
      const res = await get('/private/a', ip, { 'user-agent': 'python-requests/2.31', 'x-api-key': KEY });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    }
  });

  it('an impossible rate challenges a browser and refuses a script (score over denyAt), clearance or not', async () => {
    const ip = client();
    for (let i = 0; i < 5; i++) assert.equal((await get('/public/a', ip, BROWSER)).statusCode, 200);
    const sixth = await get('/public/a', ip, BROWSER);
    assert.equal(sixth.statusCode, 403);
    assert.equal(await code(sixth), 'challenge_required');

    const script = client();
    const ua = { 'user-agent': 'Go-http-client/1.1' };
    // Pay once: the clearance covers a challenge, not a flood.
    const first = await get('/public/a', script, ua);
    const params = ((await first.body.json()) as { challenge: { token: string; difficulty: number } }).challenge;
    const paid = await request(`${gw.url}/.well-known/portcullis/challenge`, {
      method: 'POST',
      headers: { ...ua, 'x-forwarded-for': script, 'content-type': 'application/json' },
      body: JSON.stringify({ token: params.token, solution: solveChallenge(params.token, params.difficulty) }),
    });
    assert.equal(paid.statusCode, 204);
    const cookie = String(paid.headers['set-cookie']).split(';', 1)[0]!;
    await paid.body.dump();
    const statuses: number[] = [];
    const codes: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await get('/public/a', script, { ...ua, cookie });
      statuses.push(res.statusCode);
      codes.push(await code(res));
    }
    // Requests 2-5 of the window pass on the clearance; the 6th is over the rate: 4 + 6 = 10 = denyAt.
    assert.deepEqual(statuses, [200, 200, 200, 200, 403, 403]);
    assert.deepEqual(codes.slice(4), ['bot_detected', 'bot_detected']);
  });

  it('a scripted client that pays the challenge passes; one that does not never reaches the upstream', async () => {
    const ip = client();
    const ua = { 'user-agent': 'python-requests/2.31' };
    const seen = up.seen.length;
    for (let i = 0; i < 3; i++) assert.equal((await get('/public/unpaid', ip, ua)).statusCode, 403);
    assert.equal(up.seen.length, seen);

    const payer = client();
    const res = await get('/public/paid', payer, ua);
    const { token, difficulty } = ((await res.body.json()) as { challenge: { token: string; difficulty: number } }).challenge;
    const form = await request(`${gw.url}/.well-known/portcullis/challenge`, {
      method: 'POST',
      headers: { ...ua, 'x-forwarded-for': payer, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, solution: solveChallenge(token, difficulty) }).toString(),
    });
    assert.equal(form.statusCode, 204);
    await form.body.dump();
    const cookie = String(form.headers['set-cookie']).split(';', 1)[0]!;
    const ok = await get('/public/paid', payer, { ...ua, cookie });
    assert.equal(ok.statusCode, 200);
    assert.equal(((await ok.body.json()) as { url: string }).url, '/public/paid');
  });

  it('bots.enabled per route: false exempts a route; true turns the stage on where the top level is off', async () => {
    assert.equal((await get('/exempt/a', client(), { 'user-agent': 'curl/8' })).statusCode, 200);
    const up2 = await startUpstream();
    const g = await startTestGateway(`version: 1
listeners: [{ host: 127.0.0.1, port: 0 }]
admin: { enabled: false }
routes:
  - { name: signup, methods: [GET], path: /signup, upstream: ${up2.url}, public: true, bots: { enabled: true } }
  - { name: other, methods: [GET], path: /other, upstream: ${up2.url}, public: true }
`);
    try {
      const signup = await request(`${g.url}/signup`, { headers: { 'user-agent': 'curl/8' } });
      assert.equal(signup.statusCode, 403);
      assert.equal(await code(signup), 'challenge_required');
      const other = await request(`${g.url}/other`, { headers: { 'user-agent': 'curl/8' } });
      assert.equal(other.statusCode, 200);
      await other.body.dump();
    } finally {
      await g.close();
      await up2.close();
    }
  });

  it('monitor mode records the score and forwards', async () => {
    const res = await get('/watched/a', client(), { 'user-agent': 'curl/8' });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    const e = (await gw.waitEvents(1)).at(-1)!;
    assert.deepEqual(e.findings, [{ stage: 'bots', code: 'challenge_required', reason: 'bot score 4: scripted user-agent (curl/)', monitored: true }]);
  });
});

describe('bots config', () => {
  it('a short challenge secret is an error with its position; thresholds that never challenge warn', async () => {
    const dir = writeFiles({
      'portcullis.yaml': `version: 1
listeners: [{ port: 0 }]
bots:
  enabled: true
  challengeAt: 8
  denyAt: 6
  challenge:
    secret: "\${SHORT}"
routes: [{ name: r, methods: [GET], path: /, upstream: "http://127.0.0.1:1", public: true }]
`,
    });
    const r = await loadConfig(join(dir, 'portcullis.yaml'), { env: { SHORT: 'too-short' } });
    assert.equal(r.ok, false);
    const lines = r.ok ? [] : r.diagnostics.map((d) => formatDiagnostic(d, dir));
    assert.ok(lines.includes('portcullis.yaml:8:13: error: bots.challenge.secret: the secret has 9 characters; expected at least 32 (e.g. `openssl rand -hex 32`)'), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('portcullis.yaml:6:11: warning: bots.denyAt: denyAt (6) is not above challengeAt (8)')), lines.join('\n'));
  });
});

describe('x-portcullis-bots per operation', () => {
  const code = async (res: Awaited<ReturnType<typeof request>>) => ((await res.body.json()) as { code: string }).code;
  const spec = (health: string) => `openapi: 3.1.0
info: { title: t, version: '1' }
security: []
paths:
  /health:
    get:
      operationId: health
${health}
      responses: { '200': { description: ok } }
  /login:
    post:
      operationId: login
      x-portcullis-bots: false
      responses: { '200': { description: ok } }
  /search:
    get:
      operationId: search
      x-portcullis-bots: { challengeAt: 20, denyAt: 30 }
      responses: { '200': { description: ok } }
`;
  const config = (url: string, topLevel: boolean) => `version: 1
listeners: [{ host: 127.0.0.1, port: 0 }]
admin: { enabled: false }
bots: { enabled: ${topLevel}, challenge: { difficulty: 8 } }
threats: { enabled: false }
apis:
  - { name: shop, spec: ./openapi.yaml, upstream: ${url} }
`;

  it('turns the stage off, on, or changes its thresholds for one operation, whatever the top level says', async () => {
    const up = await startUpstream();
    const g = await startTestGateway(config(up.url, false), { 'openapi.yaml': spec('      x-portcullis-bots: true') });
    try {
      const curl = { 'user-agent': 'curl/8' };
      const health = await request(`${g.url}/health`, { headers: curl });
      assert.equal(health.statusCode, 403, 'on for this operation although the top level is off');
      assert.equal(await code(health), 'challenge_required');
      const login = await request(`${g.url}/login`, { method: 'POST', headers: curl });
      assert.equal(login.statusCode, 200, 'off for this operation');
      await login.body.dump();
      const search = await request(`${g.url}/search`, { headers: curl });
      assert.equal(search.statusCode, 200, 'top level off and no `enabled` in the extension: the stage stays off');
      await search.body.dump();
    } finally {
      await g.close();
      await up.close();
    }
    const up2 = await startUpstream();
    const g2 = await startTestGateway(config(up2.url, true), { 'openapi.yaml': spec('') });
    try {
      const curl = { 'user-agent': 'curl/8' };
      assert.equal(await code(await request(`${g2.url}/health`, { headers: curl })), 'challenge_required', 'the top level applies');
      const login = await request(`${g2.url}/login`, { method: 'POST', headers: curl });
      assert.equal(login.statusCode, 200, 'x-portcullis-bots: false exempts the login');
      await login.body.dump();
      const search = await request(`${g2.url}/search`, { headers: curl });
      assert.equal(search.statusCode, 200, "a scripted User-Agent (4) is under this operation's challengeAt (20)");
      await search.body.dump();
    } finally {
      await g2.close();
      await up2.close();
    }
  });

  it('a malformed extension is a config error at the operation', async () => {
    const dir = writeFiles({
      'portcullis.yaml': config('http://127.0.0.1:1', true),
      'openapi.yaml': spec('      x-portcullis-bots: { challengeAt: 0, colour: red }'),
    });
    const r = await loadConfig(join(dir, 'portcullis.yaml'));
    assert.equal(r.ok, false);
    const lines = r.ok ? [] : r.diagnostics.map((d) => formatDiagnostic(d, dir));
    assert.ok(lines.some((l) => /^openapi\.yaml:\d+:\d+: error: .*x-portcullis-bots: unknown key "colour"/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /x-portcullis-bots\.challengeAt: expected an integer from 1 to 1000/.test(l)), lines.join('\n'));
  });
});
