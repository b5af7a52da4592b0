/**
 * THE config schema. One source for:
 *  - the TypeScript types (`RawConfig`, via TypeBox `Static`),
 *  - the validator (ajv, compiled once),
 *  - the published JSON Schema (`schema/portcullis.schema.json`, written by scripts/gen-schema),
 *  - the configuration reference (`docs/configuration.md`, generated and checked by a test).
 *
 * Every object is closed (`additionalProperties: false`): unknown keys are errors.
 * Every `description` is user-facing documentation.
 * Fields marked `x-secret` accept `${ENV_NAME}` or `file:/path` references and have no default.
 */
import { Type, type Static, type TSchema, type TObject, type TProperties, type ObjectOptions } from '@sinclair/typebox';

/** A closed object: unknown keys are refused. */
function Obj<T extends TProperties>(properties: T, options: ObjectOptions = {}): TObject<T> {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

function Secret(description: string) {
  return Type.String({ minLength: 1, description, 'x-secret': true });
}

const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const Ms = (description: string, def: number, min = 1) =>
  Type.Integer({ minimum: min, maximum: 86_400_000, default: def, description: `${description} (milliseconds).` });

const Mode = Type.Union([Type.Literal('enforce'), Type.Literal('monitor'), Type.Literal('off')], {
  description: '`enforce` refuses, `monitor` only records what would have been refused, `off` skips the stage.',
});
const OnError = Type.Union([Type.Literal('fail-closed'), Type.Literal('fail-open')], {
  description: 'What happens when the stage itself fails: `fail-closed` refuses the request (500), `fail-open` lets it continue and records the error.',
});

const StageSettings = (description: string) =>
  Obj(
    {
      mode: Type.Optional({ ...Mode, default: 'enforce' }),
      onError: Type.Optional({ ...OnError, default: 'fail-closed' }),
    },
    { description },
  );

export const HttpMethod = Type.Union(
  ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'].map((m) => Type.Literal(m)),
);

const Cors = Obj(
  {
    allowOrigins: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      uniqueItems: true,
      description:
        'Exact origins (`https://app.example.com`) allowed to call this route from a browser. `*` allows any origin but cannot be combined with `allowCredentials`.',
    }),
    allowMethods: Type.Optional(
      Type.Array(HttpMethod, { uniqueItems: true, description: 'Methods allowed in preflight. Default: the methods of the route.' }),
    ),
    allowHeaders: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }), {
        uniqueItems: true,
        default: ['content-type', 'authorization'],
        description: 'Request headers allowed in preflight (case-insensitive).',
      }),
    ),
    exposeHeaders: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }), {
        uniqueItems: true,
        default: ['x-request-id'],
        description: 'Response headers the browser may read.',
      }),
    ),
    allowCredentials: Type.Optional(
      Type.Boolean({ default: false, description: 'Send `Access-Control-Allow-Credentials: true`. Not allowed with origin `*`.' }),
    ),
    maxAgeSeconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 86400, default: 600, description: 'How long browsers may cache a preflight answer.' }),
    ),
  },
  { description: 'CORS policy. Preflights are answered by the gateway; disallowed origins get no CORS headers.' },
);

const SecurityHeaders = Obj(
  {
    contentTypeOptions: Type.Optional(Type.Boolean({ default: true, description: 'Send `X-Content-Type-Options: nosniff`.' })),
    frameOptions: Type.Optional(
      Type.Union([Type.Literal('DENY'), Type.Literal('SAMEORIGIN'), Type.Literal(false)], {
        default: 'DENY',
        description: '`X-Frame-Options` value, or `false` to not send it.',
      }),
    ),
    contentSecurityPolicy: Type.Optional(
      Type.Union([Type.String({ minLength: 1 }), Type.Literal(false)], {
        default: "default-src 'none'; frame-ancestors 'none'",
        description: '`Content-Security-Policy` for API responses, or `false`. Only set when the upstream did not set one.',
      }),
    ),
    referrerPolicy: Type.Optional(
      Type.Union([Type.String({ minLength: 1 }), Type.Literal(false)], { default: 'no-referrer', description: '`Referrer-Policy`, or `false`.' }),
    ),
    noStoreWhenAuthenticated: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'On responses to authenticated requests, set `Cache-Control: no-store` (replacing what the upstream sent) so shared caches never keep per-user data.',
      }),
    ),
    removeBanners: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }), {
        default: ['server', 'x-powered-by', 'x-aspnet-version', 'x-aspnetmvc-version', 'x-runtime', 'x-version', 'via'],
        description: 'Upstream response headers that reveal software and versions; removed.',
      }),
    ),
  },
  { description: 'Response security headers.' },
);

const SecurityRequirement = Type.Record(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }), Type.Array(Type.String({ minLength: 1 }), { uniqueItems: true }), {
  additionalProperties: false,
  description: 'Scheme name (in `identity.schemes`, or `apiKey` for the key store) → scopes the credential must carry. All schemes of one requirement must pass (AND).',
});

const JwtKey = Obj(
  {
    file: Type.Optional(Type.String({ minLength: 1, description: 'A PEM public key or certificate, or a JSON JWK / JWK Set file, relative to this config file.' })),
    jwk: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'An inline public JWK.' })),
    secret: Type.Optional(Secret('An HMAC secret for HS256/384/512 (use `${ENV}` or `file:`).')),
    kid: Type.Optional(Type.String({ minLength: 1, description: 'Key id to match the token `kid` (default: the JWK `kid`).' })),
  },
  { description: 'One local verification key: exactly one of `file`, `jwk`, `secret`.' },
);

const MtlsRule = Obj(
  {
    match: Obj(
      {
        subjectCn: Type.Optional(Type.String({ minLength: 1 })),
        subject: Type.Optional(Type.String({ minLength: 1 })),
        sanDns: Type.Optional(Type.String({ minLength: 1 })),
        sanUri: Type.Optional(Type.String({ minLength: 1 })),
        sanEmail: Type.Optional(Type.String({ minLength: 1 })),
        fingerprint256: Type.Optional(Type.String({ minLength: 1 })),
        issuerCn: Type.Optional(Type.String({ minLength: 1 })),
      },
      { description: 'Certificate fields to match: exact, or a trailing `*` for a prefix. All given fields must match.' },
    ),
    id: Type.Optional(Type.String({ minLength: 1, description: 'Principal id (default: from `principalFrom`).' })),
    roles: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { uniqueItems: true, default: [] })),
    scopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { uniqueItems: true, default: [] })),
  },
  { description: 'Maps matching client certificates to a principal. The first matching rule wins.' },
);

const ClaimName = (description: string, def?: string) =>
  Type.String({ pattern: '^[A-Za-z0-9_:.-]{1,128}$', ...(def === undefined ? {} : { default: def }), description });

