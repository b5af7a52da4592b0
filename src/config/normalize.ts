/**
 * Semantic checks and normalization of a schema-valid config: everything the schema alone
 * cannot say (references between sections, files that must exist, combinations that are
 * unsafe), and the `Config` the rest of the gateway reads (defaults filled, paths absolute,
 * files read, OpenAPI documents loaded).
 *
 * Every check reports and carries on, so one run shows every problem.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { loadOpenApi, normalizeBasePath, type LoadOpenApiResult } from '../contract/index.js';
import { describeFsError, displayPath, keyPath } from './diagnostics.js';
import { normalizeAbuse } from './abuse.js';
import { compileContracts } from './contract.js';
import { botsConfig, globalIpRules, routeIpRules } from './bots.js';
import { normalizeSchemes, operationAccess, routeAccess } from './identity.js';
import { ConfigSchema, type RawApi, type RawConfig, type RawCors, type RawListener, type RawRoute, type RawSecurityHeaders, type RawUpstream } from './schema.js';
import type { SchemaNode } from './schema-walk.js';
import type { ParsedSource, Segment } from './source.js';
import type {
  ApiConfig,
  ApiKeyConfig,
  Config,
  ContractConfig,
  CorsConfig,
  Diagnostic,
  HttpMethodName,
  LimitsConfig,
  ListenerConfig,
  RouteConfig,
  RoutePolicyConfig,
  RouteThreatsConfig,
  ThreatExclusionConfig,
  ThreatsConfig,
  SecurityHeadersConfig,
  Severity,
  StageSettingsConfig,
  TlsListenerConfig,
  UpstreamConfig,
} from './types.js';

/** Forward secrecy and AEAD only, for TLS 1.2 (TLS 1.3 suites are always AEAD). */
export const DEFAULT_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export interface LoadContext {
  readonly file: string;
  readonly dir: string;
  readonly src: ParsedSource;
  readonly read: (file: string) => Promise<Buffer>;
  /** Files the config depends on, in discovery order (duplicates allowed). */
  readonly files: string[];
  readonly diagnostics: Diagnostic[];
  report(severity: Severity, at: readonly Segment[], message: string, onKey?: boolean): void;
}

export type NormalizedConfig = Omit<Config, 'file' | 'files' | 'revision' | 'locate'>;

/** Defaults are filled by the schema walk; this turns "cannot happen" into a loud bug. */
function must<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`config normalization: ${what} has no value after defaults`);
  return v;
}

/**
 * Check and normalize. `raw` is the validated value as written (secrets resolved);
 * `filled` is the same with schema defaults filled.
 */
