/**
 * `npm run bench:full-policy`: the whole policy on one operation, beside the minimal node:http +
 * undici proxy in the same run (issue 6 goals: one worker >= 0.70 of the minimal proxy's
 * throughput, p99 <= 1.3x of it, two workers >= 1.7x one worker).
 *
 * The policy: a JWT (RS256, verified-token cache on) with a scope, an in-process rate limit per
 * principal (never refusing: every request pays for the check), OpenAPI request validation,
 * threat detection, and the audit event. Workloads: GET /get and the ~400-byte JSON POST /post.
 * Targets: the minimal proxy, the gateway with one worker, the gateway with `workers: 2`;
 * interleaved rounds, order rotated, medians. Also the CPU time per request of each target
 * (from /proc: steadier than throughput on a shared machine) and, from the audit events of the
 * one-worker gateway, where the time goes per stage.
 *
 * On a 2-core machine the load generator takes one core and every target the other, so
 * `workers: 2` cannot show its scaling there; `--pin off` lets the workers spread (and share
 * with the load generator). The lead reruns it on a quiet, bigger machine.
 *
 * Options: --duration S (10) --warmup S (2) --rounds N (3) --connections N (50) --pin auto|off
 *          --workloads get,post --targets proxy,gateway-1,gateway-2
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { treeCpuTicks, TICKS_PER_SECOND } from './proc-cpu.js';
import {
  GET_WORKLOAD,
  POST_WORKLOAD,
  environment,
  installCleanup,
  makeTempDir,
  median,
  pinCpus,
  repoRoot,
  round,
  runLoad,
  startGateway,
  startScript,
  stopAll,
  warnIfBusy,
  writeResult,
  type LoadStats,
  type Workload,
  ROUND_ARGS,
  roundOptions,
} from './lib.js';
import { ORDER_SCHEMA_YAML } from './contract-spec.js';

const SPEC = `openapi: 3.1.0
info: { title: orders, version: '1' }
security: [{ bearer: [orders] }]
components:
  securitySchemes:
    bearer: { type: http, scheme: bearer, bearerFormat: JWT }
  schemas:
${ORDER_SCHEMA_YAML}paths:
  /get:
    get:
      operationId: getThing
      responses: { '200': { description: ok } }
  /post:
    post:
      operationId: createOrder
      requestBody:
        required: true
        content: { application/json: { schema: { $ref: '#/components/schemas/Order' } } }
      responses: { '200': { description: ok } }
`;

type Target = 'proxy' | 'gateway-1' | 'gateway-2';

/** Mean µs per stage (and arrival to upstream answer / end of response) over audit lines. */
function stageMeans(text: string): { n: number; means: Record<string, number> } {
  const sum: Record<string, number> = {};
  let n = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const e = JSON.parse(line) as { stages: Record<string, number>; durationMs: number; upstreamMs?: number };
      for (const [k, v] of Object.entries(e.stages)) sum[k] = (sum[k] ?? 0) + v;
      sum['(arrival to upstream answer)'] = (sum['(arrival to upstream answer)'] ?? 0) + (e.upstreamMs ?? 0) * 1000;
      sum['(arrival to end of response)'] = (sum['(arrival to end of response)'] ?? 0) + e.durationMs * 1000;
      n++;
    } catch {
      // a line cut by the file's end
    }
  }
  return { n, means: Object.fromEntries(Object.entries(sum).map(([k, v]) => [k, round(v / Math.max(1, n), 1)])) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...ROUND_ARGS,
      workloads: { type: 'string', default: 'get,post' },
      targets: { type: 'string', default: 'proxy,gateway-1,gateway-2' },
    },
  });
  const { durationS, warmupS, rounds, connections } = roundOptions(values);
  const workloads: Workload[] = values.workloads.split(',').map((w) => (w === 'post' ? POST_WORKLOAD : GET_WORKLOAD));
  const targets = values.targets.split(',') as Target[];
  installCleanup((targets.length * workloads.length * rounds * (durationS + warmupS) + 180) * 1000);
  const cpus = values.pin === 'off' ? undefined : pinCpus();
  warnIfBusy();

  // The identity provider: one RS256 key, fetched once.
  const rsa = await generateKeyPair('RS256');
  const jwks = { keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'rs', alg: 'RS256' }] };
  const idp = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks)));
  idp.listen(0, '127.0.0.1');
  await new Promise((r) => idp.once('listening', r));
  const issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  const token = await new SignJWT({ scope: 'orders' })
    .setProtectedHeader({ alg: 'RS256', kid: 'rs' })
    .setIssuer(issuer)
    .setAudience('bench')
    .setSubject('bench-user')
    .setIssuedAt()
    .setExpirationTime('4h')
    .sign(rsa.privateKey);

  const dir = makeTempDir('portcullis-bench-full-');
  writeFileSync(join(dir, 'orders.yaml'), SPEC);
  const template = join(dir, 'portcullis.full.yaml');
  writeFileSync(
    template,
    `version: 1
workers: 1
listeners: [{ host: 127.0.0.1, port: 8081 }]
admin: { enabled: false }
threats: { enabled: true }
telemetry: { audit: { enabled: true, destination: stdout } }
identity:
  schemes:
    bearer: { type: jwt, issuer: "${issuer}", audiences: [bench], jwksUri: "${issuer}/jwks", algorithms: [RS256] }
store: { type: memory }
rateLimits:
  limits:
    per-caller: { key: [principal], algorithm: gcra, limit: 1000000000, window: 1s }
  apply: [per-caller]
upstreams:
  bench: { url: http://127.0.0.1:3000, connections: 128 }
apis:
  - { name: orders, spec: ./orders.yaml, upstream: bench, stages: { response-contract: { mode: 'off' } } }
`,
  );

  const upstream = await startScript('upstream', 'upstream.js', ['--port', '0'], cpus?.upstream);
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`;
  const ports = new Map<Target, { port: number; pid: number; auditFile?: string }>();
  for (const t of targets) {
    if (t === 'proxy') {
      const p = await startScript('minimal-proxy', 'minimal-proxy.js', ['--port', '0', '--upstream', upstreamUrl], cpus?.target);
      ports.set(t, { port: p.port, pid: p.child.pid });
    } else {
      const gw = await startGateway({ template, upstreamUrl, workers: t === 'gateway-1' ? 1 : 2, cpus: cpus?.target });
      ports.set(t, { port: gw.port, pid: gw.child.pid, auditFile: gw.auditFile });
    }
  }
  const headers = { authorization: `Bearer ${token}` };

  const results = new Map<string, { stats: LoadStats; cpuUs: number }[]>();
  const out: string[] = [];
  const summary: Record<string, unknown>[] = [];
  const stagesByWorkload: Record<string, Record<string, number>> = {};
  const audit = ports.get('gateway-1')?.auditFile;
  let auditOffset = 0;
  console.error(`bench full-policy: ${targets.length} targets × ${workloads.length} workloads × ${rounds} rounds, ${warmupS} s warm-up + ${durationS} s each, ${connections} connections`);
  for (const w of workloads) {
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < targets.length; i++) {
        const t = targets[(i + r) % targets.length]!;
        const { port, pid } = ports.get(t)!;
        const url = `http://127.0.0.1:${port}`;
        if (warmupS > 0) await runLoad({ url, workload: w, connections, durationS: warmupS, headers });
        console.error(`  ${w.name} ${t} (round ${r + 1}/${rounds})`);
        const t0 = treeCpuTicks(pid);
        const stats = await runLoad({ url, workload: w, connections, durationS, headers });
        const ticks = treeCpuTicks(pid) - t0;
        if (stats.non2xx > 0 || stats.errors > 0) console.error(`  warning: ${t}: ${stats.non2xx} non-2xx ${JSON.stringify(stats.statusCodes)}, ${stats.errors} errors`);
        const key = `${w.name}|${t}`;
        if (!results.has(key)) results.set(key, []);
        results.get(key)!.push({ stats, cpuUs: (ticks / TICKS_PER_SECOND / Math.max(1, stats.requests)) * 1e6 });
      }
    }
    const rps = (t: Target) => median(results.get(`${w.name}|${t}`)!.map((x) => x.stats.rps));
    const p99 = (t: Target) => median(results.get(`${w.name}|${t}`)!.map((x) => x.stats.latencyMs.p99));
    const cpu = (t: Target) => median(results.get(`${w.name}|${t}`)!.map((x) => x.cpuUs));
    const spread = (t: Target) => {
      const v = results.get(`${w.name}|${t}`)!.map((x) => x.stats.rps);
      return ((Math.max(...v) - Math.min(...v)) / median(v)) * 100;
    };
    out.push('', `### Full policy, ${w.name}, ${connections} connections, ${durationS} s per run, medians of ${rounds} interleaved rounds`, '');
    out.push('| target | req/s | spread % | p50 ms | p99 ms | CPU µs/req | req/s vs proxy | p99 vs proxy |', '|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const t of targets) {
      const p50 = median(results.get(`${w.name}|${t}`)!.map((x) => x.stats.latencyMs.p50));
      const vs = targets.includes('proxy') ? `${(rps(t) / rps('proxy')).toFixed(2)} | ${(p99(t) / p99('proxy')).toFixed(2)}` : '– | –';
      out.push(`| ${t} | ${Math.round(rps(t))} | ${spread(t).toFixed(0)} | ${p50.toFixed(2)} | ${p99(t).toFixed(2)} | ${cpu(t).toFixed(1)} | ${vs} |`);
      summary.push({ workload: w.name, target: t, rps: round(rps(t), 1), p99Ms: round(p99(t), 3), cpuUsPerRequest: round(cpu(t), 2), spreadPct: round(spread(t), 1) });
    }
    if (targets.includes('gateway-1') && targets.includes('gateway-2')) out.push('', `workers: 2 / workers: 1 throughput: ${(rps('gateway-2') / rps('gateway-1')).toFixed(2)} (goal ≥ 1.7)`);
    if (audit !== undefined) {
      const text = readFileSync(audit, 'utf8');
      const stages = stageMeans(text.slice(auditOffset));
      auditOffset = text.length;
      stagesByWorkload[w.name] = stages.means;
      out.push('', `Where the time goes, ${w.name} (gateway, one worker; mean µs per request over its ${stages.n} audit events of this workload, wall time):`, '');
      out.push('| stage | µs |', '|---|---:|');
      for (const [k, v] of Object.entries(stages.means)) out.push(`| ${k} | ${v} |`);
    }
  }

  console.log(out.join('\n'));
  const file = writeResult('full-policy', {
    kind: 'full-policy',
    options: { durationS, warmupS, rounds, connections, targets, workloads: workloads.map((w) => w.name) },
    environment: { ...environment(), cpuPinning: cpus ?? null },
    summary,
    stagesMeanUs: stagesByWorkload,
  });
  console.error(`bench full-policy: results written to ${relative(repoRoot, file)}`);
  idp.close();
  await stopAll();
  process.exit(0);
}

main().catch(async (err: unknown) => {
  console.error(`bench full-policy failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
