import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { Command } from 'commander';
import { registerCheck, runCheck } from '../src/cli/check.js';

const fixture = (name: string) => path.join('test/fixtures/config', name);
const ENV = { ADMIN_TOKEN: 'x' };

async function check(file: string, format: 'text' | 'json' = 'text') {
  const lines: string[] = [];
  const code = await runCheck(file, { format, out: (l) => lines.push(l), env: ENV });
  return { code, lines };
}

test('a valid config: OK with counts, exit 0', async () => {
  const { code, lines } = await check(fixture('full.yaml'));
  assert.equal(code, 0);
  // 6 + 1 spec operations, and a route with two methods.
  assert.deepEqual(lines, ['test/fixtures/config/full.yaml: OK (3 APIs/routes, 9 operations)']);
});

test('warnings are printed and the exit code stays 0', async () => {
  const { code, lines } = await check(fixture('inline-secret.yaml'));
  assert.equal(code, 0);
  assert.deepEqual(lines, [
    'test/fixtures/config/inline-secret.yaml:5:10: warning: admin.token: secret written inline in config; use ${ENV} or file:',
    'test/fixtures/config/inline-secret.yaml:10:27: warning: upstreams.legacy.tls.insecureSkipVerify: insecureSkipVerify: true turns off certificate verification for this upstream; use it for tests only',
    'test/fixtures/config/inline-secret.yaml: OK, 2 warnings (0 APIs/routes, 0 operations)',
  ]);
});

test('errors: one line each, sorted, then the summary; exit 1', async () => {
  const { code, lines } = await check(fixture('bad-semantic.yaml'));
  assert.equal(code, 1);
  assert.equal(lines.length, 10);
  assert.equal(lines[0], 'test/fixtures/config/bad-semantic.yaml:5:17: error: listeners[0].tls.certFile: cannot read certFile "./tls/missing.crt": no such file (ENOENT)');
  assert.equal(
    lines[5],
    'test/fixtures/config/bad-semantic.yaml:16:15: error: routes[0].upstream: unknown upstream "mian"; expected a name from upstreams (main) or an http(s) URL',
  );
  assert.equal(lines.at(-1), 'test/fixtures/config/bad-semantic.yaml: 9 errors');
});

test('diagnostics in OpenAPI files name those files', async () => {
  const { code, lines } = await check(fixture('bad-spec.yaml'));
  assert.equal(code, 1);
  assert.ok(lines.includes('test/fixtures/openapi/swagger2.yaml:1:10: error: /swagger: Swagger 2.0 is not supported; Portcullis reads OpenAPI 3.0.x and 3.1.x documents (convert it first, e.g. with swagger2openapi)'));
  assert.equal(lines.at(-1), 'test/fixtures/config/bad-spec.yaml: 5 errors');
});

test('an unreadable config file', async () => {
  const { code, lines } = await check(fixture('nope.yaml'));
  assert.equal(code, 1);
  assert.deepEqual(lines, ['test/fixtures/config/nope.yaml: error: cannot read config file: no such file (ENOENT)', 'test/fixtures/config/nope.yaml: 1 error']);
});

test('--format json', async () => {
  const bad = await check(fixture('bad-schema.yaml'), 'json');
  assert.equal(bad.code, 1);
  assert.equal(bad.lines.length, 1);
  const report = JSON.parse(bad.lines[0] ?? '') as { ok: boolean; errors: number; warnings: number; diagnostics: { path: string; line: number; column: number; message: string }[] };
  assert.deepEqual([report.ok, report.errors, report.warnings], [false, 6, 0]);
  assert.deepEqual(report.diagnostics[0], {
    severity: 'error',
    file: path.resolve(fixture('bad-schema.yaml')),
    line: 3,
    column: 11,
    path: 'listeners[0].port',
    message: 'expected an integer, got a string',
  });

  const good = await check(fixture('full.yaml'), 'json');
  assert.equal(good.code, 0);
  const ok = JSON.parse(good.lines[0] ?? '') as Record<string, unknown>;
  assert.deepEqual([ok.ok, ok.errors, ok.apis, ok.routes, ok.operations], [true, 0, 2, 1, 9]);
  assert.match(String(ok.revision), /^[0-9a-f]{12}$/);
});

test('registerCheck adds the command with its options and help', () => {
  const program = new Command('portcullis');
  registerCheck(program);
  const cmd = program.commands.find((c) => c.name() === 'check');
  assert.ok(cmd);
  const help = cmd.helpInformation();
  assert.match(help, /-c, --config <file>\s+config file \(YAML or JSON\) \(default: "portcullis\.yaml"\)/);
  assert.match(help, /--format <format>\s+output format \(choices: "text", "json", default: "text"\)/);
  assert.match(cmd.description(), /Check a config file/);
});