export async function normalize(raw: RawConfig, filled: RawConfig, ctx: LoadContext): Promise<NormalizedConfig | undefined> {
  const error = (at: readonly Segment[], message: string, onKey = false) => ctx.report('error', at, message, onKey);

  const limits = must(filled.limits, 'limits') as LimitsConfig;
  const listeners = await Promise.all(filled.listeners.map((l, i) => listener(l, i, ctx)));
  checkListenerClashes(listeners, ctx);

  const tlsSection = must(filled.tls, 'tls');
  const firstTls = listeners.find((l) => l.tls !== undefined);
  if (tlsSection.required && !firstTls) error(['tls', 'required'], 'tls.required needs at least one listener with tls');
  if (tlsSection.redirectHttp && !tlsSection.required) error(['tls', 'redirectHttp'], 'redirectHttp only applies with tls.required: true');

  const trustedProxies = must(filled.trustedProxies, 'trustedProxies');
  trustedProxies.forEach((p, i) => {
    if (!isIpOrCidr(p)) error(['trustedProxies', i], `invalid address or CIDR ${JSON.stringify(p)}; expected an IPv4 or IPv6 address or a CIDR such as 10.0.0.0/8 or fd00::/8`);
  });

  const admin = must(filled.admin, 'admin');
  if (admin.enabled && admin.port !== 0) {
    const adminHost = must(admin.host, 'admin.host');
    const port = must(admin.port, 'admin.port');
    const clash = listeners.findIndex((l) => l.port === port && hostsOverlap(l.host, adminHost));
    if (clash >= 0) error(['admin', 'port'], `port ${port} is also used by listeners[${clash}] (${listeners[clash]?.host}:${port})`);
  }

  const telemetry = must(filled.telemetry, 'telemetry');
  const audit = must(telemetry.audit, 'telemetry.audit');
  const destination = must(audit.destination, 'telemetry.audit.destination');

  // Upstreams: the named ones, then one per inline URL as APIs and routes use them.
  const upstreams: Record<string, UpstreamConfig> = {};
  const rawUpstreams = raw.upstreams ?? {};
  for (const [name, u] of Object.entries(must(filled.upstreams, 'upstreams'))) {
    upstreams[name] = await upstream(name, u, rawUpstreams[name]?.tls !== undefined, ['upstreams', name], ctx);
  }
  const named = Object.keys(upstreams);
  const useUpstream = (ref: string, at: Segment[]): string => {
    if (named.includes(ref)) return ref;
    if (isHttpUrl(ref)) {
      upstreams[ref] ??= inlineUpstream(ref);
      return ref;
    }
    error(at, `unknown upstream ${JSON.stringify(ref)}; expected a name from upstreams (${named.length > 0 ? named.join(', ') : 'none defined'}) or an http(s) URL`);
    return ref;
  };

  // API and route names share one namespace: both become route ids.
  const names = new Map<string, Segment[]>();
  const claimName = (name: string, at: Segment[]) => {
    const first = names.get(name);
    if (first) {
      const loc = ctx.src.locate([...first, 'name']);
      error([...at, 'name'], `duplicate name ${JSON.stringify(name)}; already used by ${keyPath(first)} (line ${loc.line})`);
    } else {
      names.set(name, at);
    }
  };

  const apisRaw = must(filled.apis, 'apis');
  const specs = new Map<string, Promise<LoadOpenApiResult | undefined>>();
  const apiResults = await Promise.all(
    apisRaw.map(async (a, i) => {
      const specFile = path.resolve(ctx.dir, a.spec);
      ctx.files.push(specFile);
      let pending = specs.get(specFile);
      if (!pending) {
        pending = loadSpec(specFile, a.spec, ['apis', i, 'spec'], ctx);
        specs.set(specFile, pending);
      }
      return { a, i, specFile, result: await pending };
    }),
  );

  const { schemes } = await normalizeSchemes(raw, filled, ctx);
  const ipRules = await globalIpRules(filled, ctx);
  const bots = botsConfig(filled, ctx);
  const shed = must(filled.loadShedding, 'loadShedding');
  const allowQuery = filled.identity?.apiKeys?.allowQuery ?? false;

  const apis: ApiConfig[] = [];
  for (const { a, i, specFile, result } of apiResults) {
    const at: Segment[] = ['apis', i];
    claimName(a.name, at);
    const up = useUpstream(a.upstream, [...at, 'upstream']);
    const pol = { ...policy(a, at, limits, ctx), ipRules: await routeIpRules(a.ipRules, at, ctx, ipRules.maxEntries) };
    if (!result?.spec) continue;
    const opIds = new Set(result.spec.operations.map((o) => o.operationId));
    pol.threats.exclusions.forEach((e, j) =>
      e.operations?.forEach((id, k) => {
        if (!opIds.has(id)) error([...at, 'threats', 'exclusions', j, 'operations', k], `no operation ${JSON.stringify(id)} in ${displayPath(specFile)}`);
      }),
    );
    const contractCfg = contractConfig(must(a.contract, 'contract'));
    apis.push({
      ...pol,
      name: a.name,
      specFile,
      spec: result.spec,
      upstream: up,
      basePath: normalizeBasePath(a.basePath ?? result.spec.serverBasePath),
      stripBasePath: must(a.stripBasePath, 'stripBasePath'),
      hosts: a.hosts,
      keyPath: `apis[${i}]`,
      access: operationAccess(a, i, result.spec, schemes, allowQuery, ctx),
      contract: contractCfg,
      contracts: compileContracts(result.spec, contractCfg, ctx),
    });
  }

  const routes: RouteConfig[] = [];
  for (const [i, r] of must(filled.routes, 'routes').entries()) {
    const at: Segment[] = ['routes', i];
    claimName(r.name, at);
    const problem = routeTemplateProblem(r.path);
    if (problem) error([...at, 'path'], `invalid path template ${JSON.stringify(r.path)}: ${problem}`);
    routes.push({
      ...policy(r, at, limits, ctx),
      ipRules: await routeIpRules(r.ipRules, at, ctx, ipRules.maxEntries),
      name: r.name,
      methods: r.methods as HttpMethodName[],
      path: r.path,
      hosts: r.hosts,
      upstream: useUpstream(r.upstream, [...at, 'upstream']),
      keyPath: `routes[${i}]`,
      access: routeAccess(r, i, schemes, ctx),
    });
  }

  const apiKeys = filled.identity?.apiKeys;
  let keys: ApiKeyConfig[] | undefined;
  if (apiKeys) {
    const ids = new Map<string, number>();
    keys = must(apiKeys.keys, 'apiKeys.keys').map((k, i) => {
      const at: Segment[] = ['identity', 'apiKeys', 'keys', i];
      const first = ids.get(k.id);
      if (first !== undefined) error([...at, 'id'], `duplicate key id ${JSON.stringify(k.id)}; already used by identity.apiKeys.keys[${first}]`);
      else ids.set(k.id, i);
      let expiresAt: number | undefined;
      if (k.expiresAt !== undefined) {
        expiresAt = Date.parse(k.expiresAt);
        if (Number.isNaN(expiresAt)) error([...at, 'expiresAt'], 'expected a date and time such as 2026-01-31T00:00:00Z');
      }
      return { id: k.id, sha256: Buffer.from(k.sha256, 'hex'), owner: k.owner ?? k.id, scopes: must(k.scopes, 'scopes'), roles: must(k.roles, 'roles'), expiresAt };
    });
  }

  const th = must(filled.threats, 'threats');
  const thLimits = must(th.limits, 'threats.limits');
  const threats: ThreatsConfig = {
    enabled: must(th.enabled, 'threats.enabled'),
    paranoia: must(th.paranoia, 'threats.paranoia') as ThreatsConfig['paranoia'],
    threshold: must(th.threshold, 'threats.threshold'),
    cookies: must(th.cookies, 'threats.cookies'),
    ignoreHeaders: must(th.ignoreHeaders, 'threats.ignoreHeaders').map((h) => h.toLowerCase()),
    exclusions: must(th.exclusions, 'threats.exclusions').map((e, j) => exclusion(e, ['threats', 'exclusions', j], ctx)),
    limits: { maxBytes: must(thLimits.maxBytes, 'maxBytes'), maxItems: must(thLimits.maxItems, 'maxItems'), maxDepth: must(thLimits.maxDepth, 'maxDepth') },
  };

  const workersWanted = must(filled.workers, 'workers');
  const abuse = normalizeAbuse(
    filled,
    apiResults.map(({ a, i, result }) => ({ a, i, spec: result?.spec })),
    must(filled.routes, 'routes'),
    workersWanted === 'auto' ? os.availableParallelism() : workersWanted,
    ctx,
  );

  if (ctx.diagnostics.some((d) => d.severity === 'error')) return undefined;
  const requestId = must(filled.requestId, 'requestId');
  const hsts = must(tlsSection.hsts, 'tls.hsts');
  const workers = must(filled.workers, 'workers');
  return {
    workers: workers === 'auto' ? os.availableParallelism() : workers,
    listeners,
    tls: {
      required: must(tlsSection.required, 'tls.required'),
      redirectHttp: must(tlsSection.redirectHttp, 'tls.redirectHttp'),
      httpsPort: tlsSection.httpsPort ?? firstTls?.port,
      hsts: {
        maxAgeSeconds: must(hsts.maxAgeSeconds, 'hsts.maxAgeSeconds'),
        includeSubDomains: must(hsts.includeSubDomains, 'hsts.includeSubDomains'),
        preload: must(hsts.preload, 'hsts.preload'),
      },
    },
    limits,
    trustedProxies,
    requestId: { header: must(requestId.header, 'requestId.header'), trustIncoming: must(requestId.trustIncoming, 'requestId.trustIncoming') },
    shutdown: { drainTimeoutMs: must(filled.shutdown?.drainTimeoutMs, 'shutdown.drainTimeoutMs') },
    admin: {
      enabled: must(admin.enabled, 'admin.enabled'),
      host: must(admin.host, 'admin.host'),
      port: must(admin.port, 'admin.port'),
      token: admin.token,
      metricsRequireToken: must(admin.metricsRequireToken, 'admin.metricsRequireToken'),
    },
    threats,
    ipRules: ipRules.lists,
    bots,
    loadShedding: {
      maxConcurrent: must(shed.maxConcurrent, 'loadShedding.maxConcurrent'),
      maxQueue: must(shed.maxQueue, 'loadShedding.maxQueue'),
      queueTimeoutMs: must(shed.queueTimeoutMs, 'loadShedding.queueTimeoutMs'),
      retryAfterSeconds: must(shed.retryAfterSeconds, 'loadShedding.retryAfterSeconds'),
    },
    telemetry: {
      audit: {
        enabled: must(audit.enabled, 'audit.enabled'),
        destination: destination === 'stdout' || destination === 'stderr' ? destination : path.resolve(ctx.dir, destination),
        includeHeaders: must(audit.includeHeaders, 'audit.includeHeaders'),
        redactHeaders: must(audit.redactHeaders, 'audit.redactHeaders'),
      },
      logLevel: must(telemetry.logLevel, 'telemetry.logLevel') as Config['telemetry']['logLevel'],
    },
    identity: {
      apiKeys:
        apiKeys && keys
          ? {
              header: must(apiKeys.header, 'apiKeys.header'),
              store: apiKeys.store === undefined ? undefined : path.resolve(ctx.dir, apiKeys.store),
              allowQuery: must(apiKeys.allowQuery, 'apiKeys.allowQuery'),
              keys,
            }
          : undefined,
      schemes,
    },
    upstreams,
    apis,
    routes,
    abuse,
  };
}

