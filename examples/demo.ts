/**
 * `npm start`: the whole demo in one command. Starts the example notes API on
 * 127.0.0.1:3001 and a stand-in identity provider on 127.0.0.1:9400 in this process, then
 * Portcullis in a child process with examples/portcullis.yaml, and prints requests to try.
 *
 * Compiled to dist/examples/demo.js, so the repository root is two levels up.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createExampleApi } from './api/server.js';
import { IDP_PORT, createDemoIdp } from './idp.js';

const API_HOST = '127.0.0.1';
const API_PORT = 3001;
const GATEWAY_PORT = 8080;

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cliPath = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const configPath = join(repoRoot, 'examples', 'portcullis.yaml');

const G = `http://localhost:${GATEWAY_PORT}`;
const BANNER = `
  Portcullis is protecting the notes API.
    gateway  ${G}  ->  backend http://${API_HOST}:${API_PORT}
    identity provider (demo)  http://127.0.0.1:${IDP_PORT}

  Passes (alice reads her notes with her API key):
    curl -H 'x-api-key: demo-key-alice' ${G}/v1/users/u-1001/notes

  Refused, no credentials (401 unauthenticated):
    curl -i ${G}/v1/users/u-1001/notes

  Refused as an attack, path traversal (400 path_not_normalized):
    curl -i --path-as-is '${G}/v1/users/../admin/stats'

  Refused by threat detection, SQL injection and XSS (403 attack_detected):
    curl -i -H 'x-api-key: demo-key-alice' "${G}/v1/search?q=%27%20OR%20%271%27%3D%271%27--"
    curl -i -X POST -H 'x-api-key: demo-key-alice' -H 'Content-Type: application/json' \\
         -d '{"title":"hi","body":"<img src=x onerror=alert(document.cookie)>"}' ${G}/v1/users/u-1001/notes
  ...while the same words in ordinary text pass:
    curl -H 'x-api-key: demo-key-alice' "${G}/v1/search?q=O%27Brien%20select%20a%20plan"

  Refused as malformed, request smuggling attempt (400 ambiguous_framing):
    curl -i -H 'x-api-key: demo-key-alice' -H 'Content-Type: application/json' \\
         -H 'Content-Length: 3' -H 'Transfer-Encoding: chunked' -d abc \\
         ${G}/v1/users/u-1001/notes

  Access control:
    # BOLA: alice asks for bob's note (403 object_access_denied)
    curl -i -H 'x-api-key: demo-key-alice' ${G}/v1/notes/n-2004
    # mass assignment: alice tries to give her note to bob (403 property_not_writable)
    curl -i -X PUT -H 'x-api-key: demo-key-alice' -H 'Content-Type: application/json' \\
         -d '{"title":"t","body":"b","ownerId":"u-1002"}' ${G}/v1/notes/n-2001
    # data exposure: internalNotes is removed for alice, shown to carol (admin)
    curl -H 'x-api-key: demo-key-alice' ${G}/v1/users/u-1001
    curl -H 'x-api-key: demo-key-carol' ${G}/v1/users/u-1001
    # admin only (403 role_required for alice)
    curl -i -H 'x-api-key: demo-key-alice' ${G}/v1/admin/stats

  Rate limits and login protection:
    # every answer carries RateLimit-Policy / RateLimit; past a limit, 429 rate_limited
    curl -si -H 'x-api-key: demo-key-alice' ${G}/v1/users/u-1001/notes | grep -i ratelimit
    # the 4th wrong password in a row for a username must wait (429 login_throttled)
    for i in 1 2 3 4; do curl -s -o /dev/null -w '%{http_code} ' -H 'Content-Type: application/json' \\
         -d '{"username":"alice@example.com","password":"guess'$i'"}' ${G}/v1/login; done; echo

  A JWT instead of a key:
    TOKEN=$(curl -s 'http://127.0.0.1:${IDP_PORT}/token?sub=u-1002')
    curl -H "Authorization: Bearer $TOKEN" ${G}/v1/users/u-1002/notes

  Metrics (Prometheus):
    curl http://127.0.0.1:9090/metrics

  Audit events are printed below, one JSON line per request. Ctrl-C stops everything.
`;

/** Resolves true once something accepts TCP connections on the port, false after `timeoutMs`. */
async function waitForPort(port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((done) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => done(false));
    });
    if (open) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

async function main(): Promise<void> {
  if (!existsSync(cliPath)) {
    console.error(`demo: ${cliPath} not found. Build first: npm run build (npm start does it for you).`);
    process.exit(1);
  }

  const api = createExampleApi();
  await new Promise<void>((ok) => {
    api.once('error', (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'EADDRINUSE' ? ' (is another demo still running?)' : '';
      console.error(`demo: cannot start the notes API on ${API_HOST}:${API_PORT}: ${err.message}${hint}`);
      process.exit(1);
    });
    api.listen(API_PORT, API_HOST, ok);
  });
  console.log(`demo: notes API listening on http://${API_HOST}:${API_PORT}`);

  const idp = await createDemoIdp();
  await new Promise<void>((ok) => {
    idp.once('error', (err: NodeJS.ErrnoException) => {
      console.error(`demo: cannot start the demo identity provider on 127.0.0.1:${IDP_PORT}: ${err.message}`);
      process.exit(1);
    });
    idp.listen(IDP_PORT, '127.0.0.1', ok);
  });

  // Own process group: Ctrl-C in the terminal reaches only this process, which forwards
  // exactly one signal to the gateway (a second SIGINT would skip its graceful drain).
  const gateway = spawn(process.execPath, [cliPath, 'run', '-c', configPath], {
    cwd: repoRoot,
    stdio: 'inherit',
    detached: true,
  });

  const forward = (signal: NodeJS.Signals) => () => {
    if (gateway.exitCode === null && gateway.signalCode === null) gateway.kill(signal);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, forward(signal));
  // If this process dies for any other reason, do not leave the gateway behind.
  process.on('exit', () => {
    if (gateway.exitCode === null && gateway.signalCode === null) gateway.kill('SIGKILL');
  });

  gateway.once('error', (err) => {
    console.error(`demo: cannot start the gateway: ${err.message}`);
    process.exit(1);
  });
  gateway.once('exit', (code, signal) => {
    api.closeAllConnections();
    api.close();
    idp.closeAllConnections();
    idp.close();
    if (signal !== null) console.error(`demo: gateway stopped by ${signal}`);
    process.exit(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1));
  });

  if (await waitForPort(GATEWAY_PORT, 20_000)) {
    console.log(BANNER);
  } else if (gateway.exitCode === null) {
    console.error(`demo: the gateway did not open port ${GATEWAY_PORT} within 20 s; see its output above.`);
  }
}

main().catch((err: unknown) => {
  console.error('demo: failed:', err);
  process.exit(1);
});
