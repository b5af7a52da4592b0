/**
 * State behind small interfaces (DESIGN.md §3): in-process memory and Redis.
 */
export * from './types.js';
export { BoundedMap, MemoryBans, MemoryCounters, MemoryLimiter, MAX_LIMITS_PER_REQUEST, slidingRetry, type BanEntry } from './memory.js';
export { keySlot, RedisStore, type BanMirror, type RedisStoreOptions } from './redis.js';
