/**
 * Verification keys for one JWT issuer: a remote JWKS (given directly or found through OpenID
 * Connect discovery) or a configured local key set.
 *
 * Design:
 * - Keys only ever come from configuration: a JWKS URL, a discovery URL, or local JWKs. Nothing
 *   in a token can name a key source (the JWT verifier refuses `jku`/`x5u`/`jwk`/`x5c`).
 * - Fetching is bounded: `https:` only (plain `http:` solely for loopback hosts), a timeout that
 *   covers the whole exchange including the body, a 1 MiB response limit, no redirects, at most
 *   100 keys per set. URLs are checked when the key set is built, so a bad config fails at start.
 * - Each JWK is imported once per algorithm it can serve (kty, crv, the key's own `alg`, `use`,
 *   `key_ops`, minimum RSA modulus and HMAC secret lengths), so the verifier's key-type check is
 *   a map lookup and no import happens on the request path. Symmetric (`oct`) keys are accepted
 *   only from local config: a JWKS is public, so a secret in it would let anyone sign tokens.
 * - Freshness: keys are fresh for `cacheSeconds`, then revalidated in the background while the
 *   old set keeps serving (a timer also refreshes them proactively). A token naming an unknown
 *   `kid` may force a refetch, but at most once per `refreshCooldownSeconds`, and concurrent
 *   callers share one in-flight fetch, so random kids cannot cause a refetch storm. A failed
 *   refresh keeps the cached keys (a JWKS outage does not take verification down).
 * - Discovery requires the document's `issuer` to equal the configured issuer exactly (mix-up
 *   defence) before its `jwks_uri` is used.
 * - Errors name what went wrong (timeout, HTTP status, size), never a key or a response body.
 */
import { createPublicKey, X509Certificate, type JsonWebKey } from 'node:crypto';
import { importJWK, type JWK } from 'jose';

/** Largest JWKS or discovery document accepted. */
export const MAX_DOCUMENT_BYTES = 1024 * 1024;
/** Keys beyond this many in one JWKS are ignored. */
export const MAX_KEYS = 100;
/** When nothing is cached, a failed fetch is retried no sooner than this (capped by the cooldown). */
const FAILURE_BACKOFF_MS = 5_000;
const WELL_KNOWN = '/.well-known/openid-configuration';
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

type ImportedKey = Awaited<ReturnType<typeof importJWK>>;

interface AlgorithmSpec {
  readonly kty: 'RSA' | 'EC' | 'OKP' | 'oct';
  readonly crv?: readonly string[];
  /** For HMAC: the minimum secret length in bytes (RFC 7518 §3.2: at least the hash size). */
  readonly minSecretBytes?: number;
}

/** The JWS algorithms Portcullis can verify, and the key each one needs. */
export const SUPPORTED_ALGORITHMS: Readonly<Record<string, AlgorithmSpec>> = Object.freeze({
  RS256: { kty: 'RSA' },
  RS384: { kty: 'RSA' },
  RS512: { kty: 'RSA' },
  PS256: { kty: 'RSA' },
  PS384: { kty: 'RSA' },
  PS512: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: ['P-256'] },
  ES384: { kty: 'EC', crv: ['P-384'] },
  ES512: { kty: 'EC', crv: ['P-521'] },
  EdDSA: { kty: 'OKP', crv: ['Ed25519'] },
  Ed25519: { kty: 'OKP', crv: ['Ed25519'] },
  HS256: { kty: 'oct', minSecretBytes: 32 },
  HS384: { kty: 'oct', minSecretBytes: 48 },
  HS512: { kty: 'oct', minSecretBytes: 64 },
});

export function algorithmSpec(alg: string): AlgorithmSpec | undefined {
  return Object.hasOwn(SUPPORTED_ALGORITHMS, alg) ? SUPPORTED_ALGORITHMS[alg] : undefined;
}

export function isSymmetricAlgorithm(alg: string): boolean {
  return algorithmSpec(alg)?.kty === 'oct';
}

/** A key ready for verification, imported once for every allowed algorithm it can serve. */
export interface VerificationKey {
  readonly kid: string | undefined;
  readonly kty: string;
  readonly byAlgorithm: ReadonlyMap<string, ImportedKey>;
}

