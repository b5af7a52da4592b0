import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { hashApiKey } from '../src/identity/apikey.js';
import { passthroughConfig, rawRequest, startTestGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';

type Echo = { method: string; url: string; headers: Record<string, string>; body: string };

const SPEC = `openapi: 3.1.0
info: { title: Notes, version: '1' }
servers: [{ url: /v1 }]
components:
  securitySchemes:
    apiKey: { type: apiKey, in: header, name: x-api-key }
security: [{ apiKey: [] }]
paths:
  /health:
    get: { operationId: health, security: [], responses: { '200': { description: ok } } }
  /notes/{noteId}:
    get: { operationId: getNote, parameters: [{ name: full, in: query, schema: { type: integer } }], responses: { '200': { description: ok } } }
    delete: { operationId: deleteNote, responses: { '204': { description: ok } } }
  /notes:
    post: { operationId: createNote, requestBody: { content: { '*/*': {} } }, responses: { '201': { description: ok } } }
`;

describe('proxy: passthrough, header hygiene, request ids', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(passthroughConfig(up.url, 'trustedProxies: [10.0.0.0/8]\n'));
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  it('forwards method, path, query and body, and streams the answer back', async () => {
    const res = await request(`${gw.url}/items/42?x=1&y=%20z`, { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } });
    assert.equal(res.statusCode, 200);
    const echo = (await res.body.json()) as Echo;
    assert.equal(echo.method, 'POST');
    assert.equal(echo.url, '/items/42?x=1&y=%20z');
    assert.equal(echo.body, '{"a":1}');
    assert.equal(echo.headers['content-type'], 'application/json');
  });

  it('streams a chunked upload and a chunked download', async () => {
    const { Readable } = await import('node:stream');
    const body = Readable.from(['part1-', 'part2-', 'part3']);
    const res = await request(`${gw.url}/upload`, { method: 'PUT', body });
    const echo = (await res.body.json()) as Echo;
    assert.equal(echo.body, 'part1-part2-part3');
    const s = await request(`${gw.url}/stream?chunks=4`);
    assert.equal(await s.body.text(), 'chunk-1\nchunk-2\nchunk-3\nchunk-4\n');
  });

  it('removes hop-by-hop headers and sets X-Forwarded-* and Forwarded from the real peer', async () => {
    const res = await rawRequest(
      gw.port,
      'GET /h HTTP/1.1\r\nHost: api.test\r\nConnection: x-secret-hop, close\r\nX-Secret-Hop: should not pass\r\n' +
        'Proxy-Authorization: Basic abc\r\nTE: trailers\r\nUpgrade: websocket\r\nX-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n' +
        'X-Forwarded-Host: evil.example\r\nX-Custom: kept\r\n\r\n',
    );
    assert.equal(res.status, 200, res.raw);
    const echo = JSON.parse(res.body) as Echo;
    for (const h of ['x-secret-hop', 'proxy-authorization', 'te', 'upgrade']) assert.equal(echo.headers[h], undefined, h);
    assert.equal(echo.headers['x-custom'], 'kept');
    // The client is not a trusted proxy: its forwarding headers are replaced, not extended.
    assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(echo.headers['x-forwarded-proto'], 'http');
    assert.equal(echo.headers['x-forwarded-host'], 'api.test');
    assert.equal(echo.headers.forwarded, 'for=127.0.0.1;proto=http;host="api.test"');
  });

  it('removes upstream banners and connection-specific response headers', async () => {
    const res = await request(`${gw.url}/banner`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers.server, undefined);
    assert.equal(res.headers['x-powered-by'], undefined);
    assert.equal(res.headers['x-upstream-secret'], undefined);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['x-frame-options'], 'DENY');
    await res.body.dump();
  });

  it('generates a request id, sends it upstream and back, and ignores one from an untrusted client', async () => {
    const res = await request(`${gw.url}/id`, { headers: { 'x-request-id': 'client-chosen-id' } });
    const echo = (await res.body.json()) as Echo;
    const id = res.headers['x-request-id'] as string;
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(echo.headers['x-request-id'], id);
    const events = await gw.waitEvents(1);
    assert.ok(events.some((e) => e.requestId === id), 'the audit event carries the same id');
  });
});

