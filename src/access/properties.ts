/**
 * Property-level authorization, compiled once per operation at config load.
 *
 * - Requests (mass assignment): a {@link WritePolicy} refuses a JSON body that sets a
 *   `readOnly: true` property anywhere (nested objects, array items, additionalProperties),
 *   or a property whose schema says `x-portcullis-write-roles: [..]` when the caller has
 *   none of those roles. The refusal carries the RFC 6901 pointer into the body.
 * - Responses (excessive data exposure): a {@link ReadPolicy} removes, in place, properties
 *   marked `writeOnly: true` (always) and those with `x-portcullis-read-roles: [..]` the
 *   caller has none of.
 *
 * Schemas are compiled into a graph of nodes, one per schema object (memoized by identity,
 * so recursive schemas become cycles in the graph, never loops). A node merges its `$ref`
 * target, its `$ref` siblings and its `allOf`, `oneOf`, `anyOf`, `then`, `else` members:
 * for property purposes a property is restricted when any declaration of it, in any branch,
 * restricts it (conservative). Every node knows whether something below it is restricted,
 * so a check walks only the parts of a body that can hold a restricted property, and a
 * policy is `undefined` when nothing is restricted (the gateway then never buffers bodies).
 *
 * Walking attacker bodies is bounded: depth ({@link DEFAULT_MAX_DEPTH}) and the number of
 * values visited ({@link DEFAULT_MAX_VISITS}). Past a bound the policy throws
 * {@link PolicyLimitError}; the runner turns that into a refusal (fail closed).
 *
 * {@link parseJsonBody} parses a body for these checks: JSON content types only, strict UTF-8,
 * depth checked by a linear pre-scan before `JSON.parse`, duplicate keys refused (an upstream
 * that keeps the first of two keys would otherwise see another value than the gateway).
 */
import { escapePointerSegment, isObject, SchemaResolver, type JsonObject } from './schema-resolve.js';

export const DEFAULT_MAX_DEPTH = 64;
export const DEFAULT_MAX_VISITS = 100_000;
/** Schema objects compiled per policy at most (config-time bound against absurd documents). */
export const DEFAULT_MAX_SCHEMA_NODES = 20_000;

export type WriteRule = 'readOnly' | 'write-roles';

export interface WriteViolation {
  /** RFC 6901 pointer into the body, e.g. `/items/3/price`. */
  readonly pointer: string;
  readonly rule: WriteRule;
}

export interface WritePolicy {
  /** The first restricted property the body sets, or undefined when the body may be written. */
  check(body: unknown, roles: readonly string[]): WriteViolation | undefined;
}

export interface ReadPolicy {
  /** Remove, in place, what the caller may not read; returns the pointers removed. */
  filter(status: number, body: unknown, roles: readonly string[]): { removed: string[] };
}

export interface CompileOptions {
  /** Resolves `$ref`s inside the schema (default: one over the schema itself) and collects problems. */
  readonly resolver?: SchemaResolver;
  /** Where the schema sits: its JSON pointer, for problem messages. */
  readonly at?: string;
  /** The file the schema lives in (default: the resolver's main document); its `$ref`s resolve against it. */
  readonly file?: string;
  /** compileReadPolicy: where the schema of a status sits (default `<at>/<status>` in `file`); a string is a pointer in `file`. */
  readonly locate?: (status: string) => string | { readonly at: string; readonly file: string };
  readonly maxDepth?: number;
  readonly maxVisits?: number;
  readonly maxSchemaNodes?: number;
}

/** A body is too deep or too large to check; refuse it (fail closed). */
export class PolicyLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyLimitError';
  }
}

interface Node {
  readOnly: boolean;
  writeOnly: boolean;
  /** Each list must be satisfied (the caller has one of its roles). */
  readonly writeRoles: (readonly string[])[];
  readonly readRoles: (readonly string[])[];
  readonly props: Map<string, Node[]>;
  readonly additional: Node[];
  readonly items: Node[];
  readonly prefix: Node[][];
  /** Something in this node itself restricts writes / reads of the value it describes. */
  ownW: boolean;
  ownR: boolean;
  /** Something below this node is restricted. */
  subW: boolean;
  subR: boolean;
}

function newNode(): Node {
  return {
    readOnly: false,
    writeOnly: false,
    writeRoles: [],
    readRoles: [],
    props: new Map(),
    additional: [],
    items: [],
    prefix: [],
    ownW: false,
    ownR: false,
    subW: false,
    subR: false,
  };
}

