/**
 * The abuse-protection state of one gateway process: the store (memory, or Redis with a local
 * fallback), failure counters, the ban lists, and the compiled limits. It outlives a config
 * reload when the store settings are unchanged, so a reload never resets counters or bans.
 *
 * The Redis connection is opened by `start()` (the process calls it once telemetry exists), not
 * when a config is compiled: `portcullis check` and the cluster primary compile without
 * connecting.
 */
import type { AbuseConfig, LimitConfig } from '../config/types.js';
import {
  ALGO_FIXED,
  ALGO_GCRA,
  ALGO_SLIDING,
  MemoryBans,
  MemoryCounters,
  MemoryLimiter,
  RedisStore,
  type LimitRule,
} from '../store/index.js';
import { CidrBans } from './bans.js';
import { CalendarWindow } from './calendar.js';
import { NO_EVENTS, type AbuseEvents, type BanKind } from './events.js';

const DAY_MS = 86_400_000;

/** A limit compiled for both stores: exact for the shared one, divided for a per-process one. */
export interface CompiledLimit {
  readonly cfg: LimitConfig;
  /** For Redis (the whole limit). */
  readonly shared: LimitRule;
  /** For the in-process store: divided between workers (and, as Redis fallback, by `localDivisor`). */
  readonly local: LimitRule;
}

export class AbuseState {
  /** Rate limits in this process: the store itself (`memory`) or the Redis fallback. */
  readonly limiter: MemoryLimiter;
  readonly counters: MemoryCounters;
  private readonly bans: Record<BanKind, MemoryBans>;
  /** IP bans of whole ranges (their value is a CIDR); also listed in `bans.ip`. */
  private readonly cidrs = new CidrBans();
  redis: RedisStore | undefined;
  events: AbuseEvents = NO_EVENTS;
  /**
   * Cluster worker with the memory store: told of every ban this process places by itself, so
   * that the primary can hand it to the other workers (and to workers started later).
   */
  relay: ((kind: BanKind, value: string, until: number, reason: string) => void) | undefined;
  private started = false;
  /** Limit signature → memory table slot; kept across reloads. */
  private readonly slots = new Map<string, number>();
  private compiled = new Map<string, CompiledLimit>();

  private constructor(
    readonly store: AbuseConfig['store'],
    readonly workers: number,
  ) {
    const max = store.memory.maxEntries;
    this.limiter = new MemoryLimiter(max);
    this.counters = new MemoryCounters(max);
    this.bans = { ip: new MemoryBans(max), principal: new MemoryBans(max), user: new MemoryBans(max), alarm: new MemoryBans(1024) };
  }

  /** The state for `abuse`, reusing `previous` when the store settings are the same. */
  static for(abuse: AbuseConfig, workers: number, previous: AbuseState | undefined): AbuseState {
    const state =
      previous !== undefined && previous.workers === workers && JSON.stringify(previous.store) === JSON.stringify(abuse.store) ? previous : new AbuseState(abuse.store, workers);
    state.compileLimits(abuse);
    return state;
  }

  get sharedMode(): 'memory' | 'redis' {
    return this.store.type;
  }

  private compileLimits(abuse: AbuseConfig): void {
    const next = new Map<string, CompiledLimit>();
    const divisor = this.store.type === 'memory' ? this.workers : this.workers * (this.store.redis?.localDivisor ?? 1);
    for (const [name, cfg] of abuse.rateLimits.limits) {
      const sig = JSON.stringify(cfg);
      let slot = this.slots.get(sig);
      if (slot === undefined) {
        slot = this.slots.size;
        this.slots.set(sig, slot);
      }
      const algo = cfg.algorithm === 'gcra' ? ALGO_GCRA : cfg.algorithm === 'fixed-window' ? ALGO_FIXED : ALGO_SLIDING;
      const calendar = cfg.timeZone === undefined ? undefined : new CalendarWindow(cfg.timeZone, cfg.month ? 0 : Math.round(cfg.windowMs / DAY_MS));
      const shared: LimitRule = Object.freeze({ name, slot, algo, limit: cfg.limit, windowMs: cfg.windowMs, burst: cfg.burst, calendar });
      const local: LimitRule =
        divisor === 1
          ? shared
          : Object.freeze({
              ...shared,
              limit: Math.max(1, Math.floor(cfg.limit / divisor)),
              burst: Math.max(1, Math.floor(cfg.burst / divisor)),
            });
      next.set(name, { cfg, shared, local });
    }
    this.compiled = next;
  }

