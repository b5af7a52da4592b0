import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { LoadedSpec } from '../src/config/types.js';
import { compileBody, DEFAULT_BODY_LIMITS, type BodyLimits, type BodyResult, type BodyValidator } from '../src/contract/body.js';
import { loadOpenApi } from '../src/contract/index.js';
import { SchemaCompiler, type TypedInput, type Violation } from '../src/contract/schema-compiler.js';
import { assertCheap } from './contract-timing.js';

const MAIN_31 = `
openapi: 3.1.0
info: {title: Bodies, version: '1'}
paths:
  /pets:
    post:
      operationId: createPet
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Pet'}
          application/x-www-form-urlencoded:
            schema: {$ref: '#/components/schemas/PetForm'}
          multipart/form-data:
            schema: {$ref: '#/components/schemas/Upload'}
            encoding:
              photo: {contentType: 'image/png, image/jpeg'}
          text/plain; charset=utf-8:
            schema: {type: string, maxLength: 10}
      responses: {'201': {description: created}}
  /loose:
    put:
      operationId: loose
      requestBody:
        content:
          application/*:
            schema: {type: object, properties: {a: {type: integer}}}
          '*/*': {}
      responses: {'200': {description: ok}}
  /orders:
    post:
      operationId: createOrder
      requestBody: {$ref: './bodies.yaml#/Order'}
      responses: {'201': {description: created}}
  /tree:
    post:
      operationId: tree
      requestBody:
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Tree'}
      responses: {'200': {description: ok}}
  /signup:
    post:
      operationId: signup
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [name]
              properties:
                name: {type: string}
                address:
                  type: object
                  required: [city]
                  properties: {city: {type: string}, zip: {type: integer}}
                prefs: {type: object, additionalProperties: {type: boolean}}
                plain: {type: object, properties: {a: {type: string}}}
                tags: {type: array, items: {type: string}}
                ids: {type: array, items: {type: integer}}
                codes: {type: array, items: {type: string}}
                flags: {type: array, items: {type: integer}}
            encoding:
              address: {style: deepObject, explode: true}
              prefs: {style: deepObject}
              ids: {style: form, explode: false}
              codes: {style: pipeDelimited, explode: false}
              flags: {style: spaceDelimited, explode: false}
      responses: {'200': {description: ok}}
  /parts:
    post:
      operationId: parts
      requestBody:
        content:
          multipart/form-data:
            schema:
              type: object
              properties:
                title: {type: string}
                count: {type: integer}
                meta: {type: object, required: [a], properties: {a: {type: integer}}}
                items: {type: array, items: {type: object, properties: {n: {type: integer}}}}
                photo: {type: string, format: binary}
                blob: {type: string, contentEncoding: base64}
                anything: {}
                scores: {type: array, items: {type: integer}}
            encoding:
              count: {contentType: application/json}
      responses: {'200': {description: ok}}
  /nobody:
    get:
      operationId: nobody
      responses: {'200': {description: ok}}
  /broken:
    post:
      operationId: broken
      requestBody:
        content:
          application/json:
            schema: {type: string, pattern: '(unclosed'}
      responses: {'200': {description: ok}}
components:
  schemas:
    Tree:
      oneOf:
        - type: object
          properties: {leaf: {type: integer}, next: {$ref: '#/components/schemas/Tree'}}
          required: [leaf]
        - type: object
          properties: {label: {type: string, enum: [a, b]}, next: {$ref: '#/components/schemas/Tree'}}
          required: [label]
    Pet:
      type: object
      required: [name]
      properties:
        name: {type: string, maxLength: 50}
        age: {type: integer, minimum: 0}
        kind: {type: string, enum: [cat, dog]}
        tags: {type: array, items: {type: string, pattern: '^[a-z]+$'}}
        owner:
          allOf:
            - $ref: '#/components/schemas/Person'
            - type: object
              properties: {phone: {type: string}}
        extra: {type: object, additionalProperties: {type: integer}}
        meta: {type: object}
        labels: {type: object, patternProperties: {'^x-': {type: string}}}
        choice:
          oneOf:
            - {type: object, properties: {c: {type: string, format: email}}, required: [c]}
            - {type: object, properties: {d: {type: integer}}, required: [d]}
        weight: {type: [number, 'null']}
    Person:
      type: object
      properties:
        email: {type: string, format: email}
    PetForm:
      type: object
      required: [name]
      properties:
        name: {type: string}
        age: {type: integer}
        ids: {type: array, items: {type: integer}}
        ok: {type: boolean}
    Upload:
      type: object
      required: [photo, title]
      properties:
        title: {type: string, maxLength: 20}
        count: {type: integer}
        photo: {type: string, format: binary, maxLength: 1000}
        meta: {type: object, properties: {a: {type: integer}}}
        doc: {type: string, contentMediaType: application/pdf}
        notes: {type: array, items: {type: string}}
`;

const BODIES = `
Order:
  required: true
  content:
    application/json:
      schema: {$ref: '#/OrderSchema'}
OrderSchema:
  type: object
  required: [qty]
  properties:
    qty: {type: integer, maximum: 10}
    note: {$ref: './common.yaml#/Note'}
`;

const COMMON = `
Note: {type: string, maxLength: 5}
`;

const MAIN_30 = `
openapi: 3.0.3
info: {title: Old, version: '1'}
paths:
  /items:
    post:
      operationId: createItem
      requestBody:
        required: false
        content:
          application/json:
            schema:
              type: object
              properties:
                price: {type: number, minimum: 0, exclusiveMinimum: true}
                note: {type: string, nullable: true}
          multipart/form-data:
            schema:
              type: object
              properties:
                file: {type: string, format: binary}
                files: {type: array, items: {type: string, format: binary}}
      responses: {'200': {description: ok}}
`;

let tmp = '';
let spec31: LoadedSpec;
let spec30: LoadedSpec;

async function load(file: string): Promise<LoadedSpec> {
  const { spec, diagnostics } = await loadOpenApi(file);
  assert.ok(spec, `loads: ${JSON.stringify(diagnostics)}`);
  return spec;
}

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'portcullis-body-'));
  await writeFile(path.join(tmp, 'main.yaml'), MAIN_31);
  await writeFile(path.join(tmp, 'bodies.yaml'), BODIES);
  await writeFile(path.join(tmp, 'common.yaml'), COMMON);
  await writeFile(path.join(tmp, 'old.yaml'), MAIN_30);
  spec31 = await load(path.join(tmp, 'main.yaml'));
  spec30 = await load(path.join(tmp, 'old.yaml'));
});
after(() => rm(tmp, { recursive: true, force: true }));

function compile(spec: LoadedSpec, operationId: string, opts: { strict?: boolean; limits?: Partial<BodyLimits> } = {}) {
  const op = spec.operations.find((o) => o.operationId === operationId);
  assert.ok(op, operationId);
  return compileBody(spec, op, new SchemaCompiler(spec), { strict: opts.strict ?? false, limits: { ...DEFAULT_BODY_LIMITS, ...opts.limits } });
}