describe('proxy: trusted proxies', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(passthroughConfig(up.url, 'trustedProxies: [127.0.0.1]\n'));
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  it('takes the client IP from X-Forwarded-For and keeps the request id when the peer is trusted', async () => {
    const res = await request(`${gw.url}/t`, {
      headers: { 'x-forwarded-for': '203.0.113.9, 127.0.0.1', 'x-request-id': 'lb-1234', 'x-forwarded-proto': 'https' },
    });
    const echo = (await res.body.json()) as Echo;
    assert.equal(res.headers['x-request-id'], 'lb-1234');
    assert.equal(echo.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1, 127.0.0.1');
    assert.equal(echo.headers['x-forwarded-proto'], 'https');
    assert.match(echo.headers.forwarded!, /for=203\.0\.113\.9;proto=https/);
    const events = await gw.waitEvents(1);
    assert.equal(events.at(-1)!.clientIp, '203.0.113.9');
  });
});

describe('proxy: upstream failures', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(`version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { enabled: false }
upstreams:
  fast: { url: ${up.url}, headersTimeoutMs: 300, totalTimeoutMs: 2000 }
  down: { url: http://127.0.0.1:1, connectTimeoutMs: 500 }
routes:
  - { name: fast, methods: [GET], path: '/*', upstream: fast, public: true }
  - { name: down, methods: [GET], path: '/down/*', upstream: down, public: true }
`);
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  function assertProblem(body: Record<string, unknown>, code: string, status: number): void {
    assert.equal(body.code, code);
    assert.equal(body.status, status);
    assert.equal(body.type, `https://portcullis.dev/errors/${code}`);
    const text = JSON.stringify(body);
    assert.doesNotMatch(text, /127\.0\.0\.1|ECONN|undici|stack|at /, 'no internal detail');
  }

  it('answers 502 upstream_unavailable when the upstream refuses connections', async () => {
    const res = await request(`${gw.url}/down/x`);
    assert.equal(res.statusCode, 502);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    assertProblem((await res.body.json()) as Record<string, unknown>, 'upstream_unavailable', 502);
  });

  it('answers 504 upstream_timeout when the upstream is too slow', async () => {
    const res = await request(`${gw.url}/hang`);
    assert.equal(res.statusCode, 504);
    assertProblem((await res.body.json()) as Record<string, unknown>, 'upstream_timeout', 504);
  });

  it('answers 502 upstream_bad_response when the upstream does not speak HTTP', async () => {
    const { createServer } = await import('node:net');
    const junk = createServer((sock) => {
      sock.on('data', () => sock.end('SSH-2.0-OpenSSH_9.0\r\n\r\n'));
    }).listen(0, '127.0.0.1');
    await new Promise((r) => junk.once('listening', r));
    const port = (junk.address() as { port: number }).port;
    const other = await startTestGateway(passthroughConfig(`http://127.0.0.1:${port}`));
    try {
      const res = await request(`${other.url}/x`);
      assert.equal(res.statusCode, 502);
      assertProblem((await res.body.json()) as Record<string, unknown>, 'upstream_bad_response', 502);
    } finally {
      await other.close();
      junk.close();
    }
  });

  it('answers 502 when the upstream drops the connection', async () => {
    const res = await request(`${gw.url}/drop`);
    assert.equal(res.statusCode, 502);
    assertProblem((await res.body.json()) as Record<string, unknown>, 'upstream_unavailable', 502);
  });
});

