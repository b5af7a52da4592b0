/**
 * The detectors, in the order they run. Each is a tokenizer or grammar for one attack family
 * (see the file of each); the engine hands each the decoded text of every input.
 */
import { CC, isDigit } from '../charclass.js';
import type { NamedDetector } from '../engine.js';
import { HASH_SEED, hashStep, LiteralSet, MK, wordHash, type ValueFacts } from '../prefilter.js';
import { detectXxe, XXE_MARKERS } from '../xml.js';
import { detectCmdi, VOCAB_NAMES } from './cmdi.js';
import { detectCodeInjection, DOTNET_DANGER, GADGETS, JAVA_PACKAGES } from './code.js';
import { detectCrlf } from './crlf.js';
import { detectJndi } from './jndi.js';
import { detectLdap } from './ldap.js';
import { detectNosql } from './nosql.js';
import { detectPrototypePollution, PROTO_WORDS } from './proto.js';
import { BARE_WORDS, detectSqli } from './sqli.js';
import { BARE_HOST_WORDS, detectSsrf, HOST_HEADERS } from './ssrf.js';
import { detectSsti, TEMPLATE_MARKERS } from './ssti.js';
import { detectScanner, OAST_DOMAINS, SCANNER_AGENTS } from './scanner.js';
import { detectRfi, detectTraversal } from './traversal.js';
import { detectXpath } from './xpath.js';
import { DOM_WORDS, detectXss } from './xss.js';

/** A member or parameter name made of letters, digits, `-` and `_` only (dotted names such as `java.lang.Runtime` are read). */
const IDENT = CC.ALPHA | CC.DIGIT | CC.DASH | CC.UNDERSCORE;
const identKey = (c: number, isKey: boolean): boolean => isKey && (c & ~IDENT) === 0;

// ---------------------------------------------------------------------------------------------
// Literals the gates look for (one pass over the lower-cased value, prefilter.ts LiteralSet)

const W = Object.freeze({
  SQLI: 1 << 0,
  XSS_DOM: 1 << 1,
  DASH2: 1 << 2,
  SSRF: 1 << 3,
  PROTO: 1 << 4,
  SSTI: 1 << 5,
  XXE: 1 << 6,
  CRLF: 1 << 7,
  NOSQL_JS: 1 << 8,
  DUNDER: 1 << 9,
  CODE: 1 << 10,
  ZERO_X: 1 << 11,
  LDAP: 1 << 12,
  XPATH: 1 << 13,
  WEBINF: 1 << 14,
  OAST: 1 << 15,
  AGENT: 1 << 16,
});

/** The code detector's dotted names: what its identifier scan can report without `(`, `$` or `[`. */
const CODE_NAMES = [
  'process.', 'constructor.', 'mainmodule', 'child_process.', 'java.', 'javax.', 'jdk.', 'sun.', 'runtime', 'processbuilder',
  ...JAVA_PACKAGES.flatMap((p) => [p, p.slice(0, -1)]),
  ...DOTNET_DANGER,
  ...GADGETS,
];

const LITERALS = new LiteralSet([
  // sqli.ts mayHoldSql: its bare words, and the punctuation pairs it reads.
  ...[...BARE_WORDS, '--', '/*', ...'0123456789'.split('').map((d) => d + '.e')].map((w) => [w, W.SQLI] as const),
  // xss.ts detectXss: DOM member access, `-->`.
  ...DOM_WORDS.map((w) => [w, W.XSS_DOM] as const),
  ['--', W.DASH2],
  // ssrf.ts prefilter: names without a dot.
  ...BARE_HOST_WORDS.map((w) => [w, W.SSRF] as const),
  // proto.ts detectPrototypePollution.
  ...PROTO_WORDS.map((w) => [w, W.PROTO] as const),
  // ssti.ts mayContainTemplate.
  ...TEMPLATE_MARKERS.map((w) => [w, W.SSTI] as const),
  // xml.ts detectXxe.
  ...XXE_MARKERS.map((w) => [w, W.XXE] as const),
  // crlf.ts detectCrlf: a request line without a line break.
  [' http/', W.CRLF],
  // nosql.ts scanNosql.
  ...['this.', 'db.'].map((w) => [w, W.NOSQL_JS] as const),
  ['__', W.DUNDER],
  // code.ts scan: magics and markers that need none of the punctuation its checks key on.
  ...['ro0ab', 'aaeaaad/////', 'aced0005', '__js_function', 'class.module.classloader', 'class.classloader', '.protectiondomain.',
    '<?', 'php]', 'php}', ':{', '@{', 'constructor:constructor', ':constructor:prototype', '!!', '!ruby/', '#_memberaccess',
    '@ognl.', '#context[', '%{', '__import__', '__subclasses__', '__builtins__', '__globals__', ...CODE_NAMES].map((w) => [w.toLowerCase(), W.CODE] as const),
  // traversal.ts prefilter: `0x2e` spelled out; detectTraversal: `web-inf` makes a dotted word a path.
  ['0x', W.ZERO_X],
  ['web-inf', W.WEBINF],
  // ldap.ts detectLdap: an escaped `)`.
  ['\\29', W.LDAP],
  // xpath.ts detectXpath: an axis.
  ['::', W.XPATH],
  // scanner.ts detectScanner: out-of-band callback domains; attack tools (in User-Agent).
  ...OAST_DOMAINS.map((w) => [w, W.OAST] as const),
  ...SCANNER_AGENTS.map((w) => [w, W.AGENT] as const),
]);

