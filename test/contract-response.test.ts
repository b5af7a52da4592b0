import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { LoadedSpec } from '../src/config/types.js';
import { loadOpenApi } from '../src/contract/index.js';
import { compileResponses, ResponseLimitError, type ResponseMode, type UndeclaredMode } from '../src/contract/response.js';
import { SchemaCompiler } from '../src/contract/schema-compiler.js';

const tmp = await mkdtemp(path.join(os.tmpdir(), 'portcullis-response-'));
after(() => rm(tmp, { recursive: true, force: true }));
let n = 0;

async function load(text: string, extra: Record<string, string> = {}): Promise<LoadedSpec> {
  const dir = path.join(tmp, `d${n++}`);
  await import('node:fs/promises').then((fs) => fs.mkdir(dir));
  for (const [name, body] of Object.entries(extra)) await writeFile(path.join(dir, name), body);
  const file = path.join(dir, 'openapi.yaml');
  await writeFile(file, text);
  const { spec, diagnostics } = await loadOpenApi(file);
  assert.ok(spec, JSON.stringify(diagnostics));
  return spec;
}

function policyFor(spec: LoadedSpec, operationId: string, validate: ResponseMode = 'enforce', undeclared: UndeclaredMode = 'strip') {
  const op = spec.operations.find((o) => o.operationId === operationId);
  assert.ok(op, operationId);
  const { policy, problems } = compileResponses(spec, op, new SchemaCompiler(spec), { validate, undeclared });
  assert.deepEqual(
    problems.filter((p) => p.severity === 'error'),
    [],
  );
  assert.ok(policy);
  return policy;
}

const DOC = `
openapi: 3.1.0
info: { title: t, version: '1' }
paths:
  /users/{id}:
    get:
      operationId: getUser
      parameters: [{ name: id, in: path, required: true, schema: { type: string } }]
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: { $ref: '#/components/schemas/User' }
        '204':
          description: nothing
        4XX:
          description: problem
          content:
            application/problem+json:
              schema: { $ref: '#/components/schemas/Problem' }
  /items:
    get:
      operationId: listItems
      responses:
        '200':
          description: ok
          content:
            application/json; charset=utf-8:
              schema:
                type: object
                required: [items]
                properties:
                  items: { type: array, items: { $ref: '#/components/schemas/Item' } }
                  meta: { type: object, additionalProperties: true, properties: { count: { type: integer } } }
                  labels: { type: object, additionalProperties: { type: object, properties: { name: { type: string } } } }
                  tags: { type: object, patternProperties: { '^x-': { type: string } }, properties: { main: { type: string } } }
                  free: { type: object }
                  pair: { type: array, prefixItems: [{ $ref: '#/components/schemas/Item' }, { type: string }] }
  /tree:
    get:
      operationId: getTree
      responses:
        default:
          description: any
          content:
            application/json:
              schema: { $ref: '#/components/schemas/Node' }
            text/plain:
              schema: { type: string }
  /shapes:
    get:
      operationId: getShape
      responses:
        '200':
          description: ok
          content:
            application/vnd.api+json:
              schema:
                oneOf:
                  - { type: object, properties: { kind: { const: circle }, radius: { type: number } }, required: [kind] }
                  - { type: object, properties: { kind: { const: square }, side: { type: number } }, required: [kind] }
  /open:
    get:
      operationId: getOpen
      responses:
        '200':
          description: ok
          content:
            '*/*':
              schema: { type: object, properties: { a: { type: string } } }
components:
  schemas:
    Base:
      type: object
      properties: { id: { type: integer } }
    User:
      allOf:
        - $ref: '#/components/schemas/Base'
        - type: object
          required: [name]
          properties:
            name: { type: string }
            address: { $ref: '#/components/schemas/Address' }
            nick: true
    Address:
      type: object
      properties: { city: { type: string }, zip: { type: string } }
    Item:
      type: object
      properties: { sku: { type: string }, price: { type: number } }
    Problem:
      type: object
      properties: { type: { type: string }, title: { type: string }, status: { type: integer } }
    Node:
      type: object
      properties:
        name: { type: string }
        children: { type: array, items: { $ref: '#/components/schemas/Node' } }
`;

const spec = await load(DOC);

