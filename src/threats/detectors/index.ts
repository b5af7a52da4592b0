/**
 * The detectors, in the order they run. Each is a tokenizer or grammar for one attack family
 * (see the file of each); the engine hands each the decoded text of every input.
 */
import { CC, PUNCT } from '../charclass.js';
import type { NamedDetector } from '../engine.js';
import { LiteralSet, MK, wordHash, type ValueFacts } from '../prefilter.js';
import { detectXxe } from '../xml.js';
import { detectCmdi, VOCAB_NAMES } from './cmdi.js';
import { detectCodeInjection, DOTNET_DANGER, GADGETS, JAVA_PACKAGES } from './code.js';
import { detectCrlf } from './crlf.js';
import { detectJndi } from './jndi.js';
import { detectLdap } from './ldap.js';
import { detectNosql } from './nosql.js';
import { detectPrototypePollution } from './proto.js';
import { BARE_WORDS, detectSqli } from './sqli.js';
import { detectSsrf } from './ssrf.js';
import { detectSsti } from './ssti.js';
import { detectRfi, detectTraversal } from './traversal.js';
import { detectXpath } from './xpath.js';
import { DOM_WORDS, detectXss } from './xss.js';

/** A member or parameter name made of letters, digits, `-` and `_` only (dotted names such as `java.lang.Runtime` are read). */
const IDENT = CC.ALPHA | CC.DIGIT | CC.DASH | CC.UNDERSCORE;
const identKey = (c: number, isKey: boolean): boolean => isKey && (c & ~IDENT) === 0;
const has = (want: number) => (f: ValueFacts): boolean => (f.classes & want) !== 0 && !identKey(f.classes, f.isKey);

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
  ...['localhost', 'loopback', 'metadata'].map((w) => [w, W.SSRF] as const),
  // proto.ts detectPrototypePollution.
  ...['__proto__', 'constructor', 'prototype'].map((w) => [w, W.PROTO] as const),
  // ssti.ts mayContainTemplate, beyond `{` and `#`.
  ...['<%', '[[', '[=', '@(', '__', 'getclass', 't(java', '.getruntime'].map((w) => [w, W.SSTI] as const),
  // xml.ts detectXxe.
  ...['!doctype', '!entity', 'xi:include', 'xinclude'].map((w) => [w, W.XXE] as const),
  // crlf.ts detectCrlf: a request line without a line break.
  [' http/', W.CRLF],
  // nosql.ts scanNosql.
  ...['this.', 'db.'].map((w) => [w, W.NOSQL_JS] as const),
  ['__', W.DUNDER],
  // code.ts scan: magics and markers that need none of the punctuation its checks key on.
  ...['ro0ab', 'aaeaaad/////', 'aced0005', '__js_function', 'class.module.classloader', 'class.classloader', '.protectiondomain.',
    '<?', 'php]', 'php}', ':{', '@{', 'constructor:constructor', ':constructor:prototype', '!!', '!ruby/', '#_memberaccess',
    '@ognl.', '#context[', '%{', '__import__', '__subclasses__', '__builtins__', '__globals__', ...CODE_NAMES].map((w) => [w.toLowerCase(), W.CODE] as const),
  // traversal.ts prefilter: `0x2e` spelled out.
  ['0x', W.ZERO_X],
  // ldap.ts detectLdap: an escaped `)`.
  ['\\29', W.LDAP],
  // xpath.ts detectXpath: an axis.
  ['::', W.XPATH],
]);

/** Hashes of the command names a whole value may start with (cmdi.ts scan: `whoami`, `gcc10 …`). */
const COMMANDS = new Set([...VOCAB_NAMES, 'if', 'for'].map(wordHash));

// ---------------------------------------------------------------------------------------------
// Mirrors of each detector's own first reject (its entry function): where they say "no", the
// detector would have returned nothing. Each reads only facts that are exact or err on "maybe".

/** sqli.ts mayHoldSql (the detector's paranoia-1 pre-filter): SQL punctuation or a bare SQL word. */
const SQL_PUNCT =
  CC.QUOTE | CC.BACKTICK | CC.SEMI | CC.PAREN | CC.EQ | CC.LT | CC.GT | CC.PIPE | CC.AMP | CC.HASH | CC.STAR | CC.AT | CC.PERCENT |
  CC.BRACE | CC.BRACKET | CC.BSLASH | CC.COLON | CC.DOLLAR | CC.NONASCII;
