/**
 * A bounded cache of verification results, keyed by the SHA-256 of the credential so the
 * credential itself is never held as a map key (a heap dump or a debugger shows hashes, not
 * tokens). Used by the JWT verifier and meant to be reused by any other verifier whose work
 * is worth skipping (token introspection).
 *
 * - Bounded: at most `maxEntries` entries; a hit moves the entry to the young end and an insert
 *   into a full cache evicts the oldest (LRU, using the insertion order of `Map`). `0` disables
 *   the cache entirely.
 * - Never outlives the credential: every entry carries the instant (epoch ms) after which it must
 *   not be served, normally the token's `exp`; an expired entry is dropped when read, and an
 *   entry that is already expired is not stored.
 * - `clear()` drops everything, e.g. when the issuer's key set changes, so a key that was rotated
 *   out cannot keep tokens signed with it alive.
 */
import { hash } from 'node:crypto';

interface Entry<T> {
  readonly value: T;
  readonly expiresAt: number;
}

/** The cache key of a credential: base64 SHA-256 of its UTF-8 bytes. */
export function credentialDigest(credential: string): string {
  // One-shot hashing: no Hash object per call (a cache hit is on the hot path).
  return hash('sha256', credential, 'base64');
}

export class TokenCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0) {
      throw new Error(`token cache size must be a non-negative integer, got ${String(maxEntries)}`);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  get enabled(): boolean {
    return this.maxEntries > 0;
  }

  get(credential: string): T | undefined {
    if (this.maxEntries === 0 || this.entries.size === 0) return undefined;
    const key = credentialDigest(credential);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (this.now() >= entry.expiresAt) return undefined;
    this.entries.set(key, entry); // most recently used goes to the young end
    return entry.value;
  }

  /** Stores `value` until `expiresAtMs` (epoch ms). Already-expired values are not stored. */
  set(credential: string, value: T, expiresAtMs: number): void {
    if (this.maxEntries === 0 || !(expiresAtMs > this.now())) return;
    const key = credentialDigest(credential);
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, expiresAt: expiresAtMs });
  }

  clear(): void {
    this.entries.clear();
  }
}
