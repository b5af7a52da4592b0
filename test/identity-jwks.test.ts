/**
 * JWKS fetching, caching and OpenID discovery against a real identity-provider stand-in: a
 * node:http server on 127.0.0.1 port 0 serving a discovery document and a JWKS made by jose.
 * Clock-dependent behaviour (freshness, cooldown) is driven by the verifier's injected clock;
 * the server counts the requests it really received.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { checkFetchUrl, discoveryDocumentUrl, fetchBoundedJson, fetchDiscovery, RemoteKeySet } from '../src/identity/jwks.js';
import { JwtVerifier, pemToJwk, type JwtSchemeOptions } from '../src/identity/jwt.js';
import type { AuthResult } from '../src/identity/types.js';

interface KeyPair {
  readonly publicKey: CryptoKey;
  readonly privateKey: CryptoKey;
  readonly jwk: JWK;
}

async function makeKey(alg: 'RS256' | 'ES256', kid: string | undefined): Promise<KeyPair> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), alg };
  if (kid !== undefined) jwk.kid = kid;
  return { publicKey, privateKey, jwk };
}

type Mode = 'ok' | 'error' | 'hang' | 'huge' | 'huge-chunked' | 'redirect';

/** A stand-in identity provider: discovery document at the well-known path, JWKS at /jwks. */
interface Idp {
  readonly issuer: string;
  readonly jwksUri: string;
  keys: JWK[];
  mode: Mode;
  /** Overrides of the discovery document. */
  discovery: Record<string, unknown>;
  readonly hits: { jwks: number; discovery: number; other: number };
  close(): Promise<void>;
}

