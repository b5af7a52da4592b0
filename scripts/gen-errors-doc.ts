/** Writes docs/errors.md from the error registry. Run from the repository root (`npm run docs`). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { errorsMarkdown } from '../src/pipeline/errors-doc.js';

mkdirSync('docs', { recursive: true });
writeFileSync('docs/errors.md', errorsMarkdown());
process.stdout.write('wrote docs/errors.md\n');