/** Hashes of the command names a whole value may start with (cmdi.ts scan: `whoami`, `gcc10 …`). */
const COMMANDS = new Set([...VOCAB_NAMES, 'if', 'for'].map(wordHash));
/** The same hashes as a bit set of their low 16 bits: most words are rejected without the Set. */
const COMMAND_BITS = new Uint8Array(8192);
for (const h of COMMANDS) COMMAND_BITS[(h & 0xffff) >> 3] = COMMAND_BITS[(h & 0xffff) >> 3]! | (1 << (h & 7));
const isCommandHash = (h: number): boolean => (COMMAND_BITS[(h & 0xffff) >> 3]! & (1 << (h & 7))) !== 0 && COMMANDS.has(h);

// ---------------------------------------------------------------------------------------------
// The gates: one function answers for every family at once (one call per value), as a mask of
// the families that may fire. Each condition mirrors the detector's own first reject (its entry
// function, and for a few families what it can report at paranoia 1): where it says no, the
// detector would have returned nothing. Conditions read only facts that are exact or err on
// "maybe" (prefilter.ts). One policy beyond that: plain identifier-like member and parameter
// names (`orderId`, `user_name`) go to the code, NoSQL and prototype-pollution detectors only.

const D = Object.freeze({
  SQLI: 1 << 0,
  XSS: 1 << 1,
  CMDI: 1 << 2,
  CODE: 1 << 3,
  TRAVERSAL: 1 << 4,
  RFI: 1 << 5,
  SSRF: 1 << 6,
  JNDI: 1 << 7,
  SSTI: 1 << 8,
  NOSQL: 1 << 9,
  LDAP: 1 << 10,
  XPATH: 1 << 11,
  PROTO: 1 << 12,
  CRLF: 1 << 13,
  XXE: 1 << 14,
  SCANNER: 1 << 15,
});

/** sqli.ts mayHoldSql (its paranoia-1 pre-filter): SQL punctuation (hasSqlPunct) or a bare SQL word. */
const SQL_PUNCT =
  CC.QUOTE | CC.BACKTICK | CC.SEMI | CC.PAREN | CC.EQ | CC.LT | CC.GT | CC.PIPE | CC.AMP | CC.HASH | CC.STAR | CC.AT | CC.PERCENT |
  CC.BRACE | CC.BRACKET | CC.BSLASH | CC.COLON | CC.DOLLAR | CC.NONASCII;
/** xss.ts detectXss pre-filter: the characters its contexts need (non-ASCII: look-alike `<`). */
const XSS_CONTEXT = CC.LT | CC.COLON | CC.EQ | CC.PAREN | CC.BACKTICK | CC.BRACKET | CC.BRACE | CC.NONASCII;
/** cmdi.ts INTERESTING: without them a value can only be a command by its first word. */
const SHELL_PUNCT = CC.SEMI | CC.PIPE | CC.AMP | CC.NL | CC.BACKTICK | CC.DOLLAR | CC.LT | CC.GT | CC.PAREN | CC.BRACE | CC.PERCENT | CC.BSLASH | CC.QUOTE | CC.SLASH;
/** code.ts scan: punctuation its checks key on (calls, variables, subscripts, assignments, pickles). */
const CODE_PUNCT = CC.PAREN | CC.DOLLAR | CC.BRACKET | CC.EQ | CC.NL | CC.NONASCII;
/** traversal.ts prefilter (with `~` and `0x`). */
const PATH_CHARS = CC.DOT | CC.SLASH | CC.BSLASH | CC.COLON | CC.BRACE | CC.PERCENT | CC.NONASCII;