function validator(spec: LoadedSpec, operationId: string, opts: { strict?: boolean; limits?: Partial<BodyLimits> } = {}): BodyValidator {
  const { validator: val, problems } = compile(spec, operationId, opts);
  assert.deepEqual(problems, []);
  assert.ok(val);
  return val;
}

function ok(r: BodyResult, message = ''): { value: unknown; inputs: readonly TypedInput[] } {
  assert.ok(r.ok, `${message}: expected ok, got ${JSON.stringify(r)}`);
  return r;
}

function refused(r: BodyResult, code: string): Violation[] {
  assert.ok(!r.ok, `expected a refusal, got ${JSON.stringify(r)}`);
  assert.equal(r.code, code, JSON.stringify(r));
  return r.violations;
}

const rules = (vs: readonly Violation[]) => vs.map((x) => `${x.pointer} ${x.rule}`).sort();
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const JSON_CT = 'application/json';

describe('JSON bodies', () => {
  test('a valid body, its value and typed inputs (through $ref, allOf, oneOf)', () => {
    const val = validator(spec31, 'createPet');
    assert.equal(val.required, true);
    assert.deepEqual(val.mediaTypes, ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain; charset=utf-8']);
    const body = { name: 'Rex', age: 3, kind: 'dog', tags: ['a', 'b'], owner: { email: 'a@b.example', phone: '123' }, extra: { n: 1 }, choice: { c: 'x@y.example' }, weight: null };
    const r = ok(val.validate('application/json; charset=UTF-8', json(body)));
    assert.deepEqual(r.value, body);
    const byName = new Map(r.inputs.map((i) => [i.name, i]));
    assert.deepEqual(byName.get('/name'), { location: 'body', name: '/name', type: 'string', format: undefined, enumerated: false, patterned: false });
    assert.equal(byName.get('/age')?.type, 'integer');
    assert.equal(byName.get('/kind')?.enumerated, true);
    assert.equal(byName.get('/tags/1')?.patterned, true);
    assert.equal(byName.get('/owner/email')?.format, 'email', 'through allOf and $ref');
    assert.equal(byName.get('/owner/phone')?.type, 'string');
    assert.equal(byName.get('/extra/n')?.type, 'integer', 'additionalProperties schema');
    assert.equal(byName.get('/weight')?.type, 'number', 'a nullable number is a number');
    // oneOf: the other branch does not declare `c`, so nothing is guaranteed about it.
    assert.equal(byName.get('/choice/c')?.type, undefined);
    assert.equal(byName.get('/choice/c')?.format, undefined);
    assert.equal(r.inputs.length, 10);
  });

  test('+json types are JSON; a top-level scalar is one input named ""', () => {
    const val = validator(spec31, 'loose');
    const r = ok(val.validate('application/merge-patch+json', json({ a: 1 })));
    assert.deepEqual(r.inputs, [{ location: 'body', name: '/a', type: 'integer', format: undefined, enumerated: false, patterned: false }]);
    const bad = refused(val.validate('application/merge-patch+json', json({ a: 'x' })), 'request_invalid');
    assert.deepEqual(rules(bad), ['/a type']);
  });

  test('wrong types and constraint violations never carry the value', () => {
    const val = validator(spec31, 'createPet');
    const vs = refused(val.validate(JSON_CT, json({ name: 'SECRET-VALUE'.repeat(10), age: 'SECRET-AGE', kind: 'SECRET-KIND', tags: ['SECRET-TAG'] })), 'request_invalid');
    assert.deepEqual(rules(vs), ['/age type', '/kind enum', '/name maxLength', '/tags/0 pattern']);
    assert.ok(!JSON.stringify(vs).includes('SECRET'), JSON.stringify(vs));
    for (const x of vs) assert.equal(x.location, 'body');
  });

  test('required: a missing property, an empty body', () => {
    const val = validator(spec31, 'createPet');
    assert.deepEqual(rules(refused(val.validate(JSON_CT, json({ age: 1 })), 'request_invalid')), ['/name required']);
    assert.deepEqual(rules(refused(val.validate(JSON_CT, Buffer.alloc(0)), 'request_invalid')), [' required']);
    assert.deepEqual(rules(refused(val.validate(undefined, Buffer.alloc(0)), 'request_invalid')), [' required']);
    // Not required: an empty body passes, whatever the content type.
    const loose = validator(spec31, 'loose');
    assert.equal(loose.required, false);
    assert.deepEqual(ok(loose.validate(undefined, Buffer.alloc(0))), { ok: true, value: undefined, inputs: [] });
  });

  test('strict mode refuses undeclared members; non-strict lets them through', () => {
    const body = {
      name: 'Rex',
      bogus: 1,
      owner: { email: 'a@b.example', phone: '1', zzz: true }, // phone from allOf, email through $ref
      extra: { anything: 1 }, // additionalProperties schema
      meta: { free: { deep: 1 } }, // free-form object
      labels: { 'x-a': 's', other: 's' }, // patternProperties: not flagged
      choice: { c: 'a@b.example', q: 1 }, // declared in no branch
    };
    const strict = validator(spec31, 'createPet', { strict: true });
    const vs = refused(strict.validate(JSON_CT, json(body)), 'request_invalid');
    assert.deepEqual(rules(vs), ['/bogus undeclared', '/choice/q undeclared', '/owner/zzz undeclared']);
    assert.ok(vs.every((x) => !x.expected.includes('true')));
    ok(validator(spec31, 'createPet').validate(JSON_CT, json(body)));
    // The strict walk also flags undeclared members inside arrays of objects.
    const { name: _n, bogus: _b, choice: _c, owner: _o, ...rest } = body;
    ok(strict.validate(JSON_CT, json({ name: 'Rex', ...rest, choice: { d: 1 } })));
  });

  test('without typed inputs (no threat detection on the route) strict mode decides exactly the same', () => {
    const strict = validator(spec31, 'createPet', { strict: true });
    const tree = validator(spec31, 'tree', { strict: true });
    let deep: Record<string, unknown> = { leaf: 0, zzz: 1 };
    for (let i = 1; i < 12; i++) deep = { leaf: i, next: deep };
    const cases: [BodyValidator, unknown][] = [
      [strict, { name: 'Rex' }],
      [strict, { name: 'Rex', bogus: 1 }],
      [strict, { name: 'Rex', owner: { email: 'a@b.example', phone: '1', zzz: true } }],
      [strict, { name: 'Rex', owner: { email: 'a@b.example', phone: '1' }, extra: { anything: 1 }, meta: { free: { deep: 1 } } }],
      [strict, { name: 'Rex', labels: { 'x-a': 's', other: 's' }, choice: { c: 'a@b.example' } }],
      [strict, { name: 'Rex', choice: { c: 'a@b.example', q: 1 } }],
      [strict, { name: 7, bogus: 1 }], // a schema violation and an undeclared member together
      [tree, { leaf: 0, next: { label: 'a' } }],
      [tree, deep],
    ];
    // Bodies the JSON reader refuses (its order of refusals is kept): forbidden and duplicate names, in declared and undeclared members.
    const raw = [
      '{"name":"a","__proto__":{"isAdmin":true}}',
      '{"name":"a","bogus":{"constructor":1}}',
      '{"name":"a","owner":{"email":"a@b.example","email":"c@d.example"}}',
      '{"name":"a","bogus":1,"bogus":2}',
      '{"name":"a","owner":{"email":"a@b.example","em\\u0061il":"b"}}',
    ];
    for (const text of raw) cases.push([strict, Buffer.from(text)]);
    for (const [val, body] of cases) {
      const bytes = Buffer.isBuffer(body) ? body : json(body);
      const withInputs = val.validate(JSON_CT, bytes);
      const without = val.validate(JSON_CT, bytes, { inputs: false });
      if (Buffer.isBuffer(body)) assert.equal(withInputs.ok, false, body.toString());
      assert.equal(without.ok, withInputs.ok, JSON.stringify(body));
      if (without.ok && withInputs.ok) {
        assert.deepEqual(without.value, withInputs.value);
        assert.deepEqual(without.inputs, []);
      } else {
        assert.deepEqual(without, withInputs, JSON.stringify(body));
      }
    }
    // The refusals above are real ones (the comparison cannot pass on two empty answers).
    assert.deepEqual(rules(refused(strict.validate(JSON_CT, json({ name: 'Rex', owner: { email: 'a@b.example', zzz: 1 } }), { inputs: false }), 'request_invalid')), ['/owner/zzz undeclared']);
    assert.deepEqual(rules(refused(tree.validate(JSON_CT, json(deep), { inputs: false }), 'request_invalid')), [`${'/next'.repeat(11)}/zzz undeclared`]);
  });

  test('duplicate member names and malformed JSON are body_not_json', () => {
    const val = validator(spec31, 'createPet');
    assert.deepEqual(rules(refused(val.validate(JSON_CT, Buffer.from('{"name":"a","name":"b"}')), 'body_not_json')), [' duplicateKey']);
    assert.deepEqual(rules(refused(val.validate(JSON_CT, Buffer.from('{"owner":{"email":"a","em\\u0061il":"b"},"name":"x"}')), 'body_not_json')), [' duplicateKey']);
    assert.deepEqual(rules(refused(val.validate(JSON_CT, Buffer.from('{"name":')), 'body_not_json')), [' json']);
    assert.deepEqual(rules(refused(val.validate(JSON_CT, Buffer.from([0x22, 0xc3, 0x28, 0x22])), 'body_not_json')), [' encoding']);
  });

  test('__proto__, constructor and prototype are refused anywhere (prototype pollution)', () => {
    const val = validator(spec31, 'createPet');
    // JSON.parse makes "__proto__" an own property: it must be seen, and refused.
    const raw = Buffer.from('{"name":"a","__proto__":{"isAdmin":true}}');
    assert.ok(Object.hasOwn(JSON.parse(raw.toString()) as object, '__proto__'));
    assert.deepEqual(rules(refused(val.validate(JSON_CT, raw), 'request_invalid')), ['/__proto__ forbiddenKey']);
    assert.deepEqual(rules(refused(val.validate(JSON_CT, json({ name: 'a', owner: { constructor: { prototype: {} } } })), 'request_invalid')), ['/owner/constructor forbiddenKey']);
    assert.deepEqual(rules(refused(val.validate(JSON_CT, json({ name: 'a', tags: [{ prototype: 1 }] })), 'request_invalid')), ['/tags/0/prototype forbiddenKey']);
    // Also when the schema would accept any member.
    assert.deepEqual(rules(refused(val.validate(JSON_CT, json({ name: 'a', meta: { x: { __proto__x: 1, constructor: 1 } } })), 'request_invalid')), ['/meta/x/constructor forbiddenKey']);
    assert.equal(({} as Record<string, unknown>).isAdmin, undefined, 'Object.prototype untouched');
  });
});

describe('JSON limits', () => {
  test('a 100,000-member body is refused fast, before parsing', () => {
    const val = validator(spec31, 'loose');
    const parts: string[] = [];
    for (let i = 0; i < 100_000; i++) parts.push(`"k${i}":${i}`);
    const body = Buffer.from(`{${parts.join(',')}}`);
    assert.deepEqual(rules(refused(val.validate(JSON_CT, body), 'json_limits_exceeded')), [' maxKeys']);
    // Before parsing: a fraction of what JSON.parse alone costs on the same bytes.
    const text = body.toString();
    assertCheap(() => val.validate(JSON_CT, body), () => JSON.parse(text), { what: '100,000 members', ratio: 0.5, slackMs: 1, ceilingMs: 100 });
    // Members count across the whole body, not per object; the pointer names the object.
    const small = validator(spec31, 'loose', { limits: { maxKeys: 3 } });
    ok(small.validate(JSON_CT, json({ a: 1, b: { c: 1 } })));
    assert.deepEqual(rules(refused(small.validate(JSON_CT, json({ a: 1, b: { c: 1, d: 2 } })), 'json_limits_exceeded')), ['/b maxKeys']);
  });

  test('array length, string length (values and names), depth', () => {
    const val = validator(spec31, 'createPet', { limits: { maxArrayLength: 3, maxStringLength: 8, maxDepth: 4 } });
    ok(val.validate(JSON_CT, json({ name: '12345678', tags: ['a', 'b', 'c'] })));
    assert.deepEqual(rules(refused(val.validate(JSON_CT, json({ name: 'a', tags: ['a', 'b', 'c', 'd'] })), 'json_limits_exceeded')), ['/tags maxArrayLength']);
    assert.deepEqual(rules(refused(val.validate(JSON_CT, json({ name: '123456789' })), 'json_limits_exceeded')), ['/name maxStringLength']);
    assert.deepEqual(rules(refused(val.validate(JSON_CT, json({ name: 'a', meta: { '123456789': 1 } })), 'json_limits_exceeded')), ['/meta/123456789 maxStringLength']);
    assert.deepEqual(rules(refused(val.validate(JSON_CT, json({ name: 'a', tags: ['x', 'toolongvalue'] })), 'json_limits_exceeded')), ['/tags/1 maxStringLength']);
    ok(val.validate(JSON_CT, json({ name: 'a', meta: { b: { c: {} } } })));
    ok(val.validate(JSON_CT, json({ name: 'a', meta: { b: { c: { d: 1 } } } })), 'four containers');
    const deep = refused(val.validate(JSON_CT, json({ name: 'a', meta: { b: { c: { d: [] } } } })), 'json_limits_exceeded');
    assert.deepEqual(rules(deep), ['/meta/b/c/d maxDepth']);
    // Pathological nesting: refused by the byte pre-scan at the bound, no recursion; cheaper
    // than an ordinary body of the same size (one long string, read to its end and refused).
    const loose = validator(spec31, 'loose');
    const nested = Buffer.from('['.repeat(1_000_000));
    const ordinary = Buffer.from(`{"a":"${'x'.repeat(1_000_000 - 8)}"}`);
    assert.deepEqual(rules(refused(loose.validate(JSON_CT, nested), 'json_limits_exceeded')), [`${'/0'.repeat(64)} maxDepth`]);
    refused(loose.validate(JSON_CT, ordinary), 'json_limits_exceeded');
    assertCheap(() => loose.validate(JSON_CT, nested), () => loose.validate(JSON_CT, ordinary), { what: '1,000,000 [', ratio: 1, ceilingMs: 100 });
  });

  test('a huge array is refused at the bound', () => {
    const val = validator(spec31, 'loose');
    const body = Buffer.from(`{"a":[${'0,'.repeat(500_000)}0]}`);
    const ordinary = Buffer.from(`{"a":"${'x'.repeat(body.length - 8)}"}`);
    assert.deepEqual(rules(refused(val.validate(JSON_CT, body), 'json_limits_exceeded')), ['/a maxArrayLength']);
    assertCheap(() => val.validate(JSON_CT, body), () => val.validate(JSON_CT, ordinary), { what: '500,000 items', ratio: 1, ceilingMs: 100 });
  });
});

describe('media types', () => {
  test('undeclared types are 415; a missing Content-Type is application/octet-stream', () => {
    const val = validator(spec31, 'createPet');
    for (const ct of ['application/xml', 'application/merge-patch+json', undefined, '', 'not a media type', 'application/json;', 'text/html']) {
      const r = val.validate(ct, Buffer.from('{"name":"a"}'));
      if (ct === 'application/json;') {
        ok(r); // a trailing `;` is tolerated
        continue;
      }
      const vs = refused(r, 'unsupported_media_type');
      assert.deepEqual(rules(vs), [' contentType'], String(ct));
      assert.ok(vs[0]?.expected.includes('application/json'));
    }
  });

  test('JSON in another charset than UTF-8 is 415 (decision: refuse, never transcode)', () => {
    const val = validator(spec31, 'createPet');
    assert.deepEqual(rules(refused(val.validate('application/json; charset=latin1', json({ name: 'a' })), 'unsupported_media_type')), [' charset']);
    assert.deepEqual(rules(refused(val.validate('application/json; charset="ISO-8859-1"', json({ name: 'a' })), 'unsupported_media_type')), [' charset']);
    ok(val.validate('Application/JSON; Charset="utf-8"', json({ name: 'a' })));
  });

  test('matching: exact, then type/*, then */*', () => {
    const val = validator(spec31, 'loose');
    assert.deepEqual(val.mediaTypes, ['application/*', '*/*']);
    // application/* has a schema: JSON bodies under it are validated.
    refused(val.validate(JSON_CT, json({ a: 'x' })), 'request_invalid');
    // Other application types: checked for their media type only.
    assert.deepEqual(ok(val.validate('application/octet-stream', Buffer.from([0, 1, 2]))).value, undefined);
    // */* catches the rest; text stays text (strict UTF-8).
    assert.equal(ok(val.validate('text/csv', Buffer.from('a,b'))).value, 'a,b');
    refused(val.validate('text/csv', Buffer.from([0xff])), 'request_invalid');
    refused(val.validate('text/csv; charset=latin1', Buffer.from('a')), 'unsupported_media_type');
    assert.equal(ok(val.validate(undefined, Buffer.from([0xff]))).value, undefined);
  });

  test('text/plain: strict UTF-8, validated as a string', () => {
    const val = validator(spec31, 'createPet');
    const r = ok(val.validate('text/plain', Buffer.from('hello')));
    assert.equal(r.value, 'hello');
    assert.deepEqual(r.inputs, [{ location: 'body', name: '', type: 'string', format: undefined, enumerated: false, patterned: false }]);
    assert.deepEqual(rules(refused(val.validate('text/plain; charset=utf-8', Buffer.from('hello world!')), 'request_invalid')), [' maxLength']);
    assert.deepEqual(rules(refused(val.validate('text/plain', Buffer.from([0x68, 0xe9])), 'request_invalid')), [' encoding']);
    refused(val.validate('text/plain; charset=latin1', Buffer.from('hi')), 'unsupported_media_type');
  });
});

describe('application/x-www-form-urlencoded', () => {
  const FORM = 'application/x-www-form-urlencoded';
  test('pairs are decoded and coerced to the declared types; repeated keys are arrays', () => {
    const val = validator(spec31, 'createPet');
    const r = ok(val.validate(FORM, Buffer.from('name=Rex+T%C3%A9&age=3&ids=1&ids=-2&ok=true&&extra=%26%3D')));
    assert.deepEqual(r.value, { name: 'Rex Té', age: 3, ids: [1, -2], ok: true, extra: '&=' });
    assert.deepEqual(
      r.inputs.map((i) => `${i.name}:${String(i.type)}`),
      ['/name:string', '/age:integer', '/ids/0:integer', '/ids/1:integer', '/ok:boolean', '/extra:undefined'],
    );
    assert.deepEqual(ok(val.validate(FORM, Buffer.from('name=a&ids=5'))).value, { name: 'a', ids: [5] }, 'one value of an array property');
    assert.deepEqual(ok(val.validate(FORM, Buffer.from('name'))).value, { name: '' });
  });

  test('values that are not the declared type, repeated scalars, missing required', () => {
    const val = validator(spec31, 'createPet');
    assert.deepEqual(rules(refused(val.validate(FORM, Buffer.from('name=a&age=3.5&ok=yes&ids=1&ids=x')), 'request_invalid')), ['/age type', '/ids/1 type', '/ok type']);
    assert.deepEqual(rules(refused(val.validate(FORM, Buffer.from('name=a&age=1&age=2')), 'request_invalid')), ['/age type']);
    assert.deepEqual(rules(refused(val.validate(FORM, Buffer.from('age=01')), 'request_invalid')), ['/age type', '/name required']);
  });

  test('strict mode, bad encoding, forbidden names, limits', () => {
    const strict = validator(spec31, 'createPet', { strict: true, limits: { maxKeys: 4, maxStringLength: 5 } });
    assert.deepEqual(rules(refused(strict.validate(FORM, Buffer.from('name=a&extra=1')), 'request_invalid')), ['/extra undeclared']);
    assert.deepEqual(rules(refused(strict.validate(FORM, Buffer.from('name=a%2')), 'request_invalid')), [' encoding']);
    assert.deepEqual(rules(refused(strict.validate(FORM, Buffer.from('name=%FF')), 'request_invalid')), [' encoding']);
    const loose = validator(spec31, 'createPet');
    // `__proto__[x]` is bracket syntax: its base name is refused like the bare one.
    assert.deepEqual(rules(refused(loose.validate(FORM, Buffer.from('name=a&__proto__[x]=1&constructor=1&prototype=2')), 'request_invalid')), ['/__proto__ forbiddenKey', '/constructor forbiddenKey', '/prototype forbiddenKey']);
    assert.deepEqual(rules(refused(loose.validate(FORM, Buffer.from('name=a&__proto__=1&__proto__=2')), 'request_invalid')), ['/__proto__ forbiddenKey']);
    assert.deepEqual(rules(refused(loose.validate(FORM, Buffer.from('name=a&%5F_proto__=1')), 'request_invalid')), ['/__proto__ forbiddenKey'], 'after decoding');
    assert.deepEqual(rules(refused(strict.validate(FORM, Buffer.from('a=1&b=2&c=3&d=4&e=5')), 'json_limits_exceeded')), [' maxKeys']);
    assert.deepEqual(rules(refused(strict.validate(FORM, Buffer.from('name=123456')), 'json_limits_exceeded')), ['/name maxStringLength']);
  });

  test('pathological forms cost no more than an ordinary form of the same size', () => {
    const val = validator(spec31, 'signup', { strict: true });
    const size = 800_000;
    // The baseline: one long value, decoded to its end (then refused for its length).
    const ordinary = Buffer.from(`name=${'x'.repeat(size - 5)}`);
    refused(val.validate(FORM, ordinary), 'json_limits_exceeded');
    const cases: [string, Buffer, string][] = [
      ['many pairs', Buffer.from('a=1&'.repeat(size / 4)), 'json_limits_exceeded'],
      ['pairs without =', Buffer.from('a&'.repeat(size / 2)), 'json_limits_exceeded'],
      ['one name of brackets', Buffer.from(`a${'['.repeat(size - 3)}=1`), 'json_limits_exceeded'],
      ['bracketed names', Buffer.from('a[b=1&'.repeat(size / 6)), 'request_invalid'],
      ['open brackets then a close', Buffer.from(`name=a&a${'[x'.repeat(40_000)}]=1`), 'request_invalid'],
      ['a long delimited list', Buffer.from(`name=a&ids=${','.repeat(size - 11)}`), 'json_limits_exceeded'],
      ['a long space-delimited list', Buffer.from(`name=a&flags=${'+'.repeat(size - 13)}`), 'json_limits_exceeded'],
    ];
    for (const [what, body, code] of cases) {
      refused(val.validate(FORM, body), code);
      assertCheap(() => val.validate(FORM, body), () => val.validate(FORM, ordinary), { what, ratio: 1.5, ceilingMs: 250 });
    }
  });
});

describe('form bodies: encoding style and explode, bracketed names', () => {
  const FORM = 'application/x-www-form-urlencoded';
  const form = (s: string) => Buffer.from(s);

  test('deepObject members, exploded and delimited arrays, name[] appends; values coerced, typed inputs per member', () => {
    const val = validator(spec31, 'signup', { strict: true });
    const r = ok(val.validate(FORM, form('name=a&address%5Bcity%5D=Paris&address[zip]=75001&prefs[dark]=true&tags=x&tags[]=y&ids=1,2,3&codes=a%7Cb|c&flags=1+2')));
    assert.deepEqual(r.value, { name: 'a', address: { city: 'Paris', zip: 75001 }, prefs: { dark: true }, tags: ['x', 'y'], ids: [1, 2, 3], codes: ['a|b', 'c'], flags: [1, 2] });
    assert.deepEqual(
      r.inputs.map((i) => `${i.name}:${String(i.type)}`),
      ['/name:string', '/address/city:string', '/address/zip:integer', '/prefs/dark:boolean', '/tags/0:string', '/tags/1:string', '/ids/0:integer', '/ids/1:integer', '/ids/2:integer', '/codes/0:string', '/codes/1:string', '/flags/0:integer', '/flags/1:integer'],
    );
    assert.deepEqual(ok(val.validate(FORM, form('name=a&ids=&tags[]=z'))).value, { name: 'a', ids: [], tags: ['z'] }, 'an empty delimited list is no item');
    const short = validator(spec31, 'signup', { limits: { maxArrayLength: 3 } });
    assert.deepEqual(ok(short.validate(FORM, form('name=a&ids=1,2,3&flags=1+2+3'))).value, { name: 'a', ids: [1, 2, 3], flags: [1, 2, 3] });
    assert.deepEqual(rules(refused(short.validate(FORM, form('name=a&ids=1,2,3,4')), 'json_limits_exceeded')), ['/ids maxArrayLength']);
    assert.deepEqual(rules(refused(short.validate(FORM, form('name=a&flags=1%202+3+4')), 'json_limits_exceeded')), ['/flags maxArrayLength']);
  });

  test('the schema applies to what the brackets build: member types, required members, strict members', () => {
    const strict = validator(spec31, 'signup', { strict: true });
    assert.deepEqual(rules(refused(strict.validate(FORM, form('name=a&address[zip]=x')), 'request_invalid')), ['/address/city required', '/address/zip type']);
    assert.deepEqual(rules(refused(strict.validate(FORM, form('name=a&address[city]=P&address[country]=F')), 'request_invalid')), ['/address/country undeclared']);
    assert.deepEqual(rules(refused(strict.validate(FORM, form('name=a&other[k]=1')), 'request_invalid')), ['/other undeclared']);
    assert.deepEqual(rules(refused(strict.validate(FORM, form('name=a&ids=1%2C2')), 'request_invalid')), ['/ids/0 type'], 'an encoded comma stays in its item');
    const loose = validator(spec31, 'signup');
    assert.deepEqual(ok(loose.validate(FORM, form('name=a&address[city]=P&address[country]=F&other[k]=1&free[]=2'))).value, {
      name: 'a',
      address: { city: 'P', country: 'F' },
      other: { k: '1' },
      free: ['2'],
    });
  });

  test('malformed or undeclared serializations are 400 request_invalid with the field pointer, never the value', () => {
    const val = validator(spec31, 'signup', { strict: true });
    const cases: [string, string][] = [
      ['name=a&address[=1', '/address[ style'],
      ['name=a&address[city][x]=1', '/address[city][x] style'],
      ['name=a&address[city]x=1', '/address[city]x style'],
      ['name=a&[city]=1', '/[city] style'],
      ['name=a&a[b[c]=1', '/a[b[c] style'],
      ['name[]=a', '/name style'],
      ['name[first]=a', '/name style'],
      ['name=a&plain[a]=x', '/plain style'],
      ['name=a&address=x&address[city]=y', '/address style'],
      ['name=a&address[city]=y&address=x', '/address style'],
      ['name=a&ids=1&ids=2', '/ids style'],
      ['name=a&address[__proto__]=1', '/address/__proto__ forbiddenKey'],
      ['name=a&constructor[]=1', '/constructor forbiddenKey'],
    ];
    for (const [body, want] of cases) {
      const vs = refused(val.validate(FORM, form(body)), 'request_invalid');
      assert.deepEqual(rules(vs), [want], body);
      assert.equal(JSON.stringify(vs).includes('secret'), false);
    }
    const vs = refused(val.validate(FORM, form('name=a&address[city][secret]=1')), 'request_invalid');
    assert.equal(vs[0]?.location, 'body');
  });
});

describe('multipart/form-data', () => {
  const B = 'XyZ-boundary';
  type Part = { name: string; filename?: string; type?: string; body: string | Buffer; headers?: string[] };
  function multipart(parts: Part[], boundary = B, opts: { preamble?: string; close?: boolean } = {}): Buffer {
    const chunks: Buffer[] = [];
    if (opts.preamble !== undefined) chunks.push(Buffer.from(`${opts.preamble}\r\n`));
    for (const p of parts) {
      let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}\r\n`;
      if (p.type) head += `Content-Type: ${p.type}\r\n`;
      for (const h of p.headers ?? []) head += `${h}\r\n`;
      chunks.push(Buffer.from(`${head}\r\n`), Buffer.isBuffer(p.body) ? p.body : Buffer.from(p.body), Buffer.from('\r\n'));
    }
    if (opts.close !== false) chunks.push(Buffer.from(`--${boundary}--\r\n`));
    return Buffer.concat(chunks);
  }
  const CT = `multipart/form-data; boundary=${B}`;
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0x00]);

  test('a file part and text parts: values, coercion, JSON parts, typed inputs', () => {
    const val = validator(spec31, 'createPet');
    const body = multipart([
      { name: 'title', body: 'My pet' },
      { name: 'count', body: '42' },
      { name: 'photo', filename: 'rex.png', type: 'image/png', body: png },
      { name: 'meta', type: 'application/json', body: '{"a":1}' },
      { name: 'doc', body: Buffer.from([0xff, 0xfe]) }, // contentMediaType: a file, though no filename
      { name: 'notes', body: 'one' },
      { name: 'notes', body: 'two' },
    ]);
    const r = ok(val.validate(CT, body));
    assert.deepEqual(r.value, {
      title: 'My pet',
      count: 42,
      photo: { filename: 'rex.png', contentType: 'image/png', size: png.length },
      meta: { a: 1 },
      doc: { filename: undefined, contentType: undefined, size: 2 },
      notes: ['one', 'two'],
    });
    assert.deepEqual(
      r.inputs.map((i) => `${i.name}:${String(i.type)}`),
      ['/title:string', '/count:integer', '/meta/a:integer', '/notes/0:string', '/notes/1:string'],
      'no typed input for file parts',
    );
    // Quoted boundary, a preamble, an epilogue, LWSP after the delimiter.
    const quoted = Buffer.concat([multipart([{ name: 'title', body: 't' }, { name: 'photo', filename: 'a.jpg', type: 'image/jpeg', body: 'x' }], 'a b:c', { preamble: 'ignored' }), Buffer.from('epilogue')]);
    ok(val.validate('multipart/form-data; boundary="a b:c"', quoted));
  });

  test('file parts are validated as strings of their size; required parts; strict', () => {
    const val = validator(spec31, 'createPet', { strict: true });
    const big = Buffer.alloc(1001, 1);
    assert.deepEqual(rules(refused(val.validate(CT, multipart([{ name: 'title', body: 't' }, { name: 'photo', filename: 'p.png', type: 'image/png', body: big }])), 'request_invalid')), ['/photo maxLength']);
    assert.deepEqual(rules(refused(val.validate(CT, multipart([{ name: 'title', body: 't' }])), 'request_invalid')), ['/photo required']);
    assert.deepEqual(
      rules(refused(val.validate(CT, multipart([{ name: 'title', body: 'this title is far too long' }, { name: 'count', body: 'x' }, { name: 'photo', filename: 'p.png', type: 'image/png', body: 'x' }, { name: 'other', body: 'y' }])), 'request_invalid')),
      ['/count type', '/other undeclared', '/title maxLength'],
    );
    // A JSON part is checked like a JSON body.
    assert.deepEqual(rules(refused(val.validate(CT, multipart([{ name: 'title', body: 't' }, { name: 'photo', filename: 'p', type: 'image/png', body: 'x' }, { name: 'meta', body: '{"a":1,"a":2}' }])), 'request_invalid')), ['/meta duplicateKey']);
    assert.deepEqual(rules(refused(val.validate(CT, multipart([{ name: 'title', body: 't' }, { name: 'photo', filename: 'p', type: 'image/png', body: 'x' }, { name: 'meta', body: '{"__proto__":{}}' }])), 'request_invalid')), ['/meta/__proto__ forbiddenKey']);
  });

  test('the encoding contentType is enforced', () => {
    const val = validator(spec31, 'createPet');
    const body = (type: string | undefined) => multipart([{ name: 'title', body: 't' }, { name: 'photo', filename: 'x.gif', ...(type ? { type } : {}), body: 'GIF89a' }]);
    assert.deepEqual(rules(refused(val.validate(CT, body('image/gif')), 'request_invalid')), ['/photo contentType']);
    assert.deepEqual(rules(refused(val.validate(CT, body(undefined)), 'request_invalid')), ['/photo contentType'], 'a file without type is application/octet-stream');
    ok(val.validate(CT, body('IMAGE/PNG')));
    ok(val.validate(CT, body('image/jpeg; q=1')));
  });

  test('without encoding contentType, parts take the OpenAPI default of their schema', () => {
    const val = validator(spec31, 'parts', { strict: true });
    const r = ok(
      val.validate(
        CT,
        multipart([
          { name: 'title', body: 'plain' },
          { name: 'meta', type: 'application/json', body: '{"a":1}' },
          { name: 'items', body: '{"n":1}' },
          { name: 'items', type: 'application/vnd.item+json; charset=utf-8', body: '{"n":2}' },
          { name: 'photo', filename: 'p.png', type: 'image/png', body: png },
          { name: 'blob', type: 'application/zip', body: 'PK' },
          { name: 'anything', type: 'application/xml', body: '<a/>' },
          { name: 'scores', type: 'text/plain; charset=utf-8', body: '7' },
          { name: 'scores', body: '8' },
          { name: 'count', type: 'application/json', body: '42' },
        ]),
      ),
    );
    assert.deepEqual(r.value, {
      title: 'plain',
      meta: { a: 1 },
      items: [{ n: 1 }, { n: 2 }],
      photo: { filename: 'p.png', contentType: 'image/png', size: png.length },
      blob: { filename: undefined, contentType: 'application/zip', size: 2 },
      anything: '<a/>',
      scores: [7, 8],
      count: 42,
    });
    const refusals: [Part, string][] = [
      [{ name: 'title', type: 'application/json', body: '"t"' }, '/title contentType'],
      [{ name: 'title', filename: 't.png', type: 'image/png', body: png }, '/title contentType'],
      [{ name: 'meta', type: 'text/plain', body: '{"a":1}' }, '/meta contentType'],
      [{ name: 'items', type: 'application/xml', body: '<n>1</n>' }, '/items contentType'],
      [{ name: 'scores', type: 'application/json', body: '1' }, '/scores contentType'],
      [{ name: 'count', body: '42' }, '/count contentType'],
    ];
    for (const [part, want] of refusals) assert.deepEqual(rules(refused(val.validate(CT, multipart([part])), 'request_invalid')), [want], JSON.stringify(part));
  });

  test('a JSON part must parse and validate against its property schema', () => {
    const val = validator(spec31, 'parts', { strict: true });
    const one = (body: string, type?: string) => multipart([{ name: 'meta', ...(type ? { type } : {}), body }]);
    assert.deepEqual(rules(refused(val.validate(CT, one('{"a":"x"}')), 'request_invalid')), ['/meta/a type']);
    assert.deepEqual(rules(refused(val.validate(CT, one('{"b":1}', 'application/json')), 'request_invalid')), ['/meta/a required', '/meta/b undeclared']);
    assert.deepEqual(rules(refused(val.validate(CT, one('{"a":1', 'application/json')), 'request_invalid')), ['/meta json']);
    assert.deepEqual(rules(refused(val.validate(CT, one('{"a":1,"a":2}')), 'request_invalid')), ['/meta duplicateKey']);
    assert.deepEqual(rules(refused(val.validate(CT, multipart([{ name: 'items', body: '[1]' }])), 'request_invalid')), ['/items/0 type']);
  });

  test('limits: too many parts, an oversize part, a long text part', () => {
    const val = validator(spec31, 'createPet', { limits: { maxParts: 3, maxPartBytes: 100, maxStringLength: 10 } });
    const four = multipart([1, 2, 3, 4].map((i) => ({ name: `n${i}`, body: 'x' })));
    assert.deepEqual(rules(refused(val.validate(CT, four), 'json_limits_exceeded')), [' maxParts']);
    const oversize = multipart([{ name: 'title', body: 't' }, { name: 'photo', filename: 'p.png', type: 'image/png', body: Buffer.alloc(101, 0x41) }]);
    assert.deepEqual(rules(refused(val.validate(CT, oversize), 'json_limits_exceeded')), ['/photo maxPartBytes']);
    const exact = multipart([{ name: 'title', body: 't' }, { name: 'photo', filename: 'p.png', type: 'image/png', body: Buffer.alloc(100, 0x41) }]);
    ok(val.validate(CT, exact));
    assert.deepEqual(rules(refused(val.validate(CT, multipart([{ name: 'title', body: '12345678901' }])), 'json_limits_exceeded')), ['/title maxStringLength']);
    // A huge unterminated part is refused at the bound, without scanning it all.
    const huge = Buffer.concat([Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="photo"; filename="a"\r\n\r\n`), Buffer.alloc(5_000_000, 0x41)]);
    assert.deepEqual(rules(refused(val.validate(CT, huge), 'json_limits_exceeded')), ['/photo maxPartBytes']);
  });

  test('malformed bodies and boundaries', () => {
    const val = validator(spec31, 'createPet');
    const good = multipart([{ name: 'title', body: 't' }, { name: 'photo', filename: 'p.png', type: 'image/png', body: 'x' }]);
    const malformed = (ct: string, body: Buffer | string) => rules(refused(val.validate(ct, Buffer.isBuffer(body) ? body : Buffer.from(body)), 'request_invalid'));
    assert.deepEqual(malformed('multipart/form-data', good), [' multipart'], 'no boundary parameter');
    assert.deepEqual(malformed('multipart/form-data; boundary=""', good), [' multipart'], 'empty boundary');
    assert.deepEqual(malformed(`multipart/form-data; boundary=${'a'.repeat(71)}`, good), [' multipart'], 'boundary too long');
    assert.deepEqual(malformed('multipart/form-data; boundary="a\\"b"', good), [' multipart'], 'not a bchar');
    assert.deepEqual(malformed('multipart/form-data; boundary=other', good), [' multipart'], 'boundary not in the body');
    assert.deepEqual(malformed(CT, multipart([{ name: 'title', body: 't' }], B, { close: false })), ['/title multipart'], 'no closing delimiter');
    assert.deepEqual(malformed(CT, `--${B}X\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--${B}--`), [' multipart'], 'delimiter followed by junk');
    assert.deepEqual(malformed(CT, `--${B}\r\nContent-Type: text/plain\r\n\r\nv\r\n--${B}--`), [' multipart'], 'no Content-Disposition');
    assert.deepEqual(malformed(CT, `--${B}\r\nContent-Disposition: attachment; name="a"\r\n\r\nv\r\n--${B}--`), [' multipart'], 'not form-data');
    assert.deepEqual(malformed(CT, `--${B}\r\nContent-Disposition: form-data; filename="a"\r\n\r\nv\r\n--${B}--`), [' multipart'], 'no name');
    assert.deepEqual(malformed(CT, `--${B}\r\nContent-Disposition: form-data; name="a"; name="b"\r\n\r\nv\r\n--${B}--`), [' multipart'], 'repeated parameter');
    assert.deepEqual(malformed(CT, `--${B}\r\nContent-Disposition: form-data; name="a"\r\n folded\r\n\r\nv\r\n--${B}--`), [' multipart'], 'folded header');
    assert.deepEqual(malformed(CT, `--${B}\r\nContent-Disposition: form-data; name="a"\r\nContent-Transfer-Encoding: base64\r\n\r\nv\r\n--${B}--`), [' multipart'], 'transfer encoding');
    assert.deepEqual(malformed(CT, `--${B}\r\n\r\nv\r\n--${B}--`), [' multipart'], 'no headers');
    assert.deepEqual(malformed(CT, `--${B}\r\nContent-Disposition: form-data; name="a"${'x'.repeat(9000)}`), [' multipart'], 'endless headers');
    assert.deepEqual(malformed(CT, multipart([{ name: '__proto__', body: 'x' }])), ['/__proto__ forbiddenKey']);
    assert.deepEqual(malformed(CT, multipart([{ name: 'title', body: Buffer.from([0xff]) }])), ['/title encoding']);
    assert.deepEqual(malformed(CT, multipart([{ name: 'title', type: 'text/plain; charset=latin1', body: 'x' }])), ['/title charset']);
  });

  test('3.0: format binary files, arrays of files, no encoding', async () => {
    const val = validator(spec30, 'createItem');
    const body = multipart([
      { name: 'file', filename: 'a.bin', type: 'application/octet-stream', body: 'abc' },
      { name: 'files', body: 'x' },
      { name: 'files', filename: 'c.txt', type: 'text/plain', body: 'yz' },
    ]);
    assert.deepEqual(ok(val.validate(CT, body)).inputs, [], 'file parts, in arrays too, are no typed inputs');
    assert.deepEqual(ok(val.validate(CT, body)).value, {
      file: { filename: 'a.bin', contentType: 'application/octet-stream', size: 3 },
      files: [
        { filename: undefined, contentType: undefined, size: 1 },
        { filename: 'c.txt', contentType: 'text/plain', size: 2 },
      ],
    });
    // filename* (RFC 8187) is decoded.
    const ext = Buffer.from(`--${B}\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf\r\n\r\nPDF\r\n--${B}--\r\n`);
    assert.deepEqual(ok(val.validate(CT, ext)).value, { file: { filename: 'résumé.pdf', contentType: undefined, size: 3 } });
  });
});

