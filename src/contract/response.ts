/**
 * Response contract enforcement, compiled once per operation at config load.
 *
 * For each declared status key (`200`, `2XX`, `default`) and media type, a response policy
 * knows the JSON schema to check. A response is matched as OpenAPI says: the exact status,
 * then its range (`2XX`), then `default`; its content type by base type (parameters ignored):
 * the exact media type, then `application/json` for any `+json` type, then a declared range
 * (`application/*`), then `*\/*`.
 *
 * Two independent checks, each with its own mode:
 * - `validate` (ajv, through {@link SchemaCompiler}): a body that does not match its schema, a
 *   status the operation does not declare (`undeclaredStatus`) and a content type the status
 *   does not declare (`mediaType`) are violations at location `response`.
 * - `undeclared`: properties the schema does not declare are removed (`strip`) or listed
 *   (`report`). A property is declared when some `properties` reachable through `$ref`,
 *   `allOf`, `anyOf`, `oneOf`, `then`, `else` names it; an object whose schema allows extra keys
 *   (`additionalProperties: true` or a schema, `patternProperties`, or a schema that says
 *   nothing about keys at all: a free-form object) keeps them. Composition is merged
 *   conservatively: a key survives when any branch declares it.
 *
 * Stripping runs before validation, so the body that is validated is the one that is sent.
 *
 * Schemas become a graph of nodes memoized by schema identity (recursive schemas are cycles,
 * never loops); every node knows whether something at or below it can remove keys, so only
 * those parts of a body are walked. Walking is bounded by depth and by values visited; past a
 * bound `check` throws {@link ResponseLimitError}, which the stage turns into a refusal.
 */
import { escapePointerSegment, isObject, SchemaResolver, type JsonObject } from '../access/schema-resolve.js';
import type { ApiOperation, LoadedSpec } from '../config/types.js';
import type { CompiledSchema, SchemaCompiler, Violation } from './schema-compiler.js';

export type ResponseMode = 'off' | 'monitor' | 'enforce';
export type UndeclaredMode = 'strip' | 'report' | 'off';

export const RESPONSE_MAX_DEPTH = 64;
export const RESPONSE_MAX_VISITS = 100_000;
/** Schema objects compiled per operation at most (config-time bound against absurd documents). */
export const RESPONSE_MAX_SCHEMA_NODES = 20_000;

export interface ResponseCheckResult {
  /** Violations at location `response` (empty when the response matches its contract). */
  violations: Violation[];
  /** RFC 6901 pointers of the undeclared properties removed (`strip`) or found (`report`). */
  removed: string[];
  /** The body (the same value, filtered in place under `strip`). */
  body: unknown;
}

export interface ResponsePolicy {
  readonly validate: ResponseMode;
  readonly undeclared: UndeclaredMode;
  /**
   * Whether a response with this status/content type has a declared JSON schema to check, or
   * (when `validate` is on) already breaks the contract by its head: an undeclared status or
   * media type. False means there is nothing to do.
   */
  applies(status: number, contentType: string | undefined): boolean;
  /**
   * What the head alone breaks (no body needed): an undeclared status, a content type the
   * status does not declare. Empty when `validate` is off. A missing content type is not
   * judged here (the body may be empty).
   */
  checkHead(status: number, contentType: string | undefined): Violation[];
  /**
   * Validates (ajv) and filters a parsed JSON body in place according to the modes; includes
   * the head's violations. `body` undefined means an empty body: only the head is checked.
   * Throws {@link ResponseLimitError} for a body too deep or too large to walk.
   */
  check(status: number, contentType: string | undefined, body: unknown): ResponseCheckResult;
}

export interface ResponseProblem {
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

/** A response body is too deep or too large to filter; refuse it (fail closed). */
export class ResponseLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ResponseLimitError';
  }
}

// ---------------------------------------------------------------------------------------
// Schema graph for undeclared properties

interface Node {
  /** Declared property names → the schemas of their values (empty list: declared, nothing to walk). */
  readonly props: Map<string, Node[]>;
  /** Schemas of undeclared keys (additionalProperties / unevaluatedProperties as schema objects). */
  readonly additional: Node[];
  readonly items: Node[];
  readonly prefix: Node[][];
  /** Undeclared keys are kept without walking them. */
  open: boolean;
  /** Some member says something about the object's keys. */
  declaresKeys: boolean;
  /** This node removes undeclared keys. */
  own: boolean;
  /** Some node below removes undeclared keys. */
  sub: boolean;
}

function newNode(): Node {
  return { props: new Map(), additional: [], items: [], prefix: [], open: false, declaresKeys: false, own: false, sub: false };
}

