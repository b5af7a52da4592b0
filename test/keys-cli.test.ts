/**
 * `portcullis keys …` as a user runs it (real child processes on a real store file), and the
 * key store's admin API on a real HTTP server.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { handleKeysAdmin } from '../src/identity/keys-admin.js';
import { KeyStore } from '../src/identity/keystore.js';
import { passthroughConfig, tempDir, writeFiles } from './helpers.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

function cli(args: string[], cwd?: string) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000, ...(cwd !== undefined ? { cwd } : {}) });
}

function secretOf(key: string): string {
  return key.slice(key.indexOf('_', 3) + 1);
}

/** Verify with a fresh store, as a gateway process would. */
function verifies(file: string, key: string): boolean {
  const s = KeyStore.open(file, { create: false });
  try {
    return s.verify(key).ok;
  } finally {
    s.close();
  }
}

interface CreatedJson {
  key: string;
  id: string;
  prefix: string;
  owner: string;
  name: string | null;
  scopes: string[];
  roles: string[];
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  replacedBy: string | null;
  status: string;
}

describe('portcullis keys', () => {
  it('create prints the key alone on stdout, the guidance on stderr, and the key verifies', () => {
    const store = join(tempDir('keys-cli-'), 'keys.db');
    const r = cli(['keys', 'create', '--store', store, '--owner', 'svc-a', '--scope', 'read', '--scope', 'write', '--role', 'admin', '--role', 'auditor', '--name', 'ci']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, 'exactly one line on stdout');
    const key = lines[0]!;
    assert.equal(key.slice(0, 3), 'pc_');
    assert.match(r.stderr, /cannot be shown again/);
    assert.match(r.stderr, /roles: admin, auditor/);
    assert.ok(!r.stderr.includes(secretOf(key)), 'the key is not repeated on stderr');
    assert.ok(verifies(store, key));
    const s = KeyStore.open(store);
    const [rec] = s.list();
    const v = s.verify(key);
    s.close();
    assert.equal(rec?.owner, 'svc-a');
    assert.deepEqual(rec?.scopes, ['read', 'write']);
    assert.deepEqual(rec?.roles, ['admin', 'auditor']);
    assert.equal(rec?.name, 'ci');
    assert.ok(v.ok && v.principal.roles.join() === 'admin,auditor');

    const bad = cli(['keys', 'create', '--store', store, '--owner', 'svc-a', '--role', 'two words']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^portcullis: role "two words" contains a space/);
  });

  it('create --json prints one JSON document with the key and the record; --expires takes a duration or a date', () => {
    const store = join(tempDir('keys-cli-'), 'keys.db');
    const before = Date.now();
    const r = cli(['keys', 'create', '--store', store, '--owner', 'svc-b', '--expires', '30d', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as CreatedJson;
    assert.deepEqual(Object.keys(j).sort(), ['createdAt', 'expiresAt', 'id', 'key', 'lastUsedAt', 'name', 'owner', 'prefix', 'replacedBy', 'revokedAt', 'roles', 'scopes', 'status']);
    assert.equal(j.owner, 'svc-b');
    assert.equal(j.status, 'active');
    assert.deepEqual(j.scopes, []);
    assert.deepEqual(j.roles, []);
    const expires = Date.parse(j.expiresAt ?? '');
    assert.ok(Math.abs(expires - (before + 30 * 86_400_000)) < 60_000, `expiresAt ${j.expiresAt}`);
    assert.ok(verifies(store, j.key));

    const d = cli(['keys', 'create', '--store', store, '--owner', 'svc-c', '--expires', '2099-06-30T12:00:00Z', '--json']);
    assert.equal(d.status, 0, d.stderr);
    assert.equal((JSON.parse(d.stdout) as CreatedJson).expiresAt, '2099-06-30T12:00:00.000Z');

    const bad = cli(['keys', 'create', '--store', store, '--owner', 'svc-c', '--expires', 'next tuesday']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^portcullis: --expires: expected a duration/);
    const past = cli(['keys', 'create', '--store', store, '--owner', 'svc-c', '--expires', '2001-01-01']);
    assert.equal(past.status, 1);
    assert.match(past.stderr, /not in the future/);
  });

  it('list shows a table and JSON without any key or hash; revoked keys only with --all', () => {
    const store = join(tempDir('keys-cli-'), 'keys.db');
    const a = JSON.parse(cli(['keys', 'create', '--store', store, '--owner', 'alice', '--scope', 'orders:read', '--role', 'support', '--role', 'admin', '--json']).stdout) as CreatedJson;
    assert.deepEqual(a.roles, ['support', 'admin']);
    const b = JSON.parse(cli(['keys', 'create', '--store', store, '--owner', 'bob', '--name', 'batch', '--json']).stdout) as CreatedJson;
    assert.equal(cli(['keys', 'revoke', '--store', store, b.id]).status, 0);

    const t = cli(['keys', 'list', '--store', store]);
    assert.equal(t.status, 0, t.stderr);
    const rows = t.stdout.trim().split('\n');
    assert.match(rows[0]!, /^ID\s+OWNER\s+NAME\s+SCOPES\s+ROLES\s+CREATED\s+EXPIRES\s+LAST USED\s+STATUS$/);
    assert.equal(rows.length, 2);
    assert.ok(rows[1]!.startsWith(a.id) && rows[1]!.includes('alice') && rows[1]!.includes('orders:read') && rows[1]!.includes(' support,admin ') && rows[1]!.endsWith('active'));
    // The ROLES column lines up with its heading.
    assert.equal(rows[1]!.indexOf('support,admin'), rows[0]!.indexOf('ROLES'));

    const all = cli(['keys', 'list', '--store', store, '--all']);
    assert.equal(all.stdout.trim().split('\n').length, 3);
    assert.ok(all.stdout.includes(b.id) && all.stdout.includes('revoked'));

    const j = cli(['keys', 'list', '--store', store, '--all', '--json']);
    const listed = JSON.parse(j.stdout) as Record<string, unknown>[];
    assert.deepEqual(listed.map((x) => x['id']).sort(), [a.id, b.id].sort());
    assert.deepEqual(listed.find((x) => x['id'] === a.id)?.['roles'], ['support', 'admin']);
    assert.deepEqual(listed.find((x) => x['id'] === b.id)?.['roles'], []);
    for (const out of [t.stdout, all.stdout, j.stdout]) {
      for (const k of [a.key, b.key]) assert.ok(!out.includes(secretOf(k)), 'no key in the listing');
      assert.ok(!/[0-9a-f]{64}/.test(out), 'no hex hash in the listing');
    }
    for (const x of listed) {
      assert.equal(x['key'], undefined);
      assert.equal(x['hash'], undefined);
    }
  });

  it('rotate prints the new key once; both keys work during the overlap', () => {
    const store = join(tempDir('keys-cli-'), 'keys.db');
    const a = JSON.parse(cli(['keys', 'create', '--store', store, '--owner', 'alice', '--scope', 's1', '--role', 'ops', '--json']).stdout) as CreatedJson;
    const before = Date.now();
    const r = cli(['keys', 'rotate', '--store', store, a.id, '--overlap', '1h']);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1);
    const fresh = lines[0]!;
    assert.notEqual(fresh, a.key);
    assert.match(r.stderr, /cannot be shown again/);
    assert.ok(verifies(store, fresh));
    assert.ok(verifies(store, a.key), 'the old key works during the overlap');

    const s = KeyStore.open(store);
    const old = s.get(a.id)!;
    const next = s.get(old.replacedBy ?? '')!;
    s.close();
    assert.ok(Math.abs((old.expiresAt ?? 0) - (before + 3_600_000)) < 60_000);
    assert.deepEqual(next.scopes, ['s1']);
    assert.deepEqual(next.roles, ['ops'], 'rotation keeps the roles');
    assert.equal(next.owner, 'alice');

    const again = cli(['keys', 'rotate', '--store', store, a.id]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already rotated/);

    const zero = cli(['keys', 'rotate', '--store', store, next.id, '--overlap', '0', '--json']);
    assert.equal(zero.status, 0, zero.stderr);
    assert.equal(verifies(store, fresh), false, 'overlap 0 ends the old key at once');
  });

  it('revoke: the key stops working; revoking again or an unknown id exits 1 with one line', () => {
    const store = join(tempDir('keys-cli-'), 'keys.db');
    const a = JSON.parse(cli(['keys', 'create', '--store', store, '--owner', 'alice', '--json']).stdout) as CreatedJson;
    const r = cli(['keys', 'revoke', '--store', store, a.id]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Revoked ${a.id}`));
    assert.equal(verifies(store, a.key), false);

    for (const args of [
      ['keys', 'revoke', '--store', store, a.id],
      ['keys', 'revoke', '--store', store, 'key_unknown123'],
      ['keys', 'rotate', '--store', store, 'key_unknown123'],
      ['keys', 'revoke', '--store', store, a.key],
    ]) {
      const e = cli(args);
      assert.equal(e.status, 1, args.join(' '));
      assert.equal(e.stderr.trim().split('\n').length, 1, `one line: ${e.stderr}`);
      assert.match(e.stderr, /^portcullis: /);
      assert.ok(!e.stderr.includes(secretOf(a.key)), 'a key passed as an id is not echoed');
    }
    assert.match(cli(['keys', 'revoke', '--store', store, 'key_unknown123']).stderr, /no key with id key_unknown123/);
  });

  it('reads the store from the config, and says which key is missing when there is none', () => {
    const dir = writeFiles({
      'with-store.yaml': passthroughConfig('http://127.0.0.1:9', 'identity:\n  apiKeys:\n    store: data/keys.db\n'),
      'no-store.yaml': passthroughConfig('http://127.0.0.1:9'),
    });
    const ok = cli(['keys', 'create', '-c', join(dir, 'with-store.yaml'), '--owner', 'alice']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.ok(existsSync(join(dir, 'data', 'keys.db')), 'the store path is relative to the config file');
    assert.ok(verifies(join(dir, 'data', 'keys.db'), ok.stdout.trim()));
    const listed = cli(['keys', 'list', '--config', join(dir, 'with-store.yaml'), '--json']);
    assert.equal((JSON.parse(listed.stdout) as unknown[]).length, 1);

    const none = cli(['keys', 'list', '-c', join(dir, 'no-store.yaml')]);
    assert.equal(none.status, 1);
    assert.equal(none.stderr.trim().split('\n').length, 1);
    assert.match(none.stderr, /identity\.apiKeys\.store/);

    const missing = cli(['keys', 'list', '--store', join(dir, 'absent.db')]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /does not exist/);
    assert.equal(existsSync(join(dir, 'absent.db')), false, 'list does not create a store');

    const both = cli(['keys', 'list', '-c', join(dir, 'with-store.yaml'), '--store', join(dir, 'x.db')]);
    assert.equal(both.status, 1);
    assert.match(both.stderr, /either --config or --store/);
  });
});

// ---------------------------------------------------------------------------------------

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): Record<string, unknown>;
}

function call(port: number, method: string, path: string, body?: string | Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: body === undefined ? {} : { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) as Record<string, unknown> });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('key store admin API', () => {
  let server: Server;
  let port: number;
  let store: KeyStore;
  let file: string;

  before(async () => {
    file = join(tempDir('keys-admin-'), 'keys.db');
    store = KeyStore.open(file);
    server = createServer((req, res) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      handleKeysAdmin(req, res, store, q === -1 ? url : url.slice(0, q))
        .then((handled) => {
          if (!handled) {
            res.writeHead(404, { 'content-type': 'text/plain' });
            res.end('not ours');
          }
        })
        .catch(() => {
          res.writeHead(500);
          res.end();
        });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    store.close();
  });

  it('creates a key (201, shown once, no-store), then gets and lists it without the key', async () => {
    const c = await call(port, 'POST', '/admin/keys', JSON.stringify({ owner: 'svc-x', scopes: ['a'], roles: ['admin'], name: 'n', expiresAt: '2099-01-01T00:00:00Z' }));
    assert.equal(c.status, 201, c.body);
    assert.equal(c.headers['cache-control'], 'no-store');
    const created = c.json();
    const key = created['key'] as string;
    const id = created['id'] as string;
    assert.equal(c.headers['location'], `/admin/keys/${id}`);
    assert.equal(created['owner'], 'svc-x');
    assert.deepEqual(created['roles'], ['admin']);
    assert.equal(created['expiresAt'], '2099-01-01T00:00:00.000Z');
    assert.ok(verifies(file, key));

    const g = await call(port, 'GET', `/admin/keys/${id}`);
    assert.equal(g.status, 200);
    assert.equal(g.json()['id'], id);
    assert.deepEqual(g.json()['roles'], ['admin']);
    assert.equal(g.json()['key'], undefined);

    const l = await call(port, 'GET', '/admin/keys');
    assert.equal(l.status, 200);
    assert.ok((l.json()['keys'] as { id: string }[]).some((k) => k.id === id));
    for (const r of [g, l]) assert.ok(!r.body.includes(secretOf(key)));
  });

  it('revokes and rotates; revoked keys are listed only with ?all=1', async () => {
    const a = (await call(port, 'POST', '/admin/keys', JSON.stringify({ owner: 'rot', roles: ['ops'] }))).json();
    const r = await call(port, 'POST', `/admin/keys/${a['id'] as string}/rotate`, JSON.stringify({ overlapSeconds: 600 }));
    assert.equal(r.status, 201, r.body);
    const rotated = r.json();
    assert.deepEqual(rotated['roles'], ['ops']);
    assert.equal((rotated['previous'] as { replacedBy: string }).replacedBy, rotated['id']);
    assert.ok(verifies(file, rotated['key'] as string));
    assert.ok(verifies(file, a['key'] as string));

    const d = await call(port, 'POST', `/admin/keys/${rotated['id'] as string}/rotate`); // empty body: default overlap
    assert.equal(d.status, 201, d.body);
    const prev = d.json()['previous'] as { expiresAt: string };
    assert.ok(Math.abs(Date.parse(prev.expiresAt) - (Date.now() + 86_400_000)) < 60_000);

    const v = await call(port, 'POST', `/admin/keys/${a['id'] as string}/revoke`);
    assert.equal(v.status, 200, v.body);
    assert.equal(v.json()['status'], 'revoked');
    assert.equal(verifies(file, a['key'] as string), false);
    const again = await call(port, 'POST', `/admin/keys/${a['id'] as string}/revoke`);
    assert.equal(again.status, 409);
    assert.equal(again.json()['code'], 'conflict');

    const active = (await call(port, 'GET', '/admin/keys')).json()['keys'] as { id: string }[];
    const all = (await call(port, 'GET', '/admin/keys?all=1')).json()['keys'] as { id: string }[];
    assert.ok(!active.some((k) => k.id === a['id']));
    assert.ok(all.some((k) => k.id === a['id']));
  });

  it('answers bad input with a precise problem+json', async () => {
    const cases: [string, string, string | Buffer, number, string, RegExp][] = [
      ['POST', '/admin/keys', '{"owner": ', 400, 'malformed_request', /not valid JSON/],
      ['POST', '/admin/keys', '[]', 400, 'malformed_request', /JSON object/],
      ['POST', '/admin/keys', '', 400, 'malformed_request', /JSON object/],
      ['POST', '/admin/keys', '{"scopes": ["a"]}', 400, 'malformed_request', /owner is required/],
      ['POST', '/admin/keys', '{"owner": "a", "scope": ["x"]}', 400, 'malformed_request', /unknown field "scope"/],
      ['POST', '/admin/keys', '{"owner": "a", "scopes": "x"}', 400, 'malformed_request', /scopes must be an array/],
      ['POST', '/admin/keys', '{"owner": "a", "roles": "admin"}', 400, 'malformed_request', /roles must be an array of strings/],
      ['POST', '/admin/keys', '{"owner": "a", "roles": [1]}', 400, 'malformed_request', /roles must be an array of strings/],
      ['POST', '/admin/keys', '{"owner": "a", "roles": ["a b"]}', 400, 'malformed_request', /role "a b" contains a space/],
      ['POST', '/admin/keys', '{"owner": "a", "role": ["x"]}', 400, 'malformed_request', /unknown field "role"; allowed: owner, scopes, roles/],
      ['POST', '/admin/keys', '{"owner": "a", "expiresAt": "tomorrow"}', 400, 'malformed_request', /expiresAt must be an RFC 3339/],
      ['POST', '/admin/keys', '{"owner": "a", "expiresAt": "2001-01-01T00:00:00Z"}', 400, 'malformed_request', /not in the future/],
      ['POST', '/admin/keys', '{"owner": ""}', 400, 'malformed_request', /owner must be a non-empty string/],
      ['POST', '/admin/keys/key_unknown123/rotate', '{"overlapSeconds": -5}', 400, 'malformed_request', /overlapSeconds/],
      ['POST', '/admin/keys', Buffer.alloc(20 * 1024, 0x20), 413, 'body_too_large', /16384 bytes/],
      ['GET', '/admin/keys/key_unknown123', '', 404, 'not_found', /no key with id key_unknown123/],
      ['POST', '/admin/keys/key_unknown123/revoke', '', 404, 'not_found', /no key with id/],
      ['POST', '/admin/keys/not-an-id/revoke', '', 404, 'not_found', /no such key/],
      ['DELETE', '/admin/keys/key_unknown123', '', 405, 'method_not_allowed', /DELETE is not allowed/],
    ];
    for (const [method, path, body, status, code, detail] of cases) {
      const r = await call(port, method, path, body === '' ? undefined : body);
      const what = `${method} ${path} ${String(body).slice(0, 40)}`;
      assert.equal(r.status, status, `${what}: ${r.body}`);
      assert.equal(r.headers['content-type'], 'application/problem+json', what);
      const p = r.json();
      assert.equal(p['status'], status, what);
      assert.equal(p['code'], code, what);
      assert.equal(typeof p['type'], 'string', what);
      assert.equal(typeof p['title'], 'string', what);
      assert.match(String(p['detail']), detail, what);
    }
    const m = await call(port, 'PUT', '/admin/keys');
    assert.equal(m.headers['allow'], 'GET, POST');
  });

  it('leaves other paths to the caller', async () => {
    for (const path of ['/admin/status', '/admin/keysx', '/admin/keys/', '/admin/keys/key_abc/delete']) {
      const r = await call(port, 'GET', path);
      assert.equal(r.status, 404, path);
      assert.equal(r.body, 'not ours', path);
    }
  });
});
