import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { Diagnostic } from '../src/config/index.js';
import { loadOpenApi } from '../src/contract/index.js';

const spec = (name: string) => path.resolve('test/fixtures/openapi', name);

function expectAt(diags: readonly Diagnostic[], pointer: string, line: number, column: number, message: string, severity = 'error') {
  const found = diags.filter((d) => d.path === pointer);
  assert.equal(found.length, 1, `one diagnostic at ${pointer}; all: ${JSON.stringify(diags, null, 1)}`);
  const d = found[0] as Diagnostic;
  assert.deepEqual([d.line, d.column, d.severity], [line, column, severity], `position of ${pointer}`);
  assert.ok(d.message.includes(message), `"${d.message}" should contain "${message}"`);
  return d;
}

const tmp = await mkdtemp(path.join(os.tmpdir(), 'portcullis-openapi-'));
after(() => rm(tmp, { recursive: true, force: true }));
let n = 0;
async function writeSpec(text: string): Promise<string> {
  const file = path.join(tmp, `s${n++}.yaml`);
  await writeFile(file, text);
  return file;
}

describe('operations', () => {
  test('a 3.0 document with $refs across files', async () => {
    const { spec: s, diagnostics, files } = await loadOpenApi(spec('petstore.yaml'));
    assert.deepEqual(diagnostics, []);
    assert.ok(s);
    assert.deepEqual([s.openapi, s.title, s.version, s.serverBasePath], ['3.0.3', 'Petstore', '1.2.0', '/v1']);
    assert.deepEqual(
      s.operations.map((o) => `${o.method} ${o.path} ${o.operationId}`),
      ['GET /pets listPets', 'POST /pets createPet', 'GET /pets/{petId} getPet', 'DELETE /pets/{petId} deletePet', 'GET /health GET /health', 'GET /legacy legacy'],
    );
    const byId = new Map(s.operations.map((o) => [o.operationId, o]));
    assert.deepEqual(byId.get('listPets')?.security, [{ apiKey: [] }], "the document's security");
    assert.deepEqual(byId.get('createPet')?.security, [{ oauth: ['pets:write'] }], "the operation's own");
    assert.deepEqual(byId.get('GET /health')?.security, [], 'security: [] means explicitly none');
    assert.deepEqual(byId.get('listPets')?.tags, ['pets']);
    assert.equal(byId.get('legacy')?.deprecated, true);
    assert.equal(byId.get('listPets')?.deprecated, false);
    assert.equal(byId.get('listPets')?.pointer, '/paths/~1pets/get');
    assert.deepEqual(byId.get('listPets')?.location, { file: spec('petstore.yaml'), line: 11, column: 5 });
    // A path item that is a $ref: the operation is located in the file that holds it.
    assert.deepEqual(byId.get('getPet')?.location, { file: spec('paths/pet.yaml'), line: 3, column: 1 });
    assert.deepEqual(files, [spec('petstore.yaml'), spec('paths/pet.yaml'), spec('common.yaml')]);
    // The document is kept as written (not dereferenced).
    const doc = s.document as { paths: Record<string, { $ref?: string }> };
    assert.equal(doc.paths['/pets/{petId}']?.$ref, './paths/pet.yaml');
  });

  test('a 3.1 JSON document; server variables take their defaults', async () => {
    const { spec: s, diagnostics } = await loadOpenApi(spec('orders.json'));
    assert.deepEqual(diagnostics, []);
    assert.equal(s?.serverBasePath, '/api/v2');
    assert.equal(s?.operations[0]?.security, undefined, 'neither the document nor the operation says');
    assert.deepEqual(s?.operations[0]?.location, { file: spec('orders.json'), line: 7, column: 7 });
  });

  test('serverBasePath: relative URL, none, and "/"', async () => {
    assert.equal((await loadOpenApi(spec('relative-server.yaml'))).spec?.serverBasePath, '/internal/api');
    assert.equal((await loadOpenApi(spec('no-servers.yaml'))).spec?.serverBasePath, '');
    const root = await writeSpec("openapi: 3.1.0\ninfo: {title: t, version: '1'}\nservers: [{url: 'https://x.example.com/'}]\npaths: {}\n");
    assert.equal((await loadOpenApi(root)).spec?.serverBasePath, '');
  });

  test('an undeclared path parameter is a warning; the spec still loads', async () => {
    const { spec: s, diagnostics } = await loadOpenApi(spec('no-servers.yaml'));
    assert.ok(s);
    expectAt(diagnostics, '/paths/~1things~1{id}/get', 7, 5, 'path parameter "id" of GET /things/{id} is not declared', 'warning');
  });
});

