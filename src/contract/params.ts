/**
 * Request parameters (path, query, header, cookie) checked against an operation's OpenAPI
 * Parameter objects, compiled once per operation at config load.
 *
 * Values are deserialized by the parameter's `style` / `explode` (OpenAPI 3.0 / 3.1 "Style
 * Values"), coerced to the schema's declared type only where the text is unambiguous (an
 * integer is `-?(0|[1-9][0-9]*)`, a number is a JSON number, a boolean is `true`/`false`,
 * `null` only for a schema that allows null and not string), then validated by the compiled
 * schema. A value that does not parse as the declared type stays a string, so the schema's
 * `type` rule refuses it.
 *
 * Safety: nothing here runs a regular expression on request input. The query string is split
 * with `indexOf` loops and at most `maxQueryParams` pairs are read; every other split is one
 * pass over a header or path value that the listener already bounds. Violations name the
 * parameter and a pointer inside its value, never the value.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { SchemaResolver, escapePointerSegment, isJsonMediaType, isObject, type JsonObject, type Located } from '../access/schema-resolve.js';
import type { ApiOperation, LoadedSpec } from '../config/types.js';
import type { CompiledSchema, SchemaCompiler, TypedInput, Violation, ViolationLocation } from './schema-compiler.js';
import { isDigit } from './json-direct.js';

export interface ParameterOptions {
  /** Refuse query parameters the operation does not declare (rule `undeclared`). */
  readonly strictQuery: boolean;
  /** Most query pairs read; more is one violation (rule `maxParameters`). */
  readonly maxQueryParams: number;
}

export interface ParameterInput {
  /** Path template parameters, percent-decoded by the router. */
  readonly params: Readonly<Record<string, string | undefined>>;
  /** The raw query string without `?`. */
  readonly rawQuery: string;
  readonly headers: IncomingHttpHeaders;
}

export interface ParameterValidator {
  /** Parses, coerces and validates every declared parameter; pushes violations; returns typed inputs of the values that were present. */
  validate(input: ParameterInput, violations: Violation[]): TypedInput[];
}

export interface ParameterProblem {
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

type ParamIn = 'path' | 'query' | 'header' | 'cookie';
type Style = 'simple' | 'label' | 'matrix' | 'form' | 'spaceDelimited' | 'pipeDelimited' | 'deepObject';
type Shape = 'primitive' | 'array' | 'object';
type Typed = Omit<TypedInput, 'location' | 'name'>;

const STYLES: Readonly<Record<ParamIn, readonly Style[]>> = {
  path: ['simple', 'label', 'matrix'],
  query: ['form', 'spaceDelimited', 'pipeDelimited', 'deepObject'],
  header: ['simple'],
  cookie: ['form'],
};

/** Header parameters OpenAPI says are ignored (the request body and security schemes describe them). */
const IGNORED_HEADERS = new Set(['accept', 'content-type', 'authorization']);

/** Same cap as the schema compiler: a request this wrong needs no more detail. */
const MAX_VIOLATIONS = 20;
/** How deep parameter schemas are read for coercion (a parameter is an object of arrays at most). */
const MAX_SCHEMA_DEPTH = 4;
/** Undeclared names are attacker text: shown truncated. */
const MAX_NAME_SHOWN = 100;

/** What coercion and typed inputs need from a schema, read once with `$ref`s followed. */
interface SchemaInfo {
  readonly types: ReadonlySet<string>;
  readonly typed: Typed;
  readonly items: SchemaInfo | undefined;
  readonly properties: ReadonlyMap<string, SchemaInfo>;
  readonly additional: SchemaInfo | undefined;
}

const EMPTY_INFO: SchemaInfo = {
  types: new Set(),
  typed: { type: undefined, format: undefined, enumerated: false, patterned: false },
  items: undefined,
  properties: new Map(),
  additional: undefined,
};

interface Param {
  /** As declared (violations use it). */
  readonly name: string;
  readonly in: ParamIn;
  readonly required: boolean;
  readonly allowEmpty: boolean;
  readonly style: Style;
  readonly explode: boolean;
  readonly shape: Shape;
  /** `content` parameters: the value is JSON text, or (other media types) a string. */
  readonly media: 'json' | 'text' | undefined;
  readonly info: SchemaInfo;
  readonly schema: CompiledSchema;
}

/** One parameter's text as the style gives it, before coercion. */
type Raw =
  | { readonly kind: 'one'; readonly s: string }
  | { readonly kind: 'list'; readonly items: readonly string[] }
  | { readonly kind: 'pairs'; readonly pairs: readonly (readonly [string, string | readonly string[]])[] }
  /** An empty query value that `allowEmptyValue` accepts. */
  | { readonly kind: 'empty' };

interface QueryEntry {
  /** Decoded (`+` is a space). */
  readonly value: string;
  /** `+` turned to space, still percent-encoded: form style splits on the literal `,` before decoding. */
  readonly raw: string;
}

/** Violations of one request, with a flag per parameter so a capped list never hides a failure. */
class Sink {
  bad = false;
  constructor(readonly out: Violation[]) {}
  fail(location: ViolationLocation, name: string, pointer: string, rule: string, expected: string): void {
    this.bad = true;
    if (this.out.length < MAX_VIOLATIONS) this.out.push({ location, name, pointer, rule, expected });
  }
}

// ---------------------------------------------------------------------------------------------
// Compiling

/** The JSON pointer part of a resolver location (`other.yaml#/a/b` → `/a/b`). */
function pointerOnly(at: string): string {
  if (at === '' || at.startsWith('/')) return at;
  const hash = at.indexOf('#');
  return hash < 0 ? at : at.slice(hash + 1);
}

function typesOfKeyword(t: unknown, into: Set<string>): void {
  if (typeof t === 'string') into.add(t);
  else if (Array.isArray(t)) for (const x of t) if (typeof x === 'string') into.add(x);
}

function jsonTypeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'number' ? 'number' : typeof v;
}

