/**
 * The API key store: keys issued at run time (`portcullis keys …`, the admin API), kept in
 * an embedded SQLite file (`identity.apiKeys.store`) that every process of one host opens:
 * each gateway worker, the CLI and the admin API.
 *
 * Keys look like `pc_<prefix>_<secret>`: an 8-character lookup prefix and a 43-character
 * secret (256 bits), both base62 from `crypto.randomBytes`, so `_` only ever separates parts
 * and parsing is by fixed positions. The store keeps the prefix (unique, indexed) and the
 * SHA-256 of the whole key, never the key; `create` and `rotate` return it once.
 *
 * Verification never touches the database: each process holds a snapshot (prefix → entry)
 * and compares SHA-256 digests with `timingSafeEqual`. Every change bumps a revision counter
 * in `meta` within the same transaction, and each process polls that counter (one indexed
 * read every `pollMs`, default 250 ms) and reloads only the rows whose `rev` moved, so a
 * key revoked anywhere is refused everywhere within a second. If the poll timer falls
 * behind (a blocked event loop), `verify` polls inline before answering, and refuses with
 * `identity_provider_unavailable` if the store cannot be read (fail closed).
 *
 * `last_used_at` is recorded in memory and written in batches (every `flushMs`, default
 * 5 s, and on close), never once per request.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import type { Principal } from '../pipeline/types.js';
import { fail, type AuthResult } from './types.js';

/** Bounds of the key store. */
export const KEY_LIMITS = Object.freeze({
  /** Longest presented key looked at: bounds hashing work on attacker input. */
  maxPresentedLength: 512,
  /** Most non-revoked keys a store may hold (and a snapshot loads). */
  maxActiveKeys: 1_000_000,
  /** Most revoked keys kept in a snapshot (the newest), so refusals can say "revoked". */
  maxRevokedInMemory: 100_000,
  /** Most rows `list` returns. */
  maxList: 1_100_000,
  maxOwnerLength: 256,
  maxNameLength: 256,
  maxScopes: 100,
  maxScopeLength: 128,
  maxRoles: 100,
  maxRoleLength: 128,
  /** Longest rotation overlap: one year. */
  maxOverlapSeconds: 365 * 86_400,
});

/** Current schema version (`PRAGMA user_version`). */
export const SCHEMA_VERSION = 2;

const KEY_TAG = 'pc_';
const PREFIX_LENGTH = 8;
const SECRET_LENGTH = 43; // 43 base62 characters ≈ 256 bits
const MIN_SECRET_LENGTH = 32;
/** Index of the `_` between prefix and secret. */
const SEPARATOR_AT = KEY_TAG.length + PREFIX_LENGTH;
const ID_TAG = 'key_';
const ID_LENGTH = 16;
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** Rows changed since the last poll beyond which a full reload is cheaper than applying them. */
const MAX_INCREMENTAL_ROWS = 10_000;
/** Distinct scope and role sets shared between snapshot entries. */
const MAX_NAME_SETS = 10_000;
/** Rows per batched last_used UPDATE. */
const USAGE_BATCH = 5_000;
/** Busy timeout of ordinary statements (ms). */
const BUSY_TIMEOUT_MS = 5_000;
/** Busy timeout of the background usage flush (ms): it yields rather than stall a worker. */
const FLUSH_BUSY_TIMEOUT_MS = 50;

export type KeyStatus = 'active' | 'expired' | 'revoked';

/** A key as listed: everything but the key and its hash. Times are epoch milliseconds. */
export interface KeyRecord {
  readonly id: string;
  /** The non-secret lookup part of the key (`pc_<prefix>_…`), to match a leaked key to its id. */
  readonly prefix: string;
  readonly owner: string;
  readonly name: string | undefined;
  readonly scopes: readonly string[];
  /** Roles of the key holder (`x-portcullis-roles`, ownership `bypassRoles`). */
  readonly roles: readonly string[];
  readonly createdAt: number;
  readonly expiresAt: number | undefined;
  readonly revokedAt: number | undefined;
  /** Flushed in batches: may lag a few seconds behind the last request. */
  readonly lastUsedAt: number | undefined;
  /** Id of the key that replaced this one by rotation. */
  readonly replacedBy: string | undefined;
  readonly status: KeyStatus;
}

