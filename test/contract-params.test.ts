/**
 * Request parameters against a real OpenAPI document loaded from files (one parameter and one
 * schema `$ref`'d from another file): every style / explode combination, coercion, formats,
 * enums, patterns, bounds, required, strict query, deepObject, cookies, headers, content
 * parameters, bounds on the query, percent-encoding errors, typed inputs, OpenAPI 3.0 nullable.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { LoadedSpec } from '../src/config/types.js';
import { loadOpenApi } from '../src/contract/index.js';
import { compileParameters, type ParameterOptions, type ParameterValidator } from '../src/contract/params.js';
import { SchemaCompiler, type TypedInput, type Violation } from '../src/contract/schema-compiler.js';
import { assertCheap } from './contract-timing.js';

const MAIN = `
openapi: 3.1.0
info: { title: params, version: '1' }
components:
  securitySchemes:
    key: { type: apiKey, in: query, name: api_key }
  schemas:
    Status: { type: string, enum: [open, closed] }
  parameters:
    Day: { name: day, in: query, schema: { type: string, format: date } }
paths:
  /things/{id}:
    parameters:
      - { name: id, in: path, required: true, schema: { type: string } }
      - { name: q, in: query, schema: { type: string, maxLength: 5 } }
    get:
      parameters:
        - { name: id, in: path, required: true, schema: { type: integer, minimum: 1 } }
        - $ref: './params.yaml#/Limit'
        - $ref: '#/components/parameters/Day'
        - { name: uuid, in: query, schema: { type: string, format: uuid } }
        - { name: email, in: query, schema: { type: string, format: email } }
        - { name: status, in: query, schema: { $ref: '#/components/schemas/Status' } }
        - { name: code, in: query, schema: { type: string, pattern: '^[A-Z]{3}$' } }
        - { name: price, in: query, schema: { type: number, exclusiveMinimum: 0 } }
        - { name: flag, in: query, schema: { type: boolean } }
        - { name: tags, in: query, schema: { type: array, items: { type: string }, maxItems: 3 } }
        - { name: ids, in: query, explode: false, schema: { type: array, items: { type: integer } } }
        - { name: sp, in: query, style: spaceDelimited, explode: false, schema: { type: array, items: { type: integer } } }
        - { name: pp, in: query, style: pipeDelimited, explode: false, schema: { type: array, items: { type: string, enum: [a, b, c] } } }
        - name: filter
          in: query
          style: deepObject
          explode: true
          schema:
            type: object
            additionalProperties: false
            properties:
              status: { $ref: '#/components/schemas/Status' }
              tag: { type: array, items: { type: string } }
              n: { type: integer }
        - name: color
          in: query
          schema: { type: object, properties: { R: { type: integer }, G: { type: integer } }, additionalProperties: false }
        - name: rgb
          in: query
          explode: false
          schema: { type: object, properties: { R: { type: integer }, G: { type: integer } }, additionalProperties: false }
        - name: where
          in: query
          content:
            application/json:
              schema: { type: object, required: [a], properties: { a: { type: integer } } }
        - { name: maybe, in: query, allowEmptyValue: true, schema: { type: integer } }
        - { name: any, in: query, schema: {} }
      responses: { '200': { description: ok } }
  /styles/{lab}/{labx}/{labo}/{mat}/{matx}/{mato}/{matox}/{sa}/{so}/{sox}:
    get:
      parameters:
        - { name: lab, in: path, required: true, style: label, schema: { type: integer } }
        - { name: labx, in: path, required: true, style: label, explode: true, schema: { type: array, items: { type: integer } } }
        - { name: labo, in: path, required: true, style: label, schema: { type: object, properties: { R: { type: integer } } } }
        - { name: mat, in: path, required: true, style: matrix, schema: { type: string, format: uuid } }
        - { name: matx, in: path, required: true, style: matrix, explode: true, schema: { type: array, items: { type: integer } } }
        - { name: mato, in: path, required: true, style: matrix, schema: { type: object, properties: { R: { type: integer } } } }
        - { name: matox, in: path, required: true, style: matrix, explode: true, schema: { type: object, properties: { R: { type: integer }, G: { type: boolean } } } }
        - { name: sa, in: path, required: true, schema: { type: array, items: { type: number } } }
        - { name: so, in: path, required: true, schema: { type: object, properties: { R: { type: integer } } } }
        - { name: sox, in: path, required: true, explode: true, schema: { type: object, properties: { R: { type: integer } } } }
      responses: { '200': { description: ok } }
  /headers:
    get:
      parameters:
        - { name: X-Request-Id, in: header, required: true, schema: { type: string, format: uuid } }
        - { name: X-Count, in: header, schema: { type: integer, maximum: 10 } }
        - { name: X-List, in: header, schema: { type: array, items: { type: integer } } }
        - { name: X-Obj, in: header, explode: true, schema: { type: object, properties: { a: { type: integer } } } }
        - { name: Accept, in: header, required: true, schema: { type: string } }
        - { name: session, in: cookie, required: true, schema: { type: string, minLength: 4 } }
        - { name: n, in: cookie, schema: { type: integer } }
        - { name: ctags, in: cookie, explode: false, schema: { type: array, items: { type: string } } }
        - { name: prefs, in: cookie, explode: false, schema: { type: object, properties: { theme: { type: string, enum: [dark, light] } } } }
      responses: { '200': { description: ok } }
  /strict:
    get:
      parameters:
        - { name: must, in: query, required: true, schema: { type: string } }
      responses: { '200': { description: ok } }
  /ext/{eid}:
    $ref: './item.yaml'
  /none:
    get:
      responses: { '200': { description: ok } }
  /broken/{id}:
    get:
      parameters:
        - { name: id, in: path, required: true, schema: { type: string } }
        - { name: nope, in: path, required: true, schema: { type: string } }
        - { name: d, in: query, style: deepObject, schema: { type: string } }
        - { name: m, in: query, style: matrix, schema: { type: string } }
        - { name: both, in: query, schema: { type: string }, content: { application/json: { schema: {} } } }
        - { name: bad, in: query, schema: { type: string, pattern: '([' } }
      responses: { '200': { description: ok } }
`;

const PARAMS = `
Limit:
  name: limit
  in: query
  schema:
    $ref: '#/LimitSchema'
LimitSchema:
  type: integer
  minimum: 1
  maximum: 100
`;

const ITEM = `
parameters:
  - $ref: '#/Eid'
get:
  parameters:
    - { name: page, in: query, schema: { $ref: '#/Page' } }
  responses: { '200': { description: ok } }
Eid: { name: eid, in: path, required: true, schema: { type: string, format: uuid } }
Page: { type: integer, minimum: 1 }
`;

const V30 = `
openapi: 3.0.3
info: { title: nullable, version: '1' }
paths:
  /n:
    get:
      parameters:
        - { name: n, in: query, schema: { type: integer, nullable: true } }
        - { name: s, in: query, schema: { type: string, nullable: true, maxLength: 4 } }
        - { name: m, in: query, schema: { type: integer, minimum: 5, exclusiveMinimum: true } }
      responses: { '200': { description: ok } }
`;

const tmp = await mkdtemp(path.join(os.tmpdir(), 'portcullis-params-'));
after(() => rm(tmp, { recursive: true, force: true }));

async function load(files: Record<string, string>, main: string): Promise<LoadedSpec> {
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(tmp, name), text);
  const { spec, diagnostics } = await loadOpenApi(path.join(tmp, main));
  assert.ok(spec, JSON.stringify(diagnostics));
  return spec;
}

const LAX: ParameterOptions = { strictQuery: false, maxQueryParams: 100 };
const STRICT: ParameterOptions = { strictQuery: true, maxQueryParams: 100 };

let spec: LoadedSpec;
let compiler: SchemaCompiler;
before(async () => {
  spec = await load({ 'main.yaml': MAIN, 'params.yaml': PARAMS, 'item.yaml': ITEM }, 'main.yaml');
  compiler = new SchemaCompiler(spec);
});

function compile(template: string, opts: ParameterOptions = LAX) {
  const op = spec.operations.find((o) => o.path === template);
  assert.ok(op, template);
  return compileParameters(spec, op, compiler, opts);
}

function validator(template: string, opts: ParameterOptions = LAX): ParameterValidator {
  const { validator: v, problems } = compile(template, opts);
  assert.deepEqual(
    problems.filter((p) => p.severity === 'error'),
    [],
  );
  assert.ok(v);
  return v;
}

interface Req {
  params?: Record<string, string>;
  query?: string;
  headers?: IncomingHttpHeaders;
}

function run(v: ParameterValidator, req: Req): { violations: Violation[]; typed: TypedInput[] } {
  const violations: Violation[] = [];
  const typed = v.validate({ params: req.params ?? {}, rawQuery: req.query ?? '', headers: req.headers ?? {} }, violations);
  return { violations, typed };
}

/** Violations as `location name pointer rule`. */
function short(vs: readonly Violation[]): string[] {
  return vs.map((v) => `${v.location} ${v.name} ${v.pointer} ${v.rule}`);
}

