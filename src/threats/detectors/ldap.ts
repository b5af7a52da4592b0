/**
 * LDAP filter injection (category `ldapi`).
 *
 * An application builds `(&(uid=` + value + `)(…))`. An injected value breaks out of its filter
 * item: it closes a parenthesis that it never opened and then opens a new filter component, a
 * filter item `attr=value` (`attr~=`, `attr>=`, `attr<=`, extensible `attr:dn:1.2.3:=`) or a
 * composite operator `&`, `|`, `!` (`*)(uid=*))(|(uid=*`, `admin)(&)`, `x)!(sn=*`, `v)&(cn=a`).
 * The scanner walks the value once, tracking parenthesis depth; only an unbalanced `)` followed
 * by filter syntax counts, so prose with parentheses ("John (Jack) Smith", "(555) 123-4567") and
 * complete, balanced filters sent on purpose stay benign. LDAP hex escapes (`\29`, `\2a`) are
 * decoded first.
 */
import type { Detector, Hit } from '../types.js';
import { isDigit, isAlpha, hexValue } from '../charclass.js';

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;
}

/** Decode LDAP `\XX` escapes (RFC 4515). */
function decodeLdapEscapes(s: string): string {
  let out = '';
  let run = 0;
  let i = s.indexOf('\\');
  while (i >= 0 && i + 2 < s.length) {
    const h = hexValue(s.charCodeAt(i + 1));
    const l = hexValue(s.charCodeAt(i + 2));
    if (h >= 0 && l >= 0) {
      out += s.slice(run, i) + String.fromCharCode(h * 16 + l);
      run = i + 3;
      i = s.indexOf('\\', i + 3);
    } else {
      i = s.indexOf('\\', i + 1);
    }
  }
  return out + s.slice(run);
}

function skipSpaces(s: string, i: number): number {
  while (i < s.length && isSpace(s.charCodeAt(i))) i++;
  return i;
}

/**
 * Does a filter item start at `i`: `attr op` with attr a descriptor (`uid`, `objectClass`,
 * `x-attr;lang-en`) or an OID (`2.5.4.3`), optionally extensible (`:dn`, `:1.2.840…`), and op
 * one of `=`, `~=`, `>=`, `<=`, `:=`? Returns the index after the operator, or -1.
 */
function itemAt(s: string, i: number): number {
  const n = s.length;
  let j = i;
  const c0 = s.charCodeAt(j);
  if (isAlpha(c0)) {
    j++;
    while (j < n && j - i < 64) {
      const c = s.charCodeAt(j);
      if (isAlpha(c) || isDigit(c) || c === 45 || c === 95 || c === 59 || c === 46) j++;
      else break;
    }
  } else if (isDigit(c0)) {
    while (j < n && j - i < 64 && (isDigit(s.charCodeAt(j)) || s.charCodeAt(j) === 46)) j++;
  } else if (c0 === 58) {
    // extensible match without attribute: `(:dn:2.4.8.10:=x)`
  } else {
    return -1;
  }
  // extensible parts `:dn`, `:1.2.840.113556.1.4.803`
  while (j < n && s.charCodeAt(j) === 58 && s.charCodeAt(j + 1) !== 61) {
    const k = j + 1;
    let m = k;
    while (m < n && m - k < 64 && (isAlpha(s.charCodeAt(m)) || isDigit(s.charCodeAt(m)) || s.charCodeAt(m) === 46)) m++;
    if (m === k) return -1;
    j = m;
  }
  j = skipSpaces(s, j);
  const c = s.charCodeAt(j);
  if (c === 61) return j + 1;
  if ((c === 126 || c === 62 || c === 60 || c === 58) && s.charCodeAt(j + 1) === 61) return j + 2;
  return -1;
}

/**
 * After a run of unbalanced `)` ending before `i`: is a new filter component opened?
 * Returns the end of the evidence, or -1.
 */
function breakoutFrom(s: string, i: number): number {
  const n = s.length;
  // `)&(` / `)|(` / `)!(`
  let op = false;
  const c = s.charCodeAt(i);
  if (c === 38 || c === 124 || c === 33) {
    op = true;
    i = skipSpaces(s, i + 1);
  }
  if (s.charCodeAt(i) !== 40) {
    // `x)&` at the very end closes the item and adds an operator.
    return op && i >= n ? i : -1;
  }
  // one or more opens
  let k = 0;
  while (i < n && k < 64 && (s.charCodeAt(i) === 40 || isSpace(s.charCodeAt(i)))) {
    i++;
    k++;
  }
  if (i >= n) return op ? i : -1;
  const d = s.charCodeAt(i);
  if (d === 38 || d === 124 || d === 33) {
    // composite operator, followed by `(`, `)`, blanks, the end, or (sloppily) an item
    const e = skipSpaces(s, i + 1);
    const f = s.charCodeAt(e);
    if (e >= n || f === 40 || f === 41) return e;
    return itemAt(s, e);
  }
  return itemAt(s, i);
}

