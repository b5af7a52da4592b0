/**
 * Identity and access settings: `identity.schemes`, the binding of OpenAPI security schemes to
 * them, and the access rules of each operation and route (security requirements, roles,
 * ownership). Everything a request will be checked against is resolved here, at load time, so
 * `portcullis check` reports a scheme that cannot be verified before any request arrives.
 */
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import path from 'node:path';
import { compileOperationAccess, parseOwnershipExtension } from '../access/extensions.js';
import { operationObject } from '../access/schema-resolve.js';
import type { LoadContext } from './normalize.js';
import type { RawApi, RawConfig, RawRoute } from './schema.js';
import type { Segment } from './source.js';
import type {
  AccessConfig,
  AccessPolicies,
  ApiOperation,
  IdentitySchemeConfig,
  JwtSchemeConfig,
  LoadedSpec,
  MtlsRuleConfig,
  MtlsSchemeConfig,
  RequirementConfig,
  SecurityRequirement,
  TokenClaimsConfig,
} from './types.js';

type MtlsSchemeConfigFrom = MtlsSchemeConfig['principalFrom'];
type RawScheme = NonNullable<NonNullable<NonNullable<RawConfig['identity']>['schemes']>[string]>;

/** Keys that mean something for each scheme type; any other key present is an error. */
const KEYS_FOR: Record<RawScheme['type'], readonly string[]> = {
  apiKey: ['type', 'in', 'name'],
  jwt: [
    'type', 'issuer', 'audiences', 'algorithms', 'jwksUri', 'discovery', 'keys', 'clockSkewSeconds', 'requiredClaims', 'requireExp', 'maxTokenBytes',
    'subjectClaim', 'scopeClaim', 'rolesClaim', 'jwksCacheSeconds', 'jwksRefreshCooldownSeconds', 'cacheMaxEntries', 'certificateBound', 'timeoutMs',
  ],
  introspection: [
    'type', 'endpoint', 'clientId', 'clientSecret', 'clientAuth', 'timeoutMs', 'cacheMaxSeconds', 'cacheMaxEntries', 'maxTokenBytes', 'subjectClaim',
    'scopeClaim', 'rolesClaim', 'audiences', 'issuer', 'certificateBound',
  ],
  mtls: ['type', 'principalFrom', 'rules'],
};

/** Keys that get a schema default, so their presence in `filled` says nothing about the file. */
const DEFAULTED = new Set([
  'clockSkewSeconds', 'requiredClaims', 'requireExp', 'maxTokenBytes', 'subjectClaim', 'scopeClaim', 'jwksCacheSeconds', 'jwksRefreshCooldownSeconds',
  'cacheMaxEntries', 'certificateBound', 'clientAuth', 'timeoutMs', 'cacheMaxSeconds', 'principalFrom', 'rules',
]);

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** https, or http to a loopback address (for local identity providers and tests). */
function secureUrlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'expected an absolute URL';
  }
  if (u.protocol === 'https:') return undefined;
  if (u.protocol === 'http:' && LOOPBACK.has(u.hostname)) return undefined;
  return 'expected an https:// URL (plain http is only allowed to a loopback address): tokens and keys must not cross the network in clear';
}

function must<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`config normalization: ${what} has no value after defaults`);
  return v;
}

export interface IdentityNormalization {
  readonly schemes: Record<string, IdentitySchemeConfig>;
}

