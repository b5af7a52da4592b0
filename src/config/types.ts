/**
 * Normalized config: what the loader hands to the rest of the gateway. Defaults are filled,
 * secrets resolved, relative paths made absolute, OpenAPI documents loaded. The raw shape
 * (what the file says) is `RawConfig` in schema.ts.
 */

import type { OwnershipPolicy } from '../access/ownership.js';
import type { ReadPolicy, WritePolicy } from '../access/properties.js';
import type { OperationContract } from './contract.js';
import type { IpSet } from '../abuse/ip.js';
import type { LimiterSettings } from '../proxy/limiter.js';
import type { StageName } from '../pipeline/types.js';

export interface AccessPolicies {
  readonly ownership: OwnershipPolicy | undefined;
  readonly write: WritePolicy | undefined;
  readonly read: ReadPolicy | undefined;
}

export type Severity = 'error' | 'warning';

/** One problem found in a config or OpenAPI file. */
export interface Diagnostic {
  readonly severity: Severity;
  /** Absolute path of the file the problem is in. */
  readonly file: string;
  /** 1-based; 0 when the position is unknown (e.g. a file that cannot be read). */
  readonly line: number;
  readonly column: number;
  /** Key path in the file, e.g. `apis[0].upstream` or, in an OpenAPI file, a JSON pointer `/paths/~1users/get`. */
  readonly path: string;
  /** What is wrong and what was expected. */
  readonly message: string;
}

export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export type HttpMethodName = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS' | 'TRACE';

export interface SecurityRequirement {
  /** Scheme name → required scopes. One requirement is an AND of its schemes; a list is an OR. */
  readonly [scheme: string]: readonly string[];
}

export interface ApiOperation {
  readonly method: HttpMethodName;
  /** OpenAPI path template, e.g. `/users/{id}`. */
  readonly path: string;
  /** The spec's operationId, or `<METHOD> <path>` when the spec has none. */
  readonly operationId: string;
  readonly deprecated: boolean;
  /** Effective security: the operation's, else the document's; undefined when neither says. */
  readonly security: readonly SecurityRequirement[] | undefined;
  readonly tags: readonly string[];
  /** JSON pointer of the operation in the document. */
  readonly pointer: string;
  readonly location: SourceLocation;
}

export interface LoadedSpec {
  readonly file: string;
  /** The `openapi` field, e.g. `3.1.0`. */
  readonly openapi: string;
  readonly title: string;
  readonly version: string;
  /** The path of the first `servers` URL ('' when there is none or it is `/`). */
  readonly serverBasePath: string;
  readonly operations: readonly ApiOperation[];
  /** The parsed document, for later capabilities (contract validation). */
  readonly document: unknown;
  /** Every file of the document (the main one included), parsed, by absolute path: `$ref`s to other files resolve here. */
  readonly documents: ReadonlyMap<string, unknown>;
}

export interface TlsListenerConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** File contents, read at load time so a reload with a bad file keeps the old listener. */
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa: Buffer | undefined;
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  readonly ciphers: string;
  readonly http2: boolean;
  readonly clientCertificate: 'none' | 'optional' | 'required';
}

export interface ListenerConfig {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly tls: TlsListenerConfig | undefined;
}

export interface LimitsConfig {
  readonly maxHeaderCount: number;
  readonly maxHeaderBytes: number;
  readonly maxUrlLength: number;
  /** `%2F`/`%5C` in a path: refused, or kept as data inside its segment. */
  readonly encodedSlashes: 'reject' | 'keep';
  readonly maxBodyBytes: number;
  readonly maxFilteredResponseBytes: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxRequestsPerConnection: number;
}

export interface UpstreamConfig {
  /** The name in `upstreams`, or the URL itself for an inline upstream. */
  readonly name: string;
  /** Origin: scheme://host:port. */
  readonly origin: string;
  /** Path prefix from the URL ('' when none), prepended when forwarding. */
  readonly pathPrefix: string;
  readonly connections: number;
  readonly pipelining: number;
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  readonly totalTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly tls: { readonly ca: Buffer | undefined; readonly serverName: string | undefined; readonly insecureSkipVerify: boolean } | undefined;
  /** Per-upstream concurrency limit (undefined: none). */
  readonly loadShedding: LimiterSettings | undefined;
}

export interface CorsConfig {
  readonly allowOrigins: readonly string[];
  readonly allowMethods: readonly HttpMethodName[] | undefined;
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly allowCredentials: boolean;
  readonly maxAgeSeconds: number;
}

export interface SecurityHeadersConfig {
  readonly contentTypeOptions: boolean;
  readonly frameOptions: 'DENY' | 'SAMEORIGIN' | false;
  readonly contentSecurityPolicy: string | false;
  readonly referrerPolicy: string | false;
  readonly noStoreWhenAuthenticated: boolean;
  readonly removeBanners: readonly string[];
}

