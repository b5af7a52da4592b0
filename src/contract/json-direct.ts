/**
 * Direct validation of a JSON body against a simple schema, on the bytes, without building the
 * value: the fast path of the body stage for the common request body (an object of declared
 * members: strings, numbers, booleans, nested objects and arrays of them).
 *
 * It only ever *accepts*. Anything it does not read with certainty (an escape or a non-ASCII
 * byte in a string, an undeclared or repeated member, a value of another type, a bound of the
 * JSON limits reached, a keyword outside its subset) answers `false`, and the body stage runs
 * its full path (pre-scan, `JSON.parse`, limits, ajv, strict walk), which decides and names
 * the violations. So an accepted body is one the full path accepts: the grammar is JSON's
 * (RFC 8259, as `JSON.parse` reads it), and each keyword is checked as ajv checks it (the same
 * pattern flags, the same format functions, code-point lengths, finite numbers).
 *
 * A schema is compiled only when every keyword it uses (through `$ref`s, without cycles) is in
 * the subset: `type` (one of object, array, string, number, integer, boolean), `properties`,
 * `required`, `additionalProperties` (any: undeclared members are never accepted here),
 * `items` (one schema), `minItems`, `maxItems`, `minLength`, `maxLength`, `pattern`, `format`
 * (string formats ajv knows), `enum` (of strings), `minimum`, `maximum`, numeric
 * `exclusiveMinimum`/`exclusiveMaximum`, and annotations. Anything else: no fast path.
 */
import { escapePointerSegment, isObject, type SchemaResolver } from '../access/schema-resolve.js';
import type { TypedInput } from './schema-compiler.js';

/** What the full path also enforces, given here so that the fast path never accepts past them. */
export interface DirectLimits {
  readonly maxDepth: number;
  readonly maxKeys: number;
  readonly maxArrayLength: number;
  readonly maxStringLength: number;
}

/** Where the typed inputs of an accepted body go, and how many at most (as the full path). */
export interface DirectInputs {
  readonly list: TypedInput[];
  readonly max: number;
}

export interface DirectValidator {
  /**
   * True only when the body at `buf[start..]` is valid JSON that the full path would accept.
   * With `inputs`, the typed values (numbers, integers, booleans, enum members, strings with a
   * format) are listed there as the full path lists them; free strings are not.
   */
  accepts(buf: Uint8Array, start: number, limits: DirectLimits, inputs?: DirectInputs): boolean;
}

/** What the full path records of a typed value (TypedInput without location and name). */
type Facet = Pick<TypedInput, 'type' | 'format' | 'enumerated' | 'patterned'>;

type StringTest = (s: string) => boolean;

type Node =
  | { readonly t: 'object'; readonly props: readonly Prop[]; readonly byLength: readonly (readonly Prop[] | undefined)[]; readonly required: number }
  | { readonly t: 'array'; readonly items: Node; readonly min: number; readonly max: number }
  | {
      readonly t: 'string';
      readonly min: number;
      readonly max: number;
      readonly tests: readonly StringTest[];
      readonly enumerated: ReadonlySet<string> | undefined;
      /** Recorded as a typed input (an enum or a format); undefined for free text. */
      readonly facet: Facet | undefined;
    }
  | { readonly t: 'number' | 'integer'; readonly min: number; readonly max: number; readonly xmin: number; readonly xmax: number; readonly facet: Facet }
  | { readonly t: 'boolean'; readonly facet: Facet };

interface Prop {
  readonly name: Buffer;
  /** The name as a JSON pointer segment. */
  readonly segment: string;
  readonly bit: number;
  readonly node: Node;
}

