/**
 * The API key store on real SQLite files in temp dirs: the key lifecycle (create, verify,
 * revoke, rotate, expiry), what is and is not written to disk, batched last-used times, the
 * schema version, and a revocation seen by another process within a second.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { KeyStore, KeyStoreError, SCHEMA_VERSION, keyPrefix, parseTimestamp, recordToJson } from '../src/identity/keystore.js';
import type { AuthFailure, AuthResult } from '../src/identity/types.js';
import { tempDir } from './helpers.js';

const T0 = Date.UTC(2030, 0, 1);

function clock(start = T0): { now: () => number; set(ms: number): void; advance(ms: number): void } {
  let t = start;
  return { now: () => t, set: (ms) => (t = ms), advance: (ms) => (t += ms) };
}

const open: KeyStore[] = [];
function openStore(file: string, opts: Parameters<typeof KeyStore.open>[1] = {}): KeyStore {
  const s = KeyStore.open(file, opts);
  open.push(s);
  return s;
}
after(() => {
  for (const s of open) s.close();
});

function refused(r: AuthResult): AuthFailure {
  assert.equal(r.ok, false, 'expected a refusal');
  return r as AuthFailure;
}

function secretOf(key: string): string {
  return key.slice(key.indexOf('_', 3) + 1);
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

describe('KeyStore lifecycle', () => {
  it('issues pc_<prefix>_<secret> keys that verify to the right principal', () => {
    const c = clock();
    const store = openStore(join(tempDir('keystore-'), 'keys.db'), { now: c.now });
    const { record, key } = store.create({ owner: 'svc-billing', scopes: ['invoices:read', 'invoices:write'], name: 'billing cron' });

    assert.equal(key.slice(0, 3), 'pc_');
    assert.equal(key[11], '_');
    assert.ok(secretOf(key).length >= 32);
    assert.equal(keyPrefix(key), record.prefix);
    assert.equal(record.status, 'active');
    assert.equal(record.createdAt, T0);

    const r = store.verify(key);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.deepEqual(r.principal, {
      id: 'svc-billing',
      type: 'api-key',
      scopes: ['invoices:read', 'invoices:write'],
      roles: [],
      claims: { keyId: record.id, owner: 'svc-billing', name: 'billing cron' },
      credentialId: record.id,
    });
    assert.equal(r.expiresAt, undefined);

    // Two keys are never the same, and a key never verifies as another's.
    const other = store.create({ owner: 'svc-other' });
    assert.notEqual(other.key, key);
    const r2 = store.verify(other.key);
    assert.ok(r2.ok && r2.principal.id === 'svc-other');
  });

  it('refuses a wrong secret, an unknown prefix and malformed keys, with distinct reasons and never the key', () => {
    const store = openStore(join(tempDir('keystore-'), 'keys.db'));
    const { key, record } = store.create({ owner: 'alice' });
    const last = key.at(-1) === 'A' ? 'B' : 'A';
    const wrongSecret = key.slice(0, -1) + last;
    const unknownPrefix = 'pc_' + (key[3] === 'Z' ? 'Y' : 'Z') + key.slice(4);

    const a = refused(store.verify(wrongSecret));
    assert.equal(a.code, 'invalid_api_key');
    assert.match(a.reason, /does not match/);
    assert.ok(a.reason.includes(record.id));

    const b = refused(store.verify(unknownPrefix));
    assert.equal(b.code, 'invalid_api_key');
    assert.match(b.reason, /unknown/);

    const malformed = [
      '',
      'pc_',
      key.slice(0, 40), // secret too short
      'xx' + key.slice(2), // wrong tag
      key.slice(0, 11) + '-' + key.slice(12), // wrong separator
      key.slice(0, 20) + '_' + key.slice(21), // `_` inside the secret
      key.slice(0, 20) + 'é' + key.slice(21),
      key + 'a'.repeat(600), // over the length bound
    ];
    for (const m of malformed) {
      const f = refused(store.verify(m));
      assert.equal(f.code, 'invalid_api_key');
      assert.match(f.reason, /malformed/, `for ${JSON.stringify(m.slice(0, 30))}`);
    }
    for (const f of [a, b]) {
      assert.ok(!f.reason.includes(secretOf(key)));
      assert.ok(!f.reason.includes(record.prefix));
    }
    // The right key still works after all that.
    assert.equal(store.verify(key).ok, true);
  });

  it('refuses a key once it has expired (injected clock)', () => {
    const c = clock();
    const store = openStore(join(tempDir('keystore-'), 'keys.db'), { now: c.now });
    const { key, record } = store.create({ owner: 'alice', expiresAt: T0 + 60_000 });
    const ok = store.verify(key);
    assert.ok(ok.ok);
    assert.equal(ok.expiresAt, T0 + 60_000);
    c.set(T0 + 59_999);
    assert.equal(store.verify(key).ok, true);
    c.set(T0 + 60_000);
    const f = refused(store.verify(key));
    assert.equal(f.code, 'invalid_api_key');
    assert.match(f.reason, /expired/);
    assert.equal(store.get(record.id)?.status, 'expired');
    assert.throws(() => store.create({ owner: 'bob', expiresAt: T0 }), (e: unknown) => e instanceof KeyStoreError && e.kind === 'invalid' && /not in the future/.test(e.message));
  });

  it('revokes: the key is refused, listed only with includeRevoked, and cannot be revoked twice', () => {
    const c = clock();
    const store = openStore(join(tempDir('keystore-'), 'keys.db'), { now: c.now });
    const { key, record } = store.create({ owner: 'alice' });
    const keep = store.create({ owner: 'bob' });
    c.advance(1000);
    const revoked = store.revoke(record.id);
    assert.equal(revoked.status, 'revoked');
    assert.equal(revoked.revokedAt, T0 + 1000);

    const f = refused(store.verify(key));
    assert.equal(f.code, 'invalid_api_key');
    assert.match(f.reason, /revoked/);
    assert.equal(store.verify(keep.key).ok, true);

    assert.deepEqual(store.list().map((r) => r.id), [keep.record.id]);
    assert.deepEqual(new Set(store.list({ includeRevoked: true }).map((r) => r.id)), new Set([record.id, keep.record.id]));

    assert.throws(() => store.revoke(record.id), (e: unknown) => e instanceof KeyStoreError && e.kind === 'conflict' && /already revoked/.test(e.message));
    assert.throws(() => store.revoke('key_doesnotexist'), (e: unknown) => e instanceof KeyStoreError && e.kind === 'not_found');
    assert.throws(() => store.revoke(key), (e: unknown) => e instanceof KeyStoreError && e.kind === 'not_found' && !e.message.includes(secretOf(key)));
  });

  it('rotates: old and new key both work during the overlap, the old one is refused after it', () => {
    const c = clock();
    const store = openStore(join(tempDir('keystore-'), 'keys.db'), { now: c.now });
    const old = store.create({ owner: 'svc', scopes: ['a', 'b'], name: 'deploy' });
    c.advance(10_000);
    const { record, key, previous } = store.rotate(old.record.id, { overlapSeconds: 3600 });

    assert.notEqual(key, old.key);
    assert.equal(record.owner, 'svc');
    assert.deepEqual(record.scopes, ['a', 'b']);
    assert.equal(record.name, 'deploy');
    assert.equal(previous.replacedBy, record.id);
    assert.equal(previous.expiresAt, T0 + 10_000 + 3_600_000);

    assert.equal(store.verify(old.key).ok, true);
    assert.equal(store.verify(key).ok, true);
    c.set(T0 + 10_000 + 3_600_000 - 1);
    assert.equal(store.verify(old.key).ok, true);
    c.advance(1);
    assert.match(refused(store.verify(old.key)).reason, /expired/);
    assert.equal(store.verify(key).ok, true);

    // The overlap never extends a key past its own expiry.
    const short = store.create({ owner: 'x', expiresAt: c.now() + 60_000 });
    const r = store.rotate(short.record.id, { overlapSeconds: 86_400 });
    assert.equal(r.previous.expiresAt, c.now() + 60_000);
    assert.equal(r.record.expiresAt, c.now() + 60_000, 'the successor gets the same lifetime');

    assert.throws(() => store.rotate(old.record.id, { overlapSeconds: 60 }), (e: unknown) => e instanceof KeyStoreError && e.kind === 'conflict');
    assert.throws(() => store.rotate(record.id, { overlapSeconds: -1 }), (e: unknown) => e instanceof KeyStoreError && e.kind === 'invalid');
  });

  it('gives keys roles: on the record, on the principal, copied by rotation, bounded like scopes', () => {
    const store = openStore(join(tempDir('keystore-'), 'keys.db'));
    const { key, record } = store.create({ owner: 'ops', scopes: ['s'], roles: ['admin', 'auditor', 'admin'] });
    assert.deepEqual(record.roles, ['admin', 'auditor'], 'duplicates dropped, order kept');
    assert.deepEqual(recordToJson(record).roles, ['admin', 'auditor']);
    const r = store.verify(key);
    assert.ok(r.ok);
    assert.deepEqual(r.principal.roles, ['admin', 'auditor']);
    assert.deepEqual(r.principal.scopes, ['s']);
    assert.ok(Object.isFrozen(r.principal.roles));

    const plain = store.create({ owner: 'plain' });
    assert.deepEqual(plain.record.roles, []);
    const p = store.verify(plain.key);
    assert.ok(p.ok && p.principal.roles.length === 0);

    const rotated = store.rotate(record.id, { overlapSeconds: 60 });
    assert.deepEqual(rotated.record.roles, ['admin', 'auditor']);
    const n = store.verify(rotated.key);
    assert.ok(n.ok && n.principal.roles.join() === 'admin,auditor');

    // Read back by another process's snapshot (a fresh store on the same file).
    const other = openStore(store.file);
    const o = other.verify(rotated.key);
    assert.ok(o.ok && o.principal.roles.join() === 'admin,auditor');
    assert.deepEqual(other.get(record.id)?.roles, ['admin', 'auditor']);

    const invalid = (roles: unknown, message: RegExp) =>
      assert.throws(() => store.create({ owner: 'x', roles: roles as string[] }), (e: unknown) => e instanceof KeyStoreError && e.kind === 'invalid' && message.test(e.message), String(roles).slice(0, 40));
    invalid('admin', /roles must be an array/);
    invalid([''], /each role must be a string of 1 to 128/);
    invalid(['r'.repeat(129)], /each role must be a string of 1 to 128/);
    invalid([42], /each role must be a string/);
    invalid(['has space'], /role "has space" contains a space/);
    invalid(['ctl\u0001'], /contains a space or control character/);
    invalid(Array.from({ length: 101 }, (_, i) => `r${i}`), /at most 100 roles/);
    assert.equal(store.create({ owner: 'x', roles: Array.from({ length: 100 }, (_, i) => `r${i}`) }).record.roles.length, 100);
  });
});

describe('KeyStore on disk', () => {
  it('creates the directory and a 0600 file, and never writes the key, only its hash', () => {
    const dir = tempDir('keystore-');
    const file = join(dir, 'nested', 'deeper', 'keys.db');
    const store = KeyStore.open(file);
    const { key, record } = store.create({ owner: 'alice', scopes: ['s'] });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    if (existsSync(file + '-wal')) assert.equal(statSync(file + '-wal').mode & 0o777, 0o600);
    store.close();

    const bytes = Buffer.concat([file, file + '-wal'].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
    assert.ok(bytes.includes(sha256(key)), 'control: the hash is in the file');
    assert.ok(bytes.includes(Buffer.from(record.id)), 'control: the id is in the file');
    assert.ok(!bytes.includes(Buffer.from(secretOf(key))), 'the secret is not in the file');
    assert.ok(!bytes.includes(Buffer.from(key)), 'the key is not in the file');
  });

  it('keeps the schema version in user_version and refuses a store from a newer version or a foreign file', () => {
    const dir = tempDir('keystore-');
    const file = join(dir, 'keys.db');
    KeyStore.open(file).close();
    const db = new Database(file);
    assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.pragma('user_version = 99');
    db.close();
    assert.throws(() => KeyStore.open(file), (e: unknown) => e instanceof KeyStoreError && /newer/.test(e.message));

    const foreign = join(dir, 'other.db');
    const f = new Database(foreign);
    f.exec('CREATE TABLE keys (x TEXT)');
    f.close();
    assert.throws(() => KeyStore.open(foreign), (e: unknown) => e instanceof KeyStoreError && e.message.includes(foreign));

    const text = join(dir, 'notes.txt');
    writeFileSync(text, 'this is not a database, just text long enough to have a header. '.repeat(4));
    assert.throws(() => KeyStore.open(text), (e: unknown) => e instanceof KeyStoreError && /cannot open key store/.test(e.message));

    assert.throws(() => KeyStore.open(join(dir, 'missing.db'), { create: false }), (e: unknown) => e instanceof KeyStoreError && e.kind === 'not_found');
    assert.equal(existsSync(join(dir, 'missing.db')), false);
  });

  it('migrates a version 1 store in place: its keys keep working, with no roles, and can be given successors with roles', () => {
    const dir = tempDir('keystore-');
    const file = join(dir, 'keys.db');
    // A store as Portcullis with schema version 1 wrote it (its exact schema).
    const v1 = new Database(file);
    v1.pragma('journal_mode = WAL');
    v1.exec(`
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
    v1.pragma('user_version = 1');
    const oldKey = 'pc_AbCdEf12_' + 'x'.repeat(43);
    const revokedKey = 'pc_Revoked1_' + 'y'.repeat(43);
    const insert = v1.prepare('INSERT INTO keys (id, prefix, hash, owner, name, scopes, created_at, expires_at, revoked_at, rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    insert.run('key_v1old0000000001', 'AbCdEf12', sha256(oldKey), 'legacy-svc', 'from v1', '["orders:read"]', T0 - 1000, null, null, 1);
    insert.run('key_v1old0000000002', 'Revoked1', sha256(revokedKey), 'gone', null, '[]', T0 - 1000, null, T0 - 500, 2);
    v1.prepare("UPDATE meta SET value = 2 WHERE name = 'revision'").run();
    v1.close();

    const c = clock();
    const store = openStore(file, { now: c.now });
    const db = new Database(file, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), 2);
    assert.equal(SCHEMA_VERSION, 2);
    const columns = (db.prepare('SELECT name FROM pragma_table_info(?)').all('keys') as { name: string }[]).map((r) => r.name);
    db.close();
    assert.ok(columns.includes('roles'), columns.join());

    const r = store.verify(oldKey);
    assert.ok(r.ok, r.ok ? '' : r.reason);
    assert.equal(r.principal.id, 'legacy-svc');
    assert.deepEqual(r.principal.scopes, ['orders:read']);
    assert.deepEqual(r.principal.roles, []);
    assert.match(refused(store.verify(revokedKey)).reason, /revoked/);
    const rec = store.get('key_v1old0000000001');
    assert.deepEqual(rec?.roles, []);
    assert.equal(rec?.name, 'from v1');

    const rotated = store.rotate('key_v1old0000000001', { overlapSeconds: 0 });
    assert.deepEqual(rotated.record.roles, []);
    assert.deepEqual(rotated.record.scopes, ['orders:read']);
    assert.equal(store.verify(oldKey).ok, false);
    const fresh = store.create({ owner: 'new', roles: ['admin'] });
    const f = store.verify(fresh.key);
    assert.ok(f.ok && f.principal.roles.join() === 'admin');
    store.close();

    // Opening it again (or from another process) is a no-op: already at version 2.
    const again = openStore(file, { now: c.now });
    assert.equal(again.verify(rotated.key).ok, true);
    assert.deepEqual(again.list().filter((k) => k.status === 'active').map((k) => k.owner).sort(), ['legacy-svc', 'new']);
  });

  it('records last use in memory and writes it in one batch, never per request', () => {
    const c = clock();
    const dir = tempDir('keystore-');
    const file = join(dir, 'keys.db');
    const store = openStore(file, { now: c.now, flushMs: 3_600_000 });
    const a = store.create({ owner: 'a' });
    const b = store.create({ owner: 'b' });
    const idle = store.create({ owner: 'idle' });

    const snapshot = (): string =>
      [file, file + '-wal']
        .filter((f) => existsSync(f))
        .map((f) => createHash('sha256').update(readFileSync(f)).digest('hex'))
        .join();
    const before = snapshot();
    for (let i = 0; i < 500; i++) {
      c.set(T0 + i);
      assert.equal(store.verify(i % 2 === 0 ? a.key : b.key).ok, true);
      store.verify(idle.key.slice(0, -1) + (idle.key.at(-1) === 'x' ? 'y' : 'x')); // failed attempts are not uses
    }
    assert.equal(snapshot(), before, '500 verifies wrote nothing to the database');

    const reader = openStore(file);
    assert.equal(reader.get(a.record.id)?.lastUsedAt, undefined);
    store.flushUsage();
    assert.equal(reader.get(a.record.id)?.lastUsedAt, T0 + 498);
    assert.equal(reader.get(b.record.id)?.lastUsedAt, T0 + 499);
    assert.equal(reader.get(idle.record.id)?.lastUsedAt, undefined);
  });

  it('flushes last use on its timer and on close', async () => {
    const dir = tempDir('keystore-');
    const file = join(dir, 'keys.db');
    const store = openStore(file, { flushMs: 50 });
    const { key, record } = store.create({ owner: 'a' });
    const reader = openStore(file);
    const t = Date.now();
    assert.equal(store.verify(key).ok, true);
    await new Promise((r) => setTimeout(r, 300));
    const used = reader.get(record.id)?.lastUsedAt;
    assert.ok(used !== undefined && used >= t, 'flushed by the timer');

    const second = KeyStore.open(file, { flushMs: 3_600_000, now: () => used + 5000 });
    assert.equal(second.verify(key).ok, true);
    second.close();
    assert.equal(reader.get(record.id)?.lastUsedAt, used + 5000, 'flushed on close');
    store.close();
  });

  it('parses RFC 3339 times by position and refuses impossible dates', () => {
    assert.equal(parseTimestamp('2030-01-31T12:00:00Z'), Date.UTC(2030, 0, 31, 12));
    assert.equal(parseTimestamp('2030-01-31T12:00:00.250+02:00'), Date.UTC(2030, 0, 31, 10, 0, 0, 250));
    assert.equal(parseTimestamp('2030-01-31'), Date.UTC(2030, 0, 31));
    for (const bad of ['2030-02-30', '2030-13-01T00:00:00Z', '2030-01-31T24:00:00Z', '2030-01-31T12:00:00', '31/01/2030', '2030-01-31T12:00:00Zjunk', '9'.repeat(5000)]) {
      assert.equal(parseTimestamp(bad), undefined, bad.slice(0, 40));
    }
  });
});

describe('KeyStore across processes', () => {
  it('a key revoked in one process is refused by another within one second', async () => {
    const dir = tempDir('keystore-');
    const file = join(dir, 'keys.db');
    const store = openStore(file);
    const { key, record } = store.create({ owner: 'alice' });

    const moduleUrl = new URL('../src/identity/keystore.js', import.meta.url).href;
    const script = join(dir, 'verifier.mjs');
    writeFileSync(
      script,
      `const { KeyStore } = await import(${JSON.stringify(moduleUrl)});
const store = KeyStore.open(${JSON.stringify(file)});
const key = process.env.PORTCULLIS_TEST_KEY;
const stopAt = Date.now() + 15000;
let refusals = 0;
const timer = setInterval(() => {
  const r = store.verify(key);
  process.stdout.write(JSON.stringify({ t: Date.now(), ok: r.ok, reason: r.ok ? undefined : r.reason }) + '\\n');
  if (!r.ok) refusals++;
  if (refusals >= 3 || Date.now() > stopAt) { clearInterval(timer); store.close(); }
}, 5);
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PORTCULLIS_TEST_KEY: key } });
    const lines: { t: number; ok: boolean; reason?: string }[] = [];
    let buf = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buf.slice(0, nl)) as { t: number; ok: boolean; reason?: string });
        buf = buf.slice(nl + 1);
      }
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));

    const waitFor = async (pred: () => boolean, what: string, ms = 10_000): Promise<void> => {
      const until = Date.now() + ms;
      while (!pred()) {
        if (Date.now() > until) throw new Error(`${what}; child stderr: ${stderr.slice(0, 2000)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    try {
      await waitFor(() => lines.filter((l) => l.ok).length >= 20, 'the child never accepted the key');
      store.revoke(record.id);
      const revokedAt = Date.now();
      await waitFor(() => lines.some((l) => !l.ok), 'the child never refused the revoked key', 5000);
      const first = lines.find((l) => !l.ok)!;
      assert.match(first.reason ?? '', /revoked/);
      assert.ok(first.t - revokedAt < 1000, `refused ${first.t - revokedAt} ms after the revoke`);
      assert.ok(!lines.some((l) => l.ok && l.t >= revokedAt + 1000), 'no acceptance a second after the revoke');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill();
    }
  });
});
