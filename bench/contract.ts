/**
 * `npm run bench:contract`: the cost of contract validation on the ~400-byte JSON POST, as a
 * ratio to a passthrough route of the same gateway in the same run.
 *
 * One gateway (one worker, audit on), routes told apart by Host, all forwarding POST /post:
 *   passthrough        explicit public route, no stage
 *   contract-request   the operation from an OpenAPI document: Content-Type, JSON limits, schema
 *                      validation of the body, strict mode (response checks off)
 *   contract-full      the same plus the response contract (leak guard, response validation in
 *                      monitor mode, undeclared-property stripping: the response is buffered)
 * Medians of interleaved rounds, the order rotated each round; the ratios to passthrough are
 * medians of each round's ratio (bench/lib.ts pairedRatio: drift of a shared machine between
 * rounds cancels), so more, shorter rounds (`--duration 5 --rounds 7`) give steadier ratios. Also the gateway's CPU time per
 * request in each scenario (its process tree, sampled around each run), and passthrough CPU /
 * scenario CPU: the throughput ratio a CPU-bound gateway would show, steadier on a busy machine.
 *
 * Options: --duration S (10) --warmup S (2) --rounds N (3) --connections N (50) --pin auto|off
 */
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import {
  POST_WORKLOAD,
  environment,
  installCleanup,
  makeTempDir,
  pinCpus,
  positiveInt,
  repoRoot,
  round,
  startGateway,
  startScript,
  stopAll,
  warnIfBusy,
  writeResult,
  interleavedRounds,
  median,
  pairedRatio,
} from './lib.js';
import { SPEC } from './contract-spec.js';
import { treeCpuTicks, TICKS_PER_SECOND } from './proc-cpu.js';