async function readInto(ctx: LoadContext, at: Segment[], what: string, rel: string): Promise<{ file: string; data: Buffer | undefined }> {
  const file = path.resolve(ctx.dir, rel);
  ctx.files.push(file);
  try {
    return { file, data: await ctx.read(file) };
  } catch (err) {
    ctx.report('error', at, `cannot read ${what} ${JSON.stringify(rel)}: ${describeFsError(err)}`);
    return { file, data: undefined };
  }
}

async function listener(l: RawListener, i: number, ctx: LoadContext): Promise<ListenerConfig> {
  const at: Segment[] = ['listeners', i];
  const host = must(l.host, 'listener host');
  let tls: TlsListenerConfig | undefined;
  if (l.tls) {
    const t = l.tls;
    const tat: Segment[] = [...at, 'tls'];
    const clientCertificate = must(t.clientCertificate, 'clientCertificate');
    const [cert, key, ca] = await Promise.all([
      readInto(ctx, [...tat, 'certFile'], 'certFile', t.certFile),
      readInto(ctx, [...tat, 'keyFile'], 'keyFile', t.keyFile),
      t.clientCaFile !== undefined ? readInto(ctx, [...tat, 'clientCaFile'], 'clientCaFile', t.clientCaFile) : undefined,
    ]);
    if (clientCertificate !== 'none' && t.clientCaFile === undefined) {
      ctx.report('error', [...tat, 'clientCertificate'], `clientCertificate "${clientCertificate}" needs clientCaFile (the CA bundle that signs client certificates)`);
    }
    const ciphers = t.ciphers ?? DEFAULT_CIPHERS;
    const minVersion = must(t.minVersion, 'minVersion');
    if (cert.data && key.data && (!ca || ca.data)) checkTlsFiles(cert.data, key.data, ca?.data, t.ciphers, minVersion, tat, ctx);
    tls = {
      certFile: cert.file,
      keyFile: key.file,
      cert: cert.data ?? Buffer.alloc(0),
      key: key.data ?? Buffer.alloc(0),
      clientCa: ca?.data,
      minVersion,
      ciphers,
      http2: must(t.http2, 'http2'),
      clientCertificate,
    };
  }
  return { name: l.name ?? `listener-${i}`, host, port: l.port, tls };
}

