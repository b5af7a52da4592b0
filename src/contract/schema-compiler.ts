/**
 * Compiles the JSON schemas of an OpenAPI document into validators, once, at config load.
 *
 * Every file of the document is registered with ajv under its own `file://` URL as `$id`, so a
 * schema is compiled by reference (`file:///api/openapi.yaml#/components/schemas/Pet`) and
 * its `$ref`s — local, or relative to another file — resolve exactly as the loader resolved
 * them. OpenAPI 3.1 schemas are JSON Schema 2020-12 (ajv's 2020 dialect); 3.0 schemas are
 * rewritten to it first (`nullable`, boolean `exclusiveMinimum`/`exclusiveMaximum`).
 * Formats come from ajv-formats; unknown keywords (`x-*`, `example`, `discriminator`, `xml` …)
 * are annotations.
 */
import { pathToFileURL } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { LoadedSpec } from '../config/types.js';

// ajv-formats is CommonJS with a default export; under NodeNext it arrives as the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => Ajv2020;

/** Where a violation is. `pointer` is an RFC 6901 pointer inside that location's value. */
export type ViolationLocation = 'path' | 'query' | 'header' | 'cookie' | 'body' | 'response';

/**
 * One reason a request (or response) does not match the contract. Never carries the offending
 * value: `rule` is the schema keyword (`type`, `maximum`, `required`, `additionalProperties`,
 * `format`, `enum`, `pattern`, …) and `expected` says what the schema wants, in words.
 */
export interface Violation {
  readonly location: ViolationLocation;
  /** Parameter name for path/query/header/cookie; '' for a whole body. */
  readonly name: string;
  /** JSON pointer inside the value ('' for the value itself). */
  readonly pointer: string;
  readonly rule: string;
  readonly expected: string;
}

/** What later stages learn about each input that passed validation (threat detection skips typed values). */
export interface TypedInput {
  readonly location: 'path' | 'query' | 'header' | 'cookie' | 'body';
  /** Parameter name, or a JSON pointer into the body. */
  readonly name: string;
  /** Declared JSON type (`string`, `integer`, `number`, `boolean`, `array`, `object`), or undefined when the schema says nothing. */
  readonly type: string | undefined;
  readonly format: string | undefined;
  /** True when the schema restricts the value to an enum or const. */
  readonly enumerated: boolean;
  /** True when a `pattern` constrains the value. */
  readonly patterned: boolean;
}

export interface CompiledSchema {
  /** Validates a value; the errors are translated to violations at `location`/`name`. */
  validate(value: unknown, location: ViolationLocation, name: string, out: Violation[]): boolean;
}

const MAX_VIOLATIONS = 20;

/** OpenAPI 3.0 schema keywords rewritten to JSON Schema 2020-12, in place on a private copy. */
function upgrade30(node: unknown, seen = new Set<unknown>()): void {
  if (typeof node !== 'object' || node === null || seen.has(node)) return;
  seen.add(node);
  if (Array.isArray(node)) {
    for (const item of node) upgrade30(item, seen);
    return;
  }
  const o = node as Record<string, unknown>;
  if (o.nullable === true) {
    if (typeof o.type === 'string') o.type = [o.type, 'null'];
    else if (Array.isArray(o.enum) && !o.enum.includes(null)) o.enum = [...(o.enum as unknown[]), null];
    delete o.nullable;
  }
  if (o.exclusiveMinimum === true && typeof o.minimum === 'number') {
    o.exclusiveMinimum = o.minimum;
    delete o.minimum;
  } else if (o.exclusiveMinimum === false) delete o.exclusiveMinimum;
  if (o.exclusiveMaximum === true && typeof o.maximum === 'number') {
    o.exclusiveMaximum = o.maximum;
    delete o.maximum;
  } else if (o.exclusiveMaximum === false) delete o.exclusiveMaximum;
  for (const [k, v] of Object.entries(o)) {
    // Examples and defaults are data, not schemas.
    if (k === 'example' || k === 'examples' || k === 'default' || k === 'enum' || k === 'const') continue;
    upgrade30(v, seen);
  }
}

/** Words for what a failed keyword wanted; never the value that failed it. */
function expected(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type':
      return `type ${String(p.type)}`;
    case 'required':
      return `property ${String(p.missingProperty)} is required`;
    case 'additionalProperties':
    case 'unevaluatedProperties':
      return `no property ${String(p.additionalProperty ?? p.unevaluatedProperty)} (not declared)`;
    case 'enum':
      return `one of the declared values${Array.isArray(p.allowedValues) && p.allowedValues.length <= 10 ? `: ${p.allowedValues.map((v) => JSON.stringify(v)).join(', ')}` : ''}`;
    case 'const':
      return 'the declared constant';
    case 'format':
      return `format ${String(p.format)}`;
    case 'pattern':
      return `to match the declared pattern`;
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `${String(p.comparison)} ${String(p.limit)}`;
    case 'minLength':
    case 'maxLength':
      return `${e.keyword === 'minLength' ? 'at least' : 'at most'} ${String(p.limit)} characters`;
    case 'minItems':
    case 'maxItems':
      return `${e.keyword === 'minItems' ? 'at least' : 'at most'} ${String(p.limit)} items`;
    case 'minProperties':
    case 'maxProperties':
      return `${e.keyword === 'minProperties' ? 'at least' : 'at most'} ${String(p.limit)} properties`;
    case 'uniqueItems':
      return 'unique items';
    case 'multipleOf':
      return `a multiple of ${String(p.multipleOf)}`;
    case 'oneOf':
      return 'exactly one of the declared alternatives';
    case 'anyOf':
      return 'one of the declared alternatives';
    case 'not':
      return 'not to match the excluded schema';
    default:
      return `to satisfy ${e.keyword}`;
  }
}