const sqliMay = (f: ValueFacts): boolean =>
  f.text.length >= 2 && ((f.classes & SQL_PUNCT) !== 0 || (f.marks & (MK.BANG | MK.CARET | MK.TILDE)) !== 0 || (f.words(LITERALS) & W.SQLI) !== 0);

/** xss.ts detectXss pre-filter: the characters its contexts need (non-ASCII: look-alike `<`). */
const xssMay = (f: ValueFacts): boolean =>
  (f.classes & (CC.LT | CC.COLON | CC.EQ | CC.PAREN | CC.BACKTICK | CC.BRACKET | CC.BRACE | CC.NONASCII)) !== 0 ||
  (f.marks & MK.PLUS) !== 0 ||
  ((f.classes & CC.DOT) !== 0 && (f.words(LITERALS) & W.XSS_DOM) !== 0) ||
  ((f.classes & CC.GT) !== 0 && (f.words(LITERALS) & W.DASH2) !== 0);

/** cmdi.ts scan: a value without shell punctuation can only be a command by its first word. */
const SHELL_PUNCT =
  CC.SEMI | CC.PIPE | CC.AMP | CC.NL | CC.BACKTICK | CC.DOLLAR | CC.LT | CC.GT | CC.PAREN | CC.BRACE | CC.PERCENT | CC.BSLASH | CC.QUOTE | CC.SLASH |
  CC.NONASCII;
const cmdiMay = (f: ValueFacts): boolean => {
  if (f.text.length < 2) return false;
  if ((f.classes & SHELL_PUNCT) !== 0 || (f.marks & MK.CARET) !== 0) return true;
  const k = f.firstWordLength();
  const after = f.afterFirstWord();
  const plainFirst = k > 0 && (after === -1 || after === 32 || after === 9 || after === 11 || after === 12);
  if (!plainFirst) return true;
  const stripped = f.firstWordHashNoDigits();
  return COMMANDS.has(f.firstWordHash()) || (stripped !== f.firstWordHash() && COMMANDS.has(stripped));
};

/** code.ts scan: the punctuation its checks key on, its markers and dotted names, or base64 that may hold a payload. */
const CODE_PUNCT = CC.PAREN | CC.DOLLAR | CC.BRACKET | CC.EQ | CC.NL | CC.NONASCII;
const codeMay = (f: ValueFacts): boolean => {
  const name = f.name();
  // Upload file names (`shell.php`) are read by the name of the input.
  if (name.length > 5 && /file/i.test(name)) return true;
  const n = f.text.length;
  if (n < 4) return false;
  const c = f.classes;
  if ((c & CODE_PUNCT) !== 0 || (c & (CC.COLON | CC.SLASH)) === (CC.COLON | CC.SLASH)) return true;
  if ((f.words(LITERALS) & W.CODE) !== 0) return true;
  return n >= 6 && ((f.marks & MK.UPPER) !== 0 || (c & CC.SLASH) !== 0 || (c & CC.DOT) === 0) && f.base64MayHold();
};

/** traversal.ts prefilter. */
const traversalMay = (f: ValueFacts): boolean =>
  f.text.length >= 2 &&
  ((f.classes & (CC.DOT | CC.SLASH | CC.BSLASH | CC.COLON | CC.BRACE | CC.PERCENT | CC.NONASCII)) !== 0 || (f.marks & MK.TILDE) !== 0 || (f.words(LITERALS) & W.ZERO_X) !== 0);

/** ssrf.ts prefilter. */
const ssrfMay = (f: ValueFacts): boolean =>
  f.text.length >= 2 && ((f.classes & (CC.COLON | CC.DOT | CC.BRACKET | CC.NONASCII)) !== 0 || (f.words(LITERALS) & W.SSRF) !== 0);

const all = (...gates: ((f: ValueFacts) => boolean)[]) => (f: ValueFacts): boolean => {
  for (const g of gates) if (!g(f)) return false;
  return true;
};

/*
 * Gates (paranoia 1): the character classes without which a family cannot fire, then the
 * detector's own first reject, answered from the value's facts without calling it. Plain
 * identifier-like member and parameter names go to the code, NoSQL and prototype-pollution
 * detectors only. test/threats-gates.test.ts replays the corpora and generated values with and
 * without gates: same verdicts. A detector that gains a check must keep its gate true for it.
 */
