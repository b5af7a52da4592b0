/**
 * Request-body contract enforcement, compiled once per operation at config load.
 *
 * The operation's `requestBody` (possibly a `$ref`, possibly in another file) gives a content
 * map. A request's Content-Type picks one entry: the exact media type, else `type/*`, else
 * `*\/*` (parameters are ignored for matching). A body without Content-Type is
 * `application/octet-stream` (RFC 9110 §8.3). How the body is read depends on the request's
 * own media type, not on the key that matched it:
 *
 * - JSON (`application/json`, `…+json`): a linear byte pre-scan refuses bodies over the depth,
 *   member-count and array-length bounds before anything is allocated (`json_limits_exceeded`);
 *   then strict UTF-8 and JSON.parse; a duplicate member name (fewer members parsed than the
 *   pre-scan counted) is refused → `body_not_json`;
 *   then a walk for string lengths and the keys `__proto__`, `constructor`, `prototype`
 *   (`request_invalid`, rule `forbiddenKey`); then the media type's schema (ajv).
 * - `application/x-www-form-urlencoded`: pairs (`+` is a space, percent-decoding is strict, the
 *   result strict UTF-8); names read for one level of brackets (`a[k]`: a deepObject member,
 *   `a[]`: an array item), fields mapped by the media type's `encoding` style/explode (a
 *   repeated key is an array; `explode: false` arrays are one delimited value), values coerced
 *   to the declared property types, then the schema.
 * - `multipart/form-data`: a bounded RFC 7578 parser; text parts are coerced like form fields,
 *   parts whose schema is an object are JSON, file parts (a `filename`, or a schema that says
 *   `format: binary` / `contentMediaType`) become `{ filename, contentType, size }` and are
 *   validated as strings of that size. The media type's `encoding.<name>.contentType` is enforced;
 *   without one, the OpenAPI default of the property's schema is (`text/plain` for a primitive,
 *   `application/json` for an object, any type for a binary property).
 * - `text/plain`: strict UTF-8, validated as a string.
 * - Any other media type (XML, octet-stream, images …) is accepted by its media type only: the
 *   value is the text for `text/*`, else undefined, and the schema is not applied (a warning at
 *   config load says so when a schema is declared).
 *
 * Text media types (`text/*`, JSON, form) must be UTF-8: a `charset` parameter other than
 * `utf-8` is refused as `unsupported_media_type` (RFC 8259 §8.1 makes JSON UTF-8; refusing
 * `charset=latin1` rather than transcoding keeps the gateway and the upstream reading the same
 * characters).
 *
 * Strict mode refuses object members the schema does not declare (rule `undeclared`). A member
 * is declared when a `properties` of the schema at that place names it — through `$ref`,
 * `allOf`, `oneOf`, `anyOf`, `if/then/else` — or when the schema there accepts other members on
 * purpose (`additionalProperties` true or a schema, `patternProperties`, whose patterns are never
 * run on member names, `unevaluatedProperties` not false). A schema that says nothing about
 * members (`type: object` alone, `{}`, an unresolved `$ref`) is free-form and not checked.
 *
 * Violations never carry values. Each leaf of an accepted body becomes a {@link TypedInput}
 * (name: RFC 6901 pointer), with the type, format, enum and pattern the schema declares there;
 * through `oneOf`/`anyOf` only what every branch guarantees is claimed.
 *
 * Work is bounded: by the limits (per body), by the body size (every scan is linear), and by
 * the schema (at most {@link MAX_EXPR_LEAVES} schemas are considered for one place of a body).
 * No regular expression sees the body.
 */
import { isUtf8 } from 'node:buffer';
import { escapePointerSegment, isObject, SchemaResolver, type JsonObject } from '../access/schema-resolve.js';
import type { ApiOperation, LoadedSpec } from '../config/types.js';
import { compileDirect, FORBIDDEN_KEYS, isDigit, utf8BomLength, type DirectValidator } from './json-direct.js';
import type { CompiledSchema, SchemaCompiler, TypedInput, Violation } from './schema-compiler.js';

export interface BodyLimits {
  /** Nesting of JSON containers (default 64). */
  maxDepth: number;
  /** Object members in the whole body, and form pairs (default 1000). */
  maxKeys: number;
  /** Characters of one string (JSON string or member name, form value, text part; default 100 000). */
  maxStringLength: number;
  /** Elements of one JSON array, and items of a delimited form list (default 10 000). */
  maxArrayLength: number;
  /** Parts of a multipart body (default 100). */
  maxParts: number;
  /** Bytes of one multipart part's content (default 10 MiB). */
  maxPartBytes: number;
}

export const DEFAULT_BODY_LIMITS: Readonly<BodyLimits> = Object.freeze({
  maxDepth: 64,
  maxKeys: 1000,
  maxStringLength: 100_000,
  maxArrayLength: 10_000,
  maxParts: 100,
  maxPartBytes: 10 * 1024 * 1024,
});

export interface BodyOptions {
  /** Refuse object members (and form fields, parts) the schema does not declare. */
  readonly strict: boolean;
  readonly limits: BodyLimits;
}

export type BodyErrorCode = 'unsupported_media_type' | 'request_invalid' | 'json_limits_exceeded' | 'body_not_json';

export type BodyResult =
  | {
      ok: true;
      /** The parsed body: a JSON value, a form object, a multipart object (file parts as `{ filename, contentType, size }`), a text, or undefined (empty or opaque). */
      value: unknown;
      inputs: readonly TypedInput[];
    }
  | { ok: false; code: BodyErrorCode; violations: Violation[]; reason: string };

export interface BodyValidator {
  readonly required: boolean;
  /** Media types the operation declares (for a 415 `Accept-Post`-style hint). */
  readonly mediaTypes: readonly string[];
  /**
   * `want.inputs: false` when no later stage reads the typed inputs (no threat detection on the
   * route): the result's `inputs` is then empty, and a valid body costs no walk to build them.
   * `want.value: false` when no later stage reads the parsed body: a JSON body whose schema is simple
   * may then be accepted without being parsed (json-direct.ts), its `value` undefined and its
   * typed inputs only the typed values (numbers, booleans, enum members, formatted strings).
   */
  validate(contentType: string | undefined, body: Buffer, want?: BodyWants): BodyResult;
}

/** What the stages after the contract read of a body (BodyValidator.validate); both by default. */
export interface BodyWants {
  /** The typed inputs (threat detection's skip set). */
  readonly inputs?: boolean;
  /** The parsed value (property write rules). */
  readonly value?: boolean;
}

const WANT_ALL: BodyWants = { inputs: true, value: true };