interface SchemeBase {
  /** Key in `identity.schemes` (or a synthetic name for OpenAPI apiKey schemes without an entry). */
  readonly name: string;
  /** Where it was defined, for messages: `identity.schemes.corp` or `apis[0] (OpenAPI scheme "key")`. */
  readonly keyPath: string;
}

export interface ApiKeySchemeConfig extends SchemeBase {
  readonly type: 'apiKey';
  readonly in: 'header' | 'query';
  /** Header name (lowercase) or query parameter name. */
  readonly param: string;
}

export interface TokenClaimsConfig {
  readonly maxTokenBytes: number;
  readonly subjectClaim: string;
  readonly scopeClaim: string;
  readonly rolesClaim: string | undefined;
  readonly audiences: readonly string[];
  readonly cacheMaxEntries: number;
  readonly timeoutMs: number;
  readonly certificateBound: 'optional' | 'required';
}

export interface JwtSchemeConfig extends SchemeBase, TokenClaimsConfig {
  readonly type: 'jwt';
  readonly issuer: string;
  readonly algorithms: readonly string[];
  readonly keys:
    | { readonly kind: 'jwks'; readonly uri: string }
    | { readonly kind: 'discovery'; readonly url: string }
    | { readonly kind: 'local'; readonly keys: readonly Record<string, unknown>[] };
  readonly clockSkewSeconds: number;
  readonly requiredClaims: readonly string[];
  readonly requireExp: boolean;
  readonly jwksCacheSeconds: number;
  readonly jwksRefreshCooldownSeconds: number;
}

export interface IntrospectionSchemeConfig extends SchemeBase, TokenClaimsConfig {
  readonly type: 'introspection';
  readonly endpoint: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly clientAuth: 'client_secret_basic' | 'client_secret_post';
  readonly cacheMaxSeconds: number;
  readonly issuer: string | undefined;
}

export interface MtlsRuleConfig {
  readonly match: Readonly<Record<'subjectCn' | 'subject' | 'sanDns' | 'sanUri' | 'sanEmail' | 'fingerprint256' | 'issuerCn', string | undefined>>;
  readonly id: string | undefined;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
}

export interface MtlsSchemeConfig extends SchemeBase {
  readonly type: 'mtls';
  readonly principalFrom: 'subject-cn' | 'san-uri' | 'san-dns' | 'san-email' | 'fingerprint';
  readonly rules: readonly MtlsRuleConfig[];
}

export type IdentitySchemeConfig = ApiKeySchemeConfig | JwtSchemeConfig | IntrospectionSchemeConfig | MtlsSchemeConfig;

/** One alternative of a security requirement: every scheme must pass and carry its scopes. */
export interface RequirementConfig {
  readonly schemes: readonly { readonly scheme: string; readonly scopes: readonly string[] }[];
}

/** Who may call an operation or route, and on which objects. */
export interface AccessConfig {
  /** Alternatives (OR). Undefined: the default, an API key (`identity.schemes.apiKey`). */
  readonly security: readonly RequirementConfig[] | undefined;
  /** The caller needs one of these roles (undefined: no role check). */
  readonly roles: readonly string[] | undefined;
  /** Ownership and property policies, compiled once at load (`x-portcullis-owner`, `routes[].owner`, property rules of the schemas). */
  readonly policies: AccessPolicies;
}

export interface ContractConfig {
  readonly strict: boolean;
  readonly responses: {
    readonly validate: 'off' | 'monitor' | 'enforce';
    readonly undeclaredProperties: 'strip' | 'report' | 'off';
    readonly leakGuard: 'off' | 'monitor' | 'enforce';
    readonly leakGuardInternalIps: boolean;
  };
  readonly limits: {
    readonly maxQueryParams: number;
    readonly maxDepth: number;
    readonly maxKeys: number;
    readonly maxStringLength: number;
    readonly maxArrayLength: number;
    readonly maxParts: number;
    readonly maxPartBytes: number;
  };
}

export interface StageSettingsConfig {
  readonly mode: 'enforce' | 'monitor' | 'off';
  readonly onError: 'fail-closed' | 'fail-open';
}

export interface ThreatExclusionConfig {
  /** Detector ids, families or categories; empty: all. */
  readonly detectors: readonly string[];
  /** `<location>:<name>` patterns; empty: every input. */
  readonly locations: readonly string[];
  /** operationIds the exclusion is limited to (APIs only); undefined: all. */
  readonly operations: readonly string[] | undefined;
}

export interface RouteThreatsConfig {
  readonly paranoia: 1 | 2 | 3 | 4 | undefined;
  readonly threshold: number | undefined;
  readonly exclusions: readonly ThreatExclusionConfig[];
}

