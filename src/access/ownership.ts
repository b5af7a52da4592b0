/**
 * Object-level authorization (BOLA): does the object named in the request belong to the
 * caller?
 *
 * An {@link OwnershipPolicy} is compiled once per operation from the `x-portcullis-owner`
 * extension (or the same shape in config; the parser is in extensions.ts) and checks:
 *
 * - rules (all must hold): a request value (path / query / header parameter, or a JSON
 *   pointer into the body) must equal a principal claim (`equalsClaim`) or be a member of
 *   one (`inClaim`: an array of strings or a space-separated string);
 * - a lookup, for objects whose owner is not in the request: a GET to a configured URL in
 *   which only `{value}` varies (percent-encoded with encodeURIComponent, dot-only values
 *   refused, the origin checked after substitution), and the owner read from the JSON answer.
 *
 * Fail closed everywhere: no principal, a missing or ambiguous value (a query parameter
 * given twice, a non-scalar body value) or a claim of the wrong type deny with
 * `object_access_denied`; a lookup that fails, times out, answers 5xx or non-JSON, or is
 * larger than 64 KiB denies with `ownership_lookup_failed`. A lookup 404 / 410 is "no such
 * object for you" (`object_access_denied`). Reasons name the rule and the parameter, never
 * claim values or credentials.
 *
 * Lookups are cached (bounded entries, TTL `cacheSeconds`, answers and 404s, never failures)
 * and single-flight: concurrent checks of one object share one request. `check` answers
 * synchronously when no lookup is needed or the cache has the answer.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { request, type Dispatcher } from 'undici';
import type { Decision, Principal } from '../pipeline/types.js';
import { CONTINUE } from '../pipeline/types.js';
import { parseJsonBody } from './properties.js';
import { childOf, parseJsonPointer } from './schema-resolve.js';

export type OwnerParamLocation = 'path' | 'query' | 'header' | 'body';

/** A request value: a parameter name, or for `body` a JSON pointer such as `/ownerId`. */
export interface OwnerParam {
  readonly in: OwnerParamLocation;
  readonly name: string;
}

/** How a value is compared with the principal: exactly one of the two. */
export type ClaimMatch = { readonly equalsClaim: string; readonly inClaim?: undefined } | { readonly inClaim: string; readonly equalsClaim?: undefined };

export type OwnershipRule = OwnerParam & ClaimMatch;

export type OwnershipLookup = {
  readonly param: OwnerParam;
  /** `http(s)://host[:port]/path…{value}…`; only `{value}` varies. */
  readonly url: string;
  /** Where the owner is in the lookup's JSON answer ('' for the whole answer). */
  readonly ownerPointer: string;
  /** 0 disables caching. */
  readonly cacheSeconds: number;
  readonly timeoutMs: number;
} & ClaimMatch;

export interface OwnershipSpec {
  /** All must hold (AND). */
  readonly rules: readonly OwnershipRule[];
  readonly lookup: OwnershipLookup | undefined;
  /** Callers with one of these roles skip the check. */
  readonly bypassRoles: readonly string[];
}

export interface OwnershipInput {
  readonly params: Readonly<Record<string, string | undefined>>;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** The parsed JSON body (only read when `needsBody`). */
  readonly body: unknown;
  readonly principal: Principal | undefined;
}

export const DEFAULT_CACHE_SECONDS = 30;
export const DEFAULT_LOOKUP_TIMEOUT_MS = 2000;
export const DEFAULT_MAX_CACHE_ENTRIES = 10_000;
export const DEFAULT_MAX_LOOKUP_BYTES = 64 * 1024;
/** Concurrent distinct lookups per policy; beyond it, checks fail closed. */
export const DEFAULT_MAX_IN_FLIGHT = 1_000;
/** Longest request value compared or looked up. */
const MAX_VALUE_LENGTH = 1024;