function pushUnique(list: Node[], n: Node): void {
  if (!list.includes(n)) list.push(n);
}

/** Composition keywords whose members add properties to the same value. */
const MERGED = ['allOf', 'oneOf', 'anyOf'] as const;
const MERGED_SINGLE = ['then', 'else'] as const;

class GraphBuilder {
  private readonly memo = new Map<object, Node>();
  private readonly queue: { node: Node; schema: JsonObject; at: string; file: string }[] = [];

  constructor(
    private readonly resolver: SchemaResolver,
    private readonly maxNodes: number,
  ) {}

  /**
   * The node of a schema object that lives at `at` in `file` (`$ref`s in it resolve against
   * that file). Memoized by identity: a parsed object lives in exactly one file.
   */
  node(schema: unknown, at: string, file: string): Node | undefined {
    if (!isObject(schema)) return undefined; // boolean schemas and junk declare no properties
    let n = this.memo.get(schema);
    if (n) return n;
    if (this.memo.size >= this.maxNodes) {
      throw new Error(`${this.resolver.where(file, at) || '/'}: the schema has more than ${this.maxNodes} sub-schemas; property-level authorization cannot compile it`);
    }
    n = newNode();
    this.memo.set(schema, n);
    this.queue.push({ node: n, schema, at, file });
    return n;
  }

  /** Build every node reachable from the ones asked for, then the "restricted below" marks. */
  finish(): void {
    for (let job = this.queue.shift(); job; job = this.queue.shift()) this.fill(job.node, job.schema, job.at, job.file);
    const nodes = [...this.memo.values()];
    const parents = new Map<Node, Node[]>();
    const link = (parent: Node, child: Node) => {
      let list = parents.get(child);
      if (!list) parents.set(child, (list = []));
      list.push(parent);
    };
    for (const n of nodes) {
      for (const list of n.props.values()) for (const c of list) link(n, c);
      for (const c of n.additional) link(n, c);
      for (const c of n.items) link(n, c);
      for (const list of n.prefix) for (const c of list) link(n, c);
    }
    // Reverse breadth-first from restricted nodes: each parent has something restricted below.
    const mark = (own: (n: Node) => boolean, set: (n: Node) => boolean) => {
      const queue = nodes.filter(own);
      for (let i = 0; i < queue.length; i++) {
        for (const p of parents.get(queue[i] as Node) ?? []) if (set(p)) queue.push(p);
      }
    };
    mark(
      (n) => n.ownW,
      (p) => !p.subW && (p.subW = true),
    );
    mark(
      (n) => n.ownR,
      (p) => !p.subR && (p.subR = true),
    );
  }

  /** Everything that describes the same value as `schema`: `$ref` targets and composition members. */
  private closure(schema: JsonObject, at: string, file: string): { schema: JsonObject; at: string; file: string }[] {
    const out: { schema: JsonObject; at: string; file: string }[] = [];
    const seen = new Set<object>();
    const stack = [{ schema, at, file }];
    for (let cur = stack.pop(); cur; cur = stack.pop()) {
      if (seen.has(cur.schema)) continue;
      seen.add(cur.schema);
      out.push(cur);
      const s = cur.schema;
      if (Object.hasOwn(s, '$ref')) {
        const t = this.resolver.target(s.$ref, cur.at, cur.file);
        if (t && isObject(t.value)) stack.push({ schema: t.value, at: t.at, file: t.file });
      }
      for (const kw of MERGED) {
        const members = s[kw];
        if (!Array.isArray(members)) continue;
        members.forEach((m, i) => {
          if (isObject(m)) stack.push({ schema: m, at: `${cur.at}/${kw}/${i}`, file: cur.file });
        });
      }
      for (const kw of MERGED_SINGLE) {
        const m = s[kw];
        if (isObject(m)) stack.push({ schema: m, at: `${cur.at}/${kw}`, file: cur.file });
      }
    }
    return out;
  }