/**
 * Parse the certificate, key and CA now and build a TLS context once, so a bad file is a
 * config error with a position rather than a listener that fails at start-up.
 */
function checkTlsFiles(
  cert: Buffer,
  key: Buffer,
  ca: Buffer | undefined,
  ciphers: string | undefined,
  minVersion: 'TLSv1.2' | 'TLSv1.3',
  at: Segment[],
  ctx: LoadContext,
): void {
  let ok = true;
  const attempt = (where: Segment[], message: string, fn: () => unknown) => {
    try {
      fn();
    } catch {
      ctx.report('error', where, message);
      ok = false;
    }
  };
  attempt([...at, 'certFile'], 'certFile does not contain a PEM certificate', () => new X509Certificate(cert));
  attempt([...at, 'keyFile'], 'keyFile does not contain an unencrypted PEM private key', () => createPrivateKey(key));
  if (ca) attempt([...at, 'clientCaFile'], 'clientCaFile does not contain a PEM certificate', () => new X509Certificate(ca));
  if (ciphers !== undefined) attempt([...at, 'ciphers'], `no usable cipher in ${JSON.stringify(ciphers)}`, () => createSecureContext({ ciphers }));
  if (!ok) return;
  try {
    createSecureContext({ cert, key, ca, ciphers: ciphers ?? DEFAULT_CIPHERS, minVersion });
  } catch (err) {
    const msg = (err as Error).message;
    ctx.report('error', at, msg.includes('mismatch') ? 'the certificate and the private key do not match' : `cannot use this TLS configuration: ${msg}`);
  }
}

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]']);

