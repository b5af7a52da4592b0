/**
 * Contract enforcement through the whole gateway: request refusals with their violation lists,
 * deprecation and sunset, response validation (monitor and enforce), removal of undeclared
 * response properties, and the leak guard, against a real upstream that misbehaves on request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startTestGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';

const SPEC = `openapi: 3.1.0
info: { title: t, version: '1' }
paths:
  /items/{id}:
    parameters: [{ name: id, in: path, required: true, schema: { type: integer, minimum: 1 } }]
    get:
      operationId: getItem
      parameters:
        - { name: fields, in: query, schema: { type: array, items: { type: string, enum: [name, price] } }, style: form, explode: false }
      responses:
        '200':
          description: ok
          content: { application/json: { schema: { $ref: '#/components/schemas/Item' } } }
    put:
      operationId: putItem
      requestBody:
        required: true
        content: { application/json: { schema: { $ref: '#/components/schemas/Item' } } }
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Item' } } } } }
  /strict-response:
    get:
      operationId: strictResponse
      x-portcullis-response-filter: report
      responses: { '200': { description: ok, content: { application/json: { schema: { $ref: '#/components/schemas/Item' } } } } }
  /old:
    get:
      operationId: oldOne
      deprecated: true
      x-portcullis-sunset: '2099-01-01T00:00:00Z'
      responses: { '200': { description: ok } }
  /gone:
    get:
      operationId: goneOne
      deprecated: true
      x-portcullis-sunset: '2020-01-01T00:00:00Z'
      responses: { '200': { description: ok } }
  /profile:
    post:
      operationId: postProfile
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [name]
              properties:
                name: { type: string }
                address: { type: object, required: [city], properties: { city: { type: string }, zip: { type: integer } } }
                ids: { type: array, items: { type: integer } }
            encoding:
              address: { style: deepObject }
              ids: { explode: false }
      responses: { '200': { description: ok } }
  /upload:
    post:
      operationId: upload
      requestBody:
        content:
          multipart/form-data:
            schema:
              type: object
              properties:
                title: { type: string }
                meta: { type: object, properties: { a: { type: integer } } }
                file: { type: string, format: binary }
      responses: { '200': { description: ok } }
  /debug:
    get:
      operationId: debug
      responses: { '200': { description: ok, content: { text/plain: { schema: { type: string } } } } }
components:
  schemas:
    Item:
      type: object
      required: [name]
      properties:
        id: { type: integer, readOnly: true }
        name: { type: string, maxLength: 20 }
        price: { type: number, minimum: 0 }
`;

function config(upstream: string, validate: 'monitor' | 'enforce'): string {
  return `version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { enabled: false }
apis:
  - name: shop
    spec: ./openapi.yaml
    upstream: ${upstream}
    public: true
    contract:
      responses: { validate: ${validate} }
`;
}

/** What the upstream answers, set per test. */
let answer: { status: number; type: string; body: string } = { status: 200, type: 'application/json', body: '{"name":"pen"}' };

