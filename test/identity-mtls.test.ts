/**
 * mTLS client identity: rule matching on every certificate field (exact and prefix, AND,
 * first match wins), refusals, the RFC 8705 thumbprint computed two ways from a real
 * certificate, certificate-bound token checks, and one real mutual-TLS connection whose
 * verified peer certificate is mapped to a principal.
 */
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { MtlsAuthenticator, certificateThumbprint, checkCertificateBinding, dnAttribute, type MtlsOptions } from '../src/identity/mtls.js';
import type { AuthResult } from '../src/identity/types.js';
import type { ClientCertificate } from '../src/pipeline/types.js';

// Same convention as test/helpers.ts FIXTURES: tests run from the repository root.
const tlsDir = resolve('test/fixtures/tls');
const fixture = (f: string): Buffer => readFileSync(join(tlsDir, f));

const FP_A = 'FA:87:CF:13:01:7C:34:5D:0C:F8:99:FF:C4:70:CB:6F:BE:A1:A1:D9:69:CA:A6:AA:91:91:0E:6F:12:68:06:8D';
const FP_B = '00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF';

function cert(over: Partial<ClientCertificate> = {}): ClientCertificate {
  return {
    subject: 'CN=payments-api,O=Corp,OU=Platform',
    issuer: 'CN=Corp Issuing CA 2,O=Corp',
    subjectAltNames: ['DNS:Payments.Corp.Example', 'URI:spiffe://corp/ns/payments/sa/api', 'email:ops@corp.example', 'IP Address:10.0.0.1'],
    fingerprint256: FP_A,
    serialNumber: '01',
    ...over,
  };
}

function auth(opts: Partial<MtlsOptions>): MtlsAuthenticator {
  return new MtlsAuthenticator({ name: 'mtls', principalFrom: 'subject-cn', rules: [], ...opts });
}

function principalId(r: AuthResult): string {
  assert.equal(r.ok, true, r.ok ? '' : `${r.code}: ${r.reason}`);
  return r.ok ? r.principal.id : '';
}

function failCode(r: AuthResult): string {
  assert.equal(r.ok, false, 'expected a refusal');
  return r.ok ? '' : r.code;
}