function pushUnique(list: Node[], n: Node): void {
  if (!list.includes(n)) list.push(n);
}

const MERGED = ['allOf', 'oneOf', 'anyOf'] as const;
const MERGED_SINGLE = ['then', 'else'] as const;

class GraphBuilder {
  private readonly memo = new Map<object, Node>();
  private readonly queue: { node: Node; schema: JsonObject; at: string; file: string }[] = [];

  constructor(
    private readonly resolver: SchemaResolver,
    private readonly maxNodes: number,
  ) {}

  node(schema: unknown, at: string, file: string): Node | undefined {
    if (!isObject(schema)) return undefined; // boolean schemas declare no properties
    let n = this.memo.get(schema);
    if (n) return n;
    if (this.memo.size >= this.maxNodes) {
      throw new Error(`${this.resolver.where(file, at) || '/'}: the schema has more than ${this.maxNodes} sub-schemas; response filtering cannot compile it`);
    }
    n = newNode();
    this.memo.set(schema, n);
    this.queue.push({ node: n, schema, at, file });
    return n;
  }

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
    const queue = nodes.filter((n) => n.own);
    for (let i = 0; i < queue.length; i++) {
      for (const p of parents.get(queue[i] as Node) ?? []) {
        if (!p.sub) {
          p.sub = true;
          queue.push(p);
        }
      }
    }
  }

  /** Everything that describes the same value: `$ref` targets and composition members. */
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
        // A reference that does not resolve declares nothing: the object is left as it is.
        else if (!t) stack.push({ schema: { additionalProperties: true }, at: cur.at, file: cur.file });
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
      if (isObject(s.properties)) {
        n.declaresKeys = true;
        for (const [name, ps] of Object.entries(s.properties)) {
          let list = n.props.get(name);
          if (!list) n.props.set(name, (list = []));
          const child = this.node(ps, `${sAt}/properties/${escapePointerSegment(name)}`, sFile);
          if (child) pushUnique(list, child);
        }
      }
      for (const kw of ['additionalProperties', 'unevaluatedProperties'] as const) {
        if (!Object.hasOwn(s, kw)) continue;
        n.declaresKeys = true;
        const v = s[kw];
        if (v === false) continue;
        const extra = this.node(v, `${sAt}/${kw}`, sFile);
        if (extra) pushUnique(n.additional, extra);
        else n.open = true; // `true` or junk: anything goes
      }
      if (Object.hasOwn(s, 'patternProperties')) {
        // Key patterns are not run against bodies: keys they may cover are kept as they are.
        n.declaresKeys = true;
        n.open = true;
      }
      if (Array.isArray(s.items)) {
        this.tuple(n, s.items, `${sAt}/items`, sFile); // draft-4 style tuples
      } else {
        const items = this.node(s.items, `${sAt}/items`, sFile);
        if (items) pushUnique(n.items, items);
      }
      if (Array.isArray(s.prefixItems)) this.tuple(n, s.prefixItems, `${sAt}/prefixItems`, sFile);
    }
    // A schema that says nothing about keys is a free-form object.
    if (!n.declaresKeys) n.open = true;
    n.own = !n.open && n.additional.length === 0;
  }

  private tuple(n: Node, list: unknown[], at: string, file: string): void {
    list.forEach((m, i) => {
      const child = this.node(m, `${at}/${i}`, file);
      if (!child) return;
      while (n.prefix.length <= i) n.prefix.push([]);
      pushUnique(n.prefix[i] as Node[], child);
    });
  }
}

const relevant = (n: Node) => n.own || n.sub;

interface Walk {
  visits: number;
  readonly strip: boolean;
  readonly removed: string[];
}

function step(w: Walk, depth: number, pointer: string): void {
  if (++w.visits > RESPONSE_MAX_VISITS) throw new ResponseLimitError(`the response body has more than ${RESPONSE_MAX_VISITS} values to check`);
  if (depth > RESPONSE_MAX_DEPTH) throw new ResponseLimitError(`the response body is nested deeper than ${RESPONSE_MAX_DEPTH} at ${pointer}`);
}