/** The declared type for a typed input: the only non-null one, else `string` when allowed (the weakest), else the first. */
function primaryType(types: ReadonlySet<string>): string | undefined {
  const nonNull = [...types].filter((t) => t !== 'null');
  if (nonNull.length === 0) return types.has('null') ? 'null' : undefined;
  if (nonNull.length === 1) return nonNull[0];
  return nonNull.includes('string') ? 'string' : nonNull[0];
}

function schemaInfo(resolver: SchemaResolver, value: unknown, at: string, file: string, is30: boolean, depth: number): SchemaInfo {
  if (depth > MAX_SCHEMA_DEPTH) return EMPTY_INFO;
  const loc = resolver.deref(value, at, file);
  if (!loc || !isObject(loc.value)) return EMPTY_INFO;
  const s = loc.value;
  const types = new Set<string>();
  typesOfKeyword(s.type, types);
  if (types.size === 0) {
    // No `type`: the alternatives' types (anyOf/oneOf) or the constraints' (allOf).
    for (const k of ['allOf', 'anyOf', 'oneOf'] as const) {
      const list = s[k];
      if (!Array.isArray(list)) continue;
      for (let i = 0; i < list.length; i++) {
        for (const t of schemaInfo(resolver, list[i], `${loc.at}/${k}/${i}`, loc.file, is30, depth + 1).types) types.add(t);
      }
    }
  }
  if (types.size === 0) {
    if (Array.isArray(s.enum)) for (const v of s.enum as unknown[]) types.add(jsonTypeOf(v));
    else if (Object.hasOwn(s, 'const')) types.add(jsonTypeOf(s.const));
  }
  if (is30 && s.nullable === true && types.size > 0) types.add('null');
  const properties = new Map<string, SchemaInfo>();
  if (isObject(s.properties)) {
    for (const [k, v] of Object.entries(s.properties)) {
      properties.set(k, schemaInfo(resolver, v, `${loc.at}/properties/${escapePointerSegment(k)}`, loc.file, is30, depth + 1));
    }
  }
  return {
    types,
    typed: {
      type: primaryType(types),
      format: typeof s.format === 'string' ? s.format : undefined,
      enumerated: Array.isArray(s.enum) || Object.hasOwn(s, 'const'),
      patterned: typeof s.pattern === 'string',
    },
    items: s.items !== undefined ? schemaInfo(resolver, s.items, `${loc.at}/items`, loc.file, is30, depth + 1) : undefined,
    properties,
    additional: isObject(s.additionalProperties) ? schemaInfo(resolver, s.additionalProperties, `${loc.at}/additionalProperties`, loc.file, is30, depth + 1) : undefined,
  };
}