export interface BodyProblem {
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

/** A multipart file part, as it appears in the parsed value (its bytes are not kept). */
export interface FilePart {
  readonly filename: string | undefined;
  readonly contentType: string | undefined;
  readonly size: number;
}

/** Leaves reported as typed inputs at most. */
export const MAX_INPUTS = 1000;
/** Violations reported at most (ajv's own are capped at 20 too). */
const MAX_VIOLATIONS = 20;
/** Schemas considered for one place of a body at most; past it the place is "unknown". */
export const MAX_EXPR_LEAVES = 64;
/** Schemas expanded ahead at config load at most (the rest lazily, on first use). */
const MAX_PREWALK = 20_000;
/** Longest Content-Type header read. */
const MAX_MEDIA_TYPE_LENGTH = 1024;
/** Header block of one multipart part at most. */
const MAX_PART_HEADER_BYTES = 8 * 1024;

// ---------------------------------------------------------------------------------------
// Media types (RFC 9110 §8.3.1), read by a tokenizer.

interface MediaType {
  /** `type/subtype`, lower case. */
  readonly base: string;
  readonly type: string;
  readonly subtype: string;
  /** Parameter names lower case; values as sent (quotes removed). */
  readonly params: ReadonlyMap<string, string>;
}

function isTchar(c: number): boolean {
  // ALPHA / DIGIT / ! # $ % & ' * + - . ^ _ ` | ~
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x21 ||
    (c >= 0x23 && c <= 0x27) ||
    c === 0x2a ||
    c === 0x2b ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5e ||
    c === 0x5f ||
    c === 0x60 ||
    c === 0x7c ||
    c === 0x7e
  );
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * Parameters `; name=value` from `i` in `s` (a media type's, or a Content-Disposition's).
 * Values are tokens or quoted strings (`\` escapes the next character). Undefined when
 * malformed or when a parameter is repeated.
 */
function parseParams(s: string, i: number, lenient: boolean): Map<string, string> | undefined {
  const params = new Map<string, string>();
  const n = s.length;
  for (;;) {
    while (i < n && isOws(s.charCodeAt(i))) i++;
    if (i >= n) return params;
    if (s.charCodeAt(i) !== 0x3b /* ; */) return undefined;
    i++;
    while (i < n && isOws(s.charCodeAt(i))) i++;
    if (i >= n) return params; // a trailing `;`
    if (s.charCodeAt(i) === 0x3b) continue; // `;;`
    const start = i;
    while (i < n && isTchar(s.charCodeAt(i))) i++;
    if (i === start || s.charCodeAt(i) !== 0x3d /* = */) return undefined;
    const name = s.slice(start, i).toLowerCase();
    i++;
    let value: string;
    if (s.charCodeAt(i) === 0x22 /* " */) {
      let out = '';
      let j = i + 1;
      for (;;) {
        if (j >= n) return undefined;
        const c = s.charCodeAt(j);
        if (c === 0x22) break;
        if (c === 0x5c /* \ */ && j + 1 < n) {
          out += s[j + 1];
          j += 2;
          continue;
        }
        if (c < 0x20 && c !== 0x09) return undefined;
        out += s[j];
        j++;
      }
      value = out;
      i = j + 1;
    } else {
      const vs = i;
      // Content-Disposition values in the wild are not always tokens (`filename=a b.txt`).
      if (lenient) while (i < n && s.charCodeAt(i) !== 0x3b) i++;
      else while (i < n && isTchar(s.charCodeAt(i))) i++;
      value = s.slice(vs, i).trim();
      if (value === '') return undefined;
    }
    if (params.has(name)) return undefined;
    params.set(name, value);
  }
}

function parseMediaType(s: string): MediaType | undefined {
  if (s.length > MAX_MEDIA_TYPE_LENGTH) return undefined;
  let i = 0;
  const n = s.length;
  while (i < n && isOws(s.charCodeAt(i))) i++;
  const ts = i;
  while (i < n && isTchar(s.charCodeAt(i))) i++;
  if (i === ts || s.charCodeAt(i) !== 0x2f /* / */) return undefined;
  const type = s.slice(ts, i).toLowerCase();
  i++;
  const ss = i;
  while (i < n && isTchar(s.charCodeAt(i))) i++;
  if (i === ss) return undefined;
  const subtype = s.slice(ss, i).toLowerCase();
  const params = parseParams(s, i, false);
  if (!params) return undefined;
  return { base: `${type}/${subtype}`, type, subtype, params };
}

const OCTET_STREAM = parseMediaType('application/octet-stream') as MediaType;

/**
 * Content-Type values seen in requests, parsed: a gateway sees few distinct ones (the JSON
 * header of every client). Multipart values carry a new boundary each time and are not kept;
 * past MEDIA_TYPE_CACHE values nothing more is kept.
 */
const mediaTypeCache = new Map<string, MediaType | null>();
const MEDIA_TYPE_CACHE = 64;

function requestMediaType(s: string): MediaType | undefined {
  const hit = mediaTypeCache.get(s);
  if (hit !== undefined) return hit ?? undefined;
  const mt = parseMediaType(s);
  if (mediaTypeCache.size < MEDIA_TYPE_CACHE && mt?.base !== 'multipart/form-data') mediaTypeCache.set(s, mt ?? null);
  return mt;
}

function isUtf8Charset(mt: MediaType): boolean {
  const cs = mt.params.get('charset');
  if (cs === undefined) return true;
  const v = cs.toLowerCase();
  return v === 'utf-8' || v === 'utf8';
}

type Kind = 'json' | 'form' | 'multipart' | 'text' | 'opaque';

function kindOf(mt: MediaType): Kind {
  if (mt.base === 'application/json' || (mt.subtype.endsWith('+json') && mt.subtype.length > 5)) return 'json';
  if (mt.base === 'application/x-www-form-urlencoded') return 'form';
  if (mt.base === 'multipart/form-data') return 'multipart';
  if (mt.base === 'text/plain') return 'text';
  return 'opaque';
}

/** A text media type: its bytes are characters, so its charset matters. */
function isTextual(mt: MediaType, kind: Kind): boolean {
  return kind === 'json' || kind === 'form' || kind === 'text' || mt.type === 'text';
}

/** Does `mt` fall in the declared `range` (`a/b`, `a/*`, `*\/*`)? */
function inRange(mt: MediaType, range: MediaType): boolean {
  if (range.type === '*') return true;
  if (range.type !== mt.type) return false;
  return range.subtype === '*' || range.subtype === mt.subtype;
}

// ---------------------------------------------------------------------------------------
// Schema view: what the schema says at a place of the body.
//
// The schemas that describe one value form an expression: `own` is one schema object's own
// keywords; `all` (allOf, $ref targets, siblings) and `any` (oneOf, anyOf) combine them; `cond`
// holds then/else (their members declare properties, but guarantee nothing); `unknown` is a
// schema that says nothing (or one that could not be read); `none` is an object schema that does
// not declare the member asked for.

type Expr =
  | { readonly k: 'own'; readonly s: JsonObject; readonly at: string; readonly file: string }
  | { readonly k: 'all' | 'any' | 'cond'; readonly xs: readonly Expr[] }
  | { readonly k: 'unknown' }
  | { readonly k: 'none' };

const UNKNOWN: Expr = { k: 'unknown' };
const NONE: Expr = { k: 'none' };

interface Facet {
  readonly type: string | undefined;
  readonly format: string | undefined;
  readonly enumerated: boolean;
  readonly patterned: boolean;
  /** `format: binary`, `contentMediaType` or `contentEncoding`: a file in multipart. */
  readonly binary: boolean;
}

const NO_FACET: Facet = { type: undefined, format: undefined, enumerated: false, patterned: false, binary: false };

function allMerge(a: Facet, b: Facet): Facet {
  let type = a.type ?? b.type;
  if (a.type !== undefined && b.type !== undefined && a.type !== b.type) {
    const pair = new Set([a.type, b.type]);
    type = pair.has('integer') && pair.has('number') ? 'integer' : undefined;
  }
  return { type, format: a.format ?? b.format, enumerated: a.enumerated || b.enumerated, patterned: a.patterned || b.patterned, binary: a.binary || b.binary };
}

function anyMerge(a: Facet, b: Facet): Facet {
  let type = a.type === b.type ? a.type : undefined;
  if (type === undefined && a.type !== undefined && b.type !== undefined) {
    const pair = new Set([a.type, b.type]);
    if (pair.has('integer') && pair.has('number')) type = 'number';
  }
  return { type, format: a.format === b.format ? a.format : undefined, enumerated: a.enumerated && b.enumerated, patterned: a.patterned && b.patterned, binary: a.binary || b.binary };
}

/** The declared type, without `null` (a nullable string is a string); undefined when several. */
function declaredType(t: unknown): string | undefined {
  if (typeof t === 'string') return t;
  if (!Array.isArray(t)) return undefined;
  const rest = t.filter((x) => x !== 'null');
  return rest.length === 1 && typeof rest[0] === 'string' ? rest[0] : undefined;
}

type Declared = 'declared' | 'undeclared' | 'free' | 'neutral';

interface Slot {
  readonly expr: Expr;
  readonly declared: Declared;
  readonly facet: Facet;
  /** The member name as a JSON pointer segment. */
  readonly segment: string;
}

class SchemaView {
  private readonly memo = new Map<object, Expr>();
  /** Weak: combinations are built per request (member, element) and must not accumulate. */
  private readonly facets = new WeakMap<Expr, Facet>();

  constructor(private readonly resolver: SchemaResolver) {}

  /**
   * Expand every schema reachable from `root` (members, items) once, at config load, so that
   * `$ref` problems are reported then and requests only read the memo. Stops at `max` schemas.
   */
  prewalk(root: Expr, max: number): void {
    const seen = new Set<Expr>();
    const stack: Expr[] = [root];
    for (let e = stack.pop(); e; e = stack.pop()) {
      if (seen.has(e) || this.memo.size > max) continue;
      seen.add(e);
      if (e.k === 'all' || e.k === 'any' || e.k === 'cond') {
        stack.push(...e.xs);
        continue;
      }
      if (e.k !== 'own') continue;
      // Only memoized expressions are pushed (member/element build fresh combinations), so
      // `seen` ends the walk on recursive schemas.
      const s = e.s;
      const push = (v: unknown, at: string) => stack.push(this.expand(v, at, e.file));
      if (isObject(s.properties)) for (const [key, ps] of Object.entries(s.properties)) push(ps, `${e.at}/properties/${escapePointerSegment(key)}`);
      for (const kw of ['additionalProperties', 'items', 'additionalItems'] as const) if (isObject(s[kw])) push(s[kw], `${e.at}/${kw}`);
      for (const kw of ['items', 'prefixItems'] as const) {
        const list = s[kw];
        if (Array.isArray(list)) list.forEach((m, i) => push(m, `${e.at}/${kw}/${i}`));
      }
    }
  }

  /** The expression of the schema `value` found at `at` in `file`. */
  expand(value: unknown, at: string, file: string): Expr {
    if (!isObject(value)) return UNKNOWN; // `true`, `false` (ajv refuses), junk
    const memo = this.memo.get(value);
    if (memo) return memo;
    // A cycle through composition only ($ref: '#' inside allOf …) ends as unknown.
    this.memo.set(value, UNKNOWN);
    const s = value;
    const members: Expr[] = [{ k: 'own', s, at, file }];
    if (Object.hasOwn(s, '$ref')) {
      const t = this.resolver.target(s.$ref, at, file);
      members.push(t ? this.expand(t.value, t.at, t.file) : UNKNOWN);
    }
    const list = (kw: string): Expr[] => (Array.isArray(s[kw]) ? (s[kw] as unknown[]).map((m, i) => this.expand(m, `${at}/${kw}/${i}`, file)) : []);
    members.push(...list('allOf'));
    if (Array.isArray(s.oneOf)) members.push(mk('any', list('oneOf')));
    if (Array.isArray(s.anyOf)) members.push(mk('any', list('anyOf')));
    if (isObject(s.then) || isObject(s.else)) {
      members.push(mk('cond', [isObject(s.then) ? this.expand(s.then, `${at}/then`, file) : UNKNOWN, isObject(s.else) ? this.expand(s.else, `${at}/else`, file) : UNKNOWN]));
    }
    const e = members.length === 1 ? (members[0] as Expr) : mk('all', members);
    this.memo.set(value, e);
    return e;
  }

  facet(e: Expr): Facet {
    const memo = this.facets.get(e);
    if (memo) return memo;
    let f: Facet;
    switch (e.k) {
      case 'own': {
        const s = e.s;
        f = {
          type: declaredType(s.type),
          format: typeof s.format === 'string' ? s.format : undefined,
          enumerated: Array.isArray(s.enum) || Object.hasOwn(s, 'const'),
          patterned: typeof s.pattern === 'string',
          binary: s.format === 'binary' || typeof s.contentMediaType === 'string' || typeof s.contentEncoding === 'string',
        };
        break;
      }
      case 'all':
        f = e.xs.reduce((acc, x) => allMerge(acc, this.facet(x)), NO_FACET);
        break;
      case 'any':
        f = e.xs.length === 0 ? NO_FACET : e.xs.slice(1).reduce((acc, x) => anyMerge(acc, this.facet(x)), this.facet(e.xs[0] as Expr));
        break;
      default:
        f = NO_FACET; // cond, unknown, none: nothing is guaranteed
    }
    if (e.k !== 'unknown' && e.k !== 'none') this.facets.set(e, f);
    return f;
  }

  /** The schema of member `key` of an object described by `e`. */
  /** `member` and `declared` answers per expression and member name, a bounded number of names each. */
  private readonly memberMemo = new Map<Expr, Map<string, Expr>>();
  private readonly declaredMemo = new Map<Expr, Map<string, Declared>>();

  /**
   * Member `key` of an object described by `e`: its schema, whether it is declared, and its
   * facet, memoized together (one lookup per member of a body).
   */
  slot(e: Expr, key: string): Slot {
    return this.slotIn(this.slotsOf(e), e, key);
  }

  /** The memo of `slot` answers for `e`: one lookup per object, then one per member (see allDeclared). */
  slotsOf(e: Expr): Map<string, Slot> {
    let names = this.slotMemo.get(e);
    if (names === undefined) {
      names = new Map();
      if (this.slotMemo.size < MEMO_EXPRS) this.slotMemo.set(e, names);
    }
    return names;
  }

  /** `slot(e, key)` given `names = slotsOf(e)`. */
  slotIn(names: Map<string, Slot>, e: Expr, key: string): Slot {
    const hit = names.get(key);
    if (hit !== undefined) return hit;
    const expr = this.member(e, key);
    const slot: Slot = { expr, declared: this.declared(e, key), facet: this.facet(expr), segment: escapePointerSegment(key) };
    if (names.size < MEMO_NAMES) names.set(key, slot);
    return slot;
  }

  private readonly slotMemo = new Map<Expr, Map<string, Slot>>();
  private readonly elementMemo = new Map<Expr, Map<string, Expr>>();

  member(e: Expr, key: string): Expr {
    return memo(this.memberMemo, e, key, () => this.memberOf(e, key));
  }

  private memberOf(e: Expr, key: string): Expr {
    switch (e.k) {
      case 'own': {
        const s = e.s;
        if (isObject(s.properties) && Object.hasOwn(s.properties, key)) return this.expand(s.properties[key], `${e.at}/properties/${escapePointerSegment(key)}`, e.file);
        if (isObject(s.additionalProperties)) return this.expand(s.additionalProperties, `${e.at}/additionalProperties`, e.file);
        if (s.additionalProperties === true || isObject(s.patternProperties) || (s.unevaluatedProperties !== undefined && s.unevaluatedProperties !== false)) return UNKNOWN;
        return isObject(s.properties) || s.additionalProperties === false ? NONE : UNKNOWN;
      }
      case 'all':
      case 'any':
      case 'cond':
        return mk(e.k, e.xs.map((x) => this.member(x, key)));
      default:
        return e.k === 'none' ? NONE : UNKNOWN;
    }
  }

  /** The schema of element `i` of an array described by `e`. */
  element(e: Expr, i: number): Expr {
    switch (e.k) {
      case 'own': {
        const s = e.s;
        if (Array.isArray(s.prefixItems) && i < s.prefixItems.length) return this.expand(s.prefixItems[i], `${e.at}/prefixItems/${i}`, e.file);
        if (Array.isArray(s.items)) {
          // Draft-4 style tuples (not OpenAPI, seen in the wild).
          if (i < s.items.length) return this.expand(s.items[i], `${e.at}/items/${i}`, e.file);
          return isObject(s.additionalItems) ? this.expand(s.additionalItems, `${e.at}/additionalItems`, e.file) : UNKNOWN;
        }
        return isObject(s.items) ? this.expand(s.items, `${e.at}/items`, e.file) : UNKNOWN;
      }
      case 'all':
      case 'any':
      case 'cond':
        // Memoized (a combination is a new object each time, and the memos below are keyed by it).
        return memo(this.elementMemo, e, String(i), () => mk(e.k, (e as { xs: readonly Expr[] }).xs.map((x) => this.element(x, i))));
      default:
        return UNKNOWN;
    }
  }

  /** True when elements past the first may have another schema than the first (tuples). */
  hasTuple(e: Expr): boolean {
    switch (e.k) {
      case 'own':
        return Array.isArray(e.s.prefixItems) || Array.isArray(e.s.items);
      case 'all':
      case 'any':
      case 'cond':
        return e.xs.some((x) => this.hasTuple(x));
      default:
        return false;
    }
  }

  /** Whether member `key` is declared for an object described by `e` (strict mode). */
  declared(e: Expr, key: string): Declared {
    return memo(this.declaredMemo, e, key, () => this.declaredOf(e, key));
  }

  private declaredOf(e: Expr, key: string): Declared {
    switch (e.k) {
      case 'own': {
        const s = e.s;
        if (isObject(s.properties) && Object.hasOwn(s.properties, key)) return 'declared';
        if (s.additionalProperties === true || isObject(s.additionalProperties) || isObject(s.patternProperties)) return 'declared';
        if (s.unevaluatedProperties !== undefined && s.unevaluatedProperties !== false) return 'declared';
        if (isObject(s.properties) || s.additionalProperties === false || s.unevaluatedProperties === false) return 'undeclared';
        const t = s.type;
        const types = typeof t === 'string' ? [t] : Array.isArray(t) ? t : undefined;
        return types && !types.includes('object') ? 'neutral' : 'free';
      }
      case 'all': {
        const rs = e.xs.map((x) => this.declared(x, key));
        if (rs.includes('declared')) return 'declared';
        if (rs.includes('undeclared')) return 'undeclared';
        return rs.includes('free') || rs.length === 0 ? 'free' : 'neutral';
      }
      case 'any': {
        const rs = e.xs.map((x) => this.declared(x, key));
        if (rs.includes('declared')) return 'declared';
        if (rs.includes('free')) return 'free';
        return rs.includes('undeclared') ? 'undeclared' : 'neutral';
      }
      case 'cond':
        return e.xs.some((x) => this.declared(x, key) === 'declared') ? 'declared' : 'neutral';
      case 'none':
        return 'neutral';
      default:
        return 'free';
    }
  }
}

function leaves(e: Expr): number {
  return e.k === 'all' || e.k === 'any' || e.k === 'cond' ? e.xs.reduce((n, x) => n + leaves(x), 0) : 1;
}

/** A combination, flattened and deduplicated, capped at {@link MAX_EXPR_LEAVES}. */
function mk(k: 'all' | 'any' | 'cond', xs: readonly Expr[]): Expr {
  const out: Expr[] = [];
  for (const x of xs) {
    const parts = x.k === k && k !== 'cond' ? (x as { xs: readonly Expr[] }).xs : [x];
    for (const p of parts) {
      if (k === 'all' && (p.k === 'unknown' || p.k === 'none')) continue; // identity of `all`
      if (k === 'any' && p.k === 'unknown') return UNKNOWN; // a branch that allows anything
      if (!out.includes(p)) out.push(p);
    }
  }
  if (k === 'all') {
    if (out.length === 0) return xs.some((x) => x.k === 'none') && xs.every((x) => x.k === 'none') ? NONE : UNKNOWN;
    if (out.length === 1) return out[0] as Expr;
  }
  if (k === 'any') {
    if (out.length === 0) return UNKNOWN;
    if (out.length === 1) return out[0] as Expr;
  }
  if (k === 'cond' && out.every((x) => x.k === 'unknown' || x.k === 'none')) return UNKNOWN;
  const e: Expr = { k, xs: out };
  return leaves(e) > MAX_EXPR_LEAVES ? UNKNOWN : e;
}

// ---------------------------------------------------------------------------------------
// Results

type Failure = Extract<BodyResult, { ok: false }>;

function fail(code: BodyErrorCode, reason: string, violations: Violation[]): Failure {
  return { ok: false, code, violations, reason };
}

function v(pointer: string, rule: string, expected: string): Violation {
  return { location: 'body', name: '', pointer, rule, expected };
}

/** Names remembered per expression: member names come from requests, so the memo is bounded. */
const MEMO_NAMES = 256;
/**
 * Expressions remembered per memo. Those of the document are few; a combination built for a
 * member name past MEMO_NAMES is new on each request, and must not be kept by the memo.
 */
const MEMO_EXPRS = 4096;

function memo<V>(store: Map<Expr, Map<string, V>>, e: Expr, key: string, compute: () => V): V {
  let names = store.get(e);
  const hit = names?.get(key);
  if (hit !== undefined) return hit;
  const value = compute();
  if (names === undefined) {
    if (store.size >= MEMO_EXPRS) return value;
    store.set(e, (names = new Map()));
  }
  if (names.size < MEMO_NAMES) names.set(key, value);
  return value;
}

function ptr(parent: string, key: string | number): string {
  return `${parent}/${escapePointerSegment(key)}`;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(buf: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(buf);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// JSON

/** Shared across the JSON values of one body (multipart JSON parts count together). */
interface JsonBudget {
  keys: number;
}

/**
 * The pre-scan's per-level state, allocated once and reused (typed arrays cost more to allocate
 * than a small body costs to scan; the scan is synchronous, so one set serves every request).
 * A level's slots are written when the scan enters it, before they are read.
 */
function newScratch(levels: number) {
  return { kind: new Uint8Array(levels), commas: new Int32Array(levels), keyStart: new Int32Array(levels), keyEnd: new Int32Array(levels) };
}
let scratch = newScratch(65);

/** Pointer of the container at `level` of the pre-scan (1 = the outermost), for a violation. */
function prescanPointer(buf: Uint8Array, level: number, base: string): string {
  const { kind, commas, keyStart, keyEnd } = scratch;
  let p = base;
  for (let d = 1; d < level; d++) {
    if (kind[d] === 2) {
      p = ptr(p, commas[d] as number);
    } else {
      let key = '?';
      try {
        const from = keyStart[d] as number;
        key = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + from, Math.min(keyEnd[d] as number, buf.length) - from).toString('utf8')) as string;
      } catch {
        /* invalid JSON: the parser will say so */
      }
      p = ptr(p, key);
    }
  }
  return p;
}

/**
 * Byte-level pre-scan of a JSON text, linear, no allocation (see `scratch`): nesting depth,
 * member count (whole body) and array length. Exact on valid JSON; invalid JSON is left to the
 * parser. UTF-8 never puts `"` or `\` inside a multi-byte sequence, so bytes suffice (and a
 * byte loop is about twice as fast as one over the decoded string).
 */
function jsonPrescan(buf: Uint8Array, start: number, limits: BodyLimits, budget: JsonBudget, base: string): Violation | undefined {
  const maxDepth = Math.max(1, limits.maxDepth);
  const maxKeys = limits.maxKeys;
  const maxArrayLength = limits.maxArrayLength;
  if (scratch.kind.length < maxDepth + 1) scratch = newScratch(maxDepth + 1);
  const { kind, commas, keyStart, keyEnd } = scratch;
  let depth = 0;
  let expectKey = false;
  let keys = budget.keys;
  const n = buf.length;
  for (let i = start; i < n; i++) {
    const c = buf[i] as number;
    if (c === 0x22) {
      let j = i + 1;
      while (j < n) {
        const d = buf[j] as number;
        if (d === 0x22) break;
        j += d === 0x5c ? 2 : 1;
      }
      if (expectKey) {
        keyStart[depth] = i;
        keyEnd[depth] = j + 1;
        if (++keys > maxKeys) {
          budget.keys = keys;
          return v(prescanPointer(buf, depth, base), 'maxKeys', `at most ${maxKeys} object members in the body`);
        }
        expectKey = false;
      }
      i = j;
    } else if (c === 0x2c) {
      // kind[0] stays 0: a comma outside any container counts nothing.
      if (kind[depth] === 1) expectKey = true;
      else if (kind[depth] === 2) {
        const count = (commas[depth] = (commas[depth] as number) + 1) + 1;
        if (count > maxArrayLength) return v(prescanPointer(buf, depth, base), 'maxArrayLength', `at most ${maxArrayLength} items in an array`);
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (depth >= maxDepth) return v(prescanPointer(buf, depth + 1, base), 'maxDepth', `nesting at most ${maxDepth} deep`);
      depth++;
      kind[depth] = c === 0x7b ? 1 : 2;
      commas[depth] = 0;
      keyStart[depth] = keyEnd[depth] = 0;
      expectKey = c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) {
      if (depth > 0) depth--;
      expectKey = false;
    }
  }
  budget.keys = keys;
  return undefined;
}

/**
 * The walk below without pointers, for the common case: no bound reached, no forbidden name.
 * Returns the member count, or undefined when the careful walk must run to name a violation.
 */
function jsonQuick(root: unknown, limits: BodyLimits, max: number): number | undefined {
  if (typeof root !== 'object' || root === null) return typeof root === 'string' && root.length > max ? undefined : 0;
  const stack: object[] = [root];
  let keys = 0;
  for (let value = stack.pop(); value !== undefined; value = stack.pop()) {
    if (Array.isArray(value)) {
      if (value.length > limits.maxArrayLength) return undefined;
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        if (typeof item === 'object' && item !== null) stack.push(item);
        else if (typeof item === 'string' && item.length > max) return undefined;
      }
    } else {
      const names = Object.keys(value);
      keys += names.length;
      if (keys > limits.maxKeys) return undefined;
      for (let i = 0; i < names.length; i++) {
        const name = names[i] as string;
        if (name.length > max || FORBIDDEN_KEYS.has(name)) return undefined;
        const child: unknown = (value as Record<string, unknown>)[name];
        if (typeof child === 'object' && child !== null) stack.push(child);
        else if (typeof child === 'string' && child.length > max) return undefined;
      }
    }
  }
  return keys;
}

/**
 * After parsing: string lengths (values and member names) and forbidden member names. Also
 * re-checks the counts (the pre-scan is exact on valid JSON; this makes it certain).
 * Iterative, so depth costs no stack.
 */
function jsonWalk(root: unknown, limits: BodyLimits, base: string, lengths: boolean): { limit?: Violation; forbidden: Violation[]; keys: number } {
  const forbidden: Violation[] = [];
  // Pointers are built only for a violation: a node knows its parent and its key.
  interface Node {
    readonly value: unknown;
    readonly parent: Node | undefined;
    readonly key: string | number;
  }
  const pointerOf = (n: Node | undefined, last?: string | number): string => {
    const keys: (string | number)[] = last === undefined ? [] : [last];
    for (let x = n; x !== undefined && x.parent !== undefined; x = x.parent) keys.push(x.key);
    let out = base;
    for (let i = keys.length - 1; i >= 0; i--) out = ptr(out, keys[i]!);
    return out;
  };
  const stack: Node[] = [{ value: root, parent: undefined, key: '' }];
  let keys = 0;
  // Without `lengths`, no string can exceed the bound: compare with a length none reaches.
  const max = lengths ? limits.maxStringLength : Number.MAX_SAFE_INTEGER;
  for (let top = stack.pop(); top; top = stack.pop()) {
    const value = top.value;
    if (typeof value === 'string') {
      if (value.length > max) return { limit: v(pointerOf(top), 'maxStringLength', `strings of at most ${max} characters`), forbidden, keys };
    } else if (Array.isArray(value)) {
      if (value.length > limits.maxArrayLength) return { limit: v(pointerOf(top), 'maxArrayLength', `at most ${limits.maxArrayLength} items in an array`), forbidden, keys };
      for (let i = value.length - 1; i >= 0; i--) {
        const item: unknown = value[i];
        if (typeof item === 'object' && item !== null) stack.push({ value: item, parent: top, key: i });
        else if (typeof item === 'string' && item.length > max) return { limit: v(pointerOf(top, i), 'maxStringLength', `strings of at most ${max} characters`), forbidden, keys };
      }
    } else if (isObject(value)) {
      const names = Object.keys(value);
      keys += names.length;
      if (keys > limits.maxKeys) return { limit: v(pointerOf(top), 'maxKeys', `at most ${limits.maxKeys} object members in the body`), forbidden, keys };
      for (let i = names.length - 1; i >= 0; i--) {
        const name = names[i] as string;
        if (name.length > max) return { limit: v(pointerOf(top, name), 'maxStringLength', `member names of at most ${max} characters`), forbidden, keys };
        if (FORBIDDEN_KEYS.has(name)) {
          if (forbidden.length < MAX_VIOLATIONS) forbidden.push(v(pointerOf(top, name), 'forbiddenKey', `no member named ${name}`));
          continue;
        }
        const child: unknown = value[name];
        if (typeof child === 'object' && child !== null) stack.push({ value: child, parent: top, key: name });
        else if (typeof child === 'string' && child.length > max) return { limit: v(pointerOf(top, name), 'maxStringLength', `strings of at most ${max} characters`), forbidden, keys };
      }
    }
  }
  return { forbidden, keys };
}

/** `declared`: the strict walk ran with the limits walk and found every member declared. */
type JsonRead = { ok: true; value: unknown; declared?: true } | Failure;

/**
 * `jsonQuick` and `allDeclared` in one walk, for a strict body whose typed inputs nobody reads:
 * the member count when every bound holds, no name is forbidden and every member is declared;
 * otherwise -1, and the two walks run apart (they name what is wrong, in their order).
 */
function quickDeclared(value: unknown, e: Expr, view: SchemaView, limits: BodyLimits, max: number, keys: number): number {
  if (Array.isArray(value)) {
    if (value.length > limits.maxArrayLength) return -1;
    const shared = view.hasTuple(e) ? undefined : view.element(e, 0);
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'object' && item !== null) {
        if ((keys = quickDeclared(item, shared ?? view.element(e, i), view, limits, max, keys)) < 0) return -1;
      } else if (typeof item === 'string' && item.length > max) return -1;
    }
    return keys;
  }
  const names = Object.keys(value as object);
  keys += names.length;
  if (keys > limits.maxKeys) return -1;
  const slots = view.slotsOf(e);
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    if (name.length > max || FORBIDDEN_KEYS.has(name)) return -1;
    const slot = view.slotIn(slots, e, name);
    if (slot.declared === 'undeclared') return -1;
    const child: unknown = (value as Record<string, unknown>)[name];
    if (typeof child === 'object' && child !== null) {
      if ((keys = quickDeclared(child, slot.expr, view, limits, max, keys)) < 0) return -1;
    } else if (typeof child === 'string' && child.length > max) return -1;
  }
  return keys;
}