export interface OwnershipOptions {
  /** Shared between policies that use the same lookup service (entries are keyed by URL template and value). */
  readonly cache?: OwnerCache;
  readonly maxLookupBytes?: number;
  readonly maxInFlight?: number;
  /** undici dispatcher for lookups (default: the global one). */
  readonly dispatcher?: Dispatcher;
  readonly now?: () => number;
}

/** The owner of an object (null: no such object, or no owner). */
type Owner = string | null;

/** A bounded cache of lookup answers; oldest entries go first when full. */
export class OwnerCache {
  private readonly entries = new Map<string, { owner: Owner; expires: number }>();

  constructor(
    readonly maxEntries: number = DEFAULT_MAX_CACHE_ENTRIES,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): { owner: Owner } | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  set(key: string, owner: Owner, ttlMs: number): void {
    if (ttlMs <= 0 || this.maxEntries <= 0) return;
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(key, { owner, expires: this.now() + ttlMs });
  }

  clear(): void {
    this.entries.clear();
  }
}

type LookupOutcome = { readonly ok: true; readonly owner: Owner } | { readonly ok: false; readonly reason: string };

function describe(p: OwnerParam): string {
  return p.in === 'body' ? `body value ${JSON.stringify(p.name)}` : `${p.in} parameter ${JSON.stringify(p.name)}`;
}

function deny(code: 'object_access_denied' | 'ownership_lookup_failed', reason: string): Decision {
  return { action: 'deny', code, reason };
}

/** The value at a JSON pointer (undefined when absent or the pointer is invalid). */
function at(doc: unknown, pointer: string): unknown {
  const segments = parseJsonPointer(pointer);
  if (!segments) return undefined;
  let cur = doc;
  for (const s of segments) {
    cur = childOf(cur, s);
    if (cur === undefined) return undefined;
  }
  return cur;
}

/** The request value a parameter names, or a reason it cannot be used. */
function valueOf(p: OwnerParam, input: OwnershipInput): { value: string } | { why: string } {
  let v: unknown;
  switch (p.in) {
    case 'path':
      v = Object.hasOwn(input.params, p.name) ? input.params[p.name] : undefined;
      break;
    case 'query': {
      const all = input.query.getAll(p.name);
      if (all.length > 1) return { why: 'is given more than once' };
      v = all[0];
      break;
    }
    case 'header': {
      const h = input.headers[p.name.toLowerCase()];
      if (Array.isArray(h)) return { why: 'is given more than once' };
      v = h;
      break;
    }
    case 'body': {
      v = at(input.body, p.name);
      if (typeof v === 'number' && Number.isFinite(v)) v = String(v);
      break;
    }
  }
  if (v === undefined || v === null) return { why: 'is missing' };
  if (typeof v !== 'string') return { why: 'is not a string or number' };
  if (v === '') return { why: 'is empty' };
  if (v.length > MAX_VALUE_LENGTH) return { why: `is longer than ${MAX_VALUE_LENGTH} characters` };
  return { value: v };
}

/** Does `value` pass the claim match for this principal? */
function matches(m: ClaimMatch, value: string, principal: Principal): boolean {
  const name = m.equalsClaim ?? m.inClaim;
  let claim: unknown = name === 'id' ? principal.id : Object.hasOwn(principal.claims, name) ? principal.claims[name] : undefined;
  if (typeof claim === 'number' && Number.isFinite(claim)) claim = String(claim);
  if (m.equalsClaim !== undefined) return typeof claim === 'string' && claim !== '' && claim === value;
  if (Array.isArray(claim)) return claim.some((c) => typeof c === 'string' && c === value);
  if (typeof claim === 'string') {
    // Space-separated list (like OAuth `scope`); split without a regex.
    let start = 0;
    for (let i = 0; i <= claim.length; i++) {
      if (i === claim.length || claim.charCodeAt(i) === 0x20) {
        if (i > start && claim.slice(start, i) === value) return true;
        start = i + 1;
      }
    }
  }
  return false;
}

function claimName(m: ClaimMatch): string {
  return m.equalsClaim !== undefined ? `equalsClaim ${JSON.stringify(m.equalsClaim)}` : `inClaim ${JSON.stringify(m.inClaim)}`;
}