  limit(name: string): CompiledLimit {
    const c = this.compiled.get(name);
    if (c === undefined) throw new Error(`limit ${name} missing after validation`);
    return c;
  }

  /** Opens the Redis connection (once) and reports to `events` from now on. */
  start(events: AbuseEvents): void {
    this.events = events;
    if (this.started) return;
    this.started = true;
    const r = this.store.redis;
    if (this.store.type !== 'redis' || r === undefined) return;
    const redis = new RedisStore({
      url: r.url,
      cluster: r.cluster,
      password: r.password,
      username: r.username,
      keyPrefix: r.keyPrefix,
      connectTimeoutMs: r.connectTimeoutMs,
      commandTimeoutMs: r.commandTimeoutMs,
      recoverIntervalMs: 500,
      maxBans: this.store.memory.maxEntries,
    });
    redis.onHealth((store, health, reason) => this.events.storeHealth(store, health, reason));
    // Down until the first PING answers: store_up reads 0 from the start, not nothing.
    this.events.storeState('redis', redis.health);
    this.redis = redis;
    void redis.mirrorBans((subject, until, reason) => this.mirror(subject, until, reason));
  }

  /** A ban from the shared list (`<kind>:<value>`). */
  private mirror(subject: string, until: number, reason: string): void {
    const colon = subject.indexOf(':');
    const kind = subject.slice(0, colon) as BanKind;
    const list = this.bans[kind];
    if (colon < 0 || list === undefined) return;
    const value = subject.slice(colon + 1);
    if (until === 0) this.forget(kind, value);
    else this.remember(kind, value, until, reason, Date.now());
  }

  /** A ban placed by another worker of this host (memory store), as the primary relays it. */
  applyRelayed(kind: BanKind, value: string, until: number, reason: string): void {
    if (this.bans[kind] === undefined) return;
    this.remember(kind, value, until, reason, Date.now());
  }

  private remember(kind: BanKind, value: string, until: number, reason: string, now: number): void {
    this.bans[kind].set(value, until, reason, now);
    if (kind === 'ip' && value.includes('/')) this.cidrs.set(value, until, now);
  }

  private forget(kind: BanKind, value: string): boolean {
    const had = this.bans[kind].delete(value);
    return (kind === 'ip' && value.includes('/') && this.cidrs.delete(value)) || had;
  }

  /**
   * Milliseconds left on a ban (0: none). Local, synchronous: Redis bans arrive by the channel.
   * An IP is also looked up in the range bans, while there are any.
   */
  banned(kind: BanKind, value: string, now: number): number {
    const left = this.bans[kind].remaining(value, now);
    if (kind !== 'ip' || this.cidrs.size === 0) return left;
    return Math.max(left, this.cidrs.remaining(value, now));
  }

  /** `banned(kind, value, Date.now())`, without reading the clock while no ban of the kind exists (the usual case). */
  bannedNow(kind: BanKind, value: string): number {
    if (this.bans[kind].size === 0 && (kind !== 'ip' || this.cidrs.size === 0)) return 0;
    return this.banned(kind, value, Date.now());
  }