function hostsOverlap(a: string, b: string): boolean {
  return a === b || WILDCARDS.has(a) || WILDCARDS.has(b);
}

function checkListenerClashes(listeners: readonly ListenerConfig[], ctx: LoadContext): void {
  const names = new Map<string, number>();
  listeners.forEach((l, i) => {
    const n = names.get(l.name);
    if (n !== undefined) ctx.report('error', ['listeners', i, 'name'], `duplicate listener name ${JSON.stringify(l.name)}; already used by listeners[${n}]`);
    else names.set(l.name, i);
    if (l.port === 0) return; // port 0: the system picks a free port each time
    const other = listeners.findIndex((o, j) => j < i && o.port === l.port && hostsOverlap(o.host, l.host));
    if (other >= 0) {
      const o = listeners[other] as ListenerConfig;
      ctx.report('error', ['listeners', i, 'port'], `${l.host}:${l.port} clashes with listeners[${other}] (${o.host}:${o.port})`);
    }
  });
}

function policy(x: RawApi | RawRoute, at: Segment[], limits: LimitsConfig, ctx: LoadContext): Omit<RoutePolicyConfig, 'ipRules'> {
  const stages = must(x.stages, 'stages');
  const stage = (name: keyof RoutePolicyConfig['stages']): StageSettingsConfig => {
    const s = must(stages[name], `stages.${name}`);
    return { mode: must(s.mode, 'mode'), onError: must(s.onError, 'onError') } as StageSettingsConfig;
  };
  return {
    public: must(x.public, 'public'),
    maxBodyBytes: x.maxBodyBytes ?? limits.maxBodyBytes,
    cors: x.cors ? cors(x.cors, [...at, 'cors'], ctx) : undefined,
    securityHeaders: securityHeaders(must(x.securityHeaders, 'securityHeaders')),
    bots: { enabled: x.bots?.enabled, challengeAt: x.bots?.challengeAt, denyAt: x.bots?.denyAt },
    threats: {
      paranoia: x.threats?.paranoia as RouteThreatsConfig['paranoia'],
      threshold: x.threats?.threshold,
      exclusions: (x.threats?.exclusions ?? []).map((e, j) => exclusion(e, [...at, 'threats', 'exclusions', j], 'spec' in x ? undefined : ctx)),
    },
    stages: {
      'ip-rules': stage('ip-rules'),
      cors: stage('cors'),
      authn: stage('authn'),
      authz: stage('authz'),
      bots: stage('bots'),
      contract: stage('contract'),
      properties: stage('properties'),
      threats: stage('threats'),
      'response-contract': stage('response-contract'),
      'security-headers': stage('security-headers'),
      bans: stage('bans'),
      'rate-limit': stage('rate-limit'),
      'brute-force': stage('brute-force'),
    },
  };
}

