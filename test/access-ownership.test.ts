/**
 * Object-level authorization (BOLA): ownership rules for every request location and claim
 * match, admin bypass, and ownership lookups against a real HTTP owner service on port 0
 * (owner match, other owner, 404, 5xx, timeout, non-JSON, oversized answers, caching,
 * single flight, value encoding), plus the extension parser's messages.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { compileOperationAccess, parseOwnershipExtension } from '../src/access/extensions.js';
import type { OwnershipInput, OwnershipPolicy } from '../src/access/ownership.js';
import { singleDocument } from '../src/access/schema-resolve.js';
import type { Decision, Principal } from '../src/pipeline/types.js';

const principal = (id: string, claims: Record<string, unknown>, roles: string[] = ['user']): Principal => ({
  id,
  type: 'jwt',
  scopes: [],
  roles,
  claims: { sub: id, ...claims },
  credentialId: `jti-${id}`,
});

const alice = principal('alice', { teams: ['red', 'blue'] });
// bob's teams come as a space-separated string (like an OAuth scope claim).
const bob = principal('bob', { teams: 'green yellow' });
const admin = principal('root', { teams: [] }, ['admin']);

function input(over: Partial<OwnershipInput> & { principal: Principal | undefined }): OwnershipInput {
  return { params: {}, query: new URLSearchParams(), headers: {}, body: undefined, ...over };
}

function policyOf(ext: unknown): OwnershipPolicy {
  const r = parseOwnershipExtension(ext, 'x-portcullis-owner');
  assert.deepEqual(r.errors, []);
  assert.ok(r.policy);
  return r.policy;
}

function assertDeny(d: Decision, code: string, ...mentions: string[]): void {
  assert.equal(d.action, 'deny', JSON.stringify(d));
  const deny = d as Extract<Decision, { action: 'deny' }>;
  assert.equal(deny.code, code);
  for (const m of mentions) assert.ok(deny.reason.includes(m), `reason ${JSON.stringify(deny.reason)} mentions ${m}`);
}

/** A request carrying `value` at the given location, as the rule in `ruleFor` reads it. */
function carrying(where: 'path' | 'query' | 'header' | 'body', value: string, who: Principal): OwnershipInput {
  switch (where) {
    case 'path':
      return input({ params: { userId: value }, principal: who });
    case 'query':
      return input({ query: new URLSearchParams({ userId: value }), principal: who });
    case 'header':
      return input({ headers: { 'x-user-id': value }, principal: who });
    case 'body':
      return input({ body: { owner: { id: value } }, principal: who });
  }
}
const nameFor = { path: 'userId', query: 'userId', header: 'X-User-Id', body: '/owner/id' } as const;

