/**
 * OpenAPI schema resolution for property-level authorization.
 *
 * Given a parsed OpenAPI 3.0 / 3.1 document (all its files) and the JSON pointer of an
 * operation, this finds the operation's JSON request-body schema and its JSON response schemas
 * by status key (`200`, `2XX`, `default` …). `$ref`s are followed lazily, one step at a time,
 * with a visited set keyed by file and pointer, so circular chains (within a file or across
 * files) are reported and never loop; recursive schemas are fine because nothing here walks a
 * schema to its end (the policy compiler in properties.ts memoizes schema objects by identity).
 *
 * A document may be split across files: every located value carries the file it lives in, and
 * a `$ref` resolves relative to the file of the object that contains it (`./schemas/pet.yaml#/Pet`,
 * `common.yaml`, `../x.json#/a/b`), among the files the loader parsed ({@link DocumentSet}).
 * A reference to a file that is not among them, and remote URLs, are reported as "not followed"
 * warnings, and the schema behind them is treated as declaring nothing (the config loader shows
 * the warning).
 *
 * Nothing here sees attacker input: it runs once per operation at config load.
 */
import path from 'node:path';

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A parsed OpenAPI document and all its files (`LoadedSpec` satisfies it): `file` is the absolute
 * path of the main document, `document` its parsed value, `documents` every parsed file (the
 * main one included) by absolute path.
 */
export interface DocumentSet {
  readonly file: string;
  readonly document: unknown;
  readonly documents: ReadonlyMap<string, unknown>;
}

/**
 * A document that is not split across files. Only local references (`#/...`) resolve; `file`
 * (default '': relative references resolve against the working directory and are not found)
 * is where the document would live.
 */
export function singleDocument(document: unknown, file = ''): DocumentSet {
  return { file, document, documents: new Map([[file, document]]) };
}

/**
 * One problem found while reading schemas. `at` says where: a JSON pointer into the main
 * document (`/paths/~1pets/get/requestBody`), or for another file of the document that file,
 * relative to the main document's directory, `#` and the pointer in it
 * (`paths/pet.yaml#/get/requestBody`). `file` is the absolute path of that other file, and
 * absent for the main document.
 */
export interface SchemaProblem {
  readonly severity: 'error' | 'warning';
  readonly at: string;
  readonly message: string;
  readonly file?: string;
}

/** A value and where it lives: its file (absolute path; the main document's `file`) and JSON pointer in it. */
export interface Located {
  readonly value: unknown;
  readonly file: string;
  readonly at: string;
}

/** Escape one JSON pointer segment (RFC 6901). */
export function escapePointerSegment(s: string | number): string {
  if (typeof s === 'number') return String(s);
  // Most names need no escaping: no new strings on that path (it runs per body member).
  if (s.indexOf('~') < 0 && s.indexOf('/') < 0) return s;
  return s.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Split a JSON pointer into unescaped segments; undefined when it is not a pointer. */
export function parseJsonPointer(pointer: string): string[] | undefined {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) return undefined;
  const out: string[] = [];
  for (const raw of pointer.slice(1).split('/')) {
    // `~` must be followed by 0 or 1.
    for (let i = raw.indexOf('~'); i >= 0; i = raw.indexOf('~', i + 1)) {
      const next = raw[i + 1];
      if (next !== '0' && next !== '1') return undefined;
    }
    out.push(raw.replaceAll('~1', '/').replaceAll('~0', '~'));
  }
  return out;
}

/** The child of a JSON value by one pointer segment (own properties only, never the prototype). */
export function childOf(value: unknown, segment: string): unknown {
  if (Array.isArray(value)) {
    if (!isArrayIndex(segment)) return undefined;
    return value[Number(segment)];
  }
  if (isObject(value) && Object.hasOwn(value, segment)) return value[segment];
  return undefined;
}

function isArrayIndex(s: string): boolean {
  if (s.length === 0 || s.length > 9) return false;
  if (s.length > 1 && s[0] === '0') return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Longest `$ref` chain followed before giving up (chains this long are mistakes). */
const MAX_REF_CHAIN = 64;

/** `http:`, `https:`, `urn:` … (two letters at least: `c:` is a drive letter). Same rule as the loader. */
function hasScheme(ref: string): boolean {
  const colon = ref.indexOf(':');
  if (colon <= 1) return false;
  for (let i = 0; i < colon; i++) {
    const c = ref.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (i > 0 && ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46));
    if (!ok) return false;
  }
  return true;
}