type RawExclusion = NonNullable<NonNullable<RawConfig['threats']>['exclusions']>[number];

/** `ctx` given: `operations` is refused (explicit routes and the top level have no operations). */
function exclusion(e: RawExclusion, at: Segment[], ctx: LoadContext | undefined): ThreatExclusionConfig {
  if (ctx !== undefined && e.operations !== undefined) ctx.report('error', [...at, 'operations'], 'operations only applies to the exclusions of an API (apis[].threats.exclusions)', true);
  return { detectors: must(e.detectors, 'detectors'), locations: must(e.locations, 'locations'), operations: e.operations };
}

function contractConfig(c: NonNullable<RawApi['contract']>): ContractConfig {
  const r = must(c.responses, 'contract.responses');
  const l = must(c.limits, 'contract.limits');
  return {
    strict: must(c.strict, 'contract.strict'),
    responses: {
      validate: must(r.validate, 'responses.validate') as ContractConfig['responses']['validate'],
      undeclaredProperties: must(r.undeclaredProperties, 'responses.undeclaredProperties') as ContractConfig['responses']['undeclaredProperties'],
      leakGuard: must(r.leakGuard, 'responses.leakGuard') as ContractConfig['responses']['leakGuard'],
      leakGuardInternalIps: must(r.leakGuardInternalIps, 'responses.leakGuardInternalIps'),
    },
    limits: {
      maxQueryParams: must(l.maxQueryParams, 'limits.maxQueryParams'),
      maxDepth: must(l.maxDepth, 'limits.maxDepth'),
      maxKeys: must(l.maxKeys, 'limits.maxKeys'),
      maxStringLength: must(l.maxStringLength, 'limits.maxStringLength'),
      maxArrayLength: must(l.maxArrayLength, 'limits.maxArrayLength'),
      maxParts: must(l.maxParts, 'limits.maxParts'),
      maxPartBytes: must(l.maxPartBytes, 'limits.maxPartBytes'),
    },
  };
}

