/**
 * Abuse-protection settings: the store, named rate limits and where they apply (top level, API,
 * route, operation through `x-portcullis-rate-limit`), bans, and brute-force protection of
 * login operations (`x-portcullis-login`, `apis[].login`, `routes[].login`). Resolved per route
 * id here, at load time, so `portcullis check` reports an unknown limit name, a bad time zone or
 * a bad extension with its position.
 */
import { operationObject } from '../access/schema-resolve.js';
import type { LoadContext } from './normalize.js';
import type { RawApi, RawConfig, RawRoute } from './schema.js';
import type { Segment } from './source.js';
import type { AbuseConfig, LimitConfig, LoadedSpec, LoginConfig, RouteAbuseConfig, StoreConfig } from './types.js';

/** Most limits on one route (each is one counter per request). */
export const MAX_LIMITS_PER_ROUTE = 16;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const MONTH_MS = 31 * 86_400_000;

/** `15m` → 900000. The schema guarantees the shape. */
export function durationMs(text: string): number {
  const unit = text.endsWith('ms') ? 'ms' : text.slice(-1);
  return Number(text.slice(0, text.length - unit.length)) * (UNIT_MS[unit] ?? NaN);
}

function must<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`config normalization: ${what} has no value after defaults`);
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** A username location as a JSON pointer (`username` → `/username`). */
function usernamePointer(field: string): string {
  return field.startsWith('/') ? field : '/' + field.replaceAll('~', '~0').replaceAll('/', '~1');
}

interface ApiInput {
  readonly a: RawApi;
  readonly i: number;
  readonly spec: LoadedSpec | undefined;
}

type RawBinding = NonNullable<RawApi['rateLimits']>;

