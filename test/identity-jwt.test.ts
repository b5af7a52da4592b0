/**
 * JWT verification against a real JWKS server on 127.0.0.1 port 0, with keys made by jose.
 * Every refusal code is produced by a real (often forged) token; the verified-token cache is
 * driven with an injected clock.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac, KeyObject, sign as cryptoSign } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { JwtVerifier, type JwtSchemeOptions } from '../src/identity/jwt.js';
import { TokenCache } from '../src/identity/token-cache.js';
import type { AuthResult } from '../src/identity/types.js';

const ISSUER = 'https://idp.example.test/realms/main';

interface KeyPair {
  readonly publicKey: CryptoKey;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

async function makeKey(alg: 'RS256' | 'ES256', kid: string): Promise<KeyPair> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { publicKey, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

interface JwksServer {
  readonly uri: string;
  keys: JWK[];
  hits: number;
  close(): Promise<void>;
}

async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  const state = { keys, hits: 0 };
  const server: Server = createServer((req, res) => {
    state.hits++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: state.keys }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    uri: `http://127.0.0.1:${port}/jwks`,
    get keys() {
      return state.keys;
    },
    set keys(k: JWK[]) {
      state.keys = k;
    },
    get hits() {
      return state.hits;
    },
    set hits(n: number) {
      state.hits = n;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

function b64(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
}

/** Signs any header, however hostile, with node:crypto (jose refuses to produce some of these). */
function forge(header: Record<string, unknown>, payload: JWTPayload, key: CryptoKey): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const alg = String(header.alg);
  const keyObject = KeyObject.from(key);
  const signature = alg.startsWith('ES') ? cryptoSign('sha256', Buffer.from(input), { key: keyObject, dsaEncoding: 'ieee-p1363' }) : cryptoSign('sha256', Buffer.from(input), keyObject);
  return `${input}.${signature.toString('base64url')}`;
}

function expectRefusal(result: AuthResult, code: string): void {
  assert.equal(result.ok, false, `expected ${code}, got success`);
  if (!result.ok) assert.equal(result.code, code, `expected ${code}, got ${result.code} (${result.reason})`);
}

function expectOk(result: AuthResult): asserts result is Extract<AuthResult, { ok: true }> {
  assert.equal(result.ok, true, result.ok ? '' : `expected success, got ${result.code} (${result.reason})`);
}

