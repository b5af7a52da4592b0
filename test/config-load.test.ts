import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { DEFAULT_CIPHERS, loadConfig, type Config, type Diagnostic, type LoadResult } from '../src/config/index.js';

const fixture = (name: string) => path.resolve('test/fixtures/config', name);
const openapi = (name: string) => path.resolve('test/fixtures/openapi', name);
const ENV = { ADMIN_TOKEN: 'admin-token-from-env', PORT: '8081' };

function failed(r: LoadResult): readonly Diagnostic[] {
  assert.equal(r.ok, false, 'expected the config to be refused');
  return r.ok ? [] : r.diagnostics;
}

function loaded(r: LoadResult): Config {
  if (!r.ok) assert.fail(`expected the config to load, got:\n${r.diagnostics.map((d) => `${d.line}:${d.column} ${d.path}: ${d.message}`).join('\n')}`);
  return r.config;
}

/** The one diagnostic at `keyPath`, checked for position and message. */
function expectAt(diags: readonly Diagnostic[], keyPath: string, line: number, column: number, message: string | RegExp, file?: string) {
  const found = diags.filter((d) => d.path === keyPath);
  assert.equal(found.length, 1, `one diagnostic at ${keyPath}; all: ${JSON.stringify(diags, null, 1)}`);
  const d = found[0] as Diagnostic;
  assert.deepEqual([d.line, d.column], [line, column], `position of ${keyPath}`);
  if (typeof message === 'string') assert.ok(d.message.includes(message), `"${d.message}" should contain "${message}"`);
  else assert.match(d.message, message);
  if (file) assert.equal(d.file, file);
  return d;
}

const tmp = await mkdtemp(path.join(os.tmpdir(), 'portcullis-config-'));
after(() => rm(tmp, { recursive: true, force: true }));
let n = 0;
async function writeConfig(text: string): Promise<string> {
  const file = path.join(tmp, `c${n++}.yaml`);
  await writeFile(file, text);
  return file;
}

describe('parsing', () => {
  test('a YAML syntax error has its line and column, and nothing else is reported', async () => {
    const diags = failed(await loadConfig(fixture('bad-syntax.yaml'), { env: {} }));
    assert.equal(diags.length, 1);
    expectAt(diags, '', 5, 1, 'invalid YAML: Flow sequence');
  });

  test('an unreadable file is a diagnostic at line 0', async () => {
    const diags = failed(await loadConfig(fixture('nope.yaml'), { env: {} }));
    assert.deepEqual(diags, [{ severity: 'error', file: fixture('nope.yaml'), line: 0, column: 0, path: '', message: 'cannot read config file: no such file (ENOENT)' }]);
  });

  test('an empty file says what a config needs', async () => {
    const diags = failed(await loadConfig(await writeConfig('# nothing\n'), { env: {} }));
    expectAt(diags, '', 1, 1, 'the config file is empty');
  });

  test('duplicate keys are an error', async () => {
    const diags = failed(await loadConfig(await writeConfig('version: 1\nversion: 1\nlisteners: [{port: 1}]\n'), { env: {} }));
    expectAt(diags, '', 2, 1, 'Map keys must be unique');
  });

  test('an alias bomb is refused, not expanded', async () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) lines.push(`${'abcdefgh'[i]}: &${'abcdefgh'[i]} [${Array(10).fill(`*${'abcdefgh'[i - 1]}`).join(', ')}]`);
    const diags = failed(await loadConfig(await writeConfig(lines.join('\n')), { env: {} }));
    assert.match(diags[0]?.message ?? '', /alias/i);
  });
});

