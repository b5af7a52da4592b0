/**
 * The in-process store: rate-limit counters, failure counters and bans in bounded maps.
 *
 * Safety argument: every map is bounded (`maxEntries`). Keys come from attackers (IPs, header
 * values, usernames), so a full map first drops expired entries and then the oldest inserted one;
 * the cost of that is a fresh budget for an evicted key (documented in docs/abuse.md), never
 * unbounded memory. Entries expire by time; a sweep removes them at most once a second per map.
 *
 * The limit check is synchronous and allocates nothing for a key it has seen: one Map look-up
 * per limit, numbers in a reused bucket object, results in the caller's Float64Array. A request
 * refused by any limit consumes from none (all or nothing), as in the Redis script.
 */
import {
  ALGO_FIXED,
  ALGO_GCRA,
  ALLOWED,
  OUT_STRIDE,
  type CheckResult,
  type FailureCount,
  type LimitRule,
} from './types.js';

/** Limit state. GCRA: a = theoretical arrival time. Windows: a = window start, b = count, c = previous window's count. */
class Bucket {
  a = 0;
  b = 0;
  c = 0;
  /** When the entry carries no information any more. */
  exp = 0;
}

const SWEEP_INTERVAL_MS = 1000;

/** A Map with a size bound and per-entry expiry (`exp` field). */
export class BoundedMap<V extends { exp: number }> {
  private readonly map = new Map<string, V>();
  private lastSweep = 0;
  /** Entries dropped to make room before they expired. */
  evicted = 0;

  constructor(readonly maxEntries: number) {
    if (!(maxEntries >= 1)) throw new Error('maxEntries must be at least 1');
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  delete(key: string): boolean {
    return this.map.delete(key);
  }

  /** Inserts a new entry, making room first when the map is full. */
  insert(key: string, value: V, now: number): void {
    if (this.map.size >= this.maxEntries) {
      if (now - this.lastSweep >= SWEEP_INTERVAL_MS) this.sweep(now);
      if (this.map.size >= this.maxEntries) {
        // The oldest inserted entry: Map iteration order is insertion order.
        const oldest = this.map.keys().next();
        if (!oldest.done) {
          this.map.delete(oldest.value);
          this.evicted++;
        }
      }
    }
    this.map.set(key, value);
  }

  /** Removes expired entries. */
  sweep(now: number): void {
    this.lastSweep = now;
    for (const [k, v] of this.map) if (v.exp <= now) this.map.delete(k);
  }

  entries(): IterableIterator<[string, V]> {
    return this.map.entries();
  }

  clear(): void {
    this.map.clear();
  }
}

const bounds = new Float64Array(2);

/** Start and end of the window of `rule` holding `now`. */
function windowOf(rule: LimitRule, now: number): void {
  if (rule.calendar !== undefined) {
    rule.calendar.bounds(now, bounds);
  } else {
    const start = now - (now % rule.windowMs);
    bounds[0] = start;
    bounds[1] = start + rule.windowMs;
  }
}

/** Scratch for the pending writes of one check: new state per limit. */
const pendA = new Float64Array(64);
const pendB = new Float64Array(64);
const pendC = new Float64Array(64);
const pendExp = new Float64Array(64);

/** At most this many limits are checked for one request (config validation keeps to it). */
export const MAX_LIMITS_PER_REQUEST = 64;

/**
 * Rate limits in process memory: one bounded map of buckets per limit slot.
 */
export class MemoryLimiter {
  private readonly tables: BoundedMap<Bucket>[] = [];

  constructor(readonly maxEntriesPerLimit: number) {}

  private table(slot: number): BoundedMap<Bucket> {
    let t = this.tables[slot];
    if (t === undefined) {
      t = new BoundedMap<Bucket>(this.maxEntriesPerLimit);
      this.tables[slot] = t;
    }
    return t;
  }

  /** Entries held for a limit slot (tests, metrics). */
  size(slot: number): number {
    return this.tables[slot]?.size ?? 0;
  }

