import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditLog, createTelemetry, redactQuery } from '../src/telemetry/index.js';
import { Capture, auditConfig, completed } from './telemetry-helpers.test.js';

test('audit: one JSON line per request with the documented fields', async () => {
  const out = new Capture();
  const audit = createAuditLog(auditConfig(), { stream: out });
  audit.record(
    completed({
      requestId: 'r-77',
      method: 'POST',
      path: '/pets',
      rawQuery: 'limit=10',
      status: 403,
      outcome: 'denied',
      code: 'unauthenticated',
      reason: 'no credential',
      bytesIn: 17,
      bytesOut: 200,
      totalUs: 1234.5678,
      upstreamUs: undefined,
      certificateSubject: 'CN=client-a',
      principal: { id: 'alice', type: 'api-key', scopes: ['pets:read'], roles: ['admin'], claims: { secret: 'x' }, credentialId: 'key-1' },
      timings: [
        { stage: 'cors', us: 3 },
        { stage: 'authn', us: 40 },
        { stage: 'authn', us: 2 },
      ],
      findings: [{ stage: 'authn', code: 'unauthenticated', reason: 'no credential', monitored: false }],
      headers: { host: 'api.example', 'user-agent': 'u'.repeat(1000) },
    }),
  );
  await audit.close();
  const lines = out.lines();
  assert.equal(lines.length, 1);
  const e = lines[0]!;
  assert.equal(e['v'], 1);
  assert.match(String(e['time']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(e['event'], 'request');
  assert.equal(e['requestId'], 'r-77');
  assert.equal(e['route'], 'petstore:getPet');
  assert.equal(e['api'], 'petstore');
  assert.equal(e['operationId'], 'getPet');
  assert.equal(e['method'], 'POST');
  assert.equal(e['path'], '/pets');
  assert.equal(e['query'], 'limit=10');
  assert.equal(e['clientIp'], '203.0.113.7');
  assert.equal(e['tls'], true);
  assert.equal(e['httpVersion'], '1.1');
  assert.deepEqual(e['clientCert'], { subject: 'CN=client-a' });
  // Only id, type, credentialId: no scopes, roles or claims.
  assert.deepEqual(e['principal'], { id: 'alice', type: 'api-key', credentialId: 'key-1' });
  assert.equal(e['outcome'], 'denied');
  assert.equal(e['code'], 'unauthenticated');
  assert.equal(e['reason'], 'no credential');
  assert.equal(e['status'], 403);
  assert.equal(e['bytesIn'], 17);
  assert.equal(e['bytesOut'], 200);
  assert.equal(e['durationMs'], 1.235);
  assert.equal('upstreamMs' in e, false);
  assert.deepEqual(e['stages'], { cors: 3, authn: 42 });
  assert.deepEqual(e['findings'], [{ stage: 'authn', code: 'unauthenticated', reason: 'no credential', monitored: false }]);
  assert.equal(e['userAgent'], 'u'.repeat(256));
  assert.equal('headers' in e, false);
  assert.equal('level' in e || 'pid' in e || 'hostname' in e, false);
});

test('audit: optional fields are left out and upstreamMs has 3 decimals', async () => {
  const out = new Capture();
  const audit = createAuditLog(auditConfig(), { stream: out });
  audit.record(completed({ upstreamUs: 987.65, route: { api: undefined, operationId: undefined, id: 'route:health' } }));
  await audit.flush();
  const e = out.lines()[0]!;
  assert.equal(e['upstreamMs'], 0.988);
  assert.equal(e['route'], 'route:health');
  for (const k of ['api', 'operationId', 'clientCert', 'principal', 'code', 'reason']) assert.equal(k in e, false, k);
});

const SECRETS = {
  authz: 'S3CRET-authz-a1b2',
  proxyAuthz: 'S3CRET-proxy-c3d4',
  cookie: 'S3CRET-cookie-e5f6',
  xApiKey: 'S3CRET-xapikey-g7h8',
  customKey: 'S3CRET-custom-i9j0',
  configured: 'S3CRET-confhdr-k1l2',
  authToken: 'S3CRET-xauthtoken-m3n4',
  qApiKey: 'S3CRET-qapikey-o5p6',
  qToken: 'S3CRET-qtoken-q7r8',
  qPassword: 'S3CRET-qpassword-s9t0',
  qEncoded: 'S3CRET-qencoded-u1v2',
  qSemicolon: 'S3CRET-qsemi-w3x4',
};

for (const includeHeaders of [true, false]) {
  test(`audit: no secret reaches the output (includeHeaders: ${includeHeaders})`, async () => {
    const out = new Capture();
    const logs = new Capture();
    const tel = createTelemetry(
      { audit: auditConfig({ includeHeaders, redactHeaders: ['X-Internal-Secretless', 'x"odd'] }), logLevel: 'info' },
      { auditStream: out, logStream: logs, apiKeyHeaders: ['X-Gateway-Key'], collectDefault: false },
    );
    const c = completed({
      rawQuery:
        `api_key=${SECRETS.qApiKey}&token=${SECRETS.qToken}&password=${SECRETS.qPassword}` +
        `&%50ass%77ord=${SECRETS.qEncoded}&a=1;session=${SECRETS.qSemicolon}&page=2&sort=name`,
      headers: {
        host: 'api.example',
        'user-agent': 'curl/8.5.0',
        accept: 'application/json',
        authorization: `Bearer ${SECRETS.authz}`,
        'proxy-authorization': `Basic ${SECRETS.proxyAuthz}`,
        cookie: `sid=${SECRETS.cookie}`,
        'x-api-key': SECRETS.xApiKey,
        'x-gateway-key': SECRETS.customKey,
        'x-internal-secretless': SECRETS.configured,
        'x-auth-token': SECRETS.authToken,
      },
    });
    tel.record(c);
    // The operational logger has the same belt for objects logged by mistake.
    tel.logger.info({ password: SECRETS.qPassword, token: SECRETS.qToken, req: { headers: { authorization: SECRETS.authz, cookie: SECRETS.cookie } } }, 'oops');
    await tel.close();

    const text = out.text + logs.text;
    for (const [name, secret] of Object.entries(SECRETS)) {
      assert.equal(text.includes(secret), false, `${name} leaked`);
    }
    const e = out.lines()[0]!;
    assert.equal(
      e['query'],
      'api_key=[REDACTED]&token=[REDACTED]&password=[REDACTED]&%50ass%77ord=[REDACTED]&a=1;session=[REDACTED]&page=2&sort=name',
    );
    assert.equal(e['userAgent'], 'curl/8.5.0');
    if (includeHeaders) {
      assert.deepEqual(e['headers'], {
        host: 'api.example',
        'user-agent': 'curl/8.5.0',
        accept: 'application/json',
        authorization: '[REDACTED]',
        'proxy-authorization': '[REDACTED]',
        cookie: '[REDACTED]',
        'x-api-key': '[REDACTED]',
        'x-gateway-key': '[REDACTED]',
        'x-internal-secretless': '[REDACTED]',
        'x-auth-token': '[REDACTED]',
      });
    } else {
      assert.equal('headers' in e, false);
    }
    assert.match(logs.text, /"msg":"oops"/);
  });
}

test('audit: query redaction table', () => {
  const cases: [string, string][] = [
    ['', ''],
    ['a=1&b=2', 'a=1&b=2'],
    ['PASSWORD=x', 'PASSWORD=[REDACTED]'],
    ['user_pwd=x&passwd=y', 'user_pwd=[REDACTED]&passwd=[REDACTED]'],
    ['client_secret=x', 'client_secret=[REDACTED]'],
    ['access_token=x&refresh_token=y', 'access_token=[REDACTED]&refresh_token=[REDACTED]'],
    ['apiKey=x', 'apiKey=[REDACTED]'],
    ['oauth_verifier=x', 'oauth_verifier=[REDACTED]'],
    ['sessionid=x', 'sessionid=[REDACTED]'],
    ['X-Amz-Signature=x&sig=y', 'X-Amz-Signature=[REDACTED]&sig=[REDACTED]'],
    ['X-Amz-Credential=x', 'X-Amz-Credential=[REDACTED]'],
    ['to+ken=x', 'to+ken=x'],
    ['tok%65n=x', 'tok%65n=[REDACTED]'],
    ['bad%zzkey=x', 'bad%zzkey=[REDACTED]'],
    ['token', 'token'],
    ['token=a=b=c&x=1', 'token=[REDACTED]&x=1'],
    ['q=1;token=abc;z=2&y=3', 'q=1;token=[REDACTED]&y=3'],
    ['&&a=1&', '&&a=1&'],
  ];
  for (const [input, want] of cases) assert.equal(redactQuery(input), want, input);
  const long = 'a=' + 'x'.repeat(5000) + '&token=secret';
  const r = redactQuery(long);
  assert.equal(r.length, 2048);
  assert.equal(r.includes('secret'), false);
  assert.equal(redactQuery('token=' + 'y'.repeat(100), 8), 'token=[R');
});

test('audit: file destination is created, and reopen() follows a rotation', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-audit-'));
  try {
    const file = join(dir, 'nested', 'deeper', 'audit.log');
    const audit = createAuditLog(auditConfig({ destination: file }));
    audit.record(completed({ requestId: 'before-1' }));
    audit.record(completed({ requestId: 'before-2' }));
    await audit.flush();
    await rename(file, file + '.1');
    audit.reopen();
    audit.record(completed({ requestId: 'after-1' }));
    await audit.flush();
    await audit.close();
    audit.record(completed({ requestId: 'after-close' })); // ignored, does not throw

    const rotated = (await readFile(file + '.1', 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { requestId: string });
    const fresh = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { requestId: string });
    assert.deepEqual(rotated.map((e) => e.requestId), ['before-1', 'before-2']);
    assert.deepEqual(fresh.map((e) => e.requestId), ['after-1']);
    assert.equal(audit.failures, 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('audit: disabled writes nothing and opens nothing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-audit-'));
  try {
    const file = join(dir, 'sub', 'audit.log');
    const out = new Capture();
    const a = createAuditLog(auditConfig({ enabled: false, destination: file }));
    const b = createAuditLog(auditConfig({ enabled: false }), { stream: out });
    a.record(completed());
    b.record(completed());
    a.reopen();
    await a.flush();
    await a.close();
    await b.close();
    assert.equal(out.text, '');
    await assert.rejects(stat(join(dir, 'sub')), { code: 'ENOENT' });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('audit: record never throws on a broken context or stream', async () => {
  const out = new Capture();
  const audit = createAuditLog(auditConfig(), { stream: out });
  audit.record({ request: null } as never);
  assert.equal(audit.failures, 1);
  out.destroy();
  audit.record(completed());
  await audit.close();
});

test('audit: record cost (micro-benchmark, not asserted)', async () => {
  const sink = new Capture();
  sink._write = (_c, _e, cb) => cb();
  const audit = createAuditLog(auditConfig({ includeHeaders: true }), { stream: sink, apiKeyHeaders: ['x-gateway-key'] });
  const c = completed({
    rawQuery: 'page=2&api_key=abc&sort=name',
    headers: { host: 'api.example', 'user-agent': 'bench/1', accept: '*/*', authorization: 'Bearer x', 'x-gateway-key': 'k' },
    principal: { id: 'alice', type: 'api-key', scopes: [], roles: [], claims: {}, credentialId: 'key-1' },
  });
  const n = 20_000;
  for (let i = 0; i < 2_000; i++) audit.record(c);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) audit.record(c);
  const ns = Number(process.hrtime.bigint() - t0) / n;
  console.log(`audit.record (includeHeaders, to a null stream): ${ns.toFixed(0)} ns/op`);
  await audit.close();
});

test('telemetry: reopenSignal re-opens the audit file; close() removes the handler', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-audit-'));
  try {
    const file = join(dir, 'audit.log');
    const before = process.listenerCount('SIGUSR2');
    const tel = createTelemetry(
      { audit: auditConfig({ destination: file }), logLevel: 'error' },
      { reopenSignal: 'SIGUSR2', collectDefault: false, logStream: new Capture() },
    );
    assert.equal(process.listenerCount('SIGUSR2'), before + 1);
    tel.record(completed({ requestId: 'one' }));
    await tel.audit.flush();
    await rename(file, file + '.1');
    const delivered = new Promise((resolve) => process.once('SIGUSR2', resolve));
    // Signal handlers do not keep the event loop alive; a timer does until delivery.
    const keepAlive = setTimeout(() => {}, 5_000);
    process.kill(process.pid, 'SIGUSR2');
    await delivered;
    clearTimeout(keepAlive);
    tel.record(completed({ requestId: 'two' }));
    await tel.close();
    assert.equal(process.listenerCount('SIGUSR2'), before);
    assert.match(await readFile(file + '.1', 'utf8'), /"requestId":"one"/);
    const fresh = await readFile(file, 'utf8');
    assert.match(fresh, /"requestId":"two"/);
    assert.doesNotMatch(fresh, /"requestId":"one"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('durations are written as the same JSON number text as String(Math.round(us) / 1000)', async () => {
  const { msText } = await import('../src/telemetry/audit.js');
  const samples = [0, 0.4, 0.5, 1, 9, 10, 999, 1000, 1001, 1005, 1010, 1050, 1100, 1234.5, 99999, 100000, 123456789, 2 ** 40 + 7];
  for (let i = 0; i < 20000; i++) samples.push(Math.random() * 10 ** (1 + (i % 9)));
  for (const us of samples) assert.equal(msText(us), String(Math.round(us) / 1000), `us=${us}`);
  assert.equal(msText(Number.NaN), 'null');
  assert.equal(msText(Number.POSITIVE_INFINITY), 'null');
});