describe('validation', () => {
  test('a valid response passes unchanged', () => {
    const p = policyFor(spec, 'getUser');
    assert.equal(p.applies(200, 'application/json'), true);
    const body = { id: 1, name: 'Ada', address: { city: 'London' } };
    const r = p.check(200, 'application/json', body);
    assert.deepEqual(r.violations, []);
    assert.deepEqual(r.removed, []);
    assert.deepEqual(r.body, { id: 1, name: 'Ada', address: { city: 'London' } });
  });

  test('a wrong type is a violation at its pointer, without the value', () => {
    const p = policyFor(spec, 'getUser');
    const r = p.check(200, 'application/json', { id: 'one', name: 'Ada', address: { city: 7 } });
    const found = r.violations.map((v) => [v.location, v.pointer, v.rule]);
    assert.deepEqual(found.sort(), [
      ['response', '/address/city', 'type'],
      ['response', '/id', 'type'],
    ]);
    assert.ok(!JSON.stringify(r.violations).includes('one'));
  });

  test('a missing required property is a violation', () => {
    const r = policyFor(spec, 'getUser').check(200, 'application/json', { id: 1 });
    assert.deepEqual(
      r.violations.map((v) => [v.pointer, v.rule]),
      [['/name', 'required']],
    );
  });

  test('an undeclared status is a violation, known from the head alone', () => {
    const p = policyFor(spec, 'getUser');
    assert.deepEqual(
      p.checkHead(500, 'application/json').map((v) => [v.location, v.rule]),
      [['response', 'undeclaredStatus']],
    );
    assert.equal(p.applies(500, 'text/html'), true, 'the stage must look at it');
    const r = p.check(500, 'application/json', { oops: true });
    assert.deepEqual(
      r.violations.map((v) => v.rule),
      ['undeclaredStatus'],
    );
    assert.match(r.violations[0]?.expected ?? '', /200, 204, 4XX/);
  });

  test('an undeclared status is not reported when validation is off', () => {
    const p = policyFor(spec, 'getUser', 'off', 'strip');
    assert.deepEqual(p.checkHead(500, 'application/json'), []);
    assert.equal(p.applies(500, 'application/json'), false);
    assert.deepEqual(p.check(500, 'application/json', { a: 1 }).violations, []);
  });

  test('status ranges and default; a declared status without content has nothing to check', () => {
    const p = policyFor(spec, 'getUser');
    assert.equal(p.applies(204, undefined), false);
    assert.deepEqual(p.checkHead(204, undefined), []);
    assert.equal(p.applies(404, 'application/problem+json'), true);
    assert.deepEqual(p.check(404, 'application/problem+json', { title: 'Not found', status: 404 }).violations, []);
    assert.deepEqual(
      p.check(409, 'application/problem+json', { status: 'conflict' }).violations.map((v) => v.pointer),
      ['/status'],
    );
    const tree = policyFor(spec, 'getTree');
    assert.equal(tree.applies(503, 'application/json'), true, 'default covers every status');
    assert.deepEqual(tree.checkHead(503, 'application/json'), []);
  });

  test('media types: exact with parameters, +json, ranges, undeclared', () => {
    const items = policyFor(spec, 'listItems');
    assert.equal(items.applies(200, 'application/json; charset=utf-8'), true);
    assert.equal(items.applies(200, 'Application/JSON'), true);
    // +json falls back to application/json
    assert.equal(items.applies(200, 'application/hal+json'), true);
    assert.deepEqual(
      items.checkHead(200, 'text/html').map((v) => v.rule),
      ['mediaType'],
    );
    assert.equal(items.applies(200, 'text/html'), true, 'a head violation is something to report');
    const user = policyFor(spec, 'getUser');
    // 4XX declares only application/problem+json
    assert.deepEqual(
      user.checkHead(404, 'application/json').map((v) => v.rule),
      ['mediaType'],
    );
    const open = policyFor(spec, 'getOpen');
    assert.equal(open.applies(200, 'application/json'), true, '*/* matches JSON');
    assert.deepEqual(open.check(200, 'application/json', { a: 1 }).violations.map((v) => v.rule), ['type']);
    assert.equal(open.applies(200, 'text/csv'), false, 'a body that is not JSON is not parsed');
    const tree = policyFor(spec, 'getTree');
    assert.equal(tree.applies(200, 'text/plain'), false, 'text/plain is declared but not JSON');
    assert.deepEqual(tree.checkHead(200, 'text/plain'), []);
  });

  test('an empty body: only the head is checked', () => {
    const r = policyFor(spec, 'getUser').check(200, 'application/json', undefined);
    assert.deepEqual(r.violations, []);
  });

  test('oneOf with a +json media type', () => {
    const p = policyFor(spec, 'getShape');
    assert.equal(p.applies(200, 'application/vnd.api+json'), true);
    assert.deepEqual(p.check(200, 'application/vnd.api+json', { kind: 'circle', radius: 2 }).violations, []);
    assert.ok(p.check(200, 'application/vnd.api+json', { kind: 'triangle' }).violations.length > 0);
  });
});