describe('schema errors', () => {
  test('every problem is reported, in plain words, at its position', async () => {
    const diags = failed(await loadConfig(fixture('bad-schema.yaml'), { env: {} }));
    expectAt(diags, 'listeners[0].port', 3, 11, 'expected an integer, got a string');
    expectAt(diags, 'listeners[0].hots', 4, 5, 'unknown key "hots"; expected one of: name, host, port, tls');
    expectAt(diags, 'apis[0]', 6, 5, 'missing required key "spec"');
    expectAt(diags, 'apis[0].stages.authn.mode', 10, 15, 'expected one of: "enforce", "monitor", "off", got "enforced"');
    expectAt(diags, 'workers', 11, 10, 'expected "auto" or an integer from 1 to 256, got 0');
    expectAt(diags, 'telemetry.audit.enabled', 14, 14, 'expected true or false, got a string');
    assert.equal(diags.length, 6, 'one message per problem (no anyOf noise)');
    assert.ok(diags.every((d) => d.file === fixture('bad-schema.yaml') && d.severity === 'error'));
  });

  test('a missing top-level key and a bad upstream name', async () => {
    const diags = failed(await loadConfig(await writeConfig('version: 2\nupstreams:\n  Main:\n    url: http://a\n'), { env: {} }));
    expectAt(diags, '', 1, 1, 'missing required key "listeners"');
    expectAt(diags, 'version', 1, 10, 'expected 1, got 2');
    expectAt(diags, 'upstreams.Main', 3, 3, 'invalid name "Main"; expected a name of 1 to 63 lowercase letters');
  });

  test('a JSON config is checked with JSON positions', async () => {
    const diags = failed(await loadConfig(fixture('bad.json'), { env: {} }));
    expectAt(diags, 'routes[0].public', 6, 17, 'expected true or false, got a string');
  });
});

describe('environment and secrets', () => {
  test('an unset variable is an error at its key, naming the variable', async () => {
    const diags = failed(await loadConfig(fixture('secrets-bad.yaml'), { env: {} }));
    expectAt(diags, 'telemetry.audit.destination', 8, 18, 'environment variable AUDIT_DIR is not set');
  });

  test('a file: secret that cannot be read is an error at its key', async () => {
    const diags = failed(await loadConfig(fixture('secrets-bad.yaml'), { env: { AUDIT_DIR: '/var/log' } }));
    expectAt(diags, 'admin.token', 5, 10, 'cannot read secret file "./secrets/missing.txt": no such file (ENOENT)');
    assert.equal(diags.length, 1);
  });

  test('file: secrets are read and trimmed; ${VAR} fills values; $${ is a literal', async () => {
    const config = loaded(await loadConfig(fixture('secrets.yaml'), { env: { PORT: '8081' } }));
    assert.equal(config.admin.token, 's3cret-token');
    assert.equal(config.identity.apiKeys?.keys[0]?.sha256.toString('hex'), '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08');
    // An environment value is text; the schema wants an integer here.
    assert.equal(config.listeners[0]?.port, 8081);
    assert.equal(config.routes[0]?.upstream, 'http://127.0.0.1:3000/${not-a-var}');
    assert.ok(config.files.includes(fixture('secrets/admin-token.txt')));
  });

  test('a secret written inline is a warning; insecureSkipVerify is a warning', async () => {
    const r = await loadConfig(fixture('inline-secret.yaml'), { env: {} });
    assert.equal(r.ok, true);
    const warnings = r.ok ? r.warnings : [];
    expectAt(warnings, 'admin.token', 5, 10, 'secret written inline in config; use ${ENV} or file:');
    expectAt(warnings, 'upstreams.legacy.tls.insecureSkipVerify', 10, 27, 'turns off certificate verification');
    assert.ok(warnings.every((w) => w.severity === 'warning'));
  });
});

