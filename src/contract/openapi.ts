/**
 * OpenAPI 3.0 / 3.1 document loading: the operations the gateway routes, with source
 * positions for every problem.
 *
 * `$ref`s are checked everywhere in the document (and in every file it refers to) but
 * followed only where the operations are read (path items, parameters). Following is
 * iterative with a visited set, so a circular `$ref` is reported and never loops;
 * recursive schemas are legal and are not followed at all.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
// The position-keeping parser is shared with the config loader; it is a leaf module.
import { jsonPointer, parsePointer, parseSource, type ParsedSource, type Segment } from '../config/source.js';
import { describeFsError, displayPath } from '../config/diagnostics.js';
import type { ApiOperation, Diagnostic, HttpMethodName, LoadedSpec, SecurityRequirement, Severity, SourceLocation } from '../config/types.js';

export interface LoadOpenApiOptions {
  /** Reads a file (the config loader passes a caching reader so it can hash the same bytes). */
  readonly readFile?: (file: string) => Promise<Buffer>;
}

export interface LoadOpenApiResult {
  readonly spec: LoadedSpec | undefined;
  readonly diagnostics: Diagnostic[];
  /** The document and every file it refers to (also when they could not be read). */
  readonly files: string[];
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** Where a value was found: its file and key path in that file. */
interface Located {
  readonly file: string;
  readonly path: readonly Segment[];
  readonly value: unknown;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Load an OpenAPI 3.0.x / 3.1.x document (YAML or JSON) and list its operations.
 * Never throws for problems in the files: they come back as diagnostics, and `spec` is
 * undefined when there is any error.
 */
export async function loadOpenApi(file: string, opts: LoadOpenApiOptions = {}): Promise<LoadOpenApiResult> {
  const loader = new Loader(opts.readFile ?? ((f) => readFile(f)));
  const main = path.resolve(file);
  const src = await loader.get(main);
  if (!src || src.value === undefined) return loader.result(undefined);
  const doc = src.value;
  if (!isObject(doc)) {
    loader.report('error', main, [], 'expected an OpenAPI document (an object with openapi, info and paths)');
    return loader.result(undefined);
  }

  const version = checkVersion(loader, main, doc);
  if (version === undefined) return loader.result(undefined);
  const title = requireString(loader, main, doc, 'info', 'title');
  const apiVersion = requireString(loader, main, doc, 'info', 'version');
  if (!isObject(doc.paths)) {
    if (doc.paths === undefined) loader.report('error', main, [], 'missing required key "paths"');
    else loader.report('error', main, ['paths'], 'expected "paths" to be an object of path templates');
  }

  await loader.checkAllRefs(main);
  const operations = isObject(doc.paths) ? await readOperations(loader, main, doc) : [];
  const serverBasePath = basePathOf(loader, main, doc);

  const ok = !loader.diagnostics.some((d) => d.severity === 'error');
  return loader.result(
    ok && title !== undefined && apiVersion !== undefined
      ? { file: main, openapi: version, title, version: apiVersion, serverBasePath, operations, document: doc, documents: documentsOf(loader) }
      : undefined,
  );
}

class Loader {
  readonly diagnostics: Diagnostic[] = [];
  readonly files: string[] = [];
  private readonly docs = new Map<string, Promise<ParsedSource | undefined>>();
  private readonly reported = new Set<string>();

  constructor(private readonly read: (file: string) => Promise<Buffer>) {}

  /** Sources already parsed, for synchronous position lookups. */
  readonly parsed = new Map<string, ParsedSource>();

  /** Parse a file once; `from` is the `$ref` that asked for it (for the diagnostic when it cannot be read). */
  async get(file: string, from?: { file: string; path: readonly Segment[]; ref: string }): Promise<ParsedSource | undefined> {
    const src = await this.load(file, from);
    if (src) this.parsed.set(file, src);
    return src;
  }

