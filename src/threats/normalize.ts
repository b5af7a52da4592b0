/**
 * Input normalization: turns one extracted request value into the text detectors match on, so
 * that an encoded attack looks like a plain one.
 *
 * The engine has already decoded each value once (query/form: `%XX` and `+`; path segments:
 * `%XX`; JSON strings: JSON escapes; headers: raw). normalize() then runs bounded rounds of:
 *
 * 1. percent-decoding: `%XX` runs decoded as bytes (UTF-8 where valid; UTF-8 overlong forms to
 *    what they mean, flagged; any other byte as Latin-1, unflagged: legacy clients send `%F1`
 *    for `ñ`), `%uXXXX` (IIS). A `%` that starts no escape stays as is (NORM_BAD_ESCAPE, first
 *    round only: it describes the value as given).
 * 2. backslash escapes, only when syntactically complete: `\uXXXX`, `\u{X…}`, `\xNN` (runs as
 *    bytes, like `%XX`), three-digit octal `\[01]OO` (0–127, not before a hex digit), CSS hex
 *    escapes `\HH…` (2–6 hex digits, one following whitespace eaten) when they denote printable
 *    ASCII. `\\` is kept as the pair it is (and hides what follows it). Named escapes (`\n`,
 *    `\t`, `\'` …) are kept literally: they are text in a URL, and Windows paths
 *    (`C:\new\table`) stay readable.
 * 3. HTML character references: numeric (`&#60;`, `&#x3c;`, `;` optional, leading zeros
 *    unbounded but linear) and a table of named ones, case-sensitive, `;` required except for
 *    the legacy `lt gt amp quot nbsp` (then, as in an attribute value, not before an
 *    alphanumeric or `=`).
 * 4. characters: NUL removed (NORM_NUL; a NUL spelled as a backslash escape or `&#0;` is
 *    dropped by its pass without the flag, as code samples in text are full of `\x00`); VT and
 *    FF become a space (SQL, JavaScript and HTML parsers treat them as whitespace; shells do
 *    not, but lose nothing by it) and, like every other C0 control but tab, CR and LF (which
 *    are kept as is), set NORM_CONTROL; UTF-8 overlong sequences that an earlier Latin-1
 *    decoding left as characters (`%c0%af` decoded by the engine as `À¯`) are decoded
 *    (NORM_OVERLONG); compatibility forms are folded with NFKC when a character that NFKC
 *    changes is present (`＜script＞` → `<script>`, `①②⑦.⓪.⓪.①` → `127.0.0.1`; NORM_FULLWIDTH
 *    when the fold did more than canonical composition).
 *
 * Rounds repeat while a round changed something, at most `maxRounds` (double and triple
 * encoding, `%26lt%3B` → `&lt;` → `<`, `\u0025` → `%` …). NORM_MULTI_ENCODED is set when
 * percent-decoding changed the text in a round after the first.
 *
 * Finally a base64 heuristic looks for tokens of ≥ 16 base64/base64url characters (with both
 * letter cases; pieces between `/`, `-`, `_` of ≥ 20 when the whole token fails) that decode to
 * valid, printable, mostly ASCII text with at least one character attacks need (quotes,
 * brackets, separators, blanks, and `/` or `:` for paths and URLs); the decoded
 * text of every such token (joined by newlines, bounded) is `decoded64`, itself decoded by the
 * same rounds.
 *
 * Every pass is one left-to-right scan with indexOf/charCodeAt (no regular expressions), so a
 * round is linear in the length of the value; the input is cut at `maxOutput` characters.
 * Values of safe ASCII take a fast path that returns the value itself. `+` is decoded here only
 * in a value that still holds `%XX` escapes and no blank (formLike: form encoding one layer
 * down); the engine turns it into a space where it means one at the first layer (query and
 * form values).
 */
import { hexValue } from './charclass.js';

export interface NormalizeBudget {
  /** Decoding rounds (percent, escapes, entities, characters) after the engine's own. */
  readonly maxRounds: number;
  /** Characters of input decoded and of output produced; beyond it the text is cut (`truncated`). */
  readonly maxOutput: number;
}

export const DEFAULT_NORMALIZE_BUDGET: NormalizeBudget = Object.freeze({ maxRounds: 3, maxOutput: 16384 });