  /**
   * Checks the first `n` rules for their keys at cost `cost`. Returns ALLOWED (every limit
   * consumed `cost`) or the index of the first refusing limit (none consumed). `out` receives
   * OUT_STRIDE numbers per limit (see types.ts).
   */
  check(rules: readonly LimitRule[], keys: readonly string[], n: number, cost: number, now: number, out: Float64Array): CheckResult {
    let denied = ALLOWED;
    for (let i = 0; i < n; i++) {
      const rule = rules[i]!;
      const bucket = this.table(rule.slot).get(keys[i]!);
      const o = i * OUT_STRIDE;
      if (rule.algo === ALGO_GCRA) {
        const T = rule.windowMs / rule.limit;
        const limitSpan = rule.burst * T;
        let tat = bucket === undefined ? now : bucket.a;
        if (tat < now) tat = now;
        const newTat = tat + cost * T;
        const allowAt = newTat - limitSpan;
        if (allowAt > now) {
          out[o] = Math.max(0, Math.floor((now + limitSpan - tat) / T));
          out[o + 1] = tat - now;
          out[o + 2] = allowAt - now;
          if (denied === ALLOWED) denied = i;
        } else {
          out[o] = Math.floor((now + limitSpan - newTat) / T);
          out[o + 1] = newTat - now;
          out[o + 2] = 0;
          pendA[i] = newTat;
          pendExp[i] = newTat;
        }
        continue;
      }
      windowOf(rule, now);
      const start = bounds[0]!;
      const end = bounds[1]!;
      let cur = 0;
      let prev = 0;
      if (bucket !== undefined) {
        if (bucket.a === start) {
          cur = bucket.b;
          prev = bucket.c;
        } else if (rule.algo !== ALGO_FIXED && bucket.a === start - rule.windowMs) {
          prev = bucket.b;
        }
      }
      if (rule.algo === ALGO_FIXED) {
        if (cur + cost > rule.limit) {
          out[o] = Math.max(0, rule.limit - cur);
          out[o + 1] = end - now;
          out[o + 2] = end - now;
          if (denied === ALLOWED) denied = i;
        } else {
          out[o] = rule.limit - cur - cost;
          out[o + 1] = end - now;
          out[o + 2] = 0;
          pendA[i] = start;
          pendB[i] = cur + cost;
          pendC[i] = 0;
          pendExp[i] = end;
        }
        continue;
      }
      // Sliding window: the previous window counts by the share of it still inside the last windowMs.
      const weight = (end - now) / rule.windowMs;
      const estimate = prev * weight + cur;
      if (estimate + cost > rule.limit) {
        out[o] = Math.max(0, Math.floor(rule.limit - estimate));
        out[o + 1] = end - now;
        out[o + 2] = slidingRetry(rule.limit, rule.windowMs, cur, prev, cost, now, end);
        if (denied === ALLOWED) denied = i;
      } else {
        out[o] = Math.floor(rule.limit - estimate - cost);
        out[o + 1] = end - now;
        out[o + 2] = 0;
        pendA[i] = start;
        pendB[i] = cur + cost;
        pendC[i] = prev;
        pendExp[i] = end + rule.windowMs;
      }
    }
    if (denied !== ALLOWED) {
      // Nothing was consumed: the limits that would have passed keep their cost.
      for (let i = 0; i < n; i++) if (out[i * OUT_STRIDE + 2] === 0) out[i * OUT_STRIDE] = out[i * OUT_STRIDE]! + cost;
      return denied;
    }
    for (let i = 0; i < n; i++) {
      const rule = rules[i]!;
      const table = this.table(rule.slot);
      const key = keys[i]!;
      let bucket = table.get(key);
      if (bucket === undefined) {
        bucket = new Bucket();
        table.insert(key, bucket, now);
      }
      bucket.a = pendA[i]!;
      bucket.b = pendB[i]!;
      bucket.c = pendC[i]!;
      bucket.exp = pendExp[i]!;
    }
    return ALLOWED;
  }

