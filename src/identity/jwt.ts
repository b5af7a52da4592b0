/**
 * JWT bearer-token verification for one configured issuer (a "scheme").
 *
 * Design:
 * - Cheap, exact refusals first. The token is size-checked before anything else, then parsed by
 *   hand (plain string scans, no regular expressions) and its header checked by us, in a fixed
 *   order, so every refusal has its own stable code: too large → malformed → `alg: none` →
 *   key-naming headers (`jku`, `x5u`, `jwk`, `x5c`) → `crit` → algorithm allow-list and key type
 *   → missing signature → key lookup → signature → exp → nbf/iat → iss → aud → required claims.
 * - Keys only come from configuration (see jwks.ts). The algorithm must be on the scheme's
 *   allow-list AND served by the selected key, which was imported for that algorithm only;
 *   an HS256 token can therefore never be checked with an RSA public key used as an HMAC
 *   secret (algorithm confusion). HMAC algorithms are refused at construction unless the keys
 *   are local.
 * - jose does the cryptography (`compactVerify` with the imported key and a one-element
 *   algorithm list); its errors are mapped by their `code`, never by message. Time claims are
 *   checked here against the injected clock with the configured skew.
 * - Successful results are cached (token-cache.ts) by SHA-256 of the token, never beyond its
 *   `exp`, and the cache is dropped whenever the key set changes.
 * - Reasons are audit-only and never contain the token; values taken from the token are
 *   sanitised and truncated before they appear in one.
 */
import { createHash } from 'node:crypto';
import { compactVerify, errors as joseErrors, type JWK } from 'jose';
import type { Principal } from '../pipeline/types.js';
import { fail, type AuthFailure, type AuthResult, type AuthSuccess } from './types.js';
import { algorithmSpec, isSymmetricAlgorithm, KeysUnavailableError, LocalKeySet, RemoteKeySet, type DiscoveryDocument, type KeyProvider, type KeySet, type VerificationKey } from './jwks.js';
import { TokenCache } from './token-cache.js';

export { pemToJwk } from './jwks.js';

export interface JwtSchemeOptions {
  /** Scheme name, used in reasons and logs. */
  readonly name: string;
  /** The exact `iss` required. */
  readonly issuer: string;
  /** The token's `aud` (string or array) must contain one of these. Non-empty. */
  readonly audiences: readonly string[];
  /** Allow-list of JWS algorithms, e.g. ['RS256', 'ES256']. Never 'none'. */
  readonly algorithms: readonly string[];
  readonly keys:
    | { readonly kind: 'jwks'; readonly uri: string }
    /** The issuer URL or the full `.well-known/openid-configuration` URL. */
    | { readonly kind: 'discovery'; readonly url: string }
    /** Parsed public JWKs, or `oct` secrets for HS*. Convert PEM files with `pemToJwk`. */
    | { readonly kind: 'local'; readonly keys: readonly JWK[] };
  readonly clockSkewSeconds: number;
  /** Claims that must be present, e.g. ['sub']. */
  readonly requiredClaims: readonly string[];
  /** When true (the usual setting), a token without `exp` is refused. */
  readonly requireExp: boolean;
  /** Checked before any parsing. */
  readonly maxTokenBytes: number;
  readonly subjectClaim: string;
  /** Space-separated string or array of strings; an `scp` claim is used when this one is absent. */
  readonly scopeClaim: string;
  /** Dotted path allowed, e.g. 'realm_access.roles'. Array of strings or space-separated string. */
  readonly rolesClaim: string | undefined;
  readonly jwksCacheSeconds: number;
  readonly jwksRefreshCooldownSeconds: number;
  readonly fetchTimeoutMs: number;
  /** Verified-token cache size; 0 disables the cache. */
  readonly cacheMaxEntries: number;
}

export interface JwtVerifierStats {
  readonly cacheHits: number;
  readonly cacheMisses: number;
  readonly jwksFetches: number;
}

/** Header members that name or carry a key. Keys are never taken from a token. */
const KEY_BEARING_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'] as const;
/** At most this many candidate keys are tried for one token (kid-less keys). */
const MAX_CANDIDATES = 4;
/** A `jti` longer than this is not used as credential id (the hash is used instead). */
const MAX_JTI_LENGTH = 128;