/**
 * Pre-scan, parse, walk. `base` prefixes pointers (a multipart part's name). With `strict`
 * (a strict body whose typed inputs nobody reads), the walk also checks that every member is
 * declared, and says so in `declared`.
 */
function readJson(
  buf: Buffer,
  _contentType: string,
  limits: BodyLimits,
  budget: JsonBudget,
  base: string,
  notJson: BodyErrorCode,
  strict?: { readonly view: SchemaView; readonly root: Expr },
): JsonRead {
  // The content type was matched by the caller (JSON, UTF-8 or no charset). Strict UTF-8
  // first, then the text (one flat string, as long as the body) is pre-scanned for depth and
  // counts before JSON.parse builds anything; then syntax, and duplicate member names.
  if (!isUtf8(buf)) return fail(notJson, 'the body is not valid UTF-8', [v(base, 'encoding', 'UTF-8 text')]);
  const start = utf8BomLength(buf);
  const keysBefore = budget.keys;
  const over = jsonPrescan(buf, start, limits, budget, base);
  if (over) return fail('json_limits_exceeded', `the JSON body exceeds ${over.rule} at ${over.pointer || '/'}`, [over]);
  const scannedKeys = budget.keys - keysBefore;
  const text = buf.toString('utf8', start);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail(notJson, 'the body is not well-formed JSON', [v(base, 'json', 'a well-formed JSON text')]);
  }
  // No string of the text can be longer than the text.
  const lengths = text.length > limits.maxStringLength;
  const max = lengths ? limits.maxStringLength : Number.MAX_SAFE_INTEGER;
  if (strict !== undefined && typeof value === 'object' && value !== null && quickDeclared(value, strict.root, strict.view, limits, max, 0) === scannedKeys) {
    return { ok: true, value, declared: true };
  }
  const quick = jsonQuick(value, limits, max);
  if (quick !== undefined) {
    if (quick !== scannedKeys) return fail(notJson, 'the body has a duplicate member name', [v(base, 'duplicateKey', 'no duplicate member names')]);
    return { ok: true, value };
  }
  const walked = jsonWalk(value, limits, base, lengths);
  if (walked.limit) return fail('json_limits_exceeded', `the JSON body exceeds ${walked.limit.rule} at ${walked.limit.pointer || '/'}`, [walked.limit]);
  // JSON.parse keeps one member per name, so fewer members than the pre-scan counted means a
  // duplicate: two parsers could disagree on which one counts (smuggling a second value).
  // (Members under a forbidden name are not walked, so that refusal comes first.)
  if (walked.forbidden.length > 0) return fail('request_invalid', 'the body sets a forbidden member name (prototype pollution)', walked.forbidden);
  if (walked.keys !== scannedKeys) return fail(notJson, 'the body has a duplicate member name', [v(base, 'duplicateKey', 'no duplicate member names')]);
  return { ok: true, value };
}