/** A JSON pointer from unescaped segments. */
function pointerOf(segments: readonly string[]): string {
  let out = '';
  for (const s of segments) out += `/${escapePointerSegment(s)}`;
  return out;
}

/**
 * Follows `$ref`s in a document and its files and collects problems (deduplicated). One
 * resolver per document is enough; it holds no per-operation state besides the problem list.
 *
 * `new SchemaResolver(document)` reads a single document (only `#/...` references resolve);
 * {@link SchemaResolver.of} reads a document split across files. Methods that take `file`
 * default it to the main document.
 */
export class SchemaResolver {
  readonly problems: SchemaProblem[] = [];
  private readonly reported = new Set<string>();
  /** Absolute path of the main document ('' for a single document given without one). */
  readonly file: string;
  readonly documents: ReadonlyMap<string, unknown>;

  constructor(
    readonly document: unknown,
    files?: { readonly file: string; readonly documents: ReadonlyMap<string, unknown> },
  ) {
    this.file = files?.file ?? '';
    this.documents = files?.documents ?? new Map();
  }

  /** A resolver over every file of a loaded document. */
  static of(spec: DocumentSet): SchemaResolver {
    return new SchemaResolver(spec.document, spec);
  }

  /** The problems as `at: message` lines. */
  get warnings(): string[] {
    return this.problems.map((p) => `${p.at || '/'}: ${p.message}`);
  }

  /** How a place is shown: the pointer in the main document, else `relative/file.yaml#pointer`. */
  where(file: string, at: string): string {
    return file === this.file ? at : `${this.displayFile(file)}#${at}`;
  }

  private displayFile(file: string): string {
    const rel = this.file === '' ? file : path.relative(path.dirname(this.file), file);
    return rel.split(path.sep).join('/');
  }

  report(severity: SchemaProblem['severity'], at: string, message: string, file: string = this.file): void {
    const shown = this.where(file, at);
    const id = `${severity}\0${shown}\0${message}`;
    if (this.reported.has(id)) return;
    this.reported.add(id);
    this.problems.push(file === this.file ? { severity, at: shown, message } : { severity, at: shown, message, file });
  }

  /** The parsed file at an absolute path, or `found: false` when it is not one of the document's files. */
  private fileValue(file: string): { found: boolean; value: unknown } {
    if (file === this.file) return { found: true, value: this.document };
    if (this.documents.has(file)) return { found: true, value: this.documents.get(file) };
    return { found: false, value: undefined };
  }

  /**
   * One step of a `$ref` found in the object at `at` in `file`: the value it points to (with
   * its file and canonical pointer), or undefined (with a problem) when it is remote, names a
   * file that is not one of the document's, or does not resolve. A relative file resolves
   * against the directory of `file` (percent-decoded, as the loader does).
   */
  target(ref: unknown, at: string, file: string = this.file): Located | undefined {
    const refAt = `${at}/$ref`;
    if (typeof ref !== 'string') {
      this.report('error', refAt, 'expected $ref to be a string', file);
      return undefined;
    }
    const hash = ref.indexOf('#');
    const filePart = hash < 0 ? ref : ref.slice(0, hash);
    const fragment = hash < 0 ? '' : ref.slice(hash + 1);
    if (hasScheme(filePart)) {
      this.report('warning', refAt, `$ref ${JSON.stringify(ref)} is not followed: remote references are never read; the properties behind it are not restricted`, file);
      return undefined;
    }
    let pointer: string;
    try {
      pointer = decodeURIComponent(fragment);
    } catch {
      this.report('error', refAt, `cannot resolve $ref ${JSON.stringify(ref)}: invalid percent-encoding`, file);
      return undefined;
    }
    const segments = parseJsonPointer(pointer);
    if (!segments) {
      this.report('warning', refAt, `$ref ${JSON.stringify(ref)} is not followed: it uses an anchor, not a JSON pointer`, file);
      return undefined;
    }
    let targetFile = file;
    if (filePart !== '') {
      let rel: string;
      try {
        rel = decodeURIComponent(filePart);
      } catch {
        rel = filePart;
      }
      targetFile = path.resolve(path.dirname(file), rel);
    }
    const doc = this.fileValue(targetFile);
    if (!doc.found) {
      const why =
        this.file === '' || this.documents.size === 0
          ? 'only local references (#/...) are read when the files of the document are not given'
          : `${this.displayFile(targetFile)} is not one of the files loaded with the document`;
      this.report('warning', refAt, `$ref ${JSON.stringify(ref)} is not followed: ${why}; the properties behind it are not restricted`, file);
      return undefined;
    }
    let cur = doc.value;
    for (const s of segments) {
      cur = childOf(cur, s);
      if (cur === undefined) {
        const inFile = targetFile === file ? '' : ` in ${this.displayFile(targetFile)}`;
        this.report('error', refAt, `cannot resolve $ref ${JSON.stringify(ref)}: nothing at ${pointer || '/'}${inFile}`, file);
        return undefined;
      }
    }
    return { value: cur, file: targetFile, at: pointerOf(segments) };
  }

