/**
 * Identity and access through the whole gateway: a real JWKS server with keys made by jose, a
 * real RFC 7662 introspection endpoint, a real upstream that answers ownership lookups, static
 * API keys, mTLS with the fixture certificates. Two users (alice, bob) attack each other's
 * objects; an admin may do what they may not.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { Agent, request } from 'undici';
import { hashApiKey } from '../src/identity/apikey.js';
import { startTestGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';

const TLS = join(process.cwd(), 'test/fixtures/tls');

interface Idp {
  readonly url: string;
  sign(claims: Record<string, unknown>, opts?: { expiresIn?: string; alg?: 'RS256' | 'ES256'; kid?: string }): Promise<string>;
  /** Opaque token → introspection answer. */
  readonly opaque: Map<string, Record<string, unknown>>;
  introspections: number;
  close(): Promise<void>;
}

async function startIdp(): Promise<Idp> {
  const rsa = await generateKeyPair('RS256');
  const ec = await generateKeyPair('ES256');
  const jwks: JWK[] = [
    { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
    { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
  ];
  const opaque = new Map<string, Record<string, unknown>>();
  const idp = { introspections: 0 } as { introspections: number };
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.url === '/jwks') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: jwks }));
        return;
      }
      if (req.url === '/introspect' && req.method === 'POST') {
        idp.introspections++;
        if (req.headers.authorization !== 'Basic ' + Buffer.from('gateway:intro-secret-1234').toString('base64')) {
          res.writeHead(401).end();
          return;
        }
        const token = new URLSearchParams(body).get('token') ?? '';
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(opaque.get(token) ?? { active: false }));
        return;
      }
      res.writeHead(404).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(idp, {
    url,
    opaque,
    async sign(claims: Record<string, unknown>, opts: { expiresIn?: string; alg?: 'RS256' | 'ES256'; kid?: string } = {}) {
      const alg = opts.alg ?? 'RS256';
      const key: CryptoKey = alg === 'RS256' ? rsa.privateKey : ec.privateKey;
      return new SignJWT(claims)
        .setProtectedHeader({ alg, kid: opts.kid ?? (alg === 'RS256' ? 'rsa-1' : 'ec-1') })
        .setIssuer(url)
        .setAudience('notes')
        .setIssuedAt()
        .setExpirationTime(opts.expiresIn ?? '5m')
        .sign(key);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
}

/** The upstream: notes owned by users, an owner lookup endpoint, and an echo for the rest. */
const NOTES: Record<string, { id: string; owner: string; title: string; secretNotes: string }> = {
  'n-1': { id: 'n-1', owner: 'alice', title: "alice's note", secretNotes: 'staff only: alice' },
  'n-2': { id: 'n-2', owner: 'bob', title: "bob's note", secretNotes: 'staff only: bob' },
};

function spec(upstream: string): string {
  const lookup = `{ lookup: { param: { in: path, name: noteId }, url: "${upstream}/owners/{value}", ownerPointer: /owner, equalsClaim: id }, bypassRoles: [admin] }`;
  return `openapi: 3.1.0
info: { title: notes, version: '1' }
security: [{ bearer: [notes:read] }]
paths:
  /users/{userId}/notes:
    parameters: [{ name: userId, in: path, required: true, schema: { type: string } }]
    get:
      operationId: listNotes
      security: [{ bearer: [notes:read] }, { key: [] }]
      x-portcullis-owner: { rules: [{ in: path, name: userId, equalsClaim: id }], bypassRoles: [admin] }
      responses: { '200': { description: ok } }
  /notes/{noteId}:
    parameters: [{ name: noteId, in: path, required: true, schema: { type: string } }]
    get:
      operationId: getNote
      x-portcullis-owner: ${lookup}
      responses:
        '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Note' } } } }
    put:
      operationId: putNote
      security: [{ bearer: [notes:write] }]
      x-portcullis-owner: ${lookup}
      requestBody: { content: { application/json: { schema: { $ref: '#/components/schemas/Note' } } } }
      responses:
        '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Note' } } } }
  /admin/stats:
    get:
      operationId: stats
      x-portcullis-roles: [admin]
      responses: { '200': { description: ok } }
  /introspected:
    get:
      operationId: introspected
      security: [{ opaque: [reports] }]
      responses: { '200': { description: ok } }
components:
  securitySchemes:
    bearer: { type: http, scheme: bearer, bearerFormat: JWT }
    key: { type: apiKey, in: header, name: x-api-key }
    opaque: { type: oauth2, flows: { clientCredentials: { tokenUrl: 'https://idp.example/token', scopes: { reports: read reports } } } }
  schemas:
    Note:
      type: object
      properties:
        id: { type: string, readOnly: true }
        owner: { type: string, readOnly: true }
        title: { type: string }
        pinned: { type: boolean, x-portcullis-write-roles: [admin] }
        secretNotes: { type: string, x-portcullis-read-roles: [admin] }
`;
}

function config(upstream: string, idp: string): string {
  return `version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { enabled: false }
identity:
  apiKeys:
    keys:
      - { id: k-alice, sha256: ${hashApiKey('key-of-alice')}, owner: alice }
  schemes:
    bearer:
      type: jwt
      issuer: ${idp}
      audiences: [notes]
      jwksUri: ${idp}/jwks
      rolesClaim: roles
    opaque:
      type: introspection
      endpoint: ${idp}/introspect
      clientId: gateway
      clientSecret: \${INTRO_SECRET}
apis:
  - { name: notes, spec: ./openapi.yaml, upstream: ${upstream} }
`;
}

describe('identity and access through the gateway', () => {
  let idp: Idp;
  let up: Upstream;
  let gw: TestGateway;
  const tokens: Record<string, string> = {};

  before(async () => {
    idp = await startIdp();
    up = await startUpstream((req, res, body) => {
      const path = (req.url ?? '').split('?')[0]!;
      if (path.startsWith('/owners/')) {
        const note = NOTES[decodeURIComponent(path.slice('/owners/'.length))];
        if (note === undefined) res.writeHead(404).end();
        else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ owner: note.owner }));
        return;
      }
      if (path.startsWith('/notes/')) {
        const note = NOTES[path.slice('/notes/'.length)];
        const out = req.method === 'PUT' ? { ...note, ...(JSON.parse(body) as object) } : note;
        res.writeHead(200, { 'content-type': 'application/json', etag: '"v1"' }).end(JSON.stringify(out));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path, principalSeen: req.headers.authorization !== undefined }));
    });
    gw = await startTestGateway(config(up.url, idp.url), { 'openapi.yaml': spec(up.url) }, { INTRO_SECRET: 'intro-secret-1234' });
    tokens.alice = await idp.sign({ sub: 'alice', scope: 'notes:read notes:write', roles: ['member'] });
    tokens.bob = await idp.sign({ sub: 'bob', scope: 'notes:read notes:write', roles: ['member'] }, { alg: 'ES256' });
    tokens.admin = await idp.sign({ sub: 'root', scope: 'notes:read notes:write', roles: ['admin'] });
    tokens.readOnly = await idp.sign({ sub: 'alice', scope: 'notes:read', roles: ['member'] });
  });
  after(async () => {
    await gw.close();
    await up.close();
    await idp.close();
  });

  const call = async (path: string, opts: { token?: string; key?: string; method?: string; body?: unknown; headers?: Record<string, string> } = {}) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
    if (opts.key !== undefined) headers['x-api-key'] = opts.key;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await request(`${gw.url}${path}`, { method: (opts.method ?? 'GET') as 'GET', headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
    const text = await res.body.text();
    const json = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
    return { status: res.statusCode, headers: res.headers, json };
  };

  test('a valid RS256 or ES256 token passes; the principal is in the audit event, the token nowhere', async () => {
    const before = gw.events().length;
    const a = await call('/users/alice/notes', { token: tokens.alice });
    assert.equal(a.status, 200);
    const b = await call('/users/bob/notes', { token: tokens.bob });
    assert.equal(b.status, 200);
    const events = (await gw.waitEvents(before + 2)).slice(before).map((l) => l as { principal?: { id: string; type: string; credentialId?: string } });
    assert.deepEqual(events.map((e) => e.principal), [
      { id: 'alice', type: 'jwt', credentialId: events[0]!.principal!.credentialId },
      { id: 'bob', type: 'jwt', credentialId: events[1]!.principal!.credentialId },
    ]);
    const all = JSON.stringify(gw.events()) + JSON.stringify(gw.logs());
    for (const t of Object.values(tokens)) {
      assert.equal(all.includes(t), false, 'a token reached the log');
      assert.equal(all.includes(t.split('.')[2]!), false, 'a token signature reached the log');
    }
  });

  test('no credential: 401 with a challenge for every accepted scheme', async () => {
    const r = await call('/users/alice/notes');
    assert.equal(r.status, 401);
    assert.equal(r.json?.code, 'unauthenticated');
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="portcullis", ApiKey realm="portcullis", header="x-api-key"');
    const t = await call('/notes/n-1');
    assert.equal(t.json?.code, 'token_missing');
    assert.equal(t.headers['www-authenticate'], 'Bearer realm="portcullis"');
    assert.equal(up.seen.some((s) => s.url.startsWith('/users/alice/notes') && s.headers.authorization === undefined && s.headers['x-api-key'] === undefined), false, 'nothing unauthenticated was forwarded');
  });

  test('refused tokens carry their own code and error="invalid_token"', async () => {
    const expired = await idp.sign({ sub: 'alice', scope: 'notes:read' }, { expiresIn: '-10m' });
    const r = await call('/users/alice/notes', { token: expired });
    assert.equal(r.status, 401);
    assert.equal(r.json?.code, 'token_expired');
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="portcullis", error="invalid_token"');

    const unsigned = Buffer.from('{"alg":"none"}').toString('base64url') + '.' + Buffer.from(JSON.stringify({ sub: 'alice', iss: idp.url, aud: 'notes', scope: 'notes:read', exp: 9e9 })).toString('base64url') + '.';
    assert.equal((await call('/users/alice/notes', { token: unsigned })).json?.code, 'token_alg_none');
    const [h, p] = tokens.alice!.split('.');
    assert.equal((await call('/users/alice/notes', { token: `${h}.${p}.` })).json?.code, 'token_signature_missing');
    assert.equal((await call('/users/alice/notes', { token: 'garbage' })).json?.code, 'token_malformed');
    // A problem body says nothing about the token or the keys.
    assert.deepEqual(Object.keys(r.json ?? {}).sort(), ['code', 'requestId', 'status', 'title', 'type']);
  });

  test('OR of requirements: an API key is accepted where the spec lists it, refused where it does not', async () => {
    assert.equal((await call('/users/alice/notes', { key: 'key-of-alice' })).status, 200);
    const wrong = await call('/users/alice/notes', { key: 'not-a-key' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json?.code, 'invalid_api_key');
    const notListed = await call('/notes/n-1', { key: 'key-of-alice' });
    assert.equal(notListed.status, 401);
    assert.equal(notListed.json?.code, 'token_missing');
  });

  test('scopes: a token without notes:write cannot PUT (403 insufficient_scope, scope named)', async () => {
    const r = await call('/notes/n-1', { token: tokens.readOnly, method: 'PUT', body: { title: 'x' } });
    assert.equal(r.status, 403);
    assert.equal(r.json?.code, 'insufficient_scope');
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="portcullis", error="insufficient_scope", scope="notes:write"');
  });

  test('roles: the admin operation is unreachable to members, open to admins', async () => {
    const member = await call('/admin/stats', { token: tokens.alice });
    assert.equal(member.status, 403);
    assert.equal(member.json?.code, 'role_required');
    assert.equal((await call('/admin/stats', { token: tokens.admin })).status, 200);
    assert.equal((await call('/admin/stats', { key: 'key-of-alice' })).status, 401, 'an API key is not accepted where the spec does not list it');
  });

  test('BOLA by path rule: alice and bob each reach their own notes list, never the other one', async () => {
    assert.equal((await call('/users/alice/notes', { token: tokens.alice })).status, 200);
    const aliceOnBob = await call('/users/bob/notes', { token: tokens.alice });
    assert.equal(aliceOnBob.status, 403);
    assert.equal(aliceOnBob.json?.code, 'object_access_denied');
    assert.equal((await call('/users/alice/notes', { token: tokens.bob })).json?.code, 'object_access_denied');
    assert.equal((await call('/users/bob/notes', { key: 'key-of-alice' })).json?.code, 'object_access_denied', 'the same rule holds for API keys');
    assert.equal((await call('/users/bob/notes', { token: tokens.admin })).status, 200, 'admins bypass');
    assert.equal(up.seen.some((s) => s.url === '/users/bob/notes' && s.headers.authorization === `Bearer ${tokens.alice}`), false);
  });

  test('BOLA by ownership lookup: notes whose owner is not in the request', async () => {
    assert.equal((await call('/notes/n-1', { token: tokens.alice })).status, 200);
    assert.equal((await call('/notes/n-2', { token: tokens.bob })).status, 200);
    const aliceOnBob = await call('/notes/n-2', { token: tokens.alice });
    assert.equal(aliceOnBob.status, 403);
    assert.equal(aliceOnBob.json?.code, 'object_access_denied');
    const bobOnAlice = await call('/notes/n-1', { token: tokens.bob, method: 'PUT', body: { title: 'mine now' } });
    assert.equal(bobOnAlice.json?.code, 'object_access_denied');
    assert.equal((await call('/notes/n-404', { token: tokens.alice })).json?.code, 'object_access_denied', 'unknown objects are refused too');
    const lookups = up.seen.filter((s) => s.url.startsWith('/owners/')).length;
    await call('/notes/n-2', { token: tokens.alice });
    assert.equal(up.seen.filter((s) => s.url.startsWith('/owners/')).length, lookups, 'the owner came from the cache');
  });

  test('mass assignment: readOnly and admin-only properties cannot be written by members', async () => {
    const own = await call('/notes/n-1', { token: tokens.alice, method: 'PUT', body: { title: 'renamed' } });
    assert.equal(own.status, 200);
    const takeover = await call('/notes/n-1', { token: tokens.alice, method: 'PUT', body: { title: 'x', owner: 'bob' } });
    assert.equal(takeover.status, 403);
    assert.equal(takeover.json?.code, 'property_not_writable');
    const pin = await call('/notes/n-1', { token: tokens.alice, method: 'PUT', body: { title: 'x', pinned: true } });
    assert.equal(pin.json?.code, 'property_not_writable');
    assert.equal((await call('/notes/n-1', { token: tokens.admin, method: 'PUT', body: { title: 'x', pinned: true } })).status, 200);
    const notJson = await request(`${gw.url}/notes/n-1`, { method: 'PUT', headers: { authorization: `Bearer ${tokens.alice}`, 'content-type': 'application/json' }, body: '{"title": "x", "owner": ' });
    assert.equal(notJson.statusCode, 400);
    assert.equal(((await notJson.body.json()) as { code: string }).code, 'body_not_json');
    const events = JSON.stringify(await gw.waitEvents(1));
    assert.match(events, /body sets \/owner \(readOnly\)/);
  });

  test('excessive data exposure: admin-only response properties are removed for members', async () => {
    const member = await call('/notes/n-1', { token: tokens.alice });
    assert.equal(member.status, 200);
    assert.equal(member.json?.secretNotes, undefined);
    assert.equal(member.json?.title !== undefined, true);
    assert.equal(Number(member.headers['content-length']), Buffer.byteLength(JSON.stringify(member.json)));
    const admin = await call('/notes/n-2', { token: tokens.admin });
    assert.equal(admin.json?.secretNotes, 'staff only: bob');
    assert.equal(Number(admin.headers['content-length']), Buffer.byteLength(JSON.stringify(NOTES['n-2'])));
    const upstreamSaw = up.seen.filter((s) => s.url === '/notes/n-1').at(-1);
    assert.equal(upstreamSaw?.headers['accept-encoding'], 'identity', 'filtered routes ask for an unencoded body');
  });

  test('introspection: active opaque tokens pass (cached), inactive ones are refused', async () => {
    idp.opaque.set('opaque-good', { active: true, sub: 'svc-reports', scope: 'reports', exp: Math.floor(Date.now() / 1000) + 300 });
    idp.opaque.set('opaque-noscope', { active: true, sub: 'svc-other', scope: 'other', exp: Math.floor(Date.now() / 1000) + 300 });
    const calls = idp.introspections;
    assert.equal((await call('/introspected', { token: 'opaque-good' })).status, 200);
    assert.equal((await call('/introspected', { token: 'opaque-good' })).status, 200);
    assert.equal(idp.introspections, calls + 1, 'the second request was answered from the cache');
    const inactive = await call('/introspected', { token: 'opaque-revoked' });
    assert.equal(inactive.status, 401);
    assert.equal(inactive.json?.code, 'token_inactive');
    assert.equal((await call('/introspected', { token: 'opaque-noscope' })).json?.code, 'insufficient_scope');
    const all = JSON.stringify(gw.events()) + JSON.stringify(gw.logs());
    assert.equal(all.includes('opaque-good') || all.includes('intro-secret-1234'), false);
  });
});

