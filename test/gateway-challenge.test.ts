/**
 * The proof-of-work challenge and clearance: the service on its own (tokens, binding, expiry,
 * replay, cookies), and on a running gateway where a stage answers `challenge` (white box: the
 * stage is placed into a compiled route's chain, so this works for any stage, not only bots).
 * The scripted clients are plain Node: one pays the challenge and gets through, one does not.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { CHALLENGE_PAGE_CSP, ChallengeService, challengePage, leadingZeroBits, solveChallenge, type ChallengeSettings } from '../src/abuse/index.js';
import { JS_SHA256 } from '../src/abuse/challenge-page.js';
import type { ChainEntry, Decision, RequestContext } from '../src/pipeline/types.js';
import type { CompiledRoute } from '../src/server/runtime.js';
import { FIXTURES, passthroughConfig, startTestGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const SETTINGS: ChallengeSettings = { difficulty: 8, ttlSeconds: 60, clearanceSeconds: 600, ipv4Prefix: 24, ipv6Prefix: 64, replayGuardEntries: 100 };

function ctx(ip: string, ua: string | undefined, cookie?: string): RequestContext {
  const headers: Record<string, string> = {};
  if (ua !== undefined) headers['user-agent'] = ua;
  if (cookie !== undefined) headers.cookie = cookie;
  return { headers, client: { ip } } as unknown as RequestContext;
}

describe('challenge service', () => {
  const svc = new ChallengeService(SETTINGS, Buffer.alloc(32, 7), false);

  it('a solved token buys a clearance cookie bound to the address prefix and User-Agent', () => {
    const c = ctx('203.0.113.10', 'agent/1');
    const p = svc.issue(c);
    assert.equal(p.difficulty, 8);
    assert.equal(p.algorithm, 'sha256-leading-zero-bits');
    const solution = solveChallenge(p.token, p.difficulty);
    assert.ok(leadingZeroBits(createHash('sha256').update(`${p.token}:${solution}`).digest()) >= 8);
    const r = svc.redeem(c, p.token, solution);
    assert.ok(r.ok, JSON.stringify(r));
    const cookie = `other=1; portcullis_clearance=${r.cookie}; x=y`;
    assert.equal(svc.verify(ctx('203.0.113.10', 'agent/1', cookie)), true);
    assert.equal(svc.verify(ctx('203.0.113.99', 'agent/1', cookie)), true, 'same /24');
    assert.equal(svc.verify(ctx('203.0.114.10', 'agent/1', cookie)), false, 'another network');
    assert.equal(svc.verify(ctx('203.0.113.10', 'agent/2', cookie)), false, 'another User-Agent');
    assert.equal(svc.verify(ctx('203.0.113.10', 'agent/1', `xportcullis_clearance=${r.cookie}`)), false, 'only a whole cookie name counts');
    assert.equal(svc.verify(ctx('203.0.113.10', 'agent/1')), false);
    // Tampered expiry or MAC.
    const [v, exp, mac] = r.cookie.split('.') as [string, string, string];
    assert.equal(svc.verify(ctx('203.0.113.10', 'agent/1', `portcullis_clearance=${v}.${Number(exp) + 1000}.${mac}`)), false);
    assert.equal(svc.verify(ctx('203.0.113.10', 'agent/1', `portcullis_clearance=${v}.${exp}.${mac.startsWith('A') ? 'B' : 'A'}${mac.slice(1)}`)), false);
    // The last character's two low bits are padding: another spelling of the same bytes is a
    // changed cookie and is refused too (every one of the three other spellings).
    const last = B64URL.indexOf(mac.slice(-1));
    for (let low = 0; low < 4; low++) {
      const alt = B64URL[(last & ~3) | low]!;
      if (alt === mac.slice(-1)) continue;
      assert.deepEqual(Buffer.from(mac.slice(0, -1) + alt, 'base64url'), Buffer.from(mac, 'base64url'), 'same bytes');
      assert.equal(svc.verify(ctx('203.0.113.10', 'agent/1', `portcullis_clearance=${v}.${exp}.${mac.slice(0, -1)}${alt}`)), false, `spelling ${alt}`);
    }
    // A second, bogus cookie of the same name first does not hide the valid one.
    assert.equal(svc.verify(ctx('203.0.113.10', 'agent/1', `portcullis_clearance=junk; portcullis_clearance=${r.cookie}`)), true);
    // Expired.
    assert.equal(svc.verify(ctx('203.0.113.10', 'agent/1', cookie), Date.now() + 601_000), false);
    // Another key does not accept it.
    const other = new ChallengeService(SETTINGS, Buffer.alloc(32, 8), false);
    assert.equal(other.verify(ctx('203.0.113.10', 'agent/1', cookie)), false);
  });

  it('refuses wrong solutions, other clients, expired, forged and reused tokens, saying why', () => {
    const c = ctx('2001:db8::1', 'agent/1');
    const p = svc.issue(c);
    const good = solveChallenge(p.token, p.difficulty);
    let bad = 0;
    while (leadingZeroBits(createHash('sha256').update(`${p.token}:${bad}`).digest()) >= 8) bad++;
    const reason = (r: ReturnType<ChallengeService['redeem']>) => (r.ok ? 'ok' : r.reason);
    assert.match(reason(svc.redeem(c, p.token, String(bad))), /fewer than 8 leading zero bits/);
    assert.match(reason(svc.redeem(ctx('2001:db8:0:1::1', 'agent/1'), p.token, good)), /not issued to this client/, 'another /64');
    assert.match(reason(svc.redeem(ctx('2001:db8::1', 'curl/8'), p.token, good)), /not issued to this client/);
    assert.match(reason(svc.redeem(c, p.token, good, Date.now() + 61_000)), /expired/);
    const [exp, diff, nonce, mac] = p.token.split('.');
    assert.match(reason(svc.redeem(c, `${exp}.4.${nonce}.${mac}`, good)), /not issued to this client .* or forged/, 'lowering the difficulty breaks the MAC');
    const lastAt = B64URL.indexOf(mac!.slice(-1));
    const respelled = `${mac!.slice(0, -1)}${B64URL[lastAt ^ 1]}`;
    assert.match(reason(svc.redeem(c, `${exp}.${diff}.${nonce}.${respelled}`, good)), /or forged/, 'another spelling of the same MAC bytes');
    assert.match(reason(svc.redeem(c, `${exp}.${diff}.${nonce}`, good)), /malformed token/);
    assert.match(reason(svc.redeem(c, p.token, 'a b')), /solution is not/);
    assert.match(reason(svc.redeem(c, 'x'.repeat(300), good)), /too long/);
    assert.equal(reason(svc.redeem(c, p.token, good)), 'ok');
    assert.match(reason(svc.redeem(c, p.token, good)), /already used/, 'one solution, one clearance');
  });

  it('the replay guard is bounded: expired entries make room, live ones make it refuse (fail closed)', () => {
    const small = new ChallengeService({ ...SETTINGS, difficulty: 1, replayGuardEntries: 100 }, Buffer.alloc(32, 1), false);
    const c = ctx('192.0.2.1', 'a');
    const now = Date.now();
    for (let i = 0; i < 100; i++) {
      const p = small.issue(c, now);
      assert.ok(small.redeem(c, p.token, solveChallenge(p.token, 1), now).ok);
    }
    const p = small.issue(c, now);
    const full = small.redeem(c, p.token, solveChallenge(p.token, 1), now);
    assert.deepEqual(full, { ok: false, reason: 'replay guard full', full: true });
    // Once the first tokens expired, there is room again.
    const later = now + 61_000;
    const q = small.issue(c, later);
    assert.ok(small.redeem(c, q.token, solveChallenge(q.token, 1), later).ok);
  });

  it('the clearance cookie is HttpOnly, SameSite=Lax, Path=/, and Secure over TLS', () => {
    assert.equal(svc.setCookie('v1.1.x', false), 'portcullis_clearance=v1.1.x; Path=/; Max-Age=600; HttpOnly; SameSite=Lax');
    assert.ok(svc.setCookie('v1.1.x', true).endsWith('; Secure'));
  });

  it("the page's plain-JavaScript SHA-256 (for non-secure contexts) agrees with node:crypto", () => {
    const sha256 = new Function(`${JS_SHA256}; return sha256;`)() as (b: Uint8Array) => Uint8Array;
    for (const len of [0, 1, 3, 55, 56, 63, 64, 65, 119, 120, 200, 1000]) {
      const input = Buffer.alloc(len, 0).map((_, i) => (i * 31 + len) & 255);
      assert.equal(Buffer.from(sha256(input)).toString('hex'), createHash('sha256').update(input).digest('hex'), `length ${len}`);
    }
  });

  it('the page carries the parameters in attributes only, and its CSP allows exactly its script by hash', () => {
    const p = svc.issue(ctx('192.0.2.1', 'a'));
    const html = challengePage({ ...p, token: p.token + '"><script>alert(1)</script>' }, 'GET');
    assert.ok(html.includes(`data-token="${p.token}scriptalert1/script"`), 'only safe characters survive');
    const script = html.slice(html.indexOf('<script>') + 8, html.lastIndexOf('</script>'));
    const digest = createHash('sha256').update(script, 'utf8').digest('base64');
    assert.ok(CHALLENGE_PAGE_CSP.includes(`script-src 'sha256-${digest}'`));
    assert.ok(!CHALLENGE_PAGE_CSP.includes('unsafe-inline'));
    assert.ok(challengePage(p, 'WEIRD').includes('data-method="OTHER"'));
  });
});

describe('challenge on a running gateway (any stage may challenge)', () => {
  let up: Upstream;
  let gw: TestGateway;
  let route: CompiledRoute;
  let verdict: Decision = { action: 'challenge', kind: 'pow', reason: 'test says so' };
  const UA = 'scripted-client/1.0';

  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(
      passthroughConfig(
        up.url,
        `bots:
  challenge: { difficulty: 10, secret: "\${SECRET}" }`,
      ),
      {},
      { SECRET: 'x'.repeat(40) },
    );
    const found = gw.handle.gateway.runtime.table.lookup('GET', '/x', undefined);
    assert.equal(found.kind, 'found');
    route = (found as { value: CompiledRoute }).value;
    const entry: ChainEntry = { stage: { name: 'authn', onRequest: () => verdict }, mode: 'enforce', onError: 'fail-closed' };
    (route.headChain as ChainEntry[]).unshift(entry);
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  async function challenged(headers: Record<string, string> = {}) {
    const res = await request(`${gw.url}/x`, { headers: { 'user-agent': UA, ...headers } });
    const body = (await res.body.json()) as { code: string; challenge: { token: string; difficulty: number; verify: string; algorithm: string; expiresAt: number } };
    return { res, body };
  }

  async function pay(token: string, difficulty: number, headers: Record<string, string> = {}) {
    const solution = solveChallenge(token, difficulty);
    return request(`${gw.url}/.well-known/portcullis/challenge`, {
      method: 'POST',
      headers: { 'user-agent': UA, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ token, solution }),
    });
  }

  it('an API client gets 403 challenge_required with the parameters in the body and a header; nothing is forwarded', async () => {
    const seen = up.seen.length;
    const { res, body } = await challenged();
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    assert.equal(body.code, 'challenge_required');
    assert.equal(body.challenge.difficulty, 10);
    assert.equal(body.challenge.verify, '/.well-known/portcullis/challenge');
    assert.equal(body.challenge.algorithm, 'sha256-leading-zero-bits');
    const header = String(res.headers['portcullis-challenge']);
    assert.ok(header.includes(`token="${body.challenge.token}"`) && header.includes('difficulty=10'), header);
    assert.equal(up.seen.length, seen);
    const events = await gw.waitEvents(1);
    const e = events.at(-1)!;
    assert.equal(e.code, 'challenge_required');
    assert.equal(e.reason, 'authn: test says so');
  });

  it('a script that pays gets a clearance cookie and then passes; the audit event marks the challenge as cleared', async () => {
    const { body } = await challenged();
    const paid = await pay(body.challenge.token, body.challenge.difficulty);
    assert.equal(paid.statusCode, 204);
    await paid.body.dump();
    const setCookie = String(paid.headers['set-cookie']);
    assert.match(setCookie, /^portcullis_clearance=v1\.\d+\.[A-Za-z0-9_-]{43}; Path=\/; Max-Age=1800; HttpOnly; SameSite=Lax$/);
    const cookie = setCookie.split(';', 1)[0]!;
    const seen = up.seen.length;
    const ok = await request(`${gw.url}/x`, { headers: { 'user-agent': UA, cookie } });
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();
    assert.equal(up.seen.length, seen + 1, 'forwarded');
    const events = await gw.waitEvents(1);
    const e = events.at(-1)!;
    assert.equal(e.outcome, 'allowed');
    assert.deepEqual(e.findings, [{ stage: 'authn', code: 'challenge_required', reason: 'test says so', monitored: false, cleared: true }]);
    // The same cookie from another User-Agent is worth nothing.
    const { res } = await challenged({ cookie, 'user-agent': 'other/1' });
    assert.equal(res.statusCode, 403);
  });

  it('a script that does not pay is refused every time and never reaches the upstream', async () => {
    const seen = up.seen.length;
    for (let i = 0; i < 5; i++) {
      const { res, body } = await challenged({ cookie: 'portcullis_clearance=v1.9999999999.' + 'A'.repeat(43) });
      assert.equal(res.statusCode, 403);
      assert.equal(body.code, 'challenge_required');
    }
    assert.equal(up.seen.length, seen);
  });

  it('wrong, replayed and malformed solutions get 403 challenge_failed; the endpoint takes POST only', async () => {
    const { body } = await challenged();
    const wrong = await request(`${gw.url}/.well-known/portcullis/challenge`, {
      method: 'POST',
      headers: { 'user-agent': UA, 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${encodeURIComponent(body.challenge.token)}&solution=${firstBad(body.challenge.token, 10)}`,
    });
    assert.equal(wrong.statusCode, 403);
    assert.equal(((await wrong.body.json()) as { code: string }).code, 'challenge_failed');
    const first = await pay(body.challenge.token, body.challenge.difficulty);
    assert.equal(first.statusCode, 204);
    await first.body.dump();
    const replay = await pay(body.challenge.token, body.challenge.difficulty);
    assert.equal(replay.statusCode, 403);
    assert.equal(((await replay.body.json()) as { code: string }).code, 'challenge_failed');
    const junk = await request(`${gw.url}/.well-known/portcullis/challenge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[1,2' });
    assert.equal(junk.statusCode, 403);
    await junk.body.dump();
    const get = await request(`${gw.url}/.well-known/portcullis/challenge`);
    assert.equal(get.statusCode, 405);
    assert.equal(get.headers.allow, 'POST');
    await get.body.dump();
    const events = await gw.waitEvents(1);
    const reasons = events.filter((e) => e.code === 'challenge_failed').map((e) => e.reason);
    assert.ok(reasons.some((r) => String(r).includes('leading zero bits')));
    assert.ok(reasons.includes('token already used'));
  });

  it('a browser (Accept: text/html) gets the solving page with a strict CSP; HEAD gets the head only', async () => {
    const res = await request(`${gw.url}/x`, { headers: { 'user-agent': UA, accept: 'text/html,application/xhtml+xml' } });
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(res.headers['content-security-policy'], CHALLENGE_PAGE_CSP);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['x-frame-options'], 'DENY');
    const html = await res.body.text();
    assert.match(html, /data-token="\d+\.10\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}" data-difficulty="10"/);
    const head = await request(`${gw.url}/x`, { method: 'HEAD', headers: { accept: 'text/html' } });
    assert.equal(head.statusCode, 403);
    assert.equal(await head.body.text(), '');
  });

  it('in monitor mode a challenge is only recorded', async () => {
    const entry = route.headChain[0] as { mode: string };
    entry.mode = 'monitor';
    try {
      const res = await request(`${gw.url}/x`, { headers: { 'user-agent': UA } });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
      const e = (await gw.waitEvents(1)).at(-1)!;
      assert.deepEqual(e.findings, [{ stage: 'authn', code: 'challenge_required', reason: 'test says so', monitored: true }]);
    } finally {
      entry.mode = 'enforce';
    }
  });

  it('a clearance survives a config reload (same secret, replay guard kept)', async () => {
    const { body } = await challenged();
    const paid = await pay(body.challenge.token, body.challenge.difficulty);
    const cookie = String(paid.headers['set-cookie']).split(';', 1)[0]!;
    await paid.body.dump();
    const r = await gw.handle.reload();
    assert.ok(r.ok, JSON.stringify(r));
    // The reload compiled fresh chains: put the challenging stage back.
    const found = gw.handle.gateway.runtime.table.lookup('GET', '/x', undefined) as { value: CompiledRoute };
    (found.value.headChain as ChainEntry[]).unshift({ stage: { name: 'authn', onRequest: () => verdict }, mode: 'enforce', onError: 'fail-closed' });
    const ok = await request(`${gw.url}/x`, { headers: { 'user-agent': UA, cookie } });
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();
    const replay = await pay(body.challenge.token, body.challenge.difficulty);
    assert.equal(replay.statusCode, 403, 'a reload does not make a used solution usable again');
    await replay.body.dump();
    verdict = { action: 'continue' };
  });
});

function firstBad(token: string, difficulty: number): string {
  let i = 0;
  while (leadingZeroBits(createHash('sha256').update(`${token}:${i}`).digest()) >= difficulty) i++;
  return String(i);
}

describe('challenge over TLS', () => {
  /** One HTTP/2 exchange (browsers speak h2 to TLS listeners). */
  function h2(port: number, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: Record<string, unknown>; body: string; alpn: string | undefined }> {
    return new Promise((resolve, reject) => {
      const session = h2connect(`https://localhost:${port}`, { ca: readFileSync(join(FIXTURES, 'tls', 'ca.crt')) });
      session.on('error', reject);
      const req = session.request(headers, { endStream: body === undefined });
      let out = '';
      let head: Record<string, unknown> = {};
      req.on('response', (h) => (head = h));
      req.setEncoding('utf8');
      req.on('data', (c: string) => (out += c));
      req.on('end', () => {
        const alpn = session.alpnProtocol;
        session.close();
        resolve({ status: Number(head[':status']), headers: head, body: out, alpn });
      });
      req.on('error', reject);
      if (body !== undefined) req.end(body);
    });
  }

  it('the challenge and its verification work over HTTP/2 (the page, then the POST, then the clearance)', async () => {
    const tls = join(FIXTURES, 'tls');
    const up = await startUpstream();
    const gw = await startTestGateway(`version: 1
listeners:
  - host: 127.0.0.1
    port: 0
    tls: { certFile: ${join(tls, 'server.crt')}, keyFile: ${join(tls, 'server.key')} }
admin: { enabled: false }
bots: { enabled: true, challenge: { difficulty: 8 } }
routes: [{ name: all, methods: [GET], path: /*, upstream: ${up.url}, public: true }]
`);
    try {
      const ua = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36';
      const page = await h2(gw.port, { ':path': '/x', ':method': 'GET', 'user-agent': ua, accept: 'text/html' });
      assert.equal(page.alpn, 'h2');
      assert.equal(page.status, 403);
      assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
      const token = /data-token="([^"]+)"/.exec(page.body)![1]!;
      const paid = await h2(gw.port, { ':path': '/.well-known/portcullis/challenge', ':method': 'POST', 'user-agent': ua, 'content-type': 'application/json' }, JSON.stringify({ token, solution: solveChallenge(token, 8) }));
      assert.equal(paid.status, 204);
      const cookie = String(paid.headers['set-cookie']).split(';', 1)[0]!;
      const ok = await h2(gw.port, { ':path': '/x', ':method': 'GET', 'user-agent': ua, accept: 'text/html', cookie });
      assert.equal(ok.status, 200);
    } finally {
      await gw.close();
      await up.close();
    }
  });

  it('the clearance cookie is Secure over HTTPS, and the round trip works there', async () => {
    const tls = join(FIXTURES, 'tls');
    const up = await startUpstream();
    const gw = await startTestGateway(`version: 1
listeners:
  - host: 127.0.0.1
    port: 0
    tls: { certFile: ${join(tls, 'server.crt')}, keyFile: ${join(tls, 'server.key')} }
admin: { enabled: false }
bots: { enabled: true, challenge: { difficulty: 8 } }
routes: [{ name: all, methods: [GET], path: /*, upstream: ${up.url}, public: true }]
`);
    const dispatcher = new Agent({ connect: { ca: readFileSync(join(tls, 'ca.crt')), servername: 'localhost' } });
    const base = `https://localhost:${gw.port}`;
    const ua = { 'user-agent': 'curl/8.5.0' };
    try {
      const first = await request(`${base}/x`, { dispatcher, headers: ua });
      assert.equal(first.statusCode, 403);
      const { token, difficulty } = ((await first.body.json()) as { challenge: { token: string; difficulty: number } }).challenge;
      const paid = await request(`${base}/.well-known/portcullis/challenge`, {
        dispatcher,
        method: 'POST',
        headers: { ...ua, 'content-type': 'application/json' },
        body: JSON.stringify({ token, solution: solveChallenge(token, difficulty) }),
      });
      assert.equal(paid.statusCode, 204);
      await paid.body.dump();
      const setCookie = String(paid.headers['set-cookie']);
      assert.ok(setCookie.endsWith('; HttpOnly; SameSite=Lax; Secure'), setCookie);
      const ok = await request(`${base}/x`, { dispatcher, headers: { ...ua, cookie: setCookie.split(';', 1)[0]! } });
      assert.equal(ok.statusCode, 200);
      await ok.body.dump();
    } finally {
      await dispatcher.close();
      await gw.close();
      await up.close();
    }
  });
});
