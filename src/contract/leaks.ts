/**
 * Leak detection in response bodies: stack traces, SQL/ORM errors, framework debug pages,
 * private keys, well-known secret formats and (opt-in) internal IP addresses.
 *
 * Safety argument. Each signature is a literal found with `indexOf`, then a small check
 * anchored at that occurrence that reads a bounded number of characters around it (character
 * classes and fixed words, never a regular expression over the body). Backward checks stop at
 * the first character outside their class, and every occurrence of a literal is checked once,
 * so the cost is linear in the scanned bytes times the (constant) catalogue size. Only the
 * first {@link MAX_SCAN_BYTES} bytes are scanned; bytes are read as latin1 (one character per
 * byte), which is exact for the ASCII signatures.
 *
 * What it can get wrong. It looks for what runtimes and frameworks print, in raw text and
 * inside JSON strings (`\n\tat …`, `\"`), case-sensitively; a leak reworded, compressed
 * (Content-Encoding is the caller's to undo), or past the scan window is missed. Benign bodies
 * that quote these outputs (a support ticket holding a stack trace, documentation of error
 * messages) are found too. Internal IPv4 addresses are off by default: a dotted quad such as
 * a four-part version string `10.0.1.2` cannot be told from an address.
 */

export type LeakKind = 'stack-trace' | 'sql-error' | 'debug-page' | 'private-key' | 'internal-ip' | 'secret';

export interface LeakFinding {
  readonly kind: LeakKind;
  /** Which signature matched, e.g. `java-stack`, `postgres-error`. Never the matched text. */
  readonly signature: string;
}

/** Bytes of a body scanned at most (from its start). */
export const MAX_SCAN_BYTES = 256 * 1024;

// ---------------------------------------------------------------------------------------
// Character classes and bounded cursors

const code = (t: string, i: number): number => (i >= 0 && i < t.length ? t.charCodeAt(i) : -1);
const isDigit = (c: number) => c >= 48 && c <= 57;
const isUpper = (c: number) => c >= 65 && c <= 90;
const isLower = (c: number) => c >= 97 && c <= 122;
const isAlnum = (c: number) => isDigit(c) || isUpper(c) || isLower(c);
const isIdent = (c: number) => isAlnum(c) || c === 95 /* _ */ || c === 36; /* $ */
const isHex = (c: number) => isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);

/** Index after a run of `pred` characters from `i` (at most `max`). */
function runFwd(t: string, i: number, pred: (c: number) => boolean, max = 256): number {
  const end = Math.min(t.length, i + max);
  while (i < end && pred(t.charCodeAt(i))) i++;
  return i;
}

/** Index of the first character of a run of `pred` characters ending just before `i` (at most `max`). */
function runBack(t: string, i: number, pred: (c: number) => boolean, max = 256): number {
  const stop = Math.max(0, i - max);
  while (i > stop && pred(t.charCodeAt(i - 1))) i--;
  return i;
}

/** `n` to `m` digits at `i`; index after them, or -1. */
function digits(t: string, i: number, n = 1, m = 10): number {
  const e = runFwd(t, i, isDigit, m + 1);
  return e - i >= n && e - i <= m ? e : -1;
}

const startsAt = (t: string, i: number, s: string) => t.startsWith(s, i);

/** The character before `i` does not continue a word (so a token starts at `i`). */
const boundaryBefore = (t: string, i: number) => !isIdent(code(t, i - 1));

/**
 * A stack frame's `at ` at index `i` begins a line: after whitespace, a JSON escape (`\n`,
 * `\t`), `&nbsp;` or a tag (HTML error pages).
 */
function lineLead(t: string, i: number): boolean {
  if (i === 0) return true;
  const c = code(t, i - 1);
  if (c === 32 || c === 9 || c === 10 || c === 13 || c === 62 /* > */) return true;
  if ((c === 110 /* n */ || c === 116) /* t */ && code(t, i - 2) === 92 /* \ */) return true;
  return c === 59 /* ; */ && t.startsWith('&nbsp;', i - 6);
}

