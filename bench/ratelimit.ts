/**
 * `npm run bench:ratelimit`: the cost of one rate limit per request, in process memory and in
 * Redis, each as a ratio to a passthrough route of the same gateway in the same run (issue 6
 * bar: in-process limit >= 0.95 of passthrough throughput).
 *
 * Two gateways (one worker, audit on), because the store is a gateway-wide setting:
 *   memory   store: memory; routes told apart by Host: `passthrough` and `limited` (one GCRA
 *            limit per client IP that never refuses: every request pays the whole check)
 *   redis    store: redis (127.0.0.1:6379, a random key prefix): the same two routes
 * GET /get, 50 connections; the four runs interleaved, order rotated each round; medians.
 * Besides req/s and p99, the CPU time the gateway spends per request (from /proc), which is
 * steadier than throughput on a shared machine. Plus an in-process microbenchmark of the stage.
 *
 * Options: --duration S (10) --warmup S (2) --rounds N (3) --connections N (50) --pin auto|off
 *          --redis URL (redis://127.0.0.1:6379) --micro-only
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { AbuseState, routeAbuseStages } from '../src/abuse/index.js';
import { loadConfig } from '../src/config/index.js';
import { newRequestContext } from '../src/server/gateway.js';
import { treeCpuTicks, TICKS_PER_SECOND } from './proc-cpu.js';
import {
  GET_WORKLOAD,
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
  type StartedGateway,
  ROUND_ARGS,
  roundOptions,
} from './lib.js';

const LIMITS = `rateLimits:
  limits:
    per-ip: { key: [ip], algorithm: gcra, limit: 1000000000, window: 1s }
`;

function template(dir: string, name: string, store: string): string {
  const file = join(dir, `portcullis.${name}.yaml`);
  writeFileSync(
    file,
    `version: 1
workers: 1
listeners: [{ host: 127.0.0.1, port: 8081 }]
admin: { enabled: false }
threats: { enabled: false }
telemetry: { audit: { enabled: true, destination: stdout } }
${store}
${LIMITS}
upstreams:
  bench: { url: http://127.0.0.1:3000, connections: 128 }
routes:
  - { name: passthrough, methods: [GET], path: /get, hosts: [passthrough.bench], upstream: bench, public: true }
  - { name: limited, methods: [GET], path: /get, hosts: [limited.bench], upstream: bench, public: true, rateLimits: { apply: [per-ip] } }
`,
  );
  return file;
}

/** ns per call of the in-process rate-limit stage, against an empty loop over the same contexts. */
async function micro(): Promise<{ nsPerCheck: number; nsBaseline: number; checks: number }> {
  const dir = makeTempDir('portcullis-bench-rl-micro-');
  const file = join(dir, 'p.yaml');
  writeFileSync(
    file,
    `version: 1
listeners: [{ port: 0 }]
${LIMITS}
routes:
  - { name: limited, methods: [GET], path: /get, upstream: http://127.0.0.1:1, public: true, rateLimits: { apply: [per-ip] } }
`,
  );
  const loaded = await loadConfig(file, { env: {} });
  if (!loaded.ok) throw new Error('micro config invalid');
  const state = AbuseState.for(loaded.config.abuse, 1, undefined);
  const info = { id: 'route:limited', api: undefined, operationId: undefined, public: true, upstream: 'x', maxBodyBytes: 0 };
  const stage = routeAbuseStages(state, loaded.config.abuse, info).early!;
  // 1000 client IPs, as under real load.
  const ctxs = Array.from({ length: 1000 }, (_, i) => {
    const c = newRequestContext('id', 0, 'GET', '/get', '', {}, { ip: `10.0.${i >> 8}.${i & 255}`, peerIp: '', tls: false, httpVersion: '1.1', certificate: undefined });
    (c as { route: typeof info }).route = info;
    return c;
  });
  const n = 2_000_000;
  let sink = 0;
  const loop = (withStage: boolean) => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const ctx = ctxs[i % 1000]!;
      if (withStage) {
        const d = stage.onRequest(ctx) as { action: string };
        if (d.action !== 'continue') sink++;
        // The headers are per request: reset what the stage wrote, as a new request would start empty.
        delete ctx.responseHeaders.ratelimit;
        delete ctx.responseHeaders['ratelimit-policy'];
      } else {
        delete ctx.responseHeaders.ratelimit;
        delete ctx.responseHeaders['ratelimit-policy'];
      }
    }
    return ((performance.now() - t0) * 1e6) / n;
  };
  loop(true); // warm up
  const base: number[] = [];
  const withStage: number[] = [];
  for (let r = 0; r < 5; r++) {
    base.push(loop(false));
    withStage.push(loop(true));
  }
  if (sink !== 0) throw new Error('the never-refusing limit refused');
  return { nsPerCheck: median(withStage) - median(base), nsBaseline: median(base), checks: n };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...ROUND_ARGS,
      redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
      'micro-only': { type: 'boolean', default: false },
    },
  });
  const m = await micro();
  console.log(`\nIn-process rate-limit stage (one GCRA limit, 1000 client IPs): ${m.nsPerCheck.toFixed(0)} ns per check (loop overhead ${m.nsBaseline.toFixed(0)} ns subtracted; median of 5 × ${m.checks} calls)`);
  if (values['micro-only']) return;

  const { durationS, warmupS, rounds, connections } = roundOptions(values);
  installCleanup((4 * rounds * (durationS + warmupS) + 120) * 1000);
  const cpus = values.pin === 'off' ? undefined : pinCpus();
  warnIfBusy();

  const dir = makeTempDir('portcullis-bench-ratelimit-');
  const prefix = `portcullis-bench-${randomBytes(4).toString('hex')}:`;
  const upstream = await startScript('upstream', 'upstream.js', ['--port', '0'], cpus?.upstream);
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`;
  const gateways: Record<'memory' | 'redis', StartedGateway> = {
    memory: await startGateway({ template: template(dir, 'memory', 'store: { type: memory }'), upstreamUrl, cpus: cpus?.target }),
    redis: await startGateway({
      template: template(dir, 'redis', `store: { type: redis, redis: { url: "${values.redis}", keyPrefix: "${prefix}", onUnavailable: fail-closed } }`),
      upstreamUrl,
      cpus: cpus?.target,
    }),
  };

  type Run = { name: string; gw: 'memory' | 'redis'; host: 'passthrough' | 'limited' };
  const runs: Run[] = [
    { name: 'memory/passthrough', gw: 'memory', host: 'passthrough' },
    { name: 'memory/limited', gw: 'memory', host: 'limited' },
    { name: 'redis/passthrough', gw: 'redis', host: 'passthrough' },
    { name: 'redis/limited', gw: 'redis', host: 'limited' },
  ];
  const results = new Map<string, { stats: LoadStats; cpuUs: number }[]>(runs.map((r) => [r.name, []]));
  console.error(`bench ratelimit: 4 runs × ${rounds} rounds, ${warmupS} s warm-up + ${durationS} s each, ${connections} connections`);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < runs.length; i++) {
      const run = runs[(i + r) % runs.length]!;
      const gw = gateways[run.gw];
      const url = `http://127.0.0.1:${gw.port}`;
      const headers = { host: `${run.host}.bench` };
      if (warmupS > 0) await runLoad({ url, workload: GET_WORKLOAD, connections, durationS: warmupS, headers });
      console.error(`  ${run.name} (round ${r + 1}/${rounds})`);
      const t0 = treeCpuTicks(gw.child.pid);
      const stats = await runLoad({ url, workload: GET_WORKLOAD, connections, durationS, headers });
      const ticks = treeCpuTicks(gw.child.pid) - t0;
      if (stats.non2xx > 0 || stats.errors > 0) console.error(`  warning: ${run.name}: ${stats.non2xx} non-2xx ${JSON.stringify(stats.statusCodes)}, ${stats.errors} errors`);
      results.get(run.name)!.push({ stats, cpuUs: (ticks / TICKS_PER_SECOND / Math.max(1, stats.requests)) * 1e6 });
    }
  }

  const rps = (n: string) => median(results.get(n)!.map((x) => x.stats.rps));
  const p99 = (n: string) => median(results.get(n)!.map((x) => x.stats.latencyMs.p99));
  const cpu = (n: string) => median(results.get(n)!.map((x) => x.cpuUs));
  const spread = (n: string) => {
    const v = results.get(n)!.map((x) => x.stats.rps);
    return ((Math.max(...v) - Math.min(...v)) / median(v)) * 100;
  };
  const out = ['', `### Rate-limit cost, GET /get, ${connections} connections, ${durationS} s per run, medians of ${rounds} interleaved rounds`, ''];
  out.push('| run | req/s | spread % | p99 ms | CPU µs/req | req/s vs passthrough | CPU vs passthrough |', '|---|---:|---:|---:|---:|---:|---:|');
  for (const run of runs) {
    const base = `${run.gw}/passthrough`;
    out.push(
      `| ${run.name} | ${Math.round(rps(run.name))} | ${spread(run.name).toFixed(0)} | ${p99(run.name).toFixed(2)} | ${cpu(run.name).toFixed(1)} | ${(rps(run.name) / rps(base)).toFixed(2)} | ${(cpu(run.name) / cpu(base)).toFixed(2)} |`,
    );
  }
  const memRatio = rps('memory/limited') / rps('memory/passthrough');
  out.push('', `Target (one in-process limit >= 0.95 of passthrough throughput): ${memRatio >= 0.95 ? 'PASS' : 'FAIL'} (${memRatio.toFixed(3)}).`);
  console.log(out.join('\n'));
  const file = writeResult('ratelimit', {
    kind: 'ratelimit',
    options: { durationS, warmupS, rounds, connections },
    environment: { ...environment(), cpuPinning: cpus ?? null },
    micro: m,
    runs: runs.map((run) => ({
      name: run.name,
      rps: round(rps(run.name), 1),
      p99Ms: round(p99(run.name), 3),
      cpuUsPerRequest: round(cpu(run.name), 2),
      rounds: results.get(run.name)!.map((x) => ({ rps: round(x.stats.rps, 1), p99: round(x.stats.latencyMs.p99, 3), cpuUs: round(x.cpuUs, 2), non2xx: x.stats.non2xx })),
    })),
    memoryVsPassthrough: round(memRatio, 3),
    redisVsPassthrough: round(rps('redis/limited') / rps('redis/passthrough'), 3),
  });
  console.error(`bench ratelimit: results written to ${relative(repoRoot, file)}`);
  await stopAll();
  process.exit(0);
}

main().catch(async (err: unknown) => {
  console.error(`bench ratelimit failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