describe('mTLS rules', () => {
  it('matches every field exactly, and refuses a near miss of each', () => {
    const cases: [keyof MtlsOptions['rules'][number]['match'], string, string][] = [
      ['subjectCn', 'payments-api', 'payments-ap'],
      ['subject', 'CN=payments-api,O=Corp,OU=Platform', 'CN=payments-api,O=Corp'],
      ['sanDns', 'payments.corp.example', 'payments.corp.example.evil'],
      ['sanUri', 'spiffe://corp/ns/payments/sa/api', 'spiffe://corp/ns/payments/sa/ap'],
      ['sanEmail', 'ops@corp.example', 'ops@corp.exampl'],
      ['fingerprint256', FP_A.toLowerCase().split(':').join(''), FP_B],
      ['issuerCn', 'Corp Issuing CA 2', 'Corp Issuing CA'],
    ];
    for (const [field, good, bad] of cases) {
      const a = auth({ rules: [{ match: { [field]: good }, id: `ok-${field}` }] });
      assert.equal(principalId(a.authenticate(cert())), `ok-${field}`, field);
      const b = auth({ rules: [{ match: { [field]: bad }, id: 'nope' }] });
      assert.equal(failCode(b.authenticate(cert())), 'client_certificate_unmapped', field);
    }
  });

  it("a trailing '*' is a prefix match; '*' elsewhere is refused at construction", () => {
    const a = auth({ principalFrom: 'san-uri', rules: [{ match: { sanUri: 'spiffe://corp/ns/payments/*' }, roles: ['payments'] }] });
    const r = a.authenticate(cert());
    assert.equal(principalId(r), 'spiffe://corp/ns/payments/sa/api');
    assert.equal(failCode(a.authenticate(cert({ subjectAltNames: ['URI:spiffe://corp/ns/paymentsx/sa/api'] }))), 'client_certificate_unmapped');
    assert.equal(failCode(a.authenticate(cert({ subjectAltNames: ['URI:spiffe://corp/ns/'] }))), 'client_certificate_unmapped');
    // A '*' in a certificate value is a literal character, not a wildcard.
    const lit = auth({ rules: [{ match: { subjectCn: 'svc-*' }, id: 'svc' }] });
    assert.equal(principalId(lit.authenticate(cert({ subject: 'CN=svc-a' }))), 'svc');
    assert.throws(() => auth({ rules: [{ match: { sanDns: '*.corp.example' } }] }), /only contain '\*' as its last/);
    assert.throws(() => auth({ rules: [{ match: { fingerprint256: 'FA:87*' } }] }), /fingerprint256/);
    assert.throws(() => auth({ rules: [{ match: {} }] }), /names no field/);
  });

  it('all fields of a rule must match (AND)', () => {
    const a = auth({ rules: [{ match: { subjectCn: 'payments-api', issuerCn: 'Other CA' }, id: 'x' }] });
    assert.equal(failCode(a.authenticate(cert())), 'client_certificate_unmapped');
    const b = auth({ rules: [{ match: { subjectCn: 'payments-api', issuerCn: 'Corp Issuing CA 2', sanDns: 'payments.corp.example' }, id: 'x' }] });
    assert.equal(principalId(b.authenticate(cert())), 'x');
  });

  it('the first matching rule wins and gives its roles and scopes', () => {
    const a = auth({
      rules: [
        { match: { subjectCn: 'other' }, id: 'other', roles: ['r0'] },
        { match: { issuerCn: 'Corp Issuing CA 2' }, id: 'first', roles: ['r1'], scopes: ['s1'] },
        { match: { subjectCn: 'payments-api' }, id: 'second', roles: ['r2'] },
      ],
    });
    const r = a.authenticate(cert());
    assert.equal(principalId(r), 'first');
    if (!r.ok) return;
    assert.deepEqual(r.principal.roles, ['r1']);
    assert.deepEqual(r.principal.scopes, ['s1']);
    assert.equal(r.principal.type, 'mtls');
    assert.deepEqual(r.principal.claims, {
      subject: 'CN=payments-api,O=Corp,OU=Platform',
      issuer: 'CN=Corp Issuing CA 2,O=Corp',
      san: cert().subjectAltNames,
      fingerprint256: FP_A,
    });
    assert.ok(Object.isFrozen(r.principal) && Object.isFrozen(r.principal.claims));
  });

  it('principal id comes from principalFrom, preferring the SAN the rule matched', () => {
    const c = cert({ subjectAltNames: ['DNS:a.example', 'DNS:b.example', 'URI:spiffe://x/1', 'email:me@x.example'] });
    assert.equal(principalId(auth({ principalFrom: 'san-dns', rules: [{ match: { sanDns: 'b.*' } }] }).authenticate(c)), 'b.example');
    assert.equal(principalId(auth({ principalFrom: 'san-dns' }).authenticate(c)), 'a.example');
    assert.equal(principalId(auth({ principalFrom: 'san-uri' }).authenticate(c)), 'spiffe://x/1');
    assert.equal(principalId(auth({ principalFrom: 'san-email' }).authenticate(c)), 'me@x.example');
    assert.equal(principalId(auth({ principalFrom: 'subject-cn' }).authenticate(c)), 'payments-api');
    assert.equal(principalId(auth({ principalFrom: 'fingerprint' }).authenticate(c)), FP_A.split(':').join(''));
    // No value to name the principal with: refused rather than an empty id.
    assert.equal(failCode(auth({ principalFrom: 'san-email' }).authenticate(cert({ subjectAltNames: [] }))), 'client_certificate_unmapped');
  });

  it('with no rules, any verified certificate is a principal without roles or scopes; no certificate is client_certificate_required', () => {
    const a = auth({});
    const r = a.authenticate(cert());
    assert.equal(principalId(r), 'payments-api');
    if (r.ok) assert.deepEqual([r.principal.roles, r.principal.scopes], [[], []]);
    assert.equal(failCode(a.authenticate(undefined)), 'client_certificate_required');
    assert.equal(failCode(auth({ rules: [{ match: { subjectCn: 'x' } }] }).authenticate(undefined)), 'client_certificate_required');
  });

  it('a subject whose flattened form is ambiguous (a CN containing ",O=") cannot match on CN', () => {
    // Node reports { CN: 'admin,O=x', O: 'Real' }; the listener joins it as below.
    assert.equal(dnAttribute('CN=admin,O=x,O=Real', 'CN'), undefined);
    assert.equal(dnAttribute('CN=client-alice,O=Portcullis Tests', 'CN'), 'client-alice');
    assert.equal(dnAttribute('O=Corp,CN=a\\,b,OU=x', 'CN'), 'a,b');
    assert.equal(dnAttribute('CN=Smith, John,O=x', 'CN'), 'Smith, John');
    const a = auth({ rules: [{ match: { subjectCn: 'admin' }, id: 'admin' }] });
    assert.equal(failCode(a.authenticate(cert({ subject: 'CN=admin,O=x,O=Real' }))), 'client_certificate_unmapped');
  });

  it('SAN fragments of a quoted value that was split on "," are ignored; a whole quoted value is decoded', () => {
    const a = auth({ principalFrom: 'san-dns', rules: [{ match: { sanDns: 'admin.corp.example*' } }] });
    // Node prints `URI:"x,DNS:admin.corp.example"`; split on ',' this gives two fragments.
    assert.equal(failCode(a.authenticate(cert({ subjectAltNames: ['URI:"x', 'DNS:admin.corp.example"'] }))), 'client_certificate_unmapped');
    const b = auth({ principalFrom: 'san-uri', rules: [{ match: { sanUri: 'spiffe://x/a:b' } }] });
    assert.equal(principalId(b.authenticate(cert({ subjectAltNames: ['URI:"spiffe://x/a:b"'] }))), 'spiffe://x/a:b');
  });

  it('parsing is linear on pathological subjects', () => {
    const evil = `CN=${'a,'.repeat(50_000)}${'b'.repeat(100)}=`;
    const a = auth({ rules: [{ match: { subjectCn: 'z*' } }] });
    const t = performance.now();
    for (let i = 0; i < 10; i++) a.authenticate(cert({ subject: evil, issuer: evil }));
    assert.ok(performance.now() - t < 1000, 'ten 100 KB subjects in under a second');
  });
});