export function normalizeAbuse(filled: RawConfig, apis: readonly ApiInput[], routes: readonly RawRoute[], workers: number, ctx: LoadContext): AbuseConfig {
  const error = (at: readonly Segment[], message: string, onKey = false) => ctx.report('error', at, message, onKey);

  // The store.
  const st = must(filled.store, 'store');
  const type = must(st.type, 'store.type');
  let redis: StoreConfig['redis'];
  if (st.redis !== undefined) {
    const r = st.redis;
    redis = {
      url: r.url,
      cluster: must(r.cluster, 'redis.cluster'),
      password: r.password,
      username: r.username,
      keyPrefix: must(r.keyPrefix, 'redis.keyPrefix'),
      connectTimeoutMs: must(r.connectTimeoutMs, 'redis.connectTimeoutMs'),
      commandTimeoutMs: must(r.commandTimeoutMs, 'redis.commandTimeoutMs'),
      onUnavailable: must(r.onUnavailable, 'redis.onUnavailable'),
      localDivisor: must(r.localDivisor, 'redis.localDivisor'),
    };
  }
  if (type === 'redis' && redis === undefined) error(['store', 'type'], 'store.type redis needs store.redis.url');
  if (type === 'memory' && st.redis !== undefined) ctx.report('warning', ['store', 'redis'], 'store.redis is ignored while store.type is memory');
  const store: StoreConfig = { type, memory: { maxEntries: must(st.memory?.maxEntries, 'store.memory.maxEntries') }, redis };

  // Named limits.
  const rl = must(filled.rateLimits, 'rateLimits');
  const limits = new Map<string, LimitConfig>();
  for (const [name, d] of Object.entries(must(rl.limits, 'rateLimits.limits'))) {
    const at: Segment[] = ['rateLimits', 'limits', name];
    const algorithm = must(d.algorithm, 'algorithm');
    const month = d.window === 'month';
    const windowMs = month ? MONTH_MS : durationMs(d.window);
    if (month && algorithm !== 'fixed-window') error([...at, 'window'], `window "month" needs algorithm fixed-window (${algorithm} needs a fixed-length window)`);
    if (d.burst !== undefined && algorithm !== 'gcra') error([...at, 'burst'], `burst only applies to algorithm gcra (this limit is ${algorithm})`, true);
    let timeZone: string | undefined;
    const wholeDays = !month && windowMs % 86_400_000 === 0;
    if (d.timeZone !== undefined) {
      if (algorithm !== 'fixed-window' || !(month || wholeDays)) {
        error([...at, 'timeZone'], 'timeZone only applies to a fixed-window of whole days or a month (other windows are aligned to the epoch)', true);
      } else if (!validTimeZone(d.timeZone)) {
        error([...at, 'timeZone'], `unknown time zone ${JSON.stringify(d.timeZone)}; expected an IANA name such as UTC or Europe/Berlin`);
      } else {
        timeZone = d.timeZone;
      }
    }
    // Months always follow the calendar (UTC unless a zone is named); day windows without a
    // zone are aligned to the epoch, which is UTC midnight.
    if (month && timeZone === undefined) timeZone = 'UTC';
    const key = must(d.key, 'key').map((p) => (p.startsWith('header:') ? p.toLowerCase() : p));
    limits.set(name, {
      name,
      key,
      algorithm,
      limit: d.limit,
      windowMs,
      month,
      burst: d.burst ?? d.limit,
      timeZone,
      whenMissing: must(d.whenMissing, 'whenMissing'),
    });
  }
  const known = (names: readonly string[], at: Segment[]): string[] =>
    names.filter((n, j) => {
      if (limits.has(n)) return true;
      error([...at, j], `unknown limit ${JSON.stringify(n)}; defined in rateLimits.limits: ${[...limits.keys()].join(', ') || 'none'}`);
      return false;
    });
  const globalApply = known(must(rl.apply, 'rateLimits.apply'), ['rateLimits', 'apply']);
  if (workers > 1 && type === 'memory' && limits.size > 0) {
    ctx.report(
      'warning',
      ['store', 'type'],
      `with workers: ${workers} and the memory store, every limit is split between the workers (each allows limit/${workers}); use store.type redis for limits that are exact across workers`,
    );
  }

  // Brute force defaults.
  const bf = must(filled.bruteForce, 'bruteForce');
  const defaultLogin: LoginConfig = { usernamePointer: usernamePointer(must(bf.usernameField, 'usernameField')), failureStatuses: must(bf.failureStatuses, 'failureStatuses') };
  const login = (x: { usernameField?: string; failureStatuses?: number[] } | undefined): LoginConfig => ({
    usernamePointer: x?.usernameField !== undefined ? usernamePointer(x.usernameField) : defaultLogin.usernamePointer,
    failureStatuses: x?.failureStatuses ?? defaultLogin.failureStatuses,
  });

  const out = new Map<string, RouteAbuseConfig>();
  const bind = (parent: readonly string[], b: RawBinding | undefined, at: Segment[]): { limits: string[]; cost: number } => {
    const own = known(b?.apply ?? [], [...at, 'apply']);
    const inherit = b?.inherit ?? true;
    const all = [...(inherit ? parent : []), ...own.filter((n) => !(inherit && parent.includes(n)))];
    return { limits: all, cost: b?.cost ?? 1 };
  };
  const put = (id: string, r: RouteAbuseConfig, report: (m: string) => void) => {
    if (r.limits.length > MAX_LIMITS_PER_ROUTE) report(`${r.limits.length} rate limits apply here; at most ${MAX_LIMITS_PER_ROUTE}`);
    if (r.limits.length > 0 || r.login !== undefined || r.bots !== undefined) out.set(id, r);
  };

  for (const { a, i, spec } of apis) {
    const at: Segment[] = ['apis', i];
    const api = bind(globalApply, a.rateLimits, [...at, 'rateLimits']);
    const logins = new Set(a.login?.operations ?? []);
    if (spec === undefined) continue;
    const opIds = new Set(spec.operations.map((o) => o.operationId));
    a.login?.operations.forEach((id, k) => {
      if (!opIds.has(id)) error([...at, 'login', 'operations', k], `no operation ${JSON.stringify(id)} in the API's OpenAPI document`);
    });
    for (const op of spec.operations) {
      const report = (message: string) =>
        ctx.diagnostics.push({ severity: 'error', file: spec.file, line: op.location.line, column: op.location.column, path: op.pointer, message });
      const o = operationObject(spec, op.pointer) ?? {};
      let binding = api;
      const x = o['x-portcullis-rate-limit'];
      if (x !== undefined) {
        const parsed = parseBinding(x, limits, report);
        if (parsed !== undefined) {
          const own = parsed.apply;
          binding = { limits: [...(parsed.inherit ? api.limits : []), ...own.filter((n) => !(parsed.inherit && api.limits.includes(n)))], cost: parsed.cost ?? api.cost };
        }
      }
      let opLogin: LoginConfig | undefined;
      const xl = o['x-portcullis-login'];
      if (xl !== undefined) {
        if (xl === true) opLogin = login(undefined);
        else if (xl === false) opLogin = undefined;
        else {
          const p = parseLogin(xl, report);
          if (p !== undefined) opLogin = login(p);
        }
      }
      if (logins.has(op.operationId)) opLogin ??= login(a.login);
      const xb = o['x-portcullis-bots'];
      const opBots = xb === undefined ? undefined : parseBots(xb, report);
      put(`${a.name}:${op.operationId}`, { limits: binding.limits, cost: binding.cost, login: opLogin, ...(opBots === undefined ? {} : { bots: opBots }) }, report);
    }
  }
  routes.forEach((r, i) => {
    const at: Segment[] = ['routes', i];
    const b = bind(globalApply, r.rateLimits, [...at, 'rateLimits']);
    const l = r.login === undefined ? undefined : login(r.login === true ? undefined : r.login);
    put(`route:${r.name}`, { limits: b.limits, cost: b.cost, login: l }, (m) => error([...at, 'rateLimits'], m));
  });

  const onAttacks = filled.bans?.onAttacks;
  const perIp = must(bf.perIp, 'perIp');
  const perUsername = must(bf.perUsername, 'perUsername');
  const stuffing = must(bf.stuffing, 'stuffing');
  return {
    store,
    rateLimits: { headers: must(rl.headers, 'rateLimits.headers'), limits },
    bans: {
      onAttacks:
        onAttacks === undefined
          ? undefined
          : { threshold: onAttacks.threshold, windowMs: durationMs(must(onAttacks.window, 'window')), ttlMs: durationMs(must(onAttacks.ttl, 'ttl')) },
    },
    bruteForce: {
      windowMs: durationMs(must(bf.window, 'bruteForce.window')),
      perIp: { delayAfter: must(perIp.delayAfter, 'delayAfter'), banAfter: must(perIp.banAfter, 'banAfter') },
      perUsername: { delayAfter: must(perUsername.delayAfter, 'delayAfter'), lockAfter: must(perUsername.lockAfter, 'lockAfter') },
      delayBaseMs: must(bf.delayBaseMs, 'delayBaseMs'),
      maxDelayMs: must(bf.maxDelayMs, 'maxDelayMs'),
      banTtlMs: durationMs(must(bf.banTtl, 'banTtl')),
      stuffing: {
        threshold: must(stuffing.threshold, 'threshold'),
        windowMs: durationMs(must(stuffing.window, 'window')),
        challengeForMs: durationMs(must(stuffing.challengeFor, 'challengeFor')),
      },
    },
    routes: out,
  };
}

