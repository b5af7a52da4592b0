/**
 * Contract enforcement on real-world public OpenAPI documents of different shapes, taken as
 * published (package @readme/oas-examples, MIT): the USPTO Data Set API (3.0, form bodies,
 * server URL with variables), the Train Travel API (3.1, 106 `$ref`s, formats, readOnly), and
 * STAPI, the Star Trek API (3.0, 120 operations, 560 `$ref`s). Each is put in front of a real
 * upstream and exercised with valid requests (forwarded) and invalid ones (refused, listed).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { loadConfig } from '../src/config/index.js';
import { startTestGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';

const examples = (file: string) => createRequire(import.meta.url).resolve(`@readme/oas-examples/${file}`);

interface Answer {
  status: number;
  json: Record<string, unknown> | undefined;
  headers: Record<string, string | string[] | undefined>;
}

async function call(gw: TestGateway, path: string, opts: { method?: string; body?: string; type?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.type !== undefined) headers['content-type'] = opts.type;
  const res = await request(`${gw.url}${path}`, { method: (opts.method ?? 'GET') as 'GET', headers, body: opts.body });
  const text = await res.body.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, json, headers: res.headers };
}

const rules = (a: Answer) => ((a.json?.errors as { location: string; name: string; pointer: string; rule: string }[] | undefined) ?? []).map((e) => `${e.location}:${e.name}${e.pointer}:${e.rule}`);

function gatewayConfig(upstream: string, spec: string): string {
  return `version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { enabled: false }
apis:
  - name: api
    spec: ${spec}
    upstream: ${upstream}
    public: true
`;
}

describe('real-world OpenAPI documents', () => {
  let up: Upstream;
  before(async () => {
    up = await startUpstream((req, res) => {
      // Answers like the real services would: JSON that fits their response schemas.
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  after(async () => {
    await up.close();
  });

  test('all three load and compile without errors', async () => {
    for (const f of ['3.0/json/uspto.json', '3.1/json/train-travel.json', '3.0/json/star-trek.json']) {
      const dir = (await import('./helpers.js')).writeFiles({ 'portcullis.yaml': gatewayConfig(up.url, examples(f)) });
      const r = await loadConfig(`${dir}/portcullis.yaml`, { env: {} });
      assert.ok(r.ok, `${f}: ${r.ok ? '' : r.diagnostics.map((d) => d.message).join('\n')}`);
      assert.equal(r.warnings.filter((w) => w.severity === 'error').length, 0);
    }
  });

  describe('USPTO Data Set API (OpenAPI 3.0, form bodies)', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startTestGateway(gatewayConfig(up.url, examples('3.0/json/uspto.json')));
    });
    after(() => gw.close());

    test('valid requests pass', async () => {
      assert.equal((await call(gw, '/ds-api')).status, 200);
      assert.equal((await call(gw, '/ds-api/oa_citations/v1/fields')).status, 200);
      const post = await call(gw, '/ds-api/oa_citations/v1/records', { method: 'POST', type: 'application/x-www-form-urlencoded', body: 'criteria=*:*&start=0&rows=10' });
      assert.equal(post.status, 200);
    });

    test('invalid requests are refused with each violation listed', async () => {
      const missing = await call(gw, '/ds-api/oa_citations/v1/records', { method: 'POST', type: 'application/x-www-form-urlencoded', body: 'start=0' });
      assert.equal(missing.status, 400);
      assert.equal(missing.json?.code, 'request_invalid');
      assert.ok(rules(missing).includes('body:/criteria:required'), rules(missing).join(', '));
      const wrongType = await call(gw, '/ds-api/oa_citations/v1/records', { method: 'POST', type: 'application/x-www-form-urlencoded', body: 'criteria=x&rows=ten' });
      assert.ok(rules(wrongType).includes('body:/rows:type'), rules(wrongType).join(', '));
      assert.equal(JSON.stringify(wrongType.json).includes('ten'), false, 'the offending value is not echoed');
      const json = await call(gw, '/ds-api/oa_citations/v1/records', { method: 'POST', type: 'application/json', body: '{"criteria":"x"}' });
      assert.equal(json.status, 415);
      assert.equal(json.json?.code, 'unsupported_media_type');
      const undeclared = await call(gw, '/ds-api/oa_citations/v1/fields?debug=1');
      assert.equal(undeclared.status, 400);
      assert.ok(rules(undeclared).includes('query:debug:undeclared'), rules(undeclared).join(', '));
      assert.equal((await call(gw, '/ds-api/oa_citations/v1/fields', { method: 'DELETE' })).status, 405);
      assert.equal((await call(gw, '/ds-api/admin')).status, 404);
    });
  });

  describe('Train Travel API (OpenAPI 3.1)', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startTestGateway(gatewayConfig(up.url, examples('3.1/json/train-travel.json')));
    });
    after(() => gw.close());

    const trip = '/trips?origin=efdbb9d1-02c2-4bc3-afb7-6788d8782b1e&destination=b2e783e1-c824-4d63-b37a-d8d698862f1d&date=2024-02-01T09:00:00Z';

    test('valid requests pass', async () => {
      assert.equal((await call(gw, trip)).status, 200);
      assert.equal((await call(gw, `${trip}&bicycles=true`)).status, 200);
      const booking = { trip_id: 'efdbb9d1-02c2-4bc3-afb7-6788d8782b1e', passenger_name: 'Ada', has_bicycle: false, has_dog: true };
      assert.equal((await call(gw, '/bookings', { method: 'POST', type: 'application/json', body: JSON.stringify(booking) })).status, 200);
      assert.equal((await call(gw, '/bookings/efdbb9d1-02c2-4bc3-afb7-6788d8782b1e')).status, 200);
    });

    test('formats, types, required parameters, readOnly and undeclared properties', async () => {
      const badUuid = await call(gw, trip.replace('origin=efdbb9d1-02c2-4bc3-afb7-6788d8782b1e', 'origin=not-a-uuid'));
      assert.ok(rules(badUuid).includes('query:origin:format'), rules(badUuid).join(', '));
      const badDate = await call(gw, trip.replace('2024-02-01T09:00:00Z', 'tomorrow'));
      assert.ok(rules(badDate).includes('query:date:format'), rules(badDate).join(', '));
      const badBool = await call(gw, `${trip}&dogs=maybe`);
      assert.ok(rules(badBool).includes('query:dogs:type'), rules(badBool).join(', '));
      const noOrigin = await call(gw, '/trips?destination=b2e783e1-c824-4d63-b37a-d8d698862f1d&date=2024-02-01T09:00:00Z');
      assert.ok(rules(noOrigin).includes('query:origin:required'), rules(noOrigin).join(', '));
      const extra = await call(gw, '/bookings', { method: 'POST', type: 'application/json', body: JSON.stringify({ trip_id: 'efdbb9d1-02c2-4bc3-afb7-6788d8782b1e', passenger_name: 'Ada', is_admin: true }) });
      assert.equal(extra.status, 400);
      assert.ok(rules(extra).includes('body:/is_admin:undeclared'), rules(extra).join(', '));
      const ro = await call(gw, '/bookings', { method: 'POST', type: 'application/json', body: JSON.stringify({ id: 'efdbb9d1-02c2-4bc3-afb7-6788d8782b1e', passenger_name: 'Ada' }) });
      assert.equal(ro.status, 403);
      assert.equal(ro.json?.code, 'property_not_writable');
      const proto = await call(gw, '/bookings', { method: 'POST', type: 'application/json', body: '{"passenger_name":"Ada","__proto__":{"admin":true}}' });
      assert.equal(proto.status, 400);
      const badPath = await call(gw, '/bookings/not-a-uuid');
      assert.ok(rules(badPath).includes('path:bookingId:format'), rules(badPath).join(', '));
    });
  });

  describe('STAPI, the Star Trek API (OpenAPI 3.0, 120 operations, 560 $refs)', () => {
    let gw: TestGateway;
    before(async () => {
      gw = await startTestGateway(gatewayConfig(up.url, examples('3.0/json/star-trek.json')));
    });
    after(() => gw.close());

    test('valid requests across the API pass', async () => {
      assert.equal((await call(gw, '/api/v1/rest/animal?uid=ANMA0000000001')).status, 200);
      assert.equal((await call(gw, '/api/v1/rest/animal/search?pageNumber=0&pageSize=50')).status, 200);
      assert.equal((await call(gw, '/api/v1/rest/animal/search', { method: 'POST', type: 'application/x-www-form-urlencoded', body: 'name=Tribble&earthAnimal=false' })).status, 200);
      assert.equal((await call(gw, '/api/v1/rest/spacecraft?uid=SRMA0000002016')).status, 200);
    });

    test('invalid requests are refused', async () => {
      assert.ok(rules(await call(gw, '/api/v1/rest/animal')).includes('query:uid:required'));
      assert.ok(rules(await call(gw, '/api/v1/rest/animal/search?pageSize=fifty')).includes('query:pageSize:type'));
      const form = await call(gw, '/api/v1/rest/animal/search', { method: 'POST', type: 'application/x-www-form-urlencoded', body: 'name=Tribble&earthAnimal=sometimes' });
      assert.ok(rules(form).includes('body:/earthAnimal:type'), rules(form).join(', '));
      assert.equal((await call(gw, '/api/v1/rest/animal', { method: 'PUT' })).status, 405);
    });
  });
});
