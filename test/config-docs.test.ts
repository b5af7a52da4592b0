import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { configurationMarkdown, jsonSchemaText } from '../src/config/index.js';

const STALE = 'is out of date with src/config/schema.ts: run `npm run docs` and commit the result';

test('schema/portcullis.schema.json is generated from the schema', async () => {
  const committed = await readFile(path.resolve('schema/portcullis.schema.json'), 'utf8');
  assert.ok(committed === jsonSchemaText(), `schema/portcullis.schema.json ${STALE}`);
});

test('docs/configuration.md is generated from the schema', async () => {
  const committed = await readFile(path.resolve('docs/configuration.md'), 'utf8');
  assert.ok(committed === configurationMarkdown(), `docs/configuration.md ${STALE}`);
});

test('the JSON Schema is plain draft-07 with ids, titles, descriptions and defaults', () => {
  const schema = JSON.parse(jsonSchemaText()) as Record<string, unknown> & { properties: Record<string, Record<string, unknown>> };
  assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  assert.equal(schema.$id, 'https://portcullis.dev/schema/portcullis.schema.json');
  assert.equal(schema.title, 'Portcullis configuration');
  assert.equal(schema.properties.workers?.default, 1);
  assert.equal(schema.additionalProperties, false);
  assert.ok(!jsonSchemaText().includes('TypeBox'), 'no TypeBox internals');
});

test('the reference lists every key with its type, default and description', () => {
  const md = configurationMarkdown();
  assert.ok(md.includes('npm run docs'));
  assert.ok(md.includes('| `apis[].cors.allowOrigins` | list of string |  | yes |'), 'nested keys of list items');
  assert.ok(md.includes('| `upstreams.<name>.connections` | integer 1–10000 | `128` |'), 'map entries');
  assert.ok(md.includes('| `admin.token` | string (*secret*) |'), 'secrets are marked');
  assert.ok(md.includes('## `listeners`') && md.includes('## Top level'));
});