/** Keywords that change nothing about validity. */
const ANNOTATIONS = new Set(['description', 'title', 'example', 'examples', 'default', 'deprecated', '$comment', 'externalDocs', 'xml']);
const KEYWORDS: Readonly<Record<string, ReadonlySet<string>>> = {
  object: new Set(['type', 'properties', 'required', 'additionalProperties']),
  array: new Set(['type', 'items', 'minItems', 'maxItems']),
  string: new Set(['type', 'minLength', 'maxLength', 'pattern', 'format', 'enum']),
  number: new Set(['type', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']),
  integer: new Set(['type', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']),
  boolean: new Set(['type']),
};
/**
 * Member (and form field) names refused anywhere in a body (prototype pollution). One list for
 * the full path (body.ts) and this one: a name the full path refuses is never accepted here.
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Length of a UTF-8 byte order mark at the start of `buf` (3), or 0: skipped before the JSON text. */
export function utf8BomLength(buf: Uint8Array): number {
  return buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
}
/** Members per object the `required`/seen bit masks hold. */
const MAX_PROPS = 30;
const MAX_NODES = 2000;

class Unsupported extends Error {}

function nonNegInt(v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Unsupported();
  return v;
}

function finiteOr(v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Unsupported();
  return v;
}

/**
 * The direct validator of the schema at `at` in `file`, or undefined when the schema uses
 * anything outside the subset. `format` gives ajv's test for a string format (undefined when
 * ajv does not know it as a string format).
 */
export function compileDirect(
  resolver: SchemaResolver,
  schema: unknown,
  at: string,
  file: string,
  format: (name: string) => StringTest | undefined,
): DirectValidator | undefined {
  let nodes = 0;
  const active = new Set<unknown>();
  const build = (value: unknown, where: string, inFile: string): Node => {
    if (++nodes > MAX_NODES || !isObject(value)) throw new Unsupported();
    if (Object.hasOwn(value, '$ref')) {
      // A $ref with other keywords (3.1) applies both: not in the subset.
      for (const k of Object.keys(value)) if (k !== '$ref' && !ANNOTATIONS.has(k) && !k.startsWith('x-')) throw new Unsupported();
      if (active.has(value)) throw new Unsupported(); // recursive
      const t = resolver.target(value.$ref, where, inFile);
      if (t === undefined) throw new Unsupported();
      active.add(value);
      try {
        return build(t.value, t.at, t.file);
      } finally {
        active.delete(value);
      }
    }
    const type = value.type;
    if (typeof type !== 'string' || !Object.hasOwn(KEYWORDS, type)) throw new Unsupported();
    const allowed = KEYWORDS[type]!;
    for (const k of Object.keys(value)) if (!allowed.has(k) && !ANNOTATIONS.has(k) && !k.startsWith('x-')) throw new Unsupported();
    switch (type) {
      case 'object': {
        const properties = value.properties ?? {};
        if (!isObject(properties)) throw new Unsupported();
        const names = Object.keys(properties);
        if (names.length > MAX_PROPS) throw new Unsupported();
        const props: Prop[] = names.map((name, bit) => {
          if (FORBIDDEN_KEYS.has(name)) throw new Unsupported();
          // Only names that arrive without escapes can match (the reader gives up on an escape).
          for (let i = 0; i < name.length; i++) {
            const c = name.charCodeAt(i);
            if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) throw new Unsupported();
          }
          return { name: Buffer.from(name, 'latin1'), segment: escapePointerSegment(name), bit, node: build(properties[name], `${where}/properties/${escapePointerSegment(name)}`, inFile) };
        });
        let required = 0;
        const req = value.required ?? [];
        if (!Array.isArray(req)) throw new Unsupported();
        for (const r of req) {
          const p = props.find((x) => x.name.toString('latin1') === r);
          // A required member that is not declared cannot be sent in strict mode; not here.
          if (typeof r !== 'string' || p === undefined) throw new Unsupported();
          required |= 1 << p.bit;
        }
        const byLength: Prop[][] = [];
        for (const p of props) (byLength[p.name.length] ??= []).push(p);
        return { t: 'object', props, byLength, required };
      }
      case 'array': {
        if (!isObject(value.items)) throw new Unsupported();
        return { t: 'array', items: build(value.items, `${where}/items`, inFile), min: nonNegInt(value.minItems, 0), max: nonNegInt(value.maxItems, Number.MAX_SAFE_INTEGER) };
      }
      case 'string': {
        const tests: StringTest[] = [];
        if (value.pattern !== undefined) {
          if (typeof value.pattern !== 'string') throw new Unsupported();
          // As ajv compiles it (unicodeRegExp: true).
          const re = new RegExp(value.pattern, 'u');
          tests.push((s) => re.test(s));
        }
        if (value.format !== undefined) {
          const f = typeof value.format === 'string' ? format(value.format) : undefined;
          if (f === undefined) throw new Unsupported();
          tests.push(f);
        }
        let enumerated: Set<string> | undefined;
        if (value.enum !== undefined) {
          if (!Array.isArray(value.enum) || !value.enum.every((x) => typeof x === 'string')) throw new Unsupported();
          enumerated = new Set(value.enum as string[]);
        }
        const fmt = typeof value.format === 'string' ? value.format : undefined;
        const facet = enumerated !== undefined || fmt !== undefined ? { type: 'string', format: fmt, enumerated: enumerated !== undefined, patterned: value.pattern !== undefined } : undefined;
        return { t: 'string', min: nonNegInt(value.minLength, 0), max: nonNegInt(value.maxLength, Number.MAX_SAFE_INTEGER), tests, enumerated, facet };
      }
      case 'number':
      case 'integer':
        return {
          t: type,
          min: finiteOr(value.minimum, -Infinity),
          max: finiteOr(value.maximum, Infinity),
          xmin: finiteOr(value.exclusiveMinimum, -Infinity),
          xmax: finiteOr(value.exclusiveMaximum, Infinity),
          facet: { type, format: undefined, enumerated: false, patterned: false },
        };
      default:
        return { t: 'boolean', facet: { type: 'boolean', format: undefined, enumerated: false, patterned: false } };
    }
  };
  let root: Node;
  try {
    root = build(schema, at, file);
  } catch (err) {
    if (err instanceof Unsupported || err instanceof SyntaxError) return undefined;
    throw err;
  }
  return { accepts: (buf, start, limits, inputs) => new Reader(buf, start, limits, inputs).document(root) };
}

/** Per byte inside a string: 0 printable ASCII, 1 the closing quote, 2 anything this reader leaves to the full path (controls, `\`, DEL, non-ASCII). */
const STRING_BYTE = new Uint8Array(256).map((_, c) => (c === 0x22 ? 1 : c < 0x20 || c > 0x7e || c === 0x5c ? 2 : 0));

const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];

/** Bytes known to be ASCII as a string (Buffer's latin1Slice, without toString's argument checks). */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;
function latin1(buf: Uint8Array, start: number, end: number): string {
  return latin1Slice.call(buf, start, end);
}

/** An ASCII digit (a char code); shared by the contract's hand-written readers. */
export function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** One pass over the bytes; every method answers false as soon as anything is unusual. */
class Reader {
  private i: number;
  private readonly n: number;
  private depth = 0;
  private keys = 0;
  /** The value of the number just read when it is a short non-negative integer, else -1. */
  private integral = -1;

  /** Pointer segments from the root to the value being read (kept only when inputs are listed). */
  private readonly path: string[] = [];

  constructor(
    private readonly buf: Uint8Array,
    start: number,
    private readonly limits: DirectLimits,
    private readonly inputs: DirectInputs | undefined,
  ) {
    this.i = start;
    this.n = buf.length;
  }

  /** Lists the value just read with its facet, as the full path does (up to its maximum). */
  private record(facet: Facet | undefined): void {
    const inputs = this.inputs;
    if (facet === undefined || inputs === undefined || inputs.list.length >= inputs.max) return;
    const name = this.path.length === 0 ? '' : '/' + this.path.join('/');
    inputs.list.push({ location: 'body', name, type: facet.type, format: facet.format, enumerated: facet.enumerated, patterned: facet.patterned });
  }

  document(root: Node): boolean {
    this.ws();
    if (!this.value(root)) return false;
    this.ws();
    return this.i === this.n;
  }

  private ws(): void {
    const b = this.buf;
    let i = this.i;
    while (i < this.n) {
      const c = b[i]!;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      i++;
    }
    this.i = i;
  }

  private value(node: Node): boolean {
    switch (node.t) {
      case 'object':
        return this.object(node);
      case 'array':
        return this.array(node);
      case 'string': {
        const end = this.string();
        if (end < 0) return false;
        const len = end - this.i - 2;
        const from = this.i + 1;
        this.i = end;
        if (len > this.limits.maxStringLength || len < node.min || len > node.max) return false;
        if (node.enumerated === undefined && node.tests.length === 0) return true;
        this.record(node.facet);
        const s = latin1(this.buf, from, from + len);
        if (node.enumerated !== undefined && !node.enumerated.has(s)) return false;
        const tests = node.tests;
        for (let k = 0; k < tests.length; k++) if (!tests[k]!(s)) return false;
        return true;
      }
      case 'number':
      case 'integer': {
        const from = this.i;
        if (!this.number()) return false;
        const x = this.integral >= 0 ? this.integral : Number(latin1(this.buf, from, this.i));
        if (!Number.isFinite(x) || (node.t === 'integer' && !Number.isInteger(x))) return false;
        this.record(node.facet);
        return x >= node.min && x <= node.max && x > node.xmin && x < node.xmax;
      }
      default:
        this.record(node.facet);
        return this.literal(this.buf[this.i] === 0x74 ? TRUE : FALSE);
    }
  }

  private literal(word: readonly number[]): boolean {
    if (this.i + word.length > this.n) return false;
    for (let k = 0; k < word.length; k++) if (this.buf[this.i + k] !== word[k]) return false;
    this.i += word.length;
    return true;
  }

  /** The index after the closing quote of a string of printable ASCII without escapes at `i`, or -1. */
  private string(): number {
    const b = this.buf;
    if (b[this.i] !== 0x22) return -1;
    for (let j = this.i + 1; j < this.n; j++) {
      const k = STRING_BYTE[b[j]!]!;
      if (k !== 0) return k === 1 ? j + 1 : -1;
    }
    return -1;
  }

  /** JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
  private number(): boolean {
    const b = this.buf;
    let i = this.i;
    const negative = b[i] === 0x2d;
    if (negative) i++;
    const digits = i;
    if (b[i] === 0x30) i++;
    else if (i < this.n && b[i]! >= 0x31 && b[i]! <= 0x39) while (i < this.n && isDigit(b[i]!)) i++;
    else return false;
    // A non-negative integer of at most 15 digits is its own value (exact in a double); anything
    // else is converted by Number(), as JSON.parse converts it.
    this.integral = -1;
    if (!negative && i - digits <= 15 && b[i] !== 0x2e && b[i] !== 0x65 && b[i] !== 0x45) {
      let x = 0;
      for (let k = digits; k < i; k++) x = x * 10 + (b[k]! - 0x30);
      this.integral = x;
      this.i = i;
      return true;
    }
    if (b[i] === 0x2e) {
      i++;
      if (!(i < this.n && isDigit(b[i]!))) return false;
      while (i < this.n && isDigit(b[i]!)) i++;
    }
    if (b[i] === 0x65 || b[i] === 0x45) {
      i++;
      if (b[i] === 0x2b || b[i] === 0x2d) i++;
      if (!(i < this.n && isDigit(b[i]!))) return false;
      while (i < this.n && isDigit(b[i]!)) i++;
    }
    this.i = i;
    return true;
  }

  private object(node: Extract<Node, { t: 'object' }>): boolean {
    const b = this.buf;
    if (b[this.i] !== 0x7b || ++this.depth > this.limits.maxDepth) return false;
    this.i++;
    this.ws();
    let seen = 0;
    if (b[this.i] === 0x7d) {
      this.i++;
    } else {
      for (;;) {
        const end = this.string();
        if (end < 0) return false;
        const from = this.i + 1;
        const len = end - from - 1;
        this.i = end;
        if (++this.keys > this.limits.maxKeys || len > this.limits.maxStringLength) return false;
        const prop = this.match(node, from, len);
        // Undeclared, or a second time (two parsers could disagree on which value counts).
        if (prop === undefined || (seen & (1 << prop.bit)) !== 0) return false;
        seen |= 1 << prop.bit;
        this.ws();
        if (b[this.i] !== 0x3a) return false;
        this.i++;
        this.ws();
        if (this.inputs !== undefined) this.path.push(prop.segment);
        if (!this.value(prop.node)) return false;
        if (this.inputs !== undefined) this.path.pop();
        this.ws();
        const c = b[this.i];
        this.i++;
        if (c === 0x7d) break;
        if (c !== 0x2c) return false;
        this.ws();
      }
    }
    this.depth--;
    return (seen & node.required) === node.required;
  }

  private match(node: Extract<Node, { t: 'object' }>, from: number, len: number): Prop | undefined {
    const candidates = len < node.byLength.length ? node.byLength[len] : undefined;
    if (candidates === undefined) return undefined;
    const b = this.buf;
    for (const p of candidates) {
      let k = 0;
      while (k < len && b[from + k] === p.name[k]) k++;
      if (k === len) return p;
    }
    return undefined;
  }

  private array(node: Extract<Node, { t: 'array' }>): boolean {
    const b = this.buf;
    if (b[this.i] !== 0x5b || ++this.depth > this.limits.maxDepth) return false;
    this.i++;
    this.ws();
    let count = 0;
    if (b[this.i] === 0x5d) {
      this.i++;
    } else {
      for (;;) {
        if (++count > this.limits.maxArrayLength || count > node.max) return false;
        if (this.inputs !== undefined) this.path.push(String(count - 1));
        if (!this.value(node.items)) return false;
        if (this.inputs !== undefined) this.path.pop();
        this.ws();
        const c = b[this.i];
        this.i++;
        if (c === 0x5d) break;
        if (c !== 0x2c) return false;
        this.ws();
      }
    }
    this.depth--;
    return count >= node.min;
  }
}