describe('contract enforcement through the gateway', () => {
  let up: Upstream;
  let gw: TestGateway;
  let enforcing: TestGateway;

  before(async () => {
    up = await startUpstream((_req, res) => {
      res.writeHead(answer.status, { 'content-type': answer.type }).end(answer.body);
    });
    gw = await startTestGateway(config(up.url, 'monitor'), { 'openapi.yaml': SPEC });
    enforcing = await startTestGateway(config(up.url, 'enforce'), { 'openapi.yaml': SPEC });
  });
  after(async () => {
    await gw.close();
    await enforcing.close();
    await up.close();
  });

  const call = async (g: TestGateway, path: string, init: { method?: string; body?: string; type?: string } = {}) => {
    const res = await request(`${g.url}${path}`, {
      method: (init.method ?? 'GET') as 'GET',
      body: init.body,
      headers: init.type === undefined ? {} : { 'content-type': init.type },
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text, json: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };

  test('requests: each violation listed by location, name, pointer and rule, never the value; nothing forwarded', async () => {
    const before = up.seen.length;
    const r = await call(gw, '/items/0?fields=name,colour');
    assert.equal(r.status, 400);
    assert.equal(r.json?.code, 'request_invalid');
    const errors = r.json?.errors as { location: string; name: string; pointer: string; rule: string }[];
    assert.deepEqual(
      errors.map((e) => `${e.location} ${e.name}${e.pointer} ${e.rule}`).sort(),
      ['path id minimum', 'query fields/1 enum'],
    );
    assert.equal(r.text.includes('colour'), false);
    const body = await call(gw, '/items/3', { method: 'PUT', type: 'application/json', body: '{"name":"a-name-that-is-far-too-long","price":-1,"extra":true}' });
    assert.equal(body.status, 400);
    assert.deepEqual(
      (body.json?.errors as { pointer: string; rule: string }[]).map((e) => `${e.pointer} ${e.rule}`).sort(),
      ['/extra undeclared', '/name maxLength', '/price minimum'],
    );
    assert.equal((await call(gw, '/items/3', { method: 'PUT', type: 'text/plain', body: 'x' })).json?.code, 'unsupported_media_type');
    assert.equal((await call(gw, '/items/3', { method: 'PUT', type: 'application/json', body: '{"name":"x","__proto__":{"a":1}}' })).status, 400);
    assert.equal(up.seen.length, before, 'no refused request reached the upstream');
  });

  test('valid requests pass', async () => {
    answer = { status: 200, type: 'application/json', body: '{"name":"pen","price":2}' };
    const r = await call(gw, '/items/7?fields=name,price');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { name: 'pen', price: 2 });
  });

  test('form bodies: deepObject members and delimited arrays pass unchanged; bad brackets and undeclared members are refused', async () => {
    answer = { status: 200, type: 'application/json', body: '{}' };
    const FORM = 'application/x-www-form-urlencoded';
    const good = 'name=Ada&address%5Bcity%5D=Paris&address[zip]=75001&ids=1,2';
    const before = up.seen.length;
    assert.equal((await call(gw, '/profile', { method: 'POST', type: FORM, body: good })).status, 200);
    assert.equal(up.seen.length, before + 1);
    assert.equal(up.seen.at(-1)?.body.toString(), good, 'forwarded as sent');
    const refusals: [string, string][] = [
      ['name=Ada&address[city][x]=Paris', '/address[city][x] style'],
      ['name=Ada&address[city=Paris', '/address[city style'],
      ['name[]=Ada', '/name style'],
      ['name=Ada&address[city]=Paris&address[planet]=Mars', '/address/planet undeclared'],
      ['name=Ada&address[zip]=75001', '/address/city required'],
      ['name=Ada&ids=1&ids=2', '/ids style'],
    ];
    for (const [body, want] of refusals) {
      const r = await call(gw, '/profile', { method: 'POST', type: FORM, body });
      assert.equal(r.status, 400, body);
      assert.equal(r.headers['content-type'], 'application/problem+json');
      assert.equal(r.json?.code, 'request_invalid');
      const errors = r.json?.errors as { location: string; pointer: string; rule: string }[];
      assert.deepEqual(errors.map((e) => `${e.pointer} ${e.rule}`), [want], body);
      assert.ok(errors.every((e) => e.location === 'body'));
      assert.equal(r.text.includes('Mars'), false);
    }
    assert.equal(up.seen.length, before + 1, 'no refused form reached the upstream');
  });

  test('multipart parts without encoding take their schema\'s default type: text, JSON, any file type', async () => {
    answer = { status: 200, type: 'application/json', body: '{}' };
    const B = 'b0undary';
    const part = (name: string, type: string | undefined, body: string, filename?: string) =>
      `--${B}\r\nContent-Disposition: form-data; name="${name}"${filename ? `; filename="${filename}"` : ''}\r\n${type ? `Content-Type: ${type}\r\n` : ''}\r\n${body}\r\n`;
    const send = (...parts: string[]) => call(gw, '/upload', { method: 'POST', type: `multipart/form-data; boundary=${B}`, body: `${parts.join('')}--${B}--\r\n` });
    const before = up.seen.length;
    assert.equal((await send(part('title', undefined, 'hello'), part('meta', 'application/json', '{"a":1}'), part('file', 'application/x-anything', 'bytes', 'f.bin'))).status, 200);
    assert.equal(up.seen.length, before + 1);
    for (const [parts, want] of [
      [[part('title', 'application/json', '"hello"')], '/title contentType'],
      [[part('meta', 'text/plain', '{"a":1}')], '/meta contentType'],
      [[part('meta', 'application/json', '{"a":"one"}')], '/meta/a type'],
    ] as [string[], string][]) {
      const r = await send(...parts);
      assert.equal(r.status, 400);
      assert.equal(r.json?.code, 'request_invalid');
      assert.deepEqual((r.json?.errors as { pointer: string; rule: string }[]).map((e) => `${e.pointer} ${e.rule}`), [want]);
    }
    assert.equal(up.seen.length, before + 1, 'no refused part reached the upstream');
  });

  test('deprecated operations announce it and are marked in every event; after the sunset they are gone', async () => {
    const old = await call(gw, '/old');
    assert.equal(old.status, 200);
    assert.equal(old.headers.deprecation, 'true');
    assert.equal(old.headers.sunset, 'Thu, 01 Jan 2099 00:00:00 GMT');
    const gone = await call(gw, '/gone');
    assert.equal(gone.status, 410);
    assert.equal(gone.json?.code, 'operation_sunset');
    const events = await gw.waitEvents(1);
    const oldEvents = events.filter((e) => (e as { operationId?: string }).operationId === 'oldOne');
    assert.ok(oldEvents.length > 0 && oldEvents.every((e) => (e as { deprecated?: boolean }).deprecated === true));
    assert.equal(events.some((e) => (e as { operationId?: string }).operationId === 'getItem' && 'deprecated' in e), false);
  });

  test('undeclared response properties are stripped; `report` keeps them and records them', async () => {
    answer = { status: 200, type: 'application/json', body: '{"name":"pen","internalCost":0.12,"supplier":{"iban":"DE00"}}' };
    const r = await call(gw, '/items/1');
    assert.deepEqual(r.json, { name: 'pen' });
    assert.equal(Number(r.headers['content-length']), r.text.length);
    const reported = await call(gw, '/strict-response');
    assert.deepEqual(reported.json, { name: 'pen', internalCost: 0.12, supplier: { iban: 'DE00' } });
    const events = await gw.waitEvents(1);
    const last = events.filter((e) => (e as { operationId?: string }).operationId === 'strictResponse').at(-1) as { findings: { reason: string }[] };
    assert.match(JSON.stringify(last.findings), /undeclared response properties: \/internalCost, \/supplier/);
  });

  test('response validation: monitor records and passes, enforce replaces with 502 response_invalid', async () => {
    answer = { status: 200, type: 'application/json', body: '{"price":"free"}' };
    const monitored = await call(gw, '/items/1');
    assert.equal(monitored.status, 200);
    const events = await gw.waitEvents(1);
    const last = events.filter((e) => (e as { operationId?: string }).operationId === 'getItem').at(-1) as { findings: { code: string; monitored: boolean }[] };
    assert.ok(last.findings.some((f) => f.code === 'response_invalid' && f.monitored));
    const enforced = await call(enforcing, '/items/1');
    assert.equal(enforced.status, 502);
    assert.equal(enforced.json?.code, 'response_invalid');
    assert.equal(enforced.text.includes('free'), false);
    answer = { status: 418, type: 'application/json', body: '{"name":"teapot"}' };
    assert.equal((await call(enforcing, '/items/1')).json?.code, 'response_invalid', 'an undeclared status');
  });

  test('leak guard: a stack trace or an SQL error never reaches the client; ordinary text does', async () => {
    answer = {
      status: 500,
      type: 'text/plain',
      body: 'TypeError: Cannot read properties of undefined\n    at getItem (/srv/app/routes/items.js:42:17)\n    at Layer.handle (/srv/app/node_modules/express/lib/router/layer.js:95:5)',
    };
    const trace = await call(gw, '/debug');
    assert.equal(trace.status, 502);
    assert.equal(trace.json?.code, 'response_leak_blocked');
    assert.equal(trace.text.includes('items.js'), false);
    answer = { status: 200, type: 'application/json', body: '{"name":"You have an error in your SQL syntax; check the manual near \'\'\' at line 1"}' };
    assert.equal((await call(gw, '/items/1')).json?.code, 'response_leak_blocked');
    answer = { status: 200, type: 'text/plain', body: 'All systems nominal; 3 errors at startup were retried and succeeded.' };
    assert.equal((await call(gw, '/debug')).status, 200);
    const events = await gw.waitEvents(1);
    assert.match(JSON.stringify(events), /response carries a stack-trace/);
  });
});
