/**
 * Static API keys from config, stored as SHA-256 hashes. The presented key is hashed and the
 * hash looked up; the match is then confirmed with a constant-time comparison. Because the
 * lookup is on a hash, its timing says nothing about the key's characters.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKeyConfig } from '../config/types.js';
import type { Decision, Principal, RequestContext, Stage } from '../pipeline/types.js';
import { CONTINUE } from '../pipeline/types.js';

/** Longest key accepted: bounds hashing work on attacker input. */
const MAX_KEY_LENGTH = 512;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

interface Entry {
  readonly key: ApiKeyConfig;
  readonly principal: Principal;
}

export class ApiKeyStage implements Stage {
  readonly name = 'authn' as const;
  private readonly byHash = new Map<string, Entry>();
  private readonly challenge: Readonly<Record<string, string>>;

  constructor(
    private readonly header: string | undefined,
    keys: readonly ApiKeyConfig[],
    private readonly now: () => number = Date.now,
  ) {
    for (const key of keys) {
      this.byHash.set(key.sha256.toString('hex'), {
        key,
        principal: Object.freeze({ id: key.owner, type: 'api-key', scopes: key.scopes, roles: [], claims: {}, credentialId: key.id }),
      });
    }
    this.header = header?.toLowerCase();
    this.challenge = { 'www-authenticate': `ApiKey realm="portcullis", header="${this.header ?? 'x-api-key'}"` };
  }

  onRequest(ctx: RequestContext): Decision {
    const value = this.header === undefined ? undefined : ctx.headers[this.header];
    if (value === undefined || value === '') {
      return { action: 'deny', code: 'unauthenticated', reason: 'no credential', headers: this.challenge };
    }
    if (typeof value !== 'string' || value.length > MAX_KEY_LENGTH) {
      return { action: 'deny', code: 'invalid_api_key', reason: 'malformed API key', headers: this.challenge };
    }
    const digest = createHash('sha256').update(value, 'utf8').digest();
    const entry = this.byHash.get(digest.toString('hex'));
    if (entry === undefined || !timingSafeEqual(digest, entry.key.sha256)) {
      return { action: 'deny', code: 'invalid_api_key', reason: 'unknown API key', headers: this.challenge };
    }
    if (entry.key.expiresAt !== undefined && this.now() >= entry.key.expiresAt) {
      return { action: 'deny', code: 'invalid_api_key', reason: `API key ${entry.key.id} expired`, headers: this.challenge };
    }
    ctx.principal = entry.principal;
    return CONTINUE;
  }
}