/** One version of an issuer's keys. A new object (with a higher generation) per change. */
export interface KeySet {
  readonly keys: readonly VerificationKey[];
  readonly generation: number;
}

/** Raised when no key set is available at all (never fetched successfully, nothing local). */
export class KeysUnavailableError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'KeysUnavailableError';
  }
}

/** Where a verifier gets its keys. */
export interface KeyProvider {
  /** The current keys; throws KeysUnavailableError when there are none to serve. */
  current(): Promise<KeySet>;
  /** Generation of the newest key set (0 before any); results computed with an older one are stale. */
  readonly generation: number;
  /** Called when a token names a key that is not in the set: refetch if allowed (rate-limited). */
  refreshForUnknownKey(): Promise<void>;
  /** Algorithms some key can serve, when known without fetching (local keys); else undefined. */
  readonly staticAlgorithms: ReadonlySet<string> | undefined;
  /** Number of JWKS fetch attempts. */
  readonly fetches: number;
  start(): Promise<void>;
  close(): void;
}

// ---------------------------------------------------------------------------------------------
// URLs and bounded fetching

/** Parses a key-source URL and refuses anything but https (or http to a loopback host). */
export function checkFetchUrl(raw: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${what} is not a valid absolute URL`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new Error(`${what} must not carry credentials in the URL`);
  }
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) return url;
  throw new Error(`${what} must use https: (plain http: is only allowed for 127.0.0.1, ::1 and localhost), got ${url.protocol}//${url.host}`);
}

/** The discovery document URL for an issuer URL or a full `.well-known/openid-configuration` URL. */
export function discoveryDocumentUrl(raw: string): string {
  const url = checkFetchUrl(raw, 'discovery URL');
  if (url.pathname.endsWith(WELL_KNOWN)) return url.href;
  let path = url.pathname;
  while (path.endsWith('/')) path = path.slice(0, -1);
  url.pathname = path + WELL_KNOWN;
  return url.href;
}

class FetchFailure extends Error {}

/** GETs a JSON document with a whole-exchange timeout and a size bound. Errors carry no body. */
export async function fetchBoundedJson(url: string, timeoutMs: number, maxBytes: number = MAX_DOCUMENT_BYTES): Promise<unknown> {
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: 'error', headers: { accept: 'application/json, application/jwk-set+json' } });
  } catch (err) {
    throw new FetchFailure(isTimeout(err, signal) ? `timed out after ${timeoutMs} ms` : 'unreachable');
  }
  try {
    if (res.status !== 200) throw new FetchFailure(`answered HTTP ${res.status}`);
    const declared = res.headers.get('content-length');
    if (declared !== null && Number(declared) > maxBytes) throw new FetchFailure(`response larger than ${maxBytes} bytes`);
    const chunks: Uint8Array[] = [];
    let total = 0;
    if (res.body !== null) {
      for await (const chunk of res.body) {
        total += chunk.byteLength;
        if (total > maxBytes) throw new FetchFailure(`response larger than ${maxBytes} bytes`);
        chunks.push(chunk);
      }
    }
    try {
      return JSON.parse(Buffer.concat(chunks, total).toString('utf8')) as unknown;
    } catch {
      throw new FetchFailure('response is not JSON');
    }
  } catch (err) {
    if (res.body !== null && !res.bodyUsed) await res.body.cancel().catch(() => undefined);
    if (err instanceof FetchFailure) throw err;
    throw new FetchFailure(isTimeout(err, signal) ? `timed out after ${timeoutMs} ms` : 'connection failed while reading the response');
  }
}