// ---------------------------------------------------------------------------------------
// Form fields (urlencoded and multipart text parts)

/** JSON number grammar (no leading `+`, no `0x`, no `Infinity`), by hand. */
function isNumberText(s: string, integer: boolean): boolean {
  let i = 0;
  const n = s.length;
  if (s.charCodeAt(i) === 0x2d) i++;
  if (i >= n || !isDigit(s.charCodeAt(i))) return false;
  if (s.charCodeAt(i) === 0x30 && i + 1 < n && isDigit(s.charCodeAt(i + 1))) return false;
  while (i < n && isDigit(s.charCodeAt(i))) i++;
  if (i === n) return true;
  if (integer) return false;
  if (s.charCodeAt(i) === 0x2e) {
    i++;
    if (i >= n || !isDigit(s.charCodeAt(i))) return false;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
  }
  if (i < n && (s.charCodeAt(i) === 0x65 || s.charCodeAt(i) === 0x45)) {
    i++;
    if (s.charCodeAt(i) === 0x2b || s.charCodeAt(i) === 0x2d) i++;
    if (i >= n || !isDigit(s.charCodeAt(i))) return false;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
  }
  return i === n;
}

/** A form value as the declared type (form style); left a string when it is not one (ajv then says so). */
function coerce(text: string, type: string | undefined): unknown {
  switch (type) {
    case 'integer':
    case 'number': {
      if (!isNumberText(text, type === 'integer')) return text;
      const n = Number(text);
      return Number.isFinite(n) ? n : text;
    }
    case 'boolean':
      return text === 'true' ? true : text === 'false' ? false : text;
    default:
      return text;
  }
}