describe('routing from OpenAPI, deny by default, API keys', () => {
  let up: Upstream;
  let gw: TestGateway;
  const aliceKey = 'alice-secret-key-0123456789';
  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(
      `version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { enabled: false }
limits: { maxBodyBytes: 1024 }
identity:
  apiKeys:
    keys:
      - { id: alice-key, sha256: ${hashApiKey(aliceKey)}, owner: u-1001, scopes: [notes] }
      - { id: old-key, sha256: ${hashApiKey('expired-key')}, expiresAt: '2020-01-01T00:00:00Z' }
apis:
  - name: notes
    spec: ./openapi.yaml
    upstream: ${up.url}/backend
    stripBasePath: true
`,
      { 'openapi.yaml': SPEC },
    );
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  it('forwards a declared operation with a valid key, strips the base path and adds the upstream prefix', async () => {
    const res = await request(`${gw.url}/v1/notes/n-1?full=1`, { headers: { 'x-api-key': aliceKey } });
    assert.equal(res.statusCode, 200);
    const echo = (await res.body.json()) as Echo;
    assert.equal(echo.url, '/backend/notes/n-1?full=1');
    assert.equal(echo.headers['x-api-key'], aliceKey, 'the credential still reaches the API');
    assert.equal(res.headers['cache-control'], 'no-store', 'authenticated responses are not cacheable');
    const events = await gw.waitEvents(1);
    const e = events.at(-1)!;
    assert.equal(e.route, 'notes:getNote');
    assert.deepEqual(e.principal, { id: 'u-1001', type: 'api-key', credentialId: 'alice-key' });
    assert.doesNotMatch(JSON.stringify(events), new RegExp(aliceKey), 'the key never reaches the audit log');
  });

  it('refuses a request without credentials with 401 and WWW-Authenticate, without forwarding', async () => {
    const before = up.seen.length;
    const res = await request(`${gw.url}/v1/notes/n-1`);
    assert.equal(res.statusCode, 401);
    assert.match(res.headers['www-authenticate'] as string, /^ApiKey realm="portcullis", header="x-api-key"/);
    const body = (await res.body.json()) as Record<string, unknown>;
    assert.equal(body.code, 'unauthenticated');
    assert.match(String(body.requestId), /^[0-9a-f-]{36}$/);
    assert.equal(up.seen.length, before);
  });

  it('refuses a wrong key and an expired key with invalid_api_key', async () => {
    for (const key of ['wrong', 'expired-key']) {
      const res = await request(`${gw.url}/v1/notes/n-1`, { headers: { 'x-api-key': key } });
      assert.equal(res.statusCode, 401);
      assert.equal(((await res.body.json()) as { code: string }).code, 'invalid_api_key');
    }
  });

  it('lets an operation with `security: []` through without credentials', async () => {
    const res = await request(`${gw.url}/v1/health`);
    assert.equal(res.statusCode, 200);
    assert.equal(((await res.body.json()) as Echo).url, '/backend/health');
  });

  it('answers 404 route_not_found for undeclared paths and 405 with Allow for undeclared methods, forwarding neither', async () => {
    const before = up.seen.length;
    const r404 = await request(`${gw.url}/v1/admin`, { headers: { 'x-api-key': aliceKey } });
    assert.equal(r404.statusCode, 404);
    assert.equal(((await r404.body.json()) as { code: string }).code, 'route_not_found');
    const r405 = await request(`${gw.url}/v1/notes/n-1`, { method: 'PUT', body: '{}', headers: { 'x-api-key': aliceKey } });
    assert.equal(r405.statusCode, 405);
    assert.equal(r405.headers.allow, 'DELETE, GET');
    assert.equal(((await r405.body.json()) as { code: string }).code, 'method_not_allowed');
    assert.equal(up.seen.length, before);
  });

  it('refuses a body over the limit with 413, by Content-Length and by counting a chunked body', async () => {
    const big = 'x'.repeat(2000);
    const r1 = await request(`${gw.url}/v1/notes`, { method: 'POST', body: big, headers: { 'x-api-key': aliceKey } });
    assert.equal(r1.statusCode, 413);
    assert.equal(((await r1.body.json()) as { code: string }).code, 'body_too_large');
    const { Readable } = await import('node:stream');
    const r2 = await request(`${gw.url}/v1/notes`, {
      method: 'POST',
      body: Readable.from([Buffer.from(big.slice(0, 800)), Buffer.from(big.slice(800))]),
      headers: { 'x-api-key': aliceKey },
    });
    assert.equal(r2.statusCode, 413);
    await r2.body.dump();
  });
});