export interface ThreatsConfig {
  readonly enabled: boolean;
  readonly paranoia: 1 | 2 | 3 | 4;
  readonly threshold: number;
  readonly cookies: boolean;
  /** Lower-cased header names not inspected, beyond the built-in list. */
  readonly ignoreHeaders: readonly string[];
  readonly exclusions: readonly ThreatExclusionConfig[];
  readonly limits: { readonly maxBytes: number; readonly maxItems: number; readonly maxDepth: number };
}

/** Compiled IP lists (merged ranges); undefined when the list is not configured. */
export interface IpListsConfig {
  readonly allow: IpSet | undefined;
  readonly deny: IpSet | undefined;
}

export interface RouteIpRulesConfig extends IpListsConfig {
  /** The top-level lists apply too. */
  readonly inherit: boolean;
}

export interface BotsConfig {
  readonly enabled: boolean;
  readonly challengeAt: number;
  readonly denyAt: number;
  readonly scores: { readonly missingUserAgent: number; readonly scriptedUserAgent: number; readonly headerAnomaly: number; readonly impossibleRate: number };
  readonly rate: { readonly requests: number; readonly windowSeconds: number; readonly maxClients: number };
  /** Lower-cased, added to the built-in list. */
  readonly scriptedUserAgents: readonly string[];
  readonly challenge: {
    readonly difficulty: number;
    /** Undefined: a key generated at start (per process tree). */
    readonly secret: string | undefined;
    readonly ttlSeconds: number;
    readonly clearanceSeconds: number;
    readonly ipv4Prefix: number;
    readonly ipv6Prefix: number;
    readonly replayGuardEntries: number;
  };
}

export interface RoutePolicyConfig {
  readonly public: boolean;
  readonly maxBodyBytes: number;
  readonly cors: CorsConfig | undefined;
  readonly securityHeaders: SecurityHeadersConfig;
  readonly threats: RouteThreatsConfig;
  readonly ipRules: RouteIpRulesConfig;
  /** Thresholds of this route (undefined: the top-level ones). */
  readonly bots: { readonly enabled: boolean | undefined; readonly challengeAt: number | undefined; readonly denyAt: number | undefined };
  /** Every stage has an entry (defaults filled). */
  readonly stages: Readonly<Record<StageName, StageSettingsConfig>>;
}

export interface ApiConfig extends RoutePolicyConfig {
  readonly name: string;
  readonly specFile: string;
  readonly spec: LoadedSpec;
  readonly upstream: string;
  /** Normalized: '' or `/segment/...` without trailing slash. */
  readonly basePath: string;
  readonly stripBasePath: boolean;
  readonly hosts: readonly string[] | undefined;
  /** Key path of this entry in the config file, e.g. `apis[0]`. */
  readonly keyPath: string;
  /** Access rules per operationId. */
  readonly access: ReadonlyMap<string, AccessConfig>;
  readonly contract: ContractConfig;
  /** The compiled contract of each operation, by operationId. */
  readonly contracts: ReadonlyMap<string, OperationContract>;
}

export interface RouteConfig extends RoutePolicyConfig {
  readonly name: string;
  readonly methods: readonly HttpMethodName[];
  readonly path: string;
  readonly hosts: readonly string[] | undefined;
  readonly upstream: string;
  readonly keyPath: string;
  readonly access: AccessConfig;
}

export interface ApiKeyConfig {
  readonly id: string;
  /** The 32-byte SHA-256 of the key. */
  readonly sha256: Buffer;
  readonly owner: string;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  /** Epoch ms, or undefined for no expiry. */
  readonly expiresAt: number | undefined;
}

/** A named rate limit (`rateLimits.limits`). */
export interface LimitConfig {
  readonly name: string;
  /** Key parts: `ip`, `principal`, `credential`, `route`, `global`, `header:<name>` (lower-case), `claim:<name>`, `param:<name>`, `query:<name>`. */
  readonly key: readonly string[];
  readonly algorithm: 'gcra' | 'fixed-window' | 'sliding-window';
  readonly limit: number;
  /** Window length; for `month`, 31 days (expiry only: the bounds follow the calendar). */
  readonly windowMs: number;
  readonly month: boolean;
  readonly burst: number;
  /** Set for calendar windows (whole days or months): the time zone whose midnight starts them. */
  readonly timeZone: string | undefined;
  readonly whenMissing: 'ip' | 'shared' | 'skip';
}

/** A login operation or route (brute-force protection). */
export interface LoginConfig {
  /** A JSON pointer (a bare field name becomes `/<name>`). */
  readonly usernamePointer: string;
  readonly failureStatuses: readonly number[];
}