type Claims = Record<string, unknown>;

export class JwtVerifier {
  private readonly opts: JwtSchemeOptions;
  private readonly now: () => number;
  private readonly provider: KeyProvider;
  private readonly cache: TokenCache<AuthSuccess>;
  private readonly algorithms: ReadonlySet<string>;
  private readonly audiences: ReadonlySet<string>;
  private readonly skewSeconds: number;
  private hits = 0;
  private misses = 0;

  constructor(opts: JwtSchemeOptions, deps: { now?: () => number } = {}) {
    const where = `JWT scheme "${opts.name}"`;
    if (opts.name === '') throw new Error('JWT scheme name must not be empty');
    if (opts.issuer === '') throw new Error(`${where}: issuer must not be empty`);
    if (opts.audiences.length === 0 || opts.audiences.some((a) => a === '')) throw new Error(`${where}: audiences must be a non-empty list of non-empty strings`);
    if (opts.algorithms.length === 0) throw new Error(`${where}: algorithms must not be empty`);
    for (const alg of opts.algorithms) {
      if (alg.toLowerCase() === 'none') throw new Error(`${where}: algorithm "none" is never allowed`);
      if (algorithmSpec(alg) === undefined) throw new Error(`${where}: unsupported algorithm "${alg}"`);
      if (isSymmetricAlgorithm(alg) && opts.keys.kind !== 'local') {
        throw new Error(`${where}: ${alg} needs a local secret; a JWKS or discovery key set is public and cannot hold HMAC secrets`);
      }
    }
    if (!(opts.maxTokenBytes > 0)) throw new Error(`${where}: maxTokenBytes must be positive`);
    if (!(opts.clockSkewSeconds >= 0) || !Number.isFinite(opts.clockSkewSeconds)) throw new Error(`${where}: clockSkewSeconds must be a non-negative number`);
    if (opts.subjectClaim === '' || opts.scopeClaim === '') throw new Error(`${where}: subjectClaim and scopeClaim must not be empty`);

    this.opts = opts;
    this.now = deps.now ?? Date.now;
    this.algorithms = new Set(opts.algorithms);
    this.audiences = new Set(opts.audiences);
    this.skewSeconds = opts.clockSkewSeconds;
    this.cache = new TokenCache<AuthSuccess>(opts.cacheMaxEntries, this.now);
    try {
      if (opts.keys.kind === 'local') {
        this.provider = new LocalKeySet(opts.keys.keys, opts.algorithms);
      } else {
        this.provider = new RemoteKeySet({
          source: opts.keys.kind === 'jwks' ? { kind: 'jwks', uri: opts.keys.uri } : { kind: 'discovery', url: opts.keys.url, issuer: opts.issuer },
          algorithms: opts.algorithms,
          cacheSeconds: opts.jwksCacheSeconds,
          refreshCooldownSeconds: opts.jwksRefreshCooldownSeconds,
          fetchTimeoutMs: opts.fetchTimeoutMs,
          now: this.now,
          // A changed key set invalidates every cached result: a rotated-out key keeps nothing alive.
          onChange: () => this.cache.clear(),
        });
      }
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`);
    }
  }

  get stats(): JwtVerifierStats {
    return { cacheHits: this.hits, cacheMisses: this.misses, jwksFetches: this.provider.fetches };
  }

  /** The checked OpenID discovery document (discovery schemes, once fetched). */
  get discovery(): DiscoveryDocument | undefined {
    return this.provider instanceof RemoteKeySet ? this.provider.discovery : undefined;
  }

  /** Prefetch keys (discovery + JWKS). Never throws; failures are retried lazily. */
  async start(): Promise<void> {
    try {
      await this.provider.start();
    } catch {
      // retried on first use
    }
  }

  close(): void {
    this.provider.close();
    this.cache.clear();
  }

  /** `token` is the raw compact JWS from `Authorization: Bearer`. */
  /**
   * Synchronous for what needs no crypto (size checks, cache hits): a cached token costs no
   * promise. Everything else goes through `verifySigned`.
   */
  verify(token: string): AuthResult | Promise<AuthResult> {
    if (token.length === 0) return this.refuse('token_missing', 'empty bearer token');
    // token.length ≤ byte length ≤ 3 × token.length: skip the byte count for obviously huge input.
    if (token.length > this.opts.maxTokenBytes || Buffer.byteLength(token, 'utf8') > this.opts.maxTokenBytes) {
      return this.refuse('token_too_large', `token longer than ${this.opts.maxTokenBytes} bytes`);
    }
    if (this.cache.enabled) {
      const cached = this.cache.get(token);
      if (cached !== undefined) {
        this.hits++;
        return cached;
      }
      this.misses++;
    }
    return this.verifySigned(token);
  }

  private async verifySigned(token: string): Promise<AuthResult> {

    // --- structure -----------------------------------------------------------------------------
    const firstDot = token.indexOf('.');
    const secondDot = firstDot < 0 ? -1 : token.indexOf('.', firstDot + 1);
    if (secondDot < 0 || token.indexOf('.', secondDot + 1) >= 0) return this.refuse('token_malformed', 'not three dot-separated parts');
    const headerPart = token.slice(0, firstDot);
    const payloadPart = token.slice(firstDot + 1, secondDot);
    const signaturePart = token.slice(secondDot + 1);
    if (!isBase64url(headerPart, false) || !isBase64url(payloadPart, false) || !isBase64url(signaturePart, true)) {
      return this.refuse('token_malformed', 'a part is not base64url');
    }
    const header = parseJsonObject(headerPart);
    if (header === undefined) return this.refuse('token_malformed', 'header is not a JSON object');
    const claims = parseJsonObject(payloadPart);
    if (claims === undefined) return this.refuse('token_malformed', 'payload is not a JSON object');
    const alg = header.alg;
    if (typeof alg !== 'string' || alg === '') return this.refuse('token_malformed', 'header has no alg');
    const kid = header.kid;
    if (kid !== undefined && typeof kid !== 'string') return this.refuse('token_malformed', 'header kid is not a string');

    // --- header policy -------------------------------------------------------------------------
    if (alg.toLowerCase() === 'none') return this.refuse('token_alg_none', 'unsigned token (alg none)');
    for (const name of KEY_BEARING_HEADERS) {
      if (Object.hasOwn(header, name)) return this.refuse('token_header_forbidden', `header carries "${name}"`);
    }
    if (Object.hasOwn(header, 'crit')) return this.refuse('token_crit_unsupported', 'header has crit');
    if (!this.algorithms.has(alg)) return this.refuse('token_alg_not_allowed', `algorithm ${safe(alg)} is not allowed`);
    const staticAlgs = this.provider.staticAlgorithms;
    if (staticAlgs !== undefined && !staticAlgs.has(alg)) return this.refuse('token_alg_not_allowed', `no configured key can be used with ${alg}`);
    if (signaturePart === '') return this.refuse('token_signature_missing', 'empty signature part');

    // --- key -----------------------------------------------------------------------------------
    let keySet: KeySet;
    let selected: Selection;
    try {
      keySet = await this.provider.current();
      selected = select(keySet.keys, kid, alg);
      if (selected.kind === 'none') {
        await this.provider.refreshForUnknownKey();
        keySet = await this.provider.current();
        selected = select(keySet.keys, kid, alg);
      }
    } catch (err) {
      if (err instanceof KeysUnavailableError) return this.refuse('identity_provider_unavailable', `keys unavailable: ${err.message}`);
      throw err;
    }
    if (selected.kind === 'wrong-alg') return this.refuse('token_alg_not_allowed', `key ${describeKid(kid)} cannot be used with ${alg}`);
    if (selected.kind === 'none') return this.refuse('token_key_unknown', `no key for ${describeKid(kid)} and ${alg}`);

    // --- signature (jose) ----------------------------------------------------------------------
    let verified = false;
    for (const key of selected.keys) {
      try {
        await compactVerify(token, key, { algorithms: [alg] });
        verified = true;
        break;
      } catch (err) {
        const mapped = mapJoseError(err);
        if (mapped === 'token_signature_invalid') continue;
        return this.refuse(mapped, `signature check refused (${(err as joseErrors.JOSEError).code})`);
      }
    }
    if (!verified) return this.refuse('token_signature_invalid', `signature does not verify (${alg}, ${describeKid(kid)})`);

    // --- claims --------------------------------------------------------------------------------
    const claimFailure = this.checkClaims(claims);
    if (claimFailure !== undefined) return claimFailure;
    const subject = readPath(claims, this.opts.subjectClaim);
    if (typeof subject !== 'string' || subject === '') return this.refuse('token_claim_invalid', `claim "${this.opts.subjectClaim}" is missing or not a string`);

    const exp = claims.exp as number | undefined;
    const principal: Principal = Object.freeze({
      id: subject,
      type: 'jwt',
      scopes: Object.freeze(readScopes(claims, this.opts.scopeClaim)),
      roles: Object.freeze(this.opts.rolesClaim === undefined ? [] : stringList(readPath(claims, this.opts.rolesClaim))),
      claims: deepFreeze(claims),
      credentialId: credentialId(claims, token),
    });
    const result: AuthSuccess = Object.freeze({ ok: true, principal, expiresAt: exp === undefined ? undefined : exp * 1000 });
    // Never beyond exp, nor beyond the key set's freshness period (jwksCacheSeconds).
    const cacheUntil = Math.min(exp === undefined ? Infinity : exp * 1000, this.now() + this.opts.jwksCacheSeconds * 1000);
    // A result computed with keys that were replaced meanwhile is not cached (the replacement
    // cleared the cache; storing it now would let a rotated-out key outlive the rotation).
    if (keySet.generation === this.provider.generation) this.cache.set(token, result, cacheUntil);
    return result;
  }

  private checkClaims(claims: Claims): AuthFailure | undefined {
    const nowSeconds = this.now() / 1000;
    const skew = this.skewSeconds;
    const { exp, nbf, iat, iss, aud } = claims;
    for (const [name, value] of [
      ['exp', exp],
      ['nbf', nbf],
      ['iat', iat],
    ] as const) {
      if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
        return this.refuse('token_claim_invalid', `claim "${name}" is not a number`);
      }
    }
    if (typeof exp === 'number' && nowSeconds - skew >= exp) return this.refuse('token_expired', `expired ${Math.round(nowSeconds - exp)} s ago`);
    if (typeof nbf === 'number' && nbf > nowSeconds + skew) return this.refuse('token_not_yet_valid', `nbf is ${Math.round(nbf - nowSeconds)} s in the future`);
    if (typeof iat === 'number' && iat > nowSeconds + skew) return this.refuse('token_not_yet_valid', `iat is ${Math.round(iat - nowSeconds)} s in the future`);
    if (iss !== this.opts.issuer) return this.refuse('token_issuer_invalid', `issuer ${typeof iss === 'string' ? safe(iss) : 'missing'} is not ${this.opts.issuer}`);
    if (!this.audienceMatches(aud)) return this.refuse('token_audience_invalid', 'audience does not include an accepted audience');
    if (this.opts.requireExp && exp === undefined) return this.refuse('token_claim_invalid', 'claim "exp" is missing');
    for (const name of this.opts.requiredClaims) {
      const value = readPath(claims, name);
      if (value === undefined || value === null) return this.refuse('token_claim_invalid', `required claim "${name}" is missing`);
    }
    return undefined;
  }

  private audienceMatches(aud: unknown): boolean {
    if (typeof aud === 'string') return this.audiences.has(aud);
    if (!Array.isArray(aud)) return false;
    return aud.some((a) => typeof a === 'string' && this.audiences.has(a));
  }

  private refuse(code: AuthFailure['code'], reason: string): AuthFailure {
    return fail(code, `jwt scheme ${this.opts.name}: ${reason}`);
  }
}

// ---------------------------------------------------------------------------------------------

type Selection = { readonly kind: 'keys'; readonly keys: readonly ImportedFor[] } | { readonly kind: 'wrong-alg' } | { readonly kind: 'none' };
type ImportedFor = VerificationKey['byAlgorithm'] extends ReadonlyMap<string, infer K> ? K : never;

/**
 * Keys whose `kid` equals the token's are the candidates; if there are such keys but none
 * serves the algorithm, that is an algorithm/key-type mismatch. Without a `kid` match, keys
 * without a `kid` (and, for a token without `kid`, every key) are matched by algorithm.
 */
function select(keys: readonly VerificationKey[], kid: string | undefined, alg: string): Selection {
  if (kid !== undefined) {
    const named = keys.filter((k) => k.kid === kid);
    if (named.length > 0) {
      const usable = pick(named, alg);
      return usable.length > 0 ? { kind: 'keys', keys: usable } : { kind: 'wrong-alg' };
    }
  }
  const pool = kid === undefined ? keys : keys.filter((k) => k.kid === undefined);
  const usable = pick(pool, alg);
  return usable.length > 0 ? { kind: 'keys', keys: usable } : { kind: 'none' };
}

function pick(keys: readonly VerificationKey[], alg: string): ImportedFor[] {
  const out: ImportedFor[] = [];
  for (const k of keys) {
    const imported = k.byAlgorithm.get(alg);
    if (imported !== undefined) out.push(imported);
    if (out.length === MAX_CANDIDATES) break;
  }
  return out;
}

function mapJoseError(err: unknown): AuthFailure['code'] {
  if (!(err instanceof joseErrors.JOSEError)) throw err;
  switch (err.code) {
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'token_signature_invalid';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'token_alg_not_allowed';
    case 'ERR_JWS_INVALID':
      return 'token_malformed';
    default:
      throw err;
  }
}

/** base64url alphabet without padding; the empty string is allowed only where said. */
function isBase64url(s: string, allowEmpty: boolean): boolean {
  if (s.length === 0) return allowEmpty;
  if (s.length % 4 === 1) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95;
    if (!ok) return false;
  }
  return true;
}

/** A base64url part of a compact JWS decoded as a JSON object, or undefined. */
export function parseJsonObject(part: string): Claims | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Claims) : undefined;
}

/**
 * A claim by exact name (namespaced claims such as `https://example.com/roles` contain dots),
 * else by dotted path. Own properties only: never follows the prototype chain.
 */
function readPath(obj: Claims, path: string): unknown {
  if (Object.hasOwn(obj, path)) return obj[path];
  let cur: unknown = obj;
  for (const segment of path.split('.')) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur) || !Object.hasOwn(cur, segment)) return undefined;
    cur = (cur as Claims)[segment];
  }
  return cur;
}