/** The fixed parts of a lookup URL around `{value}`. */
interface UrlTemplate {
  readonly before: string;
  readonly after: string;
  readonly origin: string;
}

/** Split a lookup URL template; throws with a message when it is not usable. */
export function parseLookupUrl(url: string): UrlTemplate {
  const marker = '{value}';
  const at = url.indexOf(marker);
  if (at < 0) throw new Error('expected the URL to contain {value}');
  if (url.indexOf(marker, at + 1) >= 0) throw new Error('expected {value} only once');
  const before = url.slice(0, at);
  const after = url.slice(at + marker.length);
  if (url.includes('#')) throw new Error('expected no fragment (#) in the URL');
  let sample: URL;
  try {
    sample = new URL(before + 'x' + after);
  } catch {
    throw new Error('expected an absolute http:// or https:// URL');
  }
  if (sample.protocol !== 'http:' && sample.protocol !== 'https:') throw new Error('expected an http:// or https:// URL');
  if (sample.username !== '' || sample.password !== '') throw new Error('expected no credentials in the URL');
  // {value} must come after the authority: the host, port and scheme are fixed by config.
  const schemeEnd = before.indexOf('://');
  if (schemeEnd < 0 || before.indexOf('/', schemeEnd + 3) < 0) throw new Error('expected {value} in the path or query, after the host');
  return { before, after, origin: sample.origin };
}

/** Build the lookup URL for a value; undefined when the value cannot be placed safely. */
function lookupUrl(t: UrlTemplate, value: string): string | undefined {
  // encodeURIComponent keeps `.`; a dot-only segment would be resolved as `.` / `..`.
  if (value === '.' || value === '..') return undefined;
  const url = t.before + encodeURIComponent(value) + t.after;
  try {
    if (new URL(url).origin !== t.origin) return undefined;
  } catch {
    return undefined;
  }
  return url;
}

/** Drop a small error body so the connection can be reused; a large one closes it. */
async function discard(body: Dispatcher.ResponseData['body']): Promise<void> {
  try {
    await body.dump({ limit: 4096 });
  } catch {
    body.destroy();
  }
}

async function readBounded(body: Dispatcher.ResponseData['body'], max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > max) {
      body.destroy();
      return undefined;
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, size);
}

/**
 * One compiled ownership check. `check` is synchronous unless a lookup has to go out.
 */
export class OwnershipPolicy {
  /** True when a rule or the lookup reads the request body (the stage must then buffer and parse it). */
  readonly needsBody: boolean;
  private readonly url: UrlTemplate | undefined;
  private readonly cache: OwnerCache;
  private readonly inFlight = new Map<string, Promise<LookupOutcome>>();
  private readonly maxLookupBytes: number;
  private readonly maxInFlight: number;

  constructor(
    readonly spec: OwnershipSpec,
    private readonly opts: OwnershipOptions = {},
  ) {
    this.needsBody = spec.rules.some((r) => r.in === 'body') || spec.lookup?.param.in === 'body';
    this.url = spec.lookup ? parseLookupUrl(spec.lookup.url) : undefined;
    this.cache = opts.cache ?? new OwnerCache(DEFAULT_MAX_CACHE_ENTRIES, opts.now);
    this.maxLookupBytes = opts.maxLookupBytes ?? DEFAULT_MAX_LOOKUP_BYTES;
    this.maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  }

