import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { ErrorCode } from './errors.js';
import type { ProblemError } from './problem.js';

/** What a stage answers. A stage never writes to the socket; the runner does. */
export type Decision =
  | { readonly action: 'continue' }
  /** Refuse. `reason` goes to the audit event only, never to the client. */
  | {
      readonly action: 'deny';
      readonly code: ErrorCode;
      readonly reason: string;
      /** Overrides the registry status (rarely needed). */
      readonly status?: number;
      /** Extra headers for the refusal, e.g. WWW-Authenticate, Allow, Retry-After. */
      readonly headers?: Readonly<Record<string, string>>;
      /** Contract violations listed in the problem body (location, pointer, rule; never values). */
      readonly errors?: readonly ProblemError[];
    }
  /** Answer locally without an error (e.g. a CORS preflight). */
  | { readonly action: 'respond'; readonly status: number; readonly headers: Readonly<Record<string, string>> }
  /**
   * Ask the client to prove work before going on (a bot challenge). The gateway answers with a
   * proof-of-work challenge, unless the request carries a valid clearance: then the chain goes
   * on as if the stage had answered `continue`. `reason` goes to the audit event only.
   */
  | { readonly action: 'challenge'; readonly kind: 'pow'; readonly reason?: string };

export const CONTINUE: Decision = Object.freeze({ action: 'continue' });

export type StageMode = 'enforce' | 'monitor' | 'off';
export type FailureMode = 'fail-closed' | 'fail-open';

/** Names of the stages a chain may hold, in chain order. */
export type StageName =
  | 'ip-rules'
  | 'bans'
  | 'cors'
  | 'rate-limit'
  | 'authn'
  | 'authz'
  | 'bots'
  | 'brute-force'
  | 'contract'
  | 'properties'
  | 'threats'
  | 'response-contract'
  | 'security-headers';

export interface ClientCertificate {
  readonly subject: string;
  readonly issuer: string;
  /** `DNS:…`, `URI:…`, `email:…` entries as Node reports them. */
  readonly subjectAltNames: readonly string[];
  readonly fingerprint256: string;
  readonly serialNumber: string;
}

export interface ClientInfo {
  /** The real client IP: the socket peer, or the first untrusted hop of X-Forwarded-For when the peer is a trusted proxy. */
  readonly ip: string;
  /** The socket peer. */
  readonly peerIp: string;
  readonly tls: boolean;
  readonly httpVersion: string;
  /** Set only when the listener verified a client certificate against its CA bundle. */
  readonly certificate: ClientCertificate | undefined;
}

export interface Principal {
  readonly id: string;
  readonly type: 'api-key' | 'jwt' | 'introspection' | 'mtls';
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly claims: Readonly<Record<string, unknown>>;
  /** Identifies the credential (key id, jti …), never the credential itself. */
  readonly credentialId: string;
}

export interface Finding {
  readonly stage: StageName;
  readonly code: ErrorCode;
  readonly reason: string;
  /** True when the stage was in monitor mode and the finding did not block. */
  readonly monitored: boolean;
  /** A challenge the request had already paid for (valid clearance): it did not block. */
  readonly cleared?: boolean;
}

/**
 * Tells whether a request carries a valid clearance (a paid challenge). The gateway sets one per
 * runtime on every request context; the runner asks it at most once per request, and only when
 * a stage answers `challenge`.
 */
export interface ClearanceVerifier {
  verify(ctx: RequestContext): boolean;
}

export interface StageTiming {
  readonly stage: StageName;
  /** Microseconds. */
  readonly us: number;
}

/** Route facts that stages and telemetry read. Compiled once per config. */
export interface RouteInfo {
  /** Stable id used in metrics and events: `<api>:<operationId>` or `route:<name>`. */
  readonly id: string;
  readonly api: string | undefined;
  readonly operationId: string | undefined;
  readonly public: boolean;
  readonly upstream: string;
  readonly maxBodyBytes: number;
  /** The OpenAPI operation is `deprecated: true`. */
  readonly deprecated?: boolean;
}