describe('problems', () => {
  test('Swagger 2.0 is refused with what is supported', async () => {
    const { spec: s, diagnostics } = await loadOpenApi(spec('swagger2.yaml'));
    assert.equal(s, undefined);
    expectAt(diagnostics, '/swagger', 1, 10, 'Swagger 2.0 is not supported; Portcullis reads OpenAPI 3.0.x and 3.1.x documents');
  });

  test('other versions and missing fields', async () => {
    const v4 = await writeSpec("openapi: 4.0.0\ninfo: {title: t, version: '1'}\npaths: {}\n");
    expectAt((await loadOpenApi(v4)).diagnostics, '/openapi', 1, 10, 'unsupported OpenAPI version "4.0.0"');
    const noTitle = await writeSpec("openapi: 3.0.3\ninfo:\n  version: '1'\n");
    const { spec: s, diagnostics } = await loadOpenApi(noTitle);
    assert.equal(s, undefined);
    expectAt(diagnostics, '/info', 2, 1, 'missing required key "title"');
    expectAt(diagnostics, '', 1, 1, 'missing required key "paths"');
  });

  test('a broken $ref names the file, the $ref position and the pointer', async () => {
    const { spec: s, diagnostics, files } = await loadOpenApi(spec('broken-ref.yaml'));
    assert.equal(s, undefined);
    const d = expectAt(diagnostics, '/paths/~1items~1{id}/get/parameters/0/$ref', 9, 17, 'cannot resolve $ref "./common.yaml#/components/parameters/ItemId": no "ItemId" at /components/parameters in');
    assert.equal(d.file, spec('broken-ref.yaml'));
    assert.equal(diagnostics.length, 1, 'no "undeclared parameter" noise for a parameter that could not be read');
    assert.deepEqual(files, [spec('broken-ref.yaml'), spec('common.yaml')]);
  });

  test('a $ref to a missing file or a remote URL', async () => {
    const file = await writeSpec(
      [
        'openapi: 3.0.3',
        "info: {title: t, version: '1'}",
        'paths: {}',
        'components:',
        '  schemas:',
        "    A: {$ref: './nowhere.yaml#/A'}",
        "    B: {$ref: 'https://example.com/b.yaml'}",
        "    C: {$ref: '#/components/schemas/D'}",
      ].join('\n'),
    );
    const { diagnostics } = await loadOpenApi(file);
    expectAt(diagnostics, '/components/schemas/A/$ref', 6, 15, 'cannot read');
    expectAt(diagnostics, '/components/schemas/B/$ref', 7, 15, 'remote references are not supported');
    expectAt(diagnostics, '/components/schemas/C/$ref', 8, 15, 'no "D" at /components/schemas');
  });

  test('a circular $ref is reported and does not hang; recursive schemas are fine', async () => {
    const { spec: s, diagnostics } = await loadOpenApi(spec('circular.yaml'));
    assert.equal(s, undefined);
    expectAt(diagnostics, '/paths/~1a/$ref', 7, 11, 'circular $ref');
    expectAt(diagnostics, '/paths/~1b/$ref', 9, 11, 'circular $ref');
    assert.equal(diagnostics.length, 2, 'the recursive schema Node is not a problem');
  });

  test('duplicate operationId and paths that differ only in parameter names', async () => {
    const { spec: s, diagnostics } = await loadOpenApi(spec('duplicates.yaml'));
    assert.equal(s, undefined);
    expectAt(diagnostics, '/paths/~1users~1{userId}/put/operationId', 14, 20, 'duplicate operationId "getUser"; also used by GET /users/{id}');
    expectAt(diagnostics, '/paths/~1users~1{userId}', 12, 3, 'path "/users/{userId}" is ambiguous with "/users/{id}" (line 6)');
  });

  test('malformed path templates', async () => {
    const file = await writeSpec(
      ["openapi: 3.1.0", "info: {title: t, version: '1'}", 'paths:', '  /a/{x/b: {}', '  /c/{}: {}', '  /d/{p}/{p}: {}', '  e: {}'].join('\n'),
    );
    const { diagnostics } = await loadOpenApi(file);
    expectAt(diagnostics, '/paths/~1a~1{x~1b', 4, 3, '"{" without "}" at character 4');
    expectAt(diagnostics, '/paths/~1c~1{}', 5, 3, 'empty parameter name');
    expectAt(diagnostics, '/paths/~1d~1{p}~1{p}', 6, 3, 'parameter "p" appears twice');
    expectAt(diagnostics, '/paths/e', 7, 3, 'expected it to start with "/"');
  });

  test('an unreadable document is a diagnostic at line 0', async () => {
    const { spec: s, diagnostics, files } = await loadOpenApi(spec('missing.yaml'));
    assert.equal(s, undefined);
    assert.deepEqual(diagnostics, [{ severity: 'error', file: spec('missing.yaml'), line: 0, column: 0, path: '', message: 'cannot read OpenAPI document: no such file (ENOENT)' }]);
    assert.deepEqual(files, [spec('missing.yaml')]);
  });
});