/** A field value, before it is put in the object: text (coerced later), a parsed JSON value, or a file. */
type FieldValue = { readonly t: 'text'; readonly text: string } | { readonly t: 'json'; readonly value: unknown } | { readonly t: 'file'; readonly file: FilePart };

interface Built {
  /** What later stages see. */
  readonly value: Record<string, unknown>;
  /** What the schema validates (file parts as strings of their size). */
  readonly check: Record<string, unknown>;
  /** Pointers of file parts (no typed input for them). */
  readonly files: Set<string>;
}

/** The object of fields, values coerced to the schema (repeated names are arrays). */
function buildFields(fields: ReadonlyMap<string, FieldValue[]>, view: SchemaView, root: Expr): Built {
  const value: Record<string, unknown> = {};
  const check: Record<string, unknown> = {};
  const files = new Set<string>();
  for (const [name, values] of fields) {
    const schema = view.member(root, name);
    const facet = view.facet(schema);
    const asArray = facet.type === 'array' || values.length > 1;
    const itemFacet = facet.type === 'array' ? view.facet(view.element(schema, 0)) : facet;
    const outV: unknown[] = [];
    const outC: unknown[] = [];
    values.forEach((fv, i) => {
      if (fv.t === 'text') {
        const c = coerce(fv.text, itemFacet.type);
        outV.push(c);
        outC.push(c);
      } else if (fv.t === 'json') {
        outV.push(fv.value);
        outC.push(fv.value);
      } else {
        outV.push(fv.file);
        outC.push('x'.repeat(fv.file.size));
        files.add(asArray ? ptr(ptr('', name), i) : ptr('', name));
      }
    });
    // Own data properties even for names like `toString` (forbidden names are refused before).
    Object.defineProperty(value, name, { value: asArray ? outV : outV[0], enumerable: true, writable: true, configurable: true });
    Object.defineProperty(check, name, { value: asArray ? outC : outC[0], enumerable: true, writable: true, configurable: true });
  }
  return { value, check, files };
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** `+` → space, `%XX` → byte, then strict UTF-8. Undefined for a bad escape or bad UTF-8. */
function formDecode(buf: Buffer, start: number, end: number): string | undefined {
  const out = Buffer.allocUnsafe(end - start);
  let o = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i] as number;
    if (c === 0x2b) out[o++] = 0x20;
    else if (c === 0x25) {
      const h = i + 2 < end ? hexValue(buf[i + 1] as number) : -1;
      const l = i + 2 < end ? hexValue(buf[i + 2] as number) : -1;
      if (h < 0 || l < 0) return undefined;
      out[o++] = (h << 4) | l;
      i += 2;
    } else out[o++] = c;
  }
  return decodeUtf8(out.subarray(0, o));
}

/**
 * One field name of a form body, its bracket syntax read: `a` and `a[]` give values, `a[k]`
 * gives members (deepObject). Values keep their raw byte span too, for non-exploded arrays
 * (`a=1,2`: split on the literal delimiter before decoding, as for query parameters).
 */
interface FormField {
  readonly values: { readonly text: string; readonly start: number; readonly end: number }[];
  /** Some value came as `a[]`. */
  appended: boolean;
  /** `a[k]=v`, in order of first appearance. */
  members: Map<string, string[]> | undefined;
}

type FormRead = { ok: true; fields: Map<string, FormField> } | Failure;

/**
 * A field name split at its bracket: `a` (member undefined), `a[]` (member ''), `a[k]`. One
 * level only; anything else (`a[`, `a]x`, `a[b][c]`, `[k]`) is malformed (undefined). Two
 * `indexOf`s, no regular expression.
 */
function splitFormName(name: string): { base: string; member: string | undefined } | undefined {
  const open = name.indexOf('[');
  if (open < 0) return { base: name, member: undefined };
  const close = name.indexOf(']', open + 1);
  if (open === 0 || close !== name.length - 1 || name.indexOf('[', open + 1) >= 0) return undefined;
  return { base: name.slice(0, open), member: name.slice(open + 1, close) };
}

function readForm(buf: Buffer, limits: BodyLimits): FormRead {
  const fields = new Map<string, FormField>();
  let pairs = 0;
  const forbidden: Violation[] = [];
  const n = buf.length;
  const notForm = (why: string, at: string, expected: string) => fail('request_invalid', `the form ${why}`, [v(at, 'style', expected)]);
  for (let start = 0; start <= n; ) {
    let end = buf.indexOf(0x26 /* & */, start);
    if (end < 0) end = n;
    if (end > start) {
      if (++pairs > limits.maxKeys) return fail('json_limits_exceeded', `the form has more than ${limits.maxKeys} fields`, [v('', 'maxKeys', `at most ${limits.maxKeys} fields`)]);
      // `=` searched inside this pair only: a body of `&`s without `=` stays linear.
      let eq = buf.subarray(start, end).indexOf(0x3d /* = */);
      eq = eq < 0 ? end : start + eq;
      const name = formDecode(buf, start, eq);
      const value = eq < end ? formDecode(buf, eq + 1, end) : '';
      if (name === undefined || value === undefined) return fail('request_invalid', 'the form is not well encoded (bad percent-escape or UTF-8)', [v('', 'encoding', 'percent-encoded UTF-8 (application/x-www-form-urlencoded)')]);
      if (name.length > limits.maxStringLength || value.length > limits.maxStringLength) {
        return fail('json_limits_exceeded', `a form field exceeds maxStringLength at ${ptr('', name)}`, [v(ptr('', name), 'maxStringLength', `strings of at most ${limits.maxStringLength} characters`)]);
      }
      const split = splitFormName(name);
      if (split === undefined) return notForm('has a malformed bracketed field name', ptr('', name), 'a field name, name[] or name[member] (one level)');
      const { base, member } = split;
      const here = ptr('', base);
      if (FORBIDDEN_KEYS.has(base) || (member !== undefined && FORBIDDEN_KEYS.has(member))) {
        const at = FORBIDDEN_KEYS.has(base) ? here : ptr(here, member as string);
        if (forbidden.length < MAX_VIOLATIONS && !forbidden.some((f) => f.pointer === at)) forbidden.push(v(at, 'forbiddenKey', `no field named ${FORBIDDEN_KEYS.has(base) ? base : member}`));
      } else {
        let f = fields.get(base);
        if (!f) fields.set(base, (f = { values: [], appended: false, members: undefined }));
        if (member === undefined || member === '') {
          if (f.members !== undefined) return notForm('sends a field both as a value and as an object', here, 'either name=… or name[member]=…');
          if (member === '') f.appended = true;
          f.values.push({ text: value, start: eq < end ? eq + 1 : end, end });
        } else {
          if (f.values.length > 0) return notForm('sends a field both as a value and as an object', here, 'either name=… or name[member]=…');
          f.members ??= new Map();
          let list = f.members.get(member);
          if (!list) f.members.set(member, (list = []));
          list.push(value);
        }
      }
    }
    start = end + 1;
  }
  if (forbidden.length > 0) return fail('request_invalid', 'the form sets a forbidden field name (prototype pollution)', forbidden);
  return { ok: true, fields };
}

