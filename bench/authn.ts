/**
 * `npm run bench:authn`: the added cost per request of authentication, as a ratio to a
 * passthrough route of the same gateway in the same run.
 *
 * One gateway (one worker, audit on) with one route per scenario, told apart by Host:
 *   passthrough          public route, no security stage
 *   api-key              a static API key (SHA-256 + constant-time compare)
 *   jwt-rs256            RS256 JWT, verified-token cache on
 *   jwt-es256            ES256 JWT, cache on
 *   jwt-rs256-nocache    RS256 JWT, cache off (every request verifies the signature)
 *   jwt-es256-nocache    ES256 JWT, cache off
 * The JWKS is served from this process (fetched once). GET /get, 50 connections, rounds
 * interleaved with the order rotated; medians reported.
 *
 * Each secured scenario is compared with a run of the passthrough route carrying the very same
 * headers (the credential is then ignored): the upstream shares the gateway's CPU and parses
 * those headers too, so only this comparison isolates the cost of verifying them.
 *
 * Options: --duration S (10) --warmup S (2) --rounds N (3) --connections N (50) --pin auto|off
 *          --only LIST (scenario names, comma-separated)
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { hashApiKey } from '../src/identity/apikey.js';
import {
  GET_WORKLOAD,
  environment,
  installCleanup,
  makeTempDir,
  pinCpus,
  repoRoot,
  round,
  startGateway,
  startScript,
  stopAll,
  warnIfBusy,
  writeResult,
  interleavedRounds,
  median,
  ROUND_ARGS,
  roundOptions,
} from './lib.js';

const SCENARIOS = ['passthrough', 'api-key', 'jwt-rs256', 'jwt-es256', 'jwt-rs256-nocache', 'jwt-es256-nocache'] as const;
type Scenario = (typeof SCENARIOS)[number];
const API_KEY = 'bench-key-0123456789abcdef0123456789abcdef';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...ROUND_ARGS,
      only: { type: 'string' },
    },
  });
  const { durationS, warmupS, rounds, connections } = roundOptions(values);
  const scenarios = values.only === undefined ? [...SCENARIOS] : SCENARIOS.filter((s) => values.only!.split(',').includes(s));
  if (!scenarios.includes('passthrough')) scenarios.unshift('passthrough');
  // Each secured scenario runs twice per round (itself and its passthrough twin).
  installCleanup(((2 * scenarios.length - 1) * rounds * (durationS + warmupS) + 120) * 1000);
  const cpus = values.pin === 'off' ? undefined : pinCpus();
  warnIfBusy();

  // The identity provider: a JWKS with one RSA and one EC key.
  const rsa = await generateKeyPair('RS256');
  const ec = await generateKeyPair('ES256');
  const jwks = { keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'rs', alg: 'RS256' }, { ...(await exportJWK(ec.publicKey)), kid: 'es', alg: 'ES256' }] };
  let jwksFetches = 0;
  const idp = createServer((_req, res) => {
    jwksFetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
  });
  idp.listen(0, '127.0.0.1');
  await new Promise((r) => idp.once('listening', r));
  const issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  const sign = (alg: 'RS256' | 'ES256') =>
    new SignJWT({ scope: 'bench:read', roles: ['member'] })
      .setProtectedHeader({ alg, kid: alg === 'RS256' ? 'rs' : 'es' })
      .setIssuer(issuer)
      .setAudience('bench')
      .setSubject('bench-user')
      .setIssuedAt()
      .setExpirationTime('2h')
      .sign(alg === 'RS256' ? rsa.privateKey : ec.privateKey);
  const tokens = { RS256: await sign('RS256'), ES256: await sign('ES256') };

  const scheme = (alg: string, cache: number) => `{ type: jwt, issuer: "${issuer}", audiences: [bench], jwksUri: "${issuer}/jwks", algorithms: [${alg}], cacheMaxEntries: ${cache} }`;
  const route = (name: Scenario, security: string) =>
    `  - { name: ${name}, methods: [GET], path: /get, hosts: [${name}.bench], upstream: bench${security === '' ? ', public: true' : `, security: [${security}]`} }`;
  const template = join(makeTempDir('portcullis-bench-authn-'), 'portcullis.authn.yaml');
  writeFileSync(
    template,
    `version: 1
workers: 1
listeners: [{ host: 127.0.0.1, port: 8081 }]
admin: { enabled: false }
threats: { enabled: false }
telemetry: { audit: { enabled: true, destination: stdout } }
identity:
  apiKeys:
    keys: [{ id: bench, sha256: ${hashApiKey(API_KEY)}, owner: bench-user }]
  schemes:
    rs: ${scheme('RS256', 10000)}
    es: ${scheme('ES256', 10000)}
    rsNoCache: ${scheme('RS256', 0)}
    esNoCache: ${scheme('ES256', 0)}
upstreams:
  bench: { url: http://127.0.0.1:3000, connections: 128 }
routes:
${route('passthrough', '')}
${route('api-key', '{ apiKey: [] }')}
${route('jwt-rs256', '{ rs: [bench:read] }')}
${route('jwt-es256', '{ es: [bench:read] }')}
${route('jwt-rs256-nocache', '{ rsNoCache: [bench:read] }')}
${route('jwt-es256-nocache', '{ esNoCache: [bench:read] }')}
`,
  );

  const upstream = await startScript('upstream', 'upstream.js', ['--port', '0'], cpus?.upstream);
  const gw = await startGateway({ template, upstreamUrl: `http://127.0.0.1:${upstream.port}`, cpus: cpus?.target });
  const url = `http://127.0.0.1:${gw.port}`;
  const headers = (s: Scenario): Record<string, string> => {
    const h: Record<string, string> = { host: `${s}.bench` };
    if (s === 'api-key') h['x-api-key'] = API_KEY;
    if (s.startsWith('jwt-rs')) h.authorization = `Bearer ${tokens.RS256}`;
    if (s.startsWith('jwt-es')) h.authorization = `Bearer ${tokens.ES256}`;
    return h;
  };

  console.error(`bench authn: ${scenarios.length} scenarios × ${rounds} rounds, ${warmupS} s warm-up + ${durationS} s each, ${connections} connections`);
  // Every secured scenario, and its twin: the passthrough route with the same headers.
  type Run = { readonly name: string; readonly scenario: Scenario; readonly twin: boolean };
  const plan: Run[] = [];
  for (const s of scenarios) {
    plan.push({ name: s, scenario: s, twin: false });
    if (s !== 'passthrough') plan.push({ name: `${s}@passthrough`, scenario: s, twin: true });
  }
  const runHeaders = (run: Run) => ({ ...headers(run.scenario), ...(run.twin ? { host: 'passthrough.bench' } : {}) });
  const results = await interleavedRounds({
    url,
    workload: GET_WORKLOAD,
    connections,
    durationS,
    warmupS,
    rounds,
    runs: plan.map((run) => ({ name: run.name, headers: runHeaders(run) })),
  });

  const rps = (name: string) => median(results.get(name)!.map((x) => x.rps));
  const p99 = (name: string) => median(results.get(name)!.map((x) => x.latencyMs.p99));
  const vsTwin = (s: Scenario) => (s === 'passthrough' ? 1 : rps(s) / rps(`${s}@passthrough`));
  const out = ['', `### Authentication cost (${connections} connections, ${durationS} s per run, medians of ${rounds} interleaved rounds)`, ''];
  out.push(
    '| scenario | req/s | p99 ms | passthrough, same headers: req/s | req/s ratio | p99 ratio | µs added per request |',
    '|---|---:|---:|---:|---:|---:|---:|',
  );
  for (const s of scenarios) {
    if (s === 'passthrough') {
      out.push(`| passthrough (no credential) | ${Math.round(rps(s))} | ${p99(s).toFixed(2)} | – | – | – | – |`);
      continue;
    }
    const twin = `${s}@passthrough`;
    const added = (1 / rps(s) - 1 / rps(twin)) * 1e6;
    out.push(
      `| ${s} | ${Math.round(rps(s))} | ${p99(s).toFixed(2)} | ${Math.round(rps(twin))} | ${vsTwin(s).toFixed(2)} | ${(p99(s) / p99(twin)).toFixed(2)} | ${added.toFixed(1)} |`,
    );
  }
  const cached = scenarios.filter((s) => s.startsWith('jwt-') && !s.endsWith('nocache'));
  const pass = cached.every((s) => vsTwin(s) >= 0.9);
  out.push('', `JWKS fetches during the run: ${jwksFetches}. Target (JWT with cache ≥ 0.90 of passthrough): ${cached.length === 0 ? 'not measured' : pass ? 'PASS' : 'FAIL'}.`);
  console.log(out.join('\n'));
  const file = writeResult('authn', {
    kind: 'authn',
    options: { durationS, warmupS, rounds, connections },
    environment: { ...environment(), cpuPinning: cpus ?? null },
    runs: plan.map((run) => ({
      name: run.name,
      rps: round(rps(run.name), 1),
      p99Ms: round(p99(run.name), 3),
      rounds: results.get(run.name)!.map((x) => ({ rps: round(x.rps, 1), p99: round(x.latencyMs.p99, 3), non2xx: x.non2xx })),
    })),
    vsPassthroughSameHeaders: Object.fromEntries(scenarios.filter((s) => s !== 'passthrough').map((s) => [s, round(vsTwin(s), 3)])),
    jwksFetches,
    pass,
  });
  console.error(`bench authn: results written to ${relative(repoRoot, file)}`);
  idp.close();
  await stopAll();
  process.exit(0);
}

main().catch(async (err: unknown) => {
  console.error(`bench authn failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