/** `KeyRecord` as JSON (CLI `--json`, admin API): ISO 8601 times, `null` for absent values. */
export interface KeyRecordJson {
  readonly id: string;
  readonly prefix: string;
  readonly owner: string;
  readonly name: string | null;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
  readonly lastUsedAt: string | null;
  readonly replacedBy: string | null;
  readonly status: KeyStatus;
}

export interface CreateKeyInput {
  readonly owner: string;
  readonly scopes?: readonly string[];
  readonly roles?: readonly string[];
  readonly name?: string;
  /** Epoch ms; must be in the future. */
  readonly expiresAt?: number;
}

export interface RotateOptions {
  /** How long the old key keeps working, in seconds (0 ends it now). */
  readonly overlapSeconds: number;
  /**
   * Expiry of the new key (epoch ms). Default: none when the old key had none, else the old
   * key's lifetime (expiresAt − createdAt) counted from now.
   */
  readonly expiresAt?: number;
}

export interface KeyStoreOptions {
  /** Clock for creation, expiry and last-used times (epoch ms). Default Date.now. */
  readonly now?: () => number;
  /** How often the revision counter is polled (ms). Default 250. */
  readonly pollMs?: number;
  /** How often last-used times are written (ms). Default 5000. */
  readonly flushMs?: number;
  /** Create the file (and its directory) when missing. Default true. */
  readonly create?: boolean;
}

/**
 * A refused key-store operation, with a message fit to show a user as is. `kind` lets
 * callers choose a status: invalid → 400, not_found → 404, conflict → 409, unavailable → 5xx.
 */
export class KeyStoreError extends Error {
  override readonly name = 'KeyStoreError';
  constructor(
    readonly kind: 'invalid' | 'not_found' | 'conflict' | 'unavailable',
    message: string,
  ) {
    super(message);
  }
}

interface KeyRow {
  readonly id: string;
  readonly prefix: string;
  readonly hash: Buffer;
  readonly owner: string;
  readonly name: string | null;
  readonly scopes: string;
  /** JSON array; '[]' for keys from schema version 1. */
  readonly roles: string;
  readonly created_at: number;
  readonly expires_at: number | null;
  readonly revoked_at: number | null;
  readonly last_used_at: number | null;
  readonly replaced_by: string | null;
}

/** One key in a process's snapshot. */
interface Entry {
  readonly id: string;
  /** The SHA-256 as a 32-character latin1 string: a fraction of a Buffer's memory per key. */
  readonly hash: string;
  readonly owner: string;
  readonly name: string | undefined;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly expiresAt: number | undefined;
  readonly revokedAt: number | undefined;
  /** Built on first successful use. */
  principal: Principal | undefined;
}

const MIGRATIONS: readonly ((db: Database.Database) => void)[] = [
  // 0 → 1: the first schema. Plain CREATE TABLE (no IF NOT EXISTS): a file that already
  // has other tables under these names is not a key store and must not be adopted.
  (db) => {
    db.exec(`
      CREATE TABLE meta (
        name  TEXT PRIMARY KEY NOT NULL,
        value INTEGER NOT NULL
      ) STRICT;
      INSERT INTO meta (name, value) VALUES ('revision', 0);
      CREATE TABLE keys (
        id           TEXT PRIMARY KEY NOT NULL,
        prefix       TEXT NOT NULL UNIQUE,
        hash         BLOB NOT NULL CHECK (length(hash) = 32),
        owner        TEXT NOT NULL,
        name         TEXT,
        scopes       TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER,
        revoked_at   INTEGER,
        last_used_at INTEGER,
        replaced_by  TEXT REFERENCES keys (id),
        rev          INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX keys_rev ON keys (rev);
      CREATE INDEX keys_owner ON keys (owner);
    `);
  },
  // 1 → 2: roles. Existing keys get none; no revision bump is needed, since '[]' is what
  // every snapshot already assumed for them.
  (db) => {
    db.exec(`ALTER TABLE keys ADD COLUMN roles TEXT NOT NULL DEFAULT '[]'`);
  },
];