/** Filters `value` described by `nodes` (each relevant); undeclared keys go when every node drops them. */
function walk(w: Walk, value: unknown, nodes: readonly Node[], pointer: string, depth: number): void {
  if (Array.isArray(value)) {
    if (!nodes.some((n) => n.items.some(relevant) || n.prefix.some((l) => l.some(relevant)))) return;
    for (let i = 0; i < value.length; i++) {
      const here = `${pointer}/${i}`;
      step(w, depth + 1, here);
      const kids: Node[] = [];
      for (const n of nodes) for (const c of n.prefix[i] ?? n.items) if (relevant(c)) pushUnique(kids, c);
      if (kids.length > 0) walk(w, value[i], kids, here, depth + 1);
    }
    return;
  }
  if (!isObject(value)) return;
  for (const key of Object.keys(value)) {
    const here = `${pointer}/${escapePointerSegment(key)}`;
    step(w, depth + 1, here);
    let kept = false;
    const kids: Node[] = [];
    for (const n of nodes) {
      const declared = n.props.get(key);
      if (declared !== undefined) {
        kept = true;
        for (const c of declared) if (relevant(c)) pushUnique(kids, c);
      } else if (n.additional.length > 0) {
        kept = true;
        for (const c of n.additional) if (relevant(c)) pushUnique(kids, c);
      } else if (n.open) {
        kept = true;
      }
    }
    if (!kept) {
      w.removed.push(here);
      if (w.strip) delete value[key];
    } else if (kids.length > 0) {
      walk(w, value[key], kids, here, depth + 1);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Statuses and media types

interface MediaEntry {
  /** Base media type, lower case, e.g. `application/json`, `application/*`. */
  readonly type: string;
  readonly validator: CompiledSchema | undefined;
  /** The schema's node, when something in it removes undeclared keys. */
  readonly root: Node | undefined;
}

interface StatusEntry {
  /** Declared media types; empty when the response declares no content. */
  readonly media: MediaEntry[];
}

function baseType(contentType: string): string {
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/** JSON bodies we can parse: `application/json` and any `+json` type. */
function isJsonType(base: string): boolean {
  const slash = base.indexOf('/');
  return base === 'application/json' || (slash > 0 && base.endsWith('+json') && base.length > slash + 6);
}

function matchMedia(media: readonly MediaEntry[], base: string): MediaEntry | undefined {
  const find = (t: string) => media.find((m) => m.type === t);
  const exact = find(base);
  if (exact) return exact;
  if (isJsonType(base)) {
    const json = find('application/json');
    if (json) return json;
  }
  const slash = base.indexOf('/');
  if (slash > 0) {
    const range = find(`${base.slice(0, slash)}/*`);
    if (range) return range;
  }
  return find('*/*');
}

function isStatusKey(key: string): boolean {
  if (key === 'default') return true;
  if (key.length !== 3 || key[0] === undefined || key[0] < '1' || key[0] > '5') return false;
  const rest = key.slice(1);
  return rest === 'XX' || /^[0-9]{2}$/.test(rest);
}

/**
 * The response policy of the operation at `op.pointer` of `spec`, or undefined when there is
 * nothing to do (both modes off, or no response declares a JSON schema and validation is off).
 * Problems are config diagnostics: `error` for schemas that cannot be compiled (the policy is
 * then undefined: the config must not run with a half-compiled contract).
 */
export function compileResponses(
  spec: LoadedSpec,
  op: Pick<ApiOperation, 'pointer'>,
  compiler: SchemaCompiler,
  opts: { validate: ResponseMode; undeclared: UndeclaredMode },
): { policy: ResponsePolicy | undefined; problems: ResponseProblem[] } {
  const problems: ResponseProblem[] = [];
  if (opts.validate === 'off' && opts.undeclared === 'off') return { policy: undefined, problems };
  const resolver = SchemaResolver.of(spec);
  const builder = new GraphBuilder(resolver, RESPONSE_MAX_SCHEMA_NODES);
  const statuses = new Map<string, { type: string; schema?: { value: unknown; at: string; file: string } }[]>();
  let failed = false;

  const operation = resolver.at(op.pointer);
  if (operation && isObject(operation.value)) {
    const responses = resolver.deref(operation.value.responses, `${operation.at}/responses`, operation.file);
    if (responses && isObject(responses.value)) {
      for (const [rawKey, rawResponse] of Object.entries(responses.value)) {
        if (rawKey.startsWith('x-')) continue;
        const key = rawKey === 'default' ? rawKey : rawKey.toUpperCase();
        const where = resolver.where(responses.file, `${responses.at}/${escapePointerSegment(rawKey)}`);
        if (!isStatusKey(key)) {
          problems.push({ severity: 'warning', message: `${where}: ${JSON.stringify(rawKey)} is not a status code, a range like 2XX or default; ignored` });
          continue;
        }
        if (statuses.has(key)) continue;
        const list: { type: string; schema?: { value: unknown; at: string; file: string } }[] = [];
        statuses.set(key, list);
        const response = resolver.deref(rawResponse, `${responses.at}/${escapePointerSegment(rawKey)}`, responses.file);
        if (!response || !isObject(response.value) || !isObject(response.value.content)) continue;
        for (const [mediaType, rawMedia] of Object.entries(response.value.content)) {
          const type = baseType(mediaType);
          if (list.some((m) => m.type === type)) continue;
          const media = resolver.deref(rawMedia, `${response.at}/content/${escapePointerSegment(mediaType)}`, response.file);
          const entry: { type: string; schema?: { value: unknown; at: string; file: string } } = { type };
          // Only JSON media types have bodies the gateway parses.
          if (media && isObject(media.value) && media.value.schema !== undefined && (isJsonType(type) || type === '*/*' || type === 'application/*')) {
            entry.schema = { value: media.value.schema, at: `${media.at}/schema`, file: media.file };
          }
          list.push(entry);
        }
      }
    }
  } else if (operation) {
    problems.push({ severity: 'error', message: `${op.pointer}: expected an Operation object` });
    failed = true;
  }

  // Compile: ajv validators and key-filtering graphs.
  const compiled = new Map<string, StatusEntry>();
  for (const [key, list] of statuses) {
    const media: MediaEntry[] = [];
    for (const m of list) {
      let validator: CompiledSchema | undefined;
      let root: Node | undefined;
      if (m.schema) {
        if (opts.validate !== 'off') {
          try {
            validator = compiler.compile(m.schema.file, m.schema.at);
          } catch (err) {
            failed = true;
            problems.push({ severity: 'error', message: `${resolver.where(m.schema.file, m.schema.at)}: the response schema cannot be compiled: ${(err as Error).message}` });
          }
        }
        if (opts.undeclared !== 'off') {
          try {
            root = builder.node(m.schema.value, m.schema.at, m.schema.file);
          } catch (err) {
            failed = true;
            problems.push({ severity: 'error', message: (err as Error).message });
          }
        }
      }
      media.push({ type: m.type, validator, root });
    }
    compiled.set(key, { media });
  }
  if (opts.undeclared !== 'off') {
    try {
      builder.finish();
    } catch (err) {
      failed = true;
      problems.push({ severity: 'error', message: (err as Error).message });
    }
  }
  for (const p of resolver.problems) problems.push({ severity: p.severity, message: `${p.at || '/'}: ${p.message.replace('; the properties behind it are not restricted', '; the schema behind it declares nothing')}` });
  if (failed) return { policy: undefined, problems };

  // Keep a graph root only where it can remove something.
  for (const entry of compiled.values()) {
    for (let i = 0; i < entry.media.length; i++) {
      const m = entry.media[i] as MediaEntry;
      if (m.root && !relevant(m.root)) entry.media[i] = { ...m, root: undefined };
    }
  }
  const anyWork = [...compiled.values()].some((e) => e.media.some((m) => m.validator || m.root));
  if (opts.validate === 'off' && !anyWork) return { policy: undefined, problems };

  const declaredList = [...compiled.keys()].join(', ') || 'none';
  const lookup = (status: number): StatusEntry | undefined => compiled.get(String(status)) ?? compiled.get(`${Math.floor(status / 100)}XX`) ?? compiled.get('default');
  const validate = opts.validate;
  const strip = opts.undeclared === 'strip';

  const head = (status: number, contentType: string | undefined): { violations: Violation[]; media: MediaEntry | undefined; json: boolean } => {
    const violations: Violation[] = [];
    const entry = lookup(status);
    if (!entry) {
      if (validate !== 'off') violations.push({ location: 'response', name: '', pointer: '', rule: 'undeclaredStatus', expected: `one of the declared statuses: ${declaredList}` });
      return { violations, media: undefined, json: false };
    }
    if (contentType === undefined || contentType.trim() === '' || entry.media.length === 0) return { violations, media: undefined, json: false };
    const base = baseType(contentType);
    const media = matchMedia(entry.media, base);
    if (!media && validate !== 'off') {
      violations.push({ location: 'response', name: '', pointer: '', rule: 'mediaType', expected: `one of the declared media types: ${entry.media.map((m) => m.type).join(', ')}` });
    }
    return { violations, media, json: isJsonType(base) };
  };

  const policy: ResponsePolicy = {
    validate,
    undeclared: opts.undeclared,
    applies(status, contentType) {
      const { violations, media, json } = head(status, contentType);
      if (violations.length > 0) return true;
      return media !== undefined && json && (media.validator !== undefined || media.root !== undefined);
    },
    checkHead(status, contentType) {
      return head(status, contentType).violations;
    },
    check(status, contentType, body) {
      const { violations, media, json } = head(status, contentType);
      const removed: string[] = [];
      if (media && json && body !== undefined) {
        if (media.root) walk({ visits: 0, strip, removed }, body, [media.root], '', 0);
        media.validator?.validate(body, 'response', '', violations);
      }
      return { violations, removed, body };
    },
  };
  return { policy, problems };
}
