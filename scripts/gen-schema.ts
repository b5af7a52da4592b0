/**
 * Writes the published forms of the config schema (run from the repository root):
 *   schema/portcullis.schema.json  the JSON Schema, for editors (VS Code YAML etc.)
 *   docs/configuration.md          the configuration reference
 * `npm run docs` runs it; test/config-docs.test.ts fails when the committed files are stale.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { configurationMarkdown, jsonSchemaText } from '../src/config/index.js';

const outputs: readonly [string, string][] = [
  ['schema/portcullis.schema.json', jsonSchemaText()],
  ['docs/configuration.md', configurationMarkdown()],
];

for (const [rel, text] of outputs) {
  const file = path.resolve(rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
  console.log(`wrote ${rel}`);
}
