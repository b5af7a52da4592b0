/**
 * `npm run bench:threats`: the cost of threat detection on the ~400-byte JSON POST, as a ratio
 * to a passthrough route of the same gateway in the same run (issue bar: >= 0.80).
 *
 * One gateway (one worker, audit on), routes told apart by Host, all forwarding POST /post:
 *   passthrough        explicit public route, no stage (threat detection off for it)
 *   threats            the same route with threat detection on (every header, every JSON
 *                      string and member name decoded and run through every detector)
 *   contract-threats   the operation from an OpenAPI document with request validation and
 *                      threat detection: values the contract proved (enum, email, integers)
 *                      are not scanned
 * Medians of interleaved rounds, the order rotated each round; ratios to passthrough are the
 * median of each round's ratio (bench/lib.ts pairedRatio).
 *
 * Options: --duration S (10) --warmup S (2) --rounds N (3) --connections N (50) --pin auto|off
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
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

const SCENARIOS = ['passthrough', 'threats', 'contract-threats'] as const;


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

  const dir = makeTempDir('portcullis-bench-threats-');
  writeFileSync(join(dir, 'orders.yaml'), SPEC);
  const template = join(dir, 'portcullis.threats.yaml');
  writeFileSync(
    template,
    `version: 1
workers: 1
listeners: [{ host: 127.0.0.1, port: 8081 }]
admin: { enabled: false }
threats: { enabled: true }
telemetry: { audit: { enabled: true, destination: stdout } }
upstreams:
  bench: { url: http://127.0.0.1:3000, connections: 128 }
routes:
  - { name: passthrough, methods: [POST], path: /post, hosts: [passthrough.bench], upstream: bench, public: true, stages: { threats: { mode: 'off' } } }
  - { name: threats, methods: [POST], path: /post, hosts: [threats.bench], upstream: bench, public: true }
apis:
  - { name: contract, spec: ./orders.yaml, hosts: [contract-threats.bench], upstream: bench, public: true, stages: { response-contract: { mode: 'off' } } }
`,
  );

  const upstream = await startScript('upstream', 'upstream.js', ['--port', '0'], cpus?.upstream);
  const gw = await startGateway({ template, upstreamUrl: `http://127.0.0.1:${upstream.port}`, cpus: cpus?.target });
  const url = `http://127.0.0.1:${gw.port}`;

  console.error(`bench threats: ${SCENARIOS.length} scenarios × ${rounds} rounds, ${warmupS} s warm-up + ${durationS} s each, ${connections} connections`);
  // CPU time of the gateway's processes per request, measured around each run: unlike
  // throughput it does not depend on what else runs on the machine.
  const cpu = new Map<string, number[]>(SCENARIOS.map((s) => [s, []]));
  const results = await interleavedRounds({
    url,
    workload: POST_WORKLOAD,
    connections,
    durationS,
    warmupS,
    rounds,
    runs: SCENARIOS.map((s) => ({ name: s, headers: { host: `${s}.bench` } })),
    around: async (name, run) => {
      const before = treeCpuMicros(gw.child.pid);
      const stats = await run();
      cpu.get(name)!.push((treeCpuMicros(gw.child.pid) - before) / Math.max(1, stats.requests));
      return stats;
    },
  });

  const rps = (s: string) => median(results.get(s)!.map((x) => x.rps));
  const p99 = (s: string) => median(results.get(s)!.map((x) => x.latencyMs.p99));
  const cpuUs = (s: string) => median(cpu.get(s)!);
  const base = rps('passthrough');
  // Ratios are paired by round (see pairedRatio): the machine's drift between rounds cancels.
  const rpsRatio = (s: string) => pairedRatio(results.get(s)!.map((x) => x.rps), results.get('passthrough')!.map((x) => x.rps));
  const p99Ratio = (s: string) => pairedRatio(results.get(s)!.map((x) => x.latencyMs.p99), results.get('passthrough')!.map((x) => x.latencyMs.p99));
  const out = ['', `### Threat detection cost, POST /post (~400-byte JSON), ${connections} connections, ${durationS} s per run, medians of ${rounds} rounds (ratios: median of the per-round ratios)`, ''];
  out.push('| scenario | req/s | p99 ms | req/s vs passthrough | p99 vs passthrough | µs added per request | gateway CPU µs / request | CPU vs passthrough |', '|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of SCENARIOS) {
    const added = s === 'passthrough' ? '–' : ((1 / rps(s) - 1 / base) * 1e6).toFixed(1);
    out.push(
      `| ${s} | ${Math.round(rps(s))} | ${p99(s).toFixed(2)} | ${rpsRatio(s).toFixed(2)} | ${p99Ratio(s).toFixed(2)} | ${added} | ${cpuUs(s).toFixed(1)} | ${s === 'passthrough' ? '–' : '+' + (cpuUs(s) - cpuUs('passthrough')).toFixed(1)} |`,
    );
  }
  const pass = rpsRatio('threats') >= 0.8;
  out.push('', `Target (detection on keeps >= 80 % of passthrough throughput): ${pass ? 'PASS' : 'FAIL'}.`);
  console.log(out.join('\n'));
  const file = writeResult('threats', {
    kind: 'threats',
    options: { durationS, warmupS, rounds, connections },
    environment: { ...environment(), cpuPinning: cpus ?? null },
    scenarios: SCENARIOS.map((s) => ({
      scenario: s,
      rps: round(rps(s), 1),
      p99Ms: round(p99(s), 3),
      vsPassthrough: round(rpsRatio(s), 3),
      cpuUsPerRequest: round(cpuUs(s), 2),
      rounds: results.get(s)!.map((x, i) => ({ rps: round(x.rps, 1), p99: round(x.latencyMs.p99, 3), non2xx: x.non2xx, cpuUsPerRequest: round(cpu.get(s)![i] ?? 0, 2) })),
    })),
    pass,
  });
  console.error(`bench threats: results written to ${relative(repoRoot, file)}`);
  await stopAll();
  process.exit(0);
}

/** User + system CPU time (µs) of `pid` and its descendants so far (/proc, clock ticks of 10 ms). */
function treeCpuMicros(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const stat = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Fields after the command name (which may hold spaces): state ppid … utime (14) stime (15).
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      stat.set(Number(entry), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // process ended while we looked
    }
  }
  const inTree = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [p, s] of stat) {
      if (!inTree.has(p) && inTree.has(s.ppid)) {
        inTree.add(p);
        grew = true;
      }
    }
  }
  let ticks = 0;
  for (const p of inTree) ticks += stat.get(p)?.ticks ?? 0;
  return ticks * 10_000;
}

main().catch(async (err: unknown) => {
  console.error(`bench threats failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