/** A NUL character (raw, `%00`, overlong) was present and removed. */
export const NORM_NUL = 1;
/** A UTF-8 overlong (or otherwise invalid but well-formed: surrogate, > U+10FFFF, 5/6-byte) sequence. */
export const NORM_OVERLONG = 2;
/** Percent-decoding changed the text in more than one round (double encoding or worse). */
export const NORM_MULTI_ENCODED = 4;
/** A `%` that starts no valid escape (`%zz`, trailing `%`). */
export const NORM_BAD_ESCAPE = 8;
/** Fullwidth or other compatibility forms were folded (NFKC). */
export const NORM_FULLWIDTH = 16;
/** A C0 control character other than tab, CR, LF (and NUL, which has its own flag). */
export const NORM_CONTROL = 32;
/** Informational: percent-decoding changed the value (the engine had decoded it once already). */
export const NORM_PERCENT = 64;

export interface Normalized {
  /** Fully decoded text (the primary variant detectors see). */
  readonly text: string;
  /** Decoded content of base64 (or base64url) tokens that decode to printable UTF-8 text, else undefined. */
  readonly decoded64: string | undefined;
  /** NORM_* bit flags: anomalies seen while decoding. */
  readonly flags: number;
  /** maxOutput was reached: `text` (or `decoded64`) holds only the first maxOutput characters. */
  readonly truncated: boolean;
}

/** Mutable state of one normalize() call (never shared between calls). */
interface State {
  flags: number;
  truncated: boolean;
}

// ---------------------------------------------------------------------------------------------
// Character classes

/**
 * Fast-path classes of ASCII: 0 needs work, 1 safe; in the base64/base64url alphabet: 2 digit or
 * symbol, 3 upper-case letter, 4 lower-case letter (so that `k - 2` is a case bit mask).
 */
const FAST = new Uint8Array(128);
for (let c = 0x20; c < 0x7f; c++) FAST[c] = 1;
FAST[0x09] = 1;
FAST[0x0a] = 1;
FAST[0x0d] = 1;
FAST[0x25] = 0; // %
FAST[0x26] = 0; // &
FAST[0x5c] = 0; // backslash
for (let c = 0x30; c <= 0x39; c++) FAST[c] = 2;
for (let c = 0x41; c <= 0x5a; c++) FAST[c] = 3;
for (let c = 0x61; c <= 0x7a; c++) FAST[c] = 4;
FAST[0x2b] = 2; // +
FAST[0x2f] = 2; // /
FAST[0x2d] = 2; // -
FAST[0x5f] = 2; // _

/** Minimum length of a base64 token worth decoding. */
const B64_MIN = 16;
/** Minimum length of a piece of a token (between `/`, `-`, `_`): pieces multiply the chances of a random match. */
const B64_PIECE_MIN = 20;


function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a);
}

function isSurrogate(cp: number): boolean {
  return cp >= 0xd800 && cp <= 0xdfff;
}

// ---------------------------------------------------------------------------------------------
// Bytes → text

/** Smallest code point that needs a UTF-8 sequence of each length; below it the form is overlong. */
const UTF8_MIN = [0, 0, 0x80, 0x800, 0x10000, 0x200000, 0x4000000] as const;

/**
 * Decodes bytes (from `%XX` or `\xNN` runs): UTF-8 where valid; well-formed but invalid
 * sequences (overlong, surrogate, too large, 5/6-byte) to the code point they denote (U+FFFD when
 * none) with NORM_OVERLONG; any other byte as Latin-1.
 */