export const DETECTORS: readonly NamedDetector[] = Object.freeze([
  // A single word of letters and digits is no SQL injection; keyword sequences need a space.
  { id: 'sqli', category: 'sqli', detect: detectSqli, gate: all(has(PUNCT | CC.SPACE), sqliMay) },
  { id: 'xss', category: 'xss', detect: detectXss, gate: all(has(PUNCT & ~(CC.DASH | CC.UNDERSCORE)), xssMay) },
  // Whole-value commands (`whoami`) are single words: every value is read, but not plain names.
  { id: 'cmdi', category: 'cmdi', detect: detectCmdi, gate: (f) => !identKey(f.classes, f.isKey) && cmdiMay(f) },
  // Serialized-object magics are plain base64 (`rO0AB…`), even in names.
  { id: 'code', category: 'code-injection', detect: detectCodeInjection, gate: codeMay },
  { id: 'traversal', category: 'traversal', detect: detectTraversal, gate: all(has(CC.SLASH | CC.BSLASH | CC.DOT | CC.COLON | CC.BRACE | CC.PERCENT | CC.OTHER | CC.NONASCII | CC.CTRL), traversalMay) },
  { id: 'rfi', category: 'rfi', detect: detectRfi, gate: (f) => f.text.length >= 6 && (f.classes & CC.COLON) !== 0 && !identKey(f.classes, f.isKey) },
  { id: 'ssrf', category: 'ssrf', detect: detectSsrf, gate: all(has(CC.DIGIT | CC.COLON | CC.DOT | CC.SLASH | CC.BSLASH | CC.BRACKET | CC.AT | CC.NONASCII), ssrfMay) },
  { id: 'jndi', category: 'jndi', detect: detectJndi, gate: has(CC.DOLLAR) },
  // ssti.ts mayContainTemplate.
  { id: 'ssti', category: 'ssti', detect: detectSsti, gate: all(has(CC.BRACE | CC.LT | CC.BRACKET | CC.AT | CC.HASH | CC.DOLLAR | CC.PERCENT | CC.STAR), (f) => (f.classes & (CC.BRACE | CC.HASH)) !== 0 || (f.words(LITERALS) & W.SSTI) !== 0) },
  // nosql.ts scanNosql: operators (`$`), keys with `__`, JavaScript (quotes, `this.`, `db.`).
  {
    id: 'nosql',
    category: 'nosqli',
    detect: detectNosql,
    gate: (f) =>
      (f.isKey || (f.classes & (CC.DOLLAR | CC.UNDERSCORE | CC.BRACKET | CC.SEMI | CC.QUOTE | CC.PAREN | CC.BRACE)) !== 0) &&
      ((f.classes & (CC.DOLLAR | CC.QUOTE)) !== 0 || (f.words(LITERALS) & (W.NOSQL_JS | (f.isKey ? W.DUNDER : 0))) !== 0),
  },
  // ldap.ts detectLdap: a `)`, or an escaped one.
  { id: 'ldap', category: 'ldapi', detect: detectLdap, gate: all(has(CC.PAREN), (f) => (f.classes & CC.PAREN) !== 0 || (f.words(LITERALS) & W.LDAP) !== 0) },
  // xpath.ts detectXpath.
  { id: 'xpath', category: 'xpathi', detect: detectXpath, gate: all(has(CC.QUOTE | CC.SLASH | CC.PAREN | CC.BRACKET), (f) => (f.classes & (CC.QUOTE | CC.SLASH | CC.PAREN | CC.BRACKET)) !== 0 || (f.words(LITERALS) & W.XPATH) !== 0) },
  // proto.ts: the three words in the value, or (for keys) in the pointer.
  {
    id: 'proto',
    category: 'prototype-pollution',
    detect: detectPrototypePollution,
    gate: (f) =>
      (f.isKey || (f.classes & (CC.UNDERSCORE | CC.BRACKET | CC.DOT)) !== 0) &&
      ((f.words(LITERALS) & W.PROTO) !== 0 || (f.isKey && (f.name().indexOf('__proto__') >= 0 || f.name().indexOf('rototype') >= 0))),
  },
  // A line break, or a request line pasted into a value (`GET http://… HTTP/1.1`).
  {
    id: 'crlf',
    category: 'crlf',
    detect: detectCrlf,
    gate: (f) => !identKey(f.classes, f.isKey) && ((f.classes & CC.NL) !== 0 || ((f.classes & (CC.SPACE | CC.SLASH)) === (CC.SPACE | CC.SLASH) && (f.words(LITERALS) & W.CRLF) !== 0)),
  },
  // `<!DOCTYPE`, `<!ENTITY`, and entity declarations without their `<` (`!ENTITY % x SYSTEM`).
  { id: 'xxe', category: 'xxe', detect: detectXxe, gate: all(has(CC.LT | CC.OTHER), (f) => (f.words(LITERALS) & W.XXE) !== 0) },
]);