  /**
   * Follow a `$ref` chain from `value` (found at `at` in `file`) to a value without `$ref`.
   * Siblings of `$ref` are dropped: use this for Request Body, Response and Media Type
   * objects, not for schemas (properties.ts merges schema siblings itself).
   */
  deref(value: unknown, at: string, file: string = this.file): Located | undefined {
    let cur: Located = { value, at, file };
    const seen = new Set<string>();
    while (isObject(cur.value) && Object.hasOwn(cur.value, '$ref')) {
      const id = `${cur.file}\0${cur.at}`;
      if (seen.has(id) || seen.size >= MAX_REF_CHAIN) {
        this.report('error', `${at}/$ref`, 'circular $ref chain: it never reaches a value', file);
        return undefined;
      }
      seen.add(id);
      const next = this.target(cur.value.$ref, cur.at, cur.file);
      if (!next) return undefined;
      cur = next;
    }
    return cur;
  }

  /**
   * The value at a JSON pointer in `file` (default: the main document), following `$ref`s met
   * on the way: a path item may be a `$ref` to another file, and the rest of the pointer is
   * then walked in that file.
   */
  at(pointer: string, file: string = this.file): Located | undefined {
    const segments = parseJsonPointer(pointer);
    if (!segments) {
      this.report('error', pointer, 'expected a JSON pointer', file);
      return undefined;
    }
    const root = this.fileValue(file);
    if (!root.found) {
      this.report('error', pointer, `${this.displayFile(file)} is not one of the files loaded with the document`, file);
      return undefined;
    }
    let cur: Located | undefined = { value: root.value, at: '', file };
    for (const s of segments) {
      cur = this.deref(cur.value, cur.at, cur.file);
      if (!cur) return undefined;
      const child = childOf(cur.value, s);
      if (child === undefined) {
        const via = cur.file === file ? '' : ` (no ${JSON.stringify(s)} at ${this.where(cur.file, cur.at || '/')})`;
        this.report('error', pointer, `nothing at ${pointer}${via}`, file);
        return undefined;
      }
      cur = { value: child, at: `${cur.at}/${escapePointerSegment(s)}`, file: cur.file };
    }
    return this.deref(cur.value, cur.at, cur.file);
  }
}

/**
 * The object at a pointer of the main document (an operation: `/paths/~1pets/get`), following
 * `$ref`s on the way (a path item in another file); undefined when there is none. Problems are
 * not reported (the schema compiler reports them).
 */
export function operationObject(spec: DocumentSet, pointer: string): JsonObject | undefined {
  const found = SchemaResolver.of(spec).at(pointer);
  return found && isObject(found.value) ? found.value : undefined;
}

/** A schema and where it sits (its file and pointer), for `$ref`s inside it and for messages. */
export interface LocatedSchema {
  readonly schema: unknown;
  readonly at: string;
  readonly file: string;
}