describe('undeclared properties', () => {
  test('strip removes undeclared properties, nested, in arrays and through allOf', () => {
    const p = policyFor(spec, 'getUser');
    const body = { id: 1, name: 'Ada', nick: { any: 'thing' }, passwordHash: 'x', address: { city: 'London', internalNote: 'vip' } };
    const r = p.check(200, 'application/json', body);
    assert.deepEqual(r.removed.sort(), ['/address/internalNote', '/passwordHash']);
    assert.deepEqual(r.violations, []);
    assert.equal(r.body, body, 'filtered in place');
    assert.deepEqual(body, { id: 1, name: 'Ada', nick: { any: 'thing' }, address: { city: 'London' } });
  });

  test('strip: arrays, additionalProperties true and schema, patternProperties, free-form objects, prefixItems', () => {
    const p = policyFor(spec, 'listItems');
    const body = {
      items: [
        { sku: 'a', price: 1, cost: 0.4 },
        { sku: 'b', price: 2 },
        { sku: 'c', supplier: { id: 9 } },
      ],
      meta: { count: 3, cursor: 'abc', nested: { deep: true } },
      labels: { red: { name: 'Red', hex: '#f00' }, blue: { name: 'Blue' } },
      tags: { main: 'a', 'x-extra': 'kept', other: 'kept too (pattern properties are not run)' },
      free: { anything: { goes: [1, 2] } },
      pair: [{ sku: 'p', secret: 1 }, 'second', { third: true }],
      debug: { sql: 'select 1' },
      'a/b~c': 1,
    };
    const r = p.check(200, 'application/json', body);
    assert.deepEqual(r.removed.sort(), ['/a~1b~0c', '/debug', '/items/0/cost', '/items/2/supplier', '/labels/red/hex', '/pair/0/secret'].sort());
    assert.deepEqual(r.violations, []);
    assert.deepEqual(body.items, [
      { sku: 'a', price: 1 },
      { sku: 'b', price: 2 },
      { sku: 'c' },
    ]);
    assert.deepEqual(body.meta, { count: 3, cursor: 'abc', nested: { deep: true } }, 'additionalProperties: true keeps extra keys');
    assert.deepEqual(body.labels, { red: { name: 'Red' }, blue: { name: 'Blue' } }, 'an additionalProperties schema is walked');
    assert.deepEqual(Object.keys(body.tags), ['main', 'x-extra', 'other']);
    assert.deepEqual(body.free, { anything: { goes: [1, 2] } }, 'a free-form object keeps everything');
    assert.deepEqual(body.pair, [{ sku: 'p' }, 'second', { third: true }], 'an item past prefixItems is not described');
    assert.ok(!('debug' in body) && !('a/b~c' in body));
  });

  test('report lists without removing', () => {
    const p = policyFor(spec, 'getUser', 'enforce', 'report');
    const body = { id: 1, name: 'Ada', passwordHash: 'x', address: { city: 'London', internalNote: 'vip' } };
    const copy = structuredClone(body);
    const r = p.check(200, 'application/json', body);
    assert.deepEqual(r.removed.sort(), ['/address/internalNote', '/passwordHash']);
    assert.deepEqual(body, copy);
  });

  test('off leaves the body alone; with validation off too there is no policy', () => {
    const p = policyFor(spec, 'getUser', 'monitor', 'off');
    const body = { id: 1, name: 'Ada', passwordHash: 'x' };
    assert.deepEqual(p.check(200, 'application/json', body).removed, []);
    assert.ok('passwordHash' in body);
    const op = spec.operations.find((o) => o.operationId === 'getUser');
    assert.ok(op);
    assert.equal(compileResponses(spec, op, new SchemaCompiler(spec), { validate: 'off', undeclared: 'off' }).policy, undefined);
  });

  test('stripping happens before validation (additionalProperties: false does not fire on stripped keys)', async () => {
    const s = await load(`
openapi: 3.1.0
info: { title: t, version: '1' }
paths:
  /a:
    get:
      operationId: a
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: { type: object, additionalProperties: false, properties: { x: { type: integer } } }
`);
    const strip = policyFor(s, 'a').check(200, 'application/json', { x: 1, y: 2 });
    assert.deepEqual([strip.removed, strip.violations], [['/y'], []]);
    const report = policyFor(s, 'a', 'enforce', 'report').check(200, 'application/json', { x: 1, y: 2 });
    assert.deepEqual(report.removed, ['/y']);
    assert.deepEqual(
      report.violations.map((v) => [v.pointer, v.rule]),
      [['/y', 'additionalProperties']],
    );
  });

  test('oneOf branches are merged: a key any branch declares is kept', () => {
    const p = policyFor(spec, 'getShape');
    const body = { kind: 'circle', radius: 1, side: 2, colour: 'red' };
    const r = p.check(200, 'application/vnd.api+json', body);
    assert.deepEqual(r.removed, ['/colour']);
    assert.deepEqual(body, { kind: 'circle', radius: 1, side: 2 });
  });

  test('a recursive schema compiles and filters at every level', () => {
    const p = policyFor(spec, 'getTree');
    const body = { name: 'root', x: 1, children: [{ name: 'a', children: [{ name: 'b', y: 2, children: [] }] }] };
    const r = p.check(200, 'application/json', body);
    assert.deepEqual(r.removed.sort(), ['/children/0/children/0/y', '/x']);
    assert.deepEqual(r.violations, []);
  });

  test('bounded: too deep or too many values throws ResponseLimitError', () => {
    const p = policyFor(spec, 'getTree', 'off', 'strip');
    let deep: { name: string; children: unknown[] } = { name: 'leaf', children: [] };
    for (let i = 0; i < 40; i++) deep = { name: `n${i}`, children: [deep] };
    assert.throws(() => p.check(200, 'application/json', deep), ResponseLimitError);
    const wide = { name: 'root', children: Array.from({ length: 60_000 }, () => ({ name: 'c' })) };
    assert.throws(() => p.check(200, 'application/json', wide), (err: unknown) => err instanceof ResponseLimitError && /more than 100000/.test(err.message));
    const fine = { name: 'root', children: Array.from({ length: 1000 }, () => ({ name: 'c', z: 1 })) };
    assert.equal(p.check(200, 'application/json', fine).removed.length, 1000);
  });

  test('an object value where the schema says nothing is never walked (no visits counted)', () => {
    const p = policyFor(spec, 'listItems', 'off', 'strip');
    const big = { items: [], free: { list: Array.from({ length: 200_000 }, (_, i) => i) } };
    assert.deepEqual(p.check(200, 'application/json', big).removed, []);
  });
});

