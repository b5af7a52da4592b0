/**
 * OAuth2 token introspection (RFC 7662): an opaque bearer token is sent to the authorization
 * server's introspection endpoint, which says whether it is active and what it carries.
 *
 * - The request is a form POST authenticated as a confidential client (`client_secret_basic`
 *   per RFC 6749 §2.3.1, or `client_secret_post`), over https (plain http only to loopback).
 * - Every call is bounded: one deadline (`timeoutMs`) covers queueing, connect, headers and
 *   body; the body is capped at 64 KiB; connections per endpoint are capped.
 * - Results are cached by SHA-256 of the token (never the token): active ones until the
 *   token's `exp` or `cacheMaxSeconds`, whichever comes first; inactive ones for
 *   `negativeCacheSeconds` so a flood of bad tokens does not become a flood of calls. The two
 *   caches are separate LRUs, so bad tokens cannot evict good ones. Failures to reach the
 *   endpoint are never cached. Concurrent verifications of one token share one request.
 * - No reason string ever contains the token, the client secret or the response body.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Agent } from 'undici';
import type { Principal } from '../pipeline/types.js';
import { fail, type AuthResult, type AuthSuccess } from './types.js';

export interface IntrospectionOptions {
  readonly name: string;
  /** https: required except loopback hosts (127.0.0.1, ::1, localhost). */
  readonly endpoint: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly clientAuth: 'client_secret_basic' | 'client_secret_post';
  /** Whole-call deadline. Default 3000. */
  readonly timeoutMs: number;
  /** An active result is cached until min(token exp, now + this). Default 60. */
  readonly cacheMaxSeconds: number;
  /** Bound of each cache (active, inactive); 0 disables caching. */
  readonly cacheMaxEntries: number;
  /** Inactive results are cached this long. Default 5. */
  readonly negativeCacheSeconds: number;
  /** Longer tokens are refused before any request. */
  readonly maxTokenBytes: number;
  /** Default 'sub'; when absent, 'username' then 'client_id' are used. */
  readonly subjectClaim: string;
  /** Default 'scope': space-separated (an array of strings is accepted too). */
  readonly scopeClaim: string;
  /** A claim name, or a dotted path such as `realm_access.roles`; string (space-separated) or array. */
  readonly rolesClaim: string | undefined;
  /** When non-empty, `aud` must contain one of these. */
  readonly audiences: readonly string[];
  /** When set, `iss` must equal it. */
  readonly issuer: string | undefined;
}

/** Defaults for the options that have one; the config layer fills them in. */
export const INTROSPECTION_DEFAULTS = Object.freeze({
  clientAuth: 'client_secret_basic' as const,
  timeoutMs: 3000,
  cacheMaxSeconds: 60,
  cacheMaxEntries: 10_000,
  negativeCacheSeconds: 5,
  maxTokenBytes: 4096,
  subjectClaim: 'sub',
  scopeClaim: 'scope',
  rolesClaim: undefined,
  audiences: Object.freeze([]) as readonly string[],
  issuer: undefined,
});

/** Largest introspection response read. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** Connections per endpoint; further calls queue (inside their deadline). */
const MAX_CONNECTIONS = 32;
/** Longest `jti` used as a credential id; longer ones fall back to the token hash. */
const MAX_JTI_LENGTH = 256;

const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', '[::1]', 'localhost']);

interface Cached {
  readonly until: number;
  readonly result: AuthResult;
}

/** A Map used as an LRU with per-entry expiry. */
class BoundedCache {
  private readonly map = new Map<string, Cached>();
  constructor(private readonly max: number) {}

  get(key: string, now: number): AuthResult | undefined {
    const hit = this.map.get(key);
    if (hit === undefined) return undefined;
    this.map.delete(key);
    if (hit.until <= now) return undefined;
    this.map.set(key, hit); // most recently used goes last
    return hit.result;
  }

  set(key: string, result: AuthResult, until: number): void {
    if (this.max <= 0) return;
    this.map.delete(key);
    while (this.map.size >= this.max) {
      const oldest = this.map.keys().next();
      if (oldest.done === true) break;
      this.map.delete(oldest.value);
    }
    this.map.set(key, { until, result });
  }

  clear(): void {
    this.map.clear();
  }
}

function assertPositive(name: string, key: string, v: number, allowZero: boolean): void {
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new Error(`introspection ${name}: ${key} must be a ${allowZero ? 'non-negative' : 'positive'} number`);
  }
}

function checkEndpoint(name: string, endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error(`introspection ${name}: endpoint is not an absolute URL`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new Error(`introspection ${name}: endpoint must not carry credentials; use clientId and clientSecret`);
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) return url;
  throw new Error(`introspection ${name}: endpoint must use https (plain http is allowed only for 127.0.0.1, ::1 and localhost)`);
}

/** application/x-www-form-urlencoded encoding of one value (RFC 6749 Appendix B). */
function formEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}