const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isAlnum = (c: number): boolean => isDigit(c) || isAlpha(c);
/** cmdi.ts isSpace. */
const isBlank = (c: number): boolean => c === 32 || c === 9 || c === 11 || c === 12;
const lowerAscii = (c: number): number => (c >= 0x41 && c <= 0x5a ? c + 32 : c);

/**
 * cmdi.ts scan, on a value without shell punctuation: only a command at the start of the value
 * (evalAt at START, when scan's first word is no plain word or is a command) or a tilde/history
 * designator can be reported. evalAt returns at once for a plain word that lookup() does not
 * know; this answers whether some form of the word lookup() tries (the word, without its last
 * `.ext`, without a trailing version) is in the vocabulary, by hashes.
 */
function commandFirst(t: string, s: number, n: number): boolean {
  const c0 = t.charCodeAt(s);
  if ((c0 === 126 || c0 === 33) && n - s <= 64) return true; // tildeHistory: `~+`, `!-1`
  // scan: a plain first word (letters, digits, `-`, `_`) that is no command: evalAt is not called.
  let k = s;
  let h = HASH_SEED;
  let stripped = h;
  while (k < n && k - s < 48) {
    const c = t.charCodeAt(k);
    if (!isAlnum(c) && c !== 45 && c !== 95) break;
    h = hashStep(h, lowerAscii(c));
    if (!isDigit(c)) stripped = h;
    k++;
  }
  if (k > s && (k === n || isBlank(t.charCodeAt(k))) && !isCommandHash(h) && !(stripped !== h && isCommandHash(stripped))) return false;
  // evalAt(t, 0, START): blanks and `+` skipped, then nothing can start at punctuation, and a
  // plain word (letters, digits, `-`, `_`, `@`, inner dots; under 40 characters) is read only when it is a command.
  let i = s;
  while (i < n && (isBlank(t.charCodeAt(i)) || t.charCodeAt(i) === 43)) i++;
  if (i >= n) return false;
  const c = t.charCodeAt(i);
  const c1 = i + 1 < n ? t.charCodeAt(i + 1) : NaN;
  if (c === 59 || c === 124 || c === 38 || c === 10 || c === 13 || c === 41 || c === 40 || c === 93 || c === 44 || (c === 46 && !isAlpha(c1) && c1 !== 32 && c1 !== 92)) return false;
  if (!isAlnum(c)) return true;
  let j = i + 1;
  while (j < n && j - i < 40) {
    const d = t.charCodeAt(j);
    if (isAlnum(d) || d === 45 || d === 95 || d === 64 || (d === 46 && j + 1 < n && isAlnum(t.charCodeAt(j + 1)))) j++;
    else break;
  }
  const d = j < n ? t.charCodeAt(j) : 32;
  if (!((isBlank(d) || d === 10 || d === 13 || d === 59 || d === 124 || d === 38 || d === 44 || d === 41 || (d === 46 && !(j + 1 < n && isAlnum(t.charCodeAt(j + 1))))) && j - i < 40)) return true;
  // lookup(word): the word; without its extension (stripExe); without a trailing version (`python3.10`).
  let full = HASH_SEED;
  let beforeDot = HASH_SEED;
  let dot = false;
  let beforeVersion = HASH_SEED;
  let version = false;
  for (let p = i; p < j; p++) {
    const x = t.charCodeAt(p);
    if (x === 46) {
      beforeDot = full;
      dot = true;
    }
    if (isDigit(x) || x === 46) {
      if (!version) beforeVersion = full;
      version = true;
    } else version = false;
    full = hashStep(full, lowerAscii(x));
  }
  return isCommandHash(full) || (dot && isCommandHash(beforeDot)) || (version && isCommandHash(beforeVersion));
}

/** traversal.ts isBoundary. */
function isTokenBoundary(c: number): boolean {
  switch (c) {
    case 9: case 10: case 11: case 12: case 13: case 32:
    case 34: case 39: case 96:
    case 60: case 62: case 124: case 44:
    case 40: case 41: case 91: case 93:
    case 61: case 38: case 63: case 35:
    case 0:
      return true;
    default:
      return false;
  }
}

/**
 * traversal.ts detectTraversal at paranoia 1, on a value whose only path character is `.` (no
 * `/ \ : { ~ %`, `0x`, control or non-ASCII character) outside the URL path: a token is read as
 * a path only when it starts with `.` or holds `web-inf`; other dotted words (`ada@example.com`)
 * can only be sensitive file names, which count from paranoia 2.
 */