function cors(c: RawCors, at: Segment[], ctx: LoadContext): CorsConfig {
  const allowCredentials = must(c.allowCredentials, 'allowCredentials');
  c.allowOrigins.forEach((o, j) => {
    if (o !== '*' && !isOrigin(o)) {
      ctx.report('error', [...at, 'allowOrigins', j], `invalid origin ${JSON.stringify(o)}; expected scheme://host[:port] in lowercase with no path, e.g. https://app.example.com`);
    }
  });
  if (allowCredentials && c.allowOrigins.includes('*')) {
    ctx.report('error', [...at, 'allowCredentials'], 'allowCredentials: true cannot be combined with allowOrigins "*"; list the exact origins');
  }
  return {
    allowOrigins: c.allowOrigins,
    allowMethods: c.allowMethods as HttpMethodName[] | undefined,
    allowHeaders: must(c.allowHeaders, 'allowHeaders').map((h) => h.toLowerCase()),
    exposeHeaders: must(c.exposeHeaders, 'exposeHeaders').map((h) => h.toLowerCase()),
    allowCredentials,
    maxAgeSeconds: must(c.maxAgeSeconds, 'maxAgeSeconds'),
  };
}

function securityHeaders(s: RawSecurityHeaders): SecurityHeadersConfig {
  return {
    contentTypeOptions: must(s.contentTypeOptions, 'contentTypeOptions'),
    frameOptions: must(s.frameOptions, 'frameOptions') as SecurityHeadersConfig['frameOptions'],
    contentSecurityPolicy: must(s.contentSecurityPolicy, 'contentSecurityPolicy') as string | false,
    referrerPolicy: must(s.referrerPolicy, 'referrerPolicy') as string | false,
    noStoreWhenAuthenticated: must(s.noStoreWhenAuthenticated, 'noStoreWhenAuthenticated'),
    removeBanners: must(s.removeBanners, 'removeBanners').map((h) => h.toLowerCase()),
  };
}

async function upstream(name: string, u: RawUpstream, hasTls: boolean, at: Segment[], ctx: LoadContext): Promise<UpstreamConfig> {
  const { origin, pathPrefix } = splitUrl(u.url);
  let tls: UpstreamConfig['tls'];
  if (hasTls && u.tls) {
    const insecureSkipVerify = must(u.tls.insecureSkipVerify, 'insecureSkipVerify');
    if (insecureSkipVerify) {
      ctx.report('warning', [...at, 'tls', 'insecureSkipVerify'], 'insecureSkipVerify: true turns off certificate verification for this upstream; use it for tests only');
    }
    if (!u.url.startsWith('https:')) ctx.report('warning', [...at, 'tls'], 'tls settings have no effect on an http:// upstream');
    const ca = u.tls.caFile !== undefined ? await readInto(ctx, [...at, 'tls', 'caFile'], 'caFile', u.tls.caFile) : undefined;
    tls = { ca: ca?.data, serverName: u.tls.serverName, insecureSkipVerify };
  }
  return {
    name,
    origin,
    pathPrefix,
    connections: must(u.connections, 'connections'),
    pipelining: must(u.pipelining, 'pipelining'),
    connectTimeoutMs: must(u.connectTimeoutMs, 'connectTimeoutMs'),
    headersTimeoutMs: must(u.headersTimeoutMs, 'headersTimeoutMs'),
    bodyTimeoutMs: must(u.bodyTimeoutMs, 'bodyTimeoutMs'),
    totalTimeoutMs: must(u.totalTimeoutMs, 'totalTimeoutMs'),
    keepAliveTimeoutMs: must(u.keepAliveTimeoutMs, 'keepAliveTimeoutMs'),
    tls,
    loadShedding:
      u.loadShedding === undefined
        ? undefined
        : { maxConcurrent: u.loadShedding.maxConcurrent, maxQueue: must(u.loadShedding.maxQueue, 'maxQueue'), queueTimeoutMs: must(u.loadShedding.queueTimeoutMs, 'queueTimeoutMs') },
  };
}

/** An upstream named by URL in an API or route: default pool settings, keyed by the URL. */
function inlineUpstream(url: string): UpstreamConfig {
  const { origin, pathPrefix } = splitUrl(url);
  const d = UPSTREAM_DEFAULTS;
  return { name: url, origin, pathPrefix, ...d, tls: undefined, loadShedding: undefined };
}