function accepts(v: ParameterValidator, req: Req): TypedInput[] {
  const { violations, typed } = run(v, req);
  assert.deepEqual(violations, [], `should accept ${JSON.stringify(req)}`);
  return typed;
}

function refuses(v: ParameterValidator, req: Req, expected: string[]): Violation[] {
  const { violations } = run(v, req);
  assert.deepEqual(short(violations), expected, `violations of ${JSON.stringify(req)}`);
  return violations;
}

describe('query parameters (form, $ref across files, coercion)', () => {
  const ID = { id: '7' };
  let v: ParameterValidator;
  before(() => {
    v = validator('/things/{id}');
  });

  test('the operation overrides the path item: id is an integer ≥ 1', () => {
    accepts(v, { params: ID });
    refuses(v, { params: { id: '12a' } }, ['path id  type']);
    refuses(v, { params: { id: '0' } }, ['path id  minimum']);
    refuses(v, { params: {} }, ['path id  required']);
    // The path item's own query parameter is still there.
    accepts(v, { params: ID, query: 'q=abc' });
    refuses(v, { params: ID, query: 'q=abcdef' }, ['query q  maxLength']);
  });

  test('integers: only plain decimal text is coerced', () => {
    accepts(v, { params: ID, query: 'limit=100' });
    for (const bad of ['12a', '1e3', '1.0', '+5', '007', ' 5', '0x10', '99999999999999999999']) {
      const [viol] = refuses(v, { params: ID, query: `limit=${encodeURIComponent(bad)}` }, ['query limit  type']);
      assert.equal(viol?.expected, 'type integer');
    }
    const [viol] = refuses(v, { params: ID, query: 'limit=101' }, ['query limit  maximum']);
    assert.equal(viol?.expected, '<= 100');
    refuses(v, { params: ID, query: 'limit=0' }, ['query limit  minimum']);
    refuses(v, { params: ID, query: 'limit=-1' }, ['query limit  minimum']);
  });

  test('numbers take JSON number syntax, booleans only true/false', () => {
    accepts(v, { params: ID, query: 'price=1e3&flag=true' });
    accepts(v, { params: ID, query: 'price=0.5&flag=false' });
    refuses(v, { params: ID, query: 'price=0' }, ['query price  exclusiveMinimum']);
    refuses(v, { params: ID, query: 'price=.5' }, ['query price  type']);
    refuses(v, { params: ID, query: 'price=1.' }, ['query price  type']);
    refuses(v, { params: ID, query: 'price=Infinity' }, ['query price  type']);
    refuses(v, { params: ID, query: 'flag=1' }, ['query flag  type']);
    refuses(v, { params: ID, query: 'flag=TRUE' }, ['query flag  type']);
  });

  test('formats, enums (through a $ref), patterns', () => {
    accepts(v, { params: ID, query: 'uuid=0b4c5b8e-8b9a-4c1e-9a8e-2f0b6d3c1a7e&day=2024-02-29&email=a%40example.com&status=open&code=ABC' });
    refuses(v, { params: ID, query: 'uuid=0b4c5b8e' }, ['query uuid  format']);
    refuses(v, { params: ID, query: 'day=2023-02-29' }, ['query day  format']);
    refuses(v, { params: ID, query: 'email=nobody' }, ['query email  format']);
    const [e] = refuses(v, { params: ID, query: 'status=pending' }, ['query status  enum']);
    assert.equal(e?.expected, 'one of the declared values: "open", "closed"');
    refuses(v, { params: ID, query: 'code=abc' }, ['query code  pattern']);
    // `+` is a space in form style: "A C" fails the pattern, "%2B" is a literal plus.
    refuses(v, { params: ID, query: 'code=A+C' }, ['query code  pattern']);
    refuses(v, { params: ID, query: 'code=A%2BC' }, ['query code  pattern']);
  });

  test('violations never carry the value', () => {
    const secret = 'SECRET-VALUE-123';
    const { violations } = run(v, { params: { id: secret }, query: `limit=${secret}&uuid=${secret}&filter[n]=${secret}&rgb=R,${secret}` });
    assert.deepEqual(short(violations), ['path id  type', 'query limit  type', 'query uuid  format', 'query filter /n type', 'query rgb /R type']);
    assert.ok(!JSON.stringify(violations).includes(secret));
  });

  test('arrays: form exploded (repeated), form not exploded (commas), spaceDelimited, pipeDelimited', () => {
    accepts(v, { params: ID, query: 'tags=a&tags=b,c' });
    refuses(v, { params: ID, query: 'tags=a&tags=b&tags=c&tags=d' }, ['query tags  maxItems']);
    accepts(v, { params: ID, query: 'ids=1,2,3' });
    refuses(v, { params: ID, query: 'ids=1,x,3' }, ['query ids /1 type']);
    refuses(v, { params: ID, query: 'ids=1&ids=2' }, ['query ids  multiple']);
    // An encoded comma stays inside its item.
    refuses(v, { params: ID, query: 'ids=1%2C2,3' }, ['query ids /0 type']);
    accepts(v, { params: ID, query: 'sp=1%202%203' });
    accepts(v, { params: ID, query: 'sp=1+2' });
    refuses(v, { params: ID, query: 'sp=1%20two' }, ['query sp /1 type']);
    accepts(v, { params: ID, query: 'pp=a|b%7Cc' });
    refuses(v, { params: ID, query: 'pp=a|d' }, ['query pp /1 enum']);
  });

  test('objects: exploded form (members are parameters), not exploded (name,value pairs)', () => {
    accepts(v, { params: ID, query: 'R=100&G=200' });
    refuses(v, { params: ID, query: 'R=1&G=x' }, ['query color /G type']);
    refuses(v, { params: ID, query: 'R=1&R=2' }, ['query color /R multiple']);
    accepts(v, { params: ID, query: 'rgb=R,100,G,200' });
    refuses(v, { params: ID, query: 'rgb=R,100,G' }, ['query rgb  style']);
    refuses(v, { params: ID, query: 'rgb=R,100,B,1' }, ['query rgb /B additionalProperties']);
    refuses(v, { params: ID, query: 'rgb=R,1,R,2' }, ['query rgb /R multiple']);
  });

  test('deepObject', () => {
    const typed = accepts(v, { params: ID, query: 'filter[status]=open&filter%5Btag%5D=a&filter[tag]=b&filter[n]=3' });
    assert.deepEqual(
      typed.filter((t) => t.name.startsWith('filter')).map((t) => `${t.name}:${t.type}:${t.enumerated}`),
      ['filter[status]:string:true', 'filter[tag]:string:false', 'filter[tag]:string:false', 'filter[n]:integer:false'],
    );
    refuses(v, { params: ID, query: 'filter[status]=pending' }, ['query filter /status enum']);
    refuses(v, { params: ID, query: 'filter[n]=x' }, ['query filter /n type']);
    refuses(v, { params: ID, query: 'filter[n]=1&filter[n]=2' }, ['query filter /n multiple']);
    refuses(v, { params: ID, query: 'filter[other]=1' }, ['query filter /other additionalProperties']);
    refuses(v, { params: ID, query: 'filter[a][b]=1' }, ['query filter  style']);
    refuses(v, { params: ID, query: 'filter=open' }, ['query filter  style']);
  });

  test('members named __proto__ are data', () => {
    refuses(v, { params: ID, query: 'filter[__proto__]=1' }, ['query filter /__proto__ additionalProperties']);
    refuses(v, { params: ID, query: 'rgb=__proto__,1' }, ['query rgb /__proto__ additionalProperties']);
    assert.equal(({} as Record<string, unknown>).R, undefined);
  });

  test('content parameter: JSON text validated against the media type schema', () => {
    const typed = accepts(v, { params: ID, query: `where=${encodeURIComponent('{"a":1}')}` });
    assert.deepEqual(
      typed.find((t) => t.name === 'where'),
      { location: 'query', name: 'where', type: 'object', format: undefined, enumerated: false, patterned: false },
    );
    refuses(v, { params: ID, query: `where=${encodeURIComponent('{"a":"1"}')}` }, ['query where /a type']);
    refuses(v, { params: ID, query: `where=${encodeURIComponent('{}')}` }, ['query where /a required']);
    refuses(v, { params: ID, query: 'where={a:1}' }, ['query where  json']);
  });

  test('empty values: refused unless allowEmptyValue', () => {
    accepts(v, { params: ID, query: 'maybe=' });
    accepts(v, { params: ID, query: 'maybe' });
    accepts(v, { params: ID, query: 'maybe=4' });
    refuses(v, { params: ID, query: 'limit=' }, ['query limit  allowEmptyValue']);
    refuses(v, { params: ID, query: 'code' }, ['query code  allowEmptyValue']);
  });

  test('a schema-less parameter accepts any text; repeated scalars are refused', () => {
    const typed = accepts(v, { params: ID, query: 'any=whatever' });
    assert.deepEqual(typed.find((t) => t.name === 'any')?.type, undefined);
    refuses(v, { params: ID, query: 'limit=1&limit=2' }, ['query limit  multiple']);
  });

  test('percent-encoding errors', () => {
    refuses(v, { params: ID, query: 'limit=%zz' }, ['query limit  encoding']);
    refuses(v, { params: ID, query: 'code=%C3%28' }, ['query code  encoding']);
    refuses(v, { params: ID, query: 'li%mit=1&q=ok' }, ['query   encoding']);
    refuses(v, { params: ID, query: 'q=%' }, ['query q  encoding']);
  });

  test('typed inputs: one per present value, from the schema after $ref (items for arrays)', () => {
    const typed = accepts(v, { params: ID, query: 'limit=5&status=closed&code=XYZ&day=2024-01-01&ids=1,2&unknown=1' });
    assert.deepEqual(typed, [
      { location: 'path', name: 'id', type: 'integer', format: undefined, enumerated: false, patterned: false },
      { location: 'query', name: 'limit', type: 'integer', format: undefined, enumerated: false, patterned: false },
      { location: 'query', name: 'day', type: 'string', format: 'date', enumerated: false, patterned: false },
      { location: 'query', name: 'status', type: 'string', format: undefined, enumerated: true, patterned: false },
      { location: 'query', name: 'code', type: 'string', format: undefined, enumerated: false, patterned: true },
      { location: 'query', name: 'ids', type: 'integer', format: undefined, enumerated: false, patterned: false },
      { location: 'query', name: 'ids', type: 'integer', format: undefined, enumerated: false, patterned: false },
    ]);
    // A refused value is not typed (threat detection must still look at it).
    const { typed: t2 } = run(v, { params: ID, query: 'limit=x&code=XYZ' });
    assert.deepEqual(
      t2.map((t) => t.name),
      ['id', 'code'],
    );
  });

  test('over-limit parameter count: one violation, bounded work', () => {
    const small = validator('/things/{id}', { strictQuery: false, maxQueryParams: 3 });
    accepts(small, { params: ID, query: 'a=1&b=2&&c=3&' });
    refuses(small, { params: ID, query: 'a=1&b=2&c=3&d=4' }, ['query   maxParameters']);
    // Nothing after the limit is read: the bad encoding and the bad limit there are not reported.
    refuses(small, { params: ID, query: `${'x=1&'.repeat(200_000)}%zz=1&limit=x` }, ['query   maxParameters']);
    // Path parameters are still checked.
    refuses(small, { params: { id: 'x' }, query: 'a&b&c&d' }, ['query   maxParameters', 'path id  type']);
  });

  test('pathological input runs in linear time', () => {
    const big = validator('/things/{id}', { strictQuery: true, maxQueryParams: 100_000 });
    // Each costs about what an ordinary query of the same length does: one long declared value.
    const cases: [string, string][] = [
      ['delimiters and brackets', `ids=${','.repeat(100_000)}&pp=${'|'.repeat(100_000)}&filter${'['.repeat(100_000)}=1&where=${'['.repeat(50_000)}`],
      ['percent signs', '%'.repeat(200_000)],
      ['empty pairs', 'a=&'.repeat(50_000)],
    ];
    for (const [what, query] of cases) {
      const ordinary = `q=${'x'.repeat(query.length - 2)}`;
      assertCheap(() => run(big, { params: ID, query }), () => run(big, { params: ID, query: ordinary }), { what, ratio: 30, slackMs: 5, ceilingMs: 1000, runs: 3 });
    }
  });
});

