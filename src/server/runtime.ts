/**
 * Compiles a loaded Config into what the data plane serves from: a route table whose entries
 * carry their compiled stage chain and upstream pool. Built completely before it replaces the
 * running one, so a reload is atomic and requests in flight finish on the runtime they started with.
 */
import { AbuseState, routeAbuseStages } from '../abuse/index.js';
import type { AccessConfig, AccessPolicies, ApiConfig, Config, Diagnostic, HttpMethodName, RequirementConfig, RoutePolicyConfig } from '../config/types.js';
import { AuthnStage, type CompiledRequirement } from '../identity/authn.js';
import { Identity } from '../identity/registry.js';
import { RolesStage } from '../access/roles.js';
import { OwnershipStage, PropertyReadStage, PropertyWriteStage } from '../access/stages.js';
import type { OperationContract } from '../config/contract.js';
import { ContractBodyStage, ContractHeadStage, ResponseContractStage } from '../contract/stages.js';
import type { ChainEntry, RouteInfo, Stage, StageName } from '../pipeline/types.js';
import { CorsStage } from '../proxy/cors.js';
import { SecurityHeadersStage } from '../proxy/security-headers.js';
import { createThreatEngine, ThreatBodyStage, ThreatHeadStage } from '../threats/index.js';
import { UpstreamPool, upstreamKey } from '../proxy/upstream.js';
import { RouteConflictError, RouteTable, type RouteSpec } from '../routing/router.js';
import { TrustedProxies } from './clientip.js';
import { BotSignals, BotsStage, ChallengeService, IpRulesStage, processChallengeKey } from '../abuse/index.js';

export interface CompiledRoute {
  readonly info: RouteInfo;
  /** Request stages in order; response stages run over `reversed`. */
  readonly chain: readonly ChainEntry[];
  readonly reversed: readonly ChainEntry[];
  /**
   * `chain` split for requests: stages that only look at the head run first (a refusal then
   * costs no buffering); stages with `needsBody` run once the body is read, in chain order.
   */
  readonly headChain: readonly ChainEntry[];
  readonly bodyChain: readonly ChainEntry[];
  /** Stages that may rewrite the response body (in response order); empty for most routes. */
  readonly responseBodyChain: readonly ChainEntry[];
  /** The CORS stage entry, used for preflights (they carry no credentials) after the IP rules. */
  readonly preflight: { readonly stage: CorsStage; readonly entry: ChainEntry; readonly ipRules: ChainEntry | undefined } | undefined;
  readonly upstream: UpstreamPool;
  /** Public prefix removed before forwarding ('' for none). */
  readonly stripPrefix: string;
  /** Upstream URL path prefix added before forwarding ('' for none). */
  readonly upstreamPrefix: string;
  readonly banners: ReadonlySet<string>;
}

export interface Runtime {
  readonly config: Config;
  readonly table: RouteTable<CompiledRoute>;
  readonly pools: ReadonlyMap<string, UpstreamPool>;
  readonly trusted: TrustedProxies;
  /** The identity schemes' verifiers (JWKS caches, token caches, the key store). */
  readonly identity: Identity;
  /** Rate-limit counters, bans, brute-force counters and their store; kept across reloads when the store settings are unchanged. */
  readonly abuse: AbuseState;
  /** Strict-Transport-Security value for TLS responses, or undefined. */
  readonly hsts: string | undefined;
  readonly httpsPort: number | undefined;
  readonly loadedAt: number;
  /** Issues and checks proof-of-work challenges and clearances (any stage may challenge). */
  readonly challenge: ChallengeService;
  /** Bot settings and the per-client rate counter shared by every bots stage. */
  readonly bots: BotSignals;
}

export type BuildResult = { readonly ok: true; readonly runtime: Runtime } | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

function entry(stage: Stage, policy: RoutePolicyConfig, name: StageName): ChainEntry | undefined {
  const s = policy.stages[name];
  if (s.mode === 'off') return undefined;
  return Object.freeze({ stage, mode: s.mode, onError: s.onError });
}