const IdentityScheme = Obj(
  {
    type: Type.Union([Type.Literal('apiKey'), Type.Literal('jwt'), Type.Literal('introspection'), Type.Literal('mtls')], {
      description: '`apiKey` (the key store and static keys), `jwt` (signed bearer tokens), `introspection` (opaque OAuth2 tokens, RFC 7662) or `mtls` (the verified client certificate).',
    }),
    // apiKey
    in: Type.Optional(Type.Union([Type.Literal('header'), Type.Literal('query')], { description: 'apiKey: where the key is sent (`query` needs `identity.apiKeys.allowQuery`). Default `header`.' })),
    name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'apiKey: header or query parameter name. Default: `identity.apiKeys.header`.' })),
    // jwt
    issuer: Type.Optional(Type.String({ minLength: 1, description: 'jwt, introspection: the exact `iss` tokens must carry (required for jwt).' })),
    audiences: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), { uniqueItems: true, description: 'jwt (required), introspection: the token `aud` must contain one of these.' }),
    ),
    algorithms: Type.Optional(
      Type.Array(
        Type.Union(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'HS256', 'HS384', 'HS512'].map((a) => Type.Literal(a))),
        { minItems: 1, uniqueItems: true, description: 'jwt: accepted signature algorithms. Default `[RS256, ES256]`. `none` can never be allowed.' },
      ),
    ),
    jwksUri: Type.Optional(Type.String({ pattern: '^https?://', description: 'jwt: the JWKS URL (https, or http on loopback only).' })),
    discovery: Type.Optional(
      Type.String({ pattern: '^https?://', description: 'jwt: the OpenID provider URL; keys come from its `.well-known/openid-configuration` `jwks_uri`. Its `issuer` must equal `issuer`.' }),
    ),
    keys: Type.Optional(Type.Array(JwtKey, { minItems: 1, description: 'jwt: local verification keys instead of a JWKS URL.' })),
    clockSkewSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 600, default: 30, description: 'jwt: tolerance for `exp`, `nbf` and `iat`.' })),
    requiredClaims: Type.Optional(Type.Array(ClaimName('A claim name.'), { uniqueItems: true, default: [], description: 'jwt: claims every token must carry.' })),
    requireExp: Type.Optional(Type.Boolean({ default: true, description: 'jwt: refuse tokens without `exp`.' })),
    maxTokenBytes: Type.Optional(Type.Integer({ minimum: 256, maximum: 65536, default: 8192, description: 'jwt, introspection: longer tokens are refused unparsed.' })),
    subjectClaim: Type.Optional(ClaimName('jwt, introspection: claim that names the principal.', 'sub')),
    scopeClaim: Type.Optional(ClaimName('jwt, introspection: claim with the granted scopes (space-separated string or array).', 'scope')),
    rolesClaim: Type.Optional(ClaimName('jwt, introspection: claim with the roles (array or space-separated string; dots walk into objects, e.g. `realm_access.roles`).')),
    jwksCacheSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 86400, default: 600, description: 'jwt: how long fetched keys are used before a refresh.' })),
    jwksRefreshCooldownSeconds: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 3600, default: 30, description: 'jwt: least time between refreshes caused by an unknown `kid` (no refetch storms).' }),
    ),
    cacheMaxEntries: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 1_000_000, default: 10000, description: 'jwt, introspection: verified tokens kept (by hash, never beyond `exp`); 0 turns the cache off.' }),
    ),
    certificateBound: Type.Optional(
      Type.Union([Type.Literal('optional'), Type.Literal('required')], {
        default: 'optional',
        description: 'jwt, introspection: RFC 8705 binding. `optional` checks `cnf.x5t#S256` when the token has one; `required` refuses tokens that are not bound to the client certificate.',
      }),
    ),
    // introspection
    endpoint: Type.Optional(Type.String({ pattern: '^https?://', description: 'introspection: the RFC 7662 endpoint (https, or http on loopback only).' })),
    clientId: Type.Optional(Type.String({ minLength: 1, description: 'introspection: client id for the endpoint.' })),
    clientSecret: Type.Optional(Secret('introspection: client secret (use `${ENV}` or `file:`).')),
    clientAuth: Type.Optional(
      Type.Union([Type.Literal('client_secret_basic'), Type.Literal('client_secret_post')], { default: 'client_secret_basic', description: 'introspection: how the client authenticates.' }),
    ),
    timeoutMs: Type.Optional(Ms('introspection, jwt: time for one call to the identity provider', 3000)),
    cacheMaxSeconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 86400, default: 60, description: 'introspection: an active answer is reused for at most this long (never past the token `exp`).' }),
    ),
    // mtls
    principalFrom: Type.Optional(
      Type.Union(['subject-cn', 'san-uri', 'san-dns', 'san-email', 'fingerprint'].map((v) => Type.Literal(v)), {
        default: 'subject-cn',
        description: 'mtls: which certificate field becomes the principal id.',
      }),
    ),
    rules: Type.Optional(Type.Array(MtlsRule, { default: [], description: 'mtls: certificate → principal rules; when empty every verified certificate is accepted with no roles.' })),
  },
  { description: 'An authentication scheme. Which keys apply depends on `type`.' },
);

const Paranoia = Type.Integer({
  minimum: 1,
  maximum: 4,
  description: 'Paranoia level 1-4: higher levels count weaker, more ambiguous findings (more attacks caught, more legitimate requests refused).',
});
const Threshold = Type.Integer({
  minimum: 1,
  maximum: 1000,
  description: 'Score at which a request is refused. Each finding adds its severity: 5 critical, 4 error, 3 warning, 2 notice.',
});
const ThreatExclusion = Obj(
  {
    detectors: Type.Optional(
      Type.Array(Type.String({ pattern: '^[a-z0-9-]+(\\.[a-z0-9-]+)?$' }), {
        default: [],
        description: 'Detector ids (`xss.event-handler`), families (`xss`) or categories (`sqli`, `protocol` …) to silence. Empty: all.',
      }),
    ),
    locations: Type.Optional(
      Type.Array(Type.String({ pattern: '^(path|query|form|header|cookie|body|multipart|xml)(:.*)?$' }), {
        default: [],
        description:
          'Inputs where they are silenced, as `<location>:<name>`: `query:q`, `header:user-agent`, `cookie:*`, `body:/article/html` (a JSON pointer; `body` also covers form, multipart and XML fields). A trailing `*` matches any rest. Empty: everywhere.',
      }),
    ),
    operations: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), { description: 'For an API: only these operationIds (default: every operation).' }),
    ),
  },
  { description: 'Silences detectors at some inputs, e.g. HTML in a declared rich-text field.' },
);
const RouteThreats = Obj(
  {
    paranoia: Type.Optional({ ...Paranoia, description: 'Paranoia level for this route (default: `threats.paranoia`).' }),
    threshold: Type.Optional({ ...Threshold, description: 'Refusal score for this route (default: `threats.threshold`).' }),
    exclusions: Type.Optional(Type.Array(ThreatExclusion, { default: [], description: 'Exclusions added to the global `threats.exclusions` for this route or API.' })),
  },
  { description: 'Threat-detection settings of this route or API (override the top-level `threats`).' },
);