function dottedPathMay(f: ValueFacts): boolean {
  if ((f.words(LITERALS) & W.WEBINF) !== 0) return true;
  const t = f.src;
  for (let i = f.start; i < f.end; i++) if (t.charCodeAt(i) === 46 && (i === f.start || isTokenBoundary(t.charCodeAt(i - 1)))) return true;
  return false;
}

/** code.ts scan: upload file names are read by the input's name (uploadName). */
function fileNamed(f: ValueFacts): boolean {
  return f.nameHasFile();
}

/** The families that may fire on the value (D bits), at paranoia 1. */
function select(f: ValueFacts): number {
  const c = f.classes;
  const m = f.marks;
  const n = f.length;
  // Plain identifier-like member and parameter names go to the code, NoSQL and prototype-pollution detectors only.
  const ident = identKey(c, f.isKey);
  let out = 0;
  if (!ident) {
    // sqli.ts mayHoldSql: SQL punctuation, or a bare SQL word (`1 union select 1`, a lone `sysobjects`).
    if (n >= 2 && ((c & SQL_PUNCT) !== 0 || (m & (MK.BANG | MK.CARET | MK.TILDE)) !== 0 || (f.words(LITERALS) & W.SQLI) !== 0)) out |= D.SQLI;
    // xss.ts detectXss: the characters its contexts need; `.` only for DOM member access, `>` only for `-->`.
    if ((c & XSS_CONTEXT) !== 0 || (m & MK.PLUS) !== 0 || ((c & CC.DOT) !== 0 && (f.words(LITERALS) & W.XSS_DOM) !== 0) || ((c & CC.GT) !== 0 && (f.words(LITERALS) & W.DASH2) !== 0)) {
      out |= D.XSS;
    }
    // Whole-value commands (`whoami`) are single words: every value is read, but not plain names.
    if (n >= 2 && ((c & SHELL_PUNCT) !== 0 || (m & MK.CARET) !== 0 || commandFirst(f.src, f.start, f.end))) out |= D.CMDI;
    // traversal.ts prefilter (`0x2e` spelled out needs no punctuation), then dotted words (dottedPathMay).
    if (n >= 2) {
      const zeroX = (f.words(LITERALS) & W.ZERO_X) !== 0;
      if ((c & PATH_CHARS) !== 0 || (m & MK.TILDE) !== 0 || zeroX) {
        if ((c & (PATH_CHARS | CC.CTRL) & ~CC.DOT) !== 0 || (m & MK.TILDE) !== 0 || zeroX || f.location === 'path' || dottedPathMay(f)) out |= D.TRAVERSAL;
      }
    }
    if (n >= 6 && (c & CC.COLON) !== 0) out |= D.RFI;
    // ssrf.ts prefilter; then hosts in URLs need a `:`, and bare hosts count at paranoia 1 only
    // URL-shaped (`//host`, `host:port`, `host/…`; ssrfBare).
    if (n >= 2 && ((c & (CC.COLON | CC.DOT | CC.BRACKET | CC.NONASCII)) !== 0 || (f.words(LITERALS) & W.SSRF) !== 0) && (c & (CC.COLON | CC.SLASH | CC.BSLASH | CC.NONASCII)) !== 0) {
      out |= D.SSRF;
    } else if (f.location === 'header' && (c & CC.DOT) !== 0 && (c & CC.DIGIT) !== 0 && HOST_HEADERS.has(f.name())) {
      // … and an address in a proxy header (`X-Forwarded-Host: 169.254.169.254`, metadata only)
      out |= D.SSRF;
    }
    // jndi.ts: a lookup needs `${`; `jndi:` without a `$` counts from paranoia 2.
    if ((c & CC.DOLLAR) !== 0) out |= D.JNDI;
    // ssti.ts mayContainTemplate.
    if ((f.words(LITERALS) & W.SSTI) !== 0) out |= D.SSTI;
    // ldap.ts detectLdap: a `)` (the class has `(` too), or an escaped one.
    if ((c & CC.PAREN) !== 0 || (f.words(LITERALS) & W.LDAP) !== 0) out |= D.LDAP;
    // xpath.ts detectXpath: `/`, `(`, `]`, `'` (the classes have more), or `::`.
    if ((c & (CC.QUOTE | CC.SLASH | CC.PAREN | CC.BRACKET)) !== 0 || (f.words(LITERALS) & W.XPATH) !== 0) out |= D.XPATH;
    // crlf.ts: a line break, or a request line pasted into a value (`GET http://… HTTP/1.1`).
    // … or a character that a byte-truncating writer turns into one (`嘊`, U+560A)
    if ((c & (CC.NL | CC.NONASCII)) !== 0 || (f.words(LITERALS) & W.CRLF) !== 0) out |= D.CRLF;
    // xml.ts detectXxe: `<!DOCTYPE`, `<!ENTITY`, XInclude.
    if ((f.words(LITERALS) & W.XXE) !== 0) out |= D.XXE;
  }
  // code.ts scan: serialized-object magics are plain base64 (`rO0AB…`), even in names.
  if (
    fileNamed(f) ||
    (n >= 4 &&
      ((c & CODE_PUNCT) !== 0 ||
        (c & (CC.COLON | CC.SLASH)) === (CC.COLON | CC.SLASH) ||
        (f.words(LITERALS) & W.CODE) !== 0 ||
        (n >= 6 && ((m & MK.UPPER) !== 0 || (c & CC.SLASH) !== 0 || (c & CC.DOT) === 0) && f.base64MayHold())))
  ) {
    out |= D.CODE;
  }
  // nosql.ts scanNosql: operators (`$`), keys with `__`, JavaScript (quotes, `this.`, `db.`).
  // … and a number then `;` then a statement (`0;return true`, numericBreakout).
  if ((c & (CC.DOLLAR | CC.QUOTE)) !== 0 || (f.words(LITERALS) & (W.NOSQL_JS | (f.isKey ? W.DUNDER : 0))) !== 0 || (!f.isKey && (c & (CC.SEMI | CC.DIGIT)) === (CC.SEMI | CC.DIGIT))) out |= D.NOSQL;
  // proto.ts: the three words in the value, or (for keys) in the pointer.
  if ((f.words(LITERALS) & W.PROTO) !== 0 || (f.isKey && (f.nameHas('__proto__') || f.nameHas('rototype')))) out |= D.PROTO;
  // scanner.ts: a callback domain anywhere; an attack tool's name in User-Agent.
  if ((f.words(LITERALS) & W.OAST) !== 0 || ((f.words(LITERALS) & W.AGENT) !== 0 && f.location === 'header' && !f.isKey && f.name() === 'user-agent')) out |= D.SCANNER;
  return out;
}