describe('ownership rules', () => {
  for (const where of ['path', 'query', 'header', 'body'] as const) {
    it(`equalsClaim, ${where}: alice may act on her own object, not on bob's`, () => {
      const p = policyOf({ rules: [{ in: where, name: nameFor[where], equalsClaim: 'sub' }], bypassRoles: ['admin'] });
      assert.equal(p.needsBody, where === 'body');
      assert.deepEqual(p.check(carrying(where, 'alice', alice)), { action: 'continue' });
      const d = p.check(carrying(where, 'bob', alice)) as Decision;
      assertDeny(d, 'object_access_denied', 'rules[0]', nameFor[where]);
      // The reason names the rule and parameter, never the values compared.
      assert.ok(!(d as { reason: string }).reason.includes('bob') && !(d as { reason: string }).reason.includes('alice'));
      assert.deepEqual(p.check(carrying(where, 'alice', admin)), { action: 'continue' }, 'admin bypass');
      assert.deepEqual(p.check(carrying(where, 'bob', bob)), { action: 'continue' });
    });

    it(`inClaim, ${where}: membership in an array claim and in a space-separated claim`, () => {
      const p = policyOf({ rules: [{ in: where, name: nameFor[where], inClaim: 'teams' }] });
      assert.deepEqual(p.check(carrying(where, 'blue', alice)), { action: 'continue' });
      assertDeny(p.check(carrying(where, 'green', alice)) as Decision, 'object_access_denied', 'inClaim "teams"');
      assert.deepEqual(p.check(carrying(where, 'yellow', bob)), { action: 'continue' });
      assertDeny(p.check(carrying(where, 'red', bob)) as Decision, 'object_access_denied');
      // A substring of a space-separated claim is not a member.
      assertDeny(p.check(carrying(where, 'een', bob)) as Decision, 'object_access_denied');
      assertDeny(p.check(carrying(where, 'green yellow', bob)) as Decision, 'object_access_denied');
      // No bypass configured: admin is checked like anyone.
      assertDeny(p.check(carrying(where, 'red', admin)) as Decision, 'object_access_denied');
    });
  }

  it('all rules must hold (AND); id means principal.id', () => {
    const p = policyOf({
      rules: [
        { in: 'path', name: 'userId', equalsClaim: 'id' },
        { in: 'path', name: 'teamId', inClaim: 'teams' },
      ],
    });
    assert.deepEqual(p.check(input({ params: { userId: 'alice', teamId: 'red' }, principal: alice })), { action: 'continue' });
    assertDeny(p.check(input({ params: { userId: 'alice', teamId: 'green' }, principal: alice })) as Decision, 'object_access_denied', 'rules[1]', 'teamId');
    assertDeny(p.check(input({ params: { userId: 'bob', teamId: 'red' }, principal: alice })) as Decision, 'object_access_denied', 'rules[0]', 'userId');
  });

  it('fails closed: missing parameter, no principal, repeated query parameter, non-scalar body value, missing claim', () => {
    const p = policyOf({ rules: [{ in: 'query', name: 'userId', equalsClaim: 'sub' }] });
    assertDeny(p.check(input({ principal: alice })) as Decision, 'object_access_denied', 'is missing');
    assertDeny(p.check(input({ query: new URLSearchParams('userId=alice'), principal: undefined })) as Decision, 'object_access_denied');
    assertDeny(p.check(input({ query: new URLSearchParams('userId=alice&userId=bob'), principal: alice })) as Decision, 'object_access_denied', 'more than once');
    assertDeny(p.check(input({ query: new URLSearchParams('userId='), principal: alice })) as Decision, 'object_access_denied', 'empty');

    const body = policyOf({ rules: [{ in: 'body', name: '/ownerId', equalsClaim: 'sub' }] });
    assertDeny(body.check(input({ body: { ownerId: ['alice'] }, principal: alice })) as Decision, 'object_access_denied');
    assertDeny(body.check(input({ body: undefined, principal: alice })) as Decision, 'object_access_denied');
    assertDeny(body.check(input({ body: { ownerId: 'alice' }, principal: principal('x', { sub: undefined }) })) as Decision, 'object_access_denied');
    // Numeric ids compare as strings.
    assert.deepEqual(body.check(input({ body: { ownerId: 42 }, principal: principal('42', {}) })), { action: 'continue' });

    const claim = policyOf({ rules: [{ in: 'path', name: 'userId', equalsClaim: 'tenant' }] });
    assertDeny(claim.check(input({ params: { userId: 'alice' }, principal: alice })) as Decision, 'object_access_denied');
  });
});

interface Owners {
  url: string;
  paths: string[];
  close(): Promise<void>;
}

/** The owner service: GET /internal/owners/notes/{id} → {"owner": …}, with misbehaving ids. */
async function startOwners(): Promise<Owners> {
  const table: Record<string, unknown> = { n1: { owner: 'alice' }, n2: { owner: 'bob' }, n3: { owner: null }, n4: { other: 1 }, team1: { owner: 'red' } };
  const paths: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '';
    paths.push(url);
    const prefix = '/internal/owners/notes/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const id = path.startsWith(prefix) ? decodeURIComponent(path.slice(prefix.length)) : '';
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (id === 'boom') return json(500, { error: 'db down' });
    if (id === 'slow') return later(3000, () => json(200, { owner: 'alice' }));
    if (id === 'late') return later(100, () => json(200, { owner: 'alice' }));
    if (id === 'text') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      return void res.end('alice');
    }
    if (id === 'garbage') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end('{"owner":');
    }
    if (id === 'big') return json(200, { owner: 'alice', pad: 'x'.repeat(100 * 1024) });
    if (id === 'bigchunked') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"owner":"alice","pad":"');
      for (let i = 0; i < 100; i++) res.write('x'.repeat(1024));
      return void res.end('"}');
    }
    const row = table[id];
    if (row === undefined) return json(404, { error: 'no such note' });
    json(200, row);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    paths,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