async function startIdp(keys: JWK[]): Promise<Idp> {
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/jwks') idp.hits.jwks++;
    else if (path === '/.well-known/openid-configuration') idp.hits.discovery++;
    else idp.hits.other++;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    switch (idp.mode) {
      case 'hang':
        hanging.push(res);
        return;
      case 'error':
        send(500, { error: 'down' });
        return;
      case 'huge':
        send(200, { keys: idp.keys, padding: 'x'.repeat(2 * 1024 * 1024) });
        return;
      case 'huge-chunked': {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = 'x'.repeat(64 * 1024);
        res.write('{"keys":[],"padding":"');
        for (let i = 0; i < 40; i++) res.write(chunk);
        res.end('"}');
        return;
      }
      case 'redirect':
        send(302, {}, { location: `${idp.issuer}/other` });
        return;
      default:
    }
    if (path === '/jwks') send(200, { keys: idp.keys });
    else if (path === '/.well-known/openid-configuration') send(200, { issuer: idp.issuer, jwks_uri: idp.jwksUri, ...idp.discovery });
    else send(404, {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;
  const idp: Idp = {
    issuer,
    jwksUri: `${issuer}/jwks`,
    keys,
    mode: 'ok',
    discovery: {},
    hits: { jwks: 0, discovery: 0, other: 0 },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  return idp;
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function expectRefusal(result: AuthResult, code: string): void {
  assert.equal(result.ok, false, `expected ${code}, got success`);
  if (!result.ok) assert.equal(result.code, code, `expected ${code}, got ${result.code} (${result.reason})`);
}

function expectOk(result: AuthResult): void {
  assert.equal(result.ok, true, result.ok ? '' : `expected success, got ${result.code} (${result.reason})`);
}

describe('JWKS and OpenID discovery', () => {
  let rsa: KeyPair;
  let ec: KeyPair;
  let t: number;
  const now = () => t;
  const verifiers: JwtVerifier[] = [];
  const idps: Idp[] = [];

  async function idp(keys: JWK[] = [rsa.jwk, ec.jwk]): Promise<Idp> {
    const server = await startIdp(keys);
    idps.push(server);
    return server;
  }

  function verifier(issuer: string, keys: JwtSchemeOptions['keys'], over: Partial<JwtSchemeOptions> = {}): JwtVerifier {
    const v = new JwtVerifier(
      {
        name: 'idp',
        issuer,
        audiences: ['api'],
        algorithms: ['RS256', 'ES256'],
        keys,
        clockSkewSeconds: 30,
        requiredClaims: ['sub'],
        requireExp: true,
        maxTokenBytes: 8192,
        subjectClaim: 'sub',
        scopeClaim: 'scope',
        rolesClaim: undefined,
        jwksCacheSeconds: 600,
        jwksRefreshCooldownSeconds: 30,
        fetchTimeoutMs: 2000,
        cacheMaxEntries: 100,
        ...over,
      },
      { now },
    );
    verifiers.push(v);
    return v;
  }

  function token(key: KeyPair, issuer: string, kid: string | undefined = key.jwk.kid, extra: JWTPayload = {}): Promise<string> {
    const s = Math.floor(t / 1000);
    const header = kid === undefined ? { alg: String(key.jwk.alg) } : { alg: String(key.jwk.alg), kid };
    return new SignJWT({ iss: issuer, aud: 'api', sub: 'alice', iat: s, exp: s + 3600, ...extra }).setProtectedHeader(header).sign(key.privateKey);
  }

  before(async () => {
    t = Date.now();
    rsa = await makeKey('RS256', 'rsa-1');
    ec = await makeKey('ES256', 'ec-1');
  });

  after(async () => {
    for (const v of verifiers) v.close();
    for (const s of idps) await s.close();
  });

  describe('discovery', () => {
    it('finds the JWKS from the issuer URL and exposes introspection_endpoint', async () => {
      const server = await idp();
      server.discovery = { introspection_endpoint: `${server.issuer}/introspect` };
      const v = verifier(server.issuer, { kind: 'discovery', url: server.issuer });
      await v.start();
      assert.equal(server.hits.discovery, 1);
      assert.equal(server.hits.jwks, 1);
      assert.equal(v.discovery?.jwksUri, server.jwksUri);
      assert.equal(v.discovery?.introspectionEndpoint, `${server.issuer}/introspect`);
      expectOk(await v.verify(await token(rsa, server.issuer)));
      expectOk(await v.verify(await token(ec, server.issuer)));
    });

    it('accepts the full well-known URL as well', async () => {
      const server = await idp();
      const doc = await fetchDiscovery(`${server.issuer}/.well-known/openid-configuration`, server.issuer, 2000);
      assert.equal(doc.jwksUri, server.jwksUri);
      assert.equal(doc.introspectionEndpoint, undefined);
      assert.equal(discoveryDocumentUrl('https://idp.example/realms/a/'), 'https://idp.example/realms/a/.well-known/openid-configuration');
      assert.equal(discoveryDocumentUrl('https://idp.example/.well-known/openid-configuration'), 'https://idp.example/.well-known/openid-configuration');
    });

    it('refuses a discovery document whose issuer differs (mix-up defence): the JWKS is never fetched', async () => {
      const server = await idp();
      server.discovery = { issuer: 'https://someone-else.example' };
      const v = verifier(server.issuer, { kind: 'discovery', url: server.issuer });
      await v.start();
      expectRefusal(await v.verify(await token(rsa, server.issuer)), 'identity_provider_unavailable');
      assert.equal(server.hits.jwks, 0);
      await assert.rejects(fetchDiscovery(server.issuer, server.issuer, 2000), /issuer does not match/);
      // Exact match only: a trailing slash is another issuer.
      server.discovery = { issuer: `${server.issuer}/` };
      await assert.rejects(fetchDiscovery(server.issuer, server.issuer, 2000), /issuer does not match/);
    });

    it('refuses a discovered jwks_uri that is plain http to a non-loopback host', async () => {
      const server = await idp();
      server.discovery = { jwks_uri: 'http://keys.example.com/jwks' };
      await assert.rejects(fetchDiscovery(server.issuer, server.issuer, 2000), /must use https/);
      const v = verifier(server.issuer, { kind: 'discovery', url: server.issuer });
      expectRefusal(await v.verify(await token(rsa, server.issuer)), 'identity_provider_unavailable');
    });
  });

  describe('URL rules', () => {
    it('allows https and loopback http only, refusing others when the verifier is built', () => {
      assert.equal(checkFetchUrl('https://idp.example/jwks', 'JWKS URI').protocol, 'https:');
      for (const ok of ['http://127.0.0.1:8080/jwks', 'http://localhost/jwks', 'http://[::1]:9/jwks']) checkFetchUrl(ok, 'JWKS URI');
      for (const bad of ['http://idp.example/jwks', 'http://10.0.0.1/jwks', 'ftp://idp.example/jwks', 'file:///etc/passwd', 'not a url']) {
        assert.throws(() => verifier('https://idp.example', { kind: 'jwks', uri: bad }), /JWT scheme "idp": JWKS URI/);
      }
      assert.throws(() => verifier('https://idp.example', { kind: 'discovery', url: 'http://idp.example' }), /must use https/);
      assert.throws(() => checkFetchUrl('https://user:pw@idp.example/jwks', 'JWKS URI'), /credentials/);
    });
  });

  describe('bounded fetching', () => {
    it('refuses a JWKS over 1 MiB, with or without Content-Length', async () => {
      const server = await idp();
      server.mode = 'huge';
      await assert.rejects(fetchBoundedJson(server.jwksUri, 2000), /larger than 1048576 bytes/);
      server.mode = 'huge-chunked';
      await assert.rejects(fetchBoundedJson(server.jwksUri, 2000), /larger than 1048576 bytes/);
      const v = verifier(server.issuer, { kind: 'jwks', uri: server.jwksUri });
      expectRefusal(await v.verify(await token(rsa, server.issuer)), 'identity_provider_unavailable');
    });

    it('gives up after fetchTimeoutMs when the JWKS server hangs', async () => {
      const server = await idp();
      server.mode = 'hang';
      const v = verifier(server.issuer, { kind: 'jwks', uri: server.jwksUri }, { fetchTimeoutMs: 200 });
      const started = Date.now();
      const result = await v.verify(await token(rsa, server.issuer));
      const took = Date.now() - started;
      expectRefusal(result, 'identity_provider_unavailable');
      assert.ok(!result.ok && result.reason.includes('timed out'), !result.ok ? result.reason : '');
      assert.ok(took < 1500, `took ${took} ms`);
    });

    it('does not follow redirects', async () => {
      const server = await idp();
      server.mode = 'redirect';
      await assert.rejects(fetchBoundedJson(server.jwksUri, 2000));
      assert.equal(server.hits.other, 0, 'the redirect target was never requested');
    });
  });

  describe('key cache behaviour', () => {
    it('concurrent first requests share one JWKS fetch', async () => {
      const server = await idp();
      const v = verifier(server.issuer, { kind: 'jwks', uri: server.jwksUri }, { cacheMaxEntries: 0 });
      const jwt = await token(rsa, server.issuer);
      const results = await Promise.all(Array.from({ length: 20 }, () => v.verify(jwt)));
      for (const r of results) expectOk(r);
      assert.equal(server.hits.jwks, 1);
    });

    it('key rotation: a token with the new kid verifies after one refetch; the rotated-out key stops working, also for cached tokens', async () => {
      const start = t;
      try {
        const server = await idp([rsa.jwk]);
        const v = verifier(server.issuer, { kind: 'jwks', uri: server.jwksUri });
        await v.start();
        const oldToken = await token(rsa, server.issuer);
        expectOk(await v.verify(oldToken));
        expectOk(await v.verify(oldToken));
        assert.equal(v.stats.cacheHits, 1, 'the old token is in the verified-token cache');

        const rotated = await makeKey('RS256', 'rsa-2');
        server.keys = [rotated.jwk];
        const newToken = await token(rotated, server.issuer);
        // Within the cooldown after the last fetch, the unknown kid does not cause a refetch.
        expectRefusal(await v.verify(newToken), 'token_key_unknown');
        assert.equal(server.hits.jwks, 1);

        t = start + 31_000;
        expectOk(await v.verify(newToken));
        assert.equal(server.hits.jwks, 2, 'exactly one refetch');
        expectRefusal(await v.verify(oldToken), 'token_key_unknown');
        assert.equal(server.hits.jwks, 2, 'the refetch cooldown applies again');
      } finally {
        t = start;
      }
    });

    it('unknown-kid storm: 100 random kids cause at most one refetch per cooldown', async () => {
      const start = t;
      try {
        const server = await idp([rsa.jwk]);
        const v = verifier(server.issuer, { kind: 'jwks', uri: server.jwksUri });
        await v.start();
        assert.equal(server.hits.jwks, 1);
        const forged = await Promise.all(Array.from({ length: 100 }, (_, i) => token(rsa, server.issuer, `random-${i}-${Math.random()}`)));

        t = start + 31_000; // the cooldown since the first fetch has passed
        const concurrent = await Promise.all(forged.map((jwt) => v.verify(jwt)));
        for (const r of concurrent) expectRefusal(r, 'token_key_unknown');
        assert.equal(server.hits.jwks, 2, '100 concurrent unknown kids: one shared refetch');

        t = start + 45_000;
        for (const jwt of forged) expectRefusal(await v.verify(jwt), 'token_key_unknown');
        assert.equal(server.hits.jwks, 2, '100 more within the cooldown: no refetch');
        assert.equal(v.stats.jwksFetches, 2);

        t = start + 62_000;
        expectRefusal(await v.verify(forged[0] as string), 'token_key_unknown');
        assert.equal(server.hits.jwks, 3, 'after the cooldown one more refetch is allowed');
      } finally {
        t = start;
      }
    });

    it('JWKS outage: tokens for cached keys keep verifying; the outage is retried, not hammered', async () => {
      const start = t;
      try {
        const server = await idp();
        const v = verifier(server.issuer, { kind: 'jwks', uri: server.jwksUri }, { cacheMaxEntries: 0 });
        await v.start();
        const jwt = await token(rsa, server.issuer);
        expectOk(await v.verify(jwt));
        await server.close();
        idps.splice(idps.indexOf(server), 1);

        // Keys are now stale: the verifier tries to refresh, fails, and keeps the old keys.
        t = start + 700_000;
        expectOk(await v.verify(jwt));
        for (let i = 0; i < 20; i++) expectOk(await v.verify(await token(ec, server.issuer)));
        // wait for the background refresh attempt to fail
        await new Promise((r) => setTimeout(r, 50));
        expectOk(await v.verify(jwt));
        assert.equal(v.stats.jwksFetches, 2, 'one refresh attempt, not one per request');
        // An unknown kid is still "unknown", not "unavailable", while keys are cached.
        t = start + 800_000;
        const stranger = await makeKey('RS256', 'rsa-9');
        expectRefusal(await v.verify(await token(stranger, server.issuer)), 'token_key_unknown');
      } finally {
        t = start;
      }
    });

    it('a failing JWKS (HTTP 500) keeps serving the cached keys', async () => {
      const start = t;
      try {
        const server = await idp();
        const v = verifier(server.issuer, { kind: 'jwks', uri: server.jwksUri }, { cacheMaxEntries: 0 });
        await v.start();
        server.mode = 'error';
        t = start + 31_000;
        expectRefusal(await v.verify(await token(rsa, server.issuer, 'new-kid')), 'token_key_unknown');
        assert.equal(server.hits.jwks, 2, 'the refetch was attempted');
        expectOk(await v.verify(await token(rsa, server.issuer)));
      } finally {
        t = start;
      }
    });

    it('stale keys are revalidated in the background and a changed set is picked up', async () => {
      const start = t;
      try {
        const server = await idp([rsa.jwk]);
        const v = verifier(server.issuer, { kind: 'jwks', uri: server.jwksUri }, { jwksCacheSeconds: 60 });
        await v.start();
        const jwt = await token(rsa, server.issuer);
        expectOk(await v.verify(jwt));
        const more = await Promise.all(Array.from({ length: 200 }, (_, i) => token(rsa, server.issuer, 'rsa-1', { n: i })));
        server.keys = [ec.jwk];
        t = start + 61_000;
        // Stale keys keep serving while they are revalidated in the background; verifications
        // still in flight when the new set arrives must not leave their results in the cache.
        const during = await Promise.all([jwt, ...more].map((x) => v.verify(x)));
        for (const r of during) expectOk(r);
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(server.hits.jwks, 2);
        for (const x of [jwt, ...more]) expectRefusal(await v.verify(x), 'token_key_unknown');
        expectOk(await v.verify(await token(ec, server.issuer)));
      } finally {
        t = start;
      }
    });

    it('keys without kid are matched by key type and algorithm; enc and oct keys are never used', async () => {
      const anonymous = await makeKey('RS256', undefined);
      const { alg: _alg, ...withoutAlg } = anonymous.jwk;
      const server = await idp([withoutAlg, { ...ec.jwk, use: 'enc' }, { kty: 'oct', k: Buffer.alloc(32, 1).toString('base64url'), kid: 'hmac' }]);
      const v = verifier(server.issuer, { kind: 'jwks', uri: server.jwksUri }, { cacheMaxEntries: 0 });
      expectOk(await v.verify(await token(anonymous, server.issuer, undefined)));
      expectOk(await v.verify(await token(anonymous, server.issuer, 'whatever-the-idp-calls-it')));
      expectRefusal(await v.verify(await token(ec, server.issuer)), 'token_key_unknown');
    });

    it('a symmetric key published in a JWKS is never imported, even if HS256 were allowed', async () => {
      const server = await idp([{ kty: 'oct', k: Buffer.alloc(64, 1).toString('base64url'), kid: 'hmac' }, rsa.jwk]);
      const set = new RemoteKeySet({ source: { kind: 'jwks', uri: server.jwksUri }, algorithms: ['HS256', 'RS256'], cacheSeconds: 600, refreshCooldownSeconds: 30, fetchTimeoutMs: 1000 });
      try {
        const { keys } = await set.current();
        assert.deepEqual(
          keys.map((k) => [k.kid, [...k.byAlgorithm.keys()]]),
          [['rsa-1', ['RS256']]],
        );
      } finally {
        set.close();
      }
    });

    it('a remote RSA key under 2048 bits is ignored', async () => {
      // jose refuses to make such keys, so node:crypto makes and signs with one.
      const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
      const server = await idp([{ ...(weak.publicKey.export({ format: 'jwk' }) as JWK), kid: 'weak', alg: 'RS256' }]);
      const s = Math.floor(t / 1000);
      const input = `${b64({ alg: 'RS256', kid: 'weak' })}.${b64({ iss: server.issuer, aud: 'api', sub: 'alice', exp: s + 60 })}`;
      const jwt = `${input}.${cryptoSign('sha256', Buffer.from(input), weak.privateKey).toString('base64url')}`;
      const v = verifier(server.issuer, { kind: 'jwks', uri: server.jwksUri });
      expectRefusal(await v.verify(jwt), 'token_key_unknown');
    });

    it('RemoteKeySet.close() stops its refresh timer (the process can exit)', async () => {
      const server = await idp();
      const set = new RemoteKeySet({ source: { kind: 'jwks', uri: server.jwksUri }, algorithms: ['RS256'], cacheSeconds: 1, refreshCooldownSeconds: 1, fetchTimeoutMs: 1000 });
      await set.start();
      set.close();
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(server.hits.jwks, 1, 'no refresh after close()');
    });
  });

  describe('local keys from PEM', () => {
    it('pemToJwk converts an SPKI public key, and local keys verify without any fetch', async () => {
      const pem = await exportSPKI(rsa.publicKey);
      const jwk = await pemToJwk(pem, 'RS256');
      assert.equal(jwk.kty, 'RSA');
      assert.equal(jwk.alg, 'RS256');
      assert.equal(jwk.n, rsa.jwk.n);
      const v = verifier('https://local.example', { kind: 'local', keys: [jwk] });
      expectOk(await v.verify(await token(rsa, 'https://local.example')));
      expectOk(await v.verify(await token(rsa, 'https://local.example', undefined)));
      expectRefusal(await v.verify(await token(ec, 'https://local.example')), 'token_alg_not_allowed');
      assert.equal(v.stats.jwksFetches, 0);
    });

    it('pemToJwk refuses private keys, garbage and keys that do not fit the algorithm', async () => {
      await assert.rejects(pemToJwk(await exportPKCS8(rsa.privateKey)), /private key/);
      await assert.rejects(pemToJwk('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'), /not a valid PEM/);
      await assert.rejects(pemToJwk(await exportSPKI(ec.publicKey), 'RS256'), /cannot be used with RS256/);
    });
  });
});
