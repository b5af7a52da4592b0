import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FdWriter, jsonString } from '../src/telemetry/line-writer.js';

describe('line writer', () => {
  it('jsonString gives the same string back through JSON.parse, as pure ASCII (non-ASCII as \\uXXXX)', () => {
    const lone = String.fromCharCode(0xd800);
    for (const s of ['plain text', '', 'quote " here', 'back\\slash', 'new\nline', 'tab\t', 'nul\u0000', 'é ü 日本', '\u2028\u2029', 'emoji 😀', '</script>', 'del\u007f', lone + 'x', 'ÿ\u0100\u0fff\u1000\uffff']) {
      const out = jsonString(s);
      assert.equal(JSON.parse(out), s);
      assert.match(out, /^[\x20-\x7e]*$/, `ASCII only: ${out}`);
      // ASCII input: exactly what JSON.stringify writes.
      if ([...s].every((ch) => ch.charCodeAt(0) <= 0x7e)) assert.equal(out, JSON.stringify(s));
    }
    assert.equal(jsonString('é'), '"\\u00e9"');
    assert.equal(jsonString('日'), '"\\u65e5"');
  });

  it('appendAscii writes ASCII lines byte for byte; appendString keeps UTF-8', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pc-lw-')), 'out.log');
    const w = new FdWriter(file, 16 * 1024 * 1024, 200);
    w.appendAscii(`{"s":${jsonString('café 😀')}}\n`);
    w.appendString('{"s":"café"}\n');
    await w.flush();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as { s: string }).s), ['café 😀', 'café']);
    await w.close();
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
