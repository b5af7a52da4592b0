/**
 * Identity settings that cannot work are config errors, found by `portcullis check` before any
 * request arrives: each names the file, the key and what was expected.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig, type Diagnostic } from '../src/config/index.js';
import { writeFiles } from './helpers.js';

const HEAD = 'version: 1\nlisteners: [{ port: 1 }]\n';

async function problems(files: Record<string, string>): Promise<string[]> {
  const dir = writeFiles(files);
  const r = await loadConfig(join(dir, 'portcullis.yaml'), { env: { SECRET: 'x'.repeat(40) } });
  const diags: readonly Diagnostic[] = r.ok ? r.warnings : r.diagnostics;
  return diags.map((d) => `${d.severity} ${d.path}: ${d.message}`);
}

const expectOne = (list: string[], pattern: RegExp) => assert.ok(list.some((l) => pattern.test(l)), `expected ${pattern} in:\n${list.join('\n')}`);

const SPEC = (schemes: string, security: string) => `openapi: 3.1.0
info: { title: t, version: '1' }
security: ${security}
paths:
  /a: { get: { operationId: a, responses: { '200': { description: ok } } } }
components:
  securitySchemes:
${schemes}
`;

describe('identity config: problems named precisely', () => {
  test('a jwt scheme needs issuer, audiences and exactly one key source', async () => {
    const list = await problems({ 'portcullis.yaml': `${HEAD}identity:\n  schemes:\n    corp: { type: jwt }\n    two: { type: jwt, issuer: i, audiences: [a], jwksUri: 'https://x/jwks', discovery: 'https://x' }\n` });
    expectOne(list, /^error identity\.schemes\.corp: a scheme of type jwt needs "issuer"/);
    expectOne(list, /^error identity\.schemes\.corp: a scheme of type jwt needs "audiences"/);
    expectOne(list, /^error identity\.schemes\.corp: a scheme of type jwt needs one of "jwksUri", "discovery" or "keys"/);
    expectOne(list, /^error identity\.schemes\.two: give only one of jwksUri, discovery/);
  });

  test('keys over plain http to another host, HS* with a JWKS, private keys and short secrets are refused', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const list = await problems({
      'portcullis.yaml': `${HEAD}identity:
  schemes:
    remote: { type: jwt, issuer: i, audiences: [a], jwksUri: 'http://idp.example.com/jwks' }
    hs: { type: jwt, issuer: i, audiences: [a], algorithms: [HS256], jwksUri: 'https://idp.example.com/jwks' }
    priv: { type: jwt, issuer: i, audiences: [a], keys: [{ file: ./key.pem }] }
    short: { type: jwt, issuer: i, audiences: [a], algorithms: [HS256], keys: [{ secret: too-short }] }
    intro: { type: introspection, endpoint: 'http://idp.example.com/introspect', clientId: c, clientSecret: '\${SECRET}' }
`,
      'key.pem': privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    });
    expectOne(list, /^error identity\.schemes\.remote\.jwksUri: expected an https:\/\/ URL \(plain http is only allowed to a loopback address\)/);
    expectOne(list, /^error identity\.schemes\.hs\.algorithms: HS\* algorithms need a shared secret in "keys"/);
    expectOne(list, /^error identity\.schemes\.priv\.keys\[0\]\.file: \.\/key\.pem holds a private key/);
    expectOne(list, /^error identity\.schemes\.short\.keys\[0\]\.secret: an HMAC secret must be at least 32 bytes/);
    expectOne(list, /^error identity\.schemes\.intro\.endpoint: expected an https:\/\/ URL/);
  });

  test('keys that do not apply to the scheme type are named', async () => {
    const list = await problems({ 'portcullis.yaml': `${HEAD}identity:\n  schemes:\n    k: { type: apiKey, issuer: x }\n` });
    expectOne(list, /^error identity\.schemes\.k\.issuer: key "issuer" does not apply to a scheme of type apiKey/);
  });

  test('an OpenAPI scheme nothing can verify, HTTP Basic, query keys without allowQuery, type mismatches', async () => {
    const api = `${HEAD}identity:\n  schemes:\n    corp: { type: mtls }\napis: [{ name: t, spec: ./openapi.yaml, upstream: 'http://127.0.0.1:1' }]\n`;
    const bearer = await problems({ 'portcullis.yaml': api, 'openapi.yaml': SPEC('    oidc: { type: http, scheme: bearer }', '[{ oidc: [] }]') });
    expectOne(bearer, /security scheme "oidc" \(http bearer\) has no identity scheme to verify it: add identity\.schemes\.oidc \(type jwt or introspection\) or map it in apis\[0\]\.schemes/);
    const basic = await problems({ 'portcullis.yaml': api, 'openapi.yaml': SPEC('    b: { type: http, scheme: basic }', '[{ b: [] }]') });
    expectOne(basic, /security scheme "b" is HTTP Basic, which Portcullis does not verify/);
    const query = await problems({ 'portcullis.yaml': api, 'openapi.yaml': SPEC('    k: { type: apiKey, in: query, name: key }', '[{ k: [] }]') });
    expectOne(query, /apiKey scheme "k" takes the key from the query string; set identity\.apiKeys\.allowQuery: true/);
    const mismatch = await problems({ 'portcullis.yaml': api, 'openapi.yaml': SPEC('    corp: { type: http, scheme: bearer }', '[{ corp: [] }]') });
    expectOne(mismatch, /security scheme "corp" \(http bearer\) cannot be verified by identity scheme "corp" of type mtls/);
    const bound = await problems({
      'portcullis.yaml': `${HEAD}apis: [{ name: t, spec: ./openapi.yaml, upstream: 'http://127.0.0.1:1', schemes: { oidc: nowhere } }]\n`,
      'openapi.yaml': SPEC('    oidc: { type: http, scheme: bearer }', '[{ oidc: [] }]'),
    });
    expectOne(bound, /^error apis\[0\]\.schemes\.oidc: unknown identity scheme "nowhere"/);
  });

  test('roles and ownership extensions are checked, in the spec file', async () => {
    const list = await problems({
      'portcullis.yaml': `${HEAD}apis: [{ name: t, spec: ./openapi.yaml, upstream: 'http://127.0.0.1:1' }]\n`,
      'openapi.yaml': `openapi: 3.1.0
info: { title: t, version: '1' }
paths:
  /u/{id}:
    get:
      operationId: a
      x-portcullis-roles: admin
      x-portcullis-owner: { rules: [{ in: path, name: userId, equalsClaim: sub }] }
      responses: { '200': { description: ok } }
`,
    });
    expectOne(list, /x-portcullis-roles: expected a non-empty list of role names/);
    expectOne(list, /path parameter "userId" is not in the path template "\/u\/\{id\}"/);
  });

  test('routes name schemes that exist', async () => {
    const list = await problems({ 'portcullis.yaml': `${HEAD}routes:\n  - { name: r, methods: [GET], path: /r, upstream: 'http://127.0.0.1:1', security: [{ corp: [] }] }\n` });
    expectOne(list, /^error routes\[0\]\.security\[0\]\.corp: unknown scheme "corp"; defined in identity\.schemes: apiKey/);
  });
});
