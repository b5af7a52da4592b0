/**
 * The identity schemes of one config, ready to verify requests: one verifier per scheme, shared
 * by every route that names it. Verifiers hold state worth keeping across reloads (fetched
 * JWKS, token caches, the open key store), so a reload reuses each one whose settings did not
 * change, as upstream pools are reused.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKeyConfig, Config, IdentitySchemeConfig, IntrospectionSchemeConfig, JwtSchemeConfig } from '../config/types.js';
import type { RequestContext } from '../pipeline/types.js';
import { bearerToken, queryParam, type SchemeVerifier } from './authn.js';
import { Introspector } from './introspection.js';
import { JwtVerifier } from './jwt.js';
import { KeyStore } from './keystore.js';
import { MtlsAuthenticator, checkCertificateBinding } from './mtls.js';
import { fail, type AuthResult } from './types.js';

/** Longest API key accepted: bounds hashing work on attacker input. */
const MAX_KEY_LENGTH = 512;
const REALM = 'realm="portcullis"';

interface Closable {
  close(): void;
}

/** Static keys from config, by SHA-256. */
class StaticKeys {
  private readonly byHash = new Map<string, { key: ApiKeyConfig; result: AuthResult }>();

  constructor(keys: readonly ApiKeyConfig[]) {
    for (const key of keys) {
      const principal = Object.freeze({ id: key.owner, type: 'api-key' as const, scopes: key.scopes, roles: key.roles, claims: Object.freeze({ keyId: key.id }), credentialId: key.id });
      this.byHash.set(key.sha256.toString('hex'), { key, result: Object.freeze({ ok: true as const, principal, expiresAt: key.expiresAt }) });
    }
  }

  get size(): number {
    return this.byHash.size;
  }

  verify(value: string, now: number): AuthResult | undefined {
    if (this.byHash.size === 0) return undefined;
    const digest = createHash('sha256').update(value, 'utf8').digest();
    const entry = this.byHash.get(digest.toString('hex'));
    if (entry === undefined || !timingSafeEqual(digest, entry.key.sha256)) return undefined;
    if (entry.key.expiresAt !== undefined && now >= entry.key.expiresAt) return fail('invalid_api_key', `API key ${entry.key.id} expired`);
    return entry.result;
  }
}

class ApiKeyVerifier implements SchemeVerifier {
  readonly type = 'apiKey' as const;
  readonly challenge: string;

  constructor(
    readonly name: string,
    private readonly where: 'header' | 'query',
    private readonly param: string,
    private readonly statics: StaticKeys,
    private readonly store: KeyStore | undefined,
  ) {
    this.challenge = where === 'header' ? `ApiKey ${REALM}, header="${param}"` : `ApiKey ${REALM}, query="${param}"`;
  }

  authenticate(ctx: RequestContext): AuthResult | undefined {
    let value: string | string[] | undefined;
    if (this.where === 'header') value = ctx.headers[this.param];
    else {
      const q = queryParam(ctx.rawQuery, this.param);
      value = q === 'several' ? ['', ''] : q;
    }
    if (value === undefined || value === '') return undefined;
    if (typeof value !== 'string') return fail('invalid_api_key', 'several API keys');
    if (value.length > MAX_KEY_LENGTH) return fail('invalid_api_key', 'API key too long');
    const fromConfig = this.statics.verify(value, Date.now());
    if (fromConfig !== undefined) return fromConfig;
    if (this.store !== undefined) return this.store.verify(value);
    return fail('invalid_api_key', 'unknown API key');
  }
}

/** Bearer tokens (JWT or introspection), with the RFC 8705 certificate binding check. */
class BearerVerifier implements SchemeVerifier {
  readonly challenge = `Bearer ${REALM}`;

  constructor(
    readonly name: string,
    readonly type: 'jwt' | 'introspection',
    private readonly inner: { verify(token: string): Promise<AuthResult> | AuthResult },
    private readonly bindingRequired: boolean,
  ) {}

  authenticate(ctx: RequestContext): AuthResult | Promise<AuthResult> | undefined {
    const token = bearerToken(ctx);
    if (token === undefined) return undefined;
    const r = this.inner.verify(token);
    if (r instanceof Promise) return r.then((res) => this.bind(ctx, res));
    return this.bind(ctx, r);
  }

  private bind(ctx: RequestContext, r: AuthResult): AuthResult {
    if (!r.ok) return r;
    const bad = checkCertificateBinding(r.principal.claims, ctx.client.certificate, this.bindingRequired);
    return bad ?? r;
  }
}

class MtlsVerifier implements SchemeVerifier {
  readonly type = 'mtls' as const;
  readonly challenge = undefined;

  constructor(
    readonly name: string,
    private readonly auth: MtlsAuthenticator,
  ) {}

  authenticate(ctx: RequestContext): AuthResult | undefined {
    const cert = ctx.client.certificate;
    return cert === undefined ? undefined : this.auth.authenticate(cert);
  }
}

interface Built {
  readonly key: string;
  readonly verifier: SchemeVerifier;
  readonly resource: Closable | undefined;
}

