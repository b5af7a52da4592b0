/**
 * XPath injection (category `xpathi`).
 *
 * Looks for XPath-specific syntax that a value should never carry:
 *  - location steps with axes (`/descendant-or-self::node()`, `/child::*`, `ancestor::*`);
 *  - XPath functions applied to paths (`name(/*[1])`, `count(/child::node())`, `count(//user)`,
 *    `substring(name(/*[1]),1,1)`) and document loaders (`doc('http://…')`, `document(…)`);
 *  - predicate/union breakouts (`'] | //user/*[contains(*,'`, `')]/..`);
 *  - root wildcards (`//*`, `/*[1]`);
 *  - string breakouts into boolean logic with XPath functions (`' or name()='admin`,
 *    `' or count(/*)=1 or '`).
 * The plain quote tautology (`' or '1'='1`) belongs to SQLi and only counts at paranoia 2 here.
 */
import type { Detector, Hit } from '../types.js';

const AXES: ReadonlySet<string> = new Set([
  'child', 'descendant', 'descendant-or-self', 'ancestor', 'ancestor-or-self', 'parent', 'following',
  'following-sibling', 'preceding', 'preceding-sibling', 'attribute', 'namespace', 'self',
]);

const FUNCTIONS: ReadonlySet<string> = new Set([
  'name', 'local-name', 'namespace-uri', 'count', 'string-length', 'substring', 'substring-before',
  'substring-after', 'contains', 'starts-with', 'ends-with', 'normalize-space', 'translate', 'concat',
  'string', 'number', 'boolean', 'not', 'true', 'false', 'position', 'last', 'text', 'node', 'comment',
  'processing-instruction', 'sum', 'lang', 'doc', 'document', 'doc-available', 'unparsed-text',
  'unparsed-text-lines', 'matches', 'tokenize', 'string-join', 'codepoints-to-string',
  'string-to-codepoints', 'lower-case', 'upper-case', 'data', 'root', 'path', 'exists', 'empty',
  'environment-variable', 'available-environment-variables',
]);
/** Functions whose name only exists in XPath (hyphenated) or which load documents. */
const SPECIFIC_FUNCTIONS: ReadonlySet<string> = new Set([
  'local-name', 'namespace-uri', 'string-length', 'substring-before', 'substring-after', 'starts-with',
  'ends-with', 'normalize-space', 'processing-instruction', 'doc', 'document', 'doc-available',
  'unparsed-text', 'unparsed-text-lines', 'string-join', 'codepoints-to-string', 'string-to-codepoints',
  'environment-variable', 'available-environment-variables',
]);
const LOADERS: ReadonlySet<string> = new Set(['doc', 'document', 'doc-available', 'unparsed-text', 'unparsed-text-lines', 'environment-variable', 'available-environment-variables']);

function isNameChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95;
}
function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}
function skipSpaces(s: string, i: number): number {
  while (i < s.length && isSpace(s.charCodeAt(i))) i++;
  return i;
}
function skipBack(s: string, i: number): number {
  while (i >= 0 && isSpace(s.charCodeAt(i))) i--;
  return i;
}
/** Name ending just before `end` (exclusive); returns its start. */
function nameBefore(s: string, end: number): number {
  let i = end;
  while (i > 0 && end - i < 40 && isNameChar(s.charCodeAt(i - 1))) i--;
  return i;
}

function mk(rule: string, severity: number, paranoia: 1 | 2, evidence: string): Hit {
  return { detector: rule, category: 'xpathi', severity, paranoia, evidence: evidence.slice(0, 40) };
}

/** Does a path expression start at `i`: `/`, `//`, `@`, `./`, `../`, `*` (then `)`/`,`/`]`)? */
function pathArgAt(s: string, i: number, fn: string): boolean {
  const c = s.charCodeAt(i);
  if (c === 47 /* / */) return true;
  if (c === 64 /* @ */) return isNameChar(s.charCodeAt(i + 1)) || s.charCodeAt(i + 1) === 42;
  if (c === 46 /* . */) return s.charCodeAt(i + 1) === 47 || (s.charCodeAt(i + 1) === 46 && s.charCodeAt(i + 2) === 47);
  if (c === 42 /* * */) {
    const d = s.charCodeAt(skipSpaces(s, i + 1));
    // `count(*)` is SQL; `contains(*,'x')`, `name(*[1])` are XPath.
    if (fn === 'count' || fn === 'sum' || fn === 'concat') return d === 91;
    return d === 44 || d === 91 || d === 47;
  }
  return false;
}

/** A call to an XPath function starts at `i` (`name(`)? Returns the function name or ''. */
function functionCallAt(s: string, i: number): string {
  let j = i;
  while (j < s.length && j - i < 40 && isNameChar(s.charCodeAt(j))) j++;
  if (j === i) return '';
  const k = skipSpaces(s, j);
  if (s.charCodeAt(k) !== 40) return '';
  const f = s.slice(i, j);
  return FUNCTIONS.has(f) ? f : '';
}

