import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_CODES, ERRORS } from '../src/pipeline/errors.js';
import { errorsMarkdown } from '../src/pipeline/errors-doc.js';

describe('error registry', () => {
  it('docs/errors.md matches the registry (run `npm run docs` after changing src/pipeline/errors.ts)', () => {
    assert.equal(readFileSync('docs/errors.md', 'utf8'), errorsMarkdown());
  });

  it('every code is snake_case, has a 4xx/5xx status, a title and a doc text', () => {
    for (const code of ERROR_CODES) {
      assert.match(code, /^[a-z]+(_[a-z0-9]+)*$/);
      const spec = ERRORS[code];
      assert.ok(spec.status >= 400 && spec.status <= 599, code);
      assert.ok(spec.title.length > 5 && spec.doc.length > 20, code);
    }
  });

  it('every code is produced somewhere in the source (no dead codes)', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (e.name.endsWith('.ts') && !e.name.startsWith('errors')) files.push(join(dir, e.name));
      }
    };
    walk('src');
    const text = files.map((f) => readFileSync(f, 'utf8')).join('\n');
    for (const code of ERROR_CODES) assert.ok(text.includes(`'${code}'`), `${code} is never produced`);
  });

  it('every code has a test that asserts it', () => {
    const text = readdirSync('test')
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => readFileSync(join('test', f), 'utf8'))
      .join('\n');
    assert.deepEqual(
      ERROR_CODES.filter((code) => !text.includes(`'${code}'`)),
      [],
      'codes no test asserts',
    );
  });
});
