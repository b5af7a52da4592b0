/**
 * Property-level authorization compiled from a real OpenAPI document: mass assignment
 * (readOnly, x-portcullis-write-roles) refused with the body pointer, excessive data exposure
 * (writeOnly, x-portcullis-read-roles) filtered per status, `$ref` / allOf / oneOf / arrays /
 * additionalProperties / recursive schemas, documents split across files (`$ref`s to other
 * files, resolved relative to the file that holds them), and the JSON body parser's bounds.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { compileOperationAccess } from '../src/access/extensions.js';
import { compileReadPolicy, compileWritePolicy, parseJsonBody, PolicyLimitError } from '../src/access/properties.js';
import { operationObject, resolveOperationSchemas, SchemaResolver, singleDocument, type DocumentSet } from '../src/access/schema-resolve.js';
import { loadOpenApi } from '../src/contract/index.js';
import type { Principal } from '../src/pipeline/types.js';
import { assertCheap } from './contract-timing.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const doc = {
  openapi: '3.1.0',
  info: { title: 'notes', version: '1' },
  paths: {
    '/notes/{id}': {
      put: {
        requestBody: { $ref: '#/components/requestBodies/NoteBody' },
        responses: {
          '200': { $ref: '#/components/responses/NoteOk' },
          '2XX': { description: 'other success', content: { 'application/json': { schema: ref('Summary') } } },
          default: { description: 'error', content: { 'application/problem+json': { schema: ref('Problem') } } },
        },
      },
    },
    '/notes': {
      get: { responses: { '200': { description: 'list', content: { 'application/json': { schema: { type: 'array', items: ref('Note') } } } } } },
    },
    '/folders/{id}': { $ref: '#/components/pathItems/FolderItem' },
    '/shapes': {
      post: { requestBody: { content: { 'application/json': { schema: ref('Shape') } } }, responses: { '204': { description: 'ok' } } },
    },
    '/plain': {
      post: {
        requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { a: { type: 'string' } } } } } },
        responses: { '200': { description: 'ok', content: { 'application/json': { schema: { type: 'object', properties: { a: { type: 'string' } } } } } } },
      },
    },
    '/external': {
      post: { requestBody: { content: { 'application/json': { schema: { $ref: 'common.yaml#/components/schemas/Thing' } } } }, responses: {} },
    },
    '/loop': {
      post: { requestBody: { content: { 'application/json': { schema: ref('Loop') } } }, responses: {} },
    },
    '/badroles': {
      post: { requestBody: { content: { 'application/json': { schema: ref('BadRoles') } } }, responses: {} },
    },
  },
  components: {
    pathItems: {
      FolderItem: {
        put: {
          requestBody: { content: { 'application/json': { schema: ref('Folder') } } },
          responses: { '200': { description: 'ok', content: { 'application/json': { schema: ref('Folder') } } } },
        },
      },
    },
    requestBodies: {
      NoteBody: { content: { 'application/merge-patch+json': { schema: ref('Note') }, 'text/plain': { schema: { type: 'string' } } } },
    },
    responses: {
      NoteOk: { description: 'the note', content: { 'application/json; charset=utf-8': { schema: ref('Note') } } },
    },
    schemas: {
      Base: { type: 'object', properties: { id: { type: 'string', readOnly: true }, createdAt: { type: 'string', readOnly: true } } },
      Note: {
        allOf: [
          ref('Base'),
          {
            type: 'object',
            properties: {
              title: { type: 'string' },
              owner: ref('User'),
              items: { type: 'array', items: ref('LineItem') },
              pinned: { type: 'boolean', 'x-portcullis-write-roles': ['admin', 'editor'] },
              internalNotes: { type: 'string', 'x-portcullis-read-roles': ['admin'] },
              tags: { type: 'object', additionalProperties: ref('Tag') },
            },
          },
        ],
      },
      User: {
        type: 'object',
        properties: {
          id: { type: 'string', readOnly: true },
          name: { type: 'string' },
          passwordHash: { type: 'string', writeOnly: true },
          email: { type: 'string', 'x-portcullis-read-roles': ['admin', 'support'] },
        },
      },
      LineItem: { type: 'object', properties: { sku: { type: 'string' }, price: { type: 'number', readOnly: true } } },
      Tag: { type: 'object', properties: { color: { type: 'string' }, system: { type: 'boolean', readOnly: true } } },
      Summary: { type: 'object', properties: { id: { type: 'string' }, secret: { type: 'string', writeOnly: true } } },
      Problem: { type: 'object', properties: { detail: { type: 'string' }, debug: { type: 'string', 'x-portcullis-read-roles': ['admin'] } } },
      Folder: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          locked: { type: 'boolean', readOnly: true },
          children: { type: 'array', items: ref('Folder') },
          parent: ref('Folder'),
          acl: { type: 'string', writeOnly: true },
        },
      },
      Shape: {
        oneOf: [
          { type: 'object', properties: { kind: { const: 'circle' }, radius: { type: 'number', readOnly: true } } },
          { type: 'object', properties: { kind: { const: 'square' }, side: { type: 'number' } } },
        ],
      },
      Loop: ref('Loop2'),
      Loop2: { allOf: [ref('Loop')] },
      BadRoles: { type: 'object', properties: { x: { type: 'string', 'x-portcullis-write-roles': 'admin' } } },
    },
  },
};

const spec = singleDocument(doc);
const OP_NOTE = '/paths/~1notes~1{id}/put';
const USER = ['user'];
const ADMIN = ['admin'];

function writePolicyOf(pointer: string) {
  const s = resolveOperationSchemas(spec, pointer);
  assert.ok(s.request, `request schema of ${pointer}`);
  return compileWritePolicy(s.request.schema, { resolver: s.resolver, at: s.request.at });
}

function readPolicyOf(pointer: string) {
  const s = resolveOperationSchemas(spec, pointer);
  const byStatus = new Map([...s.responses].map(([k, v]) => [k, v.schema]));
  return compileReadPolicy(byStatus, { resolver: s.resolver });
}

describe('schema resolution', () => {
  it('finds the JSON request body through a requestBodies $ref (a +json media type) and responses by status key', () => {
    const s = resolveOperationSchemas(spec, OP_NOTE);
    assert.deepEqual(s.request?.schema, ref('Note'));
    assert.equal(s.request?.at, '/components/requestBodies/NoteBody/content/application~1merge-patch+json/schema');
    assert.deepEqual([...s.responses.keys()].sort(), ['200', '2XX', 'default']);
    assert.deepEqual(s.responses.get('200')?.schema, ref('Note'));
    assert.deepEqual(s.responses.get('default')?.schema, ref('Problem'));
    assert.deepEqual(s.warnings, []);
  });

  it('follows a path item $ref on the way to the operation', () => {
    const s = resolveOperationSchemas(spec, '/paths/~1folders~1{id}/put');
    assert.deepEqual(s.request?.schema, ref('Folder'));
  });

  it('reports references to other files as not followed', () => {
    const s = resolveOperationSchemas(spec, '/paths/~1external/post');
    assert.ok(s.request);
    const policy = compileWritePolicy(s.request.schema, { resolver: s.resolver, at: s.request.at });
    assert.equal(policy, undefined);
    assert.equal(s.resolver.problems.length, 1);
    assert.equal(s.resolver.problems[0]?.severity, 'warning');
    assert.match(s.resolver.warnings[0] ?? '', /common\.yaml#\/components\/schemas\/Thing" is not followed/);
  });
});

describe('mass assignment (request bodies)', () => {
  const policy = writePolicyOf(OP_NOTE);

  it('compiles a policy only when something is restricted (no body buffering for nothing)', () => {
    assert.ok(policy);
    assert.equal(writePolicyOf('/paths/~1plain/post'), undefined);
    assert.equal(readPolicyOf('/paths/~1plain/post'), undefined);
  });

  it('lets a body through that sets only writable properties', () => {
    assert.equal(policy?.check({ title: 't', owner: { name: 'n' }, items: [{ sku: 'a' }], tags: { red: { color: 'red' } } }, USER), undefined);
  });

  it('refuses readOnly properties with the body pointer: top level (from allOf), nested ($ref), inside arrays, additionalProperties', () => {
    assert.deepEqual(policy?.check({ title: 't', id: 'forged' }, USER), { pointer: '/id', rule: 'readOnly' });
    assert.deepEqual(policy?.check({ createdAt: null }, USER), { pointer: '/createdAt', rule: 'readOnly' }, 'setting to null is setting');
    assert.deepEqual(policy?.check({ owner: { name: 'n', id: 'someone-else' } }, USER), { pointer: '/owner/id', rule: 'readOnly' });
    assert.deepEqual(policy?.check({ items: [{ sku: 'a' }, { sku: 'b' }, { sku: 'c' }, { sku: 'd', price: 0 }] }, USER), { pointer: '/items/3/price', rule: 'readOnly' });
    assert.deepEqual(policy?.check({ tags: { 'a/b~c': { system: true } } }, USER), { pointer: '/tags/a~1b~0c/system', rule: 'readOnly' });
    // readOnly binds everyone, admins too.
    assert.deepEqual(policy?.check({ id: 'x' }, ADMIN), { pointer: '/id', rule: 'readOnly' });
  });

  it('refuses x-portcullis-write-roles properties for a user and allows them for admin and editor', () => {
    assert.deepEqual(policy?.check({ title: 't', pinned: true }, USER), { pointer: '/pinned', rule: 'write-roles' });
    assert.deepEqual(policy?.check({ pinned: true }, []), { pointer: '/pinned', rule: 'write-roles' });
    assert.equal(policy?.check({ pinned: true }, ADMIN), undefined);
    assert.equal(policy?.check({ pinned: true }, ['user', 'editor']), undefined);
  });

  it('is conservative with oneOf: a property readOnly in any branch is refused', () => {
    const shapes = writePolicyOf('/paths/~1shapes/post');
    assert.deepEqual(shapes?.check({ kind: 'square', radius: 3 }, USER), { pointer: '/radius', rule: 'readOnly' });
    assert.equal(shapes?.check({ kind: 'square', side: 3 }, USER), undefined);
  });

  it('handles recursive schemas (cycle-safe compile) and finds readOnly deep in the recursion', () => {
    const folder = writePolicyOf('/paths/~1folders~1{id}/put');
    assert.ok(folder);
    const body = { name: 'root', children: [{ name: 'a' }, { name: 'b', children: [{ name: 'c' }, { name: 'd', locked: false }] }] };
    assert.deepEqual(folder.check(body, USER), { pointer: '/children/1/children/1/locked', rule: 'readOnly' });
    assert.deepEqual(folder.check({ parent: { parent: { parent: { locked: true } } } }, USER), { pointer: '/parent/parent/parent/locked', rule: 'readOnly' });
    assert.equal(folder.check({ parent: { parent: { name: 'x' } }, children: [] }, USER), undefined);
  });

  it('terminates on a circular $ref chain (Loop → Loop2 allOf Loop)', () => {
    assert.equal(writePolicyOf('/paths/~1loop/post'), undefined);
  });

  it('treats a malformed role list as an error that restricts to nobody (fail closed)', () => {
    const s = resolveOperationSchemas(spec, '/paths/~1badroles/post');
    assert.ok(s.request);
    const p = compileWritePolicy(s.request.schema, { resolver: s.resolver, at: s.request.at });
    assert.deepEqual(p?.check({ x: '1' }, ADMIN), { pointer: '/x', rule: 'write-roles' });
    assert.deepEqual(
      s.resolver.problems.map((x) => [x.severity, x.at]),
      [['error', '/components/schemas/BadRoles/properties/x/x-portcullis-write-roles']],
    );
  });

  it('bounds the walk: too deep or too many values throws PolicyLimitError (the runner refuses)', () => {
    const folder = writePolicyOf('/paths/~1folders~1{id}/put');
    let deep: Record<string, unknown> = { name: 'leaf' };
    for (let i = 0; i < 100; i++) deep = { parent: deep };
    assert.throws(() => folder?.check(deep, USER), PolicyLimitError);
    const small = compileWritePolicy(doc.components.schemas.Folder, { resolver: new SchemaResolver(doc), maxVisits: 50 });
    const wide = { children: Array.from({ length: 100 }, () => ({ name: 'x' })) };
    assert.throws(() => small?.check(wide, USER), PolicyLimitError);
  });
});

describe('excessive data exposure (responses)', () => {
  const policy = readPolicyOf(OP_NOTE);

  const note = () => ({
    id: 'n1',
    title: 't',
    internalNotes: 'only admins',
    secret: 's',
    owner: { id: 'u1', name: 'Alice', passwordHash: '$argon2id$...', email: 'alice@example.com' },
  });

  it('removes read-roles fields for a user and writeOnly fields always', () => {
    const body = note();
    const { removed } = policy?.filter(200, body, USER) ?? { removed: [] };
    assert.deepEqual(removed.sort(), ['/internalNotes', '/owner/email', '/owner/passwordHash']);
    assert.deepEqual(body, { id: 'n1', title: 't', secret: 's', owner: { id: 'u1', name: 'Alice' } });
  });

  it('keeps read-roles fields for admin, still removes writeOnly', () => {
    const body = note();
    const { removed } = policy?.filter(200, body, ADMIN) ?? { removed: [] };
    assert.deepEqual(removed, ['/owner/passwordHash']);
    assert.equal(body.internalNotes, 'only admins');
    assert.equal(body.owner.email, 'alice@example.com');
    // support may read email but not internalNotes.
    const b2 = note();
    assert.deepEqual((policy?.filter(200, b2, ['support']).removed ?? []).sort(), ['/internalNotes', '/owner/passwordHash']);
  });

  it('matches statuses as OpenAPI does: exact code, then 2XX, then default', () => {
    const at200 = note();
    policy?.filter(200, at200, USER);
    assert.equal('internalNotes' in at200, false, '200 uses Note');
    assert.equal(at200.secret, 's', 'Note does not declare secret');

    const at201 = note();
    assert.deepEqual(policy?.filter(201, at201, USER).removed, ['/secret'], '201 uses 2XX (Summary)');
    assert.equal(at201.internalNotes, 'only admins');

    const at500 = { detail: 'boom', debug: 'stack trace' };
    assert.deepEqual(policy?.filter(500, at500, USER).removed, ['/debug'], '500 uses default (Problem)');
    assert.deepEqual(at500, { detail: 'boom' });
    const at404 = { detail: 'gone', debug: 'x' };
    assert.deepEqual(policy?.filter(404, at404, ADMIN).removed, []);
    assert.equal(at404.debug, 'x');
  });

  it('filters inside arrays and recursive schemas', () => {
    const list = readPolicyOf('/paths/~1notes/get');
    const body = [note(), note()];
    assert.deepEqual((list?.filter(200, body, USER).removed ?? []).sort(), [
      '/0/internalNotes',
      '/0/owner/email',
      '/0/owner/passwordHash',
      '/1/internalNotes',
      '/1/owner/email',
      '/1/owner/passwordHash',
    ]);
    const folders = readPolicyOf('/paths/~1folders~1{id}/put');
    const tree = { name: 'r', acl: 'a', children: [{ name: 'c', acl: 'b', children: [{ name: 'd', acl: 'c' }] }] };
    assert.deepEqual((folders?.filter(200, tree, ADMIN).removed ?? []).sort(), ['/acl', '/children/0/acl', '/children/0/children/0/acl']);
    assert.deepEqual(tree, { name: 'r', children: [{ name: 'c', children: [{ name: 'd' }] }] });
  });
});

describe('compileOperationAccess', () => {
  it('compiles both policies of an operation from the document and its pointer', () => {
    const access = compileOperationAccess(spec, { pointer: OP_NOTE, path: '/notes/{id}' });
    assert.deepEqual(access.problems, []);
    assert.deepEqual(access.write?.check({ id: 'x' }, USER), { pointer: '/id', rule: 'readOnly' });
    assert.ok(access.read);
    assert.equal(access.ownership, undefined);
  });
});

// ---------------------------------------------------------------------------------------
// A document split across files (as the loader gives it: every file parsed, by absolute path).

const ROOT = path.resolve('/api');
const MAIN = path.join(ROOT, 'openapi.yaml');
const PET_PATH = path.join(ROOT, 'paths', 'pet.yaml');
const PET_SCHEMAS = path.join(ROOT, 'schemas', 'pet.yaml');
const json = (schema: unknown) => ({ 'application/json': { schema } });

const multi: DocumentSet = {
  file: MAIN,
  document: {
    openapi: '3.1.0',
    info: { title: 'pets', version: '1' },
    paths: {
      '/pets/{petId}': { $ref: './paths/pet.yaml' },
      '/owners': { post: { requestBody: { content: json({ $ref: '#/components/schemas/Owner' }) }, responses: {} } },
      '/loop': { post: { requestBody: { content: json({ $ref: 'schemas/loop.yaml#/A' }) }, responses: {} } },
      '/cycle': { $ref: 'paths/cycle.yaml' },
      '/missing': {
        post: {
          requestBody: { content: json({ $ref: 'schemas/pet.yaml#/Ghostly' }) },
          responses: { '200': { description: 'ok', content: json({ $ref: './schemas/nope.yaml#/X' }) } },
        },
      },
    },
    components: {
      schemas: {
        // Back from schemas/pet.yaml, and on to it again (a schema cycle across two files).
        Owner: {
          type: 'object',
          properties: {
            id: { type: 'string', readOnly: true },
            email: { type: 'string', 'x-portcullis-read-roles': ['admin'] },
            pets: { type: 'array', items: { $ref: 'schemas/pet.yaml#/Pet' } },
          },
        },
        LoopB: { $ref: 'schemas/loop.yaml#/A' },
      },
    },
  },
  documents: new Map<string, unknown>([
    [
      PET_PATH,
      {
        parameters: [{ $ref: '../common.yaml#/components/parameters/PetId' }],
        get: {
          'x-portcullis-owner': { rules: [{ in: 'path', name: 'id', equalsClaim: 'sub' }] },
          responses: { '200': { description: 'one pet', content: json({ $ref: '../schemas/pet.yaml#/Pet' }) } },
        },
        put: {
          'x-portcullis-owner': { rules: [{ in: 'path', name: 'petId', equalsClaim: 'sub' }] },
          requestBody: { content: json({ $ref: '../schemas/pet.yaml#/Pet' }) },
          responses: { '200': { description: 'the pet', content: json({ $ref: '../schemas/pet.yaml#/Pet' }) } },
        },
        post: {
          requestBody: {
            content: {
              'application/merge-patch+json': { schema: { $ref: '#/Local' } },
              // A Media Type object in a third file: its schema's local $ref resolves there.
              'application/vnd.pet+json': { $ref: '../media.yaml#/PetMedia' },
            },
          },
          responses: {},
        },
        // Same name as a main-document key would have: `#/...` here means this file.
        Local: { type: 'object', properties: { z: { type: 'string', readOnly: true } } },
      },
    ],
    [
      PET_SCHEMAS,
      {
        Pet: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            id: { type: 'string', readOnly: true },
            price: { type: 'number', 'x-portcullis-write-roles': ['pricing'] },
            cost: { type: 'number', 'x-portcullis-read-roles': ['finance'] },
            secret: { type: 'string', writeOnly: true },
            owner: { $ref: '../openapi.yaml#/components/schemas/Owner' },
            tags: { type: 'array', items: { $ref: '#/Tag' } },
            parent: { $ref: '#/Pet' },
            extra: { $ref: 'odd%20name.yaml#/Extra' },
          },
        },
        Tag: { type: 'object', properties: { label: { type: 'string' }, system: { type: 'boolean', readOnly: true } } },
        Ghostly: { type: 'object', properties: { g: { $ref: './ghost.yaml#/G' }, r: { $ref: 'https://example.com/s.json#/S' } } },
      },
    ],
    [path.join(ROOT, 'schemas', 'odd name.yaml'), { Extra: { type: 'object', properties: { flag: { type: 'boolean', readOnly: true } } } }],
    [path.join(ROOT, 'schemas', 'loop.yaml'), { A: { allOf: [{ $ref: '../openapi.yaml#/components/schemas/LoopB' }], properties: { n: { type: 'string' } } } }],
    [path.join(ROOT, 'paths', 'cycle.yaml'), { $ref: '../openapi.yaml#/paths/~1cycle' }],
    [path.join(ROOT, 'media.yaml'), { PetMedia: { schema: { $ref: '#/S' } }, S: { type: 'object', properties: { m: { type: 'string', readOnly: true } } } }],
    [path.join(ROOT, 'common.yaml'), { components: { parameters: { PetId: { name: 'petId', in: 'path', required: true, schema: { type: 'string' } } } } }],
  ]),
};

const PET = { pointer: '/paths/~1pets~1{petId}/put', path: '/pets/{petId}' };
const who = (id: string): Principal => ({ id, type: 'jwt', scopes: [], roles: ['user'], claims: { sub: id }, credentialId: `jti-${id}` });

describe('documents split across files', () => {
  it('follows the path item $ref to another file and its requestBody schema $ref relative to that file', () => {
    const s = resolveOperationSchemas(multi, PET.pointer);
    assert.deepEqual(s.request?.schema, { $ref: '../schemas/pet.yaml#/Pet' });
    assert.equal(s.request?.file, PET_PATH);
    assert.equal(s.request?.at, '/put/requestBody/content/application~1json/schema');
    assert.equal(s.responses.get('200')?.file, PET_PATH);
    assert.deepEqual(s.resolver.problems, []);
    assert.equal(operationObject(multi, PET.pointer)?.['x-portcullis-owner'] !== undefined, true);
    assert.equal(operationObject(multi, '/paths/~1pets~1{petId}/delete'), undefined);
  });

  it('applies every restriction declared behind file $refs (readOnly, write-roles, read-roles, writeOnly, nested refs back into the main document)', () => {
    const access = compileOperationAccess(multi, PET);
    assert.deepEqual(access.problems, []);
    const w = access.write;
    assert.ok(w, 'a write policy is compiled from schemas/pet.yaml');
    assert.equal(w.check({ name: 'rex', tags: [{ label: 'a' }], owner: { pets: [{ name: 'x' }] } }, USER), undefined);
    assert.deepEqual(w.check({ name: 'rex', id: 'forged' }, USER), { pointer: '/id', rule: 'readOnly' });
    assert.deepEqual(w.check({ price: 1 }, USER), { pointer: '/price', rule: 'write-roles' });
    assert.equal(w.check({ price: 1 }, ['pricing']), undefined);
    // `#/Tag` inside schemas/pet.yaml is schemas/pet.yaml's Tag, not the main document's.
    assert.deepEqual(w.check({ tags: [{ label: 'a' }, { system: true }] }, USER), { pointer: '/tags/1/system', rule: 'readOnly' });
    // Owner lives in the main document; its pets lead back to schemas/pet.yaml.
    assert.deepEqual(w.check({ owner: { id: 'u2' } }, USER), { pointer: '/owner/id', rule: 'readOnly' });
    assert.deepEqual(w.check({ owner: { pets: [{ parent: { id: 'p' } }] } }, USER), { pointer: '/owner/pets/0/parent/id', rule: 'readOnly' });
    // A percent-encoded file name.
    assert.deepEqual(w.check({ extra: { flag: true } }, USER), { pointer: '/extra/flag', rule: 'readOnly' });

    const r = access.read;
    assert.ok(r, 'a read policy is compiled from schemas/pet.yaml');
    const body = { name: 'rex', cost: 3, secret: 's', owner: { email: 'a@example.com', pets: [{ name: 'y', secret: 't', cost: 1 }] } };
    assert.deepEqual(r.filter(200, body, USER).removed.sort(), ['/cost', '/owner/email', '/owner/pets/0/cost', '/owner/pets/0/secret', '/secret']);
    assert.deepEqual(body, { name: 'rex', owner: { pets: [{ name: 'y' }] } });
    const forFinance = { cost: 3, secret: 's' };
    assert.deepEqual(r.filter(200, forFinance, ['finance']).removed, ['/secret']);
    assert.deepEqual(forFinance, { cost: 3 });
  });

  it('resolves $refs in the main document that point into other files (schema cycle across two files terminates)', () => {
    const access = compileOperationAccess(multi, { pointer: '/paths/~1owners/post', path: '/owners' });
    assert.deepEqual(access.problems, []);
    assert.deepEqual(access.write?.check({ pets: [{ pets: 1 }, { owner: { pets: [{ price: 2 }] } }] }, USER), { pointer: '/pets/1/owner/pets/0/price', rule: 'write-roles' });
  });

  it('keeps each media type schema in its own file when several JSON media types declare one', () => {
    const access = compileOperationAccess(multi, { pointer: '/paths/~1pets~1{petId}/post', path: '/pets/{petId}' });
    assert.deepEqual(access.problems, []);
    assert.deepEqual(access.write?.check({ z: 'x' }, USER), { pointer: '/z', rule: 'readOnly' });
    assert.deepEqual(access.write?.check({ m: 'x' }, USER), { pointer: '/m', rule: 'readOnly' });
  });

  it('terminates on $ref cycles across two files (schemas and path items)', () => {
    const loop = compileOperationAccess(multi, { pointer: '/paths/~1loop/post', path: '/loop' });
    assert.deepEqual(loop.problems, []);
    assert.equal(loop.write, undefined);
    const cycle = compileOperationAccess(multi, { pointer: '/paths/~1cycle/post', path: '/cycle' });
    assert.equal(cycle.write, undefined);
    assert.ok(cycle.problems.length > 0);
    assert.ok(
      cycle.problems.every((p) => p.severity === 'error' && /circular \$ref chain/.test(p.message)),
      JSON.stringify(cycle.problems),
    );
  });

  it('reports a $ref to a file that is not part of the document, or a remote one, as a warning naming the file it sits in', () => {
    const access = compileOperationAccess(multi, { pointer: '/paths/~1missing/post', path: '/missing' });
    assert.equal(access.write, undefined);
    assert.equal(access.read, undefined);
    const got = access.problems.map((p) => [p.severity, p.at, p.file]).sort();
    assert.deepEqual(got, [
      ['warning', '/paths/~1missing/post/responses/200/content/application~1json/schema/$ref', undefined],
      ['warning', 'schemas/pet.yaml#/Ghostly/properties/g/$ref', PET_SCHEMAS],
      ['warning', 'schemas/pet.yaml#/Ghostly/properties/r/$ref', PET_SCHEMAS],
    ]);
    const messages = access.problems.map((p) => p.message).join('\n');
    assert.match(messages, /"\.\/ghost\.yaml#\/G" is not followed: schemas\/ghost\.yaml is not one of the files loaded with the document/);
    assert.match(messages, /"\.\/schemas\/nope\.yaml#\/X" is not followed: schemas\/nope\.yaml is not one of the files/);
    assert.match(messages, /"https:\/\/example\.com\/s\.json#\/S" is not followed: remote references are never read/);
  });

  it('compiles x-portcullis-owner of an operation that sits in a path-item file, and reports its problems there', () => {
    const put = compileOperationAccess(multi, PET);
    assert.ok(put.ownership);
    const params = { petId: 'alice' };
    const base = { query: new URLSearchParams(), headers: {}, body: undefined };
    assert.deepEqual(put.ownership.check({ ...base, params, principal: who('alice') }), { action: 'continue' });
    assert.equal((put.ownership.check({ ...base, params, principal: who('bob') }) as { action: string }).action, 'deny');

    const get = compileOperationAccess(multi, { pointer: '/paths/~1pets~1{petId}/get', path: '/pets/{petId}' });
    assert.equal(get.ownership, undefined);
    assert.deepEqual(
      get.problems.map((p) => [p.severity, p.at, p.file]),
      [['error', 'paths/pet.yaml#/get/x-portcullis-owner', PET_PATH]],
    );
    assert.match(get.problems[0]?.message ?? '', /path parameter "id" is not in the path template/);
  });

  it('reads the fixture petstore (./paths/pet.yaml, common.yaml) through the loader with nothing "not followed"', async () => {
    const loaded = await loadOpenApi(path.resolve('test/fixtures/openapi/petstore.yaml'));
    assert.ok(loaded.spec, JSON.stringify(loaded.diagnostics));
    assert.ok(loaded.spec.documents.size >= 3);
    const ops = loaded.spec.operations;
    assert.ok(ops.some((op) => op.operationId === 'getPet'));
    for (const op of ops) {
      const access = compileOperationAccess(loaded.spec, op);
      assert.deepEqual(access.problems, [], op.operationId);
    }
    assert.ok(operationObject(loaded.spec, ops.find((op) => op.operationId === 'deletePet')?.pointer ?? ''));
  });
});

describe('parseJsonBody', () => {
  const json = 'application/json';

  it('parses JSON with a JSON content type (including +json and charset=utf-8)', () => {
    assert.deepEqual(parseJsonBody(Buffer.from('{"a":[1,{"b":"[{"}]}'), json), { ok: true, value: { a: [1, { b: '[{' }] } });
    assert.equal(parseJsonBody(Buffer.from('{}'), 'application/merge-patch+json').ok, true);
    assert.equal(parseJsonBody(Buffer.from('{}'), 'Application/JSON; charset="UTF-8"').ok, true);
  });

  it('refuses non-JSON content types and a missing one', () => {
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp', '+json', undefined, '']) {
      const r = parseJsonBody(Buffer.from('{"a":1}'), ct);
      assert.equal(r.ok, false, String(ct));
    }
    assert.equal(parseJsonBody(Buffer.from('{}'), 'application/json; charset=latin1').ok, false);
  });

  it('refuses bodies nested 10,000 deep quickly (before JSON.parse)', () => {
    for (const [open, close] of [
      ['[', ']'],
      ['{"a":', '}'],
    ] as const) {
      const body = Buffer.from(open.repeat(10_000) + '1' + close.repeat(10_000));
      const r = parseJsonBody(body, json);
      assert.equal(r.ok, false);
      assert.match((r as { reason: string }).reason, /nested deeper than 64/);
      // No more than parsing an ordinary flat body of the same size.
      const flat = Buffer.from(`{"a":"${'x'.repeat(body.length - 8)}"}`);
      assertCheap(() => parseJsonBody(body, json), () => parseJsonBody(flat, json), { what: `${open} x 10,000`, ratio: 2, ceilingMs: 50 });
    }
  });

  it('allows exactly maxDepth levels and refuses one more; brackets inside strings do not count', () => {
    assert.equal(parseJsonBody(Buffer.from('['.repeat(64) + ']'.repeat(64)), json).ok, true);
    assert.equal(parseJsonBody(Buffer.from('['.repeat(65) + ']'.repeat(65)), json).ok, false);
    assert.equal(parseJsonBody(Buffer.from(`["${'['.repeat(1000)}\\"{{"]`), json).ok, true);
    assert.equal(parseJsonBody(Buffer.from('[[[1]]]'), json, 2).ok, false);
  });

  it('refuses duplicate member names, also when written with escapes (parsers disagree on which wins)', () => {
    assert.equal(parseJsonBody(Buffer.from('{"role":"user","role":"admin"}'), json).ok, false);
    assert.equal(parseJsonBody(Buffer.from('{"role":"user","r\\u006fle":"admin"}'), json).ok, false);
    assert.equal(parseJsonBody(Buffer.from('{"a":{"role":1},"b":{"role":2},"role":3}'), json).ok, true);
    assert.equal(parseJsonBody(Buffer.from('[{"a":1},{"a":2}]'), json).ok, true);
  });

  it('refuses invalid UTF-8 and invalid JSON', () => {
    assert.equal(parseJsonBody(Buffer.from([0x7b, 0x22, 0x61, 0xff, 0x22, 0x3a, 0x31, 0x7d]), json).ok, false);
    assert.equal(parseJsonBody(Buffer.from('{"a":1,}'), json).ok, false);
    assert.equal(parseJsonBody(Buffer.from('{"a'), json).ok, false);
    assert.equal(parseJsonBody(Buffer.from(''), json).ok, false);
  });
});