/** Bring the schema to SCHEMA_VERSION. Safe when several processes open a new file at once. */
export function migrate(db: Database.Database): void {
  const version = (): number => Number(db.pragma('user_version', { simple: true }));
  const check = (v: number): void => {
    if (v > SCHEMA_VERSION) {
      throw new KeyStoreError('unavailable', `schema version ${v} is newer than this Portcullis supports (${SCHEMA_VERSION}); upgrade Portcullis`);
    }
  };
  const seen = version();
  check(seen);
  if (seen === SCHEMA_VERSION) return;
  db.transaction(() => {
    // Re-read under the write lock: another process may have migrated meanwhile.
    const current = version();
    check(current);
    for (let v = current; v < SCHEMA_VERSION; v++) MIGRATIONS[v]!(db);
    if (current !== SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

// ---------------------------------------------------------------------------------------
// Key format

function isBase62(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** `n` uniformly random base62 characters (rejection sampling: no modulo bias). */
function randomBase62(n: number): string {
  let out = '';
  while (out.length < n) {
    for (const b of randomBytes(n + 8)) {
      if (b >= 248) continue; // 248 = 4 × 62
      out += ALPHABET[b % 62];
      if (out.length === n) break;
    }
  }
  return out;
}

/**
 * The lookup prefix of a well-formed key, or undefined. Linear scan by fixed positions:
 * `pc_` + 8 base62 + `_` + at least 32 base62, at most `maxPresentedLength` in all.
 */
export function keyPrefix(presented: string): string | undefined {
  const n = presented.length;
  if (n < SEPARATOR_AT + 1 + MIN_SECRET_LENGTH || n > KEY_LIMITS.maxPresentedLength) return undefined;
  if (!presented.startsWith(KEY_TAG) || presented.charCodeAt(SEPARATOR_AT) !== 95) return undefined;
  for (let i = KEY_TAG.length; i < n; i++) {
    if (i !== SEPARATOR_AT && !isBase62(presented.charCodeAt(i))) return undefined;
  }
  return presented.slice(KEY_TAG.length, SEPARATOR_AT);
}

/** True for strings shaped like a key id (`key_` + base62), the only ids ever issued. */
export function isKeyId(id: string): boolean {
  if (id.length <= ID_TAG.length || id.length > 64 || !id.startsWith(ID_TAG)) return false;
  for (let i = ID_TAG.length; i < id.length; i++) if (!isBase62(id.charCodeAt(i))) return false;
  return true;
}

/**
 * SHA-256 of the whole key. A key is 256 random bits, so a fast hash is enough: there is
 * no dictionary to guess from, and a slow KDF (bcrypt, scrypt) would only make every
 * request slower without making a stolen hash any easier or harder to reverse.
 */
function digest(key: string): Buffer {
  return hash('sha256', key, 'buffer'); // one-shot: cheaper than createHash().update().digest()
}

// ---------------------------------------------------------------------------------------
// Input checks and formatting

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c === 127) return true;
  }
  return false;
}

function checkText(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string' || value.trim() === '') throw new KeyStoreError('invalid', `${field} must be a non-empty string`);
  if (value.length > max) throw new KeyStoreError('invalid', `${field} is longer than ${max} characters`);
  if (hasControl(value)) throw new KeyStoreError('invalid', `${field} must not contain control characters`);
  return value;
}

/** Scopes or roles: at most `max` distinct names of 1 to `maxLength` characters, no spaces or controls. */
function checkNames(value: unknown, what: 'scope' | 'role', max: number, maxLength: number): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new KeyStoreError('invalid', `${what}s must be an array of strings`);
  if (value.length > max) throw new KeyStoreError('invalid', `at most ${max} ${what}s`);
  const out: string[] = [];
  for (const s of value as unknown[]) {
    if (typeof s !== 'string' || s.length === 0 || s.length > maxLength) {
      throw new KeyStoreError('invalid', `each ${what} must be a string of 1 to ${maxLength} characters`);
    }
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c <= 32 || c === 127) throw new KeyStoreError('invalid', `${what} ${JSON.stringify(s)} contains a space or control character`);
    }
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

function checkFuture(value: unknown, field: string, now: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new KeyStoreError('invalid', `${field} must be a time in epoch milliseconds`);
  if (value <= now) throw new KeyStoreError('invalid', `${field} (${iso(value)}) is not in the future`);
  return value;
}

/** ISO 8601 (UTC, milliseconds), or the raw number when out of Date's range. */
export function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString();
}