/** `identity.schemes`, plus the default `apiKey` scheme (the key store, from the configured header). */
export async function normalizeSchemes(raw: RawConfig, filled: RawConfig, ctx: LoadContext): Promise<IdentityNormalization> {
  const error = (at: readonly Segment[], message: string, onKey = false) => ctx.report('error', at, message, onKey);
  const apiKeys = filled.identity?.apiKeys;
  const defaultHeader = (apiKeys?.header ?? 'x-api-key').toLowerCase();
  const allowQuery = apiKeys?.allowQuery ?? false;
  const schemes: Record<string, IdentitySchemeConfig> = {};
  const rawSchemes = raw.identity?.schemes ?? {};
  if (allowQuery) {
    ctx.report(
      'warning',
      ['identity', 'apiKeys', 'allowQuery'],
      'API keys in query strings end up in proxy logs, browser history and Referer headers; prefer a header (the parameter is redacted from audit events)',
    );
  }

  for (const [name, s] of Object.entries(filled.identity?.schemes ?? {})) {
    const at: Segment[] = ['identity', 'schemes', name];
    const written = rawSchemes[name] ?? s;
    for (const key of Object.keys(written)) {
      if (!KEYS_FOR[s.type].includes(key) && !(DEFAULTED.has(key) && !(key in (rawSchemes[name] ?? {})))) {
        error([...at, key], `key "${key}" does not apply to a scheme of type ${s.type}; its keys are: ${KEYS_FOR[s.type].join(', ')}`, true);
      }
    }
    const keyPath = `identity.schemes.${name}`;
    switch (s.type) {
      case 'apiKey': {
        const where = s.in ?? 'header';
        if (where === 'query' && !allowQuery) {
          error([...at, 'in'], 'API keys in the query string need identity.apiKeys.allowQuery: true (keys in URLs end up in logs and browser history)');
        }
        schemes[name] = { type: 'apiKey', name, keyPath, in: where, param: where === 'header' ? (s.name ?? defaultHeader).toLowerCase() : (s.name ?? 'api_key') };
        break;
      }
      case 'jwt': {
        const jwt = await jwtScheme(name, keyPath, s, at, ctx);
        if (jwt) schemes[name] = jwt;
        break;
      }
      case 'introspection': {
        if (s.endpoint === undefined) error(at, 'a scheme of type introspection needs "endpoint"');
        else {
          const p = secureUrlProblem(s.endpoint);
          if (p) error([...at, 'endpoint'], p);
        }
        if (s.clientId === undefined) error(at, 'a scheme of type introspection needs "clientId"');
        if (s.clientSecret === undefined) error(at, 'a scheme of type introspection needs "clientSecret" (use ${ENV_NAME} or file:/path)');
        if (s.endpoint === undefined || s.clientId === undefined || s.clientSecret === undefined) break;
        schemes[name] = {
          type: 'introspection',
          name,
          keyPath,
          endpoint: s.endpoint,
          clientId: s.clientId,
          clientSecret: s.clientSecret,
          clientAuth: must(s.clientAuth, 'clientAuth'),
          cacheMaxSeconds: must(s.cacheMaxSeconds, 'cacheMaxSeconds'),
          issuer: s.issuer,
          ...claims(s),
        };
        break;
      }
      case 'mtls': {
        const rules: MtlsRuleConfig[] = must(s.rules, 'rules').map((r, j) => {
          const m = r.match;
          if (Object.values(m).every((v) => v === undefined)) error([...at, 'rules', j, 'match'], 'a rule needs at least one field to match');
          for (const [k, v] of Object.entries(m)) {
            if (typeof v === 'string' && v.indexOf('*') >= 0 && v.indexOf('*') !== v.length - 1) {
              error([...at, 'rules', j, 'match', k], 'only a single trailing "*" (prefix match) is supported');
            }
          }
          return {
            match: {
              subjectCn: m.subjectCn,
              subject: m.subject,
              sanDns: m.sanDns,
              sanUri: m.sanUri,
              sanEmail: m.sanEmail,
              fingerprint256: m.fingerprint256,
              issuerCn: m.issuerCn,
            },
            id: r.id,
            roles: must(r.roles, 'roles'),
            scopes: must(r.scopes, 'scopes'),
          };
        });
        schemes[name] = { type: 'mtls', name, keyPath, principalFrom: must(s.principalFrom, 'principalFrom') as MtlsSchemeConfigFrom, rules };
        break;
      }
    }
  }
  schemes.apiKey ??= { type: 'apiKey', name: 'apiKey', keyPath: 'identity.apiKeys', in: 'header', param: defaultHeader };
  return { schemes };
}

