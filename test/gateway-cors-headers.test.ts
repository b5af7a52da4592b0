import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { hashApiKey } from '../src/identity/apikey.js';
import { startTestGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';

describe('CORS per route and response security headers', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(`version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { enabled: false }
identity:
  apiKeys:
    keys: [{ id: k1, sha256: ${hashApiKey('key-1')} }]
routes:
  - name: app
    methods: [GET, POST]
    path: /app/*
    upstream: ${up.url}
    cors:
      allowOrigins: [https://app.example.com]
      allowHeaders: [content-type, x-api-key]
      allowCredentials: true
      maxAgeSeconds: 300
    securityHeaders:
      frameOptions: SAMEORIGIN
      contentSecurityPolicy: false
  - name: open
    methods: [GET]
    path: /open/*
    upstream: ${up.url}
    public: true
    cors: { allowOrigins: ['*'] }
  - name: nocors
    methods: [GET]
    path: /nocors/*
    upstream: ${up.url}
    public: true
`);
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  it('answers an allowed preflight itself, without credentials and without forwarding', async () => {
    const before = up.seen.length;
    const res = await request(`${gw.url}/app/items`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'Content-Type, X-Api-Key' },
    });
    assert.equal(res.statusCode, 204);
    assert.equal(res.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.equal(res.headers['access-control-allow-methods'], 'GET, POST');
    assert.equal(res.headers['access-control-max-age'], '300');
    assert.equal(res.headers.vary, 'Origin');
    assert.equal(up.seen.length, before);
    await res.body.dump();
  });

  it('refuses a preflight from another origin, for another method or header, with no CORS headers', async () => {
    const cases = [
      { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
      { origin: 'https://app.example.com', 'access-control-request-method': 'DELETE' },
      { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-admin' },
    ];
    for (const headers of cases) {
      const res = await request(`${gw.url}/app/items`, { method: 'OPTIONS', headers });
      // DELETE is not a method of the route at all: routed as 405; the others are CORS refusals.
      const body = (await res.body.json()) as { code: string };
      if (headers['access-control-request-method'] === 'DELETE') assert.equal(res.statusCode, 405);
      else {
        assert.equal(res.statusCode, 403);
        assert.equal(body.code, 'cors_origin_denied');
      }
      assert.equal(res.headers['access-control-allow-origin'], undefined);
    }
  });

  it('adds CORS headers to actual requests from allowed origins only', async () => {
    const ok = await request(`${gw.url}/app/items`, { headers: { origin: 'https://app.example.com', 'x-api-key': 'key-1' } });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.equal(ok.headers['access-control-expose-headers'], 'x-request-id');
    await ok.body.dump();
    const evil = await request(`${gw.url}/app/items`, { headers: { origin: 'https://evil.example', 'x-api-key': 'key-1' } });
    assert.equal(evil.headers['access-control-allow-origin'], undefined);
    await evil.body.dump();
  });

  it('CORS headers also reach refusals, so a browser app can read the error', async () => {
    const res = await request(`${gw.url}/app/items`, { headers: { origin: 'https://app.example.com' } });
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['access-control-allow-origin'], 'https://app.example.com');
    await res.body.dump();
  });

  it('`*` answers with a literal * and no credentials header', async () => {
    const res = await request(`${gw.url}/open/x`, { headers: { origin: 'https://anyone.example' } });
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.equal(res.headers['access-control-allow-credentials'], undefined);
    await res.body.dump();
  });

  it('a preflight on a route without CORS is refused', async () => {
    const res = await request(`${gw.url}/nocors/x`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' } });
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    await res.body.dump();
  });

  it('applies per-route security headers, and no-store only on authenticated responses', async () => {
    const auth = await request(`${gw.url}/app/x`, { headers: { 'x-api-key': 'key-1' } });
    assert.equal(auth.headers['x-frame-options'], 'SAMEORIGIN');
    assert.equal(auth.headers['content-security-policy'], undefined);
    assert.equal(auth.headers['cache-control'], 'no-store');
    assert.equal(auth.headers['x-content-type-options'], 'nosniff');
    await auth.body.dump();
    const pub = await request(`${gw.url}/nocors/x`);
    assert.equal(pub.headers['x-frame-options'], 'DENY');
    assert.equal(pub.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
    assert.equal(pub.headers['cache-control'], undefined);
    await pub.body.dump();
  });

  it('refusals carry no-store and nosniff', async () => {
    const res = await request(`${gw.url}/nothing-here`);
    assert.equal(res.statusCode, 404);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    await res.body.dump();
  });
});