describe('documents', () => {
  test('OpenAPI 3.0: nullable is honoured by validation; a schema in another file is followed', async () => {
    const s = await load(
      `
openapi: 3.0.3
info: { title: t, version: '1' }
paths:
  /p:
    get:
      operationId: getP
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: { $ref: 'schemas.yaml#/Pet' }
`,
      {
        'schemas.yaml': `
Pet:
  type: object
  required: [name]
  properties:
    name: { type: string }
    tag: { type: string, nullable: true }
    owner: { $ref: '#/Owner' }
Owner:
  type: object
  nullable: true
  properties:
    id: { type: integer }
`,
      },
    );
    const p = policyFor(s, 'getP');
    assert.deepEqual(p.check(200, 'application/json', { name: 'Rex', tag: null, owner: null }).violations, []);
    assert.deepEqual(
      p.check(200, 'application/json', { name: null }).violations.map((v) => [v.pointer, v.rule]),
      [['/name', 'type']],
    );
    const body = { name: 'Rex', owner: { id: 1, email: 'a@b.c' }, chip: '123' };
    assert.deepEqual(p.check(200, 'application/json', body).removed.sort(), ['/chip', '/owner/email']);
  });

  test('an operation with no responses object: every status is undeclared', async () => {
    const s = await load(`
openapi: 3.1.0
info: { title: t, version: '1' }
paths:
  /q:
    get:
      operationId: q
      responses: {}
`);
    const p = policyFor(s, 'q');
    assert.deepEqual(
      p.checkHead(200, undefined).map((v) => v.rule),
      ['undeclaredStatus'],
    );
  });

  test('a $ref that is not followed is a problem; what it points to is left alone', () => {
    // The loader refuses remote references; a document given directly may still hold one.
    const document = {
      openapi: '3.1.0',
      info: { title: 't', version: '1' },
      paths: {
        '/r': {
          get: {
            responses: {
              '200': {
                description: 'ok',
                content: {
                  'application/json': {
                    schema: { type: 'object', properties: { a: { $ref: 'https://example.com/schemas/a.json' }, b: { type: 'string' } } },
                  },
                },
              },
            },
          },
        },
      },
    };
    const file = path.join(tmp, 'inline.yaml');
    const s = { file, openapi: '3.1.0', title: 't', version: '1', serverBasePath: '', operations: [], document, documents: new Map([[file, document]]) } as LoadedSpec;
    const op = { pointer: '/paths/~1r/get' };
    const { policy, problems } = compileResponses(s, op, new SchemaCompiler(s), { validate: 'off', undeclared: 'strip' });
    assert.ok(problems.some((p) => p.severity === 'warning' && p.message.includes('not followed')), JSON.stringify(problems));
    assert.ok(policy);
    const body = { a: { anything: 1 }, b: 'x', c: 1 };
    assert.deepEqual(policy.check(200, 'application/json', body).removed, ['/c']);
    assert.deepEqual(body.a, { anything: 1 });
  });
});