/** `x-portcullis-rate-limit: { apply: [names], cost, inherit }`. */
function parseBinding(x: unknown, limits: ReadonlyMap<string, LimitConfig>, report: (m: string) => void): { apply: string[]; cost: number | undefined; inherit: boolean } | undefined {
  const what = 'x-portcullis-rate-limit';
  if (!isObject(x)) {
    report(`${what}: expected an object { apply: [limit names], cost: 1, inherit: true }`);
    return undefined;
  }
  let ok = true;
  for (const k of Object.keys(x)) {
    if (k !== 'apply' && k !== 'cost' && k !== 'inherit') {
      report(`${what}: unknown key "${k}"; expected apply, cost, inherit`);
      ok = false;
    }
  }
  const apply = x.apply ?? [];
  if (!Array.isArray(apply) || !apply.every((n) => typeof n === 'string')) {
    report(`${what}.apply: expected a list of limit names`);
    ok = false;
  } else {
    for (const n of apply as string[]) {
      if (!limits.has(n)) {
        report(`${what}.apply: unknown limit ${JSON.stringify(n)}; defined in rateLimits.limits: ${[...limits.keys()].join(', ') || 'none'}`);
        ok = false;
      }
    }
  }
  const cost = x.cost;
  if (cost !== undefined && !(Number.isInteger(cost) && (cost as number) >= 1 && (cost as number) <= 1_000_000)) {
    report(`${what}.cost: expected an integer from 1 to 1000000`);
    ok = false;
  }
  const inherit = x.inherit ?? true;
  if (typeof inherit !== 'boolean') {
    report(`${what}.inherit: expected true or false`);
    ok = false;
  }
  return ok ? { apply: apply as string[], cost: cost as number | undefined, inherit: inherit as boolean } : undefined;
}