function decodeBytes(b: readonly number[], st: State): string {
  let out = '';
  const n = b.length;
  let k = 0;
  while (k < n) {
    const x = b[k]!;
    if (x < 0x80) {
      out += String.fromCharCode(x);
      k++;
      continue;
    }
    let len = 0;
    let cp = 0;
    if (x >= 0xc0 && x <= 0xdf) {
      len = 2;
      cp = x & 0x1f;
    } else if (x >= 0xe0 && x <= 0xef) {
      len = 3;
      cp = x & 0x0f;
    } else if (x >= 0xf0 && x <= 0xf7) {
      len = 4;
      cp = x & 0x07;
    } else if (x >= 0xf8 && x <= 0xfb) {
      len = 5;
      cp = x & 0x03;
    } else if (x === 0xfc || x === 0xfd) {
      len = 6;
      cp = x & 0x01;
    }
    let ok = len !== 0 && k + len <= n;
    for (let j = 1; ok && j < len; j++) {
      const y = b[k + j]!;
      if ((y & 0xc0) !== 0x80) ok = false;
      else cp = cp * 64 + (y & 0x3f);
    }
    if (!ok) {
      // A lone or truncated high byte: Latin-1, as legacy clients mean it.
      out += String.fromCharCode(x);
      k++;
      continue;
    }
    const valid = len <= 4 && cp >= UTF8_MIN[len]! && cp <= 0x10ffff && !isSurrogate(cp);
    if (!valid) st.flags |= NORM_OVERLONG;
    out += cp <= 0x10ffff && !isSurrogate(cp) ? String.fromCodePoint(cp) : '\ufffd';
    k += len;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Pass 1: percent-decoding

/**
 * A value that still holds `%XX` escapes and no blank is form-encoded text one layer down
 * (a URL-encoded value in a JSON member or a multipart part, or a query encoded twice): its
 * literal `+` means a space, as in the layer the engine decoded (`%27+or+1%3D1` is `' or 1=1`,
 * `JavaScript%3A+Basics` is `JavaScript: Basics`). A value with a blank is text, where `+` is
 * a plus (`C++ at 100%25`).
 */
function formLike(s: string): boolean {
  if (s.indexOf('+') < 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) return false;
  }
  return true;
}

function plusToSpace(s: string): string {
  return s.indexOf('+') < 0 ? s : s.split('+').join(' ');
}

function percentPass(s: string, st: State, firstRound: boolean): string {
  let i = s.indexOf('%');
  if (i < 0) return s;
  let out = '';
  let last = 0;
  let changed = false;
  let form: boolean | undefined;
  const bytes: number[] = [];
  while (i >= 0) {
    const h1 = hexValue(s.charCodeAt(i + 1));
    const h2 = h1 < 0 ? -1 : hexValue(s.charCodeAt(i + 2));
    if (h2 >= 0) {
      bytes.length = 0;
      let j = i;
      while (s.charCodeAt(j) === 0x25) {
        const a = hexValue(s.charCodeAt(j + 1));
        const b = a < 0 ? -1 : hexValue(s.charCodeAt(j + 2));
        if (b < 0) break;
        bytes.push(a * 16 + b);
        j += 3;
      }
      form ??= formLike(s);
      out += (form ? plusToSpace(s.slice(last, i)) : s.slice(last, i)) + decodeBytes(bytes, st);
      changed = true;
      last = j;
      i = s.indexOf('%', j);
      continue;
    }
    if ((s.charCodeAt(i + 1) | 0x20) === 0x75) {
      // %uXXXX (IIS).
      const a = hexValue(s.charCodeAt(i + 2));
      const b = a < 0 ? -1 : hexValue(s.charCodeAt(i + 3));
      const c = b < 0 ? -1 : hexValue(s.charCodeAt(i + 4));
      const d = c < 0 ? -1 : hexValue(s.charCodeAt(i + 5));
      if (d >= 0) {
        form ??= formLike(s);
        out += (form ? plusToSpace(s.slice(last, i)) : s.slice(last, i)) + String.fromCharCode(((a * 16 + b) * 16 + c) * 16 + d);
        changed = true;
        last = i + 6;
        i = s.indexOf('%', last);
        continue;
      }
    }
    if (firstRound) st.flags |= NORM_BAD_ESCAPE;
    i = s.indexOf('%', i + 1);
  }
  return changed ? out + (form === true ? plusToSpace(s.slice(last)) : s.slice(last)) : s;
}

// ---------------------------------------------------------------------------------------------
// Pass 2: backslash escapes

/** Value of `\xNN` at i (the backslash), or -1. */
function hexByteEscape(s: string, i: number): number {
  if (s.charCodeAt(i) !== 0x5c || s.charCodeAt(i + 1) !== 0x78) return -1;
  const a = hexValue(s.charCodeAt(i + 2));
  const b = a < 0 ? -1 : hexValue(s.charCodeAt(i + 3));
  return b < 0 ? -1 : a * 16 + b;
}

/** Value of a three-digit octal escape `\[01]OO` (0–127) at i (the backslash), or -1. */
function octalEscape(s: string, i: number): number {
  if (s.charCodeAt(i) !== 0x5c) return -1;
  const a = s.charCodeAt(i + 1) - 0x30;
  const b = s.charCodeAt(i + 2) - 0x30;
  const c = s.charCodeAt(i + 3) - 0x30;
  if (!(a >= 0 && a <= 1 && b >= 0 && b <= 7 && c >= 0 && c <= 7)) return -1;
  // `\00003c` is a CSS escape, not octal followed by text.
  if (hexValue(s.charCodeAt(i + 4)) >= 0) return -1;
  return a * 64 + b * 8 + c;
}

function isCssSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
}

/**
 * A NUL spelled as an escape (`\x00`, `\u0000`, `\000`) or reference (`&#0;`) is dropped, so
 * that `java\x00script` reads `javascript`, but does not set NORM_NUL: such text is common in
 * code samples and means a NUL only to an interpreter, unlike a `%00` byte.
 */
function withoutNul(d: string): string {
  return d.indexOf('\0') < 0 ? d : d.split('\0').join('');
}

function escapedUnit(u: number): string {
  return u === 0 ? '' : String.fromCharCode(u);
}

