import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FdWriter, jsonString } from '../src/telemetry/line-writer.js';

describe('line writer', () => {
  it('jsonString quotes plain ASCII and escapes everything else exactly as JSON.stringify', () => {
    for (const s of ['plain text', '', 'quote " here', 'back\\slash', 'new\nline', 'tab\t', 'nul\u0000', 'é ü 日本', '\u2028\u2029', 'emoji 😀', '</script>']) {
      assert.equal(jsonString(s), JSON.stringify(s));
      assert.equal(JSON.parse(jsonString(s)), s);
    }
  });

  it('writes every appended line once flushed, in order, across many chunks', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pc-lw-')), 'sub', 'out.log');
    const w = new FdWriter(file, 16 * 1024 * 1024, 200);
    const n = 5000;
    for (let i = 0; i < n; i++) w.appendString(`{"i":${i},"pad":"${'x'.repeat(100)}"}\n`);
    await w.flush();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.equal(lines.length, n);
    lines.forEach((l, i) => assert.equal((JSON.parse(l) as { i: number }).i, i));
    assert.equal(w.dropped, 0);
    await w.close();
  });

  it('bounds memory: past maxBytes of pending lines, lines are dropped and counted, never buffered without end', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pc-lw-')), 'out.log');
    const w = new FdWriter(file, 128 * 1024, 200); // two chunks
    const line = `${'y'.repeat(1000)}\n`;
    for (let i = 0; i < 1000; i++) w.appendString(line); // ~1 MB synchronously: no write can complete meanwhile
    assert.ok(w.dropped > 0, 'some lines dropped');
    await w.flush();
    const written = readFileSync(file, 'utf8').split('\n').length - 1;
    assert.equal(written + w.dropped, 1000, 'every line is either written or counted');
    assert.ok(written * 1001 <= 128 * 1024, `at most the bound was kept: ${written} lines`);
    await w.close();
  });
});