describe('mTLS identity and certificate-bound tokens', () => {
  let idp: Idp;
  let up: Upstream;
  let gw: TestGateway;
  const ca = readFileSync(join(TLS, 'ca.crt'));
  const clientCert = readFileSync(join(TLS, 'client.crt'));
  const clientKey = readFileSync(join(TLS, 'client.key'));
  const thumbprint = Buffer.from(new X509Certificate(clientCert).fingerprint256.replaceAll(':', ''), 'hex').toString('base64url');

  before(async () => {
    idp = await startIdp();
    up = await startUpstream();
    const openapi = `openapi: 3.1.0
info: { title: t, version: '1' }
paths:
  /partner:
    get:
      operationId: partner
      security: [{ cert: [] }]
      x-portcullis-roles: [partner]
      responses: { '200': { description: ok } }
  /bound:
    get:
      operationId: bound
      security: [{ cert: [], bearer: [] }]
      responses: { '200': { description: ok } }
components:
  securitySchemes:
    cert: { type: mutualTLS }
    bearer: { type: http, scheme: bearer }
`;
    gw = await startTestGateway(
      `version: 1
listeners:
  - port: 0
    host: 127.0.0.1
    tls: { certFile: ${join(TLS, 'server.crt')}, keyFile: ${join(TLS, 'server.key')}, clientCaFile: ${join(TLS, 'ca.crt')}, clientCertificate: optional }
admin: { enabled: false }
identity:
  schemes:
    cert:
      type: mtls
      principalFrom: san-uri
      rules:
        - { match: { sanUri: 'spiffe://example.org/*' }, roles: [partner] }
    bearer:
      type: jwt
      issuer: ${idp.url}
      audiences: [notes]
      jwksUri: ${idp.url}/jwks
      certificateBound: required
apis:
  - { name: t, spec: ./openapi.yaml, upstream: ${up.url} }
`,
      { 'openapi.yaml': openapi },
    );
  });
  after(async () => {
    await gw.close();
    await up.close();
    await idp.close();
  });

  const get = async (path: string, withCert: boolean, token?: string) => {
    const dispatcher = new Agent({ connect: { ca, servername: 'localhost', ...(withCert ? { cert: clientCert, key: clientKey } : {}) } });
    try {
      const res = await request(`https://localhost:${gw.port}${path}`, { dispatcher, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
      const text = await res.body.text();
      return { status: res.statusCode, json: JSON.parse(text) as Record<string, unknown> };
    } finally {
      await dispatcher.close();
    }
  };

  test('the verified client certificate is the principal; without one: client_certificate_required', async () => {
    assert.equal((await get('/partner', true)).status, 200);
    const none = await get('/partner', false);
    assert.equal(none.status, 401);
    assert.equal(none.json.code, 'client_certificate_required');
    const events = (await gw.waitEvents(2)).map((l) => l as { principal?: { id: string; type: string; credentialId?: string } });
    assert.equal(events.some((e) => e.principal?.id === 'spiffe://example.org/alice' && e.principal.type === 'mtls'), true);
  });

  test('RFC 8705: a token bound to this certificate passes, one bound to another or unbound is refused', async () => {
    const bound = await idp.sign({ sub: 'alice', cnf: { 'x5t#S256': thumbprint } });
    assert.equal((await get('/bound', true, bound)).status, 200);
    const other = await idp.sign({ sub: 'alice', cnf: { 'x5t#S256': Buffer.alloc(32, 7).toString('base64url') } });
    const r = await get('/bound', true, other);
    assert.equal(r.status, 401);
    assert.equal(r.json.code, 'token_binding_mismatch');
    const unbound = await idp.sign({ sub: 'alice' });
    assert.equal((await get('/bound', true, unbound)).json.code, 'token_binding_mismatch');
    assert.equal((await get('/bound', false, bound)).status, 401, 'no certificate: the mTLS half of the requirement fails');
  });
});

describe('API keys in the query string (opt-in) and JWTs checked with local keys', () => {
  let up: Upstream;
  let gw: TestGateway;
  const secret = 'a-shared-hmac-secret-of-at-least-32-bytes!';
  let rsaToken: string;

  before(async () => {
    up = await startUpstream();
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const { exportSPKI } = await import('jose');
    const pem = await exportSPKI(rsa.publicKey);
    rsaToken = await new SignJWT({ scope: 'r' }).setProtectedHeader({ alg: 'RS256' }).setIssuer('local').setAudience('t').setSubject('pem-user').setExpirationTime('5m').sign(rsa.privateKey);
    gw = await startTestGateway(
      `version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { enabled: false }
identity:
  apiKeys:
    allowQuery: true
    keys: [{ id: q, sha256: ${hashApiKey('query-key-1')}, owner: q-user }]
  schemes:
    byQuery: { type: apiKey, in: query, name: k }
    pem: { type: jwt, issuer: local, audiences: [t], algorithms: [RS256], keys: [{ file: ./rsa.pem }] }
    hmac: { type: jwt, issuer: local, audiences: [t], algorithms: [HS256], keys: [{ secret: '\${HMAC_SECRET}' }] }
routes:
  - { name: q, methods: [GET], path: /q, upstream: ${up.url}, security: [{ byQuery: [] }] }
  - { name: pem, methods: [GET], path: /pem, upstream: ${up.url}, security: [{ pem: [r] }] }
  - { name: hmac, methods: [GET], path: /hmac, upstream: ${up.url}, security: [{ hmac: [] }] }
`,
      { 'rsa.pem': pem },
      { HMAC_SECRET: secret },
    );
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  test('the key is accepted from ?k= and redacted from the audit event; the config warns about it', async () => {
    const ok = await request(`${gw.url}/q?k=query-key-1&x=1`);
    await ok.body.dump();
    assert.equal(ok.statusCode, 200);
    const bad = await request(`${gw.url}/q?k=nope`);
    assert.equal(bad.statusCode, 401);
    assert.equal(((await bad.body.json()) as { code: string }).code, 'invalid_api_key');
    const twice = await request(`${gw.url}/q?k=query-key-1&k=query-key-1`);
    assert.equal(twice.statusCode, 401, 'a repeated key parameter is ambiguous');
    await twice.body.dump();
    const events = await gw.waitEvents(3);
    const text = JSON.stringify(events);
    assert.equal(text.includes('query-key-1'), false, 'the key reached the audit log');
    assert.match(text, /k=\[REDACTED\]&x=1/);
    const { loadConfig } = await import('../src/config/index.js');
    const loaded = await loadConfig(gw.configFile, { env: { HMAC_SECRET: secret } });
    assert.ok(loaded.ok);
    assert.match(loaded.warnings.map((w) => `${w.path}: ${w.message}`).join('\n'), /identity\.apiKeys\.allowQuery: API keys in query strings end up in proxy logs/);
  });

  test('a PEM public key from a file and an HMAC secret from the environment verify tokens', async () => {
    const pem = await request(`${gw.url}/pem`, { headers: { authorization: `Bearer ${rsaToken}` } });
    await pem.body.dump();
    assert.equal(pem.statusCode, 200);
    const hs = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('local').setAudience('t').setSubject('h').setExpirationTime('5m').sign(Buffer.from(secret));
    const hmac = await request(`${gw.url}/hmac`, { headers: { authorization: `Bearer ${hs}` } });
    await hmac.body.dump();
    assert.equal(hmac.statusCode, 200);
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer('local').setAudience('t').setSubject('h').setExpirationTime('5m').sign(Buffer.from('another-secret-another-secret-another-secret'));
    const refused = await request(`${gw.url}/hmac`, { headers: { authorization: `Bearer ${forged}` } });
    assert.equal(((await refused.body.json()) as { code: string }).code, 'token_signature_invalid');
    // HS256 against the RSA-keyed scheme: algorithm confusion is refused.
    const confused = await new SignJWT({ scope: 'r' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('local').setAudience('t').setSubject('x').setExpirationTime('5m').sign(Buffer.from(readFileSync(join(gw.dir, 'rsa.pem'))));
    const c = await request(`${gw.url}/pem`, { headers: { authorization: `Bearer ${confused}` } });
    assert.equal(((await c.body.json()) as { code: string }).code, 'token_alg_not_allowed');
  });
});