/** A record as JSON, times as ISO 8601 strings. */
export function recordToJson(r: KeyRecord): KeyRecordJson {
  const t = (v: number | undefined): string | null => (v === undefined ? null : iso(v));
  return {
    id: r.id,
    prefix: r.prefix,
    owner: r.owner,
    name: r.name ?? null,
    scopes: r.scopes,
    roles: r.roles,
    createdAt: iso(r.createdAt),
    expiresAt: t(r.expiresAt),
    revokedAt: t(r.revokedAt),
    lastUsedAt: t(r.lastUsedAt),
    replacedBy: r.replacedBy ?? null,
    status: r.status,
  };
}

/** Digits at `text[from, from+n)` as a number, or -1. */
function digitsAt(text: string, from: number, n: number): number {
  if (from + n > text.length) return -1;
  let v = 0;
  for (let i = from; i < from + n; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v;
}

/**
 * Parse `YYYY-MM-DD` (midnight UTC) or an RFC 3339 date-time `YYYY-MM-DDTHH:MM[:SS[.frac]]`
 * with `Z` or `±HH:MM`, by fixed positions (no regex). Epoch ms, or undefined when invalid.
 */
export function parseTimestamp(text: string): number | undefined {
  if (text.length < 10 || text.length > 40) return undefined;
  const y = digitsAt(text, 0, 4);
  const mo = digitsAt(text, 5, 2);
  const d = digitsAt(text, 8, 2);
  if (y < 0 || text[4] !== '-' || text[7] !== '-' || mo < 1 || mo > 12 || d < 1) return undefined;
  const day = Date.UTC(y, mo - 1, d);
  if (new Date(day).getUTCDate() !== d) return undefined; // 2025-02-30
  if (text.length === 10) return day;
  if (text[10] !== 'T' && text[10] !== 't') return undefined;
  const h = digitsAt(text, 11, 2);
  const mi = digitsAt(text, 14, 2);
  if (h < 0 || h > 23 || text[13] !== ':' || mi < 0 || mi > 59) return undefined;
  let i = 16;
  let s = 0;
  let frac = 0;
  if (text[i] === ':') {
    s = digitsAt(text, 17, 2);
    if (s < 0 || s > 59) return undefined;
    i = 19;
    if (text[i] === '.') {
      const start = ++i;
      while (i < text.length && i - start < 9 && isDigit(text.charCodeAt(i))) i++;
      if (i === start) return undefined;
      frac = Number((text.slice(start, i) + '00').slice(0, 3));
    }
  }
  let offset = 0;
  const z = text[i];
  if ((z === 'Z' || z === 'z') && i + 1 === text.length) offset = 0;
  else if ((z === '+' || z === '-') && i + 6 === text.length && text[i + 3] === ':') {
    const oh = digitsAt(text, i + 1, 2);
    const om = digitsAt(text, i + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return undefined;
    offset = (z === '+' ? 1 : -1) * (oh * 60 + om) * 60_000;
  } else return undefined;
  return day + ((h * 60 + mi) * 60 + s) * 1000 + frac - offset;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function toRecord(row: Omit<KeyRow, 'hash'>, now: number): KeyRecord {
  const expiresAt = row.expires_at ?? undefined;
  const revokedAt = row.revoked_at ?? undefined;
  return {
    id: row.id,
    prefix: row.prefix,
    owner: row.owner,
    name: row.name ?? undefined,
    scopes: parseNames(row.scopes),
    roles: parseNames(row.roles),
    createdAt: row.created_at,
    expiresAt,
    revokedAt,
    lastUsedAt: row.last_used_at ?? undefined,
    replacedBy: row.replaced_by ?? undefined,
    status: revokedAt !== undefined ? 'revoked' : expiresAt !== undefined && now >= expiresAt ? 'expired' : 'active',
  };
}

/** A JSON array of strings (scopes, roles) as stored; [] for anything else. */
function parseNames(json: string): string[] {
  try {
    const v: unknown = JSON.parse(json);
    return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
  } catch {
    return [];
  }
}

function isUniqueViolation(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE';
}

const COLUMNS = 'id, prefix, owner, name, scopes, roles, created_at, expires_at, revoked_at, last_used_at, replaced_by';

// ---------------------------------------------------------------------------------------

/** One open key store. Open it once per process and share it; `close()` on shutdown. */
export class KeyStore {
  private readonly byPrefix = new Map<string, Entry>();
  /** Prefixes of revoked entries in the snapshot, oldest revocation first. */
  private readonly revokedOrder = new Set<string>();
  /** Key id → epoch ms of the last successful verify not yet written. */
  private readonly used = new Map<string, number>();
  /** Distinct scope and role sets, by their JSON. */
  private readonly nameSets = new Map<string, readonly string[]>();
  private revision = -1;
  private lastPoll = -Infinity;
  private closed = false;
  private readonly staleMs: number;
  private readonly pollTimer: NodeJS.Timeout;
  private readonly flushTimer: NodeJS.Timeout;

  private readonly stmt: {
    readonly revision: Database.Statement;
    readonly bump: Database.Statement;
    readonly byId: Database.Statement;
    readonly insert: Database.Statement;
    readonly revoke: Database.Statement;
    readonly retire: Database.Statement;
    readonly countActive: Database.Statement;
    readonly list: Database.Statement;
    readonly listActive: Database.Statement;
    readonly loadActive: Database.Statement;
    readonly loadRevoked: Database.Statement;
    readonly changed: Database.Statement;
    readonly usage: Database.Statement;
  };

  private constructor(
    private readonly db: Database.Database,
    readonly file: string,
    private readonly now: () => number,
    pollMs: number,
    flushMs: number,
  ) {
    const snap = 'id, prefix, hash, owner, name, scopes, roles, expires_at, revoked_at';
    this.stmt = {
      revision: db.prepare("SELECT value FROM meta WHERE name = 'revision'").pluck(),
      bump: db.prepare("UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value").pluck(),
      byId: db.prepare(`SELECT ${COLUMNS} FROM keys WHERE id = ?`),
      insert: db.prepare(
        'INSERT INTO keys (id, prefix, hash, owner, name, scopes, roles, created_at, expires_at, rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      revoke: db.prepare('UPDATE keys SET revoked_at = ?, rev = ? WHERE id = ?'),
      retire: db.prepare('UPDATE keys SET expires_at = ?, replaced_by = ?, rev = ? WHERE id = ?'),
      countActive: db.prepare('SELECT count(*) FROM keys WHERE revoked_at IS NULL').pluck(),
      list: db.prepare(`SELECT ${COLUMNS} FROM keys ORDER BY created_at, id LIMIT ?`),
      listActive: db.prepare(`SELECT ${COLUMNS} FROM keys WHERE revoked_at IS NULL ORDER BY created_at, id LIMIT ?`),
      loadActive: db.prepare(`SELECT ${snap} FROM keys WHERE revoked_at IS NULL LIMIT ?`),
      loadRevoked: db.prepare(`SELECT ${snap} FROM keys WHERE revoked_at IS NOT NULL ORDER BY revoked_at DESC LIMIT ?`),
      changed: db.prepare(`SELECT ${snap} FROM keys WHERE rev > ? ORDER BY rev LIMIT ?`),
      // One statement per batch: [[id, ms], …] as JSON. Never moves last_used_at backwards.
      usage: db.prepare(`
        UPDATE keys SET last_used_at = u.t
        FROM (SELECT value ->> 0 AS id, value ->> 1 AS t FROM json_each(?)) AS u
        WHERE keys.id = u.id AND (keys.last_used_at IS NULL OR keys.last_used_at < u.t)`),
    };
    this.staleMs = 2 * pollMs;
    this.poll();
    this.pollTimer = setInterval(() => {
      try {
        this.poll();
      } catch {
        // Left stale: the next verify polls inline and fails closed if the store is unreadable.
      }
    }, pollMs);
    this.pollTimer.unref();
    this.flushTimer = setInterval(() => this.flushUsage(), flushMs);
    this.flushTimer.unref();
  }

  /** Open (and create, migrate) the store at `file`. Throws KeyStoreError. */
  static open(file: string, opts: KeyStoreOptions = {}): KeyStore {
    const abs = resolve(file);
    const pollMs = opts.pollMs ?? 250;
    const flushMs = opts.flushMs ?? 5000;
    if (!(pollMs >= 10 && pollMs <= 60_000)) throw new KeyStoreError('invalid', 'pollMs must be between 10 and 60000');
    if (!(flushMs >= 10 && flushMs <= 3_600_000)) throw new KeyStoreError('invalid', 'flushMs must be between 10 and 3600000');
    let db: Database.Database | undefined;
    try {
      if (!existsSync(abs)) {
        if (opts.create === false) throw new KeyStoreError('not_found', `key store ${abs} does not exist`);
        mkdirSync(dirname(abs), { recursive: true, mode: 0o700 });
        // Created 0600 before SQLite sees it; SQLite gives -wal and -shm the same mode.
        closeSync(openSync(abs, 'a', 0o600));
      }
      db = new Database(abs, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
      migrate(db);
      return new KeyStore(db, abs, opts.now ?? Date.now, pollMs, flushMs);
    } catch (err) {
      db?.close();
      if (err instanceof KeyStoreError) throw err;
      const why = err instanceof Error ? err.message : String(err);
      throw new KeyStoreError('unavailable', `cannot open key store ${abs}: ${why}`);
    }
  }

  // ---- the hot path -----------------------------------------------------------------

  /**
   * Check a presented key against the snapshot. No database access (unless the background
   * poll is overdue, see the file comment). Refusals carry `invalid_api_key` and an
   * audit-only reason naming at most the key id, never the key.
   */
  verify(presented: string): AuthResult {
    if (typeof presented !== 'string' || presented.length > KEY_LIMITS.maxPresentedLength) {
      return fail('invalid_api_key', 'malformed API key (too long)');
    }
    const prefix = keyPrefix(presented);
    if (prefix === undefined) return fail('invalid_api_key', 'malformed API key');
    if (this.closed) return fail('identity_provider_unavailable', 'API key store is closed');
    if (performance.now() - this.lastPoll > this.staleMs) {
      try {
        this.poll();
      } catch {
        return fail('identity_provider_unavailable', 'API key store could not be read');
      }
    }
    const presentedHash = digest(presented);
    const entry = this.byPrefix.get(prefix);
    if (entry === undefined) return fail('invalid_api_key', 'unknown API key');
    if (!timingSafeEqual(presentedHash, Buffer.from(entry.hash, 'latin1'))) return fail('invalid_api_key', `API key does not match key ${entry.id}`);
    if (entry.revokedAt !== undefined) return fail('invalid_api_key', `API key ${entry.id} is revoked`);
    const now = this.now();
    if (entry.expiresAt !== undefined && now >= entry.expiresAt) return fail('invalid_api_key', `API key ${entry.id} expired`);
    this.used.set(entry.id, now);
    entry.principal ??= Object.freeze({
      id: entry.owner,
      type: 'api-key',
      scopes: entry.scopes,
      roles: entry.roles,
      claims: Object.freeze({ keyId: entry.id, owner: entry.owner, name: entry.name ?? null }),
      credentialId: entry.id,
    });
    return { ok: true, principal: entry.principal, expiresAt: entry.expiresAt };
  }

  // ---- management -------------------------------------------------------------------

  /** Issue a key. The returned `key` is the only time it exists outside the caller's hands. */
  create(input: CreateKeyInput): { record: KeyRecord; key: string } {
    this.assertOpen();
    const owner = checkText(input.owner, 'owner', KEY_LIMITS.maxOwnerLength);
    const name = input.name === undefined ? undefined : checkText(input.name, 'name', KEY_LIMITS.maxNameLength);
    const scopes = checkNames(input.scopes, 'scope', KEY_LIMITS.maxScopes, KEY_LIMITS.maxScopeLength);
    const roles = checkNames(input.roles, 'role', KEY_LIMITS.maxRoles, KEY_LIMITS.maxRoleLength);
    const now = this.now();
    const expiresAt = checkFuture(input.expiresAt, 'expiresAt', now);
    const issued = this.write(() => {
      if (Number(this.stmt.countActive.get()) >= KEY_LIMITS.maxActiveKeys) {
        throw new KeyStoreError('conflict', `the key store holds ${KEY_LIMITS.maxActiveKeys} keys, its limit; revoke unused keys first`);
      }
      return this.insertKey(owner, name, scopes, roles, now, expiresAt, Number(this.stmt.bump.get()));
    });
    return { record: this.mustGet(issued.id), key: issued.key };
  }

  /** All keys, oldest first; revoked ones only with `includeRevoked`. Never hashes. */
  list(opts: { includeRevoked?: boolean } = {}): KeyRecord[] {
    this.assertOpen();
    const rows = (opts.includeRevoked ? this.stmt.list : this.stmt.listActive).all(KEY_LIMITS.maxList) as KeyRow[];
    const now = this.now();
    return rows.map((r) => toRecord(r, now));
  }

  /** One key, read from the database (so `lastUsedAt` is as fresh as the last flush). */
  get(id: string): KeyRecord | undefined {
    this.assertOpen();
    if (typeof id !== 'string' || !isKeyId(id)) return undefined;
    const row = this.stmt.byId.get(id) as KeyRow | undefined;
    return row === undefined ? undefined : toRecord(row, this.now());
  }

  /** Revoke a key: refused by every process within a second. */
  revoke(id: string): KeyRecord {
    this.assertOpen();
    this.write(() => {
      const row = this.rowFor(id);
      if (row.revoked_at !== null) throw new KeyStoreError('conflict', `key ${id} is already revoked (since ${iso(row.revoked_at)})`);
      this.stmt.revoke.run(this.now(), Number(this.stmt.bump.get()), id);
    });
    return this.mustGet(id);
  }

  /**
   * Replace a key by a new one with the same owner, scopes, roles and name. The old key keeps
   * working for `overlapSeconds` (never beyond its own expiry), then is refused.
   */
  rotate(id: string, opts: RotateOptions): { record: KeyRecord; key: string; previous: KeyRecord } {
    this.assertOpen();
    const overlap = opts.overlapSeconds;
    if (typeof overlap !== 'number' || !Number.isSafeInteger(overlap) || overlap < 0 || overlap > KEY_LIMITS.maxOverlapSeconds) {
      throw new KeyStoreError('invalid', `overlapSeconds must be a whole number from 0 to ${KEY_LIMITS.maxOverlapSeconds}`);
    }
    const now = this.now();
    const explicitExpiry = checkFuture(opts.expiresAt, 'expiresAt', now);
    const issued = this.write(() => {
      const row = this.rowFor(id);
      if (row.revoked_at !== null) throw new KeyStoreError('conflict', `key ${id} is revoked; create a new key instead`);
      if (row.replaced_by !== null) throw new KeyStoreError('conflict', `key ${id} was already rotated to ${row.replaced_by}; rotate that key instead`);
      if (row.expires_at !== null && row.expires_at <= now) throw new KeyStoreError('conflict', `key ${id} has expired; create a new key instead`);
      const lifetime = row.expires_at === null ? undefined : row.expires_at - row.created_at;
      const expiresAt = explicitExpiry ?? (lifetime === undefined ? undefined : now + lifetime);
      const rev = Number(this.stmt.bump.get());
      const next = this.insertKey(row.owner, row.name ?? undefined, parseNames(row.scopes), parseNames(row.roles), now, expiresAt, rev);
      const end = Math.min(row.expires_at ?? Number.MAX_SAFE_INTEGER, now + overlap * 1000);
      this.stmt.retire.run(end, next.id, rev, id);
      return next;
    });
    return { record: this.mustGet(issued.id), key: issued.key, previous: this.mustGet(id) };
  }

  /** Write pending last-used times now (also done every `flushMs` and on close). */
  flushUsage(): void {
    if (this.used.size === 0 || this.closed) return;
    const pending = [...this.used];
    this.used.clear();
    try {
      // Short busy timeout: a worker yields to a concurrent writer and retries next time.
      this.db.pragma(`busy_timeout = ${FLUSH_BUSY_TIMEOUT_MS}`);
      this.db.transaction(() => {
        for (let i = 0; i < pending.length; i += USAGE_BATCH) this.stmt.usage.run(JSON.stringify(pending.slice(i, i + USAGE_BATCH)));
      }).immediate();
    } catch {
      // Keep them for the next flush, unless a newer use was recorded meanwhile.
      for (const [id, t] of pending) if (!this.used.has(id)) this.used.set(id, t);
    } finally {
      try {
        this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      } catch {
        // the connection is unusable; the next operation reports it
      }
    }
  }

  /** Flush usage, stop the timers, close the database. Idempotent. */
  close(): void {
    if (this.closed) return;
    clearInterval(this.pollTimer);
    clearInterval(this.flushTimer);
    this.flushUsage();
    this.closed = true;
    this.db.close();
  }

  // ---- internals ----------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new KeyStoreError('unavailable', `key store ${this.file} is closed`);
  }

  /** Run `fn` in a write transaction, then refresh this process's snapshot. */
  private write<T>(fn: () => T): T {
    let out: T;
    try {
      out = this.db.transaction(fn).immediate();
    } catch (err) {
      if (err instanceof KeyStoreError) throw err;
      throw new KeyStoreError('unavailable', `key store ${this.file}: ${err instanceof Error ? err.message : String(err)}`);
    }
    try {
      this.poll(); // this process sees its own change at once
    } catch {
      // committed all the same; the poll timer (or verify, inline) catches up
    }
    return out;
  }

  /** Insert a new key, retrying on the (unlikely) clash of a random prefix or id. Inside a transaction. */
  private insertKey(
    owner: string,
    name: string | undefined,
    scopes: readonly string[],
    roles: readonly string[],
    now: number,
    expiresAt: number | undefined,
    rev: number,
  ): { id: string; key: string } {
    for (let attempt = 0; ; attempt++) {
      const prefix = randomBase62(PREFIX_LENGTH);
      const key = `${KEY_TAG}${prefix}_${randomBase62(SECRET_LENGTH)}`;
      const id = ID_TAG + randomBase62(ID_LENGTH);
      try {
        this.stmt.insert.run(id, prefix, digest(key), owner, name ?? null, JSON.stringify(scopes), JSON.stringify(roles), now, expiresAt ?? null, rev);
        return { id, key };
      } catch (err) {
        if (!isUniqueViolation(err) || attempt >= 4) throw err;
      }
    }
  }

  private rowFor(id: string): KeyRow {
    const row = typeof id === 'string' && isKeyId(id) ? (this.stmt.byId.get(id) as KeyRow | undefined) : undefined;
    if (row === undefined) throw new KeyStoreError('not_found', isKeyId(id) ? `no key with id ${id}` : 'no such key (ids look like key_…)');
    return row;
  }

  private mustGet(id: string): KeyRecord {
    const r = this.get(id);
    if (r === undefined) throw new KeyStoreError('unavailable', `key ${id} vanished from ${this.file}`);
    return r;
  }

  /** Read the revision counter; reload what changed when it moved. */
  private poll(): void {
    const rev = Number(this.stmt.revision.get());
    if (rev !== this.revision) this.reload();
    this.lastPoll = performance.now();
  }

  private reload(): void {
    // One read transaction: the revision and the rows come from the same database state.
    this.db.transaction(() => {
      const rev = Number(this.stmt.revision.get());
      const rows =
        this.revision >= 0 && rev >= this.revision && rev - this.revision <= MAX_INCREMENTAL_ROWS / 2
          ? (this.stmt.changed.all(this.revision, MAX_INCREMENTAL_ROWS + 1) as KeyRow[])
          : undefined;
      if (rows !== undefined && rows.length <= MAX_INCREMENTAL_ROWS) {
        for (const row of rows) this.apply(row);
      } else {
        this.byPrefix.clear();
        this.revokedOrder.clear();
        for (const row of this.stmt.loadActive.all(KEY_LIMITS.maxActiveKeys) as KeyRow[]) this.apply(row);
        const revoked = this.stmt.loadRevoked.all(KEY_LIMITS.maxRevokedInMemory) as KeyRow[];
        for (let i = revoked.length - 1; i >= 0; i--) this.apply(revoked[i]!);
      }
      this.revision = rev;
    }).deferred();
  }

  /** Keys mostly share a few scope and role sets: one frozen array per distinct set (bounded). */
  private intern(json: string): readonly string[] {
    let names = this.nameSets.get(json);
    if (names === undefined) {
      names = Object.freeze(parseNames(json));
      if (this.nameSets.size < MAX_NAME_SETS) this.nameSets.set(json, names);
    }
    return names;
  }

  private apply(row: KeyRow): void {
    const revokedAt = row.revoked_at ?? undefined;
    const known = this.byPrefix.has(row.prefix);
    if (revokedAt === undefined && !known && this.byPrefix.size - this.revokedOrder.size >= KEY_LIMITS.maxActiveKeys) return;
    this.byPrefix.set(row.prefix, {
      id: row.id,
      hash: row.hash.toString('latin1'),
      owner: row.owner,
      name: row.name ?? undefined,
      scopes: this.intern(row.scopes),
      roles: this.intern(row.roles),
      expiresAt: row.expires_at ?? undefined,
      revokedAt,
      principal: undefined,
    });
    if (revokedAt !== undefined && !this.revokedOrder.has(row.prefix)) {
      this.revokedOrder.add(row.prefix);
      if (this.revokedOrder.size > KEY_LIMITS.maxRevokedInMemory) {
        const oldest = this.revokedOrder.values().next().value as string;
        this.revokedOrder.delete(oldest);
        this.byPrefix.delete(oldest);
      }
    }
  }
}