function shapeOf(types: ReadonlySet<string>): Shape {
  const array = types.has('array');
  const object = types.has('object');
  if (array && !object) return 'array';
  if (object && !array) return 'object';
  return 'primitive';
}

/** Names in a path template (`/a/{id}/b/{x}` → id, x). */
function templateNames(template: string): Set<string> {
  const names = new Set<string>();
  for (let open = template.indexOf('{'); open >= 0; open = template.indexOf('{', open + 1)) {
    const close = template.indexOf('}', open);
    if (close < 0) break;
    names.add(template.slice(open + 1, close));
  }
  return names;
}

/**
 * Compile the parameters of one operation: the path item's and the operation's (the operation's
 * override by name and location), each possibly a `$ref` to another file.
 *
 * `validator` is undefined when there is nothing to check (no parameters and `strictQuery`
 * off). Problems with severity `error` mean the contract cannot be enforced as written (the
 * parameter concerned is left out of the validator): a config loader must refuse it.
 */
export function compileParameters(
  spec: LoadedSpec,
  op: Pick<ApiOperation, 'pointer' | 'path' | 'method'>,
  compiler: SchemaCompiler,
  opts: ParameterOptions,
): { validator: ParameterValidator | undefined; problems: ParameterProblem[] } {
  const problems: ParameterProblem[] = [];
  const resolver = SchemaResolver.of(spec);
  const is30 = spec.openapi.startsWith('3.0');
  const opName = `${op.method} ${op.path}`;

  const found = new Map<string, Located>();
  const slash = op.pointer.lastIndexOf('/');
  const places = [slash > 0 ? op.pointer.slice(0, slash) : '', op.pointer];
  for (const pointer of places) {
    if (pointer === '') continue;
    const owner = resolver.at(pointer);
    if (!owner || !isObject(owner.value) || owner.value.parameters === undefined) continue;
    const listAt = `${owner.at}/parameters`;
    const list = resolver.deref(owner.value.parameters, listAt, owner.file);
    if (!list || !Array.isArray(list.value)) {
      problems.push({ severity: 'error', message: `${resolver.where(owner.file, listAt)}: expected parameters to be a list` });
      continue;
    }
    const seenHere = new Set<string>();
    for (let i = 0; i < list.value.length; i++) {
      const p = resolver.deref(list.value[i], `${list.at}/${i}`, list.file);
      if (!p) continue;
      const where = resolver.where(p.file, p.at);
      if (!isObject(p.value) || typeof p.value.name !== 'string' || p.value.name === '' || typeof p.value.in !== 'string' || !Object.hasOwn(STYLES, p.value.in)) {
        problems.push({ severity: 'error', message: `${where}: expected a Parameter object with a name and in: path, query, header or cookie` });
        continue;
      }
      const key = `${p.value.in}\0${p.value.in === 'header' ? p.value.name.toLowerCase() : p.value.name}`;
      if (seenHere.has(key)) problems.push({ severity: 'warning', message: `${where}: parameter "${p.value.name}" (in: ${p.value.in}) is declared twice; the last one is used` });
      seenHere.add(key);
      found.set(key, p);
    }
  }

  const pathNames = templateNames(op.path);
  const params: Param[] = [];
  for (const loc of found.values()) {
    const p = compileParam(loc, resolver, compiler, is30, problems);
    if (!p) continue;
    if (p.in === 'path' && !pathNames.has(p.name)) {
      problems.push({ severity: 'warning', message: `${resolver.where(loc.file, loc.at)}: path parameter "${p.name}" is not in the path template of ${opName}; it is not checked` });
      continue;
    }
    params.push(p);
  }
  for (const pr of resolver.problems) problems.push({ severity: pr.severity, message: `${pr.at || '/'}: ${pr.message}` });

  if (params.length === 0 && !opts.strictQuery) return { validator: undefined, problems };
  return { validator: new Validator(params, queryAllowList(spec, params), opts), problems };
}