function stringList(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter((s) => s !== '');
  if (Array.isArray(value)) return value.filter((s): s is string => typeof s === 'string' && s !== '');
  return [];
}

function readScopes(claims: Claims, scopeClaim: string): string[] {
  const primary = readPath(claims, scopeClaim);
  if (primary !== undefined) return stringList(primary);
  return stringList(readPath(claims, 'scp'));
}

function credentialId(claims: Claims, token: string): string {
  const jti = claims.jti;
  if (typeof jti === 'string' && jti !== '' && jti.length <= MAX_JTI_LENGTH) return jti;
  return 'sha256:' + createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 16);
}

/** Freezes a parsed JSON value and everything in it. Iterative: nesting depth cannot overflow the stack. */
function deepFreeze<T>(value: T): T {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const v = pending.pop();
    if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
      Object.freeze(v);
      for (const child of Object.values(v)) pending.push(child);
    }
  }
  return value;
}

/** A token-supplied value made safe for an audit reason: printable ASCII, at most 64 chars. */
function safe(value: string): string {
  let out = '';
  for (let i = 0; i < value.length && i < 64; i++) {
    const c = value.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? value[i] : '?';
  }
  return `"${out}${value.length > 64 ? '…' : ''}"`;
}

function describeKid(kid: string | undefined): string {
  return kid === undefined ? 'no kid' : `kid ${safe(kid)}`;
}