/** An operation is public when the API says so, or when the spec says `security: []` (or `[{}]`: anonymous allowed). */
function operationIsPublic(api: ApiConfig, security: ApiConfig['spec']['operations'][number]['security']): boolean {
  if (api.public) return true;
  if (security === undefined) return false;
  return security.length === 0 || security.some((req) => Object.keys(req).length === 0);
}

function joinPrefix(prefix: string, path: string): string {
  if (prefix === '') return path;
  return path === '/' ? prefix : prefix + path;
}

/**
 * Builds a runtime. Pools from `previous` are reused when their settings are unchanged, so a
 * reload keeps warm upstream connections.
 */
export function buildRuntime(config: Config, previous?: Runtime): BuildResult {
  const pools = new Map<string, UpstreamPool>();
  const poolFor = (name: string): UpstreamPool => {
    let pool = pools.get(name);
    if (pool !== undefined) return pool;
    const cfg = config.upstreams[name];
    if (cfg === undefined) throw new Error(`upstream ${name} missing after validation`);
    const old = previous?.pools.get(name);
    pool = old !== undefined && old.key === upstreamKey(cfg) ? old : new UpstreamPool(cfg);
    pools.set(name, pool);
    return pool;
  };

  let identity: Identity;
  try {
    identity = Identity.build(config, previous?.identity);
  } catch (err) {
    const loc = config.locate(['identity']);
    return {
      ok: false,
      diagnostics: [
        { severity: 'error', file: loc.file, line: loc.line, column: loc.column, path: 'identity', message: `cannot set up identity: ${err instanceof Error ? err.message : String(err)}` },
      ],
    };
  }
  const DEFAULT_SECURITY: readonly RequirementConfig[] = [{ schemes: [{ scheme: 'apiKey', scopes: [] }] }];
  const requirements = (security: readonly RequirementConfig[] | undefined): CompiledRequirement[] =>
    (security ?? DEFAULT_SECURITY).map((r) => ({
      schemes: r.schemes.map(({ scheme, scopes }) => {
        const verifier = identity.verifiers.get(scheme);
        if (verifier === undefined) throw new Error(`identity scheme ${scheme} missing after validation`);
        return { verifier, scopes };
      }),
    }));
  const specs: RouteSpec<CompiledRoute>[] = [];
  const owners: string[] = [];
  const bots = new BotSignals(config.bots, previous?.bots);
  const abuse = AbuseState.for(config.abuse, config.workers, previous?.abuse);
  // With an admin token, POST /admin/bans can ban anyone: every route checks the ban lists.
  const adminBans = config.admin.enabled && config.admin.token !== undefined && config.admin.token !== '';

  const compile = (
    policy: RoutePolicyConfig,
    info: RouteInfo,
    methods: readonly HttpMethodName[],
    stripPrefix: string,
    access: AccessConfig | undefined,
    policies: AccessPolicies,
    contract?: { readonly op: OperationContract; readonly cfg: ApiConfig['contract'] },
  ): CompiledRoute => {
    const upstream = poolFor(info.upstream);
    const chain: ChainEntry[] = [];
    const push = (stage: Stage | undefined, name: StageName) => {
      if (stage === undefined) return;
      const e = entry(stage, policy, name);
      if (e !== undefined) chain.push(e);
    };
    const guard = routeAbuseStages(abuse, config.abuse, info, adminBans);
    // First: a refused address costs nothing else (no credential check, no body read).
    const ipr = policy.ipRules;
    const ipStage = new IpRulesStage([ipr.inherit ? config.ipRules.deny : undefined, ipr.deny], [ipr.inherit ? config.ipRules.allow : undefined, ipr.allow]);
    const ipEntry = ipStage.active ? entry(ipStage, policy, 'ip-rules') : undefined;
    if (ipEntry !== undefined) chain.push(ipEntry);
    let preflight: CompiledRoute['preflight'];
    if (policy.cors !== undefined) {
      const cors = new CorsStage(policy.cors, methods);
      const e = entry(cors, policy, 'cors');
      if (e !== undefined) {
        chain.push(e);
        preflight = { stage: cors, entry: e, ipRules: ipEntry };
      }
    }
    // Banned clients and unauthenticated floods are refused before anything costly (after CORS,
    // so that a browser can read the refusal).
    push(guard.bans, 'bans');
    push(guard.early, 'rate-limit');
    if (!info.public) {
      const e = entry(new AuthnStage(requirements(access?.security)), policy, 'authn');
      if (e !== undefined) chain.push(e);
      if (access?.roles !== undefined) {
        const r = entry(new RolesStage(access.roles), policy, 'authz');
        if (r !== undefined) chain.push(r);
      }
      if (policies.ownership !== undefined) {
        const o = entry(new OwnershipStage(policies.ownership), policy, 'authz');
        if (o !== undefined) chain.push(o);
      }
    }
    // Abuse after identity and access (DESIGN.md): banned principals, bot signals (authenticated
    // callers are not scored), per-principal limits, then login protection.
    push(guard.principalBans, 'bans');
    const opBots = config.abuse.routes.get(info.id)?.bots;
    if (opBots?.enabled ?? policy.bots.enabled ?? config.bots.enabled) {
      const challengeAt = opBots?.challengeAt ?? policy.bots.challengeAt ?? config.bots.challengeAt;
      push(new BotsStage(bots, challengeAt, opBots?.denyAt ?? policy.bots.denyAt ?? config.bots.denyAt), 'bots');
    }
    push(guard.late, 'rate-limit');
    push(guard.bruteForce, 'brute-force');
    // Property write rules (after the contract) read the parsed body the contract stage hands on.
    const writeRules = policies.write !== undefined && PropertyWriteStage.applies(methods[0] ?? 'GET');
    // Threat detection reads the contract's typed inputs (values proved harmless are not scanned).
    let threats: ChainEntry[] | undefined;
    if (config.threats.enabled) {
      const engine = createThreatEngine(config.threats, policy.threats, info.operationId);
      const head = entry(new ThreatHeadStage(engine), policy, 'threats');
      if (head !== undefined) threats = [head, entry(new ThreatBodyStage(engine), policy, 'threats')!];
    }
    if (contract !== undefined) {
      const c = contract.op;
      const head = entry(new ContractHeadStage(c.params, c.body, { deprecated: c.deprecated, sunset: c.sunset }), policy, 'contract');
      if (head !== undefined) chain.push(head);
      if (c.body !== undefined) {
        const b = entry(new ContractBodyStage(c.body, { inputs: threats !== undefined, value: writeRules }), policy, 'contract');
        if (b !== undefined) chain.push(b);
      }
    }
    if (writeRules) {
      const w = entry(new PropertyWriteStage(policies.write!), policy, 'properties');
      if (w !== undefined) chain.push(w);
    }
    if (policies.read !== undefined) {
      const r = entry(new PropertyReadStage(policies.read), policy, 'properties');
      if (r !== undefined) chain.push(r);
    }
    if (threats !== undefined) chain.push(...threats);
    const sh = entry(new SecurityHeadersStage(policy.securityHeaders), policy, 'security-headers');
    if (sh !== undefined) chain.push(sh);
    if (contract !== undefined) {
      // Last in the chain, so first on the way back: the leak guard sees the upstream's bytes.
      const r = contract.cfg.responses;
      const stage = new ResponseContractStage(contract.op.responses, {
        validate: r.validate,
        undeclared: contract.op.undeclared,
        leakGuard: r.leakGuard,
        internalIps: r.leakGuardInternalIps,
      });
      const e = entry(stage, policy, 'response-contract');
      if (e !== undefined) chain.push(e);
    }
    return {
      info,
      chain,
      reversed: [...chain].reverse(),
      preflight,
      headChain: chain.filter((e) => e.stage.needsBody !== true),
      bodyChain: chain.filter((e) => e.stage.needsBody === true),
      responseBodyChain: [...chain].reverse().filter((e) => e.stage.onResponseBody !== undefined),
      upstream,
      stripPrefix,
      upstreamPrefix: upstream.cfg.pathPrefix,
      banners: new Set(policy.securityHeaders.removeBanners.map((b) => b.toLowerCase())),
    };
  };

  for (const api of config.apis) {
    for (const op of api.spec.operations) {
      const pub = operationIsPublic(api, op.security);
      const info: RouteInfo = Object.freeze({
        id: `${api.name}:${op.operationId}`,
        api: api.name,
        operationId: op.operationId,
        public: pub,
        upstream: api.upstream,
        maxBodyBytes: api.maxBodyBytes,
        deprecated: op.deprecated,
      });
      const access = api.access.get(op.operationId);
      specs.push({
        methods: [op.method],
        template: joinPrefix(api.basePath, op.path),
        hosts: api.hosts,
        value: compile({ ...api, public: pub }, info, [op.method], api.stripBasePath ? api.basePath : '', access, access?.policies ?? NO_POLICIES, contractOf(api, op.operationId)),
      });
      owners.push(api.keyPath);
    }
  }
  for (const route of config.routes) {
    const info: RouteInfo = Object.freeze({
      id: `route:${route.name}`,
      api: undefined,
      operationId: undefined,
      public: route.public,
      upstream: route.upstream,
      maxBodyBytes: route.maxBodyBytes,
    });
    specs.push({ methods: route.methods, template: route.path, hosts: route.hosts, value: compile(route, info, route.methods, '', route.access, route.access.policies) });
    owners.push(route.keyPath);
  }

  let table: RouteTable<CompiledRoute>;
  try {
    table = new RouteTable(specs);
  } catch (err) {
    // Close pools we created for nothing; never the ones still serving.
    for (const pool of pools.values()) if (previous?.pools.get(pool.cfg.name) !== pool) void pool.destroy();
    identity.retire(previous?.identity);
    if (err instanceof RouteConflictError) {
      const keyPath = owners[err.index] ?? '';
      const loc = config.locate(parseKeyPath(keyPath));
      return {
        ok: false,
        diagnostics: [{ severity: 'error', file: loc.file, line: loc.line, column: loc.column, path: keyPath, message: `route conflict: ${err.message}` }],
      };
    }
    throw err;
  }

  const hsts = config.tls.hsts;
  const firstTls = config.listeners.find((l) => l.tls !== undefined);
  const cc = config.bots.challenge;
  const challenge = new ChallengeService(cc, cc.secret === undefined ? processChallengeKey() : Buffer.from(cc.secret, 'utf8'), cc.secret === undefined, previous?.challenge);
  return {
    ok: true,
    runtime: {
      config,
      table,
      pools,
      trusted: new TrustedProxies(config.trustedProxies),
      identity,
      abuse,
      hsts:
        hsts.maxAgeSeconds > 0
          ? `max-age=${hsts.maxAgeSeconds}${hsts.includeSubDomains ? '; includeSubDomains' : ''}${hsts.preload ? '; preload' : ''}`
          : undefined,
      httpsPort: config.tls.httpsPort ?? firstTls?.port,
      loadedAt: Date.now(),
      challenge,
      bots,
    },
  };
}