  private fill(n: Node, schema: JsonObject, at: string, file: string): void {
    for (const { schema: s, at: sAt, file: sFile } of this.closure(schema, at, file)) {
      if (s.readOnly === true) n.readOnly = true;
      if (s.writeOnly === true) n.writeOnly = true;
      if (Object.hasOwn(s, 'x-portcullis-write-roles')) n.writeRoles.push(this.roles(s['x-portcullis-write-roles'], `${sAt}/x-portcullis-write-roles`, sFile));
      if (Object.hasOwn(s, 'x-portcullis-read-roles')) n.readRoles.push(this.roles(s['x-portcullis-read-roles'], `${sAt}/x-portcullis-read-roles`, sFile));
      if (isObject(s.properties)) {
        for (const [name, ps] of Object.entries(s.properties)) {
          const child = this.node(ps, `${sAt}/properties/${escapePointerSegment(name)}`, sFile);
          if (!child) continue;
          let list = n.props.get(name);
          if (!list) n.props.set(name, (list = []));
          pushUnique(list, child);
        }
      }
      const additional = this.node(s.additionalProperties, `${sAt}/additionalProperties`, sFile);
      if (additional) pushUnique(n.additional, additional);
      if (Array.isArray(s.items)) {
        // Draft-4 style tuples (not OpenAPI, but seen in the wild).
        this.tuple(n, s.items, `${sAt}/items`, sFile);
      } else {
        const items = this.node(s.items, `${sAt}/items`, sFile);
        if (items) pushUnique(n.items, items);
      }
      if (Array.isArray(s.prefixItems)) this.tuple(n, s.prefixItems, `${sAt}/prefixItems`, sFile);
    }
    n.ownW = n.readOnly || n.writeRoles.length > 0;
    n.ownR = n.writeOnly || n.readRoles.length > 0;
  }

  private tuple(n: Node, list: unknown[], at: string, file: string): void {
    list.forEach((m, i) => {
      const child = this.node(m, `${at}/${i}`, file);
      if (!child) return;
      while (n.prefix.length <= i) n.prefix.push([]);
      pushUnique(n.prefix[i] as Node[], child);
    });
  }

  /** A role list; malformed lists are errors and restrict to nobody (fail closed). */
  private roles(v: unknown, at: string, file: string): readonly string[] {
    if (Array.isArray(v) && v.length > 0 && v.every((r) => typeof r === 'string' && r !== '')) return Object.freeze([...(v as string[])]);
    this.resolver.report('error', at, 'expected a non-empty list of role names; until fixed, nobody passes this restriction', file);
    return [];
  }
}

function satisfies(lists: readonly (readonly string[])[], roles: readonly string[]): boolean {
  for (const list of lists) {
    if (!list.some((r) => roles.includes(r))) return false;
  }
  return true;
}

/** The schema nodes a child value (object member or array element) is described by. */
function childNodes(nodes: readonly Node[], key: string | number): Node[] {
  const out: Node[] = [];
  for (const n of nodes) {
    if (typeof key === 'number') {
      for (const c of n.prefix[key] ?? n.items) pushUnique(out, c);
    } else {
      for (const c of n.props.get(key) ?? n.additional) pushUnique(out, c);
    }
  }
  return out;
}

interface Walk {
  visits: number;
  readonly maxVisits: number;
  readonly maxDepth: number;
}

function step(w: Walk, depth: number, pointer: string): void {
  if (++w.visits > w.maxVisits) throw new PolicyLimitError(`the body has more than ${w.maxVisits} values to check`);
  if (depth > w.maxDepth) throw new PolicyLimitError(`the body is nested deeper than ${w.maxDepth} at ${pointer}`);
}

/**
 * Object member names worth looking at: all keys when some node routes unknown keys to a
 * restricted additionalProperties schema, else only the declared restricted names.
 */
function candidateKeys(value: JsonObject, nodes: readonly Node[], relevant: (n: Node) => boolean): Iterable<string> {
  const declared = new Set<string>();
  for (const n of nodes) {
    if (n.additional.some(relevant)) return Object.keys(value);
    for (const [k, list] of n.props) if (list.some(relevant) && Object.hasOwn(value, k)) declared.add(k);
  }
  return declared;
}

const isWriteRelevant = (n: Node) => n.ownW || n.subW;
const isReadRelevant = (n: Node) => n.ownR || n.subR;

/** Can an element of an array described by these nodes be restricted? */
function itemsMatter(nodes: readonly Node[], relevant: (n: Node) => boolean): boolean {
  return nodes.some((n) => n.items.some(relevant) || n.prefix.some((list) => list.some(relevant)));
}