/** Skips JSON-string escapes and whitespace forming a line break (`\n`, `\r\n`, `<br />`), at most a few. */
function skipBreak(t: string, i: number): number {
  for (let k = 0; k < 8; k++) {
    const c = code(t, i);
    if (c === 32 || c === 9 || c === 10 || c === 13) i++;
    else if (c === 92 && (code(t, i + 1) === 110 || code(t, i + 1) === 114 || code(t, i + 1) === 116)) i += 2;
    else if (startsAt(t, i, '<br />')) i += 6;
    else if (startsAt(t, i, '<br>')) i += 4;
    else break;
  }
  return i;
}

/** A quote, raw or escaped inside a JSON string; index after it or -1. */
function quote(t: string, i: number): number {
  if (code(t, i) === 34) return i + 1;
  if (code(t, i) === 92 && code(t, i + 1) === 34) return i + 2;
  return -1;
}

/** Index of `s` in t[from, from+window), or -1 (reads at most `window` characters). */
function within(t: string, s: string, from: number, window: number): number {
  const j = t.slice(from, from + window).indexOf(s);
  return j < 0 ? -1 : from + j;
}

/** Index of the last `s` ending at or before `end` in t[end-window, end), or -1. */
function withinBack(t: string, s: string, end: number, window: number): number {
  const start = Math.max(0, end - window);
  const j = t.slice(start, end).lastIndexOf(s);
  return j < 0 ? -1 : start + j;
}

// ---------------------------------------------------------------------------------------
// Anchored checks (each gets the index of its literal)

const javaNameChar = (c: number) => isIdent(c) || c === 46 /* . */ || c === 47; /* / (module prefixes) */
const methodChar = (c: number) => isIdent(c) || c === 60 || c === 62; /* <init> */

/** `at com.x.Y.method(` ending at the `(` at index `paren`. */
function javaFrameBefore(t: string, paren: number): boolean {
  const m = runBack(t, paren, methodChar, 200);
  if (m === paren || code(t, m - 1) !== 46) return false;
  const q = runBack(t, m - 1, javaNameChar, 300);
  if (q === m - 1) return false;
  return startsAt(t, q - 3, 'at ') && lineLead(t, q - 3);
}

/** `.java:` in `(Y.java:12)`. */
function javaFrame(t: string, i: number, floor: number): boolean {
  const d = digits(t, i + 6);
  if (d < 0 || code(t, d) !== 41 /* ) */) return false;
  const f = runBack(t, i, isIdent, Math.min(200, i - floor));
  return f < i && code(t, f - 1) === 40 /* ( */ && javaFrameBefore(t, f - 1);
}

/** `(Native Method)` / `(Unknown Source)`: the literal starts at the `(`. */
const javaSpecialFrame = (t: string, i: number) => javaFrameBefore(t, i);

/** `Exception in thread "main" java.lang.X` */
function javaThread(t: string, i: number): boolean {
  let j = quote(t, i + 20);
  if (j < 0) return false;
  const close = within(t, '"', j, 120);
  if (close < 0) return false;
  j = close + 1;
  if (code(t, j) !== 32) return false;
  const e = runFwd(t, j + 1, javaNameChar, 300);
  const name = t.slice(j + 1, e);
  return name.includes('.') && (name.endsWith('Exception') || name.endsWith('Error'));
}

const QUALIFIED_ROOTS: readonly [string, string][] = [
  ['java.', 'java-exception'],
  ['javax.', 'java-exception'],
  ['jakarta.', 'java-exception'],
  ['kotlin.', 'java-exception'],
  ['scala.', 'java-exception'],
  ['org.springframework.', 'java-exception'],
  ['org.apache.', 'java-exception'],
  ['System.', 'dotnet-exception'],
  ['Microsoft.', 'dotnet-exception'],
];

/** `java.lang.IllegalStateException: ` / `System.NullReferenceException: `: literal `Exception: ` at i. */
function qualifiedException(t: string, i: number, floor: number): string | undefined {
  const q = runBack(t, i, javaNameChar, Math.min(300, i - floor));
  const name = t.slice(q, i);
  for (const [root, sig] of QUALIFIED_ROOTS) if (name.startsWith(root) && name.length > root.length) return sig;
  return undefined;
}

const pathChar = (c: number) => c > 32 && c !== 40 && c !== 41 && c !== 34 && c !== 39 && c !== 60 && c !== 62 && c < 127;
const nameChar = (c: number) => isIdent(c) || c === 46 || c === 60 || c === 62 || c === 91 || c === 93 || c === 32; /* Object.<anonymous>, new Foo, async fn */