const NO_POLICIES: AccessPolicies = Object.freeze({ ownership: undefined, write: undefined, read: undefined });

function contractOf(api: ApiConfig, operationId: string): { op: OperationContract; cfg: ApiConfig['contract'] } | undefined {
  const op = api.contracts.get(operationId);
  return op === undefined ? undefined : { op, cfg: api.contract };
}

/** `apis[0]` → ['apis', 0]. */
function parseKeyPath(keyPath: string): (string | number)[] {
  const out: (string | number)[] = [];
  for (const part of keyPath.split('.')) {
    const bracket = part.indexOf('[');
    if (bracket < 0) {
      if (part) out.push(part);
      continue;
    }
    out.push(part.slice(0, bracket));
    out.push(Number(part.slice(bracket + 1, part.indexOf(']'))));
  }
  return out;
}

/** Closes the pools of `old` that `next` does not use any more, after their in-flight exchanges. */
export async function retireRuntime(old: Runtime, next: Runtime | undefined): Promise<void> {
  const closing: Promise<void>[] = [];
  for (const [name, pool] of old.pools) {
    if (next?.pools.get(name) !== pool) closing.push(pool.close().catch(() => undefined));
  }
  await Promise.all(closing);
  old.identity.retire(next?.identity);
  if (next?.abuse !== old.abuse) await old.abuse.close();
}