function escapePass(s: string, st: State): string {
  let i = s.indexOf('\\');
  if (i < 0) return s;
  let out = '';
  let last = 0;
  let changed = false;
  const bytes: number[] = [];
  while (i >= 0) {
    const c = s.charCodeAt(i + 1);
    if (c === 0x5c) {
      // `\\`: an escaped backslash; what follows it is not an escape.
      i = s.indexOf('\\', i + 2);
      continue;
    }
    if (c === 0x75) {
      // \uXXXX or \u{X…}
      if (s.charCodeAt(i + 2) === 0x7b) {
        let j = i + 3;
        let v = 0;
        let digits = 0;
        for (;;) {
          const h = hexValue(s.charCodeAt(j));
          if (h < 0 || digits >= 12) break;
          v = v * 16 + h;
          digits++;
          j++;
        }
        if (digits > 0 && s.charCodeAt(j) === 0x7d && v <= 0x10ffff) {
          out += s.slice(last, i) + (v === 0 ? '' : String.fromCodePoint(v));
          changed = true;
          last = j + 1;
          i = s.indexOf('\\', last);
          continue;
        }
      } else {
        const a = hexValue(s.charCodeAt(i + 2));
        const b = a < 0 ? -1 : hexValue(s.charCodeAt(i + 3));
        const d = b < 0 ? -1 : hexValue(s.charCodeAt(i + 4));
        const e = d < 0 ? -1 : hexValue(s.charCodeAt(i + 5));
        if (e >= 0) {
          out += s.slice(last, i) + escapedUnit(((a * 16 + b) * 16 + d) * 16 + e);
          changed = true;
          last = i + 6;
          i = s.indexOf('\\', last);
          continue;
        }
      }
      i = s.indexOf('\\', i + 1);
      continue;
    }
    let v = hexByteEscape(s, i);
    let w = 4;
    if (v < 0) v = octalEscape(s, i);
    if (v >= 0) {
      // A run of \xNN / \ooo byte escapes, decoded as UTF-8 like a %XX run.
      bytes.length = 0;
      let j = i;
      while (v >= 0) {
        bytes.push(v);
        j += w;
        v = hexByteEscape(s, j);
        if (v < 0) v = octalEscape(s, j);
      }
      out += s.slice(last, i) + withoutNul(decodeBytes(bytes, st));
      changed = true;
      last = j;
      i = s.indexOf('\\', j);
      continue;
    }
    // CSS hex escape: 2–6 hex digits denoting printable ASCII (`\3c`, `\000065`, `\6a avascript`).
    let j = i + 1;
    let cv = 0;
    while (j - i <= 6) {
      const h = hexValue(s.charCodeAt(j));
      if (h < 0) break;
      cv = cv * 16 + h;
      j++;
    }
    w = j - i - 1;
    if (w >= 2 && cv >= 0x20 && cv <= 0x7e) {
      out += s.slice(last, i) + String.fromCharCode(cv);
      changed = true;
      const t = s.charCodeAt(j);
      if (isCssSpace(t)) j += t === 0x0d && s.charCodeAt(j + 1) === 0x0a ? 2 : 1;
      last = j;
      i = s.indexOf('\\', j);
      continue;
    }
    i = s.indexOf('\\', i + 1);
  }
  return changed ? out + s.slice(last) : s;
}

// ---------------------------------------------------------------------------------------------
// Pass 3: HTML character references

/** HTML 4 Latin-1 entity names, U+00A0 onwards in order. */
const LATIN1_NAMES = [
  'nbsp', 'iexcl', 'cent', 'pound', 'curren', 'yen', 'brvbar', 'sect', 'uml', 'copy', 'ordf', 'laquo', 'not', 'shy', 'reg', 'macr',
  'deg', 'plusmn', 'sup2', 'sup3', 'acute', 'micro', 'para', 'middot', 'cedil', 'sup1', 'ordm', 'raquo', 'frac14', 'frac12', 'frac34', 'iquest',
  'Agrave', 'Aacute', 'Acirc', 'Atilde', 'Auml', 'Aring', 'AElig', 'Ccedil', 'Egrave', 'Eacute', 'Ecirc', 'Euml', 'Igrave', 'Iacute', 'Icirc', 'Iuml',
  'ETH', 'Ntilde', 'Ograve', 'Oacute', 'Ocirc', 'Otilde', 'Ouml', 'times', 'Oslash', 'Ugrave', 'Uacute', 'Ucirc', 'Uuml', 'Yacute', 'THORN', 'szlig',
  'agrave', 'aacute', 'acirc', 'atilde', 'auml', 'aring', 'aelig', 'ccedil', 'egrave', 'eacute', 'ecirc', 'euml', 'igrave', 'iacute', 'icirc', 'iuml',
  'eth', 'ntilde', 'ograve', 'oacute', 'ocirc', 'otilde', 'ouml', 'divide', 'oslash', 'ugrave', 'uacute', 'ucirc', 'uuml', 'yacute', 'thorn', 'yuml',
];