/** Node: `.js:` in `at fn (/app/x.js:1:2)` or `at /app/x.js:1:2`; `len` is the literal's length. */
function nodeFrame(t: string, i: number, floor: number, len: number): boolean {
  let d = digits(t, i + len);
  if (d < 0 || code(t, d) !== 58) return false;
  d = digits(t, d + 1);
  if (d < 0) return false;
  // A frame's path never holds another `.js:N`: the run stops at the previous occurrence.
  const p = runBack(t, i, pathChar, Math.min(400, i - floor));
  if (p === i) return false;
  const before = code(t, p - 1);
  if (before === 40 /* ( */) {
    if (code(t, d) !== 41) return false;
    if (code(t, p - 2) !== 32) return false;
    // the function name, then `at `
    const n = runBack(t, p - 2, nameChar, 160);
    for (let k = n; k < p - 2; k++) if (startsAt(t, k, 'at ') && lineLead(t, k)) return true;
    return false;
  }
  if (before === 32 && startsAt(t, p - 3, 'at ') && lineLead(t, p - 3)) {
    const c = code(t, p);
    return c === 47 /* / */ || startsAt(t, p, 'file:') || startsAt(t, p, 'node:') || (isUpper(c) && code(t, p + 1) === 58);
  }
  return false;
}

/** `(node:internal/…:1:2)` */
function nodeInternal(t: string, i: number): boolean {
  const p = runFwd(t, i + 1, pathChar, 300);
  if (code(t, p) !== 41) return false;
  // `…:line:col` just before the `)`
  const c = runBack(t, p, isDigit, 8);
  if (c === p || code(t, c - 1) !== 58) return false;
  const l = runBack(t, c - 1, isDigit, 8);
  return l < c - 1 && code(t, l - 1) === 58;
}

/** `Traceback (most recent call last):` followed by `File "…", line N`. */
function pythonTraceback(t: string, i: number): boolean {
  const f = within(t, 'File ', i + 34, 400);
  if (f < 0 || quote(t, f + 5) < 0) return false;
  const l = within(t, ', line ', f + 5, 600);
  return l >= 0 && digits(t, l + 7) >= 0;
}

/** `.py", line 12` (literal `.py` + quote + `, line `). */
function pythonFrame(t: string, i: number): boolean {
  const q = quote(t, i + 3);
  return q >= 0 && startsAt(t, q, ', line ') && digits(t, q + 7) >= 0;
}

/** .NET: `:line 12` ending `at Ns.Type.Method(…) in C:\src\x.cs:line 12`. */
function dotnetFrame(t: string, i: number, floor: number): boolean {
  if (digits(t, i + 6) < 0) return false;
  const inAt = withinBack(t, ') in ', i, Math.min(400, i - floor));
  if (inAt < 0) return false;
  const open = withinBack(t, '(', inAt, 400);
  if (open < 0) return false;
  const m = runBack(t, open, isIdent, 200);
  if (m === open || code(t, m - 1) !== 46) return false;
  const q = runBack(t, m - 1, (c) => isIdent(c) || c === 46 || c === 96 /* ` generics */, 300);
  return startsAt(t, q - 3, 'at ') && lineLead(t, q - 3);
}

/** PHP `Fatal error` then `… in /x.php on line N` / `x.php:12` within the message. */
function phpFatal(t: string, i: number): boolean {
  const p = within(t, '.php', i, 800);
  if (p < 0) return false;
  if (code(t, p + 4) === 58) return digits(t, p + 5) >= 0;
  return phpOnLine(t, p);
}

/** `.php on line 12` or `.php</b> on line <b>12`: literal `.php` at i. */
function phpOnLine(t: string, i: number): boolean {
  let j = i + 4;
  if (startsAt(t, j, '</b>')) j += 4;
  if (!startsAt(t, j, ' on line ')) return false;
  j += 9;
  if (startsAt(t, j, '<b>')) j += 3;
  return digits(t, j) >= 0;
}

/** `Stack trace:` + line break + `#0 `. */
function phpStackTrace(t: string, i: number): boolean {
  const j = skipBreak(t, i + 12);
  return j > i + 12 && startsAt(t, j, '#0 ');
}