const IpList = (description: string) =>
  Obj(
    {
      entries: Type.Optional(
        Type.Array(Type.String({ minLength: 1 }), {
          default: [],
          description: 'Addresses and CIDRs written here: `203.0.113.7`, `198.51.100.0/24`, `2001:db8::/32`. IPv4-mapped IPv6 (`::ffff:10.0.0.0/104`) means the IPv4 range.',
        }),
      ),
      files: Type.Optional(
        Type.Array(Type.String({ minLength: 1 }), {
          default: [],
          description:
            'List files, relative to this config file: one address or CIDR per line, `#` or `;` start a comment, blank lines are ignored (a Tor exit list or Spamhaus DROP works as is). Watched: a change reloads the config, and a bad entry keeps the old lists serving.',
        }),
      ),
    },
    { description },
  );

const RouteIpRules = Obj(
  {
    allow: Type.Optional(IpList('Only these client addresses may call this route (every other address is refused). Applies together with the top-level `ipRules.allow`: an address must be in each allow list that applies.')),
    deny: Type.Optional(IpList('These client addresses are refused on this route, in addition to the top-level `ipRules.deny`.')),
    inherit: Type.Optional(Type.Boolean({ default: true, description: 'Also apply the top-level `ipRules` lists to this route. `false`: only the lists here.' })),
  },
  { description: 'IP allow and deny lists of this route or API, matched on the real client IP (after `trustedProxies`). A deny entry wins over an allow entry.' },
);

const BotScore = (description: string, def: number) => Type.Integer({ minimum: 0, maximum: 100, default: def, description });

const RouteBots = Obj(
  {
    enabled: Type.Optional(Type.Boolean({ description: 'Run the bots stage on this route or API (default: `bots.enabled`), e.g. only on a public sign-up API.' })),
    challengeAt: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Score from which this route challenges (default: `bots.challengeAt`).' })),
    denyAt: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Score from which this route refuses (default: `bots.denyAt`).' })),
  },
  { description: 'Bot thresholds of this route or API (override the top-level `bots`). Turn the stage off for a route with `stages.bots.mode: off`.' },
);

const Duration = (description: string, def?: string) =>
  Type.String({
    pattern: '^[1-9][0-9]{0,6}(ms|s|m|h|d)$',
    ...(def === undefined ? {} : { default: def }),
    description: `${description} A number and a unit: \`ms\`, \`s\`, \`m\`, \`h\` or \`d\` (\`90s\`, \`15m\`, \`1d\`).`,
  });

const LimitKeyPart = Type.String({
  pattern: '^(ip|principal|credential|route|global|(header|claim|param|query):[A-Za-z0-9_.-]{1,64})$',
  description:
    '`ip` (the client IP), `principal` (the authenticated caller), `credential` (the key id or token id), `route` (the operation or route), `global` (one counter for every request), `header:<name>`, `claim:<name>` (a claim of the verified token), `param:<name>` (a path parameter), `query:<name>`.',
});

const RateLimitDef = Obj(
  {
    key: Type.Optional(
      Type.Array(LimitKeyPart, {
        minItems: 1,
        maxItems: 4,
        uniqueItems: true,
        default: ['ip'],
        description: 'What one counter is kept for: the values of these request parts together (e.g. `[principal, route]`: one budget per caller and operation).',
      }),
    ),
    algorithm: Type.Optional(
      Type.Union([Type.Literal('gcra'), Type.Literal('fixed-window'), Type.Literal('sliding-window')], {
        default: 'gcra',
        description:
          '`gcra`: a rate with a burst (smooth, the usual choice for rates). `fixed-window`: a quota per window (minute, hour, day, month; calendar-aligned). `sliding-window`: a quota over the last window, weighting the previous window by its share (an approximation; no burst at window edges).',
      }),
    ),
    limit: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Units allowed per window (a request costs 1 unless its route says otherwise).' }),
    window: Type.String({
      pattern: '^([1-9][0-9]{0,6}(s|m|h|d)|month)$',
      description: 'The window: `1s`, `10s`, `1m`, `1h`, `1d` … or `month` (calendar months, `fixed-window` only).',
    }),
    burst: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: '`gcra` only: units that may be spent at once. Default: `limit`.' }),
    ),
    timeZone: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: '`fixed-window` of whole days or `month`: the IANA time zone whose midnight starts a window (default `UTC`). Other windows are aligned to the epoch (UTC).',
      }),
    ),
    whenMissing: Type.Optional(
      Type.Union([Type.Literal('ip'), Type.Literal('shared'), Type.Literal('skip')], {
        default: 'ip',
        description:
          'When a key part has no value (no principal on a public route, header absent): count the request per client IP instead (`ip`), in one counter shared by all such requests (`shared`), or not at all (`skip`).',
      }),
    ),
  },
  { description: 'A named rate limit or quota.' },
);

const RateLimitBinding = Obj(
  {
    apply: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }), { uniqueItems: true, default: [], description: 'Names from `rateLimits.limits` applied here, in addition to the inherited ones.' }),
    ),
    cost: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1, description: 'Units one request spends from each limit (an expensive operation may cost 10).' })),
    inherit: Type.Optional(Type.Boolean({ default: true, description: 'Also apply the limits of the enclosing level (`rateLimits.apply`, then the API).' })),
  },
  { description: 'Rate limits of this API or route. An operation can add its own with `x-portcullis-rate-limit` (same shape).' },
);

const LoginSettings = {
  usernameField: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'Where the username is in a JSON or form body: a field name (`username`) or a JSON pointer (`/user/email`). Default: `bruteForce.usernameField`.',
    }),
  ),
  failureStatuses: Type.Optional(
    Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { minItems: 1, uniqueItems: true, description: 'Upstream statuses that mean a failed login. Default: `bruteForce.failureStatuses`.' }),
  ),
};

const RouteLogin = Type.Union([Type.Literal(true), Obj(LoginSettings)], {
  description: 'This route is a login: failed attempts are counted (see `bruteForce`). `true`, or the settings that differ from `bruteForce`.',
});

const ApiLogin = Obj(
  {
    operations: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, uniqueItems: true, description: 'operationIds of the login operations (or mark them with `x-portcullis-login`).' }),
    ...LoginSettings,
  },
  { description: 'Login operations of this API: failed attempts are counted (see `bruteForce`).' },
);

