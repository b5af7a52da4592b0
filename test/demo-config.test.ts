/**
 * The demo as a new user meets it: examples/portcullis.yaml and examples/openapi.yaml in front
 * of the example notes API and the demo identity provider, exactly as shipped except for ports
 * (so the test never collides with a demo someone is running). Every request the README and
 * the demo banner show is replayed and its answer asserted.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { createExampleApi } from '../examples/api/server.js';
import { createDemoIdp } from '../examples/idp.js';
import { rawRequest, startTestGateway, type TestGateway } from './helpers.js';

const EXAMPLES = join(process.cwd(), 'examples');

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return (server.address() as AddressInfo).port;
}

describe('the shipped demo config protects the example API as the README says', () => {
  let api: Server;
  let idp: Server;
  let idpPort: number;
  let gw: TestGateway;

  before(async () => {
    api = createExampleApi();
    idp = await createDemoIdp();
    const apiPort = await listen(api);
    idpPort = await listen(idp);
    const port = (s: string) => s.replaceAll('127.0.0.1:3001', `127.0.0.1:${apiPort}`).replaceAll('127.0.0.1:9400', `127.0.0.1:${idpPort}`);
    let config = port(readFileSync(join(EXAMPLES, 'portcullis.yaml'), 'utf8'));
    config = config.replace('host: 0.0.0.0\n    port: 8080', 'host: 127.0.0.1\n    port: 0').replace('  port: 9090\n', '  port: 0\n');
    assert.match(config, /port: 0\n/, 'the listener port was rewritten');
    // The demo IdP issues `iss` with its real port; the config names it by URL.
    gw = await startTestGateway(config, { 'openapi.yaml': port(readFileSync(join(EXAMPLES, 'openapi.yaml'), 'utf8')), 'deny-ips.txt': readFileSync(join(EXAMPLES, 'deny-ips.txt'), 'utf8') });
  });
  after(async () => {
    await gw.close();
    api.closeAllConnections();
    api.close();
    idp.close();
  });

  const call = async (path: string, headers: Record<string, string> = {}, method = 'GET', body?: string) => {
    const res = await request(`${gw.url}${path}`, { method: method as 'GET', headers, body });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, json: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
  };
  const alice = { 'x-api-key': 'demo-key-alice' };

  test('the four README requests: passes, no credentials, attack, malformed', async () => {
    const ok = await call('/v1/users/u-1001/notes', alice);
    assert.equal(ok.status, 200);
    assert.equal((ok.json?.items as unknown[]).length, 3);
    const none = await call('/v1/users/u-1001/notes');
    assert.equal(none.status, 401);
    assert.equal(none.json?.code, 'unauthenticated');
    const traversal = await rawRequest(gw.port, 'GET /v1/users/../admin/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(traversal.status, 400);
    assert.match(traversal.body, /"code":"path_not_normalized"/);
    const smuggle = await rawRequest(
      gw.port,
      'POST /v1/users/u-1001/notes HTTP/1.1\r\nHost: x\r\nx-api-key: demo-key-alice\r\nContent-Type: application/json\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc',
    );
    assert.equal(smuggle.status, 400);
    assert.match(smuggle.body, /"code":"ambiguous_framing"/);
  });

  test('abuse protection: the IP lists are loaded; curl on the public operation is challenged, a browser and API keys are not', async () => {
    const lists = gw.handle.config().ipRules;
    assert.ok(lists.deny?.has('192.0.2.7') && lists.deny.has('198.51.100.66') && lists.deny.has('203.0.113.15') && lists.deny.has('2001:db8:bad::1'));
    assert.ok(!lists.deny?.has('203.0.113.16') && !lists.deny?.has('127.0.0.1'));
    const curl = await call('/v1/health', { 'user-agent': 'curl/8.5.0', accept: '*/*' });
    assert.equal(curl.status, 403);
    assert.equal(curl.json?.code, 'challenge_required');
    assert.equal((curl.json?.challenge as { difficulty: number }).difficulty, 16);
    const browser = await call('/v1/health', {
      'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
      accept: 'application/json',
      'accept-language': 'en',
      'accept-encoding': 'gzip',
    });
    assert.equal(browser.status, 200);
    const keyed = await call('/v1/users/u-1001/notes', { ...alice, 'user-agent': 'curl/8.5.0' });
    assert.equal(keyed.status, 200, 'an authenticated caller is never challenged');
  });

  test('threat detection: the README attacks are refused, the near miss passes', async () => {
    const sqli = await call("/v1/search?q=%27%20OR%20%271%27%3D%271%27--", alice);
    assert.equal(sqli.status, 403);
    assert.equal(sqli.json?.code, 'attack_detected');
    const xss = await call('/v1/users/u-1001/notes', { ...alice, 'content-type': 'application/json' }, 'POST', '{"title":"hi","body":"<img src=x onerror=alert(document.cookie)>"}');
    assert.equal(xss.status, 403);
    assert.equal(xss.json?.code, 'attack_detected');
    const prose = await call('/v1/search?q=O%27Brien%20select%20a%20plan', alice);
    assert.equal(prose.status, 200);
  });

  test('BOLA: alice cannot read, change or delete bob\'s note or list his notes; carol (admin) can', async () => {
    assert.equal((await call('/v1/notes/n-2001', alice)).status, 200);
    assert.equal((await call('/v1/notes/n-2004', alice)).json?.code, 'object_access_denied');
    assert.equal((await call('/v1/notes/n-2004', alice, 'DELETE')).json?.code, 'object_access_denied');
    assert.equal((await call('/v1/users/u-1002/notes', alice)).json?.code, 'object_access_denied');
    assert.equal((await call('/v1/notes/n-2004', { 'x-api-key': 'demo-key-carol' })).status, 200);
    assert.equal((await call('/v1/notes/n-2004', { 'x-api-key': 'demo-key-bob' })).status, 200);
  });

  test('mass assignment: ownerId in a PUT is refused, and the note keeps its owner', async () => {
    const r = await call('/v1/notes/n-2001', { ...alice, 'content-type': 'application/json' }, 'PUT', JSON.stringify({ title: 't', body: 'b', ownerId: 'u-1002' }));
    assert.equal(r.status, 403);
    assert.equal(r.json?.code, 'property_not_writable');
    assert.equal((await call('/v1/notes/n-2001', alice)).json?.ownerId, 'u-1001');
  });

  test('data exposure: internalNotes only for admins; admin stats only for admins', async () => {
    const member = await call('/v1/users/u-1001', alice);
    assert.equal(member.status, 200);
    assert.equal('internalNotes' in (member.json ?? {}), false);
    const admin = await call('/v1/users/u-1001', { 'x-api-key': 'demo-key-carol' });
    assert.equal(typeof admin.json?.internalNotes, 'string');
    assert.equal((await call('/v1/admin/stats', alice)).json?.code, 'role_required');
    assert.equal((await call('/v1/admin/stats', { 'x-api-key': 'demo-key-carol' })).status, 200);
  });

  test('the contract: undeclared query parameters and invalid bodies are refused with their violations', async () => {
    const extra = await call('/v1/search?q=milk&debug=1', alice);
    assert.equal(extra.status, 400);
    assert.equal(extra.json?.code, 'request_invalid');
    assert.deepEqual(extra.json?.errors, [{ location: 'query', name: 'debug', pointer: '', rule: 'undeclared', expected: extra.json && (extra.json.errors as { expected: string }[])[0]!.expected }]);
    const badLimit = await call('/v1/search?q=milk&limit=500', alice);
    assert.equal(badLimit.status, 400);
    const badBody = await call('/v1/users/u-1001/notes', { ...alice, 'content-type': 'application/json' }, 'POST', JSON.stringify({ title: '', body: 'b' }));
    assert.equal(badBody.status, 400);
    assert.match(JSON.stringify(badBody.json?.errors), /"pointer":"\/title","rule":"minLength"/);
    const created = await call('/v1/users/u-1001/notes', { ...alice, 'content-type': 'application/json' }, 'POST', JSON.stringify({ title: 'ok', body: 'b' }));
    assert.equal(created.status, 201);
  });

  test('a JWT from the demo identity provider works like a key, with the same ownership rules', async () => {
    const tokenRes = await request(`http://127.0.0.1:${idpPort}/token?sub=u-1002`);
    const token = (await tokenRes.body.text()).trim();
    const bearer = { authorization: `Bearer ${token}` };
    assert.equal((await call('/v1/users/u-1002/notes', bearer)).status, 200);
    assert.equal((await call('/v1/users/u-1001/notes', bearer)).json?.code, 'object_access_denied');
    const tampered = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    assert.equal((await call('/v1/users/u-1002/notes', { authorization: `Bearer ${tampered}` })).json?.code, 'token_signature_invalid');
  });

  test('rate limits: every answer carries the RateLimit fields of the per-IP limit and the daily quota', async () => {
    const ok = await call('/v1/users/u-1001/notes', alice);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['ratelimit-policy'], '"per-ip";q=300;w=60, "daily";q=10000;w=86400');
    assert.match(String(ok.headers.ratelimit), /^"per-ip";r=\d+;t=\d+, "daily";r=\d+;t=\d+$/);
  });

  test('login protection: wrong passwords, then the gateway makes the guesser wait; the right password works for others', async () => {
    const login = (username: string, password: string) =>
      call('/v1/login', { 'content-type': 'application/json' }, 'POST', JSON.stringify({ username, password }));
    for (let i = 0; i < 3; i++) assert.equal((await login('alice@example.com', `wrong-${i}`)).status, 401);
    const slowed = await login('alice@example.com', 'alice-demo-password');
    assert.equal(slowed.status, 429);
    assert.equal(slowed.json?.code, 'login_throttled');
    assert.ok(Number(slowed.headers['retry-after']) >= 1);
    const bob = await login('bob@example.com', 'bob-demo-password');
    assert.equal(bob.status, 200);
    assert.equal(bob.json?.userId, 'u-1002');
  });
});

