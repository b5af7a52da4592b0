/**
 * Protocol attacks against the listener, over raw sockets: request smuggling, header and URL
 * limits, slow clients, path tricks. Each must be refused and nothing may reach the upstream.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { passthroughConfig, rawRequest, startTestGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';

describe('connection limit', () => {
  it('closes connections beyond limits.maxConnections at once, and serves again when one frees up', async () => {
    const up = await startUpstream();
    const gw = await startTestGateway(passthroughConfig(up.url, 'limits: { maxConnections: 2 }\n'));
    try {
      const open = [connect(gw.port, '127.0.0.1'), connect(gw.port, '127.0.0.1')];
      await Promise.all(open.map((s) => once(s, 'connect')));
      await new Promise((r) => setTimeout(r, 50));
      const third = connect(gw.port, '127.0.0.1');
      third.on('error', () => undefined);
      await once(third, 'close');
      open[0]!.destroy();
      await new Promise((r) => setTimeout(r, 50));
      const res = await rawRequest(gw.port, 'GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      assert.equal(res.status, 200);
      open[1]!.destroy();
    } finally {
      await gw.close();
      await up.close();
    }
  });
});

describe('limits.encodedSlashes: keep', () => {
  it('routes and forwards %2F inside a segment as sent; dot and empty segments behind it are still refused', async () => {
    const up = await startUpstream();
    const gw = await startTestGateway(passthroughConfig(up.url, 'limits: { encodedSlashes: keep }\n'));
    const reject = await startTestGateway(passthroughConfig(up.url));
    try {
      const code = (body: string) => (JSON.parse(body) as { code: string }).code;
      for (const path of ['/api/v4/projects/platform%2Fbilling-service/issues', '/@acme%2fsafe-sql', '/files/a%5Cb.txt']) {
        const res = await rawRequest(gw.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        assert.equal(res.status, 200, `${path}: ${res.raw.slice(0, 200)}`);
        assert.equal((JSON.parse(res.body) as { url: string }).url, path, 'forwarded exactly as received');
        const refused = await rawRequest(reject.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        assert.equal(refused.status, 400, 'the default refuses it');
        assert.equal(code(refused.body), 'path_not_normalized');
      }
      for (const path of ['/public/..%2Fadmin', '/public/%2E%2E%2Fadmin', '/a/.%2Fb', '/a%2F%2Fb', '/a/%2F..']) {
        const res = await rawRequest(gw.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        assert.equal(res.status, 400, `${path}: ${res.raw.slice(0, 200)}`);
        assert.equal(code(res.body), 'path_not_normalized');
      }
    } finally {
      await gw.close();
      await reject.close();
      await up.close();
    }
  });
});

describe('protocol: smuggling, limits, slow clients, path normalization', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(
      passthroughConfig(
        up.url,
        `limits:
  maxHeaderCount: 20
  maxHeaderBytes: 4096
  maxUrlLength: 256
  headersTimeoutMs: 400
  requestTimeoutMs: 800
`,
      ),
    );
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  function problemCode(body: string): string {
    return (JSON.parse(body) as { code: string }).code;
  }

  it('a request line claiming HTTP/2.0 (or 0.9, 3.0) on an HTTP/1 connection is refused and the gateway keeps serving', async () => {
    for (const version of ['HTTP/2.0', 'HTTP/3.0', 'HTTP/0.9']) {
      const res = await rawRequest(gw.port, `GET /a ${version}\r\nHost: localhost\r\n\r\n`);
      if (res.status !== 0) {
        assert.equal(res.status, 400, version);
        assert.equal(problemCode(res.body), 'malformed_request');
      }
      assert.equal(up.seen.filter((s) => s.url === '/a').length, 0, `${version} never forwarded`);
    }
    const ok = await rawRequest(gw.port, 'GET /still-up HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(ok.status, 200);
  });

  const smuggling: [string, string, string][] = [
    [
      'Content-Length together with Transfer-Encoding',
      'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
      'ambiguous_framing',
    ],
    ['two different Content-Length fields', 'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc', 'ambiguous_framing'],
    ['two equal Content-Length fields', 'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc', 'ambiguous_framing'],
    ['a Transfer-Encoding other than chunked', 'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 'ambiguous_framing'],
    ['an obfuscated Transfer-Encoding', 'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n', 'malformed_request'],
    ['an invalid chunk size', 'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n', 'malformed_request'],
    ['a bare LF in the request line', 'GET /a HTTP/1.1\nHost: x\r\n\r\n', 'malformed_request'],
  ];
  for (const [name, payload, code] of smuggling) {
    it(`refuses ${name} with 400 ${code}, closes the connection, forwards nothing`, async () => {
      const before = up.seen.length;
      const res = await rawRequest(gw.port, payload);
      assert.equal(res.status, 400, res.raw);
      assert.equal(res.headers['content-type'], 'application/problem+json');
      assert.equal(problemCode(res.body), code);
      assert.ok(res.closed, 'connection closed');
      assert.equal(up.seen.length, before, 'nothing reached the upstream');
    });
  }

  it('refuses too many header fields with 431', async () => {
    let headers = '';
    for (let i = 0; i < 25; i++) headers += `X-H${i}: v\r\n`;
    const res = await rawRequest(gw.port, `GET /a HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);
    assert.equal(res.status, 431);
    assert.equal(problemCode(res.body), 'headers_too_large');
  });

  it('refuses a header section over maxHeaderBytes with 431 and closes', async () => {
    const res = await rawRequest(gw.port, `GET /a HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`);
    assert.equal(res.status, 431);
    assert.equal(problemCode(res.body), 'headers_too_large');
    assert.ok(res.closed);
  });

  it('refuses a URL over maxUrlLength with 414', async () => {
    const res = await rawRequest(gw.port, `GET /${'a'.repeat(300)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal(res.status, 414);
    assert.equal(problemCode(res.body), 'uri_too_long');
  });

  it('answers 408 and closes a connection that sends its headers too slowly (slowloris)', async () => {
    const socket = connect(gw.port, '127.0.0.1');
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.write('GET /a HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => socket.writable && socket.write('X-Drip: 1\r\n'), 100);
    const started = Date.now();
    await once(socket, 'close');
    clearInterval(drip);
    const elapsed = Date.now() - started;
    const raw = Buffer.concat(chunks).toString();
    assert.match(raw, /^HTTP\/1\.1 408/);
    assert.equal(problemCode(raw.slice(raw.indexOf('\r\n\r\n') + 4)), 'request_timeout');
    assert.ok(elapsed < 3000, `closed after ${elapsed} ms`);
  });

  it('closes a connection whose body arrives too slowly', async () => {
    const socket = connect(gw.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc');
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    const started = Date.now();
    await once(socket, 'close');
    assert.ok(Date.now() - started < 4000);
  });

  const paths: [string, string][] = [
    ['/a/../admin', 'path_not_normalized'],
    ['/a/./b', 'path_not_normalized'],
    ['/a/%2e%2e/admin', 'path_not_normalized'],
    ['/a/%2E%2e/admin', 'path_not_normalized'],
    ['/a/..;/admin', 'path_not_normalized'],
    ['/a/%c0%ae%c0%ae/admin', 'path_not_normalized'],
    ['/a%2fb', 'path_not_normalized'],
    ['/a%5cb', 'path_not_normalized'],
    ['/a\\b', 'path_not_normalized'],
    ['/a//b', 'path_not_normalized'],
    ['/a%00b', 'path_not_normalized'],
    ['/a%0d%0aSet-Cookie:x', 'path_not_normalized'],
    ['/a/%C3x', 'path_not_normalized'],
    ['/a/%E8%BF-p1.html', 'path_not_normalized'],
    ['/a/%C0%AE%C0%AE/b', 'path_not_normalized'],
    ['/a%zz', 'malformed_request'],
    ['/a%4', 'malformed_request'],
    ['http://evil.example/a', 'malformed_request'],
  ];
  for (const [path, code] of paths) {
    it(`refuses the path ${JSON.stringify(path)} with 400 ${code} before routing`, async () => {
      const before = up.seen.length;
      const res = await rawRequest(gw.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(res.status, 400, res.raw);
      assert.equal(problemCode(res.body), code);
      assert.equal(up.seen.length, before);
    });
  }

  it('accepts ordinary paths with percent-encoded UTF-8, dots inside names and a trailing slash', async () => {
    for (const path of ['/caf%C3%A9/menu.json', '/caf%C3%A9s/1', '/items/%D0%92%D0%A8-2024-118', '/products/%E8%BF%90%E5%8A%A8%E9%9E%8B-p88123.html', '/a/.well-known/x', '/v1.2/items/', '/a/b..c']) {
      const res = await rawRequest(gw.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(res.status, 200, `${path}: ${res.raw.slice(0, 200)}`);
      assert.equal((JSON.parse(res.body) as { url: string }).url, path, 'forwarded exactly as received');
    }
  });

  it('records protocol refusals in the audit log', async () => {
    await rawRequest(gw.port, 'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    const events = await gw.waitEvents(1);
    assert.ok(events.some((e) => e.code === 'ambiguous_framing' && e.outcome === 'denied' && e.status === 400));
  });
});
