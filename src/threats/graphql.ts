/**
 * A GraphQL document (the `query` of a GraphQL request, JSON body or query string) read for
 * what a client can put in it: string literals, each named after the argument or input-object
 * field it is given to (`user(id: "…")`, `createPost(input: {title: "…"})`). Names, numbers,
 * enums, variables and punctuation carry no free text, so a document that lexes as GraphQL is
 * read as its strings alone, as the server's parser will hand them to resolvers; the
 * document's own braces, parentheses and keywords are not taken for code.
 *
 * One pass over the text (GraphQL October 2021 lexical grammar: ignored tokens, punctuators,
 * names, numbers, strings with escapes, block strings), bounded by `maxStrings`. Outside the
 * brackets only definitions may stand (`query|mutation|subscription [Name] (…) @dir {…}`,
 * `fragment Name on Type {…}`, a bare `{…}`), and strings only inside parentheses (arguments,
 * variable defaults): words around a document (`{ a } union select …`) or a JSON object are no
 * GraphQL. Anything that is not GraphQL (also a character outside the grammar, unbalanced
 * brackets, a bad escape, a string left open) answers undefined, and the caller reads the
 * value whole as before.
 */
import { hexValue } from './charclass.js';

export interface GraphqlString {
  /** The argument or input field the string is given to ('' for a string in a list at the top). */
  readonly arg: string;
  /** The field whose argument it is ('' when there is none). */
  readonly field: string;
  readonly value: string;
}

const OPERATIONS = new Set(['query', 'mutation', 'subscription', 'fragment']);

function isNameStart(c: number): boolean {
  return c === 0x5f || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 0x30 && c <= 0x39);
}

/** Whether `doc` opens like an executable or fragment definition (a cheap test before lexing). */
export function looksGraphql(doc: string): boolean {
  let i = 0;
  const n = doc.length;
  for (;;) {
    while (i < n && (doc.charCodeAt(i) <= 0x20 || doc.charCodeAt(i) === 0x2c || doc.charCodeAt(i) === 0xfeff)) i++;
    if (i < n && doc.charCodeAt(i) === 0x23) {
      while (i < n && doc.charCodeAt(i) !== 0x0a && doc.charCodeAt(i) !== 0x0d) i++;
      continue;
    }
    break;
  }
  if (i >= n) return false;
  if (doc.charCodeAt(i) === 0x7b) return true;
  let j = i;
  while (j < n && isNameChar(doc.charCodeAt(j))) j++;
  return OPERATIONS.has(doc.slice(i, j));
}