describe('strict query', () => {
  test('undeclared query parameters refused only when strictQuery; apiKey query schemes are declared', () => {
    const lax = validator('/strict');
    const strict = validator('/strict', STRICT);
    accepts(lax, { query: 'must=1&other=2' });
    refuses(strict, { query: 'must=1&other=2&other=3&x' }, ['query other  undeclared', 'query x  undeclared']);
    accepts(strict, { query: 'must=1&api_key=k' });
    refuses(strict, {}, ['query must  required']);
    refuses(strict, { query: 'must=' }, ['query must  allowEmptyValue']);
  });

  test('deepObject members and exploded object members are declared', () => {
    const strict = validator('/things/{id}', STRICT);
    accepts(strict, { params: { id: '1' }, query: 'filter[status]=open&R=1&G=2&q=a' });
    refuses(strict, { params: { id: '1' }, query: 'filterx[status]=open&color=1' }, ['query filterx[status]  undeclared', 'query color  undeclared']);
  });

  test('an operation without parameters: no validator unless strict', () => {
    assert.equal(compile('/none').validator, undefined);
    const strict = validator('/none', STRICT);
    accepts(strict, {});
    refuses(strict, { query: 'a=1' }, ['query a  undeclared']);
  });

  test('long undeclared names are truncated in violations', () => {
    const strict = validator('/none', STRICT);
    const { violations } = run(strict, { query: `${'n'.repeat(500)}=1` });
    assert.equal(violations[0]?.name.length, 101);
  });
});

