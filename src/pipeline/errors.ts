/**
 * The one error registry. Every refusal the gateway answers with carries a `code` from
 * here; docs/errors.md is checked against this table by test/errors-doc.test.ts.
 *
 * `title` is the stable, public one-line meaning; it goes into the problem body. Nothing
 * request-specific and nothing internal (upstream address, stack, rule text) ever does.
 */
export interface ErrorSpec {
  readonly status: number;
  readonly title: string;
  /** Longer explanation for docs/errors.md: when it happens and what the client should do. */
  readonly doc: string;
}

export const ERRORS = {
  malformed_request: {
    status: 400,
    title: 'The request is not valid HTTP.',
    doc: 'The HTTP parser refused the request (bad request line, header syntax, invalid chunked encoding, bad percent-encoding in the path). The connection is closed.',
  },
  ambiguous_framing: {
    status: 400,
    title: 'The request has ambiguous message framing.',
    doc: 'Both Content-Length and Transfer-Encoding, several Content-Length headers, or an unsupported Transfer-Encoding. Such requests are how request smuggling works, so they are refused and the connection is closed; nothing reaches the upstream.',
  },
  path_not_normalized: {
    status: 400,
    title: 'The request path contains dot-segments, encoded slashes or control characters.',
    doc: 'The path (after percent-decoding) contains `.` or `..` segments, an encoded `/` or `\\`, a backslash, a NUL or another control character. These are refused before routing so that the upstream can never see a different path than the one the gateway authorized. An API that puts names with slashes in one segment (GitLab `group%2Fproject`, npm `@scope%2Fname`) sets `limits.encodedSlashes: keep`; dot-segments and empty segments behind an encoded slash are still refused. Percent-encoded bytes must be whole UTF-8 characters.',
  },
  uri_too_long: {
    status: 414,
    title: 'The request URI is too long.',
    doc: 'The request target is longer than `limits.maxUrlLength`.',
  },
  headers_too_large: {
    status: 431,
    title: 'The request headers are too large.',
    doc: 'The header section is larger than `limits.maxHeaderBytes` or has more fields than `limits.maxHeaderCount`. The connection is closed.',
  },
  body_too_large: {
    status: 413,
    title: 'The request body is too large.',
    doc: "The body is larger than the route's `maxBodyBytes` (default `limits.maxBodyBytes`). A declared Content-Length over the limit is refused before any byte is read; a chunked body is cut off when it passes the limit.",
  },
  request_timeout: {
    status: 408,
    title: 'The request was not received in time.',
    doc: 'The client took longer than `limits.headersTimeoutMs` to send the headers or `limits.requestTimeoutMs` to send the whole request (slowloris defence).',
  },
  https_required: {
    status: 403,
    title: 'This endpoint is only available over HTTPS.',
    doc: '`tls.required` is on and the request came over plain HTTP. With `tls.redirectHttp`, GET and HEAD are redirected (308) instead; other methods are refused because their body has already crossed the network in clear.',
  },
  route_not_found: {
    status: 404,
    title: 'No route matches this request.',
    doc: 'Neither an OpenAPI operation nor an explicit route matches the host, path and method. Deny by default: the request is never forwarded.',
  },
  method_not_allowed: {
    status: 405,
    title: 'The method is not allowed on this path.',
    doc: 'The path is known but not with this method. The `Allow` header lists the methods that are.',
  },
  cors_origin_denied: {
    status: 403,
    title: 'The CORS preflight is not allowed.',
    doc: "A preflight (OPTIONS with Access-Control-Request-Method) came from an origin, or asked for a method or header, outside the route's CORS policy. No CORS headers are sent.",
  },
  ip_denied: {
    status: 403,
    title: 'The client address is not allowed.',
    doc: "The client's IP address (the socket peer, or the first untrusted hop of X-Forwarded-For when the peer is in `trustedProxies`) is in a deny list, or the route has an allow list that does not contain it (`ipRules`). The audit event names the list.",
  },
  bot_detected: {
    status: 403,
    title: 'The request was refused as automated traffic.',
    doc: 'The bot signals of this unauthenticated request (no or a scripted User-Agent, header anomalies, an impossible request rate) add up to `bots.denyAt` or more. A clearance does not help here. API clients should authenticate: authenticated callers are never scored. The audit event lists the signals.',
  },
  challenge_required: {
    status: 403,
    title: 'Prove work to continue.',
    doc: "A stage (bot signals, or login protection under attack) asks the client to solve a proof-of-work challenge. Browsers (`Accept: text/html`) get a page that solves it and retries by itself; other clients get this problem with a `challenge` member and a `Portcullis-Challenge` header holding the token and difficulty. Find a `solution` such that SHA-256 of `<token>:<solution>` starts with `difficulty` zero bits, POST `{\"token\", \"solution\"}` to `/.well-known/portcullis/challenge`, and send the clearance cookie it sets with the retry (see docs/abuse.md).",
  },
  challenge_failed: {
    status: 403,
    title: 'The challenge solution was not accepted.',
    doc: 'The POST to `/.well-known/portcullis/challenge` carried a token the gateway did not issue for this client (another address or User-Agent), an expired or already used token, a solution without enough leading zero bits, or a malformed body. The audit event says which. Ask for a new challenge by retrying the original request.',
  },
  unauthenticated: {
    status: 401,
    title: 'Authentication is required.',
    doc: 'The route is not public and the request carries no credential that the route accepts. `WWW-Authenticate` names the accepted scheme.',
  },
  invalid_api_key: {
    status: 401,
    title: 'The API key is not valid.',
    doc: 'An API key was sent but does not match any configured key (or the key has expired).',
  },
  client_certificate_invalid: {
    status: 401,
    title: 'The client certificate is not valid.',
    doc: 'The listener asks for client certificates (`clientCertificate: optional`) and the one presented does not verify against `clientCaFile` (untrusted issuer, expired, not yet valid). With `clientCertificate: required` the TLS handshake itself fails instead.',
  },
  client_certificate_required: {
    status: 401,
    title: 'A client certificate is required.',
    doc: 'The operation requires mutual TLS and the request did not come with a verified client certificate.',
  },
  client_certificate_unmapped: {
    status: 401,
    title: 'The client certificate is not allowed here.',
    doc: 'The client certificate verified against the CA bundle but matches none of the `mtls` scheme\'s principal rules.',
  },
  token_missing: {
    status: 401,
    title: 'A bearer token is required.',
    doc: 'The operation accepts bearer tokens and the request has no `Authorization: Bearer` header (or the header is not a bearer token).',
  },
  token_too_large: {
    status: 401,
    title: 'The token is too large.',
    doc: 'The bearer token is longer than the scheme\'s `maxTokenBytes`. It is refused before any parsing.',
  },
  token_malformed: {
    status: 401,
    title: 'The token is malformed.',
    doc: 'The bearer token is not a compact JWS (three base64url parts with a JSON header and JSON claims).',
  },
  token_alg_none: {
    status: 401,
    title: 'Unsigned tokens are not accepted.',
    doc: 'The token header says `alg: none`. Unsigned tokens are always refused.',
  },
  token_alg_not_allowed: {
    status: 401,
    title: 'The token algorithm is not allowed.',
    doc: 'The token is signed with an algorithm outside the issuer\'s `algorithms` list, or one that does not fit the key (e.g. HS256 with an RSA public key used as an HMAC secret: algorithm confusion).',
  },
  token_header_forbidden: {
    status: 401,
    title: 'The token header names its own key.',
    doc: 'The token header carries `jku`, `x5u`, `jwk` or `x5c`. Portcullis never takes keys from a token; keys come only from configured JWKS, discovery or local keys.',
  },
  token_crit_unsupported: {
    status: 401,
    title: 'The token has an unsupported critical header.',
    doc: 'The token header lists `crit` extensions that Portcullis does not understand (RFC 7515 says such tokens must be refused).',
  },
  token_key_unknown: {
    status: 401,
    title: 'The token was signed with an unknown key.',
    doc: 'No key of the issuer matches the token\'s `kid` (after a rate-limited JWKS refresh).',
  },
  token_signature_missing: {
    status: 401,
    title: 'The token signature is missing.',
    doc: 'The token has an empty signature part (a stripped signature).',
  },
  token_signature_invalid: {
    status: 401,
    title: 'The token signature is not valid.',
    doc: 'The signature does not verify with the issuer\'s key.',
  },
  token_expired: {
    status: 401,
    title: 'The token has expired.',
    doc: 'The token\'s `exp` is in the past (beyond the allowed clock skew). Get a new token.',
  },
  token_not_yet_valid: {
    status: 401,
    title: 'The token is not yet valid.',
    doc: 'The token\'s `nbf`, or its `iat`, is in the future beyond the allowed clock skew.',
  },
  token_issuer_invalid: {
    status: 401,
    title: 'The token issuer is not accepted.',
    doc: 'The token\'s `iss` is not an issuer this operation accepts.',
  },
  token_audience_invalid: {
    status: 401,
    title: 'The token audience is not accepted.',
    doc: 'The token\'s `aud` does not include any of the scheme\'s `audiences`.',
  },
  token_claim_invalid: {
    status: 401,
    title: 'The token lacks a required claim.',
    doc: 'A claim listed in `requiredClaims` (or `exp` when required) is missing or has the wrong type.',
  },
  token_inactive: {
    status: 401,
    title: 'The token is not active.',
    doc: 'The OAuth2 introspection endpoint (RFC 7662) says the token is not active: revoked, expired or unknown.',
  },
  token_binding_mismatch: {
    status: 401,
    title: 'The token is bound to a different client certificate.',
    doc: 'The token carries a certificate binding (`cnf.x5t#S256`, RFC 8705) that does not match the client certificate of this connection, or the scheme requires bound tokens and the token has none.',
  },
  identity_provider_unavailable: {
    status: 503,
    title: 'The identity provider could not be reached.',
    doc: 'Verifying the credential needs the JWKS, discovery document or introspection endpoint, and it could not be reached with nothing usable in the cache. Retry later.',
  },
  insufficient_scope: {
    status: 403,
    title: 'The credential lacks a required scope.',
    doc: 'The caller is authenticated but the credential does not carry every scope the operation requires (`WWW-Authenticate` says `error="insufficient_scope"` and lists them).',
  },
  role_required: {
    status: 403,
    title: 'The caller lacks a required role.',
    doc: 'The operation is restricted to roles (`x-portcullis-roles` or the route\'s `roles`) that the caller does not have. Admin operations are unreachable to ordinary users.',
  },
  object_access_denied: {
    status: 403,
    title: 'The caller may not access this object.',
    doc: 'Object-level authorization (BOLA): the object named in the request belongs to someone else according to the operation\'s ownership rule or ownership lookup.',
  },
  attack_detected: {
    status: 403,
    title: 'The request was refused by threat detection.',
    doc: 'An input of the request (path, query, header, cookie or body field, after decoding) matched attack grammars (SQL injection, XSS, command injection, traversal, SSRF, …) with a score at or above the route\'s threshold. The audit event names each finding: detector, category, location and a short redacted excerpt. If this refuses legitimate traffic, see docs/threats.md (paranoia, exclusions, monitor mode).',
  },
  inspection_limit_exceeded: {
    status: 413,
    title: 'The request has more content than can be inspected.',
    doc: 'The request carries more decoded bytes or more values than `threats.limits.maxBytes` / `maxItems` allow. It is refused rather than passed partly uninspected.',
  },
  ownership_lookup_failed: {
    status: 503,
    title: 'Object ownership could not be checked.',
    doc: 'The ownership lookup for this object failed or timed out. The request is refused (fail closed); retry later.',
  },
  property_not_writable: {
    status: 403,
    title: 'The request writes a property the caller may not write.',
    doc: 'Property-level authorization (mass assignment): the body sets a `readOnly` property, or one restricted to other roles with `x-portcullis-write-roles`. The body\'s JSON pointer is in the audit event.',
  },
  body_not_json: {
    status: 400,
    title: 'The request body is not valid JSON.',
    doc: 'A stage that checks the body (property-level or object-level authorization) needs JSON, and the body does not parse or declares another content type.',
  },
  request_invalid: {
    status: 400,
    title: 'The request does not match the API contract.',
    doc: 'A parameter or the body violates the OpenAPI operation: a missing required value, a wrong type or format, a value outside an enum, pattern or range, or (in strict mode) a query parameter or body property the operation does not declare. The problem body lists each violation as `location`, `name`, `pointer`, `rule` and `expected`, never the offending value.',
  },
  unsupported_media_type: {
    status: 415,
    title: 'The request body has a media type the operation does not accept.',
    doc: 'The Content-Type is not one the operation declares in `requestBody.content`, or the operation takes no body at all. `Accept` lists the declared media types when there are any.',
  },
  json_limits_exceeded: {
    status: 400,
    title: 'The JSON body exceeds the allowed complexity.',
    doc: 'The body is nested deeper, or has more members, longer strings or longer arrays than `contract.limits` allows. Checked before schema validation, so a hostile body costs little.',
  },
  operation_sunset: {
    status: 410,
    title: 'This operation has been retired.',
    doc: 'The operation is deprecated and its sunset date (`x-portcullis-sunset`) has passed. Before that date, calls pass with `Deprecation` and `Sunset` headers.',
  },
  response_invalid: {
    status: 502,
    title: 'The upstream response does not match the API contract.',
    doc: 'With `contract.responses.validate: enforce`, a JSON response that violates its declared schema (or has an undeclared status) is replaced by this answer. The violations are in the audit event.',
  },
  response_leak_blocked: {
    status: 502,
    title: 'The upstream response was withheld.',
    doc: 'The response carried a stack trace, an SQL or ORM error, a framework debug page, a private key or a well-known secret (the leak guard, `contract.responses.leakGuard`). What was found is in the audit event, never in this answer.',
  },
  admin_unauthorized: {
    status: 401,
    title: 'A valid admin token is required.',
    doc: 'Admin endpoints other than health and metrics need `Authorization: Bearer <admin.token>`. If no admin token is configured they are disabled.',
  },
  admin_request_invalid: {
    status: 400,
    title: 'The admin API request is invalid.',
    doc: 'A body, path or query parameter of an admin API call (e.g. `POST /admin/bans`) is missing, malformed or out of range. `detail` says which and what was expected.',
  },
  upstream_unavailable: {
    status: 502,
    title: 'The upstream service could not be reached.',
    doc: 'Connecting to the upstream failed or the connection broke before a response arrived.',
  },
  upstream_bad_response: {
    status: 502,
    title: 'The upstream service sent an invalid response.',
    doc: 'The upstream answered with something that is not valid HTTP, or broke off while sending the response headers.',
  },
  upstream_timeout: {
    status: 504,
    title: 'The upstream service did not answer in time.',
    doc: "The upstream's connect, headers or total timeout passed.",
  },
  rate_limited: {
    status: 429,
    title: 'Too many requests.',
    doc: 'A rate limit or quota of this route is used up (`rateLimits`). `Retry-After` says in how many seconds a request would pass; `RateLimit-Policy` and `RateLimit` (IETF draft) name the limits, the remaining budget and when it is whole again. Refused requests do not count against any limit.',
  },
  rate_limit_unavailable: {
    status: 503,
    title: 'The rate-limit store is unavailable.',
    doc: 'The shared store (Redis) cannot be reached and `store.redis.onUnavailable` is `fail-closed`, so requests on limited routes are refused until it answers again. Retry later.',
  },
  client_banned: {
    status: 429,
    title: 'This client is temporarily banned.',
    doc: 'The client IP (or a range holding it), or the authenticated principal, was banned for a while: after repeated attack detections (`bans.onAttacks`), repeated failed logins (`bruteForce.perIp.banAfter`), or by an operator (`POST /admin/bans`). Every instance sharing the store refuses it. `Retry-After` says when the ban ends.',
  },
  login_throttled: {
    status: 429,
    title: 'Too many login attempts; wait before trying again.',
    doc: 'Brute-force protection of a login operation: after `delayAfter` attempts from this IP or for this username, each further attempt must wait a delay that doubles with each one (`bruteForce`). `Retry-After` says how long. The attempt did not reach the upstream.',
  },
  login_locked: {
    status: 429,
    title: 'This account is temporarily locked.',
    doc: 'Brute-force protection: the username had `bruteForce.perUsername.lockAfter` failed logins, so logins to it are refused from every IP until `bruteForce.banTtl` has passed. `Retry-After` says when.',
  },
  credential_stuffing: {
    status: 429,
    title: 'Login is under a credential-stuffing attack.',
    doc: 'Recorded as a finding (not an answer) on login attempts while the credential-stuffing alarm of that login is raised (`bruteForce.stuffing`): the login then answers with the proof-of-work challenge instead of forwarding the attempt.',
  },
  overloaded: {
    status: 503,
    title: 'The gateway is overloaded or shutting down.',
    doc: 'The gateway is draining for shutdown, or load shedding refused the request: the global or the upstream\'s concurrency limit was reached and its queue was full, or no slot freed within the queue timeout (`loadShedding`, `upstreams.<name>.loadShedding`). Also when the challenge replay guard is full. `Retry-After` says when to come back.',
  },
  stage_failed: {
    status: 500,
    title: 'The request could not be checked.',
    doc: "A security stage failed with an internal error and the stage is fail-closed (the default). The event in the audit log carries the stage name; the client learns nothing more.",
  },
  internal_error: {
    status: 500,
    title: 'Internal error.',
    doc: 'An unexpected error in the gateway itself. It is logged with the request id.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

export function errorSpec(code: ErrorCode): ErrorSpec {
  return ERRORS[code];
}