/** `encoding.<name>.style` / `explode` of a form field (OpenAPI defaults: form, exploded). */
function formEncoding(encoding: unknown, name: string): { style: string; explode: boolean } {
  const e = isObject(encoding) && Object.hasOwn(encoding, name) ? encoding[name] : undefined;
  const style = isObject(e) && typeof e.style === 'string' ? e.style : 'form';
  const explode = isObject(e) && typeof e.explode === 'boolean' ? e.explode : style === 'form' || style === 'deepObject';
  return { style, explode };
}

/**
 * Raw bytes `[start, end)` split on a literal byte, each piece form-decoded (a space: split
 * after decoding, as `+` and `%20` both mean one). Undefined for a bad escape; 'over' past
 * `max` pieces (nothing after the bound is read).
 */
function splitRaw(buf: Buffer, start: number, end: number, sep: number, max: number): string[] | 'over' | undefined {
  if (sep === 0x20) {
    const text = formDecode(buf, start, end);
    if (text === undefined) return undefined;
    const out: string[] = [];
    for (let i = 0; ; ) {
      if (out.length >= max) return 'over';
      const j = text.indexOf(' ', i);
      out.push(text.slice(i, j < 0 ? text.length : j));
      if (j < 0) return out;
      i = j + 1;
    }
  }
  const out: string[] = [];
  for (let i = start; ; ) {
    if (out.length >= max) return 'over';
    let j = buf.subarray(i, end).indexOf(sep);
    j = j < 0 ? end : i + j;
    const piece = formDecode(buf, i, j);
    if (piece === undefined) return undefined;
    out.push(piece);
    if (j >= end) return out;
    i = j + 1;
  }
}

/**
 * The object of a form body, by the media type's `encoding`: `a[k]` members for deepObject
 * properties, repeated names (or `a[]`) for exploded arrays, one delimited value for
 * non-exploded ones (`form` `,`, `pipeDelimited` `|`, `spaceDelimited` space). Values are coerced
 * to the declared types.
 */
function buildForm(buf: Buffer, fields: ReadonlyMap<string, FormField>, view: SchemaView, root: Expr, encoding: unknown, limits: BodyLimits): (Built & { ok: true }) | Failure {
  const value: Record<string, unknown> = {};
  const bad: Violation[] = [];
  const refuse = (at: string, expected: string) => {
    if (bad.length < MAX_VIOLATIONS) bad.push(v(at, 'style', expected));
  };
  const list = (texts: readonly string[], schema: Expr): unknown => {
    const facet = view.facet(schema);
    const item = facet.type === 'array' ? view.facet(view.element(schema, 0)).type : facet.type;
    const out = texts.map((t) => coerce(t, item));
    return facet.type === 'array' || out.length > 1 ? out : out[0];
  };
  for (const [name, f] of fields) {
    const here = ptr('', name);
    const schema = view.member(root, name);
    const type = view.facet(schema).type;
    const enc = formEncoding(encoding, name);
    let out: unknown;
    if (f.members !== undefined) {
      if (type !== undefined && type !== 'object') {
        refuse(here, `${name} as a ${type}, not name[member]`);
        continue;
      }
      if (type === 'object' && enc.style !== 'deepObject') {
        refuse(here, `${name} as the contract serializes it (name[member] needs encoding style deepObject)`);
        continue;
      }
      const obj: Record<string, unknown> = {};
      for (const [k, texts] of f.members) Object.defineProperty(obj, k, { value: list(texts, view.member(schema, k)), enumerable: true, writable: true, configurable: true });
      out = obj;
    } else if (type === 'array') {
      const sep = enc.style === 'pipeDelimited' ? 0x7c : enc.style === 'spaceDelimited' ? 0x20 : 0x2c;
      if (enc.explode || enc.style === 'deepObject') {
        out = list(f.values.map((x) => x.text), schema);
      } else if (f.values.length > 1) {
        refuse(here, `one ${name} field with a delimited list (encoding explode: false)`);
        continue;
      } else {
        const only = f.values[0]!;
        // `,` and `|` split before decoding (`%2C` stays in its item); a space after.
        const texts = only.start === only.end ? [] : splitRaw(buf, only.start, only.end, sep, limits.maxArrayLength);
        if (texts === undefined) return fail('request_invalid', 'the form is not well encoded (bad percent-escape or UTF-8)', [v(here, 'encoding', 'percent-encoded UTF-8 (application/x-www-form-urlencoded)')]);
        if (texts === 'over') return fail('json_limits_exceeded', `a delimited form list exceeds maxArrayLength at ${here}`, [v(here, 'maxArrayLength', `at most ${limits.maxArrayLength} items in an array`)]);
        out = list(texts, schema);
      }
    } else {
      if (f.appended && type !== undefined) {
        refuse(here, `${name} as a ${type}, not name[]`);
        continue;
      }
      const texts = f.values.map((x) => x.text);
      out = f.appended ? texts.map((t) => coerce(t, undefined)) : list(texts, schema);
    }
    // Own data properties even for names like `toString` (forbidden names are refused before).
    Object.defineProperty(value, name, { value: out, enumerable: true, writable: true, configurable: true });
  }
  if (bad.length > 0) return fail('request_invalid', 'a form field does not follow the contract\'s serialization', bad);
  return { ok: true, value, check: value, files: new Set() };
}

// ---------------------------------------------------------------------------------------
// multipart/form-data (RFC 7578, RFC 2046 §5.1.1)

interface RawPart {
  readonly name: string;
  readonly filename: string | undefined;
  readonly contentType: string | undefined;
  readonly data: Buffer;
}

type MultipartRead = { ok: true; parts: RawPart[] } | Failure;

function malformed(why: string, pointer = ''): Failure {
  return fail('request_invalid', `malformed multipart body: ${why}`, [v(pointer, 'multipart', 'a well-formed multipart/form-data body (RFC 7578)')]);
}

/** RFC 2046 bchars: DIGIT / ALPHA / ' ( ) + _ , - . / : = ? and space (not last), 1 to 70. */
function validBoundary(b: string): boolean {
  if (b.length < 1 || b.length > 70 || b.endsWith(' ')) return false;
  for (let i = 0; i < b.length; i++) {
    const c = b.charCodeAt(i);
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || "'()+_,-./:=? ".includes(b[i] as string);
    if (!ok) return false;
  }
  return true;
}

/** RFC 8187 `filename*=UTF-8''percent%20encoded`. */
function extValue(s: string): string | undefined {
  const a = s.indexOf("'");
  const b = a < 0 ? -1 : s.indexOf("'", a + 1);
  if (b < 0) return undefined;
  const charset = s.slice(0, a).toLowerCase();
  if (charset !== 'utf-8') return undefined;
  return percentOnly(Buffer.from(s.slice(b + 1), 'latin1'));
}

/** Percent-decoding without `+` → space (RFC 3986), then strict UTF-8. */
function percentOnly(raw: Buffer): string | undefined {
  const out = Buffer.allocUnsafe(raw.length);
  let o = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as number;
    if (c === 0x25) {
      const h = i + 2 < raw.length ? hexValue(raw[i + 1] as number) : -1;
      const l = i + 2 < raw.length ? hexValue(raw[i + 2] as number) : -1;
      if (h < 0 || l < 0) return undefined;
      out[o++] = (h << 4) | l;
      i += 2;
    } else out[o++] = c;
  }
  return decodeUtf8(out.subarray(0, o));
}

function parsePartHeaders(block: Buffer): { name: string; filename: string | undefined; contentType: string | undefined } | string {
  const text = decodeUtf8(block);
  if (text === undefined) return 'part headers are not UTF-8';
  let disposition: string | undefined;
  let contentType: string | undefined;
  for (const line of text.split('\r\n')) {
    if (line.includes('\r') || line.includes('\n')) return 'bare CR or LF in part headers';
    if (line.length === 0) return 'empty header line';
    if (isOws(line.charCodeAt(0))) return 'folded part header';
    const colon = line.indexOf(':');
    if (colon <= 0) return 'part header without a colon';
    const name = line.slice(0, colon);
    for (let i = 0; i < name.length; i++) if (!isTchar(name.charCodeAt(i))) return 'bad part header name';
    const value = line.slice(colon + 1).trim();
    const lower = name.toLowerCase();
    if (lower === 'content-disposition') {
      if (disposition !== undefined) return 'repeated Content-Disposition';
      disposition = value;
    } else if (lower === 'content-type') {
      if (contentType !== undefined) return 'repeated Content-Type';
      contentType = value;
    } else if (lower === 'content-transfer-encoding') {
      const cte = value.toLowerCase();
      if (cte !== '7bit' && cte !== '8bit' && cte !== 'binary') return 'unsupported Content-Transfer-Encoding';
    }
  }
  if (disposition === undefined) return 'a part without Content-Disposition';
  let i = 0;
  while (i < disposition.length && isTchar(disposition.charCodeAt(i))) i++;
  if (disposition.slice(0, i).toLowerCase() !== 'form-data') return 'a part whose disposition is not form-data';
  const params = parseParams(disposition, i, true);
  if (!params) return 'malformed Content-Disposition parameters';
  const name = params.get('name');
  if (name === undefined) return 'a part without a name';
  let filename = params.get('filename');
  const ext = params.get('filename*');
  if (ext !== undefined) {
    const decoded = extValue(ext);
    if (decoded === undefined) return 'malformed filename*';
    filename = decoded;
  }
  if (contentType !== undefined && !parseMediaType(contentType)) return 'malformed part Content-Type';
  return { name, filename, contentType };
}