describe('JwtVerifier with a real JWKS server', () => {
  let rsa: KeyPair;
  let ec: KeyPair;
  let attacker: KeyPair;
  let jwks: JwksServer;
  let t: number;
  const now = () => t;
  const verifiers: JwtVerifier[] = [];

  function options(over: Partial<JwtSchemeOptions> = {}): JwtSchemeOptions {
    return {
      name: 'main',
      issuer: ISSUER,
      audiences: ['orders-api', 'billing-api'],
      algorithms: ['RS256', 'ES256'],
      keys: { kind: 'jwks', uri: jwks.uri },
      clockSkewSeconds: 30,
      requiredClaims: ['sub'],
      requireExp: true,
      maxTokenBytes: 8192,
      subjectClaim: 'sub',
      scopeClaim: 'scope',
      rolesClaim: 'realm_access.roles',
      jwksCacheSeconds: 600,
      jwksRefreshCooldownSeconds: 30,
      fetchTimeoutMs: 2000,
      cacheMaxEntries: 0,
      ...over,
    };
  }

  function verifier(over: Partial<JwtSchemeOptions> = {}): JwtVerifier {
    const v = new JwtVerifier(options(over), { now });
    verifiers.push(v);
    return v;
  }

  function claims(over: JWTPayload = {}): JWTPayload {
    const s = Math.floor(t / 1000);
    return { iss: ISSUER, aud: 'orders-api', sub: 'user-42', iat: s, exp: s + 300, ...over };
  }

  function token(key: KeyPair, payload: JWTPayload = claims(), header: Record<string, unknown> = {}): Promise<string> {
    return new SignJWT(payload).setProtectedHeader({ alg: String(key.jwk.alg), kid: key.jwk.kid, typ: 'JWT', ...header }).sign(key.privateKey);
  }

  before(async () => {
    t = Date.now();
    rsa = await makeKey('RS256', 'rsa-1');
    ec = await makeKey('ES256', 'ec-1');
    attacker = await makeKey('RS256', 'rsa-1');
    jwks = await startJwksServer([rsa.jwk, ec.jwk]);
  });

  after(async () => {
    for (const v of verifiers) v.close();
    await jwks.close();
  });

  describe('valid tokens give the right Principal', () => {
    it('RS256: subject, scopes from a space-separated scope, roles from a nested claim, jti as credential id', async () => {
      const v = verifier();
      const payload = claims({ scope: 'orders:read  orders:write', realm_access: { roles: ['admin', 'auditor', 7] }, jti: 'tok-123' });
      const result = await v.verify(await token(rsa, payload));
      expectOk(result);
      const p = result.principal;
      assert.equal(p.id, 'user-42');
      assert.equal(p.type, 'jwt');
      assert.deepEqual(p.scopes, ['orders:read', 'orders:write']);
      assert.deepEqual(p.roles, ['admin', 'auditor']);
      assert.equal(p.credentialId, 'tok-123');
      assert.equal(result.expiresAt, (payload.exp as number) * 1000);
      assert.equal(p.claims.sub, 'user-42');
      assert.ok(Object.isFrozen(p.claims), 'claims are frozen');
      assert.ok(Object.isFrozen(p.claims.realm_access), 'nested claims are frozen too');
      assert.throws(() => {
        (p.scopes as string[]).push('admin');
      });
    });

    it('ES256: scopes from an scp array, roles from a space-separated string, hashed credential id without jti', async () => {
      const v = verifier({ rolesClaim: 'groups' });
      const jwt = await token(ec, claims({ scp: ['billing:read', 'billing:pay'], groups: 'finance ops', aud: ['other', 'billing-api'] }));
      const result = await v.verify(jwt);
      expectOk(result);
      assert.deepEqual(result.principal.scopes, ['billing:read', 'billing:pay']);
      assert.deepEqual(result.principal.roles, ['finance', 'ops']);
      const expected = 'sha256:' + createHash('sha256').update(jwt).digest('hex').slice(0, 16);
      assert.equal(result.principal.credentialId, expected);
      assert.ok(!result.principal.credentialId.includes(jwt.slice(0, 20)));
    });

    it('accepts exp, nbf and iat within the clock skew', async () => {
      const v = verifier();
      const s = Math.floor(t / 1000);
      expectOk(await v.verify(await token(rsa, claims({ exp: s - 20, nbf: s + 20, iat: s + 20 }))));
    });

    it('a namespaced (dotted) claim name is read as a whole before being treated as a path', async () => {
      const v = verifier({ rolesClaim: 'https://example.test/roles' });
      const result = await v.verify(await token(rsa, claims({ 'https://example.test/roles': ['editor'] })));
      expectOk(result);
      assert.deepEqual(result.principal.roles, ['editor']);
    });
  });

  describe('every refusal has its own code', () => {
    it('token_missing for an empty token', async () => {
      expectRefusal(await verifier().verify(''), 'token_missing');
    });

    it('token_too_large before any parsing or key fetch', async () => {
      const v = verifier({ maxTokenBytes: 1024 });
      const big = await token(rsa, claims({ padding: 'x'.repeat(2000) }));
      const before = jwks.hits;
      const result = await v.verify(big);
      expectRefusal(result, 'token_too_large');
      assert.equal(jwks.hits, before, 'no JWKS fetch for an oversized token');
      // multi-byte characters count as bytes, not characters
      expectRefusal(await v.verify('é'.repeat(600)), 'token_too_large');
      expectOk(await v.verify(await token(rsa)));
    });

    it('token_malformed for garbage', async () => {
      const v = verifier();
      const good = await token(rsa);
      const [h, p, s] = good.split('.') as [string, string, string];
      const cases = [
        'garbage',
        'a.b',
        `${h}.${p}.${s}.${s}`,
        `${h}..${s}`,
        `${h}.${p}.${s}=`,
        `${h}.${p}+.${s}`,
        `${b64('not json')}.${p}.${s}`,
        `${b64([1, 2])}.${p}.${s}`,
        `${h}.${b64('null')}.${s}`,
        `${h}.${b64('"just a string"')}.${s}`,
        `${b64({ kid: 'rsa-1' })}.${p}.${s}`,
        `${b64({ alg: 'RS256', kid: 7 })}.${p}.${s}`,
        '...',
      ];
      for (const c of cases) expectRefusal(await v.verify(c), 'token_malformed');
    });

    it('token_alg_none for unsigned tokens in any letter case, with or without a signature', async () => {
      const v = verifier();
      for (const alg of ['none', 'NONE', 'nOnE']) {
        expectRefusal(await v.verify(`${b64({ alg, typ: 'JWT' })}.${b64(claims())}.`), 'token_alg_none');
        expectRefusal(await v.verify(`${b64({ alg, kid: 'rsa-1' })}.${b64(claims())}.c2ln`), 'token_alg_none');
      }
    });

    it('token_header_forbidden: keys named by the token (jku, x5u, jwk, x5c) are never fetched or used', async () => {
      const evil = await startJwksServer([attacker.jwk]);
      try {
        const v = verifier();
        const attackerPublic = await exportJWK(attacker.publicKey);
        const headers: Record<string, unknown>[] = [
          { alg: 'RS256', kid: 'rsa-1', jku: evil.uri },
          { alg: 'RS256', kid: 'rsa-1', x5u: evil.uri },
          { alg: 'RS256', jwk: attackerPublic },
          { alg: 'RS256', kid: 'rsa-1', x5c: ['MIIBfake'] },
        ];
        for (const header of headers) expectRefusal(await v.verify(forge(header, claims(), attacker.privateKey)), 'token_header_forbidden');
        assert.equal(evil.hits, 0, 'the attacker JWKS was never contacted');
      } finally {
        await evil.close();
      }
    });

    it('token_crit_unsupported for any crit header, even when the signature is genuine', async () => {
      const v = verifier();
      expectRefusal(await v.verify(forge({ alg: 'RS256', kid: 'rsa-1', crit: ['exp'], exp: 1 }, claims(), rsa.privateKey)), 'token_crit_unsupported');
      expectRefusal(await v.verify(forge({ alg: 'RS256', kid: 'rsa-1', crit: [] }, claims(), rsa.privateKey)), 'token_crit_unsupported');
    });

    it('token_alg_not_allowed: HS256 signed with the RSA public key as HMAC secret (algorithm confusion)', async () => {
      const pem = await exportSPKI(rsa.publicKey);
      const confused = (header: Record<string, unknown>) => {
        const input = `${b64(header)}.${b64(claims())}`;
        return `${input}.${createHmac('sha256', pem).update(input).digest('base64url')}`;
      };
      // Remote keys: HS256 is not on the allow-list (and cannot be: see the constructor test).
      expectRefusal(await verifier().verify(confused({ alg: 'HS256', kid: 'rsa-1' })), 'token_alg_not_allowed');
      // Local keys with HS256 allowed: the only key is RSA, so no key may serve HS256.
      const local = verifier({ algorithms: ['RS256', 'HS256'], keys: { kind: 'local', keys: [rsa.jwk] } });
      expectRefusal(await local.verify(confused({ alg: 'HS256', kid: 'rsa-1' })), 'token_alg_not_allowed');
      expectRefusal(await local.verify(confused({ alg: 'HS256' })), 'token_alg_not_allowed');
      expectOk(await local.verify(await token(rsa)));
    });

    it('token_alg_not_allowed for an algorithm off the list and for an algorithm that does not fit the kid', async () => {
      const v = verifier({ algorithms: ['RS256'] });
      expectRefusal(await v.verify(await token(ec)), 'token_alg_not_allowed');
      // ES256 is allowed, but kid rsa-1 is an RSA key
      const both = verifier();
      expectRefusal(await both.verify(forge({ alg: 'ES256', kid: 'rsa-1' }, claims(), ec.privateKey)), 'token_alg_not_allowed');
      expectRefusal(await both.verify(forge({ alg: 'PS256', kid: 'rsa-1' }, claims(), rsa.privateKey)), 'token_alg_not_allowed');
    });

    it('HMAC algorithms with a public key set, and alg none, are refused at construction', () => {
      assert.throws(() => verifier({ algorithms: ['RS256', 'HS256'] }), /HS256 needs a local secret/);
      assert.throws(() => verifier({ algorithms: ['none'] }), /"none" is never allowed/);
      assert.throws(() => verifier({ algorithms: ['HS256'], keys: { kind: 'local', keys: [{ kty: 'oct', k: b64('short') }] } }), /fits none of the allowed algorithms/);
    });

    it('HS256 works with a long enough local secret', async () => {
      const secret = Buffer.alloc(32, 7);
      const v = verifier({ algorithms: ['HS256'], keys: { kind: 'local', keys: [{ kty: 'oct', k: secret.toString('base64url') }] } });
      const jwt = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(secret);
      expectOk(await v.verify(jwt));
      const wrong = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.alloc(32, 8));
      expectRefusal(await v.verify(wrong), 'token_signature_invalid');
    });

    it('token_signature_missing for a stripped signature', async () => {
      const good = await token(rsa);
      expectRefusal(await verifier().verify(good.slice(0, good.lastIndexOf('.') + 1)), 'token_signature_missing');
    });

    it('token_key_unknown for a kid the issuer does not have', async () => {
      expectRefusal(await verifier().verify(await token({ ...rsa, jwk: { ...rsa.jwk, kid: 'who-knows' } })), 'token_key_unknown');
    });

    it('token_signature_invalid for a foreign key under a known kid, and for a tampered payload', async () => {
      const v = verifier();
      expectRefusal(await v.verify(await token(attacker)), 'token_signature_invalid');
      const [h, , s] = (await token(rsa)).split('.') as [string, string, string];
      expectRefusal(await v.verify(`${h}.${b64(claims({ sub: 'admin' }))}.${s}`), 'token_signature_invalid');
      const [eh, , es] = (await token(ec)).split('.') as [string, string, string];
      expectRefusal(await v.verify(`${eh}.${b64(claims({ sub: 'admin' }))}.${es}`), 'token_signature_invalid');
    });

    it('token_expired beyond the skew', async () => {
      const s = Math.floor(t / 1000);
      expectRefusal(await verifier().verify(await token(rsa, claims({ exp: s - 31 }))), 'token_expired');
    });

    it('token_not_yet_valid for nbf or iat in the future beyond the skew', async () => {
      const v = verifier();
      const s = Math.floor(t / 1000);
      expectRefusal(await v.verify(await token(rsa, claims({ nbf: s + 120 }))), 'token_not_yet_valid');
      expectRefusal(await v.verify(await token(rsa, claims({ iat: s + 120 }))), 'token_not_yet_valid');
    });

    it('token_issuer_invalid for another or a missing issuer', async () => {
      const v = verifier();
      expectRefusal(await v.verify(await token(rsa, claims({ iss: 'https://evil.example' }))), 'token_issuer_invalid');
      expectRefusal(await v.verify(await token(rsa, claims({ iss: `${ISSUER}/` }))), 'token_issuer_invalid');
      expectRefusal(await v.verify(await token(rsa, claims({ iss: undefined }))), 'token_issuer_invalid');
    });

    it('token_audience_invalid for another, a missing or a malformed audience', async () => {
      const v = verifier();
      expectRefusal(await v.verify(await token(rsa, claims({ aud: 'admin-api' }))), 'token_audience_invalid');
      expectRefusal(await v.verify(await token(rsa, claims({ aud: ['admin-api', 'x'] }))), 'token_audience_invalid');
      expectRefusal(await v.verify(await token(rsa, claims({ aud: undefined }))), 'token_audience_invalid');
    });

    it('token_claim_invalid for a missing subject, a missing required claim, a missing exp', async () => {
      expectRefusal(await verifier().verify(await token(rsa, claims({ sub: undefined }))), 'token_claim_invalid');
      expectRefusal(await verifier({ requiredClaims: [] }).verify(await token(rsa, claims({ sub: 42 as unknown as string }))), 'token_claim_invalid');
      expectRefusal(await verifier({ requiredClaims: ['sub', 'tenant'] }).verify(await token(rsa)), 'token_claim_invalid');
      expectRefusal(await verifier().verify(await token(rsa, claims({ exp: undefined }))), 'token_claim_invalid');
      expectRefusal(await verifier().verify(forge({ alg: 'RS256', kid: 'rsa-1' }, { ...claims(), exp: 'tomorrow' } as unknown as JWTPayload, rsa.privateKey)), 'token_claim_invalid');
      expectOk(await verifier({ requireExp: false }).verify(await token(rsa, claims({ exp: undefined }))));
    });

    it('identity_provider_unavailable when the JWKS cannot be reached and nothing is cached', async () => {
      const gone = await startJwksServer([rsa.jwk]);
      const uri = gone.uri;
      await gone.close();
      const result = await verifier({ keys: { kind: 'jwks', uri } }).verify(await token(rsa));
      expectRefusal(result, 'identity_provider_unavailable');
    });

    it('several defects: the first check in the documented order decides', async () => {
      const v = verifier({ algorithms: ['RS256'] });
      const s = Math.floor(t / 1000);
      const expiredWrongIss = claims({ exp: s - 100, iss: 'https://evil.example', aud: 'nope' });
      expectRefusal(await v.verify(forge({ alg: 'none', jku: jwks.uri, crit: ['x'] }, expiredWrongIss, rsa.privateKey)), 'token_alg_none');
      expectRefusal(await v.verify(forge({ alg: 'RS256', jwk: rsa.jwk, crit: ['x'] }, expiredWrongIss, rsa.privateKey)), 'token_header_forbidden');
      expectRefusal(await v.verify(forge({ alg: 'ES256', crit: ['x'] }, expiredWrongIss, ec.privateKey)), 'token_crit_unsupported');
      expectRefusal(await v.verify(`${b64({ alg: 'ES256', kid: 'nope' })}.${b64(expiredWrongIss)}.`), 'token_alg_not_allowed');
      expectRefusal(await v.verify(`${b64({ alg: 'RS256', kid: 'nope' })}.${b64(expiredWrongIss)}.`), 'token_signature_missing');
      expectRefusal(await v.verify(await token(rsa, expiredWrongIss)), 'token_expired');
      expectRefusal(await v.verify(await token(rsa, claims({ iss: 'x', aud: 'y' }))), 'token_issuer_invalid');
    });

    it('reasons never contain the token', async () => {
      const v = verifier();
      const tokens = [await token(attacker), await token(rsa, claims({ iss: 'https://evil.example' })), 'garbage.garbage.garbage'];
      for (const jwt of tokens) {
        const result = await v.verify(jwt);
        assert.equal(result.ok, false);
        if (!result.ok) for (const part of jwt.split('.')) assert.ok(!result.reason.includes(part), result.reason);
      }
    });
  });

  describe('verified-token cache', () => {
    it('a cache hit returns the same result without re-verifying', async () => {
      const v = verifier({ cacheMaxEntries: 10 });
      const jwt = await token(rsa, claims({ scope: 'a b' }));
      const first = await v.verify(jwt);
      expectOk(first);
      assert.deepEqual(v.stats, { cacheHits: 0, cacheMisses: 1, jwksFetches: 1 });
      const second = await v.verify(jwt);
      assert.equal(second, first, 'the cached result object itself is returned');
      assert.equal(v.stats.cacheHits, 1);
      // A different token is a miss even for the same subject.
      expectOk(await v.verify(await token(rsa, claims({ scope: 'a b c' }))));
      assert.equal(v.stats.cacheMisses, 2);
    });

    it('never serves a token past its exp', async () => {
      const start = t;
      try {
        const v = verifier({ cacheMaxEntries: 10 });
        const s = Math.floor(t / 1000);
        const jwt = await token(rsa, claims({ exp: s + 60 }));
        expectOk(await v.verify(jwt));
        t = start + 50_000;
        expectOk(await v.verify(jwt));
        assert.equal(v.stats.cacheHits, 1);
        t = (s + 60 + 31) * 1000;
        expectRefusal(await v.verify(jwt), 'token_expired');
        assert.equal(v.stats.cacheHits, 1, 'the expired token was not a cache hit');
      } finally {
        t = start;
      }
    });

    it('cacheMaxEntries 0 disables the cache', async () => {
      const v = verifier({ cacheMaxEntries: 0 });
      const jwt = await token(rsa);
      const a = await v.verify(jwt);
      const b = await v.verify(jwt);
      expectOk(a);
      expectOk(b);
      assert.notEqual(a, b);
      assert.equal(v.stats.cacheHits, 0);
    });
  });
});