describe('compilation', () => {
  test('a request body declared by $ref in another file (and a schema $ref into a third)', () => {
    const val = validator(spec31, 'createOrder');
    assert.equal(val.required, true);
    const r = ok(val.validate(JSON_CT, json({ qty: 2, note: 'hi' })));
    assert.deepEqual(
      r.inputs.map((i) => `${i.name}:${String(i.type)}`),
      ['/qty:integer', '/note:string'],
    );
    assert.deepEqual(rules(refused(val.validate(JSON_CT, json({ qty: 11, note: 'too long' })), 'request_invalid')), ['/note maxLength', '/qty maximum']);
    assert.deepEqual(rules(refused(val.validate(JSON_CT, Buffer.alloc(0)), 'request_invalid')), [' required']);
  });

  test('recursive schemas through oneOf: strict and typed inputs stay bounded and exact', () => {
    const val = validator(spec31, 'tree', { strict: true });
    // Kept shallow: ajv with allErrors (SchemaCompiler) validates every oneOf branch to the end,
    // which costs 2^depth on recursive oneOf schemas (reported; not this module's walk).
    let body: Record<string, unknown> = { leaf: 0 };
    for (let i = 1; i < 12; i++) body = i % 2 ? { label: 'a', next: body } : { leaf: i, next: body };
    const r = ok(val.validate(JSON_CT, json(body)));
    assert.equal(r.inputs.length, 12);
    // `label` is declared by one branch only, `leaf` by the other: nothing is guaranteed.
    assert.deepEqual(r.inputs[0], { location: 'body', name: '/label', type: undefined, format: undefined, enumerated: false, patterned: false });
    const deep = `${'/next'.repeat(11)}/zzz`;
    let bad: Record<string, unknown> = { leaf: 0, zzz: 1 };
    for (let i = 1; i < 12; i++) bad = { leaf: i, next: bad };
    assert.deepEqual(rules(refused(val.validate(JSON_CT, json(bad)), 'request_invalid')), [`${deep} undeclared`]);
  });

  test('no requestBody: no validator', () => {
    const { validator: val, problems } = compile(spec31, 'nobody');
    assert.equal(val, undefined);
    assert.deepEqual(problems, []);
  });

  test('a schema that cannot be compiled is an error, and its bodies are refused (fail closed)', () => {
    const { validator: val, problems } = compile(spec31, 'broken');
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.severity, 'error');
    assert.match(problems[0]?.message ?? '', /^\/paths\/~1broken\/post\/requestBody\/content\/application~1json\/schema: the schema cannot be compiled/);
    assert.ok(val);
    assert.deepEqual(rules(refused(val.validate(JSON_CT, json('x')), 'request_invalid')), [' schema']);
  });

  test('3.0 keywords: nullable, boolean exclusiveMinimum; not required', () => {
    const val = validator(spec30, 'createItem', { strict: true });
    assert.equal(val.required, false);
    ok(val.validate(JSON_CT, json({ price: 1, note: null })));
    assert.deepEqual(rules(refused(val.validate(JSON_CT, json({ price: 0 })), 'request_invalid')), ['/price exclusiveMinimum']);
    assert.deepEqual(rules(refused(val.validate(JSON_CT, json({ price: 1, x: 1 })), 'request_invalid')), ['/x undeclared']);
  });

  test('a schema on a media type the gateway cannot read is a warning', async () => {
    const file = path.join(tmp, 'xml.yaml');
    await writeFile(
      file,
      `openapi: 3.1.0
info: {title: X, version: '1'}
paths:
  /x:
    post:
      operationId: x
      requestBody:
        content:
          application/xml:
            schema: {type: object}
          'bogus':
            schema: {type: object}
          multipart/form-data:
            schema: {type: object, properties: {f: {type: string}}}
            encoding:
              f: {contentType: 'not a type'}
      responses: {'200': {description: ok}}
`,
    );
    const spec = await load(file);
    const { validator: val, problems } = compile(spec, 'x');
    const shown = problems.map((p) => `${p.severity} ${p.message}`).sort();
    assert.equal(shown.length, 3, shown.join('\n'));
    assert.ok(shown[0]?.startsWith('warning /paths/~1x/post/requestBody/content/application~1xml/schema: bodies of application/xml are checked for their media type only'), shown[0]);
    assert.ok(shown[1]?.startsWith('warning /paths/~1x/post/requestBody/content/bogus: "bogus" is not a media type'), shown[1]);
    assert.ok(shown[2]?.startsWith('warning /paths/~1x/post/requestBody/content/multipart~1form-data/encoding/f/contentType: expected a comma-separated list'), shown[2]);
    assert.ok(val);
    assert.equal(ok(val.validate('application/xml', Buffer.from('<a/>'))).value, undefined);
  });
});