/** `x-portcullis-bots: true | false | { enabled, challengeAt, denyAt }`: the bots stage for one operation. */
function parseBots(x: unknown, report: (m: string) => void): RouteAbuseConfig['bots'] {
  const what = 'x-portcullis-bots';
  if (x === true || x === false) return { enabled: x, challengeAt: undefined, denyAt: undefined };
  if (!isObject(x)) {
    report(`${what}: expected true, false or an object { enabled: true, challengeAt: 4, denyAt: 10 }`);
    return undefined;
  }
  let ok = true;
  for (const k of Object.keys(x)) {
    if (k !== 'enabled' && k !== 'challengeAt' && k !== 'denyAt') {
      report(`${what}: unknown key "${k}"; expected enabled, challengeAt, denyAt`);
      ok = false;
    }
  }
  if (x.enabled !== undefined && typeof x.enabled !== 'boolean') {
    report(`${what}.enabled: expected true or false`);
    ok = false;
  }
  for (const k of ['challengeAt', 'denyAt'] as const) {
    const v = x[k];
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 1000)) {
      report(`${what}.${k}: expected an integer from 1 to 1000`);
      ok = false;
    }
  }
  if (!ok) return undefined;
  return { enabled: (x.enabled as boolean | undefined) ?? true, challengeAt: x.challengeAt as number | undefined, denyAt: x.denyAt as number | undefined };
}

/** `x-portcullis-login: true | { usernameField, failureStatuses }`. */
function parseLogin(x: unknown, report: (m: string) => void): { usernameField?: string; failureStatuses?: number[] } | undefined {
  const what = 'x-portcullis-login';
  if (!isObject(x)) {
    report(`${what}: expected true or an object { usernameField: username, failureStatuses: [401, 403] }`);
    return undefined;
  }
  let ok = true;
  for (const k of Object.keys(x)) {
    if (k !== 'usernameField' && k !== 'failureStatuses') {
      report(`${what}: unknown key "${k}"; expected usernameField, failureStatuses`);
      ok = false;
    }
  }
  const f = x.usernameField;
  if (f !== undefined && !(typeof f === 'string' && f.length > 0 && f.length <= 200)) {
    report(`${what}.usernameField: expected a field name or a JSON pointer`);
    ok = false;
  }
  const s = x.failureStatuses;
  if (s !== undefined && !(Array.isArray(s) && s.length > 0 && s.every((v) => Number.isInteger(v) && v >= 100 && v <= 599))) {
    report(`${what}.failureStatuses: expected a non-empty list of HTTP statuses`);
    ok = false;
  }
  return ok ? { usernameField: f as string | undefined, failureStatuses: s as number[] | undefined } : undefined;
}