function claims(s: RawScheme): TokenClaimsConfig {
  return {
    maxTokenBytes: must(s.maxTokenBytes, 'maxTokenBytes'),
    subjectClaim: must(s.subjectClaim, 'subjectClaim'),
    scopeClaim: must(s.scopeClaim, 'scopeClaim'),
    rolesClaim: s.rolesClaim,
    audiences: s.audiences ?? [],
    cacheMaxEntries: must(s.cacheMaxEntries, 'cacheMaxEntries'),
    timeoutMs: must(s.timeoutMs, 'timeoutMs'),
    certificateBound: must(s.certificateBound, 'certificateBound'),
  };
}

async function jwtScheme(name: string, keyPath: string, s: RawScheme, at: Segment[], ctx: LoadContext): Promise<JwtSchemeConfig | undefined> {
  const error = (p: readonly Segment[], message: string, onKey = false) => ctx.report('error', p, message, onKey);
  let ok = true;
  if (s.issuer === undefined) {
    error(at, 'a scheme of type jwt needs "issuer" (the exact iss of accepted tokens)');
    ok = false;
  }
  if (s.audiences === undefined || s.audiences.length === 0) {
    error(at, 'a scheme of type jwt needs "audiences" (tokens minted for another API must not be accepted here)');
    ok = false;
  }
  const sources = (['jwksUri', 'discovery', 'keys'] as const).filter((k) => s[k] !== undefined);
  if (sources.length !== 1) {
    error(at, sources.length === 0 ? 'a scheme of type jwt needs one of "jwksUri", "discovery" or "keys"' : `give only one of ${sources.join(', ')}`);
    ok = false;
  }
  const algorithms = s.algorithms ?? ['RS256', 'ES256'];
  let keys: JwtSchemeConfig['keys'] | undefined;
  if (s.jwksUri !== undefined) {
    const p = secureUrlProblem(s.jwksUri);
    if (p) error([...at, 'jwksUri'], p);
    keys = { kind: 'jwks', uri: s.jwksUri };
  } else if (s.discovery !== undefined) {
    const p = secureUrlProblem(s.discovery);
    if (p) error([...at, 'discovery'], p);
    keys = { kind: 'discovery', url: s.discovery };
  } else if (s.keys !== undefined) {
    const jwks: Record<string, unknown>[] = [];
    for (let j = 0; j < s.keys.length; j++) {
      const k = s.keys[j]!;
      const kat: Segment[] = [...at, 'keys', j];
      const given = (['file', 'jwk', 'secret'] as const).filter((f) => k[f] !== undefined);
      if (given.length !== 1) {
        error(kat, 'a key needs exactly one of "file", "jwk" or "secret"');
        ok = false;
        continue;
      }
      const found = await localKeys(k, kat, ctx);
      if (found === undefined) {
        ok = false;
        continue;
      }
      for (const jwk of found) {
        if (jwk.kty === 'oct' && !algorithms.some((a) => a.startsWith('HS'))) {
          error(kat, 'an HMAC secret needs an HS256/HS384/HS512 entry in "algorithms"');
          ok = false;
        }
        jwks.push(k.kid !== undefined ? { ...jwk, kid: k.kid } : jwk);
      }
    }
    keys = { kind: 'local', keys: jwks };
  }
  if (algorithms.some((a) => a.startsWith('HS')) && keys !== undefined && keys.kind !== 'local') {
    error([...at, 'algorithms'], 'HS* algorithms need a shared secret in "keys"; a JWKS publishes public keys only (allowing HS* with one invites algorithm confusion)');
    ok = false;
  }
  if (!ok || keys === undefined || s.issuer === undefined) return undefined;
  return {
    type: 'jwt',
    name,
    keyPath,
    issuer: s.issuer,
    algorithms,
    keys,
    clockSkewSeconds: must(s.clockSkewSeconds, 'clockSkewSeconds'),
    requiredClaims: must(s.requiredClaims, 'requiredClaims'),
    requireExp: must(s.requireExp, 'requireExp'),
    jwksCacheSeconds: must(s.jwksCacheSeconds, 'jwksCacheSeconds'),
    jwksRefreshCooldownSeconds: must(s.jwksRefreshCooldownSeconds, 'jwksRefreshCooldownSeconds'),
    ...claims(s),
  };
}

