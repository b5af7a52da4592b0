/**
 * API key hashing. Static keys in config and keys in the key store are stored only as SHA-256
 * digests; the presented key is hashed and the digest compared in constant time (see
 * registry.ts and keystore.ts). A key is high-entropy random data, so a fast hash suffices:
 * there is nothing to brute-force that a slow KDF would protect.
 */
import { createHash } from 'node:crypto';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}