function checkValue(w: Walk, value: unknown, nodes: readonly Node[], roles: readonly string[], pointer: string, depth: number): WriteViolation | undefined {
  const visit = (key: string | number, child: unknown): WriteViolation | undefined => {
    const here = `${pointer}/${escapePointerSegment(key)}`;
    step(w, depth + 1, here);
    const kids = childNodes(nodes, key).filter(isWriteRelevant);
    if (kids.length === 0) return undefined;
    if (kids.some((k) => k.readOnly)) return { pointer: here, rule: 'readOnly' };
    if (!kids.every((k) => satisfies(k.writeRoles, roles))) return { pointer: here, rule: 'write-roles' };
    const below = kids.filter((k) => k.subW);
    return below.length > 0 ? checkValue(w, child, below, roles, here, depth + 1) : undefined;
  };
  if (Array.isArray(value)) {
    if (!itemsMatter(nodes, isWriteRelevant)) return undefined;
    for (let i = 0; i < value.length; i++) {
      const v = visit(i, value[i]);
      if (v) return v;
    }
  } else if (isObject(value)) {
    for (const key of candidateKeys(value, nodes, isWriteRelevant)) {
      const v = visit(key, value[key]);
      if (v) return v;
    }
  }
  return undefined;
}

function filterValue(w: Walk, value: unknown, nodes: readonly Node[], roles: readonly string[], pointer: string, depth: number, removed: string[]): void {
  /** True when the child must go. */
  const visit = (key: string | number, child: unknown): boolean => {
    const here = `${pointer}/${escapePointerSegment(key)}`;
    step(w, depth + 1, here);
    const kids = childNodes(nodes, key).filter(isReadRelevant);
    if (kids.length === 0) return false;
    if (kids.some((k) => k.writeOnly) || !kids.every((k) => satisfies(k.readRoles, roles))) {
      removed.push(here);
      return true;
    }
    const below = kids.filter((k) => k.subR);
    if (below.length > 0) filterValue(w, child, below, roles, here, depth + 1, removed);
    return false;
  };
  if (Array.isArray(value)) {
    if (!itemsMatter(nodes, isReadRelevant)) return;
    const drop: number[] = [];
    for (let i = 0; i < value.length; i++) if (visit(i, value[i])) drop.push(i);
    for (let j = drop.length - 1; j >= 0; j--) value.splice(drop[j] as number, 1);
  } else if (isObject(value)) {
    for (const key of [...candidateKeys(value, nodes, isReadRelevant)]) {
      if (visit(key, value[key])) delete value[key];
    }
  }
}

function compileRoot(schema: unknown, opts: CompileOptions): { builder: GraphBuilder; root: Node | undefined } {
  const resolver = opts.resolver ?? new SchemaResolver(schema);
  const builder = new GraphBuilder(resolver, opts.maxSchemaNodes ?? DEFAULT_MAX_SCHEMA_NODES);
  const root = builder.node(schema, opts.at ?? '', opts.file ?? resolver.file);
  return { builder, root };
}

/**
 * The mass-assignment policy of a request-body schema, or undefined when the schema
 * restricts nothing. Throws only for schemas over `maxSchemaNodes` (a config error).
 * Problems (refs not followed, malformed role lists) go to `opts.resolver.problems`.
 */
export function compileWritePolicy(schema: unknown, opts: CompileOptions = {}): WritePolicy | undefined {
  const { builder, root } = compileRoot(schema, opts);
  builder.finish();
  if (!root || !root.subW) return undefined;
  const roots = [root];
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxVisits = opts.maxVisits ?? DEFAULT_MAX_VISITS;
  return {
    check(body, roles) {
      return checkValue({ visits: 0, maxVisits, maxDepth }, body, roots, roles, '', 0);
    },
  };
}

/**
 * The data-exposure policy of an operation's responses (status key → schema, keys as in
 * OpenAPI: `200`, `2XX`, `default`), or undefined when no response restricts anything.
 * A status is matched as OpenAPI does: the exact code, then its range (`2XX`), then
 * `default`; a status none of them matches is not filtered (the contract stage is the one
 * that refuses undocumented statuses).
 */