export interface OperationSchemas {
  /**
   * The JSON request-body schema; when several JSON media types declare one, `{ anyOf: [...] }`
   * of `$ref`s to each (so each keeps its own file).
   */
  readonly request: LocatedSchema | undefined;
  /** Response schemas by status key as written (`200`, `2XX` upper-cased, `default`). */
  readonly responses: ReadonlyMap<string, LocatedSchema>;
  /** The resolver, to pass to the policy compilers (they follow `$ref`s inside the schemas). */
  readonly resolver: SchemaResolver;
  /** Problems as `at: message` lines (refs not followed, refs that do not resolve). */
  readonly warnings: string[];
}

/**
 * True for media types whose body a JSON schema describes: `application/json`, any `+json`
 * type, and the ranges `*\/*` and `application/*` (which cover JSON too).
 */
export function isJsonMediaType(mediaType: string): boolean {
  const semi = mediaType.indexOf(';');
  const base = (semi < 0 ? mediaType : mediaType.slice(0, semi)).trim().toLowerCase();
  return base === 'application/json' || base.endsWith('+json') || base === '*/*' || base === 'application/*';
}

/** A `$ref` from an object in `fromFile` to `to` (percent-encoded, so any path and pointer survive). */
function refTo(fromFile: string, to: { file: string; at: string }): string {
  const encode = (s: string) => s.split('/').map(encodeURIComponent).join('/');
  return `${to.file === fromFile ? '' : encode(to.file)}#${encode(to.at)}`;
}

function jsonSchemaOf(resolver: SchemaResolver, content: unknown, at: string, file: string): LocatedSchema | undefined {
  if (!isObject(content)) return undefined;
  const found: LocatedSchema[] = [];
  for (const [mediaType, rawMedia] of Object.entries(content)) {
    if (!isJsonMediaType(mediaType)) continue;
    const media = resolver.deref(rawMedia, `${at}/${escapePointerSegment(mediaType)}`, file);
    if (!media || !isObject(media.value) || media.value.schema === undefined) continue;
    found.push({ schema: media.value.schema, at: `${media.at}/schema`, file: media.file });
  }
  if (found.length === 0) return undefined;
  if (found.length === 1) return found[0];
  // Several JSON media types: a body may match any of them, so all are considered. Each member
  // is a `$ref` to the schema's own place, so references inside it resolve against its file.
  return { schema: { anyOf: found.map((f) => ({ $ref: refTo(file, f) })) }, at, file };
}

/**
 * The request-body and response schemas of the operation at `operationPointer` of the main
 * document (e.g. `/paths/~1notes~1{id}/put`; its path item may be a `$ref` to another file).
 * Missing pieces are simply absent; problems come back as warnings and in `resolver.problems`.
 */
export function resolveOperationSchemas(spec: DocumentSet, operationPointer: string, resolver: SchemaResolver = SchemaResolver.of(spec)): OperationSchemas {
  const responses = new Map<string, LocatedSchema>();
  let request: LocatedSchema | undefined;
  const op = resolver.at(operationPointer);
  if (op && isObject(op.value)) {
    if (op.value.requestBody !== undefined) {
      const body = resolver.deref(op.value.requestBody, `${op.at}/requestBody`, op.file);
      if (body && isObject(body.value)) request = jsonSchemaOf(resolver, body.value.content, `${body.at}/content`, body.file);
    }
    const rawResponses = resolver.deref(op.value.responses, `${op.at}/responses`, op.file);
    if (rawResponses && isObject(rawResponses.value)) {
      for (const [status, rawResponse] of Object.entries(rawResponses.value)) {
        if (status.startsWith('x-')) continue;
        const response = resolver.deref(rawResponse, `${rawResponses.at}/${escapePointerSegment(status)}`, rawResponses.file);
        if (!response || !isObject(response.value)) continue;
        const schema = jsonSchemaOf(resolver, response.value.content, `${response.at}/content`, response.file);
        if (schema) responses.set(status === 'default' ? status : status.toUpperCase(), schema);
      }
    }
  } else if (op) {
    resolver.report('error', op.at, 'expected an Operation object', op.file);
  }
  return { request, responses, resolver, warnings: resolver.warnings };
}
