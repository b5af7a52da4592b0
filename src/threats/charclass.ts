/**
 * Character classes of a value, computed in one pass (prefilter.ts, ValueFacts.scan), so that
 * detectors that cannot fire on it are not called (a plain word cannot carry an HTML tag, a
 * lookup or a filter). Each detector's gate (detectors/index.ts) names the classes it needs;
 * the gates are checked to change no verdict (see test/threats-gates.test.ts).
 */
export const CC = Object.freeze({
  QUOTE: 1 << 0, // ' "
  LT: 1 << 1,
  GT: 1 << 2,
  PAREN: 1 << 3,
  BRACKET: 1 << 4,
  BRACE: 1 << 5,
  SEMI: 1 << 6,
  PIPE: 1 << 7,
  AMP: 1 << 8,
  DOLLAR: 1 << 9,
  PERCENT: 1 << 10,
  SLASH: 1 << 11,
  BSLASH: 1 << 12,
  COLON: 1 << 13,
  EQ: 1 << 14,
  HASH: 1 << 15,
  STAR: 1 << 16,
  NL: 1 << 17, // CR LF
  SPACE: 1 << 18, // space, tab
  AT: 1 << 19,
  DOT: 1 << 20,
  DASH: 1 << 21,
  UNDERSCORE: 1 << 22,
  OTHER: 1 << 23, // ! ? ~ ^ + , and the rest of ASCII punctuation
  NONASCII: 1 << 24,
  DIGIT: 1 << 25,
  ALPHA: 1 << 26,
  BACKTICK: 1 << 27,
  CTRL: 1 << 28, // other C0 controls, DEL
});

/** Everything but letters, digits and spaces. */
export const PUNCT = ~(CC.ALPHA | CC.DIGIT | CC.SPACE) & ((1 << 29) - 1);

/** The class of each ASCII character. */
export const CLASS_OF: Int32Array = (() => {
  const t = new Int32Array(128);
  for (let c = 0; c < 128; c++) {
    let m: number = CC.OTHER;
    if (c < 0x20 || c === 0x7f) m = CC.CTRL;
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) m = CC.ALPHA;
    else if (c >= 0x30 && c <= 0x39) m = CC.DIGIT;
    t[c] = m;
  }
  const set = (chars: string, m: number) => {
    for (const ch of chars) t[ch.charCodeAt(0)] = m;
  };
  set('\'"', CC.QUOTE);
  set('<', CC.LT);
  set('>', CC.GT);
  set('()', CC.PAREN);
  set('[]', CC.BRACKET);
  set('{}', CC.BRACE);
  set(';', CC.SEMI);
  set('|', CC.PIPE);
  set('&', CC.AMP);
  set('$', CC.DOLLAR);
  set('%', CC.PERCENT);
  set('/', CC.SLASH);
  set('\\', CC.BSLASH);
  set(':', CC.COLON);
  set('=', CC.EQ);
  set('#', CC.HASH);
  set('*', CC.STAR);
  set('\r\n', CC.NL);
  set(' \t', CC.SPACE);
  set('@', CC.AT);
  set('.', CC.DOT);
  set('-', CC.DASH);
  set('_', CC.UNDERSCORE);
  set('`', CC.BACKTICK);
  return t;
})();

/** The classes present in `s`. */
export function charClasses(s: string): number {
  let m = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    m |= c < 128 ? CLASS_OF[c]! : CC.NONASCII;
  }
  return m;
}

/** An ASCII digit 0-9 (a char code). */
export function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** An ASCII letter a-z, A-Z (a char code). */
export function isAlpha(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

/** Value of an ASCII hex digit (a char code), or -1. */
export function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x57;
  return -1;
}