/** A printable error code from an error, never its message (which may carry request details). */
function errorCode(err: unknown): string {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 3; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.length > 0 && code.length <= 48 && isCodeLike(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return 'error';
}

function isCodeLike(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f)) return false;
  }
  return true;
}

/** Freezes a parsed JSON value and everything in it, without recursion (depth is attacker-chosen). */
function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null || Object.isFrozen(v)) continue;
    Object.freeze(v);
    for (const child of Object.values(v as Record<string, unknown>)) stack.push(child);
  }
  return value;
}

function words(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter((w) => w.length > 0);
  if (Array.isArray(value)) return value.filter((w): w is string => typeof w === 'string' && w.length > 0);
  return [];
}

/** A claim by name, or by dotted path when no claim has that exact name. */
function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(claims, path)) return claims[path];
  let cur: unknown = claims;
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur) || !Object.hasOwn(cur, part)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function nonEmptyString(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/**
 * Drops a response body. Undici's body emits an 'error' (AbortError) when destroyed early; with
 * no listener that would be an uncaught exception, so one is attached first.
 */
function discard(body: Readable): void {
  body.on('error', () => undefined);
  body.destroy();
}

type Exchange = { readonly ok: true; readonly body: Record<string, unknown> } | { readonly ok: false; readonly reason: string };

export class Introspector {
  private readonly url: URL;
  private readonly agent: Agent;
  private readonly now: () => number;
  private readonly active: BoundedCache;
  private readonly inactive: BoundedCache;
  private readonly inflight = new Map<string, Promise<AuthResult>>();
  private readonly headers: Record<string, string>;
  private readonly staticBody: string;
  private closed = false;
  private readonly counters = { calls: 0, cacheHits: 0 };

  constructor(
    private readonly opts: IntrospectionOptions,
    deps: { now?: () => number } = {},
  ) {
    this.url = checkEndpoint(opts.name, opts.endpoint);
    if (opts.clientId.length === 0) throw new Error(`introspection ${opts.name}: clientId is empty`);
    if (opts.clientAuth !== 'client_secret_basic' && opts.clientAuth !== 'client_secret_post') {
      throw new Error(`introspection ${opts.name}: clientAuth must be client_secret_basic or client_secret_post`);
    }
    assertPositive(opts.name, 'timeoutMs', opts.timeoutMs, false);
    assertPositive(opts.name, 'maxTokenBytes', opts.maxTokenBytes, false);
    assertPositive(opts.name, 'cacheMaxSeconds', opts.cacheMaxSeconds, true);
    assertPositive(opts.name, 'cacheMaxEntries', opts.cacheMaxEntries, true);
    assertPositive(opts.name, 'negativeCacheSeconds', opts.negativeCacheSeconds, true);
    this.now = deps.now ?? Date.now;
    this.active = new BoundedCache(opts.cacheMaxSeconds > 0 ? Math.floor(opts.cacheMaxEntries) : 0);
    this.inactive = new BoundedCache(opts.negativeCacheSeconds > 0 ? Math.floor(opts.cacheMaxEntries) : 0);
    this.agent = new Agent({
      connect: { timeout: opts.timeoutMs },
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      maxResponseSize: MAX_RESPONSE_BYTES,
      connections: MAX_CONNECTIONS,
      keepAliveTimeout: 10_000,
    });
    this.headers = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (opts.clientAuth === 'client_secret_basic') {
      const pair = `${formEncode(opts.clientId)}:${formEncode(opts.clientSecret)}`;
      this.headers['authorization'] = `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
      this.staticBody = '';
    } else {
      this.staticBody = `&client_id=${formEncode(opts.clientId)}&client_secret=${formEncode(opts.clientSecret)}`;
    }
  }

  /** Calls made to the endpoint, and verifications answered from a cache. */
  get stats(): { readonly calls: number; readonly cacheHits: number } {
    return { calls: this.counters.calls, cacheHits: this.counters.cacheHits };
  }

  verify(token: string): Promise<AuthResult> {
    const name = this.opts.name;
    if (this.closed) return Promise.resolve(fail('identity_provider_unavailable', `introspection ${name}: closed`));
    if (token.length === 0) return Promise.resolve(fail('token_missing', `introspection ${name}: empty token`));
    if (token.length > this.opts.maxTokenBytes || Buffer.byteLength(token, 'utf8') > this.opts.maxTokenBytes) {
      return Promise.resolve(fail('token_too_large', `introspection ${name}: token longer than ${this.opts.maxTokenBytes} bytes`));
    }
    const digest = createHash('sha256').update(token, 'utf8').digest();
    const key = digest.toString('base64');
    const now = this.now();
    const cached = this.active.get(key, now) ?? this.inactive.get(key, now);
    if (cached !== undefined) {
      this.counters.cacheHits++;
      return Promise.resolve(cached);
    }
    const pending = this.inflight.get(key);
    if (pending !== undefined) return pending;
    const call = this.introspect(token, key, `sha256:${digest.toString('hex').slice(0, 16)}`).finally(() => this.inflight.delete(key));
    this.inflight.set(key, call);
    return call;
  }

  /** Stops new calls, drops the caches and closes the connections (calls in flight finish). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.active.clear();
    this.inactive.clear();
    this.agent.close().catch(() => undefined);
  }

  private async introspect(token: string, key: string, hashId: string): Promise<AuthResult> {
    this.counters.calls++;
    const ex = await this.exchange(token);
    if (!ex.ok) return fail('identity_provider_unavailable', `introspection ${this.opts.name}: ${ex.reason}`);
    const now = this.now();
    const result = this.evaluate(ex.body, hashId, now);
    if (!this.closed) {
      if (result.ok) {
        const until = result.expiresAt ?? now + this.opts.cacheMaxSeconds * 1000;
        if (until > now) this.active.set(key, result, until);
      } else {
        this.inactive.set(key, result, now + this.opts.negativeCacheSeconds * 1000);
      }
    }
    return result;
  }

  /** One POST to the endpoint, within the deadline; the parsed JSON object or why not. */
  private async exchange(token: string): Promise<Exchange> {
    const timeoutMs = this.opts.timeoutMs;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const res = await this.agent.request({
        origin: this.url.origin,
        path: this.url.pathname + this.url.search,
        method: 'POST',
        headers: this.headers,
        body: `token=${formEncode(token)}&token_type_hint=access_token${this.staticBody}`,
        signal,
      });
      if (res.statusCode !== 200) {
        discard(res.body);
        const what = res.statusCode === 401 || res.statusCode === 403 ? ' (client authentication refused)' : '';
        return { ok: false, reason: `endpoint answered ${res.statusCode}${what}` };
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        const buf = chunk as Buffer;
        size += buf.length;
        if (size > MAX_RESPONSE_BYTES) {
          discard(res.body);
          return { ok: false, reason: `response larger than ${MAX_RESPONSE_BYTES} bytes` };
        }
        chunks.push(buf);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.concat(chunks, size).toString('utf8'));
      } catch {
        return { ok: false, reason: 'response is not JSON' };
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, reason: 'response is not a JSON object' };
      if (typeof (parsed as Record<string, unknown>)['active'] !== 'boolean') return { ok: false, reason: 'response has no boolean "active"' };
      return { ok: true, body: parsed as Record<string, unknown> };
    } catch (err) {
      if (signal.aborted) return { ok: false, reason: `no answer within ${timeoutMs} ms` };
      const code = errorCode(err);
      if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return { ok: false, reason: `response larger than ${MAX_RESPONSE_BYTES} bytes` };
      if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
        return { ok: false, reason: `no answer within ${timeoutMs} ms (${code})` };
      }
      return { ok: false, reason: `request failed (${code})` };
    }
  }

  /** Turns an introspection response into a result. */
  private evaluate(body: Record<string, unknown>, hashId: string, now: number): AuthResult {
    const o = this.opts;
    const n = `introspection ${o.name}`;
    if (body['active'] !== true) return fail('token_inactive', `${n}: token is not active`);
    const exp = body['exp'];
    if (exp !== undefined && (typeof exp !== 'number' || !Number.isFinite(exp))) return fail('token_inactive', `${n}: exp is not a number`);
    if (exp !== undefined && exp * 1000 <= now) return fail('token_inactive', `${n}: token expired (exp in the past)`);
    const nbf = body['nbf'];
    if (typeof nbf === 'number' && nbf * 1000 > now) return fail('token_inactive', `${n}: token not yet valid (nbf in the future)`);
    if (o.issuer !== undefined && body['iss'] !== o.issuer) return fail('token_inactive', `${n}: issuer not accepted`);
    if (o.audiences.length > 0) {
      const aud = body['aud'];
      const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
      if (!auds.some((a) => typeof a === 'string' && o.audiences.includes(a))) return fail('token_inactive', `${n}: audience not accepted`);
    }
    const id = nonEmptyString(body[o.subjectClaim]) ?? nonEmptyString(body['username']) ?? nonEmptyString(body['client_id']);
    if (id === undefined) return fail('token_claim_invalid', `${n}: response names no subject (${o.subjectClaim}, username, client_id)`);
    const jti = body['jti'];
    const credentialId = typeof jti === 'string' && jti.length > 0 && jti.length <= MAX_JTI_LENGTH ? jti : hashId;
    const principal: Principal = Object.freeze({
      id,
      type: 'introspection',
      scopes: Object.freeze([...new Set(words(body[o.scopeClaim]))]),
      roles: Object.freeze(o.rolesClaim === undefined ? [] : [...new Set(words(claimAt(body, o.rolesClaim)))]),
      claims: deepFreeze(body),
      credentialId,
    });
    const cacheLimit = now + o.cacheMaxSeconds * 1000;
    const expiresAt = typeof exp === 'number' ? Math.min(exp * 1000, cacheLimit) : cacheLimit;
    const ok: AuthSuccess = Object.freeze({ ok: true, principal, expiresAt });
    return ok;
  }
}