function readMultipart(body: Buffer, boundary: string, limits: BodyLimits): MultipartRead {
  const delim = Buffer.from(`--${boundary}`, 'latin1');
  const crlfDelim = Buffer.from(`\r\n--${boundary}`, 'latin1');
  let pos: number;
  if (body.subarray(0, delim.length).equals(delim)) pos = delim.length;
  else {
    const first = body.indexOf(crlfDelim);
    if (first < 0) return malformed('no boundary delimiter');
    pos = first + crlfDelim.length;
  }
  const parts: RawPart[] = [];
  const n = body.length;
  for (;;) {
    // After a delimiter: `--` closes, else optional padding and CRLF open a part.
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return { ok: true, parts };
    while (pos < n && isOws(body[pos] as number)) pos++;
    if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) return malformed(pos >= n ? 'no closing delimiter' : 'the boundary is followed by other characters');
    pos += 2;
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) return malformed('a part without headers');
    if (parts.length >= limits.maxParts) return fail('json_limits_exceeded', `the multipart body has more than ${limits.maxParts} parts`, [v('', 'maxParts', `at most ${limits.maxParts} parts`)]);
    const window = body.subarray(pos, Math.min(n, pos + MAX_PART_HEADER_BYTES + 4));
    const hdrEnd = window.indexOf('\r\n\r\n');
    if (hdrEnd < 0) return malformed(window.length > MAX_PART_HEADER_BYTES ? 'part headers too large' : 'unterminated part headers');
    const headers = parsePartHeaders(body.subarray(pos, pos + hdrEnd));
    if (typeof headers === 'string') return malformed(headers);
    const start = pos + hdrEnd + 4;
    const search = body.subarray(start, Math.min(n, start + limits.maxPartBytes + crlfDelim.length));
    const rel = search.indexOf(crlfDelim);
    const here = ptr('', headers.name);
    if (rel < 0) {
      if (start + limits.maxPartBytes + crlfDelim.length <= n) {
        return fail('json_limits_exceeded', `a multipart part exceeds maxPartBytes at ${here}`, [v(here, 'maxPartBytes', `parts of at most ${limits.maxPartBytes} bytes`)]);
      }
      return malformed('no closing delimiter', here);
    }
    if (rel > limits.maxPartBytes) return fail('json_limits_exceeded', `a multipart part exceeds maxPartBytes at ${here}`, [v(here, 'maxPartBytes', `parts of at most ${limits.maxPartBytes} bytes`)]);
    parts.push({ ...headers, data: body.subarray(start, start + rel) });
    pos = start + rel + crlfDelim.length;
  }
}

/**
 * The part type a property takes when its encoding names none (OpenAPI 3.x): binary
 * (`format: binary`, `contentEncoding`, `contentMediaType`) is `application/octet-stream`, which
 * any file type satisfies; an object (or an array of objects) is `application/json`; a
 * primitive is `text/plain`. A schema that says no type has no default.
 */
function defaultPartType(item: Facet): 'any' | 'json' | 'text' {
  if (item.binary) return 'any';
  if (item.type === 'object') return 'json';
  return item.type === 'string' || item.type === 'number' || item.type === 'integer' || item.type === 'boolean' ? 'text' : 'any';
}

/** Encoding `contentType` of a field: a comma-separated list of media types or ranges. */
function allowedTypes(encoding: unknown, name: string): MediaType[] | undefined {
  if (!isObject(encoding) || !Object.hasOwn(encoding, name)) return undefined;
  const e = encoding[name];
  if (!isObject(e) || typeof e.contentType !== 'string') return undefined;
  const out: MediaType[] = [];
  for (const t of e.contentType.split(',')) {
    const mt = parseMediaType(t.trim());
    if (mt) out.push(mt);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Compilation

const NO_POINTERS: ReadonlySet<string> = new Set();
const NO_INPUTS: readonly TypedInput[] = Object.freeze([]);

interface Entry {
  /** The key as written in the document. */
  readonly key: string;
  readonly range: MediaType;
  readonly schema: CompiledSchema | undefined;
  /** The schema could not be compiled: bodies of this media type are refused (fail closed). */
  readonly broken: boolean;
  readonly root: Expr;
  readonly encoding: unknown;
  /** The fast path for JSON bodies of this media type (json-direct.ts), when the schema is simple enough. */
  readonly direct: DirectValidator | undefined;
}

/** Typed inputs and undeclared members, in one walk of an accepted (or failing) value. */
interface Collect {
  readonly view: SchemaView;
  readonly strict: boolean;
  readonly wantInputs: boolean;
  readonly inputs: TypedInput[];
  readonly undeclared: Violation[];
  readonly skip: ReadonlySet<string>;
  readonly seen: ReadonlySet<string>;
}

function collect(c: Collect, value: unknown, e: Expr, pointer: string): void {
  if (c.skip.size > 0 && c.skip.has(pointer)) return;
  const view = c.view;
  if (Array.isArray(value)) {
    const shared = view.hasTuple(e) ? undefined : view.element(e, 0);
    let sharedFacet: Facet | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'object' && item !== null) collect(c, item, shared ?? view.element(e, i), `${pointer}/${i}`);
      else if (c.wantInputs && c.inputs.length < MAX_INPUTS) {
        const here = `${pointer}/${i}`;
        if (c.skip.size > 0 && c.skip.has(here)) continue;
        pushInput(c, here, shared === undefined ? view.facet(view.element(e, i)) : (sharedFacet ??= view.facet(shared)));
      }
    }
  } else if (isObject(value)) {
    const slots = view.slotsOf(e);
    for (const key of Object.keys(value)) {
      const slot = view.slotIn(slots, e, key);
      if (c.strict && slot.declared === 'undeclared') {
        const here = ptr(pointer, key);
        if (c.undeclared.length < MAX_VIOLATIONS && !c.seen.has(here)) c.undeclared.push(v(here, 'undeclared', `no member ${key} (not declared in the contract)`));
        continue;
      }
      const child: unknown = value[key];
      if (typeof child === 'object' && child !== null) collect(c, child, slot.expr, `${pointer}/${slot.segment}`);
      else if (c.wantInputs && c.inputs.length < MAX_INPUTS) {
        const here = `${pointer}/${slot.segment}`;
        if (c.skip.size === 0 || !c.skip.has(here)) pushInput(c, here, slot.facet);
      }
    }
  } else if (c.wantInputs && c.inputs.length < MAX_INPUTS) {
    pushInput(c, pointer, view.facet(e));
  }
}

/** Whether every member of `value` (at any depth) is declared by its schema: `collect`'s strict check as a yes/no. */
function allDeclared(view: SchemaView, value: unknown, e: Expr): boolean {
  if (Array.isArray(value)) {
    const shared = view.hasTuple(e) ? undefined : view.element(e, 0);
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'object' && item !== null && !allDeclared(view, item, shared ?? view.element(e, i))) return false;
    }
  } else if (isObject(value)) {
    const keys = Object.keys(value);
    const slots = view.slotsOf(e);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string;
      const slot = view.slotIn(slots, e, key);
      if (slot.declared === 'undeclared') return false;
      const child: unknown = value[key];
      if (typeof child === 'object' && child !== null && !allDeclared(view, child, slot.expr)) return false;
    }
  }
  return true;
}

function pushInput(c: Collect, name: string, f: Facet): void {
  c.inputs.push({ location: 'body', name, type: f.type, format: f.format, enumerated: f.enumerated, patterned: f.patterned });
}