/*
 * Gates (paranoia 1), see `select`. test/threats-gates.test.ts replays the corpora and
 * generated values with and without gates: same verdicts. A detector that gains a check must
 * keep its condition in `select` true for it.
 */
const gate = (bit: number): NamedDetector['shared'] => ({ select, bit, literals: LITERALS });

export const DETECTORS: readonly NamedDetector[] = Object.freeze([
  { id: 'sqli', category: 'sqli', detect: detectSqli, shared: gate(D.SQLI) },
  { id: 'xss', category: 'xss', detect: detectXss, shared: gate(D.XSS) },
  { id: 'cmdi', category: 'cmdi', detect: detectCmdi, shared: gate(D.CMDI) },
  { id: 'code', category: 'code-injection', detect: detectCodeInjection, shared: gate(D.CODE) },
  { id: 'traversal', category: 'traversal', detect: detectTraversal, shared: gate(D.TRAVERSAL) },
  { id: 'rfi', category: 'rfi', detect: detectRfi, shared: gate(D.RFI) },
  { id: 'ssrf', category: 'ssrf', detect: detectSsrf, shared: gate(D.SSRF) },
  { id: 'jndi', category: 'jndi', detect: detectJndi, shared: gate(D.JNDI) },
  { id: 'ssti', category: 'ssti', detect: detectSsti, shared: gate(D.SSTI) },
  { id: 'nosql', category: 'nosqli', detect: detectNosql, shared: gate(D.NOSQL) },
  { id: 'ldap', category: 'ldapi', detect: detectLdap, shared: gate(D.LDAP) },
  { id: 'xpath', category: 'xpathi', detect: detectXpath, shared: gate(D.XPATH) },
  { id: 'proto', category: 'prototype-pollution', detect: detectPrototypePollution, shared: gate(D.PROTO) },
  { id: 'crlf', category: 'crlf', detect: detectCrlf, shared: gate(D.CRLF) },
  { id: 'xxe', category: 'xxe', detect: detectXxe, shared: gate(D.XXE) },
  { id: 'scanner', category: 'protocol', detect: detectScanner, shared: gate(D.SCANNER) },
]);