  check(input: OwnershipInput): Decision | Promise<Decision> {
    const principal = input.principal;
    if (!principal) return deny('object_access_denied', 'ownership check without an authenticated caller');
    if (this.spec.bypassRoles.some((r) => principal.roles.includes(r))) return CONTINUE;

    for (let i = 0; i < this.spec.rules.length; i++) {
      const rule = this.spec.rules[i] as OwnershipRule;
      const v = valueOf(rule, input);
      if ('why' in v) return deny('object_access_denied', `ownership rules[${i}]: ${describe(rule)} ${v.why}`);
      if (!matches(rule, v.value, principal)) {
        return deny('object_access_denied', `ownership rules[${i}]: ${describe(rule)} does not match ${claimName(rule)}`);
      }
    }

    const lookup = this.spec.lookup;
    if (!lookup || !this.url) return CONTINUE;
    const v = valueOf(lookup.param, input);
    if ('why' in v) return deny('object_access_denied', `ownership lookup: ${describe(lookup.param)} ${v.why}`);
    const url = lookupUrl(this.url, v.value);
    if (url === undefined) return deny('object_access_denied', `ownership lookup: ${describe(lookup.param)} is not a usable object id`);

    const key = `${lookup.url}\0${v.value}`;
    const cached = this.cache.get(key);
    if (cached) return this.decide(lookup, cached.owner, principal);
    let pending = this.inFlight.get(key);
    if (!pending) {
      if (this.inFlight.size >= this.maxInFlight) return deny('ownership_lookup_failed', 'ownership lookup: too many lookups in flight');
      pending = this.fetchOwner(url, lookup).then((outcome) => {
        if (outcome.ok) this.cache.set(key, outcome.owner, lookup.cacheSeconds * 1000);
        return outcome;
      });
      const settled = pending.finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, settled);
      pending = settled;
    }
    return pending.then((outcome) =>
      outcome.ok ? this.decide(lookup, outcome.owner, principal) : deny('ownership_lookup_failed', `ownership lookup for ${describe(lookup.param)}: ${outcome.reason}`),
    );
  }

  private decide(lookup: OwnershipLookup, owner: Owner, principal: Principal): Decision {
    if (owner === null) return deny('object_access_denied', `ownership lookup: no object (or no owner) for ${describe(lookup.param)}`);
    if (!matches(lookup, owner, principal)) return deny('object_access_denied', `ownership lookup: the owner of ${describe(lookup.param)} does not match ${claimName(lookup)}`);
    return CONTINUE;
  }

  /** GET the lookup URL and read the owner; never throws. */
  private async fetchOwner(url: string, lookup: OwnershipLookup): Promise<LookupOutcome> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), lookup.timeoutMs);
    try {
      const res = await request(url, {
        method: 'GET',
        headers: { accept: 'application/json' },
        signal: ac.signal,
        headersTimeout: lookup.timeoutMs,
        bodyTimeout: lookup.timeoutMs,
        ...(this.opts.dispatcher ? { dispatcher: this.opts.dispatcher } : {}),
      });
      const status = res.statusCode;
      if (status === 404 || status === 410) {
        await discard(res.body);
        return { ok: true, owner: null };
      }
      if (status < 200 || status > 299) {
        await discard(res.body);
        return { ok: false, reason: `the lookup service answered ${status}` };
      }
      const length = Number(res.headers['content-length'] ?? 0);
      if (length > this.maxLookupBytes) {
        res.body.destroy();
        return { ok: false, reason: `the answer is larger than ${this.maxLookupBytes} bytes` };
      }
      const buf = await readBounded(res.body, this.maxLookupBytes);
      if (!buf) return { ok: false, reason: `the answer is larger than ${this.maxLookupBytes} bytes` };
      const ct = res.headers['content-type'];
      const parsed = parseJsonBody(buf, Array.isArray(ct) ? ct[0] : ct);
      if (!parsed.ok) return { ok: false, reason: `the answer is not usable JSON (${parsed.reason})` };
      let owner = at(parsed.value, lookup.ownerPointer);
      if (owner === null) return { ok: true, owner: null };
      if (typeof owner === 'number' && Number.isFinite(owner)) owner = String(owner);
      if (typeof owner !== 'string') return { ok: false, reason: `the answer has no string owner at ${JSON.stringify(lookup.ownerPointer)}` };
      return { ok: true, owner };
    } catch (err) {
      return { ok: false, reason: ac.signal.aborted ? `no answer within ${lookup.timeoutMs} ms` : `the request failed (${(err as Error).name})` };
    } finally {
      clearTimeout(timer);
    }
  }
}