/** Named character references (HTML5 names, case-sensitive) that matter for attacks and common text. */
const ENTITIES: ReadonlyMap<string, string> = (() => {
  const m = new Map<string, string>();
  LATIN1_NAMES.forEach((name, k) => m.set(name, String.fromCharCode(0xa0 + k)));
  const ascii: readonly (readonly [string, string])[] = [
    ['lt', '<'], ['LT', '<'], ['gt', '>'], ['GT', '>'], ['amp', '&'], ['AMP', '&'], ['quot', '"'], ['QUOT', '"'], ['apos', "'"],
    ['Tab', '\t'], ['NewLine', '\n'], ['colon', ':'], ['sol', '/'], ['bsol', '\\'], ['lpar', '('], ['rpar', ')'], ['semi', ';'],
    ['equals', '='], ['num', '#'], ['lsqb', '['], ['rsqb', ']'], ['lbrack', '['], ['rbrack', ']'], ['lcub', '{'], ['rcub', '}'],
    ['lbrace', '{'], ['rbrace', '}'], ['period', '.'], ['comma', ','], ['excl', '!'], ['quest', '?'], ['grave', '`'],
    ['DiacriticalGrave', '`'], ['plus', '+'], ['commat', '@'], ['dollar', '$'], ['percnt', '%'], ['ast', '*'], ['midast', '*'],
    ['lowbar', '_'], ['UnderBar', '_'], ['verbar', '|'], ['vert', '|'], ['VerticalLine', '|'], ['Hat', '^'], ['NonBreakingSpace', '\u00a0'],
    ['hyphen', '\u2010'], ['dash', '\u2010'], ['minus', '\u2212'], ['ndash', '\u2013'], ['mdash', '\u2014'], ['lsquo', '\u2018'],
    ['rsquo', '\u2019'], ['sbquo', '\u201a'], ['ldquo', '\u201c'], ['rdquo', '\u201d'], ['bdquo', '\u201e'], ['hellip', '\u2026'],
    ['bull', '\u2022'], ['euro', '\u20ac'], ['trade', '\u2122'], ['lsaquo', '\u2039'], ['rsaquo', '\u203a'], ['zwj', '\u200d'],
    ['zwnj', '\u200c'], ['ensp', '\u2002'], ['emsp', '\u2003'], ['thinsp', '\u2009'],
  ];
  for (const [k, v] of ascii) m.set(k, v);
  return m;
})();

/** References that HTML also recognises without `;` (legacy) and that attacks use. */
const LEGACY = new Set(['lt', 'LT', 'gt', 'GT', 'amp', 'AMP', 'quot', 'QUOT', 'nbsp']);

/** Longest entity name in the table (NonBreakingSpace, DiacriticalGrave). */
const MAX_ENTITY_NAME = 16;

function entityPass(s: string): string {
  let i = s.indexOf('&');
  if (i < 0) return s;
  const n = s.length;
  let out = '';
  let last = 0;
  let changed = false;
  while (i >= 0) {
    let j = i + 1;
    if (s.charCodeAt(j) === 0x23) {
      // Numeric: &#DDD or &#xHHH, `;` optional.
      j++;
      const hex = (s.charCodeAt(j) | 0x20) === 0x78;
      if (hex) j++;
      const start = j;
      let v = 0;
      let significant = 0;
      while (j < n) {
        const c = s.charCodeAt(j);
        const d = hex ? hexValue(c) : c >= 0x30 && c <= 0x39 ? c - 0x30 : -1;
        if (d < 0) break;
        if (significant > 0 || d !== 0) {
          significant++;
          if (significant <= 8) v = v * (hex ? 16 : 10) + d;
        }
        j++;
      }
      if (j > start) {
        if (significant > 8) v = 0x110000;
        if (s.charCodeAt(j) === 0x3b) j++;
        // `&#0;` is dropped without NORM_NUL, like an escaped NUL (see escapePass).
        out += s.slice(last, i) + (v === 0 ? '' : v <= 0x10ffff && !isSurrogate(v) ? String.fromCodePoint(v) : '\ufffd');
        changed = true;
        last = j;
        i = s.indexOf('&', j);
        continue;
      }
      i = s.indexOf('&', i + 1);
      continue;
    }
    while (j < n && j - i <= MAX_ENTITY_NAME + 1 && isAlnum(s.charCodeAt(j))) j++;
    const len = j - i - 1;
    if (len >= 2 && len <= MAX_ENTITY_NAME) {
      const name = s.slice(i + 1, j);
      const next = s.charCodeAt(j);
      const rep = next === 0x3b || (next !== 0x3d && LEGACY.has(name)) ? ENTITIES.get(name) : undefined;
      if (rep !== undefined) {
        if (next === 0x3b) j++;
        out += s.slice(last, i) + rep;
        changed = true;
        last = j;
        i = s.indexOf('&', j);
        continue;
      }
    }
    i = s.indexOf('&', i + 1);
  }
  return changed ? out + s.slice(last) : s;
}