const SCENARIOS = ['passthrough', 'contract-request', 'contract-full'] as const;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      connections: { type: 'string' },
      pin: { type: 'string', default: 'auto' },
    },
  });
  const durationS = positiveInt('duration', values.duration, 10);
  const warmupS = values.warmup === '0' ? 0 : positiveInt('warmup', values.warmup, 2);
  const rounds = positiveInt('rounds', values.rounds, 3);
  const connections = positiveInt('connections', values.connections, 50);
  installCleanup((SCENARIOS.length * rounds * (durationS + warmupS) + 120) * 1000);
  const cpus = values.pin === 'off' ? undefined : pinCpus();
  warnIfBusy();

  const dir = makeTempDir('portcullis-bench-contract-');
  writeFileSync(join(dir, 'orders.yaml'), SPEC);
  const template = join(dir, 'portcullis.contract.yaml');
  writeFileSync(
    template,
    `version: 1
workers: 1
listeners: [{ host: 127.0.0.1, port: 8081 }]
admin: { enabled: false }
threats: { enabled: false }
telemetry: { audit: { enabled: true, destination: stdout } }
upstreams:
  bench: { url: http://127.0.0.1:3000, connections: 128 }
routes:
  - { name: passthrough, methods: [POST], path: /post, hosts: [passthrough.bench], upstream: bench, public: true }
apis:
  - { name: request, spec: ./orders.yaml, hosts: [contract-request.bench], upstream: bench, public: true, stages: { response-contract: { mode: 'off' } } }
  - { name: full, spec: ./orders.yaml, hosts: [contract-full.bench], upstream: bench, public: true }
`,
  );

  const upstream = await startScript('upstream', 'upstream.js', ['--port', '0'], cpus?.upstream);
  const gw = await startGateway({ template, upstreamUrl: `http://127.0.0.1:${upstream.port}`, cpus: cpus?.target });
  const url = `http://127.0.0.1:${gw.port}`;

  console.error(`bench contract: ${SCENARIOS.length} scenarios × ${rounds} rounds, ${warmupS} s warm-up + ${durationS} s each, ${connections} connections`);
  // Gateway CPU time per request, sampled around each run: on a shared machine it is steadier
  // than throughput (other processes take wall time from the gateway, not its CPU time).
  const cpu = new Map<string, number[]>(SCENARIOS.map((s) => [s, []]));
  const cpuMicros = () => (gw.child.pid === undefined ? 0 : (treeCpuTicks(gw.child.pid) * 1e6) / TICKS_PER_SECOND);
  const results = await interleavedRounds({
    url,
    workload: POST_WORKLOAD,
    connections,
    durationS,
    warmupS,
    rounds,
    runs: SCENARIOS.map((s) => ({ name: s, headers: { host: `${s}.bench` } })),
    around: async (name, run) => {
      const before = cpuMicros();
      const stats = await run();
      cpu.get(name)!.push((cpuMicros() - before) / Math.max(1, stats.requests));
      return stats;
    },
  });
  const cpuUs = (s: string) => median(cpu.get(s)!);

  const rps = (s: string) => median(results.get(s)!.map((x) => x.rps));
  const p99 = (s: string) => median(results.get(s)!.map((x) => x.latencyMs.p99));
  const base = rps('passthrough');
  // Ratios are paired by round (see pairedRatio): the machine's drift between rounds cancels.
  const rpsRatio = (s: string) => pairedRatio(results.get(s)!.map((x) => x.rps), results.get('passthrough')!.map((x) => x.rps));
  const p99Ratio = (s: string) => pairedRatio(results.get(s)!.map((x) => x.latencyMs.p99), results.get('passthrough')!.map((x) => x.latencyMs.p99));
  const cpuRatio = (s: string) => pairedRatio(cpu.get('passthrough')!, cpu.get(s)!);
  const out = [
    '',
    `### Contract validation cost, POST /post (~400-byte JSON), ${connections} connections, ${durationS} s per run, medians of ${rounds} rounds (ratios: median of the per-round ratios)`,
    '',
  ];
  out.push(
    '| scenario | req/s | p99 ms | req/s vs passthrough | p99 vs passthrough | µs added per request | gateway CPU µs / request | passthrough CPU / this CPU |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const s of SCENARIOS) {
    const added = s === 'passthrough' ? '–' : ((1 / rps(s) - 1 / base) * 1e6).toFixed(1);
    out.push(
      `| ${s} | ${Math.round(rps(s))} | ${p99(s).toFixed(2)} | ${rpsRatio(s).toFixed(2)} | ${p99Ratio(s).toFixed(2)} | ${added} | ${cpuUs(s).toFixed(1)} | ${cpuRatio(s).toFixed(2)} |`,
    );
  }
  const pass = rpsRatio('contract-request') >= 0.9;
  out.push('', `Target (request validation costs at most 10 % of passthrough throughput): ${pass ? 'PASS' : 'FAIL'}.`);
  out.push(`By gateway CPU per request (the throughput ratio of a CPU-bound gateway, steadier on a busy machine): ${cpuRatio('contract-request').toFixed(2)}.`);
  console.log(out.join('\n'));
  const file = writeResult('contract', {
    kind: 'contract',
    options: { durationS, warmupS, rounds, connections },
    environment: { ...environment(), cpuPinning: cpus ?? null },
    scenarios: SCENARIOS.map((s) => ({
      scenario: s,
      rps: round(rps(s), 1),
      p99Ms: round(p99(s), 3),
      vsPassthrough: round(rpsRatio(s), 3),
      cpuUsPerRequest: round(cpuUs(s), 2),
      cpuVsPassthrough: round(cpuRatio(s), 3),
      rounds: results.get(s)!.map((x, i) => ({ rps: round(x.rps, 1), p99: round(x.latencyMs.p99, 3), non2xx: x.non2xx, cpuUsPerRequest: round(cpu.get(s)![i] ?? 0, 2) })),
    })),
    pass,
  });
  console.error(`bench contract: results written to ${relative(repoRoot, file)}`);
  await stopAll();
  process.exit(0);
}

main().catch(async (err: unknown) => {
  console.error(`bench contract failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