/** The strings of a GraphQL document, or undefined if `doc` is not one (or holds more than `maxStrings`). */
export function graphqlStrings(doc: string, maxStrings: number): GraphqlString[] | undefined {
  if (!looksGraphql(doc)) return undefined;
  const out: GraphqlString[] = [];
  const n = doc.length;
  // Open brackets, and for each `(` the field it belongs to.
  const stack: number[] = [];
  const fields: string[] = [];
  let lastName = '';
  let arg = '';
  // Outside every bracket only definitions stand: `query|mutation|subscription [Name]` or
  // `fragment Name on Type`, directives (`@name`), then `{`. Names counted since the last one.
  let topNames = 0;
  let topKind = '';
  let afterAt = false;
  let i = 0;
  while (i < n) {
    const c = doc.charCodeAt(i);
    if (c <= 0x20 || c === 0x2c || c === 0xfeff) {
      // white space, line terminators, commas; other control characters are no GraphQL
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x2c && c !== 0xfeff) return undefined;
      i++;
    } else if (c === 0x23) {
      while (i < n && doc.charCodeAt(i) !== 0x0a && doc.charCodeAt(i) !== 0x0d) i++;
    } else if (isNameStart(c)) {
      const s = i;
      while (i < n && isNameChar(doc.charCodeAt(i))) i++;
      lastName = doc.slice(s, i);
      if (stack.length === 0) {
        if (afterAt) afterAt = false;
        else if (topNames === 0) {
          if (!OPERATIONS.has(lastName)) return undefined;
          topKind = lastName;
          topNames = 1;
        } else if (++topNames > (topKind === 'fragment' ? 4 : 2) || (topKind === 'fragment' && topNames === 3 && lastName !== 'on')) return undefined;
      }
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      if (stack.length === 0) return undefined;
      i++;
      while (i < n) {
        const d = doc.charCodeAt(i);
        if ((d >= 0x30 && d <= 0x39) || d === 0x2e || d === 0x65 || d === 0x45 || d === 0x2b || d === 0x2d) i++;
        else break;
      }
      if (i < n && isNameStart(doc.charCodeAt(i))) return undefined;
    } else if (c === 0x22) {
      // a string is a value: an argument, a list item or a default, all inside parentheses
      if (fields.length === 0) return undefined;
      let value: string | undefined;
      if (doc.charCodeAt(i + 1) === 0x22 && doc.charCodeAt(i + 2) === 0x22) {
        const end = blockStringEnd(doc, i + 3);
        if (end < 0) return undefined;
        value = doc.slice(i + 3, end).replaceAll('\\"""', '"""');
        i = end + 3;
      } else {
        const r = readString(doc, i + 1);
        if (r === undefined) return undefined;
        value = r.value;
        i = r.end;
      }
      if (out.length >= maxStrings) return undefined;
      out.push({ arg, field: fields.length > 0 ? fields[fields.length - 1]! : '', value });
    } else if (c === 0x3a) {
      if (stack.length === 0) return undefined;
      // `name:` an argument, an input field, or an alias (then a field name follows, no string)
      arg = lastName;
      i++;
    } else if (c === 0x28 || c === 0x5b || c === 0x7b) {
      if (stack.length === 0 && (c === 0x5b || (c === 0x28 && topNames === 0))) return undefined;
      if (c === 0x28) fields.push(lastName);
      stack.push(c);
      i++;
    } else if (c === 0x29 || c === 0x5d || c === 0x7d) {
      const open = stack.pop();
      if (open !== (c === 0x29 ? 0x28 : c === 0x5d ? 0x5b : 0x7b)) return undefined;
      if (c === 0x29) fields.pop();
      // a definition ends with its selection set
      if (c === 0x7d && stack.length === 0) topNames = 0;
      i++;
    } else if (c === 0x2e) {
      if (stack.length === 0) return undefined;
      if (doc.charCodeAt(i + 1) !== 0x2e || doc.charCodeAt(i + 2) !== 0x2e) return undefined;
      i += 3;
    } else if (c === 0x21 || c === 0x24 || c === 0x26 || c === 0x3d || c === 0x40 || c === 0x7c) {
      if (stack.length === 0) {
        if (c !== 0x40) return undefined;
        afterAt = true;
      }
      i++;
    } else {
      return undefined;
    }
  }
  return stack.length === 0 ? out : undefined;
}

/** Index of the closing `"""` of a block string whose text starts at `from`, or -1. */
function blockStringEnd(doc: string, from: number): number {
  let at = from;
  for (;;) {
    const q = doc.indexOf('"""', at);
    if (q < 0) return -1;
    if (doc.charCodeAt(q - 1) !== 0x5c) return q;
    at = q + 3;
  }
}

/** A quoted string whose text starts at `from`: its value and the index after its closing quote. */
function readString(doc: string, from: number): { value: string; end: number } | undefined {
  let value = '';
  let run = from;
  let i = from;
  const n = doc.length;
  while (i < n) {
    const c = doc.charCodeAt(i);
    if (c === 0x22) return { value: value + doc.slice(run, i), end: i + 1 };
    if (c === 0x0a || c === 0x0d) return undefined;
    if (c !== 0x5c) {
      i++;
      continue;
    }
    value += doc.slice(run, i);
    const e = doc.charCodeAt(i + 1);
    if (e === 0x75) {
      let code = 0;
      let j = i + 2;
      if (doc.charCodeAt(j) === 0x7b) {
        // \u{1F600}
        j++;
        let digits = 0;
        for (; j < n && doc.charCodeAt(j) !== 0x7d; j++, digits++) {
          const h = hexValue(doc.charCodeAt(j));
          if (h < 0 || digits >= 6) return undefined;
          code = code * 16 + h;
        }
        if (j >= n || digits === 0 || code > 0x10ffff) return undefined;
        j++;
      } else {
        for (const end = j + 4; j < end; j++) {
          const h = hexValue(doc.charCodeAt(j));
          if (h < 0) return undefined;
          code = code * 16 + h;
        }
      }
      value += String.fromCodePoint(code);
      i = j;
    } else {
      const simple = e === 0x22 ? '"' : e === 0x5c ? '\\' : e === 0x2f ? '/' : e === 0x62 ? '\b' : e === 0x66 ? '\f' : e === 0x6e ? '\n' : e === 0x72 ? '\r' : e === 0x74 ? '\t' : undefined;
      if (simple === undefined) return undefined;
      value += simple;
      i += 2;
    }
    run = i;
  }
  return undefined;
}
