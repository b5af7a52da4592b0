import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { Agent, request } from 'undici';
import { FIXTURES, startTestGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';

const tls = join(FIXTURES, 'tls');
const ca = readFileSync(join(tls, 'ca.crt'));
const clientCert = readFileSync(join(tls, 'client.crt'));
const clientKey = readFileSync(join(tls, 'client.key'));
const rogueCert = readFileSync(join(tls, 'rogue.crt'));
const rogueKey = readFileSync(join(tls, 'rogue.key'));

function config(upstream: string, clientCertificate: 'none' | 'optional' | 'required', extra = ''): string {
  return `version: 1
listeners:
  - name: https
    port: 0
    host: 127.0.0.1
    tls:
      certFile: ${join(tls, 'server.crt')}
      keyFile: ${join(tls, 'server.key')}
      clientCaFile: ${join(tls, 'ca.crt')}
      clientCertificate: ${clientCertificate}
  - name: plain
    port: 0
    host: 127.0.0.1
admin: { enabled: false }
tls:
  required: true
  hsts: { maxAgeSeconds: 63072000, includeSubDomains: true }
${extra}
routes:
  - { name: all, methods: [GET, POST], path: '/*', upstream: ${upstream}, public: true }
`;
}

function h2get(port: number, path: string, opts: { cert?: Buffer; key?: Buffer } = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`https://localhost:${port}`, { ca, ...opts });
    session.on('error', reject);
    const req = session.request({ ':path': path, ':method': 'GET' });
    let body = '';
    let headers: Record<string, unknown> = {};
    req.on('response', (h) => (headers = h));
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const alpn = session.alpnProtocol ?? false;
      session.close();
      if (headers[':status'] === undefined) return reject(new Error(`stream closed without a response (rst ${req.rstCode})`));
      resolve({ status: Number(headers[':status']), headers, body, alpn });
    });
    req.on('error', reject);
    req.on('close', () => {
      if (headers[':status'] === undefined) {
        session.destroy();
        reject(new Error(`stream closed without a response (rst ${req.rstCode})`));
      }
    });
  });
}

describe('TLS listener: HTTPS, HTTP/2 via ALPN, HSTS, plain HTTP refused', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(config(up.url, 'none'));
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  it('serves HTTPS/1.1 with HSTS, X-Forwarded-Proto https', async () => {
    const agent = new Agent({ connect: { ca, servername: 'localhost' } });
    const res = await request(`https://localhost:${gw.ports[0]}/x`, { dispatcher: agent });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains');
    const echo = (await res.body.json()) as { headers: Record<string, string> };
    assert.equal(echo.headers['x-forwarded-proto'], 'https');
    await agent.close();
  });

  it('negotiates HTTP/2 through ALPN and proxies to the HTTP/1.1 upstream', async () => {
    const res = await h2get(gw.ports[0]!, '/h2?q=1');
    assert.equal(res.alpn, 'h2');
    assert.equal(res.status, 200);
    assert.equal(res.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains');
    const echo = JSON.parse(res.body) as { url: string; headers: Record<string, string> };
    assert.equal(echo.url, '/h2?q=1');
    assert.equal(echo.headers['x-forwarded-host'], `localhost:${gw.ports[0]}`);
    for (const name of Object.keys(echo.headers)) assert.ok(!name.startsWith(':'), 'no pseudo-headers upstream');
  });

  it('refuses TLS 1.1 clients', async () => {
    await assert.rejects(
      new Promise((resolve, reject) => {
        const s = tlsConnect({ port: gw.ports[0]!, host: '127.0.0.1', ca, servername: 'localhost', minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1' }, () => resolve(s));
        s.on('error', reject);
      }),
    );
  });

  it('refuses plain HTTP when TLS is required, without forwarding', async () => {
    const before = up.seen.length;
    const res = await request(`http://127.0.0.1:${gw.ports[1]}/x`);
    assert.equal(res.statusCode, 403);
    assert.equal(((await res.body.json()) as { code: string }).code, 'https_required');
    assert.equal(res.headers['strict-transport-security'], undefined, 'no HSTS over plain HTTP');
    assert.equal(up.seen.length, before);
  });
});

describe('TLS: redirect plain HTTP', () => {
  let up: Upstream;
  let gw: TestGateway;
  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(config(up.url, 'none').replace('  required: true\n', '  required: true\n  redirectHttp: true\n  httpsPort: 8443\n'));
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  it('redirects GET to https with 308 and refuses POST', async () => {
    const res = await request(`http://127.0.0.1:${gw.ports[1]}/path?q=1`, { headers: { host: 'api.example.com:8080' } });
    assert.equal(res.statusCode, 308);
    assert.equal(res.headers.location, 'https://api.example.com:8443/path?q=1');
    await res.body.dump();
    const post = await request(`http://127.0.0.1:${gw.ports[1]}/path`, { method: 'POST', body: 'x' });
    assert.equal(post.statusCode, 403);
    await post.body.dump();
  });
});

describe('mTLS', () => {
  let up: Upstream;
  let required: TestGateway;
  let optional: TestGateway;
  before(async () => {
    up = await startUpstream();
    required = await startTestGateway(config(up.url, 'required'));
    optional = await startTestGateway(config(up.url, 'optional'));
  });
  after(async () => {
    await required.close();
    await optional.close();
    await up.close();
  });

  it('required: a client without a certificate cannot complete a request', async () => {
    await assert.rejects(h2get(required.ports[0]!, '/x'));
  });

  it('required: a certificate from another CA is refused in the handshake', async () => {
    await assert.rejects(h2get(required.ports[0]!, '/x', { cert: rogueCert, key: rogueKey }));
  });

  it('required: a valid client certificate passes and becomes the client identity in the audit event', async () => {
    const res = await h2get(required.ports[0]!, '/who', { cert: clientCert, key: clientKey });
    assert.equal(res.status, 200);
    const events = await required.waitEvents(1);
    const e = events.find((ev) => ev.path === '/who')!;
    assert.match((e.clientCert as { subject: string }).subject, /CN=client-alice/);
  });

  it('optional: no certificate passes; an untrusted one is refused with client_certificate_invalid', async () => {
    const none = await h2get(optional.ports[0]!, '/x');
    assert.equal(none.status, 200);
    const before = up.seen.length;
    const rogue = await h2get(optional.ports[0]!, '/x', { cert: rogueCert, key: rogueKey });
    assert.equal(rogue.status, 401);
    assert.equal((JSON.parse(rogue.body) as { code: string }).code, 'client_certificate_invalid');
    assert.equal(up.seen.length, before);
  });
});