// ---------------------------------------------------------------------------------------------
// Pass 4: characters (controls, Latin-1 overlongs, compatibility forms)

/** Latin-1 characters that NFKC changes (NBSP, diaeresis, ordinals, superscripts, fractions, micro …). */
function nfkcSensitive(c: number): boolean {
  if (c >= 0x100) return true;
  switch (c) {
    case 0xa0: case 0xa8: case 0xaa: case 0xaf: case 0xb2: case 0xb3: case 0xb5:
    case 0xb8: case 0xb9: case 0xba: case 0xbc: case 0xbd: case 0xbe:
      return true;
    default:
      return false;
  }
}

/**
 * Length of a UTF-8 overlong sequence spelled as Latin-1 characters at i (an earlier decoding
 * took `%c0%af` as `À¯`), or 0. Only leads whose continuation range never occurs in real Latin-1
 * text count: C0/C1 + one continuation; E0 + 80–9F + one; F0 + 80–8F + two; F8 + 80–87 + three;
 * FC + 80–83 + four.
 */
function latin1Overlong(s: string, i: number): number {
  const c = s.charCodeAt(i);
  let len: number;
  let max2: number;
  if (c === 0xc0 || c === 0xc1) {
    len = 2;
    max2 = 0xbf;
  } else if (c === 0xe0) {
    len = 3;
    max2 = 0x9f;
  } else if (c === 0xf0) {
    len = 4;
    max2 = 0x8f;
  } else if (c === 0xf8) {
    len = 5;
    max2 = 0x87;
  } else if (c === 0xfc) {
    len = 6;
    max2 = 0x83;
  } else return 0;
  const c2 = s.charCodeAt(i + 1);
  if (!(c2 >= 0x80 && c2 <= max2)) return 0;
  for (let j = 2; j < len; j++) {
    const y = s.charCodeAt(i + j);
    if (!(y >= 0x80 && y <= 0xbf)) return 0;
  }
  return len;
}

function hasWide(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return true;
  return false;
}