/** Ruby: `.rb:12:in \`method'` / `.rb:12:in 'method'`. */
function rubyFrame(t: string, i: number): boolean {
  const d = digits(t, i + 4);
  if (d < 0 || !startsAt(t, d, ':in ')) return false;
  const c = code(t, d + 4);
  return (c === 96 || c === 39) && pathChar(code(t, i - 1));
}

/** `goroutine 1 [running]:` */
function goroutine(t: string, i: number): boolean {
  const d = digits(t, i + 10);
  if (d < 0 || !startsAt(t, d, ' [')) return false;
  const e = runFwd(t, d + 2, (c) => isLower(c) || c === 32 || c === 44 || isDigit(c), 60);
  return e > d + 2 && startsAt(t, e, ']:');
}

/** Go frame: `/usr/local/go/src/runtime/panic.go:884 +0x213`. */
function goFrame(t: string, i: number): boolean {
  const d = digits(t, i + 4);
  if (d < 0 || !startsAt(t, d, ' +0x')) return false;
  return isHex(code(t, d + 4));
}

/** `SQLSTATE[42000]` */
function sqlstate(t: string, i: number): boolean {
  const e = runFwd(t, i + 9, isAlnum, 6);
  return e - (i + 9) === 5 && code(t, e) === 93;
}

/** `ORA-00933:` — five digits and a colon, not inside a word. */
function oracle(t: string, i: number): boolean {
  return boundaryBefore(t, i) && digits(t, i + 4, 5, 5) === i + 9 && code(t, i + 9) === 58;
}

/** `PG::SyntaxError`, `PG::UndefinedTable` (Ruby pg gem). */
function pgGem(t: string, i: number): boolean {
  if (!boundaryBefore(t, i) || !isUpper(code(t, i + 4))) return false;
  const e = runFwd(t, i + 4, isAlnum, 60);
  const name = t.slice(i + 4, e);
  return name.endsWith('Error') || name.endsWith('Table') || name.endsWith('Column') || name.endsWith('Violation') || name.endsWith('Function');
}

const SQLITE_CODES = new Set(['ERROR', 'CONSTRAINT', 'MISMATCH', 'BUSY', 'LOCKED', 'READONLY', 'IOERR', 'CORRUPT', 'CANTOPEN', 'MISUSE', 'NOTADB', 'SCHEMA']);

/** `SQLITE_ERROR`, `SQLITE_CONSTRAINT` … */
function sqliteCode(t: string, i: number): boolean {
  if (!boundaryBefore(t, i)) return false;
  const e = runFwd(t, i + 7, isUpper, 12);
  return SQLITE_CODES.has(t.slice(i + 7, e)) && !isIdent(code(t, e));
}

/** `sqlite3.OperationalError` etc. */
function sqlitePython(t: string, i: number): boolean {
  const e = runFwd(t, i + 8, isAlnum, 40);
  const name = t.slice(i + 8, e);
  return name === 'OperationalError' || name === 'IntegrityError' || name === 'ProgrammingError' || name === 'DatabaseError';
}

/** A qualified name from the literal on that ends in `Exception` (`org.hibernate.exception.SQLGrammarException`). */
function endsInException(t: string, i: number): boolean {
  const e = runFwd(t, i, javaNameChar, 200);
  return t.slice(i, e).endsWith('Exception');
}

/** `Sequelize…Error` (`SequelizeDatabaseError`, `SequelizeUniqueConstraintError`). */
function sequelize(t: string, i: number): boolean {
  if (!boundaryBefore(t, i) || !isUpper(code(t, i + 9))) return false;
  const e = runFwd(t, i + 9, isAlnum, 60);
  return t.slice(i, e).endsWith('Error');
}

/** `PrismaClient…Error` (`PrismaClientKnownRequestError`). */
function prisma(t: string, i: number): boolean {
  const e = runFwd(t, i + 12, isAlnum, 60);
  return e > i + 12 && t.slice(i, e).endsWith('Error');
}

/** `Server Error in '/' Application.` */
function aspnet(t: string, i: number): boolean {
  const close = within(t, "' Application", i + 17, 200);
  return close >= 0;
}

/** `seeing this error because you have` … `DEBUG = True` (Django, any apostrophe or markup). */
function django(t: string, i: number): boolean {
  return within(t, 'DEBUG = True', i, 80) >= 0;
}

