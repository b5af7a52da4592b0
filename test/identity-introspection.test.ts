/**
 * OAuth2 token introspection (RFC 7662) against a real introspection server on a loopback
 * port: client authentication (both methods), active/inactive answers, caching by token
 * expiry and negative caching, sharing of concurrent calls, an unreachable or slow endpoint,
 * bad responses, token size, audience and issuer checks.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { INTROSPECTION_DEFAULTS, Introspector, type IntrospectionOptions } from '../src/identity/introspection.js';
import type { AuthResult } from '../src/identity/types.js';

const CLIENT_ID = 'portcullis gw';
/** Contains characters that form-encoding must escape (RFC 6749 §2.3.1). */
const CLIENT_SECRET = 'S3cr3t:with&odd=chars+ü';
const T0 = 1_700_000_000_000;
const sec = (ms: number): number => Math.floor(ms / 1000);

type Answer = Record<string, unknown> | { readonly raw: string; readonly status?: number } | 'hang';

interface Idp {
  readonly url: string;
  readonly server: Server;
  /** token → answer; a missing token answers `{ active: false }`. */
  readonly answers: Map<string, Answer>;
  /** Calls per token, and how the client authenticated on each call. */
  readonly calls: { token: string; auth: 'basic' | 'post' | 'bad' }[];
  delayMs: number;
  stop(): Promise<void>;
}

function formDecode(s: string): string | null {
  return new URLSearchParams(`v=${s}`).get('v');
}

/** Which client authentication the request used, if it is valid. */
function clientAuth(req: IncomingMessage, form: URLSearchParams): 'basic' | 'post' | 'bad' {
  const h = req.headers.authorization;
  if (h !== undefined) {
    if (form.has('client_secret')) return 'bad'; // RFC 6749: one method only
    if (!h.startsWith('Basic ')) return 'bad';
    const pair = Buffer.from(h.slice(6), 'base64').toString('utf8');
    const colon = pair.indexOf(':');
    if (colon < 0) return 'bad';
    return formDecode(pair.slice(0, colon)) === CLIENT_ID && formDecode(pair.slice(colon + 1)) === CLIENT_SECRET ? 'basic' : 'bad';
  }
  return form.get('client_id') === CLIENT_ID && form.get('client_secret') === CLIENT_SECRET ? 'post' : 'bad';
}