function charPass(s: string, st: State): string {
  const n = s.length;
  let wide: boolean | undefined;
  let out = '';
  let last = 0;
  let changed = false;
  let nfkc = false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20) {
      if (c === 0x09 || c === 0x0a || c === 0x0d) continue;
      if (c === 0) {
        st.flags |= NORM_NUL;
        out += s.slice(last, i);
        last = i + 1;
        changed = true;
        continue;
      }
      st.flags |= NORM_CONTROL;
      if (c === 0x0b || c === 0x0c) {
        out += s.slice(last, i) + ' ';
        last = i + 1;
        changed = true;
      }
      continue;
    }
    if (c < 0x80) continue;
    if (c >= 0xc0 && c <= 0xfc) {
      // Only text that is bytes read one Latin-1 character each can hold an overlong this way;
      // a value with a character past U+00FF is real Unicode text (`Œ„´‰ˇÁ¨ˆØ∏`: `Á¨` is two letters)
      wide ??= hasWide(s);
      const len = wide ? 0 : latin1Overlong(s, i);
      if (len > 0) {
        const b: number[] = [];
        for (let j = 0; j < len; j++) b.push(s.charCodeAt(i + j));
        let d = decodeBytes(b, st);
        if (d === '\0') {
          // `À\x80` is NUL: removed like any other.
          st.flags |= NORM_NUL;
          d = '';
        }
        out += s.slice(last, i) + d;
        last = i + len;
        i += len - 1;
        changed = true;
        continue;
      }
    }
    if (!nfkc && nfkcSensitive(c)) nfkc = true;
  }
  let r = changed ? out + s.slice(last) : s;
  if (nfkc) {
    // `´` is a quote to the SQL lexer (and to collations that fold it to `'`): NFKC would make it
    // a space and a combining accent, so it is kept as it is.
    const folded = r.indexOf('\u00b4') < 0 ? r.normalize('NFKC') : r.split('\u00b4').map((p) => p.normalize('NFKC')).join('\u00b4');
    if (folded !== r) {
      if (folded !== r.normalize('NFC')) st.flags |= NORM_FULLWIDTH;
      r = folded;
    }
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Rounds

function cut(s: string, max: number, st: State): string {
  if (s.length <= max) return s;
  st.truncated = true;
  // Do not leave half a surrogate pair.
  const c = s.charCodeAt(max - 1);
  return s.slice(0, c >= 0xd800 && c <= 0xdbff ? max - 1 : max);
}

function decodeRounds(value: string, budget: NormalizeBudget, st: State): string {
  let cur = cut(value, budget.maxOutput, st);
  const rounds = budget.maxRounds >= 1 ? Math.floor(budget.maxRounds) : 1;
  for (let r = 0; r < rounds; r++) {
    const p = percentPass(cur, st, r === 0);
    if (p !== cur) {
      st.flags |= NORM_PERCENT;
      if (r > 0) st.flags |= NORM_MULTI_ENCODED;
    }
    const next = cut(charPass(entityPass(escapePass(p, st)), st), budget.maxOutput, st);
    if (next === cur) break;
    cur = next;
  }
  return cur;
}

// ---------------------------------------------------------------------------------------------
// Base64 heuristic

function isB64(c: number): boolean {
  return c < 0x80 && FAST[c]! >= 2;
}

/** Characters an attack needs; at least one must be in decoded text. */
function isAttackChar(c: number): boolean {
  switch (c) {
    case 0x3c: case 0x3e: case 0x27: case 0x22: case 0x28: case 0x29: case 0x3b: case 0x7c: case 0x24: case 0x60:
    case 0x7b: case 0x7d: case 0x20: case 0x09: case 0x0a: case 0x0d: case 0x2f: case 0x3a:
      // (`/` and `:`: paths and URLs, `../../etc/passwd`, `http://localhost:9200/`, hidden in base64)
      return true;
    default:
      return false;
  }
}

/** Value of a base64 or base64url character (the caller checked the alphabet). */
function b64Val(c: number): number {
  if (c >= 0x41 && c <= 0x5a) return c - 0x41;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 26;
  if (c >= 0x30 && c <= 0x39) return c - 0x30 + 52;
  return c === 0x2b || c === 0x2d ? 62 : 63;
}

/**
 * Decodes s[a, b) on the fly, without allocating, and says whether the bytes are text an attack
 * could be written in: valid UTF-8 structure; at most one control character (other than tab,
 * CR, LF; C1 included) per 32 bytes; at least three quarters of the characters ASCII (attack
 * syntax is ASCII), all of them under 24 bytes; at least one character attacks need
 * (`<>'"();|$` backquote `{}` or whitespace). Stricter than "90 % printable" on purpose: about
 * one in 60,000 random 16-byte tokens is 90 % printable UTF-8, nearly none is also free of
 * controls and ASCII. Random tokens fail within a few bytes, so the real decoding (which
 * allocates) runs only for text.
 */
function plausibleText(s: string, a: number, b: number): boolean {
  const total = Math.floor(((b - a) * 6) / 8);
  let bits = 0;
  let nbits = 0;
  let need = 0;
  let lead = 0;
  let chars = 0;
  let controls = 0;
  let nonAscii = 0;
  let attack = false;
  for (let i = a; i < b; i++) {
    bits = ((bits << 6) | b64Val(s.charCodeAt(i))) & 0xfff;
    nbits += 6;
    if (nbits < 8) continue;
    nbits -= 8;
    const x = (bits >> nbits) & 0xff;
    if (need > 0) {
      if ((x & 0xc0) !== 0x80) return false;
      // C1 controls are C2 80–9F.
      if (lead === 0xc2 && x < 0xa0 && ++controls * 32 > total) return false;
      lead = 0;
      if (--need === 0) chars++;
      continue;
    }
    if (x < 0x80) {
      chars++;
      if (x === 0x09 || x === 0x0a || x === 0x0d || (x >= 0x20 && x < 0x7f)) {
        if (!attack && isAttackChar(x)) attack = true;
      } else if (++controls * 32 > total) return false;
      continue;
    }
    if (x >= 0xc2 && x <= 0xdf) need = 1;
    else if (x >= 0xe0 && x <= 0xef) need = 2;
    else if (x >= 0xf0 && x <= 0xf4) need = 3;
    else return false;
    lead = x;
    if (++nonAscii * 4 > total) return false;
  }
  // Short texts (under 24 bytes) must be all ASCII: a random 16-byte token is otherwise text once in a million.
  return need === 0 && attack && nonAscii * 4 <= chars && (nonAscii === 0 || total >= 24);
}

/**
 * Decoded text of s[a, b) (+ `pad` `=`) when it is plausible base64 of text, else undefined.
 * Cheap rejections first (no allocation): length, both letter cases (base64 of 12+ bytes of text
 * practically always has both; hex digests, numbers, words do not), one alphabet, then
 * plausibleText.
 */
function tryBase64(s: string, a: number, b: number, pad: number): string | undefined {
  const len = b - a;
  if (len < B64_MIN) return undefined;
  if (pad > 0 ? (len + pad) % 4 !== 0 : len % 4 === 1) return undefined;
  let upper = false;
  let lower = false;
  let std = false;
  let url = false;
  for (let i = a; i < b; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) upper = true;
    else if (c >= 0x61 && c <= 0x7a) lower = true;
    else if (c === 0x2b || c === 0x2f) std = true;
    else if (c === 0x2d || c === 0x5f) url = true;
  }
  if (!upper || !lower || (std && url) || !plausibleText(s, a, b)) return undefined;
  const text = Buffer.from(s.slice(a, b), 'base64').toString('utf8');
  // U+FFFD: an overlong or surrogate form that plausibleText let through.
  return text.length === 0 || text.indexOf('\ufffd') >= 0 ? undefined : text;
}