describe('semantic checks', () => {
  test('references, names, templates, addresses and CORS', async () => {
    const diags = failed(await loadConfig(fixture('bad-semantic.yaml'), { env: {} }));
    expectAt(diags, 'listeners[0].tls.certFile', 5, 17, 'cannot read certFile "./tls/missing.crt": no such file (ENOENT)');
    expectAt(diags, 'listeners[1].port', 7, 11, '0.0.0.0:8443 clashes with listeners[0]');
    expectAt(diags, 'trustedProxies[0]', 8, 18, 'invalid address or CIDR "10.0.0.0/33"');
    expectAt(diags, 'trustedProxies[1]', 8, 31, 'invalid address or CIDR "not-an-ip"');
    expectAt(diags, 'routes[0].path', 15, 11, 'invalid path template "/a/{id}/{id}": parameter "id" appears twice');
    expectAt(diags, 'routes[0].upstream', 16, 15, 'unknown upstream "mian"; expected a name from upstreams (main) or an http(s) URL');
    expectAt(diags, 'routes[0].cors.allowCredentials', 19, 25, 'cannot be combined with allowOrigins "*"');
    expectAt(diags, 'routes[1].name', 20, 11, 'duplicate name "a"; already used by routes[0] (line 13)');
    expectAt(diags, 'routes[1].path', 22, 11, 'empty parameter name "{}"');
    assert.equal(diags.length, 9);
  });

  test('TLS: unusable key, mTLS without a CA, redirect without required, admin port clash', async () => {
    const diags = failed(await loadConfig(fixture('bad-tls.yaml'), { env: {} }));
    expectAt(diags, 'listeners[0].tls.keyFile', 6, 16, 'keyFile does not contain an unencrypted PEM private key');
    expectAt(diags, 'listeners[0].tls.clientCertificate', 7, 26, 'clientCertificate "required" needs clientCaFile');
    expectAt(diags, 'tls.redirectHttp', 9, 17, 'redirectHttp only applies with tls.required: true');
    expectAt(diags, 'admin.port', 11, 9, 'port 8443 is also used by listeners[0]');
  });

  test('tls.required needs a TLS listener; key ids are unique', async () => {
    const file = await writeConfig(
      [
        'version: 1',
        'listeners: [{port: 8080}]',
        'tls: {required: true}',
        'identity:',
        '  apiKeys:',
        '    keys:',
        `      - {id: k, sha256: ${'a'.repeat(64)}}`,
        `      - {id: k, sha256: ${'b'.repeat(64)}}`,
      ].join('\n'),
    );
    const diags = failed(await loadConfig(file, { env: {} }));
    expectAt(diags, 'tls.required', 3, 17, 'tls.required needs at least one listener with tls');
    expectAt(diags, 'identity.apiKeys.keys[1].id', 8, 14, 'duplicate key id "k"');
  });

  test('route templates: literal, params, final wildcard', async () => {
    const bad: [string, string][] = [
      ['/a//b', 'empty segment'],
      ['/a/*/b', '"*" is only allowed as the last segment'],
      ['/a/x{id}', 'a parameter must be a whole segment'],
      ['/a/{i-d}', 'invalid parameter name'],
    ];
    for (const [p, why] of bad) {
      const file = await writeConfig(`version: 1\nlisteners: [{port: 1}]\nroutes:\n  - {name: r, methods: [GET], path: "${p}", upstream: "http://a"}\n`);
      expectAt(failed(await loadConfig(file, { env: {} })), 'routes[0].path', 4, 37, why);
    }
    const ok = await writeConfig('version: 1\nlisteners: [{port: 1}]\nroutes:\n  - {name: r, methods: [GET], path: "/a/{id}/b/*", upstream: "http://a"}\n');
    loaded(await loadConfig(ok, { env: {} }));
  });

  test('OpenAPI problems carry the spec file position and JSON pointer', async () => {
    const diags = failed(await loadConfig(fixture('bad-spec.yaml'), { env: {} }));
    expectAt(diags, '/swagger', 1, 10, 'Swagger 2.0 is not supported; Portcullis reads OpenAPI 3.0.x and 3.1.x', openapi('swagger2.yaml'));
    expectAt(diags, '/paths/~1items~1{id}/get/parameters/0/$ref', 9, 17, 'no "ItemId" at /components/parameters', openapi('broken-ref.yaml'));
    expectAt(diags, 'apis[2].spec', 12, 11, 'cannot read OpenAPI document "../openapi/does-not-exist.yaml": no such file', fixture('bad-spec.yaml'));
    expectAt(diags, '/paths/~1a/$ref', 7, 11, 'circular $ref', openapi('circular.yaml'));
    // Sorted by file, then position.
    const files = diags.map((d) => d.file);
    assert.deepEqual(files, [...files].sort());
  });
});