export function compileBody(
  spec: LoadedSpec,
  op: Pick<ApiOperation, 'pointer'>,
  compiler: SchemaCompiler,
  opts: BodyOptions,
): { validator: BodyValidator | undefined; problems: { severity: 'error' | 'warning'; message: string }[] } {
  const problems: BodyProblem[] = [];
  const resolver = SchemaResolver.of(spec);
  const view = new SchemaView(resolver);
  const done = (validator: BodyValidator | undefined) => {
    for (const p of resolver.problems) problems.push({ severity: p.severity, message: `${p.at || '/'}: ${p.message}` });
    return { validator, problems };
  };
  const opAt = resolver.at(op.pointer);
  if (!opAt || !isObject(opAt.value)) {
    problems.push({ severity: 'error', message: `${op.pointer || '/'}: expected an Operation object` });
    return done(undefined);
  }
  if (opAt.value.requestBody === undefined) return done(undefined);
  const rb = resolver.deref(opAt.value.requestBody, `${opAt.at}/requestBody`, opAt.file);
  if (!rb || !isObject(rb.value)) {
    problems.push({ severity: 'error', message: `${resolver.where(opAt.file, `${opAt.at}/requestBody`)}: the request body cannot be read; every body is refused` });
    return done(refuseAll());
  }
  const required = rb.value.required === true;
  const entries: Entry[] = [];
  const content = rb.value.content;
  const contentAt = `${rb.at}/content`;
  if (!isObject(content) || Object.keys(content).length === 0) {
    problems.push({ severity: 'error', message: `${resolver.where(rb.file, contentAt)}: the request body declares no media type; every body is refused` });
  } else {
    for (const [key, raw] of Object.entries(content)) {
      const keyAt = `${contentAt}/${escapePointerSegment(key)}`;
      const range = parseMediaType(key);
      if (!range || (range.type === '*' && range.subtype !== '*')) {
        problems.push({ severity: 'warning', message: `${resolver.where(rb.file, keyAt)}: ${JSON.stringify(key)} is not a media type; it matches no request` });
        continue;
      }
      if (entries.some((e) => e.range.base === range.base)) {
        problems.push({ severity: 'warning', message: `${resolver.where(rb.file, keyAt)}: ${range.base} is declared twice (parameters do not count); the first one is used` });
        continue;
      }
      const media = resolver.deref(raw, keyAt, rb.file);
      let schema: CompiledSchema | undefined;
      let broken = false;
      let root: Expr = UNKNOWN;
      let encoding: unknown;
      if (!media || !isObject(media.value)) {
        broken = true;
        problems.push({ severity: 'error', message: `${resolver.where(rb.file, keyAt)}: the media type object cannot be read; bodies of this type are refused` });
      } else if (media.value.schema !== undefined) {
        const schemaAt = `${media.at}/schema`;
        try {
          schema = compiler.compile(media.file, schemaAt);
        } catch (err) {
          broken = true;
          problems.push({ severity: 'error', message: `${resolver.where(media.file, schemaAt)}: the schema cannot be compiled (${(err as Error).message.slice(0, 300)}); bodies of this type are refused` });
        }
        root = view.expand(media.value.schema, schemaAt, media.file);
        view.prewalk(root, MAX_PREWALK);
        encoding = media.value.encoding;
        if (isObject(encoding)) {
          for (const [name, enc] of Object.entries(encoding)) {
            if (!isObject(enc) || enc.contentType === undefined) continue;
            const ok = typeof enc.contentType === 'string' && enc.contentType.split(',').every((t) => parseMediaType(t.trim()) !== undefined);
            if (!ok) problems.push({ severity: 'warning', message: `${resolver.where(media.file, `${media.at}/encoding/${escapePointerSegment(name)}/contentType`)}: expected a comma-separated list of media types; parts named ${JSON.stringify(name)} whose type is not listed are refused` });
          }
        }
        const specific = range.type !== '*' && range.subtype !== '*';
        if (specific && kindOf(range) === 'opaque') {
          problems.push({ severity: 'warning', message: `${resolver.where(media.file, schemaAt)}: bodies of ${range.base} are checked for their media type only; the schema is not applied` });
        }
      }
      const direct = schema !== undefined && !broken && media !== undefined && isObject(media.value) ? compileDirect(resolver, media.value.schema, `${media.at}/schema`, media.file, (name) => compiler.stringFormat(name)) : undefined;
      entries.push({ key, range, schema, broken, root, encoding, direct });
    }
  }
  const mediaTypes = Object.freeze(entries.map((e) => e.key));
  const { strict, limits } = opts;

  const declared = () => `one of the declared media types: ${mediaTypes.join(', ') || 'none'}`;
  const match = (mt: MediaType): Entry | undefined =>
    entries.find((e) => e.range.base === mt.base) ?? entries.find((e) => e.range.subtype === '*' && e.range.type === mt.type) ?? entries.find((e) => e.range.type === '*');

  /**
   * Schema, strict members, typed inputs: the common end of every structured body.
   * `declared`: the JSON reader already found every member declared (see quickDeclared).
   */
  const finish = (entry: Entry, value: unknown, check: unknown, skip: ReadonlySet<string>, out: Violation[], wantInputs: boolean, declared = false): BodyResult => {
    if (entry.schema) entry.schema.validate(check, 'body', '', out);
    // Valid, and nobody reads typed inputs: strict mode needs only a yes/no walk (no pointers,
    // no inputs); the careful walk below runs only to name undeclared members.
    if (out.length === 0 && !wantInputs && skip.size === 0 && (!strict || declared || allDeclared(view, check, entry.root))) return { ok: true, value, inputs: NO_INPUTS };
    const c: Collect = { view, strict, wantInputs: wantInputs && out.length === 0, inputs: [], undeclared: [], skip, seen: out.length === 0 ? NO_POINTERS : new Set(out.map((x) => x.pointer)) };
    collect(c, check, entry.root, '');
    for (const u of c.undeclared) if (out.length < MAX_VIOLATIONS) out.push(u);
    if (out.length > 0) return fail('request_invalid', `the body does not match the contract (${out.length} violation${out.length === 1 ? '' : 's'})`, out);
    return { ok: true, value, inputs: c.inputs };
  };

  const validator: BodyValidator = {
    required,
    mediaTypes,
    validate(contentType, body, want = WANT_ALL) {
      const wantInputs = want.inputs !== false;
      const wantValue = want.value !== false;
      if (body.length === 0) {
        return required ? fail('request_invalid', 'the request body is required', [v('', 'required', 'a request body')]) : { ok: true, value: undefined, inputs: NO_INPUTS };
      }
      const mt = contentType === undefined || contentType.trim() === '' ? OCTET_STREAM : requestMediaType(contentType);
      if (!mt) return fail('unsupported_media_type', 'the Content-Type is not a media type', [v('', 'contentType', declared())]);
      const entry = match(mt);
      if (!entry) return fail('unsupported_media_type', `the media type ${mt.base.slice(0, 100)} is not declared for this operation`, [v('', 'contentType', declared())]);
      const kind = kindOf(mt);
      if (isTextual(mt, kind) && !isUtf8Charset(mt)) return fail('unsupported_media_type', 'text bodies must be UTF-8', [v('', 'charset', 'charset=utf-8 (or none)')]);
      if (entry.broken) return fail('request_invalid', 'the contract for this media type cannot be applied', [v('', 'schema', 'a contract that can be applied')]);
      switch (kind) {
        case 'json': {
          // Nobody reads the parsed value: a simple schema is checked on the bytes (json-direct.ts),
          // which also lists the typed inputs when detection wants them; whatever it does not
          // accept goes the full way, which decides.
          if (!wantValue && entry.direct !== undefined) {
            const inputs = wantInputs ? { list: [] as TypedInput[], max: MAX_INPUTS } : undefined;
            if (entry.direct.accepts(body, utf8BomLength(body), limits, inputs)) return { ok: true, value: undefined, inputs: inputs?.list ?? NO_INPUTS };
          }
          const read = readJson(body, `application/json`, limits, { keys: 0 }, '', 'body_not_json', strict && !wantInputs ? { view, root: entry.root } : undefined);
          if (!read.ok) return read;
          return finish(entry, read.value, read.value, NO_POINTERS, [], wantInputs, read.declared === true);
        }
        case 'form': {
          const read = readForm(body, limits);
          if (!read.ok) return read;
          const built = buildForm(body, read.fields, view, entry.root, entry.encoding, limits);
          if (!built.ok) return built;
          return finish(entry, built.value, built.check, built.files, [], wantInputs);
        }
        case 'multipart': {
          const boundary = mt.params.get('boundary');
          if (boundary === undefined || !validBoundary(boundary)) return malformed('missing or invalid boundary parameter');
          const read = readMultipart(body, boundary, limits);
          if (!read.ok) return read;
          const fields = new Map<string, FieldValue[]>();
          const budget: JsonBudget = { keys: 0 };
          const bad: Violation[] = [];
          for (const part of read.parts) {
            const here = ptr('', part.name);
            if (FORBIDDEN_KEYS.has(part.name)) {
              if (bad.length < MAX_VIOLATIONS && !bad.some((b) => b.pointer === here)) bad.push(v(here, 'forbiddenKey', `no part named ${part.name}`));
              continue;
            }
            const schema = view.member(entry.root, part.name);
            const facet = view.facet(schema);
            const itemFacet = facet.type === 'array' ? view.facet(view.element(schema, 0)) : facet;
            const isFile = part.filename !== undefined || itemFacet.binary;
            const partType = part.contentType !== undefined ? parseMediaType(part.contentType) : undefined;
            const allowed = allowedTypes(entry.encoding, part.name);
            if (allowed) {
              const effective = partType ?? (parseMediaType(isFile ? 'application/octet-stream' : 'text/plain') as MediaType);
              if (!allowed.some((a) => inRange(effective, a))) {
                if (bad.length < MAX_VIOLATIONS) bad.push(v(here, 'contentType', `a part of type ${allowed.map((a) => a.base).join(', ')}`));
                continue;
              }
            } else if (partType !== undefined) {
              // No encoding contentType: the OpenAPI default of the property's schema. A part
              // without Content-Type is taken as that default.
              const def = defaultPartType(itemFacet);
              if ((def === 'json' && kindOf(partType) !== 'json') || (def === 'text' && partType.base !== 'text/plain')) {
                if (bad.length < MAX_VIOLATIONS) bad.push(v(here, 'contentType', `a part of type ${def === 'json' ? 'application/json (the default for an object property)' : 'text/plain (the default for a primitive property)'}`));
                continue;
              }
            }
            let fv: FieldValue;
            if (isFile) {
              fv = { t: 'file', file: { filename: part.filename, contentType: part.contentType, size: part.data.length } };
            } else {
              if (partType && !isUtf8Charset(partType)) return fail('request_invalid', 'a text part is not UTF-8', [v(here, 'charset', 'charset=utf-8 (or none)')]);
              // Objects are JSON by default; other parts when the encoding lists a JSON type and the part says so.
              if (itemFacet.type === 'object' || (allowed !== undefined && partType !== undefined && kindOf(partType) === 'json')) {
                const json = readJson(part.data, 'application/json', limits, budget, here, 'request_invalid');
                if (!json.ok) return json;
                fv = { t: 'json', value: json.value };
              } else {
                const text = decodeUtf8(part.data);
                if (text === undefined) return fail('request_invalid', 'a text part is not UTF-8', [v(here, 'encoding', 'UTF-8 text')]);
                if (text.length > limits.maxStringLength) return fail('json_limits_exceeded', `a text part exceeds maxStringLength at ${here}`, [v(here, 'maxStringLength', `strings of at most ${limits.maxStringLength} characters`)]);
                fv = { t: 'text', text };
              }
            }
            let list = fields.get(part.name);
            if (!list) fields.set(part.name, (list = []));
            list.push(fv);
          }
          if (bad.length > 0) return fail('request_invalid', 'a part is not allowed by the contract', bad);
          const built = buildFields(fields, view, entry.root);
          return finish(entry, built.value, built.check, built.files, [], wantInputs);
        }
        case 'text': {
          const text = decodeUtf8(body);
          if (text === undefined) return fail('request_invalid', 'the body is not UTF-8', [v('', 'encoding', 'UTF-8 text')]);
          return finish(entry, text, text, NO_POINTERS, [], wantInputs);
        }
        default: {
          if (mt.type !== 'text') return { ok: true, value: undefined, inputs: NO_INPUTS };
          const text = decodeUtf8(body);
          if (text === undefined) return fail('request_invalid', 'the body is not UTF-8', [v('', 'encoding', 'UTF-8 text')]);
          return { ok: true, value: text, inputs: NO_INPUTS };
        }
      }
    },
  };
  return done(validator);

  function refuseAll(): BodyValidator {
    return {
      required: true,
      mediaTypes: [],
      validate: () => fail('request_invalid', 'the contract for this request body cannot be applied', [v('', 'schema', 'a contract that can be applied')]),
    };
  }
}