describe('certificate thumbprint and token binding (RFC 8705)', () => {
  const x509 = new X509Certificate(fixture('client.crt'));
  const fromFixture: ClientCertificate = {
    subject: 'CN=client-alice,O=Portcullis Tests',
    issuer: 'CN=Portcullis Test CA',
    subjectAltNames: ['DNS:alice.clients.example', 'URI:spiffe://example.org/alice'],
    fingerprint256: x509.fingerprint256,
    serialNumber: x509.serialNumber,
  };
  const fromDer = createHash('sha256').update(x509.raw).digest('base64url');

  it('the thumbprint from fingerprint256 equals base64url(SHA-256(DER))', () => {
    assert.equal(certificateThumbprint(fromFixture), fromDer);
    assert.equal(fromDer.length, 43);
    assert.throws(() => certificateThumbprint({ ...fromFixture, fingerprint256: 'AB:CD' }));
  });

  it('a bound token must match the connection certificate', () => {
    assert.equal(checkCertificateBinding({ cnf: { 'x5t#S256': fromDer } }, fromFixture, true), undefined);
    assert.equal(checkCertificateBinding({ cnf: { 'x5t#S256': fromDer } }, fromFixture, false), undefined);
    const other = certificateThumbprint(cert({ fingerprint256: FP_B }));
    assert.equal(checkCertificateBinding({ cnf: { 'x5t#S256': other } }, fromFixture, false)?.code, 'token_binding_mismatch');
    assert.equal(checkCertificateBinding({ cnf: { 'x5t#S256': fromDer.slice(1) } }, fromFixture, false)?.code, 'token_binding_mismatch');
    assert.equal(checkCertificateBinding({ cnf: { 'x5t#S256': 42 } }, fromFixture, false)?.code, 'token_binding_mismatch');
    // Bound token, but the connection has no certificate (e.g. a stolen token replayed elsewhere).
    assert.equal(checkCertificateBinding({ cnf: { 'x5t#S256': fromDer } }, undefined, false)?.code, 'token_binding_mismatch');
  });

  it('an unbound token passes unless binding is required', () => {
    assert.equal(checkCertificateBinding({ sub: 'a' }, fromFixture, false), undefined);
    assert.equal(checkCertificateBinding({ sub: 'a' }, undefined, false), undefined);
    assert.equal(checkCertificateBinding({ sub: 'a' }, fromFixture, true)?.code, 'token_binding_mismatch');
    assert.equal(checkCertificateBinding({ cnf: { jkt: 'abc' } }, fromFixture, true)?.code, 'token_binding_mismatch');
  });
});