describe('normalization', () => {
  test('the full config', async () => {
    const config = loaded(await loadConfig(fixture('full.yaml'), { env: ENV }));
    assert.equal(config.file, fixture('full.yaml'));
    assert.equal(config.workers, os.availableParallelism());
    assert.match(config.revision, /^[0-9a-f]{12}$/);

    const [tlsListener, plain] = config.listeners;
    assert.equal(tlsListener?.name, 'public');
    assert.equal(tlsListener?.tls?.certFile, fixture('tls/server.crt'));
    assert.ok(tlsListener?.tls?.cert.toString().startsWith('-----BEGIN CERTIFICATE-----'));
    assert.ok(tlsListener?.tls?.key.toString().includes('PRIVATE KEY'));
    assert.ok(tlsListener?.tls?.clientCa);
    assert.equal(tlsListener?.tls?.ciphers, DEFAULT_CIPHERS);
    assert.equal(DEFAULT_CIPHERS.split(':').every((c) => c.startsWith('ECDHE-') && (c.includes('GCM') || c.includes('CHACHA20'))), true);
    assert.deepEqual([tlsListener?.tls?.minVersion, tlsListener?.tls?.http2, tlsListener?.tls?.clientCertificate], ['TLSv1.2', true, 'optional']);
    assert.deepEqual(plain, { name: 'listener-1', host: '0.0.0.0', port: 8080, tls: undefined });
    assert.deepEqual(config.tls, { required: true, redirectHttp: true, httpsPort: 8443, hsts: { maxAgeSeconds: 31536000, includeSubDomains: false, preload: false } });

    assert.equal(config.admin.token, 'admin-token-from-env');
    assert.equal(config.telemetry.audit.destination, fixture('logs/audit.jsonl'));
    const key = config.identity.apiKeys?.keys[0];
    assert.deepEqual([key?.id, key?.owner, key?.scopes, key?.expiresAt, key?.sha256.length], ['ci', 'ci', ['pets:read'], Date.UTC(2030, 0, 1), 32]);

    // Named upstream: URL split, own settings; inline URL: an entry keyed by the URL, defaults.
    assert.deepEqual([config.upstreams.pets?.origin, config.upstreams.pets?.pathPrefix, config.upstreams.pets?.connections], ['http://127.0.0.1:3000', '/api', 16]);
    const inline = config.upstreams['http://orders.internal:8080'];
    assert.deepEqual([inline?.name, inline?.origin, inline?.pathPrefix, inline?.connections, inline?.tls], ['http://orders.internal:8080', 'http://orders.internal:8080', '', 128, undefined]);

    const [pets, orders] = config.apis;
    assert.equal(pets?.keyPath, 'apis[0]');
    assert.equal(pets?.basePath, '/v1', 'from the spec servers URL');
    assert.equal(pets?.specFile, openapi('petstore.yaml'));
    assert.equal(pets?.spec.operations.length, 6);
    assert.equal(pets?.cors?.allowCredentials, true);
    assert.deepEqual(pets?.cors?.allowHeaders, ['content-type', 'authorization']);
    assert.equal(orders?.basePath, '/orders-api', 'config basePath wins, trailing slash removed');
    assert.equal(orders?.stripBasePath, true);
    const enforce = { mode: 'enforce', onError: 'fail-closed' };
    assert.deepEqual(orders?.stages, { 'ip-rules': enforce, cors: enforce, authn: { mode: 'monitor', onError: 'fail-closed' }, authz: enforce, bots: enforce, contract: enforce, properties: enforce, threats: enforce, 'response-contract': enforce, 'security-headers': enforce, bans: enforce, 'rate-limit': enforce, 'brute-force': enforce });

    const [status] = config.routes;
    assert.deepEqual([status?.public, status?.maxBodyBytes, status?.keyPath, status?.upstream], [true, 0, 'routes[0]', 'http://orders.internal:8080']);

    for (const f of ['full.yaml', 'tls/server.crt', 'tls/server.key', 'tls/ca.crt']) assert.ok(config.files.includes(fixture(f)), f);
    for (const f of ['petstore.yaml', 'paths/pet.yaml', 'common.yaml', 'orders.json']) assert.ok(config.files.includes(openapi(f)), f);
    assert.equal(config.files[0], fixture('full.yaml'));

    assert.deepEqual(config.locate(['apis', 1, 'upstream']), { file: fixture('full.yaml'), line: 49, column: 15 });
    assert.deepEqual(config.locate(['apis', 1, 'cors', 'allowOrigins']), { file: fixture('full.yaml'), line: 47, column: 5 }, 'nearest ancestor');
  });

  test('defaults of a minimal config', async () => {
    const r = await loadConfig(fixture('minimal.yaml'), { env: {} });
    const config = loaded(r);
    assert.equal(config.workers, 1);
    assert.deepEqual(config.limits, {
      maxHeaderCount: 100,
      maxHeaderBytes: 16384,
      maxUrlLength: 8192,
      encodedSlashes: 'reject',
      maxBodyBytes: 1048576,
      headersTimeoutMs: 10000,
      requestTimeoutMs: 30000,
      keepAliveTimeoutMs: 5000,
      maxConnections: 10000,
      maxFilteredResponseBytes: 8388608,
      maxRequestsPerConnection: 0,
    });
    assert.deepEqual(config.admin, { enabled: true, host: '127.0.0.1', port: 9090, token: undefined, metricsRequireToken: false });
    assert.deepEqual(config.telemetry, { audit: { enabled: true, destination: 'stdout', includeHeaders: false, redactHeaders: [] }, logLevel: 'info' });
    assert.deepEqual(config.requestId, { header: 'x-request-id', trustIncoming: 'trusted-proxies' });
    assert.deepEqual(config.shutdown, { drainTimeoutMs: 10000 });
    assert.deepEqual(config.tls, { required: false, redirectHttp: false, httpsPort: undefined, hsts: { maxAgeSeconds: 31536000, includeSubDomains: false, preload: false } });
    assert.deepEqual(config.trustedProxies, []);
    assert.deepEqual(config.ipRules, { allow: undefined, deny: undefined }, 'no IP list unless one is written');
    assert.deepEqual(config.apis[0]?.ipRules, { allow: undefined, deny: undefined, inherit: true });
    assert.deepEqual(config.identity, {
      apiKeys: { header: 'x-api-key', store: undefined, allowQuery: false, keys: [] },
      schemes: { apiKey: { type: 'apiKey', name: 'apiKey', keyPath: 'identity.apiKeys', in: 'header', param: 'x-api-key' } },
    });
    const api = config.apis[0];
    assert.deepEqual([api?.public, api?.maxBodyBytes, api?.basePath, api?.cors, api?.hosts], [false, 1048576, '', undefined, undefined]);
    assert.deepEqual(api?.securityHeaders, {
      contentTypeOptions: true,
      frameOptions: 'DENY',
      contentSecurityPolicy: "default-src 'none'; frame-ancestors 'none'",
      referrerPolicy: 'no-referrer',
      noStoreWhenAuthenticated: true,
      removeBanners: ['server', 'x-powered-by', 'x-aspnet-version', 'x-aspnetmvc-version', 'x-runtime', 'x-version', 'via'],
    });
    assert.deepEqual(Object.keys(api?.stages ?? {}), ['ip-rules', 'cors', 'authn', 'authz', 'bots', 'contract', 'properties', 'threats', 'response-contract', 'security-headers', 'bans', 'rate-limit', 'brute-force']);
    // Abuse protection: the memory store, nothing limited until config names limits.
    assert.deepEqual(config.abuse.store, { type: 'memory', memory: { maxEntries: 100000 }, redis: undefined });
    assert.equal(config.abuse.rateLimits.headers, true);
    assert.equal(config.abuse.routes.size, 0);
    assert.equal(config.abuse.bans.onAttacks, undefined);
    assert.deepEqual(Object.keys(config.upstreams), ['http://127.0.0.1:3000']);
    // The spec's warning comes back with the config.
    assert.ok(r.ok && r.warnings.some((w) => w.file === openapi('no-servers.yaml') && w.message.includes('path parameter "id"')));
  });

  test('a JSON config loads', async () => {
    const config = loaded(await loadConfig(fixture('config.json'), { env: {} }));
    assert.deepEqual(config.routes.map((r) => [r.name, r.path, r.upstream]), [['echo', '/echo/{id}', 'http://127.0.0.1:3000/v2/']]);
    assert.equal(config.upstreams['http://127.0.0.1:3000/v2/']?.pathPrefix, '/v2');
    assert.deepEqual(config.locate(['routes', 0, 'path']), { file: fixture('config.json'), line: 5, column: 52 });
  });

  test('the revision changes when a spec file changes', async () => {
    const dir = await mkdtemp(path.join(tmp, 'rev-'));
    await copyFile(openapi('relative-server.yaml'), path.join(dir, 'api.yaml'));
    const file = path.join(dir, 'portcullis.yaml');
    await writeFile(file, 'version: 1\nlisteners: [{port: 0}]\napis:\n  - {name: a, spec: ./api.yaml, upstream: "http://127.0.0.1:1"}\n');
    const first = loaded(await loadConfig(file, { env: {} }));
    assert.equal(first.apis[0]?.basePath, '/internal/api');
    assert.equal(loaded(await loadConfig(file, { env: {} })).revision, first.revision, 'same files, same revision');
    await writeFile(path.join(dir, 'api.yaml'), `${await readFile(openapi('relative-server.yaml'), 'utf8')}# changed\n`);
    const second = loaded(await loadConfig(file, { env: {} }));
    assert.notEqual(second.revision, first.revision);
    assert.deepEqual(second.files, [file, path.join(dir, 'api.yaml')]);
  });
});