const RoutePolicy = {
  public: Type.Optional(
    Type.Boolean({
      default: false,
      description: 'Deny by default: a route needs an authenticated caller unless this is `true`.',
    }),
  ),
  maxBodyBytes: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 1_073_741_824, description: 'Request body limit for this route. Default: `limits.maxBodyBytes`.' }),
  ),
  cors: Type.Optional(Cors),
  securityHeaders: Type.Optional(SecurityHeaders),
  threats: Type.Optional(RouteThreats),
  ipRules: Type.Optional(RouteIpRules),
  bots: Type.Optional(RouteBots),
  rateLimits: Type.Optional(RateLimitBinding),
  stages: Type.Optional(
    Obj(
      {
        'ip-rules': Type.Optional(StageSettings('IP allow and deny lists (see `ipRules`); runs first, before authentication.')),
        cors: Type.Optional(StageSettings('The CORS stage.')),
        authn: Type.Optional(StageSettings('The authentication stage (credentials, and the scopes of the security requirement).')),
        authz: Type.Optional(StageSettings('The authorization stage: roles (`x-portcullis-roles`) and object-level ownership (`x-portcullis-owner`).')),
        bots: Type.Optional(StageSettings('Bot signals (see `bots`): runs after authentication and passes authenticated callers; `monitor` records the score without challenging or refusing.')),
        contract: Type.Optional(StageSettings('Request validation against the OpenAPI operation: parameters, Content-Type, body (see `contract`).')),
        properties: Type.Optional(
          StageSettings('Property-level authorization: writes to `readOnly` or role-restricted properties, and removal of role-restricted response properties.'),
        ),
        'response-contract': Type.Optional(StageSettings('Response validation, removal of undeclared properties, and the leak guard (see `contract.responses`).')),
        threats: Type.Optional(StageSettings('Threat detection: injection, XSS, traversal, SSRF … in every input (see `threats`).')),
        'security-headers': Type.Optional(StageSettings('The response security-headers stage.')),
        bans: Type.Optional(StageSettings('Refusal of temporarily banned clients (see `bans`).')),
        'rate-limit': Type.Optional(StageSettings('Rate limits and quotas (see `rateLimits`). `monitor` counts and sends the headers but never refuses.')),
        'brute-force': Type.Optional(StageSettings('Brute-force and credential-stuffing protection of login operations (see `bruteForce`).')),
      },
      { description: 'Per-stage mode and failure mode for this route.' },
    ),
  ),
};

const Contract = Obj(
  {
    strict: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'Refuse query parameters and body properties the operation does not declare. An operation can override it with `x-portcullis-strict`.',
      }),
    ),
    responses: Type.Optional(
      Obj(
        {
          validate: Type.Optional(
            Type.Union([Type.Literal('off'), Type.Literal('monitor'), Type.Literal('enforce')], {
              default: 'monitor',
              description: 'Check JSON responses against the declared schema: `monitor` records violations, `enforce` replaces a non-conforming response with 502 `response_invalid`.',
            }),
          ),
          undeclaredProperties: Type.Optional(
            Type.Union([Type.Literal('strip'), Type.Literal('report'), Type.Literal('off')], {
              default: 'strip',
              description: 'Properties a response carries but its schema does not declare: removed (`strip`), recorded (`report`) or left (`off`). Per operation: `x-portcullis-response-filter`.',
            }),
          ),
          leakGuard: Type.Optional(
            Type.Union([Type.Literal('off'), Type.Literal('monitor'), Type.Literal('enforce')], {
              default: 'enforce',
              description: 'Responses carrying stack traces, SQL/ORM errors, framework debug pages, private keys or well-known secrets are replaced by 502 `response_leak_blocked` (`enforce`) or recorded (`monitor`).',
            }),
          ),
          leakGuardInternalIps: Type.Optional(
            Type.Boolean({ default: false, description: 'Also treat private IPv4 addresses (10/8, 172.16/12, 192.168/16, 127/8) in a response as a leak.' }),
          ),
        },
        { description: 'What is checked on the way back.' },
      ),
    ),
    limits: Type.Optional(
      Obj(
        {
          maxQueryParams: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 100, description: 'Most query parameters.' })),
          maxDepth: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 64, description: 'Deepest JSON nesting.' })),
          maxKeys: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, default: 10000, description: 'Most object members in a JSON body, in total.' })),
          maxStringLength: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_073_741_824, default: 1_000_000, description: 'Longest JSON string.' })),
          maxArrayLength: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, default: 10000, description: 'Longest JSON array; also the most items of a non-exploded (delimited) form field.' })),
          maxParts: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 100, description: 'Most parts of a multipart body.' })),
          maxPartBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_073_741_824, default: 10_485_760, description: 'Largest part of a multipart body.' })),
        },
        { description: 'Bounds on request bodies and queries, applied before schema validation.' },
      ),
    ),
  },
  { description: 'How the OpenAPI document is enforced (the positive security model).' },
);

const UpstreamRef = Type.String({
  minLength: 1,
  description: 'The name of an entry in `upstreams`, or an `http://` / `https://` base URL.',
});

const Upstream = Obj({
  url: Type.String({ pattern: '^https?://[^\\s/?#]+(/[^\\s?#]*)?$', description: 'Base URL: scheme, host, port and an optional path prefix.' }),
  connections: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 10000, default: 128, description: 'Maximum connections in the pool to this upstream.' }),
  ),
  pipelining: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 1, description: 'HTTP/1.1 pipelining depth per connection.' })),
  connectTimeoutMs: Type.Optional(Ms('Time to establish a connection', 5000)),
  headersTimeoutMs: Type.Optional(Ms('Time from sending the request to the response headers', 30000)),
  bodyTimeoutMs: Type.Optional(Ms('Longest pause between two chunks of the response body', 30000)),
  totalTimeoutMs: Type.Optional(Ms('Whole exchange with the upstream, body included', 60000)),
  keepAliveTimeoutMs: Type.Optional(Ms('How long an idle pooled connection is kept', 4000)),
  loadShedding: Type.Optional(
    Obj(
      {
        maxConcurrent: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Most requests in flight to this upstream (per worker).' }),
        maxQueue: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 100, description: 'Most requests waiting for a slot; more are refused at once (503 `overloaded`).' })),
        queueTimeoutMs: Type.Optional(Ms('Longest wait for a slot before 503 `overloaded`', 1000)),
      },
      { description: 'A concurrency limit for this upstream, on top of the global `loadShedding`: a slow upstream cannot take every slot of the gateway. Without it, requests beyond `connections` wait in the pool.' },
    ),
  ),
  tls: Type.Optional(
    Obj({
      caFile: Type.Optional(Type.String({ minLength: 1, description: 'CA bundle to verify the upstream certificate (default: system CAs).' })),
      serverName: Type.Optional(Type.String({ minLength: 1, description: 'SNI and name to verify, when it differs from the URL host.' })),
      insecureSkipVerify: Type.Optional(Type.Boolean({ default: false, description: 'Do not verify the upstream certificate. For tests only; logged as a warning.' })),
    }),
  ),
});

const Api = Obj(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', description: 'Identifier used in route ids, metrics and events.' }),
    spec: Type.String({ minLength: 1, description: 'Path to the OpenAPI 3.0/3.1 document (YAML or JSON), relative to this config file.' }),
    upstream: UpstreamRef,
    basePath: Type.Optional(
      Type.String({ pattern: '^(/[^\\s/?#]+)*/?$', description: "Public path prefix. Default: the path of the spec's first `servers` URL." }),
    ),
    stripBasePath: Type.Optional(
      Type.Boolean({ default: false, description: 'Remove `basePath` before forwarding (the upstream serves the operations at its root).' }),
    ),
    hosts: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { uniqueItems: true, description: 'Only match these Host names (default: any).' })),
    contract: Type.Optional(Contract),
    schemes: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }), Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }), {
        additionalProperties: false,
        description:
          "OpenAPI security scheme name → `identity.schemes` entry that verifies it. Default: the entry of the same name; an `apiKey` scheme without one uses the key store with the spec's `in`/`name`.",
      }),
    ),
    login: Type.Optional(ApiLogin),
    ...RoutePolicy,
  },
  { description: 'An API described by an OpenAPI document: every operation becomes a route.' },
);