describe('ownership lookups against a real owner service', () => {
  let owners: Owners;
  before(async () => {
    owners = await startOwners();
  });
  after(() => owners.close());

  const lookupPolicy = (extra: Record<string, unknown> = {}) =>
    policyOf({
      lookup: {
        param: { in: 'path', name: 'noteId' },
        url: `${owners.url}/internal/owners/notes/{value}`,
        ownerPointer: '/owner',
        equalsClaim: 'sub',
        timeoutMs: 300,
        ...extra,
      },
      bypassRoles: ['admin'],
    });
  const note = (id: string, who: Principal) => input({ params: { noteId: id }, principal: who });
  const calls = (id: string) => owners.paths.filter((p) => p === `/internal/owners/notes/${id}`).length;

  it('owner matches → continue; another owner → object_access_denied; no such object (404) → object_access_denied', async () => {
    const p = lookupPolicy();
    assert.deepEqual(await p.check(note('n1', alice)), { action: 'continue' });
    assertDeny(await p.check(note('n2', alice)), 'object_access_denied', 'noteId');
    assertDeny(await p.check(note('missing', alice)), 'object_access_denied', 'no object');
    assertDeny(await p.check(note('n3', alice)), 'object_access_denied', 'no object');
    assert.deepEqual(await p.check(note('n2', bob)), { action: 'continue' });
  });

  it('admin bypass skips the lookup entirely', async () => {
    const p = lookupPolicy();
    const before = owners.paths.length;
    assert.deepEqual(p.check(note('n2', admin)), { action: 'continue' });
    assert.equal(owners.paths.length, before);
  });

  it('server error, non-JSON, truncated JSON, an answer without an owner, and oversized answers → ownership_lookup_failed', async () => {
    const p = lookupPolicy();
    assertDeny(await p.check(note('boom', alice)), 'ownership_lookup_failed', '500');
    assertDeny(await p.check(note('text', alice)), 'ownership_lookup_failed', 'not usable JSON');
    assertDeny(await p.check(note('garbage', alice)), 'ownership_lookup_failed', 'not usable JSON');
    assertDeny(await p.check(note('n4', alice)), 'ownership_lookup_failed', 'no string owner');
    assertDeny(await p.check(note('big', alice)), 'ownership_lookup_failed', 'larger than 65536');
    assertDeny(await p.check(note('bigchunked', alice)), 'ownership_lookup_failed', 'larger than 65536');
    // Failures are not cached: the next check asks again.
    const n = calls('boom');
    assertDeny(await p.check(note('boom', alice)), 'ownership_lookup_failed');
    assert.equal(calls('boom'), n + 1);
  });

  it('a slow owner service → ownership_lookup_failed within about timeoutMs', async () => {
    const p = lookupPolicy();
    const t0 = performance.now();
    const d = await p.check(note('slow', alice));
    const ms = performance.now() - t0;
    assertDeny(d, 'ownership_lookup_failed', 'within 300 ms');
    assert.ok(ms >= 250 && ms < 1000, `took ${ms} ms`);
  });

  it('caches answers: the second check does not call the service and answers synchronously; cacheSeconds 0 disables it', async () => {
    const p = lookupPolicy();
    const before = calls('n1');
    assert.deepEqual(await p.check(note('n1', alice)), { action: 'continue' });
    assert.equal(calls('n1'), before + 1);
    const again = p.check(note('n1', alice));
    assert.ok(!(again instanceof Promise), 'a cache hit is synchronous');
    assert.deepEqual(again, { action: 'continue' });
    // The cached owner is compared with each caller: bob is still refused.
    assertDeny(p.check(note('n1', bob)) as Decision, 'object_access_denied');
    assert.equal(calls('n1'), before + 1);
    // 404s are cached too.
    const m = calls('nope');
    await p.check(note('nope', alice));
    assertDeny(await p.check(note('nope', alice)), 'object_access_denied');
    assert.equal(calls('nope'), m + 1);

    const uncached = lookupPolicy({ cacheSeconds: 0 });
    const c = calls('n2');
    await uncached.check(note('n2', bob));
    await uncached.check(note('n2', bob));
    assert.equal(calls('n2'), c + 2);
  });

  it('cache entries expire after cacheSeconds', async () => {
    let now = 1_000_000;
    const r = parseOwnershipExtension(
      { lookup: { param: { in: 'path', name: 'noteId' }, url: `${owners.url}/internal/owners/notes/{value}`, ownerPointer: '/owner', equalsClaim: 'sub', cacheSeconds: 30 } },
      'x',
      { now: () => now },
    );
    assert.ok(r.policy);
    const before = calls('n2');
    await r.policy.check(note('n2', bob));
    now += 29_000;
    await r.policy.check(note('n2', bob));
    assert.equal(calls('n2'), before + 1);
    now += 2_000;
    await r.policy.check(note('n2', bob));
    assert.equal(calls('n2'), before + 2);
  });

  it('50 concurrent checks of one object make one lookup call (single flight)', async () => {
    const p = lookupPolicy();
    const before = calls('late');
    const all = await Promise.all(Array.from({ length: 50 }, (_, i) => p.check(note('late', i % 2 === 0 ? alice : bob))));
    assert.equal(calls('late'), before + 1);
    assert.equal(all.filter((d) => d.action === 'continue').length, 25);
    assert.equal(all.filter((d) => d.action === 'deny').length, 25);
  });

  it('percent-encodes the value so ../ or ? cannot change the target; dot-only values are refused', async () => {
    const p = lookupPolicy();
    const before = owners.paths.length;
    assertDeny(await p.check(note('../admin?x=1', alice)), 'object_access_denied');
    assert.deepEqual(owners.paths.slice(before), ['/internal/owners/notes/..%2Fadmin%3Fx%3D1']);
    assertDeny(await p.check(note('a#b/c d', alice)), 'object_access_denied');
    assert.equal(owners.paths.at(-1), '/internal/owners/notes/a%23b%2Fc%20d');
    const n = owners.paths.length;
    assertDeny(p.check(note('..', alice)) as Decision, 'object_access_denied', 'not a usable object id');
    assertDeny(p.check(note('.', alice)) as Decision, 'object_access_denied');
    assertDeny(p.check(note('x'.repeat(2000), alice)) as Decision, 'object_access_denied');
    assert.equal(owners.paths.length, n, 'refused values never reach the service');
  });

  it('lookup with inClaim, and rules plus lookup together', async () => {
    const team = policyOf({
      rules: [{ in: 'header', name: 'x-tenant', equalsClaim: 'sub' }],
      lookup: { param: { in: 'query', name: 'note' }, url: `${owners.url}/internal/owners/notes/{value}?v=1`, ownerPointer: '/owner', inClaim: 'teams' },
    });
    const req = (tenant: string, who: Principal) => input({ headers: { 'x-tenant': tenant }, query: new URLSearchParams({ note: 'team1' }), principal: who });
    assert.deepEqual(await team.check(req('alice', alice)), { action: 'continue' });
    assertDeny(await team.check(req('bob', bob)), 'object_access_denied', 'inClaim "teams"');
    // The rule fails first: no lookup needed, answered synchronously.
    const d = team.check(req('bob', alice));
    assert.ok(!(d instanceof Promise));
    assertDeny(d as Decision, 'object_access_denied', 'rules[0]', 'x-tenant');
    assert.ok(owners.paths.includes('/internal/owners/notes/team1?v=1'));
  });

  it('an unreachable owner service → ownership_lookup_failed', async () => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as AddressInfo;
    probe.close();
    await once(probe, 'close');
    const p = policyOf({ lookup: { param: { in: 'path', name: 'noteId' }, url: `http://127.0.0.1:${port}/o/{value}`, ownerPointer: '/owner', equalsClaim: 'sub' } });
    assertDeny(await p.check(note('n1', alice)), 'ownership_lookup_failed', 'request failed');
  });
});