const KEY_LABELS: readonly [string, string][] = [
  ['RSA ', 'rsa-private-key'],
  ['EC ', 'ec-private-key'],
  ['DSA ', 'dsa-private-key'],
  ['OPENSSH ', 'openssh-private-key'],
  ['ENCRYPTED ', 'encrypted-private-key'],
  ['PGP ', 'pgp-private-key'],
  ['', 'pkcs8-private-key'],
];

/** `-----BEGIN RSA PRIVATE KEY-----`, `-----BEGIN PGP PRIVATE KEY BLOCK-----` … */
function privateKey(t: string, i: number): string | undefined {
  const s = i + 11;
  const e = runFwd(t, s, (c) => isUpper(c) || c === 32 || isDigit(c), 40);
  const label = t.slice(s, e);
  if (!label.endsWith('PRIVATE KEY') && !label.endsWith('PRIVATE KEY BLOCK')) return undefined;
  if (!startsAt(t, e, '-----')) return undefined;
  for (const [prefix, sig] of KEY_LABELS) if (label.startsWith(prefix)) return sig;
  return 'pkcs8-private-key';
}

/** `AKIA` / `ASIA` + 16 upper-case letters or digits, as a whole word. */
function awsKeyId(t: string, i: number): boolean {
  return boundaryBefore(t, i) && runFwd(t, i + 4, (c) => isUpper(c) || isDigit(c), 17) === i + 20 && !isIdent(code(t, i + 20));
}

/** `ghp_` (and gho_, ghu_, ghs_, ghr_) + 36 letters or digits. */
function githubToken(t: string, i: number): boolean {
  return boundaryBefore(t, i) && runFwd(t, i + 4, isAlnum, 37) === i + 40 && !isIdent(code(t, i + 40));
}

/** `github_pat_` + 82 letters, digits or underscores. */
function githubPat(t: string, i: number): boolean {
  return boundaryBefore(t, i) && runFwd(t, i + 11, isIdent, 83) === i + 93 && !isIdent(code(t, i + 93));
}

/** `xoxb-123…-123…-abc…`: Slack tokens, at least three dash-separated groups after the prefix. */
function slackToken(t: string, i: number): boolean {
  const kind = code(t, i + 3);
  if (!boundaryBefore(t, i) || code(t, i + 4) !== 45 || ![98, 97, 112, 114, 115].includes(kind)) return false;
  const e = runFwd(t, i + 5, (c) => isAlnum(c) || c === 45, 256);
  if (e - (i + 5) < 20 || isIdent(code(t, e))) return false;
  const groups = t.slice(i + 5, e).split('-');
  return groups.length >= 3 && groups.every((g) => g.length > 0) && isDigit(code(t, i + 5));
}

/** `sk_live_` / `rk_live_` + at least 24 letters or digits (Stripe secret and restricted keys). */
function stripeKey(t: string, i: number): boolean {
  const e = runFwd(t, i + 8, isAlnum, 256);
  return boundaryBefore(t, i) && e - (i + 8) >= 24 && !isIdent(code(t, e));
}

/** One IPv4 octet at `i`: index after it, or -1. */
function octet(t: string, i: number): { end: number; value: number } | undefined {
  const e = digits(t, i, 1, 3);
  if (e < 0) return undefined;
  if (e - i > 1 && code(t, i) === 48) return undefined; // no leading zeros
  const value = Number(t.slice(i, e));
  return value <= 255 ? { end: e, value } : undefined;
}

/** A whole dotted quad at `i` (not inside a longer run of digits and dots); its octets or undefined. */
function dottedQuad(t: string, i: number): number[] | undefined {
  const b = code(t, i - 1);
  if (b === 46 || isAlnum(b)) return undefined;
  const out: number[] = [];
  let j = i;
  for (let k = 0; k < 4; k++) {
    if (k > 0) {
      if (code(t, j) !== 46) return undefined;
      j++;
    }
    const o = octet(t, j);
    if (!o) return undefined;
    out.push(o.value);
    j = o.end;
  }
  const a = code(t, j);
  if (isAlnum(a) || (a === 46 && isDigit(code(t, j + 1)))) return undefined;
  return out;
}