describe('the strict walk keeps a bounded memo', () => {
  // Arrays and members whose schema combines two branches (allOf with `items` in both, two
  // `additionalProperties` schemas) get a combined schema per element or member name. Those
  // answers are memoized per schema; the memo must not grow with the requests seen.
  const SPEC = `
openapi: 3.1.0
info: {title: Memo, version: '1'}
paths:
  /rows:
    post:
      operationId: rows
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                rows:
                  allOf:
                    - {type: array, items: {type: object, properties: {a: {type: integer}}}}
                    - {type: array, items: {type: object, properties: {b: {type: integer}}}}
                bag:
                  allOf:
                    - {type: object, additionalProperties: {type: object, properties: {a: {type: integer}}}}
                    - {type: object, additionalProperties: {type: object, properties: {b: {type: integer}}}}
      responses: {'200': {description: ok}}
`;

  test('many requests with fresh member names and array items do not grow the heap', async () => {
    const v8 = await import('node:v8');
    const vm = await import('node:vm');
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const file = path.join(tmp, 'memo.yaml');
    await writeFile(file, SPEC);
    const val = validator(await load(file), 'rows', { strict: true });
    const body = (n: number) => json({ rows: [{ a: 1, b: 2 }, { a: 3 }], bag: { [`k${n}`]: { a: 1, b: 2 }, [`j${n}`]: { b: 1 } } });
    // The walk must still decide: an undeclared member deep inside is refused.
    assert.deepEqual(rules(refused(val.validate(JSON_CT, json({ rows: [{ a: 1, z: 1 }] }), { inputs: false }), 'request_invalid')), ['/rows/0/z undeclared']);
    assert.deepEqual(rules(refused(val.validate(JSON_CT, json({ bag: { q: { a: 1, z: 1 } } })), 'request_invalid')), ['/bag/q/z undeclared']);
    for (let i = 0; i < 5000; i++) ok(val.validate(JSON_CT, body(i), { inputs: i % 2 === 0 }));
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 5000; i < 45000; i++) ok(val.validate(JSON_CT, body(i), { inputs: i % 2 === 0 }));
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    assert.ok(grown < 4 * 1024 * 1024, `heap grew by ${(grown / 1048576).toFixed(1)} MiB over 40000 requests`);
  });
});
