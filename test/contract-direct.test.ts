/**
 * The direct JSON check (src/contract/json-direct.ts), the body stage's fast path, against the
 * full path (pre-scan, JSON.parse, limits, ajv, strict walk): on generated bodies, valid ones
 * and mutated ones (bytes flipped, members repeated, escapes, non-ASCII, other number spellings,
 * types changed, bounds crossed, JSON limits reached), the fast path must never accept what the
 * full path refuses, and every refusal must be the full path's own answer.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { LoadedSpec } from '../src/config/types.js';
import { compileBody, DEFAULT_BODY_LIMITS, type BodyLimits, type BodyValidator } from '../src/contract/body.js';
import { loadOpenApi } from '../src/contract/index.js';
import { SchemaCompiler, type TypedInput } from '../src/contract/schema-compiler.js';
import { ORDER_SCHEMA_YAML } from '../bench/contract-spec.js';
import { assertCheap } from './contract-timing.js';
import { prng } from './helpers.js';

const SPEC = `
openapi: 3.1.0
info: {title: Direct, version: '1'}
paths:
  /orders:
    post:
      operationId: order
      requestBody:
        required: true
        content: {application/json: {schema: {$ref: '#/components/schemas/Order'}}}
      responses: {'200': {description: ok}}
  /events:
    post:
      operationId: event
      requestBody:
        content:
          application/json:
            schema:
              type: object
              required: [id, at, level]
              properties:
                id: {type: string, format: uuid}
                at: {type: string, format: date-time}
                day: {type: string, format: date}
                level: {type: integer, minimum: -3, maximum: 3}
                ratio: {type: number, exclusiveMinimum: 0, exclusiveMaximum: 1}
                tags: {type: array, minItems: 1, maxItems: 3, items: {type: string, minLength: 2, maxLength: 4, pattern: '^[a-z]+$'}}
                grid: {type: array, items: {type: array, items: {type: integer}}}
                flag: {type: boolean}
                kind: {type: string, enum: [a, bb, ccc]}
                word: {type: string, pattern: '^\\p{L}+$'}
  /loose:
    post:
      operationId: loose
      requestBody:
        content:
          application/json:
            schema:
              anyOf:
                - {type: object, properties: {a: {type: integer}}}
                - {type: object, properties: {b: {type: string}}}
      responses: {'200': {description: ok}}
  /nullable:
    post:
      operationId: nullable
      requestBody:
        content:
          application/json:
            schema: {type: object, properties: {a: {type: [string, 'null']}, n: {type: integer, multipleOf: 2}}}
      responses: {'200': {description: ok}}
components:
  schemas:
${ORDER_SCHEMA_YAML}`;

let tmp = '';
let spec: LoadedSpec;
before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'portcullis-direct-'));
  await writeFile(path.join(tmp, 'spec.yaml'), SPEC);
  const loaded = await loadOpenApi(path.join(tmp, 'spec.yaml'));
  assert.ok(loaded.spec, JSON.stringify(loaded.diagnostics));
  spec = loaded.spec;
});
after(() => rm(tmp, { recursive: true, force: true }));

function validator(operationId: string, strict: boolean, limits: Partial<BodyLimits> = {}): BodyValidator {
  const op = spec.operations.find((o) => o.operationId === operationId);
  assert.ok(op);
  const { validator: v, problems } = compileBody(spec, op, new SchemaCompiler(spec), { strict, limits: { ...DEFAULT_BODY_LIMITS, ...limits } });
  assert.deepEqual(problems, []);
  assert.ok(v);
  return v;
}

const CT = 'application/json';

function validOrder(r: () => number): Record<string, unknown> {
  const hex = () => Math.floor(r() * 0x100000000).toString(16).padStart(8, '0');
  const o: Record<string, unknown> = {
    orderId: `ord-${hex()}`,
    customer: { id: `c-${Math.floor(r() * 1e6)}`, name: ['Ada Lovelace', 'Grace', 'Edsger W. Dijkstra'][Math.floor(r() * 3)], email: ['ada@example.com', 'g.h@navy.example.org'][Math.floor(r() * 2)] },
    items: Array.from({ length: 1 + Math.floor(r() * 4) }, (_, i) => ({ sku: `SKU-${i}`, qty: 1 + Math.floor(r() * 9), price: Math.round(r() * 100000) / 100 })),
  };
  if (r() < 0.5) (o.customer as Record<string, unknown>).tier = ['bronze', 'silver', 'gold'][Math.floor(r() * 3)];
  if (r() < 0.5) o.notes = 'Leave at the front desk, fragile.';
  return o;
}

function validEvent(r: () => number): Record<string, unknown> {
  const o: Record<string, unknown> = { id: '3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e', at: '2026-12-07T16:13:19Z', level: Math.floor(r() * 7) - 3 };
  if (r() < 0.5) o.day = '2026-02-28';
  if (r() < 0.5) o.ratio = r() * 0.98 + 0.01;
  if (r() < 0.5) o.tags = ['ab', 'xyz'].slice(0, 1 + Math.floor(r() * 2));
  if (r() < 0.5) o.grid = [[1, 2], [], [3]];
  if (r() < 0.5) o.flag = r() < 0.5;
  if (r() < 0.5) o.kind = ['a', 'bb', 'ccc'][Math.floor(r() * 3)];
  if (r() < 0.3) o.word = 'abc';
  return o;
}

/** Text-level changes that keep most of the body and hit the places a byte reader can get wrong. */
const EDITS: ((text: string, r: () => number) => string)[] = [
  (t, r) => {
    const i = Math.floor(r() * t.length);
    return t.slice(0, i) + String.fromCharCode(32 + Math.floor(r() * 95)) + t.slice(i + 1);
  },
  (t, r) => {
    const i = Math.floor(r() * t.length);
    return t.slice(0, i) + t.slice(i + 1);
  },
  (t, r) => {
    const i = Math.floor(r() * t.length);
    return t.slice(0, i) + ['"', ',', '}', ']', ':', '\\', ' ', '\n', '\t', '\u0000', '\u007f', 'é', '0', '-', 'e', '.'][Math.floor(r() * 16)] + t.slice(i);
  },
  (t) => t.replace(/"(\w+)":/, '"$1":1,"$1":'), // a member twice (first one)
  (t) => t.replace(/,"(\w+)":("[^"]*"|[0-9.]+)/, ',"$1":$2,"$1":$2'), // a member twice, same value
  (t) => t.replace('"orderId"', '"order\\u0049d"').replace('"level"', '"lev\\u0065l"'), // escaped names
  (t) => t.replace(/"([a-z]+)"/, '"$1\\u0041"'),
  (t) => t.replace('Lovelace', 'Lovel\u00e4ce').replace('xyz', 'x\u00e9'),
  (t) => t.replace(/:(\d+)([,}])/, ':$1.0$2'),
  (t) => t.replace(/:(\d+)([,}])/, ':$1e0$2'),
  (t) => t.replace(/:(\d+)([,}])/, ':0$1$2'),
  (t) => t.replace(/:(\d+)([,}])/, ':-$1$2'),
  (t) => t.replace(/:(\d+)([,}])/, ':1e400$2'),
  (t) => t.replace(/:(\d+)([,}])/, ':"$1"$2'),
  (t) => t.replace(/:"([^"]*)"/, ':["$1"]'),
  (t) => t.replace(/:"([^"]*)"/, ':null'),
  (t) => t.replace(/:(true|false)/, ':"$1"'),
  (t) => t.replace('{', '{"extra":1,'),
  (t) => t.replace('{', '{"__proto__":{},'),
  (t) => t.replace('{', '{"constructor":1,'),
  (t) => t.slice(0, -1) + ',}',
  (t) => t + ' ',
  (t) => ' \r\n\t' + t,
  (t) => t + 'x',
  (t) => '\ufeff' + t,
  (t) => t.replace(/"(\w+)":/g, '"$1" : '),
  (t) => t.replace(/,/g, ' , '),
  (t) => t.replace(/"[a-z]+@/, '"a b@'),
  (t) => t.replace('ord-', 'ORD-'),
  (t) => t.replace(/"sku":"[^"]*"/, `"sku":"${'S'.repeat(40)}"`),
  (t) => t.replace(/"qty":\d+/, '"qty":0'),
  (t) => t.replace(/"level":-?\d+/, '"level":4'),
  (t) => t.replace(/"ratio":[0-9.e-]+/, '"ratio":1'),
  (t) => t.replace(/"tags":\[[^\]]*\]/, '"tags":[]'),
  (t) => t.replace(/"tags":\[[^\]]*\]/, '"tags":["ab","cd","ef","gh"]'),
  (t) => t.replace(/"kind":"[^"]*"/, '"kind":"b"'),
  (t) => t.replace(/"customer":\{/, '"customer":{"id":"x",'),
  (t) => t.replace(/"items":\[/, '"items":[[],'),
  (t) => t.replace('"day":"2026-02-28"', '"day":"2026-02-30"'),
  (t) => t.replace(/"orderId":"[^"]*",?/, '').replace(/"level":-?\d+,?/, ''), // a required member missing
  (t) => t.replace(/"email":"[^"]*",?/, '').replace(/"sku":"[^"]*",?/, ''),
  (t) => t.replace(/"price":[0-9.]+/, '"price":1e400').replace(/"ratio":[0-9.e-]+/, '"ratio":-1e400'),
  (t) => t.replace(/"name":"/, '"name":"\u0007').replace(/"name":"/, '"name":"\t'),
  (t) => t.replace(/"name":"/, '"name":"\u0000'),
  (t) => t.replace('"word":"abc"', '"word":"ab1"'),
];

function bodies(seed: number, n: number, make: (r: () => number) => Record<string, unknown>): { valid: string[]; mutated: string[] } {
  const r = prng(seed);
  const valid: string[] = [];
  const mutated: string[] = [];
  for (let i = 0; i < n; i++) {
    const text = JSON.stringify(make(r));
    valid.push(text);
    let m = text;
    const edits = 1 + Math.floor(r() * 2);
    for (let k = 0; k < edits; k++) m = EDITS[Math.floor(r() * EDITS.length)]!(m, r);
    mutated.push(m);
  }
  return { valid, mutated };
}

/** Values whose type says more than "a string": the ones detection may skip (threats/stage.ts provenSafe reads these). */
const typed = (i: TypedInput): boolean => i.enumerated || i.format !== undefined || (i.type !== undefined && i.type !== 'string');

/** Fast = the body stage with nobody reading the value (may take the direct path); full = the same validator made to parse. */
function compare(val: BodyValidator, texts: readonly string[]) {
  let direct = 0;
  let accepted = 0;
  let refused = 0;
  for (const text of texts) {
    const body = Buffer.from(text, 'utf8');
    const fast = val.validate(CT, body, { inputs: false, value: false });
    const full = val.validate(CT, body, { inputs: false, value: true });
    assert.equal(fast.ok, full.ok, `fast and full disagree on ${JSON.stringify(text)}`);
    if (!fast.ok) {
      refused++;
      assert.deepEqual(fast, full, text);
    } else {
      accepted++;
      // The full path always parses a non-empty JSON body; an undefined value is the direct path.
      if (fast.value === undefined) direct++;
      else assert.deepEqual(fast.value, full.ok ? full.value : undefined);
    }
    // With typed inputs wanted (threat detection on the route): the same answers, and the
    // direct path lists exactly the typed values the full path lists, in the same order.
    const fastI = val.validate(CT, body, { inputs: true, value: false });
    const fullI = val.validate(CT, body, { inputs: true, value: true });
    assert.equal(fastI.ok, full.ok, text);
    if (fastI.ok && fullI.ok) {
      if (fastI.value === undefined) assert.deepEqual(fastI.inputs, fullI.inputs.filter(typed), text);
      else assert.deepEqual(fastI.inputs, fullI.inputs, text);
    } else {
      assert.deepEqual(fastI, fullI, text);
    }
  }
  return { direct, accepted, refused };
}

describe('direct JSON check (the fast path) agrees with the full path', () => {
  for (const strict of [true, false]) {
    for (const [name, limits] of [
      ['default limits', {}],
      ['small limits', { maxDepth: 2, maxKeys: 12, maxArrayLength: 3, maxStringLength: 40 }],
    ] as const) {
      test(`orders and events, strict ${strict}, ${name}`, () => {
        for (const [op, make, seed] of [
          ['order', validOrder, 11],
          ['event', validEvent, 23],
        ] as const) {
          const val = validator(op, strict, limits);
          const { valid, mutated } = bodies(seed, 1500, make);
          const v = compare(val, valid);
          const m = compare(val, mutated);
          // The generated bodies are valid under default limits, and most take the direct path.
          if (name === 'default limits') {
            assert.equal(v.refused, 0, `${op}: a generated valid body was refused`);
            assert.ok(v.direct > v.accepted * 0.9, `${op}: only ${v.direct} of ${v.accepted} valid bodies took the direct path`);
          }
          // The mutations are not vacuous: both answers occur, and the direct path accepts some.
          if (name === 'default limits') {
            assert.ok(m.refused > 300 && m.accepted > 100, `${op}: ${m.accepted} accepted, ${m.refused} refused of the mutated bodies`);
            assert.ok(m.direct > 0, `${op}: no mutated body took the direct path`);
          } else {
            // Orders nest three deep: all refused at maxDepth 2; events mostly not.
            assert.ok(v.refused > 0 && (op === 'order' ? v.accepted === 0 : v.direct > 100), `${op}: ${v.accepted} accepted (${v.direct} directly), ${v.refused} refused`);
          }
        }
      });
    }
  }

  test('bytes that are not UTF-8, DEL and raw controls in strings: the full path decides', () => {
    const val = validator('order', true);
    const good = JSON.stringify(validOrder(prng(5)));
    const at = good.indexOf('"name":"') + 8;
    for (const bytes of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0x7f], [0x01], [0xc3, 0xa9]]) {
      const body = Buffer.concat([Buffer.from(good.slice(0, at)), Buffer.from(bytes), Buffer.from(good.slice(at))]);
      const fast = val.validate(CT, body, { inputs: false, value: false });
      const full = val.validate(CT, body, { inputs: false, value: true });
      assert.equal(fast.ok, full.ok, `bytes ${bytes.join(' ')}`);
      // Accepted ones (DEL, é) are accepted by the full path, which parsed them.
      if (fast.ok) assert.notEqual(fast.value, undefined, `bytes ${bytes.join(' ')} took the direct path`);
    }
    assert.equal(val.validate(CT, Buffer.concat([Buffer.from(good.slice(0, at)), Buffer.from([0xff]), Buffer.from(good.slice(at))]), { inputs: false, value: false }).ok, false);
  });

  test('pathological bodies cost the direct check linear time (twice the size, about twice the time)', () => {
    const val = validator('event', true, { maxStringLength: 2_000_000, maxArrayLength: 1_000_000, maxKeys: 1_000_000 });
    const head = '{"id":"3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e","at":"2026-12-07T16:13:19Z","level":1,';
    const cases: [string, (n: number) => string][] = [
      ['a long string (pattern checked)', (n) => `${head}"word":"${'a'.repeat(n)}"}`],
      ['a long digit run', (n) => `${head}"ratio":0.${'1'.repeat(n)}}`],
      ['many array items', (n) => `${head}"grid":[[${'1,'.repeat(n / 2)}1]]}`],
      ['whitespace everywhere', (n) => `${head}"flag":${' '.repeat(n)}true}`],
    ];
    for (const [what, make] of cases) {
      const big = Buffer.from(make(400_000));
      const half = Buffer.from(make(200_000));
      // Accepted directly (the full path is not what is timed here).
      const r = val.validate(CT, big, { inputs: false, value: false });
      assert.ok(r.ok && r.value === undefined, what);
      assertCheap(() => val.validate(CT, big, { inputs: false, value: false }), () => val.validate(CT, half, { inputs: false, value: false }), { what, ratio: 3, ceilingMs: 200 });
    }
  });

  test('schemas outside the subset have no direct path (the body is parsed)', () => {
    for (const [op, body] of [
      ['loose', { a: 1 }],
      ['nullable', { a: null, n: 2 }],
    ] as const) {
      const r = validator(op, true).validate(CT, Buffer.from(JSON.stringify(body)), { inputs: false, value: false });
      assert.ok(r.ok, op);
      assert.deepEqual(r.value, body, `${op}: expected the full path`);
    }
    // And a simple one takes it.
    const r = validator('event', true).validate(CT, Buffer.from(JSON.stringify({ id: '3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e', at: '2026-12-07T16:13:19Z', level: 0 })), { inputs: false, value: false });
    assert.ok(r.ok);
    assert.equal(r.value, undefined);
  });

  test('the direct path lists typed inputs for detection; a reader of the value turns it off', () => {
    const val = validator('event', true);
    const body = Buffer.from(JSON.stringify({ id: '3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e', at: '2026-12-07T16:13:19Z', level: 2, tags: ['ab'], grid: [[1]], kind: 'bb', word: 'x' }));
    const withInputs = val.validate(CT, body, { inputs: true, value: false });
    assert.ok(withInputs.ok);
    assert.equal(withInputs.value, undefined);
    assert.deepEqual(
      withInputs.inputs.map((i) => `${i.name} ${i.type} ${i.format ?? '-'} ${i.enumerated}`),
      ['/id string uuid false', '/at string date-time false', '/level integer - false', '/grid/0/0 integer - false', '/kind string - true'],
    );
    const withValue = val.validate(CT, body, { inputs: false, value: true });
    assert.ok(withValue.ok);
    assert.deepEqual(withValue.value, JSON.parse(body.toString()));
  });
});