type RawJwtKey = NonNullable<RawScheme['keys']>[number];

/** A local key entry → public JWKs (a JWK Set file may hold several). */
async function localKeys(k: RawJwtKey, at: Segment[], ctx: LoadContext): Promise<Record<string, unknown>[] | undefined> {
  const error = (message: string, key = 'file') => ctx.report('error', [...at, key], message);
  if (k.secret !== undefined) {
    const bytes = Buffer.from(k.secret, 'utf8');
    if (bytes.length < 32) {
      error('an HMAC secret must be at least 32 bytes (RFC 7518 §3.2)', 'secret');
      return undefined;
    }
    return [{ kty: 'oct', k: bytes.toString('base64url') }];
  }
  if (k.jwk !== undefined) return publicJwk(k.jwk, (m) => error(m, 'jwk'));
  const file = path.resolve(ctx.dir, k.file!);
  ctx.files.push(file);
  let text: string;
  try {
    text = (await ctx.read(file)).toString('utf8');
  } catch (err) {
    error(`cannot read ${k.file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    return undefined;
  }
  const trimmed = text.trimStart();
  if (trimmed.startsWith('-----BEGIN')) {
    if (trimmed.includes('PRIVATE KEY')) {
      error(`${k.file} holds a private key; give the public key or certificate (the gateway only verifies)`);
      return undefined;
    }
    try {
      return [createPublicKey(text).export({ format: 'jwk' }) as Record<string, unknown>];
    } catch {
      error(`${k.file} is not a PEM public key or certificate`);
      return undefined;
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    error(`${k.file} is neither PEM nor JSON (expected a public key, a certificate, a JWK or a JWK Set)`);
    return undefined;
  }
  if (typeof parsed === 'object' && parsed !== null && Array.isArray((parsed as { keys?: unknown }).keys)) {
    const out: Record<string, unknown>[] = [];
    for (const j of (parsed as { keys: unknown[] }).keys) {
      const one = publicJwk(j, (m) => error(`${k.file}: ${m}`));
      if (one === undefined) return undefined;
      out.push(...one);
    }
    return out;
  }
  return publicJwk(parsed, (m) => error(`${k.file}: ${m}`));
}

function publicJwk(v: unknown, report: (message: string) => void): Record<string, unknown>[] | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    report('expected a JWK object');
    return undefined;
  }
  const jwk = v as Record<string, unknown>;
  if ('d' in jwk) {
    report('this JWK is a private key; give the public key (the gateway only verifies)');
    return undefined;
  }
  if (jwk.kty === 'oct') {
    report('symmetric JWKs are not accepted here; use "secret" so the value can come from ${ENV} or file:');
    return undefined;
  }
  try {
    createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch {
    report('not a valid public JWK');
    return undefined;
  }
  return [jwk];
}

// ---------------------------------------------------------------------------------------------
// Access rules of operations and routes

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Resolves a local JSON pointer in a parsed document. */
function atPointer(doc: unknown, pointer: string): unknown {
  if (pointer === '') return doc;
  let cur: unknown = doc;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(cur)) cur = cur[Number(key)];
    else if (isObject(cur) && Object.hasOwn(cur, key)) cur = cur[key];
    else return undefined;
  }
  return cur;
}

function derefLocal(doc: unknown, v: unknown): unknown {
  for (let i = 0; i < 16 && isObject(v) && typeof v.$ref === 'string' && v.$ref.startsWith('#'); i++) v = atPointer(doc, v.$ref.slice(1));
  return v;
}

const TOKEN_TYPES = new Set(['jwt', 'introspection']);

/**
 * The access rules of every operation of an API: its security requirements bound to identity
 * schemes (adding synthetic apiKey/mtls schemes for OpenAPI schemes that need no settings),
 * `x-portcullis-roles` and `x-portcullis-owner`.
 */
export function operationAccess(
  api: RawApi,
  apiIndex: number,
  spec: LoadedSpec,
  schemes: Record<string, IdentitySchemeConfig>,
  allowQuery: boolean,
  ctx: LoadContext,
): Map<string, AccessConfig> {
  const at: Segment[] = ['apis', apiIndex];
  const doc = spec.document;
  const declared = atPointer(doc, '/components/securitySchemes');
  const bound = new Map<string, string | undefined>();

  const specError = (op: ApiOperation, message: string) =>
    ctx.diagnostics.push({ severity: 'error', file: spec.file, line: op.location.line, column: op.location.column, path: op.pointer, message });

  for (const [openapiName, target] of Object.entries(api.schemes ?? {})) {
    if (schemes[target] === undefined) {
      ctx.report('error', [...at, 'schemes', openapiName], `unknown identity scheme ${JSON.stringify(target)}; defined: ${Object.keys(schemes).join(', ')}`);
    }
    if (!isObject(declared) || !Object.hasOwn(declared, openapiName)) {
      ctx.report('error', [...at, 'schemes', openapiName], `the OpenAPI document has no security scheme ${JSON.stringify(openapiName)} in components.securitySchemes`, true);
    }
  }

  /** The identity scheme for an OpenAPI scheme name, or an error message. */
  const bind = (openapiName: string): { scheme: string } | { error: string } => {
    const ss = isObject(declared) ? derefLocal(doc, declared[openapiName]) : undefined;
    if (!isObject(ss)) return { error: `security requirement names ${JSON.stringify(openapiName)}, which is not in components.securitySchemes` };
    const type = typeof ss.type === 'string' ? ss.type : '';
    const explicit = api.schemes?.[openapiName] ?? (typeof ss['x-portcullis-scheme'] === 'string' ? ss['x-portcullis-scheme'] : undefined);
    const wanted = explicit ?? (schemes[openapiName] !== undefined ? openapiName : undefined);
    const describe = type === 'http' ? `http ${String(ss.scheme ?? '')}` : type;
    if (wanted !== undefined) {
      const target = schemes[wanted];
      if (target === undefined) return { error: `security scheme ${JSON.stringify(openapiName)} is bound to ${JSON.stringify(wanted)}, which is not in identity.schemes` };
      const fits =
        (type === 'apiKey' && target.type === 'apiKey') ||
        (type === 'mutualTLS' && target.type === 'mtls') ||
        ((type === 'oauth2' || type === 'openIdConnect' || (type === 'http' && String(ss.scheme).toLowerCase() === 'bearer')) && TOKEN_TYPES.has(target.type));
      if (!fits) return { error: `security scheme ${JSON.stringify(openapiName)} (${describe}) cannot be verified by identity scheme ${JSON.stringify(wanted)} of type ${target.type}` };
      return { scheme: wanted };
    }
    if (type === 'apiKey') {
      const where = ss.in;
      const name = typeof ss.name === 'string' ? ss.name : '';
      if (where !== 'header' && where !== 'query') return { error: `apiKey scheme ${JSON.stringify(openapiName)} is "in: ${String(where)}"; only header and query are supported` };
      if (where === 'query' && !allowQuery) {
        return { error: `apiKey scheme ${JSON.stringify(openapiName)} takes the key from the query string; set identity.apiKeys.allowQuery: true to accept that (keys in URLs end up in logs)` };
      }
      const synthetic = `${api.name}:${openapiName}`;
      schemes[synthetic] ??= { type: 'apiKey', name: synthetic, keyPath: `apis[${apiIndex}] (OpenAPI scheme "${openapiName}")`, in: where, param: where === 'header' ? name.toLowerCase() : name };
      return { scheme: synthetic };
    }
    if (type === 'mutualTLS') {
      const synthetic = `${api.name}:${openapiName}`;
      schemes[synthetic] ??= { type: 'mtls', name: synthetic, keyPath: `apis[${apiIndex}] (OpenAPI scheme "${openapiName}")`, principalFrom: 'subject-cn', rules: [] };
      return { scheme: synthetic };
    }
    if (type === 'http' && String(ss.scheme).toLowerCase() === 'basic') return { error: `security scheme ${JSON.stringify(openapiName)} is HTTP Basic, which Portcullis does not verify; use API keys or tokens` };
    return {
      error: `security scheme ${JSON.stringify(openapiName)} (${describe}) has no identity scheme to verify it: add identity.schemes.${openapiName} (type jwt or introspection) or map it in apis[${apiIndex}].schemes`,
    };
  };

  const out = new Map<string, AccessConfig>();
  const reported = new Set<string>();
  if (api.public === true && spec.operations.some((op) => op.security !== undefined && op.security.length > 0)) {
    ctx.report('warning', ['apis', apiIndex, 'public'], 'public: true: the security requirements of the OpenAPI document are not enforced for this API');
  }
  for (const op of spec.operations) {
    let security: RequirementConfig[] | undefined;
    // A public API checks no credentials, so its schemes need nothing to verify them.
    if (op.security !== undefined && api.public !== true) {
      security = [];
      for (const req of op.security) {
        const alt: { scheme: string; scopes: readonly string[] }[] = [];
        let usable = true;
        for (const [openapiName, scopes] of Object.entries(req as SecurityRequirement)) {
          let b = bound.get(openapiName);
          if (!bound.has(openapiName)) {
            const r = bind(openapiName);
            if ('error' in r) specError(op, r.error);
            b = 'error' in r ? undefined : r.scheme;
            bound.set(openapiName, b);
          }
          if (b === undefined) usable = false;
          else alt.push({ scheme: b, scopes: scopes ?? [] });
        }
        if (usable) security.push({ schemes: alt });
      }
    }
    const opObj = operationObject(spec, op.pointer);
    const o = isObject(opObj) ? opObj : {};
    let roles: string[] | undefined;
    const rawRoles = o['x-portcullis-roles'];
    if (rawRoles !== undefined) {
      if (!Array.isArray(rawRoles) || rawRoles.length === 0 || !rawRoles.every((r) => typeof r === 'string' && r.length > 0)) {
        specError(op, 'x-portcullis-roles: expected a non-empty list of role names');
      } else {
        roles = rawRoles as string[];
      }
    }
    // Compiled once here; a reload loads and compiles anew, so caches never outlive their config.
    const compiled = compileOperationAccess(spec, op);
    for (const p of compiled.problems) {
      const id = `${p.at}\u0000${p.message}`;
      if (reported.has(id)) continue;
      reported.add(id);
      ctx.diagnostics.push({ severity: p.severity, file: spec.file, line: op.location.line, column: op.location.column, path: p.at, message: p.message });
    }
    out.set(op.operationId, { security, roles, policies: { ownership: compiled.ownership, write: compiled.write, read: compiled.read } });
  }
  return out;
}

/** The access rules of an explicit route. */
export function routeAccess(r: RawRoute, i: number, schemes: Record<string, IdentitySchemeConfig>, ctx: LoadContext): AccessConfig {
  const at: Segment[] = ['routes', i];
  let security: RequirementConfig[] | undefined;
  if (r.security !== undefined) {
    security = r.security.map((req, j) => ({
      schemes: Object.entries(req).map(([name, scopes]) => {
        if (schemes[name] === undefined) {
          ctx.report('error', [...at, 'security', j, name], `unknown scheme ${JSON.stringify(name)}; defined in identity.schemes: ${Object.keys(schemes).join(', ')}`, true);
        }
        return { scheme: name, scopes };
      }),
    }));
  }
  let ownership: AccessPolicies['ownership'];
  if (r.owner !== undefined) {
    const parsed = parseOwnershipExtension(r.owner, `routes[${i}].owner`);
    for (const e of parsed.errors) ctx.report('error', [...at, 'owner'], e);
    ownership = parsed.policy;
  }
  return { security, roles: r.roles, policies: { ownership, write: undefined, read: undefined } };
}
