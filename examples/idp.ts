/**
 * A stand-in identity provider for the demo, on 127.0.0.1:9400: an OpenID discovery document,
 * its JWKS (an ES256 key made at start), and `GET /token?sub=u-1001[&roles=admin]` that hands
 * out a signed access token to anyone who asks. Demo only: a real provider authenticates the
 * user first. Portcullis finds the keys through discovery (examples/portcullis.yaml).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';

export const IDP_PORT = 9400;
export const IDP_ISSUER = `http://127.0.0.1:${IDP_PORT}`;
export const IDP_AUDIENCE = 'notes-api';

export async function createDemoIdp(): Promise<http.Server> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'demo-1', alg: 'ES256', use: 'sig' };
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
  };
  const server = http.createServer((req, res) => {
    // The issuer is this server's own address (IDP_ISSUER in the demo; another port in tests).
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const url = new URL(req.url ?? '/', issuer);
    if (req.method !== 'GET') return json(res, 405, { error: 'method_not_allowed' });
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(res, 200, { issuer, jwks_uri: `${issuer}/jwks`, id_token_signing_alg_values_supported: ['ES256'] });
    }
    if (url.pathname === '/jwks') return json(res, 200, { keys: [jwk] });
    if (url.pathname === '/token') {
      const sub = url.searchParams.get('sub') ?? '';
      if (!/^u-\d{4}$/.test(sub)) return json(res, 400, { error: 'invalid_request', message: 'sub must be a user id such as u-1001' });
      const roles = (url.searchParams.get('roles') ?? 'member').split(',').filter((r) => r !== '');
      void new SignJWT({ scope: 'notes', roles })
        .setProtectedHeader({ alg: 'ES256', kid: 'demo-1', typ: 'at+jwt' })
        .setIssuer(issuer)
        .setAudience(IDP_AUDIENCE)
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(privateKey)
        .then((token) => {
          res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end(token + '\n');
        });
      return;
    }
    json(res, 404, { error: 'not_found' });
  });
  return server;
}