async function startIdp(): Promise<Idp> {
  const answers = new Map<string, Answer>();
  const calls: Idp['calls'] = [];
  const idp = { answers, calls, delayMs: 0 } as { -readonly [K in keyof Idp]: Idp[K] };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const token = form.get('token') ?? '';
      const auth = clientAuth(req, form);
      calls.push({ token, auth });
      const send = (status: number, body: string): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(body);
      };
      if (
        req.method !== 'POST' ||
        req.headers['content-type'] !== 'application/x-www-form-urlencoded' ||
        form.get('token_type_hint') !== 'access_token'
      ) {
        return send(400, '{"error":"invalid_request"}');
      }
      if (auth === 'bad') return send(401, '{"error":"invalid_client"}');
      const answer = answers.get(token) ?? { active: false };
      if (answer === 'hang') return; // never answers
      setTimeout(() => {
        if ('raw' in answer && typeof answer.raw === 'string') send(typeof answer.status === 'number' ? answer.status : 200, answer.raw);
        else send(200, JSON.stringify(answer));
      }, idp.delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  idp.server = server;
  idp.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/introspect`;
  idp.stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return idp as Idp;
}

function options(endpoint: string, extra: Partial<IntrospectionOptions> = {}): IntrospectionOptions {
  return {
    ...INTROSPECTION_DEFAULTS,
    name: 'idp',
    endpoint,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    clientAuth: 'client_secret_basic',
    rolesClaim: 'realm_access.roles',
    ...extra,
  };
}

function callsFor(idp: Idp, token: string): number {
  return idp.calls.filter((c) => c.token === token).length;
}

function assertFail(r: AuthResult, code: string): string {
  assert.equal(r.ok, false, `expected ${code}, got a principal`);
  if (r.ok) throw new Error('unreachable');
  assert.equal(r.code, code, r.reason);
  return r.reason;
}

describe('introspection: construction', () => {
  it('refuses plain http to a non-loopback host and credentials in the URL; accepts https and loopback http', () => {
    assert.throws(() => new Introspector(options('http://idp.example.com/introspect')), /must use https/);
    assert.throws(() => new Introspector(options('https://u:p@idp.example.com/introspect')), /must not carry credentials/);
    assert.throws(() => new Introspector(options('ftp://idp.example.com/x')), /must use https/);
    for (const ok of ['https://idp.example.com/introspect', 'http://127.0.0.1:9/i', 'http://[::1]:9/i', 'http://localhost:9/i']) {
      new Introspector(options(ok)).close();
    }
  });
});

describe('introspection against a real endpoint', () => {
  let idp: Idp;
  let clock = T0;
  const now = (): number => clock;

  before(async () => {
    idp = await startIdp();
  });
  after(async () => {
    await idp.stop();
  });

  it('an active token becomes a Principal with subject, scopes, roles and frozen claims (client_secret_basic)', async () => {
    idp.answers.set('tok-alice', {
      active: true,
      sub: 'alice',
      scope: 'orders:read  orders:write',
      realm_access: { roles: ['admin', 'auditor'] },
      jti: 'jti-123',
      exp: sec(T0) + 300,
      client_id: 'web',
    });
    const intro = new Introspector(options(idp.url), { now });
    const r = await intro.verify('tok-alice');
    intro.close();
    assert.equal(r.ok, true);
    if (!r.ok) return;
    const p = r.principal;
    assert.equal(p.type, 'introspection');
    assert.equal(p.id, 'alice');
    assert.deepEqual(p.scopes, ['orders:read', 'orders:write']);
    assert.deepEqual(p.roles, ['admin', 'auditor']);
    assert.equal(p.credentialId, 'jti-123');
    assert.equal(p.claims['client_id'], 'web');
    assert.ok(Object.isFrozen(p.claims) && Object.isFrozen(p.claims['realm_access']), 'claims are frozen, deeply');
    // Reusable until the cache horizon (cacheMaxSeconds, 60 s), which comes before exp here.
    assert.equal(r.expiresAt, T0 + 60_000);
    assert.equal(idp.calls.at(-1)?.auth, 'basic');
  });

  it('client_secret_post sends the credentials in the body; subject falls back to username; credentialId is a token hash', async () => {
    idp.answers.set('tok-post', { active: true, username: 'bob', scope: 'a' });
    const intro = new Introspector(options(idp.url, { clientAuth: 'client_secret_post' }), { now });
    const r = await intro.verify('tok-post');
    intro.close();
    assert.equal(r.ok, true);
    if (!r.ok) return;
    assert.equal(idp.calls.at(-1)?.auth, 'post');
    assert.equal(r.principal.id, 'bob');
    const hash = createHash('sha256').update('tok-post').digest('hex');
    assert.equal(r.principal.credentialId, `sha256:${hash.slice(0, 16)}`);
  });

  it('a wrong client secret (401 from the endpoint) is identity_provider_unavailable, never cached, secret not in the reason', async () => {
    idp.answers.set('tok-wrong', { active: true, sub: 'x' });
    for (const clientAuthMethod of ['client_secret_basic', 'client_secret_post'] as const) {
      const secret = 'not-the-secret-xyz';
      const intro = new Introspector(options(idp.url, { clientAuth: clientAuthMethod, clientSecret: secret }), { now });
      const before = callsFor(idp, 'tok-wrong');
      const r1 = await intro.verify('tok-wrong');
      const r2 = await intro.verify('tok-wrong');
      intro.close();
      for (const r of [r1, r2]) {
        const reason = assertFail(r, 'identity_provider_unavailable');
        assert.match(reason, /401/);
        assert.ok(!reason.includes(secret) && !reason.includes('tok-wrong'), `reason leaks a secret: ${reason}`);
      }
      assert.equal(callsFor(idp, 'tok-wrong') - before, 2, 'a failure is not cached');
      assert.equal(idp.calls.at(-1)?.auth, 'bad');
    }
  });

  it('an inactive token is token_inactive and is negatively cached for negativeCacheSeconds', async () => {
    clock = T0;
    const intro = new Introspector(options(idp.url, { negativeCacheSeconds: 5 }), { now });
    assertFail(await intro.verify('tok-revoked'), 'token_inactive');
    clock = T0 + 4000;
    assertFail(await intro.verify('tok-revoked'), 'token_inactive');
    assert.equal(callsFor(idp, 'tok-revoked'), 1, 'answered from the negative cache');
    clock = T0 + 5001;
    assertFail(await intro.verify('tok-revoked'), 'token_inactive');
    assert.equal(callsFor(idp, 'tok-revoked'), 2, 'asked again after the negative cache expired');
    assert.equal(intro.stats.cacheHits, 1);
    intro.close();
  });

  it("the cache honours the token's exp: after exp the endpoint is asked again", async () => {
    clock = T0;
    idp.answers.set('tok-exp', { active: true, sub: 'carol', exp: sec(T0) + 30 });
    const intro = new Introspector(options(idp.url, { cacheMaxSeconds: 60 }), { now });
    assert.equal((await intro.verify('tok-exp')).ok, true);
    clock = T0 + 20_000;
    assert.equal((await intro.verify('tok-exp')).ok, true);
    assert.equal(callsFor(idp, 'tok-exp'), 1, 'cached before exp');
    idp.answers.set('tok-exp', { active: false });
    clock = T0 + 30_000;
    assertFail(await intro.verify('tok-exp'), 'token_inactive');
    assert.equal(callsFor(idp, 'tok-exp'), 2, 'asked again at exp');
    assert.deepEqual(intro.stats, { calls: 2, cacheHits: 1 });
    intro.close();
  });

  it('the cache is bounded by cacheMaxSeconds even when exp is far away (revocation is seen)', async () => {
    clock = T0;
    idp.answers.set('tok-long', { active: true, sub: 'dave', exp: sec(T0) + 86_400 });
    const intro = new Introspector(options(idp.url, { cacheMaxSeconds: 60 }), { now });
    assert.equal((await intro.verify('tok-long')).ok, true);
    idp.answers.set('tok-long', { active: false });
    clock = T0 + 59_000;
    assert.equal((await intro.verify('tok-long')).ok, true);
    clock = T0 + 60_000;
    assertFail(await intro.verify('tok-long'), 'token_inactive');
    assert.equal(callsFor(idp, 'tok-long'), 2);
    intro.close();
  });

  it('cacheMaxEntries: 0 disables caching', async () => {
    idp.answers.set('tok-nocache', { active: true, sub: 'e' });
    const intro = new Introspector(options(idp.url, { cacheMaxEntries: 0 }), { now });
    await intro.verify('tok-nocache');
    await intro.verify('tok-nocache');
    await intro.verify('tok-missing-nocache');
    await intro.verify('tok-missing-nocache');
    intro.close();
    assert.equal(callsFor(idp, 'tok-nocache'), 2);
    assert.equal(callsFor(idp, 'tok-missing-nocache'), 2);
  });

  it('an exp in the past in an active answer is token_inactive', async () => {
    clock = T0;
    idp.answers.set('tok-stale', { active: true, sub: 'f', exp: sec(T0) - 1 });
    const intro = new Introspector(options(idp.url), { now });
    assert.match(assertFail(await intro.verify('tok-stale'), 'token_inactive'), /exp/);
    intro.close();
  });

  it('20 concurrent verifications of one token make one call', async () => {
    clock = T0;
    idp.answers.set('tok-burst', { active: true, sub: 'g' });
    idp.delayMs = 100;
    const intro = new Introspector(options(idp.url), { now });
    try {
      const results = await Promise.all(Array.from({ length: 20 }, () => intro.verify('tok-burst')));
      assert.ok(results.every((r) => r.ok && r.principal.id === 'g'));
      assert.equal(callsFor(idp, 'tok-burst'), 1);
      assert.equal(intro.stats.calls, 1);
    } finally {
      idp.delayMs = 0;
      intro.close();
    }
  });

  it('a token over maxTokenBytes is token_too_large without any call', async () => {
    const intro = new Introspector(options(idp.url, { maxTokenBytes: 64 }), { now });
    const before = idp.calls.length;
    assertFail(await intro.verify('x'.repeat(65)), 'token_too_large');
    assertFail(await intro.verify('é'.repeat(33)), 'token_too_large'); // 66 bytes in UTF-8
    assertFail(await intro.verify(''), 'token_missing');
    assert.equal(idp.calls.length, before);
    assert.equal(intro.stats.calls, 0);
    intro.close();
  });

  it('audience and issuer are enforced with distinct reasons', async () => {
    clock = T0;
    idp.answers.set('tok-aud', { active: true, sub: 'h', aud: ['other-api', 'orders-api'], iss: 'https://idp.example' });
    idp.answers.set('tok-wrong-aud', { active: true, sub: 'h', aud: 'billing-api', iss: 'https://idp.example' });
    idp.answers.set('tok-no-aud', { active: true, sub: 'h', iss: 'https://idp.example' });
    idp.answers.set('tok-wrong-iss', { active: true, sub: 'h', aud: 'orders-api', iss: 'https://evil.example' });
    const intro = new Introspector(options(idp.url, { audiences: ['orders-api'], issuer: 'https://idp.example' }), { now });
    assert.equal((await intro.verify('tok-aud')).ok, true);
    assert.match(assertFail(await intro.verify('tok-wrong-aud'), 'token_inactive'), /audience/);
    assert.match(assertFail(await intro.verify('tok-no-aud'), 'token_inactive'), /audience/);
    assert.match(assertFail(await intro.verify('tok-wrong-iss'), 'token_inactive'), /issuer/);
    intro.close();
  });

  it('500, non-JSON, no boolean active and an oversized answer are identity_provider_unavailable', async () => {
    idp.answers.set('tok-500', { raw: '{"active":true,"sub":"x"}', status: 500 });
    idp.answers.set('tok-html', { raw: '<html>hello</html>' });
    idp.answers.set('tok-noactive', { raw: '{"sub":"x","active":"true"}' });
    idp.answers.set('tok-array', { raw: '[true]' });
    idp.answers.set('tok-huge', { raw: JSON.stringify({ active: true, sub: 'x', pad: 'a'.repeat(70 * 1024) }) });
    const intro = new Introspector(options(idp.url), { now });
    for (const t of ['tok-500', 'tok-html', 'tok-noactive', 'tok-array', 'tok-huge']) {
      assertFail(await intro.verify(t), 'identity_provider_unavailable');
      assertFail(await intro.verify(t), 'identity_provider_unavailable');
      assert.equal(callsFor(idp, t), 2, `${t}: a failure is not cached`);
    }
    intro.close();
  });

  it('a slow endpoint is identity_provider_unavailable after about timeoutMs', async () => {
    idp.answers.set('tok-slow', 'hang');
    const intro = new Introspector(options(idp.url, { timeoutMs: 300 }), { now });
    const t = performance.now();
    const reason = assertFail(await intro.verify('tok-slow'), 'identity_provider_unavailable');
    const elapsed = performance.now() - t;
    intro.close();
    assert.ok(elapsed >= 250 && elapsed < 1500, `took ${elapsed} ms`);
    assert.match(reason, /300 ms/);
  });

  it('verify after close() is identity_provider_unavailable', async () => {
    const intro = new Introspector(options(idp.url), { now });
    intro.close();
    assertFail(await intro.verify('tok-alice'), 'identity_provider_unavailable');
  });
});

describe('introspection: endpoint down', () => {
  it('a closed endpoint is identity_provider_unavailable, not cached', async () => {
    const idp = await startIdp();
    const url = idp.url;
    await idp.stop();
    const intro = new Introspector(options(url, { timeoutMs: 2000 }));
    const r1 = await intro.verify('tok-down');
    const r2 = await intro.verify('tok-down');
    intro.close();
    assert.match(assertFail(r1, 'identity_provider_unavailable'), /ECONNREFUSED/);
    assertFail(r2, 'identity_provider_unavailable');
    assert.deepEqual(intro.stats, { calls: 2, cacheHits: 0 });
  });
});