export interface RequestContext {
  readonly requestId: string;
  /** performance.now() (milliseconds, sub-microsecond resolution) when the request arrived. */
  readonly start: number;
  readonly method: string;
  /** Percent-decoded, verified-normal path (no dot-segments, no encoded slashes). */
  readonly path: string;
  /** The raw query string without `?` ('' when absent). */
  readonly rawQuery: string;
  readonly headers: IncomingHttpHeaders;
  readonly client: ClientInfo;
  readonly route: RouteInfo;
  /** Path template parameters, decoded. */
  readonly params: Readonly<Record<string, string | undefined>>;
  /** Set by the authentication stage. */
  principal: Principal | undefined;
  /** The request body, only when a stage in the chain has `needsBody`. */
  body: Buffer | undefined;
  /**
   * Every request input that passed contract validation, with its declared type: later stages
   * (threat detection) skip values that proved to be an integer, an enum member, a uuid …
   * Undefined until the contract stage ran.
   */
  inputs: readonly TypedInputInfo[] | undefined;
  /** What threat detection found (set by the threats stage; undefined when it did not run). */
  threats: ThreatReport | undefined;
  /** The body parsed as JSON, by the first stage that needed it (see access/stages.ts). */
  json: { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: string } | undefined;
  /** Checks clearances when a stage challenges (undefined: challenges cannot be cleared). */
  readonly clearance: ClearanceVerifier | undefined;
  /** Whether the request carries a valid clearance; undefined until a stage challenged. */
  cleared: boolean | undefined;
  readonly findings: Finding[];
  readonly timings: StageTiming[];
  /** Headers stages want on the final response, allowed or denied (CORS, rate-limit budget …). */
  readonly responseHeaders: Record<string, string>;
}

/** Threat-detection findings of one request, as the audit event records them. */
export interface ThreatReport {
  readonly score: number;
  readonly paranoia: number;
  readonly threshold: number;
  readonly findings: readonly {
    readonly detector: string;
    readonly category: string;
    readonly severity: number;
    readonly location: string;
    /** Parameter, header or cookie name, or JSON pointer. */
    readonly name: string;
    readonly isKey: boolean;
    /** At most 40 characters; `[REDACTED]` for cookies and secret-looking names. */
    readonly excerpt: string;
  }[];
}

/** A validated request input and what the contract declares about it. */
export interface TypedInputInfo {
  readonly location: 'path' | 'query' | 'header' | 'cookie' | 'body';
  /** Parameter name, or a JSON pointer into the body. */
  readonly name: string;
  readonly type: string | undefined;
  readonly format: string | undefined;
  readonly enumerated: boolean;
  readonly patterned: boolean;
}

export interface ResponseContext {
  readonly request: RequestContext;
  readonly status: number;
  /** The outgoing headers; response stages may add or remove entries. */
  readonly headers: OutgoingHttpHeaders;
}

export type Outcome = 'allowed' | 'denied' | 'responded' | 'error';

export interface CompletedContext {
  readonly request: RequestContext;
  readonly status: number;
  readonly outcome: Outcome;
  readonly code: ErrorCode | undefined;
  /** Audit-only reason of a denial or error. */
  readonly reason: string | undefined;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Microseconds from request arrival to upstream response headers, when forwarded. */
  readonly upstreamUs: number | undefined;
  /** Microseconds from arrival to the end of the response. */
  readonly totalUs: number;
}

export interface Stage {
  readonly name: StageName;
  readonly needsBody?: boolean;
  onRequest?(ctx: RequestContext): Decision | Promise<Decision>;
  onResponse?(ctx: ResponseContext): Decision | Promise<Decision>;
  /**
   * For stages that rewrite response bodies (property-level filtering): whether this response's
   * body must be buffered and handed to `onResponseBody`. Asked once the head has passed the
   * response stages; keep it cheap (status, content type).
   */
  wantsResponseBody?(ctx: ResponseContext): boolean;
  /**
   * The whole response body (never more than `limits.maxFilteredResponseBytes`). Returns the
   * body to send (the same Buffer when unchanged) or a refusal. In monitor mode the original
   * body is sent whatever this returns.
   */
  onResponseBody?(ctx: ResponseContext, body: Buffer): Buffer | Decision;
  /** Always called once per request. Must not throw (the runner guards it anyway). */
  onComplete?(ctx: CompletedContext): void;
}

/** A stage as placed in a route's chain, with the cross-cutting policy the runner applies. */
export interface ChainEntry {
  readonly stage: Stage;
  readonly mode: StageMode;
  readonly onError: FailureMode;
}