/** Does a URL or path start at `i` (`http:`, `file:`, `//host`, `/etc`, `../`, `\\host`)? */
function isResourceAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c === 47 || c === 92) return true;
  if (c === 46 && (s.charCodeAt(i + 1) === 46 || s.charCodeAt(i + 1) === 47)) return true;
  let j = i;
  while (j < s.length && j - i < 12 && ((s.charCodeAt(j) >= 97 && s.charCodeAt(j) <= 122) || s.charCodeAt(j) === 45)) j++;
  return j > i + 1 && s.charCodeAt(j) === 58;
}

function scanXpath(s: string): Hit | undefined {
  const n = s.length;
  let weak: Hit | undefined;

  // 1. Axes: `/child::node()`, `descendant-or-self::*`.
  let p = s.indexOf('::');
  while (p >= 0) {
    const st = nameBefore(s, p);
    const axis = s.slice(st, p);
    if (AXES.has(axis)) {
      const before = skipBack(s, st - 1);
      const bc = before >= 0 ? s.charCodeAt(before) : -1;
      const after = skipSpaces(s, p + 2);
      const ac = s.charCodeAt(after);
      const nodeTest = ac === 42 || s.startsWith('node()', after) || s.startsWith('text()', after) ||
        s.startsWith('comment()', after) || s.startsWith('processing-instruction(', after);
      if (bc === 47 || bc === 124 || bc === 91 || bc === 40 || nodeTest) {
        if (nodeTest || isNameChar(ac) || ac === 64) return mk('xpathi.axis', 5, 1, s.slice(st, after + 6));
      }
    }
    p = s.indexOf('::', p + 2);
  }

  // 2. Functions over paths and loaders; 5. breakouts into functions.
  p = s.indexOf('(');
  while (p >= 0) {
    const st = nameBefore(s, skipBack(s, p - 1) + 1);
    const end = skipBack(s, p - 1) + 1;
    const fn = s.slice(st, end);
    if (fn !== '' && FUNCTIONS.has(fn) && (st === 0 || !isNameChar(s.charCodeAt(st - 1)))) {
      const arg = skipSpaces(s, p + 1);
      if (pathArgAt(s, arg, fn)) return mk('xpathi.function-path', 5, 1, s.slice(st, arg + 8));
      const inner = functionCallAt(s, arg);
      if (inner !== '' && (SPECIFIC_FUNCTIONS.has(fn) || SPECIFIC_FUNCTIONS.has(inner) || inner === 'name' || inner === 'local-name')) {
        return mk('xpathi.function-path', 5, 1, s.slice(st, arg + 12));
      }
      if (LOADERS.has(fn)) {
        const c = s.charCodeAt(arg);
        // `doc('http://…')`, `document('/etc/passwd')`, `unparsed-text('file:…')`, `doc($url)`
        if (c === 36 || ((c === 39 || c === 34) && isResourceAt(s, arg + 1))) return mk('xpathi.document-load', 5, 1, s.slice(st, arg + 12));
      }
      // A quote breakout into boolean logic with an XPath function: `' or name()='x`.
      const pre = skipBack(s, st - 1);
      if (pre >= 1) {
        const w2 = s.slice(Math.max(0, pre - 2), pre + 1);
        const isOr = w2 === ' or' || w2 === "'or" || w2 === '"or' || (pre >= 2 && s.slice(pre - 2, pre + 1) === 'and');
        if (isOr) {
          // look back for a quote right before `or`/`and`
          const q = skipBack(s, pre - (s.charCodeAt(pre) === 114 ? 2 : 3));
          const qc = q >= 0 ? s.charCodeAt(q) : -1;
          if ((qc === 39 || qc === 34 || qc === 93) && (SPECIFIC_FUNCTIONS.has(fn) || fn === 'name' || fn === 'count' ||
            fn === 'position' || fn === 'last' || fn === 'text' || fn === 'contains' || fn === 'substring' || fn === 'not' ||
            fn === 'true' || fn === 'string')) {
            return mk('xpathi.boolean-breakout', 5, 1, s.slice(q, p + 4));
          }
        }
      }
      if (SPECIFIC_FUNCTIONS.has(fn) && weak === undefined) weak = mk('xpathi.function', 4, 2, s.slice(st, p + 4));
    }
    p = s.indexOf('(', p + 1);
  }

  // A quote breakout into boolean logic with a descendant path: `' or //user[1]/password='x`.
  p = s.indexOf('//');
  for (let tries = 0; p >= 0 && tries < 16; tries++) {
    const w = skipBack(s, p - 1);
    const isOr = w >= 1 && s.charCodeAt(w) === 114 && s.charCodeAt(w - 1) === 111;
    const isAnd = w >= 2 && s.charCodeAt(w) === 100 && s.charCodeAt(w - 1) === 110 && s.charCodeAt(w - 2) === 97;
    if ((isOr || isAnd) && isNameChar(s.charCodeAt(p + 2))) {
      const q = skipBack(s, w - (isOr ? 2 : 3));
      const qc = q >= 0 ? s.charCodeAt(q) : -1;
      if (qc === 39 || qc === 34 || qc === 93) {
        let k = p + 2;
        while (k < n && isNameChar(s.charCodeAt(k))) k++;
        const c = s.charCodeAt(k);
        if (c === 91 || c === 47) return mk('xpathi.boolean-breakout', 5, 1, s.slice(q, k + 8));
      }
    }
    p = s.indexOf('//', p + 2);
  }

  // 3. Union with a new absolute path after a predicate or call: `'] | //user`, `text()|//x`.
  p = s.indexOf('|');
  while (p >= 0) {
    const b = skipBack(s, p - 1);
    const bc = b >= 0 ? s.charCodeAt(b) : -1;
    if (bc === 93 || bc === 41) {
      const a = skipSpaces(s, p + 1);
      const c2 = s.charCodeAt(a);
      const c3 = s.charCodeAt(a + 1);
      if ((c2 === 47 && (c3 === 47 || c3 === 42 || c3 === 64 || isNameChar(c3))) || (c2 === 40 && s.charCodeAt(skipSpaces(s, a + 1)) === 47)) {
        return mk('xpathi.union', 5, 1, s.slice(Math.max(0, b), a + 8));
      }
    }
    p = s.indexOf('|', p + 1);
  }
  // Predicate breakouts: `']/..`, `')]/x`, `'][1]`.
  p = s.indexOf(']');
  while (p >= 0) {
    let b = skipBack(s, p - 1);
    if (b >= 0 && s.charCodeAt(b) === 41) b = skipBack(s, b - 1);
    const bc = b >= 0 ? s.charCodeAt(b) : -1;
    const adj = s.charCodeAt(p + 1);
    if ((bc === 39 || bc === 34) && (adj === 47 || adj === 91)) {
      const k = p + 1;
      const c2 = s.charCodeAt(k + 1);
      const c3 = s.charCodeAt(k + 2);
      if (c2 === 47 || c2 === 46 || c2 === 64 || (adj === 47 && isNameChar(c2)) || (adj === 91 && ((c2 >= 48 && c2 <= 57) || c2 === 64)) ||
        (c2 === 42 && (c3 === 91 || c3 === 47 || Number.isNaN(c3)))) {
        return mk('xpathi.predicate-breakout', 5, 1, s.slice(b, k + 8));
      }
    }
    p = s.indexOf(']', p + 1);
  }

  // 4. Root wildcards: `//*`, `/*[1]`, `//user[…]` at the start of the value or after a breakout.
  p = s.indexOf('/*');
  while (p >= 0) {
    const dbl = p > 0 && s.charCodeAt(p - 1) === 47;
    const st = dbl ? p - 1 : p;
    const prev = st > 0 ? s.charCodeAt(st - 1) : -1;
    const next = s.charCodeAt(p + 2);
    const boundary = prev === -1 || prev === 40 || prev === 124 || isSpace(prev) || prev === 39 || prev === 34 || prev === 91 || prev === 61;
    if (boundary && prev !== 58) {
      if (next === 91 /* [ */ || (dbl && (p + 2 >= n || next === 47 || next === 41 || next === 124 || next === 93 || isSpace(next)))) {
        return mk('xpathi.wildcard-path', 5, 1, s.slice(st, p + 8));
      }
    }
    p = s.indexOf('/*', p + 2);
  }

  // 6. Plain quote tautology (SQL-like): paranoia 2.
  if (weak === undefined) {
    const t = quoteTautology(s);
    if (t !== '') weak = mk('xpathi.tautology', 4, 2, t);
  }
  return weak;
}

/** `' or '1'='1`, `" or ""="`, `' or 1=1 or ''='` */
function quoteTautology(s: string): string {
  for (let q = s.indexOf("'"), guard = 0; q >= 0 && guard < 64; q = s.indexOf("'", q + 1), guard++) {
    const a = skipSpaces(s, q + 1);
    if ((s.startsWith('or', a) || s.startsWith('and', a)) && isSpace(s.charCodeAt(a + (s.startsWith('or', a) ? 2 : 3)))) {
      const b = skipSpaces(s, a + 3);
      const eq = s.slice(b, b + 12).indexOf('=');
      if (eq > 0) return s.slice(q, Math.min(s.length, b + eq + 4));
    }
  }
  return '';
}

export const detectXpath: Detector = (_text, lower, _ctx) => {
  if (lower.indexOf('/') < 0 && lower.indexOf('::') < 0 && lower.indexOf('(') < 0 && lower.indexOf(']') < 0 && lower.indexOf("'") < 0) {
    return undefined;
  }
  try {
    return scanXpath(lower);
  } catch {
    return undefined;
  }
};