function privateIpv4(t: string, i: number): boolean {
  const q = dottedQuad(t, i);
  if (!q) return false;
  const [a, b] = q as [number, number, number, number];
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

const loopbackIpv4 = (t: string, i: number) => dottedQuad(t, i) !== undefined;

/** `fe80::…` link-local IPv6 (lower or upper case), not inside a longer hex word. */
function linkLocal(t: string, i: number): boolean {
  const b = code(t, i - 1);
  if (isHex(b) || b === 58) return false;
  const e = runFwd(t, i + 6, (c) => isHex(c) || c === 58, 40);
  return e > i + 6 && !isAlnum(code(t, e));
}

// ---------------------------------------------------------------------------------------
// The catalogue

interface Signature {
  readonly kind: LeakKind;
  readonly signature: string;
  readonly literal: string;
  /**
   * Anchored check at an occurrence `i`; a string names the signature (for families); true
   * keeps `signature`. `floor` is where the previous occurrence of the literal ended (0 for the
   * first): backward reads stop there, so each literal's backward work is linear overall.
   */
  readonly check?: (t: string, i: number, floor: number) => boolean | string | undefined;
  /** Only when `opts.internalIps`. */
  readonly internalIp?: boolean;
}

const sig = (kind: LeakKind, signature: string, literal: string, check?: Signature['check']): Signature => (check ? { kind, signature, literal, check } : { kind, signature, literal });
const ip = (signature: string, literal: string, check: Signature['check']): Signature => ({ kind: 'internal-ip', signature, literal, check, internalIp: true });

const CATALOGUE: readonly Signature[] = [
  // Private keys and secrets first: the most damaging.
  sig('private-key', 'private-key', '-----BEGIN ', privateKey),
  sig('secret', 'aws-access-key-id', 'AKIA', awsKeyId),
  sig('secret', 'aws-access-key-id', 'ASIA', awsKeyId),
  ...['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'].map((p) => sig('secret', 'github-token', p, githubToken)),
  sig('secret', 'github-token', 'github_pat_', githubPat),
  sig('secret', 'slack-token', 'xox', slackToken),
  sig('secret', 'stripe-secret-key', 'sk_live_', stripeKey),
  sig('secret', 'stripe-secret-key', 'rk_live_', stripeKey),

  // Framework debug pages.
  sig('debug-page', 'django-debug', 'seeing this error because you have', django),
  sig('debug-page', 'rails-debug', 'Action Controller: Exception caught'),
  sig('debug-page', 'whoops-debug', 'Whoops! There was an error'),
  sig('debug-page', 'spring-whitelabel', 'Whitelabel Error Page'),
  sig('debug-page', 'aspnet-error', "Server Error in '", aspnet),
  sig('debug-page', 'werkzeug-debugger', 'Werkzeug Debugger'),

  // SQL and ORM errors.
  sig('sql-error', 'mysql-error', 'You have an error in your SQL syntax'),
  sig('sql-error', 'mysql-error', 'corresponds to your MySQL server version'),
  sig('sql-error', 'mysql-error', 'MySQLSyntaxErrorException'),
  sig('sql-error', 'postgres-error', 'syntax error at or near '),
  sig('sql-error', 'postgres-error', 'unterminated quoted string at or near '),
  sig('sql-error', 'postgres-error', 'PG::', pgGem),
  sig('sql-error', 'postgres-error', 'PSQLException'),
  sig('sql-error', 'postgres-error', 'psycopg2.errors.'),
  sig('sql-error', 'pdo-error', 'SQLSTATE[', sqlstate),
  sig('sql-error', 'mssql-error', 'Unclosed quotation mark after the character string'),
  sig('sql-error', 'mssql-error', 'Microsoft OLE DB Provider'),
  sig('sql-error', 'mssql-error', '[Microsoft][ODBC'),
  sig('sql-error', 'mssql-error', 'Incorrect syntax near '),
  sig('sql-error', 'mssql-error', 'System.Data.SqlClient.SqlException'),
  sig('sql-error', 'oracle-error', 'ORA-', oracle),
  sig('sql-error', 'sqlite-error', 'SQLITE_', sqliteCode),
  sig('sql-error', 'sqlite-error', 'sqlite3.', sqlitePython),
  sig('sql-error', 'sqlite-error', 'SQLiteException'),
  sig('sql-error', 'jdbc-error', 'java.sql.SQL', (t, i) => endsInException(t, i)),
  sig('sql-error', 'jdbc-error', 'SQLSyntaxErrorException'),
  sig('sql-error', 'hibernate-error', 'org.hibernate.', endsInException),
  sig('sql-error', 'sequelize-error', 'Sequelize', sequelize),
  sig('sql-error', 'prisma-error', 'PrismaClient', prisma),
  sig('sql-error', 'prisma-error', 'Invalid `prisma.'),

  // Stack traces.
  sig('stack-trace', 'java-stack', '.java:', javaFrame),
  sig('stack-trace', 'java-stack', '(Native Method)', javaSpecialFrame),
  sig('stack-trace', 'java-stack', '(Unknown Source)', javaSpecialFrame),
  sig('stack-trace', 'java-stack', 'Exception in thread ', javaThread),
  sig('stack-trace', 'java-exception', 'Exception: ', qualifiedException),
  sig('stack-trace', 'node-stack', '.js:', (t, i, floor) => nodeFrame(t, i, floor, 4)),
  sig('stack-trace', 'node-stack', '.mjs:', (t, i, floor) => nodeFrame(t, i, floor, 5)),
  sig('stack-trace', 'node-stack', '.cjs:', (t, i, floor) => nodeFrame(t, i, floor, 5)),
  sig('stack-trace', 'node-stack', '.ts:', (t, i, floor) => nodeFrame(t, i, floor, 4)),
  sig('stack-trace', 'node-stack', '(node:internal/', nodeInternal),
  sig('stack-trace', 'python-traceback', 'Traceback (most recent call last):', pythonTraceback),
  sig('stack-trace', 'python-traceback', '.py', pythonFrame),
  sig('stack-trace', 'dotnet-stack', ':line ', dotnetFrame),
  sig('stack-trace', 'php-error', 'Fatal error', phpFatal),
  sig('stack-trace', 'php-error', '.php', phpOnLine),
  sig('stack-trace', 'php-error', 'Stack trace:', phpStackTrace),
  sig('stack-trace', 'ruby-stack', '.rb:', rubyFrame),
  sig('stack-trace', 'go-panic', 'goroutine ', goroutine),
  sig('stack-trace', 'go-panic', 'panic: runtime error: '),
  sig('stack-trace', 'go-panic', '.go:', goFrame),

  // Internal addresses (opt-in).
  ip('private-ipv4', '10.', privateIpv4),
  ip('private-ipv4', '172.', privateIpv4),
  ip('private-ipv4', '192.168.', privateIpv4),
  ip('loopback-ipv4', '127.', loopbackIpv4),
  ip('link-local-ipv6', 'fe80::', linkLocal),
  ip('link-local-ipv6', 'FE80::', linkLocal),
];

/** Media types whose bytes are compressed or binary encodings no signature can show up in. */
function skipped(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  const base = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (base.startsWith('image/') || base.startsWith('audio/') || base.startsWith('video/') || base.startsWith('font/')) return true;
  return base === 'application/zip' || base === 'application/gzip' || base === 'application/x-gzip' || base === 'application/x-7z-compressed' || base === 'application/zstd' || base === 'application/x-bzip2' || base === 'application/wasm';
}

/**
 * The first leak found in a response body (catalogue order: keys and secrets, debug pages,
 * SQL errors, stack traces, then internal IPs when `opts.internalIps`), or undefined. Scans at
 * most the first {@link MAX_SCAN_BYTES} bytes; images, audio, video, fonts and archives are
 * not scanned.
 */
export function scanForLeaks(body: Buffer, contentType: string | undefined, opts: { internalIps: boolean }): LeakFinding | undefined {
  if (body.length === 0 || skipped(contentType)) return undefined;
  const t = body.toString('latin1', 0, Math.min(body.length, MAX_SCAN_BYTES));
  for (const s of CATALOGUE) {
    if (s.internalIp && !opts.internalIps) continue;
    let floor = 0;
    for (let i = t.indexOf(s.literal); i >= 0; i = t.indexOf(s.literal, i + 1)) {
      const r = s.check ? s.check(t, i, floor) : true;
      floor = i + s.literal.length;
      if (r === true) return { kind: s.kind, signature: s.signature };
      if (typeof r === 'string') return { kind: s.kind, signature: r };
    }
  }
  return undefined;
}