export function compileReadPolicy(responseSchemasByStatus: ReadonlyMap<string, unknown> | Readonly<Record<string, unknown>>, opts: CompileOptions = {}): ReadPolicy | undefined {
  const entries = responseSchemasByStatus instanceof Map ? [...(responseSchemasByStatus as ReadonlyMap<string, unknown>)] : Object.entries(responseSchemasByStatus);
  const resolver = opts.resolver ?? new SchemaResolver(undefined);
  const builder = new GraphBuilder(resolver, opts.maxSchemaNodes ?? DEFAULT_MAX_SCHEMA_NODES);
  const byStatus = new Map<string, Node | undefined>();
  for (const [status, schema] of entries) {
    const located = opts.locate?.(status) ?? `${opts.at ?? ''}/${escapePointerSegment(status)}`;
    const { at, file } = typeof located === 'string' ? { at: located, file: opts.file ?? resolver.file } : located;
    // Without a resolver, `#/...` refs resolve against each schema itself (JSON Schema's root).
    const local = opts.resolver ? builder : new GraphBuilder(new SchemaResolver(schema), opts.maxSchemaNodes ?? DEFAULT_MAX_SCHEMA_NODES);
    const node = local.node(schema, at, local === builder ? file : '');
    if (local !== builder) local.finish();
    byStatus.set(status === 'default' ? status : status.toUpperCase(), node);
  }
  builder.finish();
  const restricted = new Map<string, Node | undefined>();
  for (const [k, n] of byStatus) restricted.set(k, n && n.subR ? n : undefined);
  if (![...restricted.values()].some((n) => n !== undefined)) return undefined;
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxVisits = opts.maxVisits ?? DEFAULT_MAX_VISITS;
  return {
    filter(status, body, roles) {
      const removed: string[] = [];
      const exact = String(status);
      const range = `${Math.floor(status / 100)}XX`;
      const key = restricted.has(exact) ? exact : restricted.has(range) ? range : 'default';
      const node = restricted.get(key);
      if (node) filterValue({ visits: 0, maxVisits, maxDepth }, body, [node], roles, '', 0, removed);
      return { removed };
    },
  };
}

// ---------------------------------------------------------------------------------------
// JSON bodies

export type ParseJsonResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: string };

/** True for `application/json` and `…/…+json` (parameters ignored, except a non-UTF-8 charset). */
function jsonContentType(contentType: string | undefined): { ok: true } | { ok: false; reason: string } {
  if (contentType === undefined || contentType.trim() === '') return { ok: false, reason: 'the body has no content type; expected application/json' };
  const parts = contentType.split(';');
  const base = (parts[0] ?? '').trim().toLowerCase();
  const slash = base.indexOf('/');
  const json = base === 'application/json' || (slash > 0 && base.endsWith('+json') && base.length > slash + 6);
  if (!json) return { ok: false, reason: `the body is ${JSON.stringify(base.slice(0, 100))}, not JSON` };
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i] as string;
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    if (p.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    let v = p.slice(eq + 1).trim().toLowerCase();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    if (v !== 'utf-8' && v !== 'utf8') return { ok: false, reason: 'JSON bodies must be UTF-8' };
  }
  return { ok: true };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Structure pre-scan, linear and without recursion: refuses nesting deeper than `maxDepth`
 * and objects with a duplicate member name. Syntax is left to `JSON.parse`; on valid JSON the
 * scan is exact, and invalid JSON is refused by the parser anyway.
 */
function prescan(text: string, maxDepth: number): string | undefined {
  // One entry per open container: the member names seen (objects) or null (arrays).
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === 0x5c /* \ */) {
          escaped = true;
          j += 2;
        } else if (d === 0x22) {
          break;
        } else {
          j++;
        }
      }
      if (j >= n) return 'unterminated string';
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        let key = text.slice(i + 1, j);
        if (escaped) {
          try {
            key = JSON.parse(text.slice(i, j + 1)) as string;
          } catch {
            return 'invalid string escape';
          }
        }
        if (top.has(key)) return `duplicate member ${JSON.stringify(key.slice(0, 100))}`;
        top.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (stack.length >= maxDepth) return `nested deeper than ${maxDepth}`;
      const obj = c === 0x7b;
      stack.push(obj ? new Set() : null);
      expectKey = obj;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] instanceof Set;
    }
  }
  return undefined;
}

/**
 * Parse a request or response body for the access checks: a JSON content type, strict UTF-8,
 * nesting at most `maxDepth`, no duplicate member names, then `JSON.parse`. The reason is
 * for the audit event (`body_not_json`), never for the client.
 */
export function parseJsonBody(buf: Buffer, contentType: string | undefined, maxDepth: number = DEFAULT_MAX_DEPTH): ParseJsonResult {
  const ct = jsonContentType(contentType);
  if (!ct.ok) return ct;
  let text: string;
  try {
    text = strictUtf8.decode(buf);
  } catch {
    return { ok: false, reason: 'the body is not valid UTF-8' };
  }
  const problem = prescan(text, maxDepth);
  if (problem) return { ok: false, reason: `the body is not acceptable JSON: ${problem}` };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, reason: `the body is not valid JSON: ${(err as Error).message.slice(0, 200)}` };
  }
}