  /** Bans locally at once and, with Redis, on every instance. */
  ban(kind: BanKind, value: string, ttlMs: number, reason: string): void {
    const now = Date.now();
    const fresh = this.bans[kind].remaining(value, now) === 0;
    this.remember(kind, value, now + ttlMs, reason, now);
    if (fresh) this.events.banned(kind, kind === 'user' ? value.slice(0, 12) : value, reason, ttlMs);
    this.relay?.(kind, value, now + ttlMs, reason);
    const redis = this.redis;
    if (redis !== undefined && redis.health === 'up') {
      redis.ban(`${kind}:${value}`, ttlMs, reason).catch((err: unknown) => this.events.storeError('ban', err));
    }
  }

  /**
   * A ban asked for through the admin API (`reason` is the operator's note; the metric and log
   * say `admin`; `count: false` in all but one worker of a cluster, so one ban counts once). Placed here at once, and written to Redis when it is the store: `shared` says
   * whether that succeeded (false with the memory store, or while Redis is down).
   */
  async adminBan(kind: 'ip' | 'principal', value: string, ttlMs: number, reason: string, count = true): Promise<{ until: number; shared: boolean }> {
    const now = Date.now();
    this.remember(kind, value, now + ttlMs, reason, now);
    // An existing later ban is kept: answer with the end in force.
    let until = now + Math.max(ttlMs, this.bans[kind].remaining(value, now));
    if (count) this.events.banned(kind, value, 'admin', ttlMs);
    const redis = this.redis;
    if (redis === undefined || redis.health !== 'up') return { until, shared: false };
    try {
      until = Math.max(until, await redis.ban(`${kind}:${value}`, ttlMs, reason));
      return { until, shared: true };
    } catch (err) {
      this.events.storeError('ban', err);
      return { until, shared: false };
    }
  }

  /** Lifts a ban here and, with Redis, everywhere (`shared` as in `adminBan`). */
  async unban(kind: BanKind, value: string): Promise<{ removed: boolean; shared: boolean }> {
    const had = this.forget(kind, value);
    const redis = this.redis;
    if (redis === undefined || redis.health !== 'up') return { removed: had, shared: false };
    try {
      return { removed: (await redis.unban(`${kind}:${value}`)) || had, shared: true };
    } catch (err) {
      this.events.storeError('unban', err);
      return { removed: had, shared: false };
    }
  }

  listBans(kind: BanKind): { subject: string; until: number; reason: string }[] {
    return this.bans[kind].list(Date.now());
  }

  /**
   * Failure counters through the store in force: Redis when it answers, else this process.
   * Resolves the new counts.
   */
  async hit(keys: readonly string[], windowMs: number): Promise<number[]> {
    const redis = this.redis;
    if (redis !== undefined && redis.health === 'up') {
      try {
        return await redis.hit(keys, windowMs);
      } catch (err) {
        this.events.storeError('count', err);
      }
    }
    return this.counters.hit(keys, windowMs, Date.now());
  }

  /** Takes back one event of each counter. */
  async unhit(keys: readonly string[]): Promise<void> {
    const redis = this.redis;
    if (redis !== undefined && redis.health === 'up') {
      try {
        await redis.unhit(keys);
        return;
      } catch (err) {
        this.events.storeError('count', err);
      }
    }
    this.counters.unhit(keys, Date.now());
  }

  /** Count and last time of failure counters, with the clock they were taken with. */
  async peek(keys: readonly string[]): Promise<{ now: number; counts: { count: number; last: number }[] }> {
    const redis = this.redis;
    if (redis !== undefined && redis.health === 'up') {
      try {
        return await redis.peek(keys);
      } catch (err) {
        this.events.storeError('peek', err);
      }
    }
    const now = Date.now();
    return { now, counts: this.counters.peek(keys, now) };
  }

  async resetCounters(keys: readonly string[]): Promise<void> {
    this.counters.reset(keys);
    const redis = this.redis;
    if (redis !== undefined && redis.health === 'up') await redis.reset(keys).catch((err: unknown) => this.events.storeError('reset', err));
  }

  async close(): Promise<void> {
    await this.redis?.close();
  }
}
