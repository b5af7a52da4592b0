/**
 * The pieces the engine's fast paths are made of: the literal automaton, the value facts (one
 * pass: classes, marks, literals; the base64 check), the memory of clean values, and JSON
 * strings handed over as ranges. test/threats-gates.test.ts checks that together they change
 * no verdict; these tests pin each piece's contract.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CC } from '../src/threats/charclass.js';
import { CleanValues } from '../src/threats/clean-values.js';
import { scanJson, scanJsonRanges } from '../src/threats/json-scan.js';
import { LiteralSet, MK, ValueFacts } from '../src/threats/prefilter.js';
import { ThreatEngine, type NamedDetector } from '../src/threats/engine.js';
import { DETECTORS } from '../src/threats/index.js';
import type { RawRequest } from '../src/threats/types.js';

describe('LiteralSet', () => {
  const set = new LiteralSet([
    ['union', 1],
    ['select', 2],
    ['on', 4],
    ['xi:include', 8],
    [' or ', 16],
    ['k', 32],
  ]);

  test('finds every literal in the lower-cased text, overlapping ones included', () => {
    assert.equal(set.match('UNION'), 1 | 4);
    assert.equal(set.match('uniselect'), 2);
    assert.equal(set.match('reunion selection'), 1 | 2 | 4);
    assert.equal(set.match('a OR b'), 16);
    assert.equal(set.match('XI:Include'), 8);
    assert.equal(set.match('nothing here'), 0);
    assert.equal(set.match('unio n'), 0);
  });

  test('non-ASCII characters: U+212A is k, U+0130 is i then a mark; others match nothing', () => {
    assert.equal(set.match('\u212a'), 32, 'KELVIN SIGN lower-cases to k');
    assert.equal(set.match('un\u0130on'), 4, 'U+0130 lower-cases to i + U+0307, which breaks `union` (not `on`)');
    assert.equal(set.match('\u0130on'), 4);
    assert.equal(set.match('uni\u00f6n'), 0);
    assert.equal(set.match('\u00e9union'), 1 | 4);
  });

  test('a range of the text', () => {
    assert.equal(set.match('xx union yy', 3, 8), 1 | 4);
    assert.equal(set.match('xx union yy', 4, 8), 4);
  });

  test('literals must be lower-case ASCII', () => {
    assert.throws(() => new LiteralSet([['Union', 1]]), /lower-case ASCII/);
    assert.throws(() => new LiteralSet([['ünion', 1]]), /lower-case ASCII/);
  });
});

describe('ValueFacts', () => {
  const facts = new ValueFacts();
  const scan = (s: string, start = 0, end = s.length): ValueFacts => {
    facts.scan(s, false, undefined, start, end);
    return facts;
  };

  test('classes and marks of the value, and of a range of a longer text only', () => {
    const f = scan('Ada Lovelace, 12');
    assert.equal(f.classes, CC.ALPHA | CC.SPACE | CC.DIGIT | CC.OTHER);
    assert.equal(f.marks & (MK.UPPER | MK.COMMA), MK.UPPER | MK.COMMA);
    const r = scan('{"a":"x<y"}', 6, 9);
    assert.equal(r.text, 'x<y');
    assert.equal(r.classes, CC.ALPHA | CC.LT);
    assert.equal(scan('é').classes, CC.NONASCII);
  });

  test('base64 runs: normalize()s long mixed-case run, and runs the code detector decodes', () => {
    assert.ok((scan('PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg').marks & MK.LONG_B64) !== 0);
    assert.equal(scan('abcdefghijklmnopqrstuvwxyz').marks & MK.LONG_B64, 0, 'one letter case');
    assert.ok((scan('ord-7f3a9c21').marks & MK.B64_RUN) !== 0);
    assert.equal(scan('fragile').marks & MK.B64_RUN, 0, 'lower-case letters only');
    assert.equal(scan('SKU01').marks & MK.B64_RUN, 0, 'shorter than 6');
  });

  test('base64MayHold: payloads at every alignment; ids and words hold nothing', () => {
    const b64 = (s: string): string => Buffer.from(s, 'latin1').toString('base64').replace(/=+$/, '');
    for (const payload of ['java.lang.Runtime', 'runtime', 'child_process', 'cos\nsystem\n', '\xac\xed\x00\x05sr', '\x00\x01\x00\x00\x00\xff\xff\xff\xff\x01']) {
      for (const prefix of ['', 'x', 'xy', 'xyz']) {
        const s = b64(prefix + payload);
        assert.ok(scan(s).base64MayHold(), `${JSON.stringify(prefix + payload)} as ${s}`);
        // Inside a longer value, after other characters.
        assert.ok(scan(`id: ${s} (ok)`).base64MayHold(), `${JSON.stringify(prefix + payload)} inside a value`);
      }
    }
    for (const ordinary of ['ord-7f3a9c21', 'SKU-0001', 'c-100234', 'Ada Lovelace', '12 Analytical Engine Way', 'London', 'orderId']) {
      assert.equal(scan(ordinary).base64MayHold(), false, ordinary);
    }
  });
});

describe('CleanValues', () => {
  test('remembers values by name, in two bounded generations', () => {
    const m = new CleanValues(2, 10);
    m.add('accept', 'a');
    m.add('accept', 'b');
    assert.ok(m.has('accept', 'a') && m.has('accept', 'b'));
    assert.equal(m.has('user-agent', 'a'), false, 'by name');
    m.add('accept', 'c'); // the young generation was full: a, b become the old one
    assert.ok(m.has('accept', 'a'), 'old values are still known, and move back to the young generation (c, a)');
    m.add('accept', 'd'); // young (c, a) becomes old; b is dropped
    assert.equal(m.has('accept', 'b'), false);
    m.add('accept', 'e');
    m.add('accept', 'f'); // young (d, e) becomes old; c and a are dropped
    assert.equal(m.has('accept', 'c'), false);
    assert.equal(m.has('accept', 'a'), false);
    assert.ok(m.has('accept', 'd') && m.has('accept', 'f'));
    assert.ok(m.size <= 4, 'at most two generations of two');
    m.add('accept', 'x'.repeat(11));
    assert.equal(m.has('accept', 'x'.repeat(11)), false, 'longer values are not kept');
  });

  test('the engine inspects a clean header value once, and a value with a finding every time', () => {
    let calls = 0;
    const marker: NamedDetector = {
      id: 'mark',
      category: 'sqli',
      detect: (text) => {
        calls++;
        return text.includes('EVIL') ? { detector: 'mark.evil', category: 'sqli', severity: 5, paranoia: 1, evidence: 'EVIL' } : undefined;
      },
    };
    const e = new ThreatEngine({ detectors: [marker] });
    const req = (ua: string): RawRequest => ({ method: 'GET', rawPath: '/', rawQuery: '', headers: { 'user-agent': ua }, body: undefined });
    assert.equal(e.inspect(req('curl/8')).block, false);
    assert.equal(e.inspect(req('curl/8')).block, false);
    assert.equal(calls, 1, 'the second time the value came from the memory');
    assert.equal(e.inspect(req('EVIL/1')).block, true);
    assert.equal(e.inspect(req('EVIL/1')).block, true, 'a value with a finding is never remembered');
    assert.equal(calls, 3);
    const off = new ThreatEngine({ detectors: [marker], headerMemory: 0 });
    calls = 0;
    off.inspect(req('curl/8'));
    off.inspect(req('curl/8'));
    assert.equal(calls, 2, 'headerMemory 0: every value inspected');
  });

  test('a remembered value still counts against the request budget', () => {
    const e = new ThreatEngine({ detectors: DETECTORS, limits: { maxBytes: 1024, maxItems: 3, maxDepth: 10 } });
    const req: RawRequest = { method: 'GET', rawPath: '/', rawQuery: '', headers: { a: 'x', b: 'y', c: 'z', d: 'w' }, body: undefined };
    assert.equal(e.inspect(req).incomplete, 'budget');
    assert.equal(e.inspect(req).incomplete, 'budget');
  });
});

describe('scanJsonRanges', () => {
  test('strings without escapes are ranges of the document; escaped ones are unescaped copies', () => {
    const doc = '{"a":"plain","b\\u0041":"x\\"y","c":["q"]}';
    const seen: string[] = [];
    assert.equal(
      scanJsonRanges(doc, 10, (src, start, end, isKey) => {
        seen.push(`${isKey ? 'K' : 'V'}:${src === doc ? 'doc' : 'copy'}:${src.slice(start, end)}`);
        return true;
      }),
      'ok',
    );
    assert.deepEqual(seen, ['K:copy:a', 'V:doc:plain', 'K:copy:bA', 'V:copy:x"y', 'K:copy:c', 'V:doc:q']);
    const values: string[] = [];
    scanJson(doc, 10, (v) => (values.push(v), true));
    assert.deepEqual(values, ['a', 'plain', 'bA', 'x"y', 'c', 'q']);
  });
});
