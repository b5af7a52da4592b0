/**
 * The example notes API (examples/api/server.ts) behaves as examples/openapi.yaml says:
 * a real server on port 0 and real requests.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { request } from 'undici';
import { createExampleApi, MAX_BODY_BYTES } from '../examples/api/server.js';

let server: http.Server;
let base: string;

async function call(method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}) {
  const res = await request(base + path, {
    method: method as 'GET',
    body: init.body,
    headers: init.body !== undefined ? { 'content-type': 'application/json', ...init.headers } : init.headers,
  });
  const text = await res.body.text();
  const json = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
  return { status: res.statusCode, headers: res.headers, json };
}

describe('example notes API', () => {
  before(async () => {
    server = createExampleApi();
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  });

  test('GET /v1/health answers ok', async () => {
    const res = await call('GET', '/v1/health');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.equal(res.json?.status, 'ok');
    assert.equal(typeof res.json?.uptimeSeconds, 'number');
  });

  test('GET /v1/users/{userId} returns the profile, email and internal notes included', async () => {
    const res = await call('GET', '/v1/users/u-1001');
    assert.equal(res.status, 200);
    assert.equal(res.json?.id, 'u-1001');
    assert.equal(res.json?.email, 'alice@example.com');
    assert.equal(typeof res.json?.internalNotes, 'string');
  });

  test('an unknown or malformed user id is 404', async () => {
    assert.equal((await call('GET', '/v1/users/u-9999')).status, 404);
    const res = await call('GET', '/v1/users/alice');
    assert.equal(res.status, 404);
    assert.equal(res.json?.error, 'not_found');
  });

  test('GET /v1/users/{userId}/notes lists only that user’s notes', async () => {
    const res = await call('GET', '/v1/users/u-1002/notes');
    assert.equal(res.status, 200);
    const items = res.json?.items as Array<Record<string, unknown>>;
    assert.ok(items.length >= 2);
    assert.equal(res.json?.count, items.length);
    assert.ok(items.every((n) => n.ownerId === 'u-1002' && n.ownerEmail === 'bob@example.com'));
  });

  test('the backend trusts every caller: any note is readable by id', async () => {
    const res = await call('GET', '/v1/notes/n-2001');
    assert.equal(res.status, 200);
    assert.equal(res.json?.ownerId, 'u-1001');
  });

  test('POST, GET, PUT, DELETE a note', async () => {
    const created = await call('POST', '/v1/users/u-1001/notes', {
      body: JSON.stringify({ title: 'Test', body: 'hello', tags: ['t1'] }),
    });
    assert.equal(created.status, 201);
    const id = String(created.json?.id);
    assert.match(id, /^n-\d{4,}$/);
    assert.equal(created.headers.location, `/v1/notes/${id}`);
    assert.deepEqual(created.json?.tags, ['t1']);
    assert.equal(created.json?.ownerId, 'u-1001');

    const read = await call('GET', `/v1/notes/${id}`);
    assert.equal(read.status, 200);
    assert.equal(read.json?.body, 'hello');

    const replaced = await call('PUT', `/v1/notes/${id}`, { body: JSON.stringify({ title: 'Test 2', body: 'bye' }) });
    assert.equal(replaced.status, 200);
    assert.equal(replaced.json?.title, 'Test 2');
    assert.deepEqual(replaced.json?.tags, []);

    const deleted = await call('DELETE', `/v1/notes/${id}`);
    assert.equal(deleted.status, 204);
    assert.equal(deleted.json, undefined);
    assert.equal((await call('GET', `/v1/notes/${id}`)).status, 404);
    assert.equal((await call('DELETE', `/v1/notes/${id}`)).status, 404);
  });

  test('a body that is not JSON is 400 bad_json', async () => {
    const res = await call('POST', '/v1/users/u-1001/notes', { body: '{"title": ' });
    assert.equal(res.status, 400);
    assert.equal(res.json?.error, 'bad_json');
  });

  test('a body with the wrong shape is 400 invalid_body', async () => {
    for (const body of ['[]', '{"body":"x"}', '{"title":"","body":"x"}', '{"title":"a","body":"x","tags":[1]}']) {
      const res = await call('POST', '/v1/users/u-1001/notes', { body });
      assert.equal(res.status, 400, body);
      assert.equal(res.json?.error, 'invalid_body', body);
    }
  });

  test('a non-JSON content type is 415', async () => {
    const res = await call('POST', '/v1/users/u-1001/notes', { body: 'title=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(res.status, 415);
  });

  test('a body over the cap is 413', async () => {
    const big = JSON.stringify({ title: 'big', body: 'x'.repeat(MAX_BODY_BYTES) });
    const res = await call('POST', '/v1/users/u-1001/notes', { body: big });
    assert.equal(res.status, 413);
    assert.equal(res.json?.error, 'body_too_large');
  });

  test('POST to an unknown user is 404', async () => {
    const res = await call('POST', '/v1/users/u-9999/notes', { body: JSON.stringify({ title: 'x', body: 'y' }) });
    assert.equal(res.status, 404);
  });

  test('GET /v1/search finds notes of every user', async () => {
    const res = await call('GET', '/v1/search?q=work');
    assert.equal(res.status, 200);
    const owners = new Set((res.json?.items as Array<Record<string, unknown>>).map((n) => n.ownerId));
    assert.deepEqual([...owners].sort(), ['u-1001', 'u-1002']);
    assert.equal(res.json?.query, 'work');
  });

  test('GET /v1/search validates q and limit', async () => {
    assert.equal((await call('GET', '/v1/search')).status, 400);
    assert.equal((await call('GET', '/v1/search?q=a&limit=0')).status, 400);
    assert.equal((await call('GET', '/v1/search?q=a&limit=abc')).status, 400);
    const one = await call('GET', '/v1/search?q=e&limit=1');
    assert.equal(one.status, 200);
    assert.equal(one.json?.count, 1);
  });

  test('GET /v1/admin/stats answers counts', async () => {
    const res = await call('GET', '/v1/admin/stats');
    assert.equal(res.status, 200);
    assert.equal(res.json?.users, 2);
    assert.equal(typeof res.json?.notes, 'number');
    assert.equal(typeof (res.json?.notesByUser as Record<string, number>)['u-1001'], 'number');
  });

  test('a wrong method is 405 with Allow', async () => {
    const res = await call('DELETE', '/v1/users/u-1001');
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'GET');
    assert.equal(res.json?.error, 'method_not_allowed');
    assert.equal((await call('PATCH', '/v1/notes/n-2001')).headers.allow, 'GET, PUT, DELETE');
  });

  test('unknown routes are 404 JSON', async () => {
    for (const path of ['/', '/v2/health', '/v1/nope', '/v1/users/u-1001/notes/extra']) {
      const res = await call('GET', path);
      assert.equal(res.status, 404, path);
      assert.equal(res.json?.error, 'not_found', path);
    }
  });

  test('POST /v1/login: 200 with the user id for the right password, 401 otherwise, 400 without fields', async () => {
    const ok = await call('POST', '/v1/login', { body: JSON.stringify({ username: 'alice@example.com', password: 'alice-demo-password' }) });
    assert.deepEqual([ok.status, ok.json?.userId], [200, 'u-1001']);
    const bad = await call('POST', '/v1/login', { body: JSON.stringify({ username: 'alice@example.com', password: 'nope' }) });
    assert.deepEqual([bad.status, bad.json?.error], [401, 'invalid_credentials']);
    const unknown = await call('POST', '/v1/login', { body: JSON.stringify({ username: 'mallory@example.com', password: 'x' }) });
    assert.equal(unknown.status, 401);
    assert.equal((await call('POST', '/v1/login', { body: '{}' })).status, 400);
  });
});

