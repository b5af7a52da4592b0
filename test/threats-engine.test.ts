/**
 * The engine's extraction, decoding hand-off, scoring, budget, exclusions and type-aware
 * skipping, with two marker detectors so that each assertion is about the engine alone
 * (the real detectors have their own table tests, and test/gateway-threats.test.ts runs the
 * whole thing over HTTP).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Inspection, skipKey, ThreatEngine, type NamedDetector, type ThreatOptions } from '../src/threats/engine.js';
import { jsonPointer, scanJson } from '../src/threats/json-scan.js';
import { DETECTORS } from '../src/threats/detectors/index.js';
import type { Hit, RawRequest } from '../src/threats/types.js';
import { prng } from './helpers.js';
import { assertCheap, ordinaryText } from './threats-timing.js';

/** Finds the marker `EVIL` (critical) and `meh` (notice, paranoia 2), and records where it looked. */
function markers(seen?: { text: string; location: string; name: string; isKey: boolean }[]): NamedDetector[] {
  return [
    {
      id: 'mark',
      category: 'sqli',
      detect: (text, lower, ctx): Hit | undefined => {
        seen?.push({ text, location: ctx.location, name: ctx.name, isKey: ctx.isKey });
        if (text.includes('EVIL')) return { detector: 'mark.evil', category: 'sqli', severity: 5, paranoia: 1, evidence: 'EVIL' };
        if (lower.includes('meh')) return { detector: 'mark.meh', category: 'sqli', severity: 2, paranoia: 2, evidence: 'meh' };
        return undefined;
      },
    },
  ];
}

function engine(opts: Partial<ThreatOptions> = {}, seen?: { text: string; location: string; name: string; isKey: boolean }[]): ThreatEngine {
  return new ThreatEngine({ ...opts, detectors: opts.detectors ?? markers(seen) });
}

/**
 * For tests about what is read and how findings are named: a threshold no finding set here
 * reaches, so every input is read (a refused request stops being read, see 'scoring').
 */
const ALL: Partial<ThreatOptions> = { threshold: 1000 };

function req(over: Partial<RawRequest>): RawRequest {
  return { method: 'GET', rawPath: '/', rawQuery: '', headers: {}, body: undefined, ...over };
}