describe('proxy: streaming edge cases (the exchange as undici handler)', () => {
  let up: Upstream;
  let gw: TestGateway;
  const upstreamClosed: string[] = [];
  const BIG = 8 * 1024 * 1024;
  before(async () => {
    up = await startUpstream((req, res) => {
      const url = new URL(req.url ?? '/', 'http://u');
      res.on('close', () => upstreamClosed.push(url.pathname));
      if (url.pathname === '/big') {
        // 8 MiB in 64 KiB chunks, honouring back-pressure.
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BIG) });
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        let sent = 0;
        const pump = (): void => {
          while (sent < BIG) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
      } else if (url.pathname.endsWith('/drip')) {
        // Headers at once, then a chunk every 50 ms, never ending on its own.
        res.writeHead(200, { 'content-type': 'text/plain' });
        const t = setInterval(() => res.write('x\n'), 50);
        res.on('close', () => clearInterval(t));
      } else if (url.pathname === '/late') {
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('late');
        }, 1500);
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      }
    });
    gw = await startTestGateway(`version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { enabled: false }
upstreams:
  u: { url: ${up.url}, headersTimeoutMs: 5000, bodyTimeoutMs: 5000, totalTimeoutMs: 600 }
  patient: { url: ${up.url}, totalTimeoutMs: 20000 }
routes:
  - { name: big, methods: [GET], path: '/big', upstream: patient, public: true }
  - { name: cut, methods: [GET], path: '/cut/*', upstream: patient, public: true }
  - { name: all, methods: [GET], path: '/*', upstream: u, public: true }
`);
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  it('streams a large body to a slow reader intact (back-pressure), and records its size', async () => {
    const { connect } = await import('node:net');
    const socket = connect(gw.port, '127.0.0.1');
    socket.write('GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    let received = 0;
    socket.pause();
    // Read slowly at first so the gateway's writes back up, then drain.
    await new Promise((r) => setTimeout(r, 300));
    socket.resume();
    socket.on('data', (c: Buffer) => (received += c.length));
    await new Promise((r) => socket.once('close', r));
    assert.ok(received > BIG && received < BIG + 1024, `headers + 8 MiB body, got ${received}`);
    const events = await gw.waitEvents(1);
    const e = events.find((x) => x.path === '/big')!;
    assert.equal(e.status, 200);
    assert.equal(e.outcome, 'allowed');
    assert.equal(e.bytesOut, BIG);
  });

  it('a total timeout passing mid-body cuts the response and records upstream_timeout', async () => {
    const started = Date.now();
    const res = await request(`${gw.url}/drip`);
    assert.equal(res.statusCode, 200);
    const err = await res.body.text().then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(err !== undefined, 'the body is cut, not ended cleanly');
    const took = Date.now() - started;
    assert.ok(took >= 550 && took < 4000, `cut at the total timeout (600 ms), took ${took} ms`);
    const events = await gw.waitEvents(2);
    const e = events.find((x) => x.path === '/drip')!;
    assert.equal(e.outcome, 'error');
    assert.equal(e.code, 'upstream_timeout');
  });

  it('a total timeout passing before the headers answers 504', async () => {
    const res = await request(`${gw.url}/late`);
    assert.equal(res.statusCode, 504);
    assert.equal(((await res.body.json()) as { code: string }).code, 'upstream_timeout');
  });

  it('a client that goes away mid-body is recorded as 499 and the upstream exchange is aborted', async () => {
    const { connect } = await import('node:net');
    const before = upstreamClosed.filter((p) => p === '/cut/drip').length;
    const socket = connect(gw.port, '127.0.0.1');
    socket.write('GET /cut/drip HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => socket.once('data', r));
    socket.destroy();
    const deadline = Date.now() + 3000;
    while (upstreamClosed.filter((p) => p === '/cut/drip').length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(upstreamClosed.filter((p) => p === '/cut/drip').length, before + 1, 'the upstream saw its request end');
    const events = await gw.waitEvents(4);
    const e = events.find((x) => x.path === '/cut/drip')!;
    assert.equal(e.status, 499);
    assert.equal(e.outcome, 'error');
    assert.equal(e.reason, 'client closed the connection');
  });

  it('leaves no exchange behind: after bursts of finished, failed and abandoned requests every deadline list is empty', async () => {
    const { connect } = await import('node:net');
    const burst = await Promise.all(Array.from({ length: 200 }, (_, i) => request(`${gw.url}/ok-${i}`).then((r) => r.body.text().then(() => r.statusCode))));
    assert.ok(burst.every((st) => st === 200));
    await Promise.all([request(`${gw.url}/late`).then((r) => r.body.text()), request(`${gw.url}/drip`).then((r) => r.body.text().catch(() => ''))]);
    for (let i = 0; i < 20; i++) {
      const socket = connect(gw.port, '127.0.0.1');
      socket.write('GET /cut/drip HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise((r) => socket.once('data', r));
      socket.destroy();
    }
    const pools = gw.handle.gateway.runtime.pools;
    const deadline = Date.now() + 3000;
    const sizes = () => [...pools.values()].map((p) => p.deadlines.size);
    while (sizes().some((n) => n > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(sizes(), [0, 0]);
    assert.equal(gw.handle.gateway.inflight, 0);
  });
});