/** Separators that often prefix a base64 value inside a longer token (path segments, slugs, names). */
function isPieceSeparator(c: number): boolean {
  return c === 0x2f || c === 0x2d || c === 0x5f;
}

/**
 * The decoded text of every base64 token of s that decodes to printable text, joined by `\n`,
 * at most `max` characters; undefined when none. Each character is examined a bounded number of
 * times (the whole token, then its pieces between separators).
 */
function findBase64(s: string, max: number, st: State): string | undefined {
  const n = s.length;
  let found: string | undefined;
  let i = 0;
  while (i < n) {
    if (!isB64(s.charCodeAt(i))) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < n && isB64(s.charCodeAt(j))) j++;
    let pad = 0;
    while (pad < 2 && s.charCodeAt(j + pad) === 0x3d) pad++;
    if (j - i >= B64_MIN) {
      let text = tryBase64(s, i, j, pad);
      if (text === undefined) {
        // Try the pieces between separators: `/api/PHNjcmlwdD4…`, `id-PHNj…`.
        let p = i;
        for (let k = i; k <= j; k++) {
          if (k === j || isPieceSeparator(s.charCodeAt(k))) {
            if (k - p >= B64_PIECE_MIN && !(p === i && k === j)) {
              text = tryBase64(s, p, k, k === j ? pad : 0);
              if (text !== undefined) found = found === undefined ? text : found + '\n' + text;
            }
            p = k + 1;
          }
        }
      } else found = found === undefined ? text : found + '\n' + text;
      if (found !== undefined && found.length >= max) return cut(found, max, st);
    }
    i = j + pad;
  }
  return found;
}

// ---------------------------------------------------------------------------------------------

/**
 * Decodes one extracted value into the text detectors match on. Never throws; linear in the
 * length of the value per round; values of safe ASCII (no `%`, `&`, backslash, control or
 * non-ASCII character, no long base64-looking token) are returned as they are.
 */
export function normalize(value: string, budget: NormalizeBudget = DEFAULT_NORMALIZE_BUDGET): Normalized {
  const n = value.length;
  const bud = budget.maxOutput >= 1 ? budget : { maxRounds: budget.maxRounds, maxOutput: DEFAULT_NORMALIZE_BUDGET.maxOutput };
  const max = bud.maxOutput;
  // Fast path: nothing to decode. A run of base64 characters is only worth decoding when it is
  // long and has both letter cases (see tryBase64): hex ids, numbers, words and UUIDs stay here.
  let plain = n <= max;
  let longRun = false;
  if (plain) {
    let run = 0;
    let cases = 0;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      const k = c < 0x80 ? FAST[c]! : 0;
      if (k >= 2) {
        cases |= k - 2;
        if (++run >= B64_MIN && cases === 3) longRun = true;
      } else if (k === 1) {
        run = 0;
        cases = 0;
      } else {
        plain = false;
        break;
      }
    }
    if (plain && !longRun) return { text: value, decoded64: undefined, flags: 0, truncated: false };
  }
  try {
    const st: State = { flags: 0, truncated: false };
    // A plain value with a long mixed-case run comes here only for the base64 heuristic.
    const text = plain ? value : decodeRounds(value, bud, st);
    const flags = st.flags;
    const b64 = findBase64(text, max, st);
    // Flags describe the value; decoding inside decoded64 does not add to them.
    const decoded64 = b64 === undefined ? undefined : decodeRounds(b64, bud, { flags: 0, truncated: false });
    return { text, decoded64, flags, truncated: st.truncated };
  } catch {
    // Defensive: nothing above should throw; if it does, inspect the raw value.
    const text = value.length > max ? value.slice(0, max) : value;
    return { text, decoded64: undefined, flags: 0, truncated: text !== value };
  }
}