// The settings a named upstream gets when it sets nothing, read from the schema.
const UPSTREAM_DEFAULTS = (() => {
  const up = Object.values((ConfigSchema.properties.upstreams as unknown as SchemaNode).patternProperties ?? {})[0];
  const def = (k: string) => must(up?.properties?.[k]?.default as number | undefined, `upstream ${k} default`);
  return {
    connections: def('connections'),
    pipelining: def('pipelining'),
    connectTimeoutMs: def('connectTimeoutMs'),
    headersTimeoutMs: def('headersTimeoutMs'),
    bodyTimeoutMs: def('bodyTimeoutMs'),
    totalTimeoutMs: def('totalTimeoutMs'),
    keepAliveTimeoutMs: def('keepAliveTimeoutMs'),
  };
})();

function splitUrl(url: string): { origin: string; pathPrefix: string } {
  const u = new URL(url);
  let pathPrefix = u.pathname;
  while (pathPrefix.endsWith('/')) pathPrefix = pathPrefix.slice(0, -1);
  return { origin: u.origin, pathPrefix };
}

function isHttpUrl(s: string): boolean {
  if (!(s.startsWith('http://') || s.startsWith('https://'))) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '?' || c === '#' || c.trim() === '') return false;
  }
  try {
    return new URL(s).hostname !== '';
  } catch {
    return false;
  }
}

function isOrigin(o: string): boolean {
  try {
    const u = new URL(o);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === o;
  } catch {
    return false;
  }
}

/** An IPv4/IPv6 address or CIDR with a prefix length in range. */
export function isIpOrCidr(s: string): boolean {
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return false;
  if (slash < 0) return true;
  const prefix = s.slice(slash + 1);
  if (prefix.length === 0 || prefix.length > 3) return false;
  for (const ch of prefix) if (ch < '0' || ch > '9') return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * Problems with a route path template, or undefined when it is well formed: literal
 * segments, whole-segment `{param}`s with distinct non-empty names, an optional final `*`.
 */
export function routeTemplateProblem(template: string): string | undefined {
  if (!template.startsWith('/')) return 'expected it to start with "/"';
  const segments = template.slice(1).split('/');
  const names = new Set<string>();
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i] as string;
    const last = i === segments.length - 1;
    if (seg === '') {
      if (last) continue; // a trailing slash is a literal part of the path
      return 'empty segment ("//")';
    }
    if (seg === '*') {
      if (!last) return '"*" is only allowed as the last segment';
      continue;
    }
    if (seg.startsWith('{') && seg.endsWith('}')) {
      const name = seg.slice(1, -1);
      if (name === '') return 'empty parameter name "{}"';
      for (const ch of name) {
        const ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch === '_';
        if (!ok) return `invalid parameter name "${name}"; use letters, digits and "_"`;
      }
      if (names.has(name)) return `parameter "${name}" appears twice`;
      names.add(name);
      continue;
    }
    for (const ch of seg) {
      if (ch === '{' || ch === '}') return `segment "${seg}": a parameter must be a whole segment like {id}`;
      if (ch === '*') return `segment "${seg}": "*" must be a whole, final segment`;
      if (ch === '?' || ch === '#') return 'a path template has no query or fragment';
    }
  }
  return undefined;
}

async function loadSpec(specFile: string, written: string, at: Segment[], ctx: LoadContext): Promise<LoadOpenApiResult | undefined> {
  try {
    await ctx.read(specFile);
  } catch (err) {
    ctx.report('error', at, `cannot read OpenAPI document ${JSON.stringify(written)}: ${describeFsError(err)}`);
    return undefined;
  }
  const result = await loadOpenApi(specFile, { readFile: ctx.read });
  ctx.files.push(...result.files);
  ctx.diagnostics.push(...result.diagnostics);
  if (!result.spec && !result.diagnostics.some((d) => d.severity === 'error')) {
    ctx.report('error', at, `OpenAPI document ${displayPath(specFile)} could not be loaded`);
  }
  return result;
}