  private load(file: string, from: { file: string; path: readonly Segment[]; ref: string } | undefined): Promise<ParsedSource | undefined> {
    let p = this.docs.get(file);
    if (!p) {
      this.files.push(file);
      p = (async () => {
        let text: string;
        try {
          text = (await this.read(file)).toString('utf8');
        } catch (err) {
          if (from) this.report('error', from.file, from.path, `cannot resolve $ref ${JSON.stringify(from.ref)}: cannot read ${displayPath(file)}: ${describeFsError(err)}`);
          else this.diagnostics.push({ severity: 'error', file, line: 0, column: 0, path: '', message: `cannot read OpenAPI document: ${describeFsError(err)}` });
          return undefined;
        }
        const src = parseSource(file, text);
        this.diagnostics.push(...src.diagnostics);
        return src;
      })();
      this.docs.set(file, p);
    }
    return p;
  }

  /** Report at the position of `at` in `file` (deduplicated). */
  report(severity: Severity, file: string, at: readonly Segment[], message: string, key = false): void {
    const src = this.parsed.get(file);
    const loc: SourceLocation = src ? (key ? src.locateKey(at) : src.locate(at)) : { file, line: 0, column: 0 };
    const d: Diagnostic = { severity, file, line: loc.line, column: loc.column, path: jsonPointer(at), message };
    const id = `${d.file}\0${d.line}\0${d.column}\0${d.message}`;
    if (this.reported.has(id)) return;
    this.reported.add(id);
    this.diagnostics.push(d);
  }

  result(spec: LoadedSpec | undefined): LoadOpenApiResult {
    return { spec, diagnostics: this.diagnostics, files: this.files };
  }

  /** One step of a `$ref`: the value it points at, or a diagnostic at the `$ref`. */
  async target(from: Located, ref: unknown): Promise<Located | undefined> {
    const refPath = [...from.path, '$ref'];
    if (typeof ref !== 'string') {
      this.report('error', from.file, refPath, 'expected $ref to be a string');
      return undefined;
    }
    const hash = ref.indexOf('#');
    const filePart = hash < 0 ? ref : ref.slice(0, hash);
    const fragment = hash < 0 ? '' : ref.slice(hash + 1);
    if (hasScheme(filePart)) {
      this.report('error', from.file, refPath, `cannot resolve $ref ${JSON.stringify(ref)}: remote references are not supported; save the file next to the document and refer to it by a relative path`);
      return undefined;
    }
    let pointer: string;
    try {
      pointer = decodeURIComponent(fragment);
    } catch {
      this.report('error', from.file, refPath, `cannot resolve $ref ${JSON.stringify(ref)}: invalid percent-encoding`);
      return undefined;
    }
    const segments = parsePointer(pointer);
    if (!segments) {
      this.report('warning', from.file, refPath, `$ref ${JSON.stringify(ref)} uses an anchor, not a JSON pointer; it is not checked`);
      return undefined;
    }
    let file = from.file;
    if (filePart !== '') {
      let rel: string;
      try {
        rel = decodeURIComponent(filePart);
      } catch {
        rel = filePart;
      }
      file = path.resolve(path.dirname(from.file), rel);
    }
    const src = await this.get(file, { file: from.file, path: refPath, ref });
    if (!src || src.value === undefined) return undefined;
    let cur: unknown = src.value;
    const walked: Segment[] = [];
    for (const s of segments) {
      const next: Segment = Array.isArray(cur) ? Number(s) : s;
      const child = Array.isArray(cur) ? (Number.isInteger(next) ? cur[next as number] : undefined) : isObject(cur) && Object.hasOwn(cur, s) ? cur[s] : undefined;
      if (child === undefined) {
        const where = filePart === '' ? '' : ` in ${displayPath(file)}`;
        this.report('error', from.file, refPath, `cannot resolve $ref ${JSON.stringify(ref)}: no ${JSON.stringify(s)} at ${jsonPointer(walked) || '/'}${where}`);
        return undefined;
      }
      walked.push(next);
      cur = child;
    }
    return { file, path: walked, value: cur };
  }

  /**
   * Follow `$ref` chains from `start` until a value without `$ref`; a chain that comes back
   * to a place it has been is reported as circular.
   */
  async deref(start: Located): Promise<Located | undefined> {
    let cur = start;
    const seen = new Set<string>();
    while (isObject(cur.value) && '$ref' in cur.value) {
      const id = `${cur.file}#${jsonPointer(cur.path)}`;
      if (seen.has(id)) {
        this.report('error', start.file, [...start.path, '$ref'], `circular $ref: following ${JSON.stringify((start.value as Json).$ref)} comes back to ${displayPath(cur.file)}#${jsonPointer(cur.path)}`);
        return undefined;
      }
      seen.add(id);
      const next = await this.target(cur, cur.value.$ref);
      if (!next) return undefined;
      cur = next;
    }
    return cur;
  }