function compileParam(loc: Located, resolver: SchemaResolver, compiler: SchemaCompiler, is30: boolean, problems: ParameterProblem[]): Param | undefined {
  const v = loc.value as JsonObject;
  const name = v.name as string;
  const where = resolver.where(loc.file, loc.at);
  const paramIn = v.in as ParamIn;
  const error = (message: string): undefined => {
    problems.push({ severity: 'error', message: `${where}: parameter "${name}" (in: ${paramIn}) ${message}` });
    return undefined;
  };
  if (paramIn === 'header' && IGNORED_HEADERS.has(name.toLowerCase())) {
    problems.push({ severity: 'warning', message: `${where}: header parameter "${name}" is ignored (OpenAPI: Accept, Content-Type and Authorization are described elsewhere)` });
    return undefined;
  }
  const allowed = STYLES[paramIn];
  const style = (v.style ?? allowed[0]) as Style;
  if (typeof v.style !== 'undefined' && (typeof v.style !== 'string' || !allowed.includes(v.style as Style))) {
    return error(`has style ${JSON.stringify(v.style)}; allowed: ${allowed.join(', ')}`);
  }
  if (v.explode !== undefined && typeof v.explode !== 'boolean') return error('has a non-boolean explode');
  const explode = typeof v.explode === 'boolean' ? v.explode : style === 'form';

  let schemaValue: unknown;
  let schemaAt: string;
  let schemaFile = loc.file;
  let media: Param['media'];
  if (v.schema !== undefined && v.content !== undefined) return error('has both schema and content');
  if (v.schema !== undefined) {
    schemaValue = v.schema;
    schemaAt = `${loc.at}/schema`;
  } else if (isObject(v.content)) {
    const types = Object.keys(v.content);
    if (types.length !== 1) return error('must have exactly one media type in content');
    const mediaType = types[0] as string;
    const m = resolver.deref(v.content[mediaType], `${loc.at}/content/${escapePointerSegment(mediaType)}`, loc.file);
    if (!m || !isObject(m.value)) return error(`has no Media Type object for ${mediaType}`);
    media = isJsonMediaType(mediaType) ? 'json' : 'text';
    schemaValue = m.value.schema;
    schemaAt = `${m.at}/schema`;
    schemaFile = m.file;
  } else {
    return error('has neither schema nor content');
  }

  let schema: CompiledSchema;
  try {
    // A content parameter without a schema accepts any value of its media type.
    schema = schemaValue === undefined ? compiler.compileInline({}) : compiler.compile(schemaFile, pointerOnly(schemaAt));
  } catch (e) {
    return error(`has a schema that cannot be compiled: ${(e as Error).message}`);
  }
  const info = schemaInfo(resolver, schemaValue, schemaAt, schemaFile, is30, 0);
  const shape = media ? 'primitive' : shapeOf(info.types);
  if (style === 'deepObject' && shape !== 'object') return error('has style deepObject but its schema is not an object');
  return {
    name,
    in: paramIn,
    required: paramIn === 'path' || v.required === true,
    allowEmpty: v.allowEmptyValue === true,
    style,
    explode,
    shape,
    media,
    info,
    schema,
  };
}