export class Identity {
  private constructor(
    readonly verifiers: ReadonlyMap<string, SchemeVerifier>,
    private readonly built: ReadonlyMap<string, Built>,
    readonly keyStore: KeyStore | undefined,
    private readonly storeFile: string | undefined,
  ) {}

  /** Builds the verifiers of `config`, reusing those of `previous` whose settings are unchanged. */
  static build(config: Config, previous?: Identity): Identity {
    const apiKeys = config.identity.apiKeys;
    const storeFile = apiKeys?.store;
    const keyStore = storeFile === undefined ? undefined : previous?.storeFile === storeFile ? previous.keyStore : KeyStore.open(storeFile);
    const statics = new StaticKeys(apiKeys?.keys ?? []);
    const verifiers = new Map<string, SchemeVerifier>();
    const built = new Map<string, Built>();
    for (const [name, scheme] of Object.entries(config.identity.schemes)) {
      const key = schemeKey(scheme);
      const old = previous?.built.get(name);
      // API key verifiers are cheap and hold the static keys: always rebuilt.
      if (old !== undefined && old.key === key && scheme.type !== 'apiKey') {
        built.set(name, old);
        verifiers.set(name, old.verifier);
        continue;
      }
      const b = buildVerifier(scheme, statics, keyStore);
      built.set(name, { key, ...b });
      verifiers.set(name, b.verifier);
    }
    return new Identity(verifiers, built, keyStore, storeFile);
  }

  /** Prefetches keys (JWKS, discovery). Never throws. */
  async start(): Promise<void> {
    const starts: Promise<void>[] = [];
    for (const b of this.built.values()) {
      const r = b.resource as { start?: () => Promise<void> } | undefined;
      if (r?.start !== undefined) starts.push(r.start().catch(() => undefined));
    }
    await Promise.all(starts);
  }

  /** Closes what `next` does not reuse (all of it when `next` is undefined). */
  retire(next: Identity | undefined): void {
    for (const [name, b] of this.built) {
      if (next?.built.get(name) !== b) b.resource?.close();
    }
    if (this.keyStore !== undefined && next?.keyStore !== this.keyStore) this.keyStore.close();
  }
}

function schemeKey(s: IdentitySchemeConfig): string {
  return JSON.stringify(s);
}

function buildVerifier(s: IdentitySchemeConfig, statics: StaticKeys, store: KeyStore | undefined): Omit<Built, 'key'> {
  switch (s.type) {
    case 'apiKey':
      return { verifier: new ApiKeyVerifier(s.name, s.in, s.param, statics, store), resource: undefined };
    case 'jwt': {
      const v = new JwtVerifier(jwtOptions(s));
      return { verifier: new BearerVerifier(s.name, 'jwt', v, s.certificateBound === 'required'), resource: v };
    }
    case 'introspection': {
      const v = new Introspector(introspectionOptions(s));
      return { verifier: new BearerVerifier(s.name, 'introspection', v, s.certificateBound === 'required'), resource: v };
    }
    case 'mtls':
      return {
        verifier: new MtlsVerifier(s.name, new MtlsAuthenticator({ name: s.name, principalFrom: s.principalFrom, rules: s.rules.map((r) => ({ ...r, match: definedOnly(r.match) })) })),
        resource: undefined,
      };
  }
}

function definedOnly<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function jwtOptions(s: JwtSchemeConfig): ConstructorParameters<typeof JwtVerifier>[0] {
  return {
    name: s.name,
    issuer: s.issuer,
    audiences: s.audiences,
    algorithms: s.algorithms,
    keys: s.keys.kind === 'local' ? { kind: 'local', keys: s.keys.keys } : s.keys,
    clockSkewSeconds: s.clockSkewSeconds,
    requiredClaims: s.requiredClaims,
    requireExp: s.requireExp,
    maxTokenBytes: s.maxTokenBytes,
    subjectClaim: s.subjectClaim,
    scopeClaim: s.scopeClaim,
    rolesClaim: s.rolesClaim,
    jwksCacheSeconds: s.jwksCacheSeconds,
    jwksRefreshCooldownSeconds: s.jwksRefreshCooldownSeconds,
    fetchTimeoutMs: s.timeoutMs,
    cacheMaxEntries: s.cacheMaxEntries,
  };
}

function introspectionOptions(s: IntrospectionSchemeConfig): ConstructorParameters<typeof Introspector>[0] {
  return {
    name: s.name,
    endpoint: s.endpoint,
    clientId: s.clientId,
    clientSecret: s.clientSecret,
    clientAuth: s.clientAuth,
    timeoutMs: s.timeoutMs,
    cacheMaxSeconds: s.cacheMaxSeconds,
    cacheMaxEntries: s.cacheMaxEntries,
    negativeCacheSeconds: 5,
    maxTokenBytes: s.maxTokenBytes,
    subjectClaim: s.subjectClaim,
    scopeClaim: s.scopeClaim,
    rolesClaim: s.rolesClaim,
    audiences: s.audiences,
    issuer: s.issuer,
  };
}