/** What abuse protection applies to one route (by route id). */
export interface RouteAbuseConfig {
  /** Names of the limits, inherited ones first. */
  readonly limits: readonly string[];
  readonly cost: number;
  readonly login: LoginConfig | undefined;
  /** `x-portcullis-bots` of the operation: overrides the API's and the top-level `bots` settings. */
  readonly bots?: { readonly enabled: boolean | undefined; readonly challengeAt: number | undefined; readonly denyAt: number | undefined };
}

export interface StoreConfig {
  readonly type: 'memory' | 'redis';
  readonly memory: { readonly maxEntries: number };
  readonly redis:
    | {
        readonly url: string;
        readonly cluster: boolean;
        readonly password: string | undefined;
        readonly username: string | undefined;
        readonly keyPrefix: string;
        readonly connectTimeoutMs: number;
        readonly commandTimeoutMs: number;
        readonly onUnavailable: 'local' | 'fail-open' | 'fail-closed';
        readonly localDivisor: number;
      }
    | undefined;
}

export interface AbuseConfig {
  readonly store: StoreConfig;
  readonly rateLimits: { readonly headers: boolean; readonly limits: ReadonlyMap<string, LimitConfig> };
  readonly bans: { readonly onAttacks: { readonly threshold: number; readonly windowMs: number; readonly ttlMs: number } | undefined };
  readonly bruteForce: {
    readonly windowMs: number;
    readonly perIp: { readonly delayAfter: number; readonly banAfter: number };
    readonly perUsername: { readonly delayAfter: number; readonly lockAfter: number };
    readonly delayBaseMs: number;
    readonly maxDelayMs: number;
    readonly banTtlMs: number;
    readonly stuffing: { readonly threshold: number; readonly windowMs: number; readonly challengeForMs: number };
  };
  /** By route id (`<api>:<operationId>` or `route:<name>`); routes without limits or login are absent. */
  readonly routes: ReadonlyMap<string, RouteAbuseConfig>;
}

export interface Config {
  /** Absolute path of the config file. */
  readonly file: string;
  /** Every file the config depends on (config, specs, TLS files); watched for reload. */
  readonly files: readonly string[];
  /** SHA-256 (hex, first 12) of the config file and its dependencies; shown by /readyz and the admin API. */
  readonly revision: string;
  readonly workers: number;
  readonly listeners: readonly ListenerConfig[];
  readonly tls: {
    readonly required: boolean;
    readonly redirectHttp: boolean;
    readonly httpsPort: number | undefined;
    readonly hsts: { readonly maxAgeSeconds: number; readonly includeSubDomains: boolean; readonly preload: boolean };
  };
  readonly limits: LimitsConfig;
  readonly trustedProxies: readonly string[];
  readonly requestId: { readonly header: string; readonly trustIncoming: 'trusted-proxies' | 'always' | 'never' };
  readonly shutdown: { readonly drainTimeoutMs: number };
  readonly admin: {
    readonly enabled: boolean;
    readonly host: string;
    readonly port: number;
    readonly token: string | undefined;
    readonly metricsRequireToken: boolean;
  };
  readonly threats: ThreatsConfig;
  /** Top-level IP lists (APIs and routes carry their own in `ipRules`). */
  readonly ipRules: IpListsConfig;
  readonly bots: BotsConfig;
  readonly loadShedding: LimiterSettings & { readonly retryAfterSeconds: number };
  readonly telemetry: {
    readonly audit: {
      readonly enabled: boolean;
      /** 'stdout', 'stderr' or an absolute file path. */
      readonly destination: string;
      readonly includeHeaders: boolean;
      readonly redactHeaders: readonly string[];
    };
    readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug';
  };
  readonly identity: {
    readonly apiKeys:
      | {
          readonly header: string;
          /** Absolute path of the SQLite key store, when configured. */
          readonly store: string | undefined;
          readonly allowQuery: boolean;
          readonly keys: readonly ApiKeyConfig[];
        }
      | undefined;
    /** Every scheme routes may name, including `apiKey` (the default) and synthetic ones from OpenAPI apiKey schemes. */
    readonly schemes: Readonly<Record<string, IdentitySchemeConfig>>;
  };
  /** Named upstreams plus one entry per inline URL used by an API or route (keyed by the URL). */
  readonly upstreams: Readonly<Record<string, UpstreamConfig>>;
  readonly apis: readonly ApiConfig[];
  readonly routes: readonly RouteConfig[];
  /** Rate limits, bans, brute force: the store and what applies to each route. */
  readonly abuse: AbuseConfig;
  /** Source position of a key path (e.g. `['apis', 0, 'upstream']`) in the config file, for diagnostics found after loading. */
  locate(path: readonly (string | number)[]): SourceLocation;
}

export type LoadResult =
  | { readonly ok: true; readonly config: Config; readonly warnings: readonly Diagnostic[] }
  | { readonly ok: false; readonly diagnostics: readonly Diagnostic[]; readonly files: readonly string[] };