function violationPath(e: ErrorObject): string {
  // `required` and `additionalProperties` point at the object; name the property itself.
  const p = e.params as Record<string, unknown>;
  const extra = e.keyword === 'required' ? p.missingProperty : e.keyword === 'additionalProperties' ? p.additionalProperty : undefined;
  return typeof extra === 'string' ? `${e.instancePath}/${extra.replaceAll('~', '~0').replaceAll('/', '~1')}` : e.instancePath;
}

/**
 * Whether a value is small enough to be validated again with every error listed: at most
 * SMALL_NODES values and SMALL_DEPTH levels. (allErrors makes ajv walk every oneOf/anyOf branch
 * to the end; on a recursive schema that costs 2^depth, so it is only used where depth is small.)
 */
const SMALL_NODES = 500;
const SMALL_DEPTH = 8;
function small(value: unknown): boolean {
  let nodes = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (++nodes > SMALL_NODES || d > SMALL_DEPTH) return false;
    if (typeof v === 'object' && v !== null) for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d + 1]);
  }
  return true;
}

function validator(fast: ValidateFunction, full: () => ValidateFunction): CompiledSchema {
  return {
    validate(value, location, name, out) {
      if (fast(value)) return true;
      // The fast pass stops at the first error; list them all when that is cheap.
      const errors = small(value) ? (full()(value), full().errors) : fast.errors;
      for (const e of errors ?? fast.errors ?? []) {
        if (out.length >= MAX_VIOLATIONS) break;
        out.push({ location, name, pointer: violationPath(e), rule: e.keyword, expected: expected(e) });
      }
      return false;
    },
  };
}

export class SchemaCompiler {
  private readonly ajv: Ajv2020;
  private readonly ajvAll: Ajv2020;
  private readonly urls = new Map<string, string>();
  private readonly cache = new Map<string, CompiledSchema>();

  constructor(spec: Pick<LoadedSpec, 'file' | 'openapi' | 'documents'>) {
    // Two instances over the same documents: `ajv` stops at the first error (linear on any
    // input), `ajvAll` lists every error and is only used on small values (see `small`).
    const options = { strict: false, validateFormats: true, discriminator: false, unicodeRegExp: true } as const;
    this.ajv = new Ajv2020({ ...options, allErrors: false });
    this.ajvAll = new Ajv2020({ ...options, allErrors: true });
    addFormats(this.ajv);
    addFormats(this.ajvAll);
    const is30 = spec.openapi.startsWith('3.0');
    for (const [file, doc] of spec.documents) {
      const url = pathToFileURL(file).href;
      this.urls.set(file, url);
      // A private copy: the loaded document stays as written (other stages read it).
      const copy = structuredClone(doc) as Record<string, unknown>;
      if (is30) upgrade30(copy);
      if (typeof copy === 'object' && copy !== null && !Array.isArray(copy)) {
        delete copy.$schema;
        delete copy.$id;
        this.ajv.addSchema({ ...copy, $id: url }, url);
        this.ajvAll.addSchema({ ...copy, $id: url }, url);
      }
    }
  }

  /**
   * The validator of the schema at `pointer` in `file` (both as the loader reports them).
   * Throws on a schema ajv cannot compile; the message is fit for a config diagnostic.
   */
  compile(file: string, pointer: string): CompiledSchema {
    const url = this.urls.get(file);
    if (url === undefined) throw new Error(`no document ${file}`);
    const ref = `${url}#${pointer.split('/').map((s) => encodeURIComponent(s.replaceAll('~1', '/').replaceAll('~0', '~')).replaceAll('~', '~0').replaceAll('%2F', '~1')).join('/')}`;
    let c = this.cache.get(ref);
    if (c !== undefined) return c;
    const fast = this.ajv.compile({ $ref: ref });
    let full: ValidateFunction | undefined;
    c = validator(fast, () => (full ??= this.ajvAll.compile({ $ref: ref })));
    this.cache.set(ref, c);
    return c;
  }

  /**
   * The test ajv applies for `format: name` to a string (synchronous formats that apply to
   * strings), or undefined: for validators that must agree with ajv (contract/json-direct.ts).
   */
  stringFormat(name: string): ((s: string) => boolean) | undefined {
    if (!Object.hasOwn(this.ajv.formats, name)) return undefined;
    const f = this.ajv.formats[name];
    const test = (v: unknown): ((s: string) => boolean) | undefined => (v instanceof RegExp ? (s) => v.test(s) : typeof v === 'function' ? (s) => Boolean((v as (s: string) => unknown)(s)) : undefined);
    if (f instanceof RegExp || typeof f === 'function') return test(f);
    if (typeof f === 'object' && f !== null && !('async' in f && f.async === true) && (f.type === undefined || f.type === 'string')) return test(f.validate);
    return undefined;
  }

  /** A validator for an inline schema object (e.g. a parameter schema copied from a document). */
  compileInline(schema: object): CompiledSchema {
    const fast = this.ajv.compile(schema);
    let full: ValidateFunction | undefined;
    return validator(fast, () => (full ??= this.ajvAll.compile(schema)));
  }
}