/**
 * The listener's conversion of a verified peer certificate (src/server/gateway.ts,
 * `clientCertificate`, which is not exported), repeated here verbatim.
 */
function clientCertificateOf(socket: TLSSocket): ClientCertificate | undefined {
  const c = socket.getPeerCertificate();
  if (c === null || Object.keys(c).length === 0 || !socket.authorized) return undefined;
  return Object.freeze({
    subject: Object.entries(c.subject ?? {})
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(','),
    issuer: Object.entries(c.issuer ?? {})
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(','),
    subjectAltNames: (c.subjectaltname ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
    fingerprint256: c.fingerprint256,
    serialNumber: c.serialNumber,
  });
}

describe('mTLS over a real TLS connection', () => {
  let server: Server;
  let port: number;
  const authn = new MtlsAuthenticator({
    name: 'partners',
    principalFrom: 'san-uri',
    rules: [
      { match: { issuerCn: 'Portcullis Test CA', subjectCn: 'client-bob' }, id: 'bob' },
      { match: { sanUri: 'spiffe://example.org/*', sanDns: 'alice.clients.example', issuerCn: 'Portcullis Test CA' }, roles: ['partner'] },
    ],
  });

  before(async () => {
    server = createServer(
      { key: fixture('server.key'), cert: fixture('server.crt'), ca: fixture('ca.crt'), requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const c = clientCertificateOf(req.socket as TLSSocket);
        const r = authn.authenticate(c);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(r.ok ? { id: r.principal.id, roles: r.principal.roles, credentialId: r.principal.credentialId } : { code: r.code }));
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  });

  function get(tls: { cert?: Buffer; key?: Buffer }): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/', ca: fixture('ca.crt'), agent: false, ...tls }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve(JSON.parse(body) as Record<string, unknown>));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('the fixture client certificate maps to its SPIFFE id, with the RFC 8705 thumbprint as credential id', async () => {
    const body = await get({ cert: fixture('client.crt'), key: fixture('client.key') });
    const der = new X509Certificate(fixture('client.crt')).raw;
    assert.deepEqual(body, {
      id: 'spiffe://example.org/alice',
      roles: ['partner'],
      credentialId: `x5t#S256:${createHash('sha256').update(der).digest('base64url')}`,
    });
  });

  it('no certificate is client_certificate_required; an untrusted one is never verified, so never mapped', async () => {
    assert.deepEqual(await get({}), { code: 'client_certificate_required' });
    assert.deepEqual(await get({ cert: fixture('rogue.crt'), key: fixture('rogue.key') }), { code: 'client_certificate_required' });
  });
});