const Route = Obj(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', description: 'Identifier used in route ids, metrics and events.' }),
    methods: Type.Array(HttpMethod, { minItems: 1, uniqueItems: true, description: 'Methods this route accepts.' }),
    path: Type.String({
      pattern: '^/',
      description: 'Path template: literal segments, `{param}` segments, and an optional final `*` that matches the rest of the path.',
    }),
    hosts: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { uniqueItems: true, description: 'Only match these Host names (default: any).' })),
    upstream: UpstreamRef,
    security: Type.Optional(
      Type.Array(SecurityRequirement, {
        description: 'Accepted credentials, as in OpenAPI: a list of alternatives (OR), each naming schemes that must all pass (AND) with their required scopes. Default: an API key.',
      }),
    ),
    roles: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { uniqueItems: true, description: 'The caller needs one of these roles.' })),
    owner: Type.Optional(
      Type.Unknown({ description: 'Object-level ownership rules, the same shape as the `x-portcullis-owner` operation extension (see docs/identity.md).' }),
    ),
    login: Type.Optional(RouteLogin),
    ...RoutePolicy,
  },
  { description: 'An explicit route, for endpoints without an OpenAPI document.' },
);

const Listener = Obj(
  {
    name: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$', description: 'Name used in logs.' })),
    host: Type.Optional(Type.String({ minLength: 1, default: '0.0.0.0', description: 'Address to bind.' })),
    port: { ...Port, description: 'Port to bind (0 picks a free one).' },
    tls: Type.Optional(
      Obj(
        {
          certFile: Type.String({ minLength: 1, description: 'PEM certificate chain.' }),
          keyFile: Type.String({ minLength: 1, description: 'PEM private key.', 'x-secret-file': true }),
          minVersion: Type.Optional(
            Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], { default: 'TLSv1.2', description: 'Lowest TLS version accepted.' }),
          ),
          ciphers: Type.Optional(
            Type.String({
              minLength: 1,
              description: 'OpenSSL cipher list for TLS 1.2. Default: ECDHE with AES-GCM or ChaCha20-Poly1305 only (forward secrecy, AEAD).',
            }),
          ),
          http2: Type.Optional(Type.Boolean({ default: true, description: 'Offer HTTP/2 through ALPN (HTTP/1.1 stays available).' })),
          clientCaFile: Type.Optional(Type.String({ minLength: 1, description: 'CA bundle for client certificates (mTLS).' })),
          clientCertificate: Type.Optional(
            Type.Union([Type.Literal('none'), Type.Literal('optional'), Type.Literal('required')], {
              default: 'none',
              description:
                '`required`: the handshake fails without a certificate signed by `clientCaFile`. `optional`: a certificate is asked for and, when valid, becomes the client identity.',
            }),
          ),
        },
        { description: 'Serve HTTPS (and HTTP/2) on this listener.' },
      ),
    ),
  },
  { description: 'A socket the gateway accepts client connections on.' },
);