  clear(): void {
    for (const t of this.tables) t?.clear();
  }
}

/**
 * Milliseconds until a sliding-window request of `cost` would fit: when the previous window's
 * weight has dropped enough, or at the end of the current window when the current count alone is
 * too high. The same formula is in the Redis script.
 */
export function slidingRetry(limit: number, windowMs: number, cur: number, prev: number, cost: number, now: number, end: number): number {
  const room = limit - cur - cost;
  if (room < 0 || prev <= 0) return Math.max(1, end - now);
  const at = end - (windowMs * room) / prev;
  return Math.max(1, Math.ceil(at - now));
}

class Failures implements FailureCount {
  count = 0;
  last = 0;
  exp = 0;
}

/** Failure counters (brute force, attack detections) in process memory. */
export class MemoryCounters {
  private readonly map: BoundedMap<Failures>;

  constructor(maxEntries: number) {
    this.map = new BoundedMap<Failures>(maxEntries);
  }

  /** Adds one event to each key; a run ends `windowMs` after its last event. Returns the new counts. */
  hit(keys: readonly string[], windowMs: number, now: number): number[] {
    const counts: number[] = [];
    for (const key of keys) {
      let f = this.map.get(key);
      if (f === undefined || f.exp <= now) {
        if (f === undefined) {
          f = new Failures();
          this.map.insert(key, f, now);
        }
        f.count = 0;
      }
      f.count++;
      f.last = now;
      f.exp = now + windowMs;
      counts.push(f.count);
    }
    return counts;
  }

  /** Takes back one event of each key (its time stays). */
  unhit(keys: readonly string[], now: number): number[] {
    return keys.map((key) => {
      const f = this.map.get(key);
      if (f === undefined || f.exp <= now) return 0;
      if (f.count > 0) f.count--;
      return f.count;
    });
  }

  /** The current run of each key ({0, 0} when none). */
  peek(keys: readonly string[], now: number): FailureCount[] {
    return keys.map((key) => {
      const f = this.map.get(key);
      return f === undefined || f.exp <= now ? { count: 0, last: 0 } : { count: f.count, last: f.last };
    });
  }

  reset(keys: readonly string[]): void {
    for (const key of keys) this.map.delete(key);
  }

  get size(): number {
    return this.map.size;
  }
}

class Ban {
  constructor(
    public exp: number,
    public reason: string,
  ) {}
}

/** A ban as listed by the admin API and tests. */
export interface BanEntry {
  readonly subject: string;
  readonly until: number;
  readonly reason: string;
}

/** Temporary bans in process memory (also the local mirror of the Redis ban list). */
export class MemoryBans {
  private readonly map: BoundedMap<Ban>;

  constructor(maxEntries: number) {
    this.map = new BoundedMap<Ban>(maxEntries);
  }

  /** Bans `subject` until `until` (keeps a later existing ban). */
  set(subject: string, until: number, reason: string, now: number): void {
    if (until <= now) return;
    const b = this.map.get(subject);
    if (b === undefined) this.map.insert(subject, new Ban(until, reason), now);
    else if (b.exp < until) {
      b.exp = until;
      b.reason = reason;
    }
  }

  /** Milliseconds left on the ban of `subject`, 0 when not banned. */
  remaining(subject: string, now: number): number {
    const b = this.map.get(subject);
    if (b === undefined) return 0;
    if (b.exp <= now) {
      this.map.delete(subject);
      return 0;
    }
    return b.exp - now;
  }

  delete(subject: string): boolean {
    return this.map.delete(subject);
  }

  list(now: number): BanEntry[] {
    const out: BanEntry[] = [];
    for (const [subject, b] of this.map.entries()) if (b.exp > now) out.push({ subject, until: b.exp, reason: b.reason });
    return out;
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}