  /** Check that every `$ref` in the document, and in the files it refers to, resolves. */
  async checkAllRefs(main: string): Promise<void> {
    const queue = [main];
    const walkedFiles = new Set<string>();
    while (queue.length > 0) {
      const file = queue.shift() as string;
      if (walkedFiles.has(file)) continue;
      walkedFiles.add(file);
      const src = await this.get(file);
      if (!src || src.value === undefined) continue;
      const refs: Located[] = [];
      collectRefs(src.value, [], file, refs, new Set());
      for (const r of refs) {
        const t = await this.target(r, (r.value as Json).$ref);
        if (t && t.file !== file) queue.push(t.file);
      }
    }
  }
}

/** Keys whose values are data, not OpenAPI objects: a `$ref` key inside them is not a reference. */
const DATA_KEYS = new Set(['example', 'default', 'enum', 'const']);

function collectRefs(v: unknown, p: Segment[], file: string, out: Located[], onPath: Set<unknown>): void {
  if (typeof v !== 'object' || v === null || onPath.has(v)) return;
  onPath.add(v);
  if (Array.isArray(v)) {
    v.forEach((item, i) => collectRefs(item, [...p, i], file, out, onPath));
  } else {
    const o = v as Json;
    if ('$ref' in o) out.push({ file, path: p, value: o });
    for (const [k, child] of Object.entries(o)) {
      if (k === '$ref' || DATA_KEYS.has(k) || k.startsWith('x-')) continue;
      // An Example Object's `value` is data; a schema's `examples` list is data too.
      if (k === 'value' && p[p.length - 2] === 'examples') continue;
      if (k === 'examples' && Array.isArray(child)) continue;
      collectRefs(child, [...p, k], file, out, onPath);
    }
  }
  onPath.delete(v);
}

function hasScheme(ref: string): boolean {
  const colon = ref.indexOf(':');
  if (colon <= 1) return false; // `c:` drive letters are paths, not schemes
  for (let i = 0; i < colon; i++) {
    const c = ref.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (i > 0 && ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46));
    if (!ok) return false;
  }
  return true;
}

function checkVersion(loader: Loader, file: string, doc: Json): string | undefined {
  const supported = 'Portcullis reads OpenAPI 3.0.x and 3.1.x documents';
  if (doc.openapi === undefined) {
    if (doc.swagger !== undefined) {
      loader.report('error', file, ['swagger'], `Swagger ${String(doc.swagger)} is not supported; ${supported} (convert it first, e.g. with swagger2openapi)`);
    } else {
      loader.report('error', file, [], `missing required key "openapi"; ${supported}`);
    }
    return undefined;
  }
  const v = doc.openapi;
  if (typeof v !== 'string' || !(v.startsWith('3.0.') || v.startsWith('3.1.')) || !isDigits(v.slice(4).split('-')[0] ?? '')) {
    loader.report('error', file, ['openapi'], `unsupported OpenAPI version ${JSON.stringify(v)}; ${supported}`);
    return undefined;
  }
  return v;
}

function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function requireString(loader: Loader, file: string, doc: Json, parent: string, key: string): string | undefined {
  const obj = doc[parent];
  if (!isObject(obj)) {
    loader.report('error', file, obj === undefined ? [] : [parent], obj === undefined ? `missing required key "${parent}"` : `expected "${parent}" to be an object`);
    return undefined;
  }
  const v = obj[key];
  if (typeof v === 'string' && v !== '') return v;
  if (v === undefined) loader.report('error', file, [parent], `missing required key "${key}"`);
  else loader.report('error', file, [parent, key], `expected ${parent}.${key} to be a non-empty string`);
  return undefined;
}

async function readOperations(loader: Loader, main: string, doc: Json): Promise<ApiOperation[]> {
  const paths = doc.paths as Json;
  const operations: ApiOperation[] = [];
  const operationIds = new Map<string, ApiOperation>();
  const shapes = new Map<string, string>();
  const docSecurity = readSecurity(loader, main, ['security'], doc.security);

  for (const [template, rawItem] of Object.entries(paths)) {
    if (template.startsWith('x-')) continue;
    const itemPath: Segment[] = ['paths', template];
    const names = checkTemplate(loader, main, itemPath, template);
    if (names === undefined) continue;

    const shape = shapeOf(template);
    const first = shapes.get(shape);
    if (first !== undefined) {
      const at = loader.parsed.get(main)?.locateKey(['paths', first]);
      loader.report('error', main, itemPath, `path ${JSON.stringify(template)} is ambiguous with ${JSON.stringify(first)}${at ? ` (line ${at.line})` : ''}: they differ only in parameter names`, true);
    } else {
      shapes.set(shape, template);
    }

    const item = await loader.deref({ file: main, path: itemPath, value: rawItem });
    if (!item) continue;
    if (!isObject(item.value)) {
      loader.report('error', item.file, item.path, 'expected a Path Item object');
      continue;
    }
    const itemValue = item.value;
    const pathParams = await declaredPathParams(loader, item.file, [...item.path, 'parameters'], itemValue.parameters);

    for (const m of METHODS) {
      const op = itemValue[m];
      if (op === undefined) continue;
      const opPath = [...item.path, m];
      if (!isObject(op)) {
        loader.report('error', item.file, opPath, `expected an Operation object for ${m.toUpperCase()} ${template}`);
        continue;
      }
      const method = m.toUpperCase() as HttpMethodName;
      const pointer = jsonPointer(['paths', template, m]);
      const src = loader.parsed.get(item.file);
      const location = src ? src.locateKey(opPath) : { file: item.file, line: 0, column: 0 };
      let operationId = `${method} ${template}`;
      if (op.operationId !== undefined) {
        if (typeof op.operationId === 'string' && op.operationId !== '') operationId = op.operationId;
        else loader.report('error', item.file, [...opPath, 'operationId'], 'expected operationId to be a non-empty string');
      }
      const opParams = await declaredPathParams(loader, item.file, [...opPath, 'parameters'], op.parameters);
      const declared = new Set([...pathParams.names, ...opParams.names]);
      // When a parameter could not be read, "not declared" would only be noise.
      for (const name of pathParams.complete && opParams.complete ? names : []) {
        if (!declared.has(name)) {
          loader.report('warning', item.file, opPath, `path parameter "${name}" of ${method} ${template} is not declared in parameters (in: path)`, true);
        }
      }
      const security = op.security !== undefined ? readSecurity(loader, item.file, [...opPath, 'security'], op.security) : docSecurity;
      const tags = Array.isArray(op.tags) ? op.tags.filter((t): t is string => typeof t === 'string') : [];
      const operation: ApiOperation = { method, path: template, operationId, deprecated: op.deprecated === true, security, tags, pointer, location };
      if (typeof op.operationId === 'string' && op.operationId !== '') {
        const dup = operationIds.get(operationId);
        if (dup) {
          loader.report(
            'error',
            item.file,
            [...opPath, 'operationId'],
            `duplicate operationId ${JSON.stringify(operationId)}; also used by ${dup.method} ${dup.path} (${displayPath(dup.location.file)}:${dup.location.line})`,
          );
        } else {
          operationIds.set(operationId, operation);
        }
      }
      operations.push(operation);
    }
  }
  return operations;
}

/** Names of the `in: path` parameters of a parameters list, following `$ref`s; `complete` is false when one could not be read. */
async function declaredPathParams(loader: Loader, file: string, listPath: Segment[], list: unknown): Promise<{ names: string[]; complete: boolean }> {
  const names: string[] = [];
  if (list === undefined) return { names, complete: true };
  if (!Array.isArray(list)) {
    loader.report('error', file, listPath, 'expected parameters to be a list');
    return { names, complete: false };
  }
  let complete = true;
  for (let i = 0; i < list.length; i++) {
    const p = await loader.deref({ file, path: [...listPath, i], value: list[i] });
    if (!p) complete = false;
    else if (isObject(p.value) && p.value.in === 'path' && typeof p.value.name === 'string') names.push(p.value.name);
  }
  return { names, complete };
}

function readSecurity(loader: Loader, file: string, at: Segment[], v: unknown): SecurityRequirement[] | undefined {
  if (v === undefined) return undefined;
  const problem = 'expected security to be a list of requirements, each mapping a scheme name to a list of scopes';
  if (!Array.isArray(v)) {
    loader.report('error', file, at, problem);
    return undefined;
  }
  const out: SecurityRequirement[] = [];
  for (let i = 0; i < v.length; i++) {
    const req: unknown = v[i];
    if (!isObject(req) || !Object.values(req).every((scopes) => Array.isArray(scopes) && scopes.every((s) => typeof s === 'string'))) {
      loader.report('error', file, [...at, i], problem);
      continue;
    }
    out.push(req as SecurityRequirement);
  }
  return out;
}

/**
 * Check a path template: starts with `/`, no query or fragment, `{name}` parameters with
 * non-empty, distinct names. Returns the parameter names, or undefined when malformed.
 */
function checkTemplate(loader: Loader, file: string, at: Segment[], template: string): string[] | undefined {
  const bad = (why: string) => {
    loader.report('error', file, at, `invalid path template ${JSON.stringify(template)}: ${why}`, true);
    return undefined;
  };
  if (!template.startsWith('/')) return bad('expected it to start with "/"');
  const names: string[] = [];
  let i = 0;
  while (i < template.length) {
    const c = template[i];
    if (c === '?' || c === '#') return bad('a path template has no query or fragment');
    if (c === '}') return bad(`"}" without "{" at character ${i + 1}`);
    if (c === '{') {
      const end = template.indexOf('}', i + 1);
      if (end < 0) return bad(`"{" without "}" at character ${i + 1}`);
      const name = template.slice(i + 1, end);
      if (name === '') return bad('empty parameter name "{}"');
      if (name.includes('{') || name.includes('/')) return bad(`unclosed "{" at character ${i + 1}`);
      if (names.includes(name)) return bad(`parameter "${name}" appears twice`);
      names.push(name);
      i = end + 1;
    } else {
      i++;
    }
  }
  return names;
}

/** The template with parameter names erased: `/a/{x}` and `/a/{y}` have the same shape. */
function shapeOf(template: string): string {
  let out = '';
  let i = 0;
  while (i < template.length) {
    if (template[i] === '{') {
      const end = template.indexOf('}', i);
      out += '{}';
      i = end + 1;
    } else {
      out += template[i];
      i++;
    }
  }
  return out;
}

/** The path of the first `servers` URL, with server variables at their defaults. */
function basePathOf(loader: Loader, file: string, doc: Json): string {
  if (!Array.isArray(doc.servers) || doc.servers.length === 0) return '';
  const server: unknown = doc.servers[0];
  if (!isObject(server) || typeof server.url !== 'string') {
    loader.report('error', file, ['servers', 0], 'expected a Server object with a url');
    return '';
  }
  const vars = isObject(server.variables) ? server.variables : {};
  let url = '';
  let i = 0;
  const raw = server.url;
  while (i < raw.length) {
    const c = raw[i];
    const end = c === '{' ? raw.indexOf('}', i) : -1;
    if (end > i) {
      const name = raw.slice(i + 1, end);
      const v = vars[name];
      const def = isObject(v) ? v.default : undefined;
      if (typeof def === 'string') url += def;
      else loader.report('warning', file, ['servers', 0, 'url'], `server variable "${name}" has no default; it is left out of the base path`);
      i = end + 1;
    } else {
      url += c;
      i++;
    }
  }
  let p: string;
  if (url.includes('://')) {
    try {
      p = new URL(url).pathname;
    } catch {
      loader.report('warning', file, ['servers', 0, 'url'], `cannot parse server URL ${JSON.stringify(url)}; no base path taken from it`);
      return '';
    }
  } else {
    p = url.split('?')[0]?.split('#')[0] ?? '';
    if (p.startsWith('//')) p = p.slice(2).includes('/') ? p.slice(2 + p.slice(2).indexOf('/')) : '';
  }
  return normalizeBasePath(p);
}

/** '' or `/a/b`: leading slash, no trailing slash. */
/** Every parsed file of the document, by absolute path (for resolving `$ref`s across files). */
function documentsOf(loader: Loader): ReadonlyMap<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [file, src] of loader.parsed) if (src.value !== undefined) out.set(file, src.value);
  return out;
}

export function normalizeBasePath(p: string): string {
  let s = p.startsWith('/') ? p : `/${p}`;
  while (s.endsWith('/')) s = s.slice(0, -1);
  return s;
}