export const ConfigSchema = Obj(
  {
    $schema: Type.Optional(Type.String({ description: 'Path or URL of the JSON Schema, for editors.' })),
    version: Type.Literal(1, { description: 'Config format version. Must be `1`.' }),
    workers: Type.Optional(
      Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 1, maximum: 256 })], {
        default: 1,
        description: 'Worker processes. `auto` uses one per CPU core. With more than one, the admin listener runs in the primary and aggregates metrics.',
      }),
    ),
    listeners: Type.Array(Listener, { minItems: 1, description: 'Client-facing listeners.' }),
    tls: Type.Optional(
      Obj(
        {
          required: Type.Optional(Type.Boolean({ default: false, description: 'Refuse requests that arrive over plain HTTP.' })),
          redirectHttp: Type.Optional(
            Type.Boolean({ default: false, description: 'With `required`: redirect plain-HTTP GET/HEAD to HTTPS (308) instead of refusing them.' }),
          ),
          httpsPort: Type.Optional({ ...Port, description: 'Port used in redirects. Default: the first TLS listener port.' }),
          hsts: Type.Optional(
            Obj(
              {
                maxAgeSeconds: Type.Optional(Type.Integer({ minimum: 0, default: 31536000, description: '`max-age` of Strict-Transport-Security.' })),
                includeSubDomains: Type.Optional(Type.Boolean({ default: false, description: 'Add `includeSubDomains`.' })),
                preload: Type.Optional(Type.Boolean({ default: false, description: 'Add `preload`.' })),
              },
              { description: 'Strict-Transport-Security on responses sent over TLS (always on; set maxAgeSeconds 0 to clear it).' },
            ),
          ),
        },
        { description: 'Policy for plain HTTP versus TLS.' },
      ),
    ),
    limits: Type.Optional(
      Obj(
        {
          maxHeaderCount: Type.Optional(Type.Integer({ minimum: 8, maximum: 1000, default: 100, description: 'Most header fields in a request (431 beyond).' })),
          maxHeaderBytes: Type.Optional(
            Type.Integer({ minimum: 1024, maximum: 1_048_576, default: 16384, description: 'Largest header section in bytes (431 beyond).' }),
          ),
          maxUrlLength: Type.Optional(Type.Integer({ minimum: 64, maximum: 1_048_576, default: 8192, description: 'Longest request target (414 beyond).' })),
          encodedSlashes: Type.Optional(
            Type.Union([Type.Literal('reject'), Type.Literal('keep')], {
              default: 'reject',
              description:
                'A `%2F` or `%5C` in the path: `reject` (400 path_not_normalized: an upstream that decodes it could read another path than the one routed and authorized) or `keep` (data inside a segment, routed and forwarded as sent, for APIs that put names with slashes in one segment: GitLab `/projects/group%2Fproject`, npm `/@scope%2Fname`; dot-segments and empty segments an upstream would see after decoding are still refused).',
            }),
          ),
          maxBodyBytes: Type.Optional(
            Type.Integer({ minimum: 0, maximum: 1_073_741_824, default: 1_048_576, description: 'Default request body limit (413 beyond).' }),
          ),
          maxFilteredResponseBytes: Type.Optional(
            Type.Integer({
              minimum: 1024,
              maximum: 1_073_741_824,
              default: 8_388_608,
              description: 'Largest upstream response body that is buffered to remove role-restricted properties; a larger one is refused (502), never passed unfiltered.',
            }),
          ),
          headersTimeoutMs: Type.Optional(Ms('Time a client has to send the complete request headers', 10000)),
          requestTimeoutMs: Type.Optional(Ms('Time a client has to send the complete request', 30000)),
          keepAliveTimeoutMs: Type.Optional(Ms('How long an idle client connection is kept open', 5000)),
          maxConnections: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10000, description: 'Most concurrent client connections per worker; more are closed at once.' }),
          ),
          maxRequestsPerConnection: Type.Optional(
            Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0, description: 'Close a keep-alive connection after this many requests (0: no limit).' }),
          ),
        },
        { description: 'Bounds on what a client may send. Every bound has a default.' },
      ),
    ),
    trustedProxies: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        default: [],
        description:
          'Addresses or CIDRs of proxies in front of the gateway. Only from these are X-Forwarded-For (for the client IP) and X-Request-Id taken.',
      }),
    ),
    requestId: Type.Optional(
      Obj(
        {
          header: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9-]+$', default: 'x-request-id', description: 'Header carrying the request id.' })),
          trustIncoming: Type.Optional(
            Type.Union([Type.Literal('trusted-proxies'), Type.Literal('always'), Type.Literal('never')], {
              default: 'trusted-proxies',
              description: 'When to keep an incoming request id (it must also be 1-128 characters of `[A-Za-z0-9._:-]`).',
            }),
          ),
        },
        { description: 'Request id handling. The id is always sent upstream and back to the client.' },
      ),
    ),
    shutdown: Type.Optional(
      Obj(
        { drainTimeoutMs: Type.Optional(Ms('On SIGTERM, how long in-flight requests may take before connections are closed', 10000)) },
        { description: 'Graceful shutdown.' },
      ),
    ),
    admin: Type.Optional(
      Obj(
        {
          enabled: Type.Optional(Type.Boolean({ default: true, description: 'Run the admin listener.' })),
          host: Type.Optional(Type.String({ minLength: 1, default: '127.0.0.1', description: 'Address to bind. Keep it on loopback or a private network.' })),
          port: Type.Optional({ ...Port, default: 9090, description: 'Port of the admin listener.' }),
          token: Type.Optional(
            Secret('Bearer token for admin endpoints beyond health and metrics. Use `${ENV_NAME}` or `file:/path`. Without it those endpoints are disabled.'),
          ),
          metricsRequireToken: Type.Optional(Type.Boolean({ default: false, description: 'Also require the admin token for `/metrics`.' })),
        },
        { description: 'The admin listener: `/healthz`, `/readyz`, `/metrics` and the token-protected admin API.' },
      ),
    ),
    loadShedding: Type.Optional(
      Obj(
        {
          maxConcurrent: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 1_000_000, default: 10_000, description: 'Most requests in flight in the gateway (per worker), from arrival to the end of the response.' }),
          ),
          maxQueue: Type.Optional(
            Type.Integer({ minimum: 0, maximum: 1_000_000, default: 1000, description: 'Most requests waiting for a slot; more are refused at once (503 `overloaded`).' }),
          ),
          queueTimeoutMs: Type.Optional(Ms('Longest wait for a slot before 503 `overloaded`', 1000)),
          retryAfterSeconds: Type.Optional(
            Type.Integer({ minimum: 0, maximum: 3600, default: 1, description: '`Retry-After` on refusals for overload (global and per upstream).' }),
          ),
        },
        {
          description:
            'Load shedding: a global concurrency limit with a bounded queue; beyond it requests are refused cheaply with 503 and `Retry-After`, before any other work. Per upstream: `upstreams.<name>.loadShedding`. Health, readiness and metrics are on the admin listener and stay responsive.',
        },
      ),
    ),
    ipRules: Type.Optional(
      Obj(
        {
          allow: Type.Optional(IpList('Only these client addresses may call any route (every other address is refused with 403 `ip_denied`). Absent: no allow list.')),
          deny: Type.Optional(IpList('These client addresses are refused on every route (403 `ip_denied`).')),
          maxEntries: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 10_000_000, default: 1_000_000, description: 'Most entries in one list (inline entries plus files); a longer list is a config error.' }),
          ),
        },
        {
          description:
            'IP allow and deny lists for every route, matched on the real client IP (after `trustedProxies`); APIs and routes add their own with `ipRules`. Lookups are a binary search over merged ranges, so 100k-entry lists cost the same as short ones.',
        },
      ),
    ),
    bots: Type.Optional(
      Obj(
        {
          enabled: Type.Optional(
            Type.Boolean({
              default: false,
              description:
                'Score every unauthenticated request for bot signals and challenge or refuse it (`stages.bots` per route). Authenticated callers are never scored: the stage runs after authentication.',
            }),
          ),
          challengeAt: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 4, description: 'Score from which a request gets the proof-of-work challenge (unless it has a clearance).' })),
          denyAt: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: 'Score from which a request is refused (403 `bot_detected`), clearance or not: by default a scripted or missing User-Agent at an impossible rate.' }),
          ),
          scores: Type.Optional(
            Obj(
              {
                missingUserAgent: Type.Optional(BotScore('No User-Agent header at all.', 5)),
                scriptedUserAgent: Type.Optional(
                  BotScore('A User-Agent of an HTTP library, command-line tool, scanner or headless browser (curl, python-requests, Go-http-client, HeadlessChrome, sqlmap …).', 4),
                ),
                headerAnomaly: Type.Optional(
                  BotScore('A browser User-Agent on a request that lacks a header every browser sends (Accept, Accept-Language, Accept-Encoding), or comes over HTTP/1.0.', 3),
                ),
                impossibleRate: Type.Optional(BotScore('The client sent more than `rate.requests` requests within `rate.windowSeconds`.', 6)),
              },
              { description: 'What each signal adds to the score.' },
            ),
          ),
          rate: Type.Optional(
            Obj(
              {
                requests: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 100, description: 'Requests per window from one client address that no person produces.' })),
                windowSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, default: 10, description: 'Length of the window.' })),
                maxClients: Type.Optional(
                  Type.Integer({ minimum: 100, maximum: 10_000_000, default: 100_000, description: 'Client addresses tracked at once (per worker); the oldest are dropped beyond it.' }),
                ),
              },
              { description: 'The impossible-rate signal: a small in-process counter per client address (per worker process).' },
            ),
          ),
          scriptedUserAgents: Type.Optional(
            Type.Array(Type.String({ minLength: 2, maxLength: 64 }), {
              default: [],
              description: 'More User-Agent substrings (case-insensitive) that count as scripted, added to the built-in list.',
            }),
          ),
          challenge: Type.Optional(
            Obj(
              {
                difficulty: Type.Optional(
                  Type.Integer({
                    minimum: 1,
                    maximum: 32,
                    default: 16,
                    description: 'Leading zero bits the SHA-256 of a solution needs: each bit doubles the work (16: about 65 000 hashes, under a second in a browser).',
                  }),
                ),
                secret: Type.Optional(
                  Secret(
                    'Key (at least 32 characters) that signs challenges and clearance cookies. Use `${ENV}` or `file:`, and the same value on every instance. Without it a key is generated at start: clearances then do not survive a restart and are not valid on other instances.',
                  ),
                ),
                ttlSeconds: Type.Optional(Type.Integer({ minimum: 5, maximum: 3600, default: 120, description: 'Time to solve a challenge.' })),
                clearanceSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 86400, default: 1800, description: 'How long a clearance cookie is valid.' })),
                ipv4Prefix: Type.Optional(
                  Type.Integer({ minimum: 0, maximum: 32, default: 24, description: 'Address bits a challenge and a clearance are bound to, for IPv4 clients (0: not bound to the address).' }),
                ),
                ipv6Prefix: Type.Optional(Type.Integer({ minimum: 0, maximum: 128, default: 64, description: 'The same for IPv6 clients.' })),
                replayGuardEntries: Type.Optional(
                  Type.Integer({
                    minimum: 100,
                    maximum: 10_000_000,
                    default: 100_000,
                    description: 'Used challenges remembered (per worker) until they expire, so one solution buys one clearance. When full of live entries, verification answers 503.',
                  }),
                ),
              },
              {
                description:
                  'The proof-of-work challenge that `bots` and other stages (login protection) ask for, and the clearance cookie that pays for it. Verification endpoint: `POST /.well-known/portcullis/challenge`.',
              },
            ),
          ),
        },
        { description: 'Bot signals scored per request, and the self-hosted proof-of-work challenge (no third-party service).' },
      ),
    ),
    threats: Type.Optional(
      Obj(
        {
          enabled: Type.Optional(
            Type.Boolean({ default: true, description: 'Inspect every request for attacks. Per route: `stages.threats.mode` (`monitor` records without refusing).' }),
          ),
          paranoia: Type.Optional({ ...Paranoia, default: 1 }),
          threshold: Type.Optional({ ...Threshold, default: 5 }),
          cookies: Type.Optional(Type.Boolean({ default: true, description: 'Inspect cookie names and values.' })),
          ignoreHeaders: Type.Optional(
            Type.Array(Type.String({ pattern: '^[A-Za-z0-9-]+$' }), {
              default: [],
              description:
                'Further request headers not to inspect. Not inspected as a whole: Authorization and Proxy-Authorization (only a Basic user name and a Bearer credential that is no token68 are read), Host, Content-Length, Transfer-Encoding, Connection, Keep-Alive, TE, Upgrade, Accept-Encoding, conditional and cache headers (read only when they hold "${"); Cookie is inspected cookie by cookie.',
            }),
          ),
          exclusions: Type.Optional(Type.Array(ThreatExclusion, { default: [], description: 'Exclusions for every route.' })),
          limits: Type.Optional(
            Obj(
              {
                maxBytes: Type.Optional(
                  Type.Integer({ minimum: 1024, maximum: 1_073_741_824, default: 262_144, description: 'Decoded bytes inspected per request; a request with more is refused (413 `inspection_limit_exceeded`), never passed uninspected. Inspection costs up to about 0.5 ms per KiB on adversarial input: raise it knowingly.' }),
                ),
                maxItems: Type.Optional(Type.Integer({ minimum: 16, maximum: 10_000_000, default: 50000, description: 'Values and names inspected per request (same refusal).' })),
                maxDepth: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 128, description: 'Deepest JSON or XML nesting inspected (deeper is refused as malformed).' })),
              },
              { description: 'The per-request inspection budget.' },
            ),
          ),
        },
        { description: 'Threat detection (the negative security model): every input is decoded and checked by grammar-based detectors; findings add to a score.' },
      ),
    ),
    telemetry: Type.Optional(
      Obj(
        {
          audit: Type.Optional(
            Obj(
              {
                enabled: Type.Optional(Type.Boolean({ default: true, description: 'Write one security/audit event per request.' })),
                destination: Type.Optional(
                  Type.String({ minLength: 1, default: 'stdout', description: '`stdout`, `stderr` or a file path (appended to; reopened on SIGUSR2 for rotation).' }),
                ),
                includeHeaders: Type.Optional(
                  Type.Boolean({ default: false, description: 'Add the request headers to each event (credentials are always redacted).' }),
                ),
                redactHeaders: Type.Optional(
                  Type.Array(Type.String({ pattern: '^[A-Za-z0-9-]+$' }), {
                    default: [],
                    description:
                      'Further header names to redact. Authorization, Proxy-Authorization, Cookie, Set-Cookie and API-key headers are always redacted.',
                  }),
                ),
              },
              { description: 'Security/audit events (JSON lines).' },
            ),
          ),
          logLevel: Type.Optional(
            Type.Union(['fatal', 'error', 'warn', 'info', 'debug'].map((l) => Type.Literal(l)), {
              default: 'info',
              description: 'Level of operational logs (stderr).',
            }),
          ),
        },
        { description: 'Audit events and logs. Metrics are on the admin listener.' },
      ),
    ),
    store: Type.Optional(
      Obj(
        {
          type: Type.Optional(
            Type.Union([Type.Literal('memory'), Type.Literal('redis')], {
              default: 'memory',
              description:
                '`memory`: counters and bans live in each gateway process (with `workers: N` every limit is split between the workers). `redis`: shared by every process and instance, exact across them.',
            }),
          ),
          memory: Type.Optional(
            Obj(
              {
                maxEntries: Type.Optional(
                  Type.Integer({
                    minimum: 100,
                    maximum: 100_000_000,
                    default: 100_000,
                    description: 'Most counters kept per limit (and most failure counters, most bans). A full table drops expired entries, then the oldest.',
                  }),
                ),
              },
              { description: 'The in-process store (also the local fallback of the Redis store).' },
            ),
          ),
          redis: Type.Optional(
            Obj(
              {
                url: Type.String({
                  pattern: '^rediss?://[^\\s@]+$',
                  description: '`redis://host:port[/db]` or `rediss://…` (TLS). No password here: use `password`.',
                }),
                cluster: Type.Optional(
                  Type.Boolean({
                    default: false,
                    description: '`url` names one node of a Redis Cluster; the other nodes are discovered. Limits of one request in different slots are checked by one script per slot, sent together.',
                  }),
                ),
                password: Type.Optional(Secret('Redis password (AUTH); use `${ENV}` or `file:`.')),
                username: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Redis ACL user name.' })),
                keyPrefix: Type.Optional(
                  Type.String({ pattern: '^[A-Za-z0-9_.:-]{0,64}$', default: 'portcullis:', description: 'Prefix of every key (several deployments can share one Redis).' }),
                ),
                connectTimeoutMs: Type.Optional(Ms('Time to establish the connection', 1000)),
                commandTimeoutMs: Type.Optional(
                  Type.Integer({
                    minimum: 1,
                    maximum: 10000,
                    default: 250,
                    description:
                      'Longest wait for one answer (milliseconds). A request whose answer is late gets the `onUnavailable` decision; three late answers in a row (or a lost connection) mark the store unavailable until a PING succeeds.',
                  }),
                ),
                onUnavailable: Type.Optional(
                  Type.Union([Type.Literal('local'), Type.Literal('fail-open'), Type.Literal('fail-closed')], {
                    default: 'local',
                    description:
                      'While Redis cannot be reached: `local` enforces the same limits in this process (divided by `localDivisor`), `fail-open` lets requests pass unlimited, `fail-closed` refuses them (503 `rate_limit_unavailable`). Back to Redis as soon as it answers again.',
                  }),
                ),
                localDivisor: Type.Optional(
                  Type.Integer({ minimum: 1, maximum: 1000, default: 1, description: '`local` fallback: each limit divided by this (set it to the number of instances to keep their sum near the shared limit).' }),
                ),
              },
              { description: 'The Redis store.' },
            ),
          ),
        },
        { description: 'Where rate-limit counters, failure counters and bans are kept.' },
      ),
    ),
    rateLimits: Type.Optional(
      Obj(
        {
          headers: Type.Optional(
            Type.Boolean({ default: true, description: 'Send `RateLimit-Policy` and `RateLimit` (IETF draft) on every response of a limited route, allowed or refused.' }),
          ),
          limits: Type.Optional(
            Type.Record(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }), RateLimitDef, {
              additionalProperties: false,
              default: {},
              description: 'Named limits. They apply where `apply` names them: here (every route), in an API, a route, or an operation (`x-portcullis-rate-limit`).',
            }),
          ),
          apply: Type.Optional(
            Type.Array(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }), { uniqueItems: true, default: [], description: 'Limits applied to every route.' }),
          ),
        },
        { description: 'Rate limits and quotas (429 `rate_limited` with `Retry-After`).' },
      ),
    ),
    bans: Type.Optional(
      Obj(
        {
          onAttacks: Type.Optional(
            Obj(
              {
                threshold: Type.Integer({ minimum: 1, maximum: 100000, description: 'Requests refused by threat detection (`attack_detected`) from one IP …' }),
                window: Type.Optional(Duration('… within this time …', '10m')),
                ttl: Type.Optional(Duration('… ban the IP for this long.', '1h')),
              },
              { description: 'Ban an IP (and an authenticated principal) that keeps sending attacks.' },
            ),
          ),
        },
        { description: 'Temporary bans (429 `client_banned` with `Retry-After`), kept in the store so every instance refuses the client.' },
      ),
    ),
    bruteForce: Type.Optional(
      Obj(
        {
          usernameField: Type.Optional(
            Type.String({ minLength: 1, maxLength: 200, default: 'username', description: 'Where login operations carry the username: a JSON or form field name, or a JSON pointer. The password is never read.' }),
          ),
          failureStatuses: Type.Optional(
            Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { minItems: 1, uniqueItems: true, default: [401, 403], description: 'Upstream statuses that mean a failed login.' }),
          ),
          window: Type.Optional(Duration('Failures are counted until this long after the last one.', '15m')),
          perIp: Type.Optional(
            Obj(
              {
                delayAfter: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: 5, description: 'Failures from one IP after which each further attempt must wait (progressive delay).' })),
                banAfter: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: 20, description: 'Failures from one IP after which it is banned for `banTtl`.' })),
              },
              { description: 'Per client IP.' },
            ),
          ),
          perUsername: Type.Optional(
            Obj(
              {
                delayAfter: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: 3, description: 'Failures for one username after which each further attempt must wait.' })),
                lockAfter: Type.Optional(
                  Type.Integer({ minimum: 1, maximum: 100000, default: 10, description: 'Failures for one username after which logins to it are refused for `banTtl` (from every IP).' }),
                ),
              },
              { description: 'Per username (whoever tries it).' },
            ),
          ),
          delayBaseMs: Type.Optional(Ms('First delay; it doubles with each further failure', 1000)),
          maxDelayMs: Type.Optional(Ms('Longest delay', 60000)),
          banTtl: Type.Optional(Duration('How long an IP stays banned, or a username locked.', '30m')),
          stuffing: Type.Optional(
            Obj(
              {
                threshold: Type.Optional(
                  Type.Integer({ minimum: 1, maximum: 100_000_000, default: 100, description: 'Failed logins across all IPs and usernames of one login operation within `window` that raise the alarm.' }),
                ),
                window: Type.Optional(Duration('The time over which failures are counted.', '5m')),
                challengeFor: Type.Optional(Duration('While the alarm lasts (renewed by each further failure), login attempts get the proof-of-work challenge.', '15m')),
              },
              { description: 'Credential stuffing: many IPs and usernames, few tries each.' },
            ),
          ),
        },
        { description: 'Brute-force and credential-stuffing protection of login operations (`x-portcullis-login`, `routes[].login`, `apis[].login`).' },
      ),
    ),
    identity: Type.Optional(
      Obj(
        {
          apiKeys: Type.Optional(
            Obj(
              {
                header: Type.Optional(
                  Type.String({ pattern: '^[A-Za-z0-9-]+$', default: 'x-api-key', description: 'Header that carries the API key (for schemes that do not name one).' }),
                ),
                store: Type.Optional(
                  Type.String({
                    minLength: 1,
                    description:
                      'SQLite file of the key store (`portcullis keys create|list|revoke|rotate`), relative to this file. Created when missing. Without it only the static `keys` below are accepted.',
                  }),
                ),
                allowQuery: Type.Optional(
                  Type.Boolean({
                    default: false,
                    description:
                      'Accept keys from a query parameter when an OpenAPI `apiKey` scheme says `in: query`. Off by default: URLs end up in logs and browser history. The parameter is always redacted from events.',
                  }),
                ),
                keys: Type.Optional(Type.Array(
                  Obj({
                    id: Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'Key id (shown in events; not secret).' }),
                    sha256: Type.String({
                      pattern: '^[0-9a-f]{64}$',
                      description: 'Hex SHA-256 of the key. The key itself is never written in config. `portcullis hash-key` prints it.',
                      'x-secret': true,
                    }),
                    owner: Type.Optional(Type.String({ minLength: 1, description: 'Principal id of the key holder. Default: the key id.' })),
                    scopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { uniqueItems: true, default: [], description: 'Scopes granted.' })),
                    roles: Type.Optional(
                      Type.Array(Type.String({ minLength: 1 }), { uniqueItems: true, default: [], description: 'Roles of the key holder (`x-portcullis-roles`, `bypassRoles`).' }),
                    ),
                    expiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'Refused after this instant.' })),
                  }),
                  { default: [], description: 'Static keys, stored as hashes.' },
                )),
              },
              { description: 'API keys: the key store and static keys. Keys are only ever stored as hashes.' },
            ),
          ),
          schemes: Type.Optional(
            Type.Record(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' }), IdentityScheme, {
              additionalProperties: false,
              default: {},
              description: 'Named authentication schemes. OpenAPI security schemes bind to these by name (or through `apis[].schemes`).',
            }),
          ),
        },
        { description: 'Authentication methods available to non-public routes.' },
      ),
    ),
    upstreams: Type.Optional(
      Type.Record(Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' }), Upstream, {
        // TypeBox leaves a Record open: without this a badly named entry is never validated.
        additionalProperties: false,
        default: {},
        description: 'Named upstream pools. APIs and routes may also name a URL directly (it then gets a pool with default settings).',
      }),
    ),
    apis: Type.Optional(Type.Array(Api, { default: [], description: 'APIs described by OpenAPI documents.' })),
    routes: Type.Optional(Type.Array(Route, { default: [], description: 'Explicit routes.' })),
  },
  {
    $id: 'https://portcullis.dev/schema/portcullis.schema.json',
    title: 'Portcullis configuration',
    description: 'Configuration of the Portcullis API security gateway (portcullis.yaml).',
  },
);

export type RawConfig = Static<typeof ConfigSchema>;
export type RawApi = Static<typeof Api>;
export type RawRoute = Static<typeof Route>;
export type RawListener = Static<typeof Listener>;
export type RawUpstream = Static<typeof Upstream>;
export type RawCors = Static<typeof Cors>;
export type RawSecurityHeaders = Static<typeof SecurityHeaders>;
export type SchemaNode = TSchema;