describe('threat engine: where it looks', () => {
  test('path segments, query names and values (+ and %-decoding), headers, cookies', () => {
    const seen: { text: string; location: string; name: string; isKey: boolean }[] = [];
    const e = engine({}, seen);
    const run = e.inspect(
      req({
        rawPath: '/a/b%20c',
        rawQuery: 'q=hello+world&x%5B%5D=%41',
        headers: { 'user-agent': 'curl/8', authorization: 'Bearer SECRET', cookie: 'sid=abc; theme="dark"' },
      }),
    );
    assert.equal(run.score, 0);
    const got = (loc: string, isKey = false) => seen.filter((s) => s.location === loc && s.isKey === isKey).map((s) => `${s.name}=${s.text}`);
    assert.deepEqual(got('path'), ['0=a', '1=b c']);
    assert.deepEqual(got('query', true), ['q=q', 'x[]=x[]']);
    assert.deepEqual(got('query'), ['q=hello world', 'x[]=A']);
    assert.deepEqual(got('header'), ['user-agent=curl/8'], 'authorization is never inspected');
    assert.deepEqual(got('cookie', true), ['sid=sid', 'theme=theme']);
    assert.deepEqual(got('cookie'), ['sid=abc', 'theme=dark']);
  });

  test('JSON in a query value: each member name and string, named parameter + pointer', () => {
    const e = engine(ALL);
    const v = e.inspect(req({ rawQuery: 'filter=' + encodeURIComponent('{"a":["x","EVIL"]}') }));
    assert.ok(v.score >= 10, 'the whole value and its member');
    assert.deepEqual(
      v.findings.map((f) => `${f.location} ${f.name}`),
      ['query filter', 'query filter/a/1'],
    );
  });

  test('JSON body: every string with its pointer, member names as keys, duplicates too; numbers skipped', () => {
    const seen: { text: string; location: string; name: string; isKey: boolean }[] = [];
    const e = engine({ exclusions: [{ detectors: ['nothing'], locations: [] }] }, seen); // an exclusion makes names resolve eagerly
    e.inspect(
      req({
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: Buffer.from('{"a":{"b~/c":["x",2,{"d":"y\\u0041"}]},"a":"dup","n":12.5e3,"t":true}'),
      }),
    );
    const body = seen.filter((s) => s.location === 'body').map((s) => `${s.isKey ? 'K' : 'V'} ${s.name} ${s.text}`);
    assert.deepEqual(body, ['K /a a', 'K /a/b~0~1c b~/c', 'V /a/b~0~1c/0 x', 'K /a/b~0~1c/2/d d', 'V /a/b~0~1c/2/d yA', 'K /a a', 'V /a dup', 'K /n n', 'K /t t']);
  });

  test('form and multipart bodies: names, values, file names, JSON parts', () => {
    const seen: { text: string; location: string; name: string; isKey: boolean }[] = [];
    const e = engine({}, seen);
    e.inspect(req({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from('name=O%27Brien&msg=a+b') }));
    assert.deepEqual(
      seen.filter((s) => s.location === 'form' && !s.isKey).map((s) => `${s.name}=${s.text}`),
      ['name=O\'Brien', 'msg=a b'],
    );
    seen.length = 0;
    const mp = [
      '--XyZ',
      'Content-Disposition: form-data; name="title"',
      '',
      'hello',
      '--XyZ',
      'Content-Disposition: form-data; name="doc"; filename="r.txt"',
      'Content-Type: text/plain',
      '',
      'file text',
      '--XyZ',
      'Content-Disposition: form-data; name="meta"',
      'Content-Type: application/json',
      '',
      '{"k":"v"}',
      '--XyZ--',
      '',
    ].join('\r\n');
    e.inspect(req({ method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=XyZ' }, body: Buffer.from(mp) }));
    const values = seen.filter((s) => s.location === 'multipart' && !s.isKey && !s.name.includes(':')).map((s) => s.text);
    assert.deepEqual(values, ['hello', 'r.txt', 'file text', 'v']);
  });

  test('malformed JSON is a protocol finding and its text is still inspected', () => {
    const e = engine(ALL);
    const run = e.inspect(req({ method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"a": 1 EVIL}') }));
    const detectors = run.findings.map((f) => f.detector).sort();
    assert.deepEqual(detectors, ['mark.evil', 'protocol.malformed-body']);
    assert.ok(run.score >= 10);
    assert.equal(engine().inspect(req({ method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"a": 1}}') })).block, true, 'malformed alone refuses');
  });

  test('a JSON body nested deeper than the limit is refused as malformed', () => {
    const e = engine({ limits: { maxBytes: 1 << 20, maxItems: 1000, maxDepth: 8 } });
    const run = e.inspect(req({ method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('['.repeat(9) + ']'.repeat(9)) }));
    assert.ok(run.findings.some((f) => f.detector === 'protocol.malformed-body'));
    assert.equal(run.block, true);
  });
});

describe('threat engine: scoring and paranoia', () => {
  test('a request is no longer read once refused: later inputs, later windows and later detectors cost nothing', () => {
    const seen: { text: string; location: string; name: string; isKey: boolean }[] = [];
    const e = engine({}, seen);
    const run = e.inspect(req({ rawQuery: 'a=EVIL&b=later&c=EVIL', method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"d":"after"}') }));
    assert.equal(run.block, true);
    assert.deepEqual(run.findings.map((f) => f.name), ['a']);
    assert.ok(!seen.some((x) => x.text === 'later' || x.text === 'after'), JSON.stringify(seen.map((x) => x.text)));
    // the same inputs with a threshold out of reach are all read
    const all: typeof seen = [];
    engine(ALL, all).inspect(req({ rawQuery: 'a=EVIL&b=later&c=EVIL' }));
    assert.ok(all.some((x) => x.text === 'later'));
  });

  test('a critical finding blocks; a paranoia-2 notice counts only at paranoia 2', () => {
    assert.equal(engine().inspect(req({ rawQuery: 'q=EVIL' })).block, true);
    const p1 = engine().inspect(req({ rawQuery: 'a=meh&b=meh&c=meh' }));
    assert.equal(p1.score, 0);
    const p2 = engine({ paranoia: 2 }).inspect(req({ rawQuery: 'a=meh&b=meh&c=meh' }));
    assert.equal(p2.score, 6);
    assert.equal(p2.block, true, 'three notices reach the threshold of 5');
    const one = engine({ paranoia: 2 }).inspect(req({ rawQuery: 'a=meh' }));
    assert.equal(one.block, false);
  });

  test('one hit per detector and input, however often the input repeats it', () => {
    const run = engine({ paranoia: 2, threshold: 3 }).inspect(req({ rawQuery: 'a=meh+meh+meh' }));
    assert.equal(run.score, 2);
    assert.equal(run.block, false);
  });

  test('double-encoded values are decoded before the detectors see them', () => {
    const run = engine().inspect(req({ rawQuery: 'q=%2545%2556%2549%254C' })); // %45%56%49%4C → EVIL
    assert.ok(run.findings.some((f) => f.detector === 'mark.evil'));
  });

  test('bytes of the head, of form and of multipart bodies are read as UTF-8 where they are UTF-8', () => {
    // Node hands header values over one Latin-1 character per byte.
    const bytes = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
    const seen: { text: string; location: string; name: string; isKey: boolean }[] = [];
    engine({}, seen).inspect(
      req({
        rawPath: '/' + bytes('café'),
        rawQuery: 'q=' + bytes('①②'),
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-a': bytes('O’Brien'), 'x-b': 'caf\u00e9', cookie: 'name=' + bytes('Zoë') },
        body: Buffer.from('f=Añadir', 'utf8'),
      }),
    );
    const text = (loc: string, name: string): string | undefined => seen.find((s) => s.location === loc && s.name === name && !s.isKey)?.text;
    assert.equal(text('header', 'x-a'), 'O’Brien');
    assert.equal(text('header', 'x-b'), 'café', 'Latin-1 that is not UTF-8 stays Latin-1');
    assert.equal(text('cookie', 'name'), 'Zoë');
    assert.equal(text('path', '0'), 'café');
    assert.equal(text('query', 'q'), '12', 'and is then folded (NFKC)');
    assert.equal(text('form', 'f'), 'Añadir');
    const json: { text: string; location: string; name: string; isKey: boolean }[] = [];
    engine({}, json).inspect(req({ method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"a":"Ã©"}', 'utf8') }));
    assert.equal(json.find((s) => s.location === 'body' && !s.isKey)?.text, 'Ã©', 'JSON text is text already');
  });

  test('a NUL byte is a protocol finding', () => {
    const run = engine().inspect(req({ rawQuery: 'file=a.php%00.jpg' }));
    assert.deepEqual(
      run.findings.map((f) => f.detector),
      ['protocol.nul-byte'],
    );
    assert.equal(run.block, true);
  });
});

test('_method naming another method counts from paranoia 2', () => {
  const e2 = new ThreatEngine({ detectors: DETECTORS, paranoia: 2 });
  const post = (body: string): RawRequest => req({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(body) });
  assert.deepEqual(e2.inspect(post('_method=DELETE')).findings.map((f) => `${f.detector} ${f.location} ${f.name}`), ['protocol.method-override form _method']);
  assert.equal(e2.inspect(post('_method=post')).block, false);
  assert.equal(e2.inspect(req({ rawQuery: '_method=PUT' })).block, true);
});

describe('threat engine: bounds', () => {
  test('past the byte budget the request is refused, never passed partly inspected', () => {
    const e = engine({ limits: { maxBytes: 1024, maxItems: 1000, maxDepth: 64 } });
    const run = e.inspect(req({ method: 'POST', headers: { 'content-type': 'text/plain' }, body: Buffer.from('a'.repeat(2000)) }));
    assert.equal(run.incomplete, 'budget');
    assert.equal(run.block, true);
  });

  test('past the item budget likewise', () => {
    const e = engine({ limits: { maxBytes: 1 << 20, maxItems: 50, maxDepth: 64 } });
    const run = e.inspect(req({ rawQuery: Array.from({ length: 40 }, (_, i) => `k${i}=v`).join('&') }));
    assert.equal(run.incomplete, 'budget');
  });

  test('a long value is inspected in overlapping windows: a marker anywhere, even across a window edge, is found', () => {
    for (const at of [0, 8190, 8191, 8192, 20_000, 39_996]) {
      const text = 'x'.repeat(at) + 'EVIL' + 'x'.repeat(40_000 - at);
      const run = engine().inspect(req({ method: 'POST', headers: { 'content-type': 'text/plain' }, body: Buffer.from(text) }));
      assert.equal(run.block, true, `marker at ${at}`);
    }
  });
});

describe('threat engine: the second readings stay linear on pathological input', () => {
  const e = new ThreatEngine({ detectors: DETECTORS });
  const formOf = (value: string): RawRequest =>
    req({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from('f=' + encodeURIComponent(value)) });
  const uploadOf = (content: string): RawRequest =>
    req({
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=XyZ' },
      body: Buffer.from(`--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n${content}\r\n--XyZ--\r\n`, 'latin1'),
    });
  const inspectForm = (v: string): unknown => e.inspect(formOf(v));
  const ordinaryForm = ordinaryText(60_000);
  // JSON in a form field: many members, deep nesting (past the depth limit: read whole only)
  test('JSON in a form field: 10 000 members', () => {
    assertCheap('many members', inspectForm, '[' + '"a b",'.repeat(10_000) + '"x"]', { ceilingMs: 300, ordinary: ordinaryForm });
  });
  test('JSON in a form field: nesting 20 000 deep', () => {
    assertCheap('deep nesting', inspectForm, '['.repeat(20_000) + ']'.repeat(20_000), { ceilingMs: 300, ordinary: ordinaryForm });
  });
  test('CJK text full of characters that end in the bytes of LF (上)', () => {
    assertCheap('上 x 30 000', inspectForm, '上海: Set'.repeat(6_000), { ceilingMs: 300, ordinary: ordinaryForm });
  });
  test('a binary upload full of PHP and ASP openers: a bounded number read', () => {
    const inspectUpload = (c: string): unknown => e.inspect(uploadOf(c));
    assertCheap('openers', inspectUpload, '<?php x'.repeat(10_000) + '<?= '.repeat(10_000) + '<% '.repeat(10_000), {
      ceilingMs: 300,
      ordinary: '\x89PNG'.repeat(20_000),
    });
  });
});

describe('threat engine: exclusions, type-aware skipping, redaction', () => {
  test('exclusions silence a detector at one input only', () => {
    const e = engine({ exclusions: [{ detectors: ['mark'], locations: ['query:html', 'body:/article/*'] }] });
    assert.equal(e.inspect(req({ rawQuery: 'html=EVIL' })).block, false);
    assert.equal(e.inspect(req({ rawQuery: 'other=EVIL' })).block, true);
    const json = (body: string) => e.inspect(req({ method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from(body) }));
    assert.equal(json('{"article":{"html":"EVIL"}}').block, false);
    assert.equal(json('{"title":"EVIL"}').block, true);
  });

  test('an excluded name covers what is read inside its value (JSON in a parameter or a string, XML in an upload)', () => {
    const e = engine({ exclusions: [{ detectors: ['mark'], locations: ['query:html', 'body:/note', 'body:file'] }] });
    assert.equal(e.inspect(req({ rawQuery: 'html=' + encodeURIComponent('{"x":"EVIL"}') })).block, false);
    assert.equal(e.inspect(req({ rawQuery: 'htmlx=' + encodeURIComponent('{"x":"EVIL"}') })).block, true);
    const json = (body: string) => e.inspect(req({ method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from(body) }));
    assert.equal(json(JSON.stringify({ note: '{"a":"EVIL"}' })).block, false);
    assert.equal(json(JSON.stringify({ notes: 'EVIL' })).block, true);
    const svg = '<svg xmlns="http://www.w3.org/2000/svg"><text>EVIL</text></svg>';
    const upload = (field: string) =>
      e.inspect(
        req({
          method: 'POST',
          headers: { 'content-type': 'multipart/form-data; boundary=XyZ' },
          body: Buffer.from(`--XyZ\r\nContent-Disposition: form-data; name="${field}"; filename="a.svg"\r\nContent-Type: image/svg+xml\r\n\r\n${svg}\r\n--XyZ--\r\n`),
        }),
      );
    assert.equal(upload('file').block, false);
    assert.equal(upload('avatar').block, true);
  });

  test('an exclusion by category or by full detector id works the same; other detectors still run', () => {
    assert.equal(engine({ exclusions: [{ detectors: ['sqli'], locations: [] }] }).inspect(req({ rawQuery: 'q=EVIL' })).block, false);
    assert.equal(engine({ exclusions: [{ detectors: ['mark.evil'], locations: [] }] }).inspect(req({ rawQuery: 'q=EVIL' })).block, false);
    assert.equal(engine({ exclusions: [{ detectors: ['xss'], locations: [] }] }).inspect(req({ rawQuery: 'q=EVIL' })).block, true);
  });

  test('values the contract proved harmless are skipped, others are not', () => {
    const e = engine();
    const skip = new Set([skipKey('query', 'id'), skipKey('body', '/status')]);
    assert.equal(e.inspect(req({ rawQuery: 'id=EVIL' }), skip).block, false);
    assert.equal(e.inspect(req({ rawQuery: 'name=EVIL' }), skip).block, true);
    const body = (b: string) => e.inspect(req({ method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from(b) }), skip);
    assert.equal(body('{"status":"EVIL"}').block, false);
    assert.equal(body('{"note":"EVIL"}').block, true);
  });

  test('skipped JSON values are found by pointer: nested members, array items, escaped names', () => {
    const seen: { text: string; location: string; name: string; isKey: boolean }[] = [];
    const e = engine(ALL, seen);
    const skip = new Set([skipKey('body', '/a/b~1c/0'), skipKey('body', '/t~0x'), skipKey('body', '/list/1/v')]);
    const doc = { a: { 'b/c': ['EVIL', 'EVIL 2'] }, 't~x': 'EVIL', list: [{ v: 'EVIL' }, { v: 'EVIL' }], v: 'EVIL' };
    const run = e.inspect(req({ method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(doc)) }), skip);
    assert.deepEqual(run.findings.map((f) => f.name).sort(), ['/a/b~1c/1', '/list/0/v', '/v']);
    // With a skip set, detectors see pointers as names (as with exclusions), built only for the values they read.
    assert.deepEqual(
      seen.filter((x) => x.location === 'body' && !x.isKey).map((x) => x.name),
      ['/a/b~1c/1', '/list/0/v', '/v'],
    );
  });

  test('excerpts are short; cookies and secret-looking names are redacted', () => {
    const long: NamedDetector = {
      id: 'long',
      category: 'xss',
      detect: (text) => (text.startsWith('<') ? { detector: 'long.x', category: 'xss', severity: 5, paranoia: 1, evidence: text } : undefined),
    };
    const e = engine({ ...ALL, detectors: [long] });
    const run = e.inspect(req({ rawQuery: `q=${encodeURIComponent('<' + 'a'.repeat(200) + '\r\n')}&password=${encodeURIComponent('<secret')}`, headers: { cookie: 'sid=<x' } }));
    const by = (name: string) => run.findings.find((f) => f.name === name)!;
    assert.ok(by('q').excerpt.length <= 40);
    assert.equal(by('password').excerpt, '[REDACTED]');
    assert.equal(by('sid').excerpt, '[REDACTED]');
  });

  test('a detector that throws counts as a notice and does not stop the others', () => {
    const broken: NamedDetector = { id: 'broken', category: 'xss', detect: () => { throw new Error('bug'); } };
    const e = engine({ detectors: [broken, ...markers()] });
    const run = e.inspect(req({ rawQuery: 'q=EVIL' }));
    assert.ok(run.findings.some((f) => f.detector === 'broken.error'));
    assert.ok(run.findings.some((f) => f.detector === 'mark.evil'));
  });

  test('head then body continue one score', () => {
    const e = engine({ paranoia: 2 });
    const run = new Inspection(e);
    const r = req({ rawQuery: 'a=meh', method: 'POST', headers: { 'content-type': 'text/plain' }, body: Buffer.from('meh meh') });
    e.inspectHead(run, r);
    assert.equal(run.score, 2);
    e.inspectBody(run, r);
    assert.equal(run.score, 4);
  });
});

describe('threat engine with its detectors: encodings attackers use, and text that looks alike', () => {
  /** A value's UTF-8 bytes as Node hands them over in a header (one Latin-1 character per byte). */
  const bytes = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
  const form = (body: string): Partial<RawRequest> => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(body, 'utf8') });
  /** One file part; `content` is Latin-1 (one character per byte). */
  const upload = (filename: string, type: string, content: string): Partial<RawRequest> => ({
    method: 'POST',
    headers: { 'content-type': 'multipart/form-data; boundary=XyZ' },
    body: Buffer.from(`--XyZ\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n${content}\r\n--XyZ--\r\n`, 'latin1'),
  });
  /**
   * 64 KiB of seeded random bytes (the multipart delimiter's first character left out) with
   * PHP and ASP openers, closed and not, among them: what a large image holds by chance.
   */
  const binaryNoise = (): string => {
    const next = prng(7);
    let out = '';
    for (let i = 0; i < 65536; i++) {
      const b = Math.floor(next() * 256);
      out += String.fromCharCode(b === 0x2d ? 0x2e : b);
      if (i % 8192 === 100) out += ['<?=', '<% ', '<%@', '<?=\x8f\x01 ?>', '<% \xfe%>'][Math.floor(i / 8192) % 5];
    }
    return out;
  };
  /** A compact JWS with this header (and claims), its signature a placeholder. */
  const jwt = (header: object, claims: object = { sub: '1' }): string =>
    Buffer.from(JSON.stringify(header)).toString('base64url') + '.' + Buffer.from(JSON.stringify(claims)).toString('base64url') + '.c2lnbmF0dXJl';
  /** [what, request, refused at paranoia 1] */
  const CASES: readonly (readonly [string, Partial<RawRequest>, boolean])[] = [
    // UTF-8 sent raw in headers and cookies
    ['typographic quotes in a cookie', { headers: { cookie: 'id=' + bytes('’ OR ’1’=’x’--') } }, true],
    ['typographic quotes in a header', { headers: { 'x-user': bytes('x’ or ’1’=’1') } }, true],
    ['circled digits in a header URL', { headers: { 'x-callback': bytes('http://①②⑦.⓪.⓪.①/admin') } }, true],
    ['ideographic dots in a header URL', { headers: { 'x-webhook': bytes('http://169。254。169。254/latest/meta-data/') } }, true],
    ['raw UTF-8 in the query', { rawQuery: 'u=' + bytes('gopher://①②⑦.⓪.⓪.①:25/') }, true],
    ['a name with an apostrophe in a cookie', { headers: { cookie: 'name=' + bytes('O’Brien; lang=fr') } }, false],
    ['accented prose in a header', { headers: { 'x-note': bytes('José’s café — «très bien», n’est-ce pas?') } }, false],
    ['a URL to a public host with a Unicode path', { headers: { referer: bytes('https://ja.wikipedia.org/wiki/東京。駅') } }, false],
    // `´` as a quote
    ['acute accents as quotes', form('id=1´ OR ´1´=´x´#;--()'), true],
    ['acute accent quote with fullwidth digits', form('id=１´ or ´１´=´１'), true],
    ['acute accents as apostrophes in prose', form('note=don´t worry, it´s O´Brien´s café'), false],
    // a text cut at its `=` by form and query parsing: the item is read whole when its "name" is no name
    ['a tautology as a whole form body', form('1 or 1=1'), true],
    ['a tautology as a whole query', { rawQuery: '1%20or%201=1' }, true],
    ["a quoted tautology as a whole item", form("'admin', '1'='1'"), true],
    ['a name with a space and prose', form('first name=John&note (optional)=select a plan'), false],
    ['ordinary parameters', { rawQuery: 'utm_source=news&ref=a%20b&page[size]=10&filter.name=x' }, false],
    // an item without `=` is a name and the whole text at once: read as a value too
    ['a catalog name as a bare query item', { rawQuery: 'information_schema' }, true],
    ['a catalog name as a whole form body', form('INFORMATION_SCHEMA'), true],
    ['a catalog name as a parameter name', { rawQuery: 'information_schema=on' }, false],
    ['bare flags', { rawQuery: 'debug&pretty&select&v=2' }, false],
    // JSON inside a parameter, a cookie or a JSON string: its strings are read one by one
    ['a tautology in JSON in a query parameter', { rawQuery: 'filter=' + encodeURIComponent('{"id":"1) OR (1=1"}') }, true],
    ['a tautology in JSON in a form field', form('filter=' + encodeURIComponent('[{"id":"1 OR 1=1"}]')), true],
    ['a tautology in JSON in a cookie', { headers: { cookie: 'prefs=' + encodeURIComponent('{"id":"1 OR 1=1"}') } }, true],
    ['a tautology in JSON in a JSON string', { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ q: '{"id":"1 OR 1=1"}' })) }, true],
    // requests the upstream would take for other ones: method and URL override headers
    ['a method override header naming another method', { method: 'POST', headers: { 'x-http-method-override': 'DELETE' } }, true],
    ['a method override header naming the request\'s own method', { method: 'POST', headers: { 'x-http-method-override': 'post' } }, false],
    ['an X-Original-URL header', { headers: { 'x-original-url': '/admin/users' } }, true],
    ['an X-Rewrite-URL header', { headers: { 'x-rewrite-url': '/admin' } }, true],
    ['_method in a form (HTML forms use it: paranoia 2)', form('_method=DELETE&confirm=1'), false],
    // file parts: XML files read as XML whatever their declared type, server code hidden in binaries
    ['an SVG upload with an external entity, sent as image/png', upload('logo.png', 'image/png', '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/hostname">]><svg>&x;</svg>'), true],
    ['an SVG upload with an event handler', upload('a.svg', 'image/svg+xml', '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'), true],
    ['an ordinary SVG upload', upload('logo.svg', 'image/svg+xml', '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 24 24"><path d="M0 0L10 10" stroke="#000"/><use xlink:href="#g"/><text x="1" y="2">Hello &amp; welcome</text></svg>'), false],
    ['PHP code in a GIF upload', upload('image.gif', 'image/gif', 'GIF89a<?php eval($_POST["x"]); ?>'), true],
    ['ASP code in an image upload', upload('a.jpg', 'image/jpeg', '\xff\xd8\xff<% Response.Write(CreateObject("WScript.Shell").Exec(Request("c")).StdOut.ReadAll()) %>'), true],
    ['binary image bytes', upload('photo.jpg', 'image/jpeg', binaryNoise()), false],
    ['an .htaccess upload', upload('.htaccess', 'text/plain', 'AddType application/x-httpd-php .jpg'), true],
    ['a web.config upload', upload('web.config', 'application/octet-stream', '<configuration/>'), true],
    ['a text file whose name mentions .htaccess', upload('notes.htaccess.txt', 'text/plain', 'hello'), false],
    ['prose in JSON in a query parameter', { rawQuery: 'filter=' + encodeURIComponent('{"name":"O\'Brien","note":"select a plan","sum":"1 - 2"}') }, false],
    ['a bare word as a whole form body', form('subscribe'), false],
    // a file sent as the whole body: its format's NULs are no anomaly; its strings and hidden code are read
    ['a PNG PUT to storage (valid UTF-8 by chance, NULs in it)', { method: 'PUT', headers: { 'content-type': 'image/png' }, body: Buffer.from('\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x03', 'utf8') }, false],
    ['a tus upload chunk of random bytes', { method: 'PATCH', headers: { 'content-type': 'application/offset+octet-stream' }, body: Buffer.from(binaryNoise(), 'latin1') }, false],
    ['a framed binary request naming a secret file (Jenkins CLI)', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from('\x00\x00\x00\x06\x00\x00\x04help\x00\x00\x00\x1f\x00\x00\x1d@/var/jenkins_home/secrets/master.key\x00\x00', 'latin1') }, true],
    // a bracketed key of a parameter name, read on its own as PHP hands it over (Drupalgeddon)
    ['SQL in a bracketed form key', form('name[0%20or%20updatexml(0x23,concat(1,version()),1)%23]=bob&name[0]=a&op=Log+in'), true],
    ['ordinary bracketed keys', { rawQuery: 'filter[status]=open&sort[0][field]=due&page[size]=10&tags[]=a%20b' }, false],
    // the request addressed to the metadata service through the gateway; a cluster service called `metadata` is not
    ['Host: 169.254.169.254', { rawPath: '/latest/meta-data/iam/security-credentials/', headers: { host: '169.254.169.254' } }, true],
    ['Host: metadata.google.internal', { headers: { host: 'metadata.google.internal:80' } }, true],
    ['Host: a single-label service name', { headers: { host: 'metadata:8080' } }, false],
    // a JWT header's key references: kid as a path or a query, jku to the metadata service
    ['a JWT whose kid climbs to /dev/null', { headers: { authorization: 'Bearer ' + jwt({ alg: 'HS256', typ: 'JWT', kid: '../../../../../../../dev/null' }) } }, true],
    ['a JWT whose kid is SQL', { headers: { authorization: 'Bearer ' + jwt({ alg: 'HS256', kid: "x' UNION SELECT 'key' -- " }) } }, true],
    ['a JWT whose jku is the metadata service', { headers: { authorization: 'Bearer ' + jwt({ alg: 'RS256', jku: 'http://169.254.169.254/latest/meta-data/' }) } }, true],
    ['an ordinary JWT (claims are not read)', { headers: { authorization: 'Bearer ' + jwt({ alg: 'RS256', kid: '2024-06-key-1', jku: 'https://auth.example.com/.well-known/jwks.json' }, { sub: "O'Brien' OR '1'='1" }) } }, false],
    ['a secret file named after 300 other strings of a frame (every run is read)', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from('\x00\x01abcd'.repeat(300) + '\x00@/var/jenkins_home/secrets/master.key\x00', 'latin1') }, true],
    ['PHP code in a PNG PUT as the body', { method: 'PUT', headers: { 'content-type': 'image/png' }, body: Buffer.from('\x89PNG\r\n\x1a\n\x00\x00<?php system($_GET["c"]); ?>\x00', 'latin1') }, true],
  ];
  const e = new ThreatEngine({ detectors: DETECTORS });
  for (const [what, over, refused] of CASES) {
    test(`${refused ? 'refused' : 'passed'}: ${what}`, () => {
      const v = e.inspect(req(over));
      assert.equal(v.block, refused, JSON.stringify(v.findings));
    });
  }
});

describe('scanJson', () => {
  test('visits strings with paths, refuses malformed documents and bare words', () => {
    const out: string[] = [];
    assert.equal(scanJson('[{"a":"x"},"y"]', 10, (v, k, p) => (out.push(`${k ? 'K' : 'V'}${jsonPointer(p)}=${v}`), true)), 'ok');
    assert.deepEqual(out, ['K/0/a=a', 'V/0/a=x', 'V/1=y']);
    for (const bad of ['{"a":1 or 1=1}', '{"a":"x"', '["x"]]', '{"a":"\\q"}', '{"a": nul}']) {
      assert.equal(scanJson(bad, 10, () => true), 'malformed', bad);
    }
    assert.equal(scanJson('[[[]]]', 2, () => true), 'too-deep');
  });

  test('is linear on pathological input', () => {
    const big = '[' + '"\\\\",'.repeat(50_000) + '"x"]';
    assert.equal(scanJson(big, 10, () => true), 'ok');
    const quotes = '"' + '\\"'.repeat(100_000);
    assert.equal(scanJson(quotes, 10, () => true), 'malformed');
    for (const [label, doc] of [['backslashes', big], ['escaped quotes', quotes]] as const) {
      // the ordinary document of the same size: an array of short strings
      const ordinary = '[' + '"abcdefg",'.repeat(Math.ceil(doc.length / 10)) + '"x"]';
      assertCheap(label, (d) => scanJson(d, 10, () => true), doc, { ceilingMs: 200, ordinary });
    }
  });
});