describe('path styles', () => {
  let v: ParameterValidator;
  const OK = {
    lab: '.5',
    labx: '.1.2.3',
    labo: '.R,100',
    mat: ';mat=0b4c5b8e-8b9a-4c1e-9a8e-2f0b6d3c1a7e',
    matx: ';matx=1;matx=2',
    mato: ';mato=R,1',
    matox: ';R=1;G=true',
    sa: '1.5,2,3e2',
    so: 'R,1',
    sox: 'R=1',
  };
  before(() => {
    v = validator('/styles/{lab}/{labx}/{labo}/{mat}/{matx}/{mato}/{matox}/{sa}/{so}/{sox}');
  });

  test('accepted', () => {
    const typed = accepts(v, { params: OK });
    assert.deepEqual(
      typed.map((t) => `${t.name}:${t.type}`),
      ['lab:integer', 'labx:integer', 'labx:integer', 'labx:integer', 'labo:object', 'mat:string', 'matx:integer', 'matx:integer', 'mato:object', 'matox:object', 'sa:number', 'sa:number', 'sa:number', 'so:object', 'sox:object'],
    );
  });

  const cases: [Partial<typeof OK>, string[]][] = [
    [{ lab: '5' }, ['path lab  style']],
    [{ lab: '.x' }, ['path lab  type']],
    [{ labx: '.1.x' }, ['path labx /1 type']],
    [{ labx: '.1,2' }, ['path labx /0 type']],
    [{ labo: '.R' }, ['path labo  style']],
    [{ labo: '.R,x' }, ['path labo /R type']],
    [{ mat: '0b4c5b8e-8b9a-4c1e-9a8e-2f0b6d3c1a7e' }, ['path mat  style']],
    [{ mat: ';other=0b4c5b8e-8b9a-4c1e-9a8e-2f0b6d3c1a7e' }, ['path mat  style']],
    [{ mat: ';mat=nope' }, ['path mat  format']],
    [{ mat: ';mat=a;mat=b' }, ['path mat  multiple']],
    [{ matx: ';matx=1;matx=x' }, ['path matx /1 type']],
    [{ mato: ';mato=R,x' }, ['path mato /R type']],
    [{ matox: ';R=1;G=yes' }, ['path matox /G type']],
    [{ matox: ';R' }, ['path matox  style']],
    [{ sa: '1,,2' }, ['path sa /1 type']],
    [{ so: 'R=1' }, ['path so  style']],
    [{ sox: 'R,1' }, ['path sox  style']],
    [{ sox: 'R=x' }, ['path sox /R type']],
  ];
  for (const [change, expected] of cases) {
    test(`refused: ${JSON.stringify(change)}`, () => {
      refuses(v, { params: { ...OK, ...change } }, expected);
    });
  }
});