describe('x-portcullis-owner parser', () => {
  const errorsOf = (v: unknown) => parseOwnershipExtension(v, 'x-portcullis-owner').errors;

  it('names the key and what was expected', () => {
    assert.deepEqual(errorsOf({ rules: [{ in: 'cookie', name: 'sid', equalsClaim: 'sub' }] }), ['x-portcullis-owner.rules[0].in: expected one of path, query, header, body']);
    assert.deepEqual(errorsOf({ rules: [{ name: 'id', equalsClaim: 'sub' }] }), ['x-portcullis-owner.rules[0].in: missing; expected one of path, query, header, body']);
    assert.deepEqual(errorsOf({ rules: [{ in: 'path', name: 'id' }] }), [
      'x-portcullis-owner.rules[0]: expected equalsClaim (the value equals a claim) or inClaim (the value is a member of a claim)',
    ]);
    assert.deepEqual(errorsOf({ rules: [{ in: 'path', name: 'id', equalsClaim: 'sub', inClaim: 'teams' }] }), ['x-portcullis-owner.rules[0]: expected either equalsClaim or inClaim, not both']);
    assert.deepEqual(errorsOf({ rules: [{ in: 'body', name: 'ownerId', equalsClaim: 'sub' }] }), [
      'x-portcullis-owner.rules[0].name: expected a JSON pointer into the body such as /ownerId, got "ownerId"',
    ]);
    assert.deepEqual(errorsOf({ rules: [{ in: 'header', name: 'x user', equalsClaim: 'sub' }] }), ['x-portcullis-owner.rules[0].name: expected a header name, got "x user"']);
    assert.deepEqual(errorsOf({ rules: [{ in: 'path', name: 'id', equalsClaim: 'sub', when: 1 }] }), ['x-portcullis-owner.rules[0].when: unknown key; expected one of in, name, equalsClaim, inClaim']);
    assert.deepEqual(errorsOf({}), ['x-portcullis-owner: expected at least one rule or a lookup (an empty ownership check would allow everything)']);
    assert.deepEqual(errorsOf('sub'), ['x-portcullis-owner: expected an object with rules, lookup and/or bypassRoles']);
    assert.deepEqual(errorsOf({ rules: {} }), ['x-portcullis-owner.rules: expected a list of rules, each { in, name, equalsClaim | inClaim }']);
    assert.deepEqual(errorsOf({ rules: [{ in: 'path', name: 'id', equalsClaim: 'sub' }], bypassRoles: 'admin' }), ['x-portcullis-owner.bypassRoles: expected a list of role names']);
  });

  it('checks lookups: URL scheme, {value} placement, pointer, numbers', () => {
    const lookup = (l: Record<string, unknown>) => errorsOf({ lookup: { param: { in: 'path', name: 'id' }, url: 'http://owners:3001/o/{value}', ownerPointer: '/owner', equalsClaim: 'sub', ...l } });
    assert.deepEqual(lookup({}), []);
    assert.deepEqual(lookup({ url: 'file:///etc/{value}' }), ['x-portcullis-owner.lookup.url: expected an http:// or https:// URL']);
    assert.deepEqual(lookup({ url: 'http://{value}.owners/o' }), ['x-portcullis-owner.lookup.url: expected {value} in the path or query, after the host']);
    assert.deepEqual(lookup({ url: 'http://owners/o/{value}/{value}' }), ['x-portcullis-owner.lookup.url: expected {value} only once']);
    assert.deepEqual(lookup({ url: 'http://owners/o/' }), ['x-portcullis-owner.lookup.url: expected the URL to contain {value}']);
    assert.deepEqual(lookup({ ownerPointer: 'owner' }), ['x-portcullis-owner.lookup.ownerPointer: expected a JSON pointer into the lookup answer such as /owner']);
    assert.deepEqual(lookup({ timeoutMs: 0 }), ['x-portcullis-owner.lookup.timeoutMs: expected an integer from 1 to 60000']);
    assert.deepEqual(lookup({ cacheSeconds: -1 }), ['x-portcullis-owner.lookup.cacheSeconds: expected an integer from 0 to 86400']);
    assert.deepEqual(lookup({ param: { in: 'path' } }), ['x-portcullis-owner.lookup.param.name: missing; expected the parameter name']);
  });

  it('is applied to OpenAPI operations by compileOperationAccess, which checks path parameters against the template', () => {
    const doc = {
      openapi: '3.0.3',
      info: { title: 't', version: '1' },
      paths: {
        '/users/{userId}/notes': {
          get: { 'x-portcullis-owner': { rules: [{ in: 'path', name: 'userId', equalsClaim: 'sub' }] }, responses: {} },
          post: { 'x-portcullis-owner': { rules: [{ in: 'path', name: 'uid', equalsClaim: 'sub' }] }, responses: {} },
          put: { 'x-portcullis-owner': { rules: [{ in: 'path', equalsClaim: 'sub' }] }, responses: {} },
        },
      },
    };
    const get = compileOperationAccess(singleDocument(doc), { pointer: '/paths/~1users~1{userId}~1notes/get', path: '/users/{userId}/notes' });
    assert.deepEqual(get.problems, []);
    assert.deepEqual(get.ownership?.check(input({ params: { userId: 'alice' }, principal: alice })), { action: 'continue' });
    const post = compileOperationAccess(singleDocument(doc), { pointer: '/paths/~1users~1{userId}~1notes/post', path: '/users/{userId}/notes' });
    assert.equal(post.ownership, undefined);
    assert.match(post.problems[0]?.message ?? '', /path parameter "uid" is not in the path template/);
    const put = compileOperationAccess(singleDocument(doc), { pointer: '/paths/~1users~1{userId}~1notes/put', path: '/users/{userId}/notes' });
    assert.deepEqual(
      put.problems.map((p) => [p.severity, p.at, p.message]),
      [['error', '/paths/~1users~1{userId}~1notes/put/x-portcullis-owner', 'x-portcullis-owner.rules[0].name: missing; expected the parameter name']],
    );
  });
});