describe('TokenCache', () => {
  it('evicts the least recently used entry at the size bound', () => {
    const cache = new TokenCache<string>(2, () => 0);
    cache.set('t1', 'one', 1000);
    cache.set('t2', 'two', 1000);
    assert.equal(cache.get('t1'), 'one'); // t1 is now the most recent
    cache.set('t3', 'three', 1000);
    assert.equal(cache.size, 2);
    assert.equal(cache.get('t2'), undefined, 't2 was the least recently used');
    assert.equal(cache.get('t1'), 'one');
    assert.equal(cache.get('t3'), 'three');
  });

  it('drops entries at their expiry, never stores expired ones, and clear() empties it', () => {
    let now = 0;
    const cache = new TokenCache<string>(10, () => now);
    cache.set('a', 'A', 100);
    cache.set('old', 'X', 0);
    assert.equal(cache.get('old'), undefined);
    now = 99;
    assert.equal(cache.get('a'), 'A');
    now = 100;
    assert.equal(cache.get('a'), undefined);
    cache.set('b', 'B', 500);
    cache.clear();
    assert.equal(cache.get('b'), undefined);
  });

  it('keys entries by hash, not by the token', () => {
    const cache = new TokenCache<string>(10, () => 0);
    cache.set('secret-token', 'v', 10);
    const keys = [...(cache as unknown as { entries: Map<string, unknown> }).entries.keys()];
    assert.deepEqual(keys, [createHash('sha256').update('secret-token').digest('base64')]);
  });

  it('size 0 stores nothing', () => {
    const cache = new TokenCache<string>(0, () => 0);
    cache.set('a', 'A', 100);
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.size, 0);
  });
});