describe('headers and cookies', () => {
  const RID = '0b4c5b8e-8b9a-4c1e-9a8e-2f0b6d3c1a7e';
  let v: ParameterValidator;
  before(() => {
    v = validator('/headers');
  });

  test('Accept is ignored (with a warning)', () => {
    const { problems } = compile('/headers');
    assert.equal(problems.length, 1);
    assert.match(problems[0]?.message ?? '', /header parameter "Accept" is ignored/);
  });

  test('headers: case-insensitive names, simple style', () => {
    const typed = accepts(v, { headers: { 'x-request-id': RID, 'x-count': '10', 'x-list': '1, 2,3', 'x-obj': 'a=1', cookie: 'session=abcd' } });
    assert.deepEqual(
      typed.map((t) => `${t.location} ${t.name} ${t.type} ${t.format}`),
      ['header x-request-id string uuid', 'header x-count integer undefined', 'header x-list integer undefined', 'header x-list integer undefined', 'header x-list integer undefined', 'header x-obj object undefined', 'cookie session string undefined'],
    );
    refuses(v, { headers: { cookie: 'session=abcd' } }, ['header X-Request-Id  required']);
    refuses(v, { headers: { 'x-request-id': 'nope', cookie: 'session=abcd' } }, ['header X-Request-Id  format']);
    refuses(v, { headers: { 'x-request-id': RID, 'x-count': '11', cookie: 'session=abcd' } }, ['header X-Count  maximum']);
    refuses(v, { headers: { 'x-request-id': RID, 'x-list': '1,b', cookie: 'session=abcd' } }, ['header X-List /1 type']);
    refuses(v, { headers: { 'x-request-id': RID, 'x-obj': 'a', cookie: 'session=abcd' } }, ['header X-Obj  style']);
  });

  test('cookies: RFC 6265 pairs, quoted values, form style', () => {
    const h = (cookie: string) => ({ 'x-request-id': RID, cookie });
    accepts(v, { headers: h('other=1; session="abcd"; n=5; ctags=a,b; prefs=theme,dark') });
    accepts(v, { headers: h('session=abcd;n=5') });
    refuses(v, { headers: { 'x-request-id': RID } }, ['cookie session  required']);
    refuses(v, { headers: h('session=abc') }, ['cookie session  minLength']);
    refuses(v, { headers: h('session=abcd; n=x') }, ['cookie n  type']);
    refuses(v, { headers: h('session=abcd; n=1; n=2') }, ['cookie n  multiple']);
    refuses(v, { headers: h('session=abcd; prefs=theme,blue') }, ['cookie prefs /theme enum']);
    refuses(v, { headers: h('session=abcd; prefs=theme') }, ['cookie prefs  style']);
    // Pairs without `=` are ignored; whitespace around pairs is not part of names.
    accepts(v, { headers: h('junk;  session=abcd  ; ;') });
    // Pathological cookie header: linear.
    const cookie = `${';'.repeat(100_000)}${'a=b;'.repeat(20_000)}session=${'"'.repeat(50_000)}`;
    const ordinary = `session=${'x'.repeat(cookie.length - 8)}`;
    assertCheap(() => run(v, { headers: h(cookie) }), () => run(v, { headers: h(ordinary) }), { what: 'cookie header', ratio: 30, slackMs: 5, ceilingMs: 500, runs: 3 });
  });
});