/** Query names that are never "undeclared": the declared ones, exploded object members, and apiKey schemes in the query. */
function queryAllowList(spec: LoadedSpec, params: readonly Param[]): Set<string> {
  const names = new Set<string>();
  for (const p of params) {
    if (p.in !== 'query') continue;
    // An exploded form object arrives as its members, never under its own name.
    if (p.shape === 'object' && p.explode && p.style !== 'deepObject' && !p.media) for (const k of p.info.properties.keys()) names.add(k);
    else names.add(p.name);
  }
  const doc = spec.document;
  const schemes = isObject(doc) && isObject(doc.components) && isObject(doc.components.securitySchemes) ? doc.components.securitySchemes : {};
  for (const s of Object.values(schemes)) {
    if (isObject(s) && s.type === 'apiKey' && s.in === 'query' && typeof s.name === 'string') names.add(s.name);
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// Parsing request text (no regular expressions; every loop is one pass)

/** `-?(0|[1-9][0-9]*)` */
function isIntegerText(s: string): boolean {
  let i = s.charCodeAt(0) === 45 ? 1 : 0;
  if (i >= s.length) return false;
  if (s.charCodeAt(i) === 48) return i + 1 === s.length;
  for (; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return true;
}

/** A JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?` */
function isNumberText(s: string): boolean {
  const n = s.length;
  let i = s.charCodeAt(0) === 45 ? 1 : 0;
  if (i >= n) return false;
  if (s.charCodeAt(i) === 48) i++;
  else if (isDigit(s.charCodeAt(i))) while (i < n && isDigit(s.charCodeAt(i))) i++;
  else return false;
  if (i < n && s.charCodeAt(i) === 46) {
    const start = ++i;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
    if (i === start) return false;
  }
  if (i < n && (s.charCodeAt(i) === 101 || s.charCodeAt(i) === 69)) {
    i++;
    if (i < n && (s.charCodeAt(i) === 43 || s.charCodeAt(i) === 45)) i++;
    const start = i;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
    if (i === start) return false;
  }
  return i === n;
}

/** Text to the schema's type where unambiguous; otherwise the text itself (the schema then refuses it). */
function coerce(s: string, types: ReadonlySet<string>): unknown {
  if (types.size === 0 || types.has('string')) return s;
  if (types.has('integer') && isIntegerText(s)) {
    const n = Number(s);
    if (Number.isSafeInteger(n)) return n;
  }
  if (types.has('number') && isNumberText(s)) {
    const n = Number(s);
    if (Number.isFinite(n)) return n;
  }
  if (types.has('boolean')) {
    if (s === 'true') return true;
    if (s === 'false') return false;
  }
  if (types.has('null') && s === 'null') return null;
  return s;
}

/** Split on a one-character separator; '' gives no parts. */
function split(s: string, sep: string): string[] {
  if (s === '') return [];
  const out: string[] = [];
  let start = 0;
  for (let i = s.indexOf(sep); i >= 0; i = s.indexOf(sep, start)) {
    out.push(s.slice(start, i));
    start = i + 1;
  }
  out.push(s.slice(start));
  return out;
}

/** Strip HTTP optional whitespace (SP, HTAB) at both ends. */
function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** Percent-decode (the caller turned `+` to space where form style says so); undefined for bad encoding or bad UTF-8. */
function decode(s: string): string | undefined {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

function shownName(name: string): string {
  return name.length <= MAX_NAME_SHOWN ? name : `${name.slice(0, MAX_NAME_SHOWN)}…`;
}

interface ParsedQuery {
  readonly entries: Map<string, QueryEntry[]>;
  /** Names whose value (or name) was not decodable: already reported, so not "missing" or "undeclared" too. */
  readonly broken: Set<string>;
}

/** At most `max` pairs; undefined (with one violation) when there are more. */
function parseQuery(raw: string, max: number, sink: Sink): ParsedQuery | undefined {
  const entries = new Map<string, QueryEntry[]>();
  const broken = new Set<string>();
  let count = 0;
  let start = 0;
  while (start <= raw.length) {
    let end = raw.indexOf('&', start);
    if (end < 0) end = raw.length;
    if (end > start) {
      if (++count > max) {
        sink.fail('query', '', '', 'maxParameters', `at most ${max} query parameters`);
        return undefined;
      }
      const pair = raw.slice(start, end).replaceAll('+', ' ');
      const eq = pair.indexOf('=');
      const rawKey = eq < 0 ? pair : pair.slice(0, eq);
      const rawValue = eq < 0 ? '' : pair.slice(eq + 1);
      const key = decode(rawKey);
      const value = key === undefined ? undefined : decode(rawValue);
      if (key === undefined || value === undefined) {
        sink.fail('query', key === undefined ? '' : shownName(key), '', 'encoding', 'valid percent-encoded UTF-8');
        if (key !== undefined) broken.add(key);
      } else {
        const list = entries.get(key);
        if (list) list.push({ value, raw: rawValue });
        else entries.set(key, [{ value, raw: rawValue }]);
      }
    }
    start = end + 1;
  }
  return { entries, broken };
}

/** Cookie header (RFC 6265 §4.2 / §5.4): `name=value` pairs separated by `;`; values optionally in DQUOTEs; not percent-decoded. */
function parseCookies(header: string | string[] | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (header === undefined) return out;
  const text = Array.isArray(header) ? header.join('; ') : header;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf(';', start);
    if (end < 0) end = text.length;
    const pair = text.slice(start, end);
    const eq = pair.indexOf('=');
    if (eq > 0) {
      const name = trimOws(pair.slice(0, eq));
      let value = trimOws(pair.slice(eq + 1));
      if (value.length >= 2 && value.charCodeAt(0) === 34 && value.charCodeAt(value.length - 1) === 34) value = value.slice(1, -1);
      if (name !== '') {
        const list = out.get(name);
        if (list) list.push(value);
        else out.set(name, [value]);
      }
    }
    start = end + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Validating

class Validator implements ParameterValidator {
  private readonly needQuery: boolean;
  private readonly needCookies: boolean;
  private readonly deepNames: Set<string>;

  constructor(
    private readonly params: readonly Param[],
    private readonly queryNames: ReadonlySet<string>,
    private readonly opts: ParameterOptions,
  ) {
    this.needQuery = opts.strictQuery || params.some((p) => p.in === 'query');
    this.needCookies = params.some((p) => p.in === 'cookie');
    this.deepNames = new Set(params.filter((p) => p.style === 'deepObject').map((p) => p.name));
  }

  validate(input: ParameterInput, violations: Violation[]): TypedInput[] {
    const typed: TypedInput[] = [];
    const sink = new Sink(violations);
    const query = this.needQuery && input.rawQuery !== '' ? parseQuery(input.rawQuery, this.opts.maxQueryParams, sink) : { entries: new Map<string, QueryEntry[]>(), broken: new Set<string>() };
    const cookies = this.needCookies ? parseCookies(input.headers.cookie) : undefined;

    for (const p of this.params) {
      if (p.in === 'query' && query === undefined) continue; // over the limit: already refused
      sink.bad = false;
      let raw: Raw | undefined;
      switch (p.in) {
        case 'path': {
          const s = input.params[p.name];
          raw = s === undefined ? undefined : this.fromPath(p, s, sink);
          break;
        }
        case 'query':
          if (query?.broken.has(p.name)) continue;
          raw = this.fromQuery(p, (query as ParsedQuery).entries, sink);
          break;
        case 'header': {
          const h = input.headers[p.name.toLowerCase()];
          raw = h === undefined ? undefined : fromString(p, trimOws(Array.isArray(h) ? h.join(', ') : h), ',', true, sink);
          break;
        }
        case 'cookie':
          raw = this.fromCookie(p, cookies as Map<string, string[]>, sink);
          break;
      }
      if (raw === undefined) {
        if (!sink.bad && p.required) sink.fail(p.in, p.name, '', 'required', 'the parameter to be present');
        continue;
      }
      if (sink.bad) continue;
      if (raw.kind === 'empty') {
        typed.push({ location: p.in, name: p.name, ...p.info.typed });
        continue;
      }
      const value = build(p, raw, sink);
      if (sink.bad) continue;
      if (!p.schema.validate(value, p.in, p.name, violations)) continue;
      emitTyped(p, raw, typed);
    }

    if (this.opts.strictQuery && query !== undefined) {
      for (const key of query.entries.keys()) {
        if (this.queryNames.has(key)) continue;
        const bracket = key.indexOf('[');
        if (bracket > 0 && this.deepNames.has(key.slice(0, bracket))) continue;
        sink.fail('query', shownName(key), '', 'undeclared', 'only the query parameters the operation declares');
      }
    }
    return typed;
  }

  private fromPath(p: Param, s: string, sink: Sink): Raw | undefined {
    if (p.media) return { kind: 'one', s };
    if (p.style === 'simple') return fromString(p, s, ',', false, sink);
    if (p.style === 'label') {
      if (s.charCodeAt(0) !== 46) {
        sink.fail('path', p.name, '', 'style', 'label style: a value that starts with "."');
        return undefined;
      }
      const rest = s.slice(1);
      if (p.shape === 'primitive') return { kind: 'one', s: rest };
      return fromParts(p, split(rest, p.explode ? '.' : ','), sink);
    }
    // matrix: `;name=v`, `;name=a,b` or `;name=a;name=b`, `;R=1;G=2` (exploded object)
    if (s.charCodeAt(0) !== 59) {
      sink.fail('path', p.name, '', 'style', 'matrix style: a value that starts with ";"');
      return undefined;
    }
    const parts = split(s.slice(1), ';');
    if (p.shape === 'object' && p.explode) return fromParts(p, parts, sink);
    const values: string[] = [];
    for (const part of parts) {
      const eq = part.indexOf('=');
      if ((eq < 0 ? part : part.slice(0, eq)) !== p.name) {
        sink.fail('path', p.name, '', 'style', `matrix style: ;${p.name}=value`);
        return undefined;
      }
      values.push(eq < 0 ? '' : part.slice(eq + 1));
    }
    if (p.shape === 'array' && p.explode) return { kind: 'list', items: values };
    if (values.length !== 1) {
      sink.fail('path', p.name, '', values.length === 0 ? 'style' : 'multiple', values.length === 0 ? `matrix style: ;${p.name}=value` : 'a single value');
      return undefined;
    }
    return fromString(p, values[0] as string, ',', false, sink);
  }

  private fromQuery(p: Param, entries: Map<string, QueryEntry[]>, sink: Sink): Raw | undefined {
    if (p.style === 'deepObject') {
      const prefix = `${p.name}[`;
      if (entries.has(p.name)) sink.fail('query', p.name, '', 'style', `deepObject style: ${p.name}[property]=value`);
      const pairs: [string, string | string[]][] = [];
      for (const [key, list] of entries) {
        if (!key.startsWith(prefix)) continue;
        const inner = key.slice(prefix.length, -1);
        if (key.charCodeAt(key.length - 1) !== 93 || inner.includes('[') || inner.includes(']')) {
          sink.fail('query', p.name, '', 'style', `deepObject style: ${p.name}[property]=value`);
          continue;
        }
        pairs.push([inner, memberValues(p, inner, list, sink)]);
      }
      return pairs.length === 0 ? undefined : { kind: 'pairs', pairs };
    }
    if (p.shape === 'object' && p.explode && !p.media) {
      // Exploded form: each property is its own query parameter.
      const pairs: [string, string | string[]][] = [];
      for (const k of p.info.properties.keys()) {
        const list = entries.get(k);
        if (list) pairs.push([k, memberValues(p, k, list, sink)]);
      }
      return pairs.length === 0 ? undefined : { kind: 'pairs', pairs };
    }
    const list = entries.get(p.name);
    if (!list) return undefined;
    if (list.every((e) => e.value === '')) {
      if (p.allowEmpty) return { kind: 'empty' };
      sink.fail('query', p.name, '', 'allowEmptyValue', 'a non-empty value');
      return undefined;
    }
    if (p.shape === 'array' && p.explode && !p.media) return { kind: 'list', items: list.map((e) => e.value) };
    if (list.length > 1) {
      sink.fail('query', p.name, '', 'multiple', 'a single value');
      return undefined;
    }
    const e = list[0] as QueryEntry;
    if (p.shape === 'primitive' || p.media) return { kind: 'one', s: e.value };
    if (p.style === 'spaceDelimited') return fromString(p, e.value, ' ', false, sink);
    if (p.style === 'pipeDelimited') return fromString(p, e.value, '|', false, sink);
    // form, not exploded: split on the literal comma, then decode (an encoded %2C stays in its item).
    return fromParts(
      p,
      split(e.raw, ',').map((x) => decode(x) ?? x),
      sink,
    );
  }

  private fromCookie(p: Param, cookies: Map<string, string[]>, sink: Sink): Raw | undefined {
    if (p.shape === 'object' && p.explode && !p.media) {
      const pairs: [string, string | string[]][] = [];
      for (const k of p.info.properties.keys()) {
        const list = cookies.get(k);
        if (list) pairs.push([k, memberValues(p, k, list, sink)]);
      }
      return pairs.length === 0 ? undefined : { kind: 'pairs', pairs };
    }
    const list = cookies.get(p.name);
    if (!list) return undefined;
    if (p.shape === 'array' && p.explode && !p.media) return { kind: 'list', items: list };
    if (list.length > 1) {
      sink.fail('cookie', p.name, '', 'multiple', 'a single value');
      return undefined;
    }
    if (p.media) return { kind: 'one', s: list[0] as string };
    return fromString(p, list[0] as string, ',', false, sink);
  }
}

/** Values of one object member: several only when the member is an array. */
function memberValues(p: Param, key: string, list: readonly (QueryEntry | string)[], sink: Sink): string | string[] {
  const values = list.map((e) => (typeof e === 'string' ? e : e.value));
  if (shapeOf(memberInfo(p.info, key).types) === 'array') return values;
  if (values.length > 1) sink.fail(p.in, p.name, `/${escapePointerSegment(key)}`, 'multiple', 'a single value');
  return values[0] as string;
}

function memberInfo(info: SchemaInfo, key: string): SchemaInfo {
  return info.properties.get(key) ?? info.additional ?? EMPTY_INFO;
}

/** One delimited string by the parameter's shape. */
function fromString(p: Param, s: string, sep: string, trim: boolean, sink: Sink): Raw | undefined {
  if (p.shape === 'primitive' || p.media) return { kind: 'one', s };
  const parts = split(s, sep);
  return fromParts(p, trim ? parts.map(trimOws) : parts, sink);
}

/** Parts of an array (items) or an object (`k=v` parts when exploded, else `k,v,k,v`). */
function fromParts(p: Param, parts: string[], sink: Sink): Raw | undefined {
  if (p.shape === 'array') return { kind: 'list', items: parts };
  const pairs: [string, string][] = [];
  if (p.explode) {
    for (const part of parts) {
      const eq = part.indexOf('=');
      if (eq < 0) {
        sink.fail(p.in, p.name, '', 'style', 'name=value members');
        return undefined;
      }
      pairs.push([part.slice(0, eq), part.slice(eq + 1)]);
    }
  } else {
    if (parts.length % 2 !== 0) {
      sink.fail(p.in, p.name, '', 'style', 'name,value pairs');
      return undefined;
    }
    for (let i = 0; i < parts.length; i += 2) pairs.push([parts[i] as string, parts[i + 1] as string]);
  }
  return { kind: 'pairs', pairs };
}

function build(p: Param, raw: Raw, sink: Sink): unknown {
  switch (raw.kind) {
    case 'one':
      if (p.media === 'json') {
        try {
          return JSON.parse(raw.s) as unknown;
        } catch {
          sink.fail(p.in, p.name, '', 'json', 'a JSON value');
          return undefined;
        }
      }
      return p.media === 'text' ? raw.s : coerce(raw.s, p.info.types);
    case 'list': {
      const types = (p.info.items ?? EMPTY_INFO).types;
      return raw.items.map((s) => coerce(s, types));
    }
    case 'pairs': {
      // A null-prototype object: a member named `__proto__` is only data.
      const obj = Object.create(null) as Record<string, unknown>;
      for (const [k, v] of raw.pairs) {
        if (Object.hasOwn(obj, k)) {
          sink.fail(p.in, p.name, `/${escapePointerSegment(k)}`, 'multiple', 'a single value');
          continue;
        }
        const info = memberInfo(p.info, k);
        obj[k] = typeof v === 'string' ? coerce(v, info.types) : v.map((s) => coerce(s, (info.items ?? EMPTY_INFO).types));
      }
      return obj;
    }
    default:
      return undefined;
  }
}

function emitTyped(p: Param, raw: Raw, out: TypedInput[]): void {
  const name = p.in === 'header' ? p.name.toLowerCase() : p.name;
  if (raw.kind === 'list') {
    const t = (p.info.items ?? EMPTY_INFO).typed;
    for (let i = 0; i < raw.items.length; i++) out.push({ location: p.in, name, ...t });
    return;
  }
  if (raw.kind === 'pairs' && (p.style === 'deepObject' || (p.explode && (p.in === 'query' || p.in === 'cookie')))) {
    // Each member arrived as its own input: `filter[status]`, or the member name for exploded form.
    for (const [k, v] of raw.pairs) {
      const m = memberInfo(p.info, k);
      const memberName = p.style === 'deepObject' ? `${p.name}[${k}]` : k;
      if (typeof v === 'string') out.push({ location: p.in, name: memberName, ...m.typed });
      else for (let i = 0; i < v.length; i++) out.push({ location: p.in, name: memberName, ...(m.items ?? EMPTY_INFO).typed });
    }
    return;
  }
  out.push({ location: p.in, name, ...p.info.typed });
}
