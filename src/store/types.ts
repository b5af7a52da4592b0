/**
 * The state store behind abuse protection: rate-limit and quota counters, failure counters
 * (brute force, repeated attacks) and temporary bans. Two implementations share these shapes:
 * in-process memory (memory.ts: bounded maps with expiry, synchronous, per process) and Redis
 * (redis.ts: atomic Lua scripts, shared by every instance).
 *
 * Times are epoch milliseconds; durations are milliseconds.
 */

/** Rate-limit algorithms. */
export type Algorithm = 'gcra' | 'fixed-window' | 'sliding-window';

/** Numeric algorithm codes, as the Lua script and the memory limiter switch on them. */
export const ALGO_GCRA = 0;
export const ALGO_FIXED = 1;
export const ALGO_SLIDING = 2;

/** A window that follows the calendar (days or months in a time zone): gives its bounds at an instant. */
export interface WindowClock {
  /** Start and end (exclusive) of the window holding `now`, written into `out[0]`, `out[1]`. */
  bounds(now: number, out: Float64Array): void;
}

/**
 * One limit as the store evaluates it. Compiled once per config; `slot` is the limit's index in
 * the store's table of counters (the memory store keeps one bounded map per slot).
 */
export interface LimitRule {
  /** Name of the limit: the policy name in the RateLimit headers, metric labels, Redis keys. */
  readonly name: string;
  readonly slot: number;
  readonly algo: typeof ALGO_GCRA | typeof ALGO_FIXED | typeof ALGO_SLIDING;
  /** Units (requests × cost) allowed per window. */
  readonly limit: number;
  /** Window length. For calendar windows, the longest one (e.g. 31 days), used for expiry only. */
  readonly windowMs: number;
  /** GCRA: units that may be spent at once (the bucket size). */
  readonly burst: number;
  /** Calendar-aligned window (day in a time zone, month); undefined: windows aligned to the epoch. */
  readonly calendar: WindowClock | undefined;
}

/**
 * Per-limit outcome, three numbers per limit in a flat array: remaining units after this request,
 * milliseconds until the limit is whole again (`t` of the RateLimit header), milliseconds until a
 * denied request could pass (0 when allowed).
 */
export const OUT_STRIDE = 3;

/** What `check` answers besides a limit index: the store could not decide. */
export const STORE_UNAVAILABLE = -2;
/** No limit refused. */
export const ALLOWED = -1;

/** Answer of a limit check: ALLOWED, the index of the first refusing limit, or STORE_UNAVAILABLE. */
export type CheckResult = number;

/**
 * A failure counter (brute force, repeated attacks): how many events in the current run and when
 * the last one was. A run ends `windowMs` after its last event.
 */
export interface FailureCount {
  count: number;
  /** Epoch ms of the last event (0 when none). */
  last: number;
}

/** Health of a store as the rest of the gateway sees it. */
export type StoreHealth = 'up' | 'down';

/** Notified on every change of a store's health (metric and log line). Never throws. */
export interface StoreHealthListener {
  (store: 'redis', health: StoreHealth, reason: string): void;
}
