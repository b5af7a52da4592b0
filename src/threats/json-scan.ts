/**
 * A linear JSON tokenizer that visits every string of a document, member names included, with
 * the path to it, without building the value.
 *
 * Why not `JSON.parse` and a walk: the parse keeps only the last of duplicate member names,
 * and an upstream whose parser keeps the first would then act on a value nobody inspected.
 * This scanner sees every string token in the bytes, so duplicates, and strings inside a
 * document that turns out to be malformed further on, are inspected too. Numbers, booleans and
 * null carry no injection and are skipped. Work is one pass over the text; nesting is bounded
 * by `maxDepth`; nothing is recursive.
 */

export interface JsonVisitor {
  /**
   * One string. `path` is the live path stack (member names and array indexes) of the value, or
   * of the member for a name (`isKey`): read it synchronously, do not keep it. Return false to
   * stop the scan (budget spent).
   */
  (value: string, isKey: boolean, path: readonly (string | number)[]): boolean;
}

/**
 * One string as a range: the string is `src.slice(start, end)` (for a string without escapes,
 * `src` is the document itself and nothing is copied; member names are copied for the path).
 */
export interface JsonRangeVisitor {
  (src: string, start: number, end: number, isKey: boolean, path: readonly (string | number)[]): boolean;
}

export type JsonScanResult = 'ok' | 'malformed' | 'too-deep' | 'stopped';

const enum C {
  QUOTE = 0x22,
  BACKSLASH = 0x5c,
  LBRACE = 0x7b,
  RBRACE = 0x7d,
  LBRACKET = 0x5b,
  RBRACKET = 0x5d,
  COLON = 0x3a,
  COMMA = 0x2c,
}

/**
 * Scans `text` (a JSON document). Structure is checked only as far as the path needs it
 * (brackets balance, members have names); the contract stage, when present, checks the rest.
 */
export function scanJson(text: string, maxDepth: number, visit: JsonVisitor): JsonScanResult {
  return scanJsonRanges(text, maxDepth, (src, start, end, isKey, path) => visit(start === 0 && end === src.length ? src : src.slice(start, end), isKey, path));
}

/** scanJson, with each string given as a range of the document (or of its unescaped copy). */
export function scanJsonRanges(text: string, maxDepth: number, visit: JsonRangeVisitor): JsonScanResult {
  const n = text.length;
  const path: (string | number)[] = [];
  /** For each open container: true for an object. */
  const kinds: boolean[] = [];
  /** In an object: the next string is a member name. */
  let expectKey = false;
  /** Index of the next backslash at or after the current string (-1: none left); found by one indexOf per backslash. */
  let backslash = n === 0 ? -1 : -2;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    switch (c) {
      case C.QUOTE: {
        const end = stringEnd(text, i + 1);
        if (end < 0) return 'malformed';
        const start = i + 1;
        i = end + 1;
        if (backslash !== -1 && backslash < start) backslash = text.indexOf('\\', start);
        const escaped = backslash >= 0 && backslash < end;
        const inObject = kinds.length > 0 && kinds[kinds.length - 1] === true;
        if (inObject && expectKey) {
          const value = escaped ? unescapeJson(text.slice(start, end)) : text.slice(start, end);
          if (value === undefined) return 'malformed';
          path[path.length - 1] = value;
          if (!visit(value, 0, value.length, true, path)) return 'stopped';
          expectKey = false;
        } else if (escaped) {
          const value = unescapeJson(text.slice(start, end));
          if (value === undefined) return 'malformed';
          if (!visit(value, 0, value.length, false, path)) return 'stopped';
        } else if (!visit(text, start, end, false, path)) {
          return 'stopped';
        }
        continue;
      }
      case C.LBRACE:
      case C.LBRACKET: {
        if (kinds.length >= maxDepth) return 'too-deep';
        const isObject = c === C.LBRACE;
        kinds.push(isObject);
        path.push(isObject ? '' : 0);
        expectKey = isObject;
        break;
      }
      case C.RBRACE:
      case C.RBRACKET: {
        const top = kinds.pop();
        if (top === undefined || top !== (c === C.RBRACE)) return 'malformed';
        path.pop();
        expectKey = false;
        break;
      }
      case C.COMMA: {
        const depth = kinds.length;
        if (depth === 0) return 'malformed';
        if (kinds[depth - 1] === true) expectKey = true;
        else path[depth - 1] = (path[depth - 1] as number) + 1;
        break;
      }
      case C.COLON:
      case 0x20:
      case 0x09:
      case 0x0a:
      case 0x0d:
        break;
      default: {
        // Outside strings only numbers and the three literals may appear.
        const end = scalarEnd(text, i);
        if (end < 0) return 'malformed';
        i = end;
        continue;
      }
    }
    i++;
  }
  return kinds.length === 0 ? 'ok' : 'malformed';
}

/** End of a number or literal starting at `i`, or -1 when it is neither. */
function scalarEnd(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 0x74) return text.startsWith('true', i) ? i + 4 : -1;
  if (c === 0x66) return text.startsWith('false', i) ? i + 5 : -1;
  if (c === 0x6e) return text.startsWith('null', i) ? i + 4 : -1;
  let j = i;
  for (; j < text.length; j++) {
    const d = text.charCodeAt(j);
    // digits, '+', '-', '.', 'e', 'E'
    if (!((d >= 0x30 && d <= 0x39) || d === 0x2b || d === 0x2d || d === 0x2e || d === 0x65 || d === 0x45)) break;
  }
  return j === i ? -1 : j;
}

/** Index of the closing quote of a string whose content starts at `from`, or -1. */
function stringEnd(text: string, from: number): number {
  let i = from;
  for (;;) {
    const q = text.indexOf('"', i);
    if (q < 0) return -1;
    // Count the backslashes right before the quote: an odd count escapes it.
    let b = q - 1;
    while (b >= from && text.charCodeAt(b) === C.BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q;
    i = q + 1;
  }
}

/** JSON string escapes (RFC 8259 §7); undefined when one is invalid. */
function unescapeJson(raw: string): string | undefined {
  let out = '';
  let last = 0;
  let i = raw.indexOf('\\');
  while (i >= 0) {
    out += raw.slice(last, i);
    const e = raw.charCodeAt(i + 1);
    let len = 2;
    switch (e) {
      case 0x22: out += '"'; break;
      case 0x5c: out += '\\'; break;
      case 0x2f: out += '/'; break;
      case 0x62: out += '\b'; break;
      case 0x66: out += '\f'; break;
      case 0x6e: out += '\n'; break;
      case 0x72: out += '\r'; break;
      case 0x74: out += '\t'; break;
      case 0x75: {
        const hex = raw.slice(i + 2, i + 6);
        if (hex.length !== 4 || !isHex4(hex)) return undefined;
        out += String.fromCharCode(parseInt(hex, 16));
        len = 6;
        break;
      }
      default:
        return undefined;
    }
    last = i + len;
    i = raw.indexOf('\\', last);
  }
  return out + raw.slice(last);
}

function isHex4(s: string): boolean {
  for (let k = 0; k < 4; k++) {
    const c = s.charCodeAt(k) | 0x20;
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/** RFC 6901 pointer of a path stack. */
export function jsonPointer(path: readonly (string | number)[], base = ''): string {
  let p = base;
  for (const seg of path) {
    p += '/' + (typeof seg === 'number' ? String(seg) : seg.indexOf('~') < 0 && seg.indexOf('/') < 0 ? seg : seg.replace(/~/g, '~0').replace(/\//g, '~1'));
  }
  return p;
}