function isTimeout(err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------
// OpenID Connect discovery

export interface DiscoveryDocument {
  readonly issuer: string;
  readonly jwksUri: string;
  /** RFC 8414 / OIDC `introspection_endpoint`, when the provider publishes one. */
  readonly introspectionEndpoint: string | undefined;
}

/**
 * Fetches and checks an OpenID Connect discovery document. `url` is an issuer URL or the full
 * `.well-known/openid-configuration` URL. The document's `issuer` must equal `expectedIssuer`
 * exactly, and its `jwks_uri` must pass the same URL rules as a configured one.
 */
export async function fetchDiscovery(url: string, expectedIssuer: string, timeoutMs: number): Promise<DiscoveryDocument> {
  const doc = await fetchBoundedJson(discoveryDocumentUrl(url), timeoutMs);
  if (!isPlainObject(doc)) throw new FetchFailure('discovery document is not a JSON object');
  if (doc.issuer !== expectedIssuer) throw new FetchFailure('discovery document issuer does not match the configured issuer');
  if (typeof doc.jwks_uri !== 'string') throw new FetchFailure('discovery document has no jwks_uri');
  let jwksUri: string;
  try {
    jwksUri = checkFetchUrl(doc.jwks_uri, 'discovery jwks_uri').href;
  } catch (err) {
    throw new FetchFailure((err as Error).message);
  }
  let introspectionEndpoint: string | undefined;
  if (typeof doc.introspection_endpoint === 'string') {
    try {
      introspectionEndpoint = checkFetchUrl(doc.introspection_endpoint, 'discovery introspection_endpoint').href;
    } catch {
      introspectionEndpoint = undefined;
    }
  }
  return Object.freeze({ issuer: doc.issuer, jwksUri, introspectionEndpoint });
}

// ---------------------------------------------------------------------------------------------
// Key import

function base64urlLength(value: unknown): number {
  if (typeof value !== 'string') return -1;
  const bytes = Buffer.from(value, 'base64url');
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start++;
  return bytes.length - start;
}

/** The allowed algorithms a JWK can serve. Pure and synchronous; does not import the key. */
export function usableAlgorithms(jwk: JWK, algorithms: readonly string[], allowSymmetric: boolean): string[] {
  if (jwk.use !== undefined && jwk.use !== 'sig') return [];
  if (jwk.key_ops !== undefined && (!Array.isArray(jwk.key_ops) || !jwk.key_ops.includes('verify'))) return [];
  if (jwk.kid !== undefined && typeof jwk.kid !== 'string') return [];
  const out: string[] = [];
  for (const alg of algorithms) {
    const spec = algorithmSpec(alg);
    if (spec === undefined || spec.kty !== jwk.kty) continue;
    if (jwk.alg !== undefined && jwk.alg !== alg) continue;
    if (spec.crv !== undefined && (typeof jwk.crv !== 'string' || !spec.crv.includes(jwk.crv))) continue;
    if (spec.kty === 'oct' && (!allowSymmetric || base64urlLength(jwk.k) < (spec.minSecretBytes ?? 0))) continue;
    if (spec.kty === 'RSA' && base64urlLength(jwk.n) < 256) continue; // RSA keys under 2048 bits are refused
    out.push(alg);
  }
  return out;
}

/** Only the public members (plus `k` for a local HMAC secret): private parts are never imported. */
function publicPart(jwk: JWK): JWK {
  switch (jwk.kty) {
    case 'RSA':
      return { kty: 'RSA', n: jwk.n, e: jwk.e };
    case 'EC':
      return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
    case 'OKP':
      return { kty: 'OKP', crv: jwk.crv, x: jwk.x };
    default:
      return { kty: 'oct', k: jwk.k };
  }
}

export interface ImportedKeySet {
  readonly keys: readonly VerificationKey[];
  /** Stable text identifying the set's content; a change means the key set changed. */
  readonly fingerprint: string;
}

/** Imports up to MAX_KEYS JWKs; keys that serve no allowed algorithm or fail to import are skipped. */
export async function importKeySet(jwks: readonly unknown[], algorithms: readonly string[], allowSymmetric: boolean): Promise<ImportedKeySet> {
  const keys: VerificationKey[] = [];
  const prints: string[] = [];
  for (const raw of jwks.slice(0, MAX_KEYS)) {
    if (!isPlainObject(raw) || typeof raw.kty !== 'string') continue;
    const jwk = raw as JWK;
    const algs = usableAlgorithms(jwk, algorithms, allowSymmetric);
    if (algs.length === 0) continue;
    const pub = publicPart(jwk);
    const byAlgorithm = new Map<string, ImportedKey>();
    for (const alg of algs) {
      try {
        byAlgorithm.set(alg, await importJWK(pub, alg));
      } catch {
        // not importable for this algorithm (bad coordinates, unsupported curve …): skip it
      }
    }
    if (byAlgorithm.size === 0) continue;
    keys.push(Object.freeze({ kid: jwk.kid, kty: jwk.kty as string, byAlgorithm }));
    prints.push(JSON.stringify([jwk.kid ?? null, [...byAlgorithm.keys()], pub]));
  }
  prints.sort();
  return { keys: Object.freeze(keys), fingerprint: prints.join('\n') };
}

/**
 * Converts a PEM public key (SPKI `PUBLIC KEY`, PKCS#1 `RSA PUBLIC KEY`) or an X.509
 * `CERTIFICATE` to a public JWK, with `alg` set when given. A private key PEM is refused: only
 * the public half belongs in gateway config.
 */
export async function pemToJwk(pem: string, alg?: string): Promise<JWK> {
  if (pem.includes('PRIVATE KEY-----')) throw new Error('expected a public key or certificate PEM, got a private key');
  let jwk: JWK;
  try {
    const key = pem.includes('-----BEGIN CERTIFICATE-----') ? new X509Certificate(pem).publicKey : createPublicKey({ key: pem, format: 'pem' });
    jwk = key.export({ format: 'jwk' }) as JWK;
  } catch {
    throw new Error('not a valid PEM public key or certificate');
  }
  if (alg !== undefined) {
    if (usableAlgorithms(jwk, [alg], false).length === 0) throw new Error(`the PEM key cannot be used with ${alg}`);
    jwk = { ...jwk, alg };
  }
  return jwk;
}

// ---------------------------------------------------------------------------------------------
// Local keys

/** A fixed key set from config. Validated synchronously at construction. */
export class LocalKeySet implements KeyProvider {
  readonly staticAlgorithms: ReadonlySet<string>;
  readonly fetches = 0;
  readonly generation = 1;
  private loaded: Promise<KeySet> | undefined;

  constructor(
    private readonly jwks: readonly JWK[],
    private readonly algorithms: readonly string[],
  ) {
    if (jwks.length === 0) throw new Error('local key set is empty');
    const algs = new Set<string>();
    jwks.forEach((jwk, i) => {
      if (!isPlainObject(jwk) || typeof jwk.kty !== 'string') throw new Error(`local key #${i + 1} is not a JWK`);
      if (typeof jwk.d === 'string' || (jwk.kty === 'RSA' && typeof jwk.p === 'string')) {
        throw new Error(`local key #${i + 1} is a private key; configure the public key only`);
      }
      if (jwk.kty !== 'oct') {
        try {
          createPublicKey({ key: publicPart(jwk) as JsonWebKey, format: 'jwk' });
        } catch {
          throw new Error(`local key #${i + 1} is not a valid public JWK`);
        }
      }
      const usable = usableAlgorithms(jwk, algorithms, true);
      if (usable.length === 0) {
        throw new Error(`local key #${i + 1} (${jwk.kty}) fits none of the allowed algorithms ${algorithms.join(', ')} (HMAC secrets need at least the hash size, RSA at least 2048 bits)`);
      }
      for (const alg of usable) algs.add(alg);
    });
    this.staticAlgorithms = algs;
  }

  current(): Promise<KeySet> {
    this.loaded ??= importKeySet(this.jwks, this.algorithms, true).then((set) => Object.freeze({ keys: set.keys, generation: 1 }));
    return this.loaded;
  }

  async refreshForUnknownKey(): Promise<void> {}

  async start(): Promise<void> {
    await this.current();
  }

  close(): void {}
}

// ---------------------------------------------------------------------------------------------
// Remote keys

export interface RemoteKeySetOptions {
  readonly source: { readonly kind: 'jwks'; readonly uri: string } | { readonly kind: 'discovery'; readonly url: string; readonly issuer: string };
  readonly algorithms: readonly string[];
  readonly cacheSeconds: number;
  readonly refreshCooldownSeconds: number;
  readonly fetchTimeoutMs: number;
  readonly now?: () => number;
  /** Called after a fetch that changed the key set (including the first successful one). */
  readonly onChange?: () => void;
}

/** A JWKS fetched from a URL or through discovery, cached and refreshed as described above. */
export class RemoteKeySet implements KeyProvider {
  readonly staticAlgorithms = undefined;
  private readonly now: () => number;
  private readonly cacheMs: number;
  private readonly cooldownMs: number;
  private keys: KeySet | undefined;
  private fingerprint: string | undefined;
  private fetchedAt = -Infinity;
  private attemptedAt = -Infinity;
  private lastFailed = false;
  private inFlight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private discovered: DiscoveryDocument | undefined;
  private jwksFetches = 0;
  private error: string | undefined;

  constructor(private readonly opts: RemoteKeySetOptions) {
    if (opts.source.kind === 'jwks') checkFetchUrl(opts.source.uri, 'JWKS URI');
    else discoveryDocumentUrl(opts.source.url);
    for (const [name, value] of [
      ['cacheSeconds', opts.cacheSeconds],
      ['refreshCooldownSeconds', opts.refreshCooldownSeconds],
    ] as const) {
      if (!(value >= 0) || !Number.isFinite(value)) throw new Error(`${name} must be a non-negative number`);
    }
    if (!(opts.fetchTimeoutMs > 0) || !Number.isFinite(opts.fetchTimeoutMs)) throw new Error('fetchTimeoutMs must be a positive number');
    this.now = opts.now ?? Date.now;
    this.cacheMs = opts.cacheSeconds * 1000;
    this.cooldownMs = opts.refreshCooldownSeconds * 1000;
  }

  get generation(): number {
    return this.keys?.generation ?? 0;
  }

  /** Number of JWKS fetch attempts (discovery fetches not counted). */
  get fetches(): number {
    return this.jwksFetches;
  }

  /** The checked discovery document, once fetched (discovery sources only). */
  get discovery(): DiscoveryDocument | undefined {
    return this.discovered;
  }

  /** Why the last refresh failed, if it did (for logs; never contains keys or bodies). */
  get lastError(): string | undefined {
    return this.error;
  }

  async start(): Promise<void> {
    await this.refresh();
  }

  async current(): Promise<KeySet> {
    const now = this.now();
    if (this.keys !== undefined) {
      // Stale: serve what we have and revalidate in the background (rate-limited).
      if (now - this.fetchedAt >= this.cacheMs && this.inFlight === undefined && now - this.attemptedAt >= this.cooldownMs) {
        void this.refresh();
      }
      return this.keys;
    }
    if (this.inFlight === undefined && now - this.attemptedAt < Math.min(this.cooldownMs, FAILURE_BACKOFF_MS)) {
      throw new KeysUnavailableError(this.error ?? 'keys not loaded yet');
    }
    await this.refresh();
    if (this.keys === undefined) throw new KeysUnavailableError(this.error ?? 'keys not loaded');
    return this.keys;
  }

  async refreshForUnknownKey(): Promise<void> {
    if (this.inFlight !== undefined) return this.inFlight;
    if (this.now() - this.attemptedAt < this.cooldownMs) return;
    return this.refresh();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One fetch at a time; concurrent callers share it. Never rejects. */
  private refresh(): Promise<void> {
    this.inFlight ??= this.fetchOnce().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async fetchOnce(): Promise<void> {
    this.attemptedAt = this.now();
    try {
      let uri: string;
      if (this.opts.source.kind === 'jwks') {
        uri = this.opts.source.uri;
      } else {
        if (this.discovered === undefined || this.lastFailed) {
          this.discovered = await fetchDiscovery(this.opts.source.url, this.opts.source.issuer, this.opts.fetchTimeoutMs);
        }
        uri = this.discovered.jwksUri;
      }
      this.jwksFetches++;
      const doc = await fetchBoundedJson(uri, this.opts.fetchTimeoutMs);
      if (!isPlainObject(doc) || !Array.isArray(doc.keys)) throw new FetchFailure('JWKS has no "keys" array');
      const set = await importKeySet(doc.keys, this.opts.algorithms, false);
      this.fetchedAt = this.now();
      this.lastFailed = false;
      this.error = undefined;
      if (set.fingerprint !== this.fingerprint) {
        this.keys = Object.freeze({ keys: set.keys, generation: this.generation + 1 });
        this.fingerprint = set.fingerprint;
        this.opts.onChange?.();
      }
    } catch (err) {
      this.lastFailed = true;
      this.error = err instanceof FetchFailure ? err.message : 'key set refresh failed';
    } finally {
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const delay = this.lastFailed ? Math.max(this.cooldownMs, 1000) : Math.max(this.cacheMs, 1000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.refresh();
    }, Math.min(delay, 2_147_483_647));
    this.timer.unref();
  }
}