describe('a path item in another file', () => {
  test('its parameters and their $refs resolve in that file', () => {
    const v = validator('/ext/{eid}');
    const eid = '0b4c5b8e-8b9a-4c1e-9a8e-2f0b6d3c1a7e';
    const typed = accepts(v, { params: { eid }, query: 'page=2' });
    assert.deepEqual(
      typed.map((t) => `${t.name}:${t.type}:${t.format}`),
      ['eid:string:uuid', 'page:integer:undefined'],
    );
    refuses(v, { params: { eid: 'x' }, query: 'page=0' }, ['path eid  format', 'query page  minimum']);
  });
});

describe('problems in the document', () => {
  test('each unusable parameter is reported and left out', () => {
    const { validator: v, problems } = compile('/broken/{id}');
    const messages = problems.map((p) => `${p.severity}: ${p.message}`);
    const has = (s: string) => assert.ok(messages.some((m) => m.includes(s)), `${s} in ${JSON.stringify(messages, null, 1)}`);
    has('warning: /paths/~1broken~1{id}/get/parameters/1: path parameter "nope" is not in the path template');
    has('error: /paths/~1broken~1{id}/get/parameters/2: parameter "d" (in: query) has style deepObject but its schema is not an object');
    has('parameter "m" (in: query) has style "matrix"; allowed: form, spaceDelimited, pipeDelimited, deepObject');
    has('parameter "both" (in: query) has both schema and content');
    has('parameter "bad" (in: query) has a schema that cannot be compiled');
    assert.equal(problems.filter((p) => p.severity === 'error').length, 4);
    assert.ok(v);
    accepts(v, { params: { id: 'x' }, query: 'd=1&m=2&both=3&bad=4' });
  });
});

describe('OpenAPI 3.0', () => {
  test('nullable: literal null only for a non-string type; boolean exclusiveMinimum', async () => {
    const s30 = await load({ 'v30.yaml': V30 }, 'v30.yaml');
    const op = s30.operations[0];
    assert.ok(op);
    const { validator: v, problems } = compileParameters(s30, op, new SchemaCompiler(s30), LAX);
    assert.deepEqual(problems, []);
    assert.ok(v);
    const typed = accepts(v, { query: 'n=null&s=null' });
    assert.deepEqual(
      typed.map((t) => `${t.name}:${t.type}`),
      ['n:integer', 's:string'],
    );
    accepts(v, { query: 'n=3&s=abcd&m=6' });
    refuses(v, { query: 'n=nul' }, ['query n  type']);
    // "null" for a nullable string is the four letters: maxLength applies.
    refuses(v, { query: 's=null5' }, ['query s  maxLength']);
    refuses(v, { query: 'm=5' }, ['query m  exclusiveMinimum']);
  });
});