/** Is the component opened after the closes a composite operator (`(&`, `(|`, `!(`)? */
function opensOperator(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c === 38 || c === 124 || c === 33) return true;
  let k = 0;
  while (i < s.length && k < 64 && (s.charCodeAt(i) === 40 || isSpace(s.charCodeAt(i)))) {
    i++;
    k++;
  }
  const d = s.charCodeAt(i);
  return d === 38 || d === 124 || d === 33;
}

function scanLdap(s: string): Hit | undefined {
  let depth = 0;
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 40) {
      depth++;
      i++;
    } else if (c === 41 && depth > 0) {
      depth--;
      i++;
    } else if (c === 41) {
      // a run of unbalanced closes (and blanks): `))(|(`
      const start = i;
      while (i < n && (s.charCodeAt(i) === 41 || isSpace(s.charCodeAt(i)))) i++;
      const e = breakoutFrom(s, i);
      if (e >= 0) {
        // `x) (y=z)` with a blank and a plain item reads like a numbered list: weaker.
        let spaced = false;
        for (let k = start; k < i; k++) if (isSpace(s.charCodeAt(k))) spaced = true;
        const weak = spaced && !opensOperator(s, i);
        return {
          detector: 'ldapi.filter-breakout',
          category: 'ldapi',
          severity: weak ? 4 : 5,
          paranoia: weak ? 2 : 1,
          evidence: s.slice(start, Math.min(n, Math.max(e, start + 1), start + 40)),
        };
      }
    } else {
      i++;
    }
  }
  return undefined;
}

/** `(1=0)`, `( 1 = 1 )`: an item comparing numbers, which no directory attribute is (an OID has dots). */
function numericItem(s: string, open: number): boolean {
  let j = skipSpaces(s, open + 1);
  const a = j;
  while (j < s.length && j - a < 8 && isDigit(s.charCodeAt(j))) j++;
  if (j === a) return false;
  j = skipSpaces(s, j);
  if (s.charCodeAt(j) !== 61 || s.charCodeAt(j + 1) === 61) return false;
  j = skipSpaces(s, j + 1);
  const b = j;
  while (j < s.length && j - b < 8 && isDigit(s.charCodeAt(j))) j++;
  return j > b && s.charCodeAt(skipSpaces(s, j)) === 41;
}

/**
 * A composite filter `(&(…)`, `(|(…)`, `(!(…)` sent balanced, as a whole: benign (an admin API
 * may take a filter) unless it is glued to a value before it (`*(|(objectclass=*))`,
 * `admin(&(…))`: the end of the application's own item, then a new component; `&` and `|`
 * only) or holds an
 * item comparing numbers (`(&(1=0)(userPassword=q))`, the SQL habit of a constant condition).
 */
function compositeProbe(s: string): Hit | undefined {
  let i = s.indexOf('(');
  let numeric = false;
  let composite = -1;
  for (let n = 0; i >= 0 && n < 1024; n++) {
    const k = skipSpaces(s, i + 1);
    const c = s.charCodeAt(k);
    if ((c === 38 || c === 124 || c === 33) && s.charCodeAt(skipSpaces(s, k + 1)) === 40) {
      let m = skipSpaces(s, k + 1);
      while (m < s.length && (s.charCodeAt(m) === 40 || isSpace(s.charCodeAt(m)))) m++;
      const e = itemAt(s, m);
      if (e >= 0 && s.charCodeAt(e) !== 61) {
        if (i > 0 && c !== 33) {
          // (not `!`: `if(!(x=read()))` is code)
          const b = s.charCodeAt(i - 1);
          if (isAlpha(b) || isDigit(b) || b === 42 || b === 95) {
            return { detector: 'ldapi.filter-breakout', category: 'ldapi', severity: 5, paranoia: 1, evidence: s.slice(i - 1, Math.min(s.length, i + 24)) };
          }
        }
        if (composite < 0) composite = i;
      }
    } else if (isDigit(c) && numericItem(s, i)) {
      numeric = true;
    }
    i = s.indexOf('(', i + 1);
  }
  if (composite >= 0 && numeric) {
    return { detector: 'ldapi.filter-breakout', category: 'ldapi', severity: 5, paranoia: 1, evidence: s.slice(composite, Math.min(s.length, composite + 30)) };
  }
  return undefined;
}

export const detectLdap: Detector = (text, _lower, _ctx) => {
  if (text.indexOf(')') < 0 && text.indexOf('\\29') < 0) return undefined;
  try {
    const h = scanLdap(text) ?? compositeProbe(text);
    if (h || text.indexOf('\\') < 0) return h;
    const d = decodeLdapEscapes(text);
    return scanLdap(d) ?? compositeProbe(d);
  } catch {
    return undefined;
  }
};
