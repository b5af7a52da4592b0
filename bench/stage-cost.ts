/**
 * The shared run of the stage-cost benches (`bench:contract`, `bench:threats`): one gateway
 * (one worker, audit on) whose routes are told apart by Host, each forwarding the ~400-byte
 * JSON POST to the bench upstream; scenario `passthrough` is the baseline of the same run.
 *
 * Medians of interleaved rounds, the order rotated each round; the ratios to passthrough are
 * medians of each round's ratio (lib.ts pairedRatio: the drift of a shared machine between
 * rounds cancels), so more, shorter rounds (`--duration 5 --rounds 7`) give steadier ratios.
 * Also the gateway's CPU time per request in each scenario (its process tree, sampled around
 * each run): unlike throughput it does not depend on what else runs on the machine.
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
  interleavedRounds,
  makeTempDir,
  median,
  pairedRatio,
  pinCpus,
  repoRoot,
  round,
  startGateway,
  startScript,
  stopAll,
  warnIfBusy,
  writeResult,
  ROUND_ARGS,
  roundOptions,
} from './lib.js';
import { treeCpuTicks, TICKS_PER_SECOND } from './proc-cpu.js';

export interface StageCostBench {
  /** Name in messages, the temp dir and the results file (`contract`, `threats`). */
  readonly kind: string;
  /** Heading of the printed table, after "### ". */
  readonly title: string;
  /** Scenario names, each the first label of its route's Host (`<name>.bench`); the first is `passthrough`. */
  readonly scenarios: readonly string[];
  /** Gateway config (YAML); the bench upstream is named `bench`, its URL replaced at start. */
  readonly config: string;
  /** Further files the config names, written beside it (name → content). */
  readonly files?: Readonly<Record<string, string>>;
  /** The bar: the scenario whose throughput ratio to passthrough must be at least `ratio`. */
  readonly target: { readonly scenario: string; readonly ratio: number; readonly text: string };
}

export async function runStageCostBench(b: StageCostBench): Promise<void> {
  try {
    await run(b);
  } catch (err: unknown) {
    console.error(`bench ${b.kind} failed: ${err instanceof Error ? err.message : String(err)}`);
    await stopAll();
    process.exit(1);
  }
}

const signed = (x: number) => (x >= 0 ? '+' : '') + x.toFixed(1);

async function run(b: StageCostBench): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...ROUND_ARGS,
    },
  });
  const { durationS, warmupS, rounds, connections } = roundOptions(values);
  const scenarios = b.scenarios;
  installCleanup((scenarios.length * rounds * (durationS + warmupS) + 120) * 1000);
  const cpus = values.pin === 'off' ? undefined : pinCpus();
  warnIfBusy();

  const dir = makeTempDir(`portcullis-bench-${b.kind}-`);
  for (const [name, content] of Object.entries(b.files ?? {})) writeFileSync(join(dir, name), content);
  const template = join(dir, `portcullis.${b.kind}.yaml`);
  writeFileSync(template, b.config);

  const upstream = await startScript('upstream', 'upstream.js', ['--port', '0'], cpus?.upstream);
  const gw = await startGateway({ template, upstreamUrl: `http://127.0.0.1:${upstream.port}`, cpus: cpus?.target });

  console.error(`bench ${b.kind}: ${scenarios.length} scenarios × ${rounds} rounds, ${warmupS} s warm-up + ${durationS} s each, ${connections} connections`);
  const cpu = new Map<string, number[]>(scenarios.map((s) => [s, []]));
  const cpuMicros = () => (gw.child.pid === undefined ? 0 : (treeCpuTicks(gw.child.pid) * 1e6) / TICKS_PER_SECOND);
  const results = await interleavedRounds({
    url: `http://127.0.0.1:${gw.port}`,
    workload: POST_WORKLOAD,
    connections,
    durationS,
    warmupS,
    rounds,
    runs: scenarios.map((s) => ({ name: s, headers: { host: `${s}.bench` } })),
    around: async (name, runOnce) => {
      const before = cpuMicros();
      const stats = await runOnce();
      cpu.get(name)!.push((cpuMicros() - before) / Math.max(1, stats.requests));
      return stats;
    },
  });

  const of = (s: string) => results.get(s)!;
  const rps = (s: string) => median(of(s).map((x) => x.rps));
  const p99 = (s: string) => median(of(s).map((x) => x.latencyMs.p99));
  const cpuUs = (s: string) => median(cpu.get(s)!);
  const base = rps('passthrough');
  const rpsRatio = (s: string) => pairedRatio(of(s).map((x) => x.rps), of('passthrough').map((x) => x.rps));
  const p99Ratio = (s: string) => pairedRatio(of(s).map((x) => x.latencyMs.p99), of('passthrough').map((x) => x.latencyMs.p99));
  const cpuRatio = (s: string) => pairedRatio(cpu.get('passthrough')!, cpu.get(s)!);
  const out = ['', `### ${b.title}, POST /post (~400-byte JSON), ${connections} connections, ${durationS} s per run, medians of ${rounds} rounds (ratios: median of the per-round ratios)`, ''];
  out.push(
    '| scenario | req/s | p99 ms | req/s vs passthrough | p99 vs passthrough | µs added per request | gateway CPU µs / request | CPU added | passthrough CPU / this CPU |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const s of scenarios) {
    const pt = s === 'passthrough';
    out.push(
      `| ${s} | ${Math.round(rps(s))} | ${p99(s).toFixed(2)} | ${rpsRatio(s).toFixed(2)} | ${p99Ratio(s).toFixed(2)} | ${pt ? '–' : ((1 / rps(s) - 1 / base) * 1e6).toFixed(1)} | ${cpuUs(s).toFixed(1)} | ${pt ? '–' : signed(cpuUs(s) - cpuUs('passthrough'))} | ${cpuRatio(s).toFixed(2)} |`,
    );
  }
  const pass = rpsRatio(b.target.scenario) >= b.target.ratio;
  out.push('', `Target (${b.target.text}): ${pass ? 'PASS' : 'FAIL'}.`);
  out.push(`By gateway CPU per request (the throughput ratio of a CPU-bound gateway, steadier on a busy machine): ${cpuRatio(b.target.scenario).toFixed(2)}.`);
  console.log(out.join('\n'));
  const file = writeResult(b.kind, {
    kind: b.kind,
    options: { durationS, warmupS, rounds, connections },
    environment: { ...environment(), cpuPinning: cpus ?? null },
    scenarios: scenarios.map((s) => ({
      scenario: s,
      rps: round(rps(s), 1),
      p99Ms: round(p99(s), 3),
      vsPassthrough: round(rpsRatio(s), 3),
      cpuUsPerRequest: round(cpuUs(s), 2),
      cpuVsPassthrough: round(cpuRatio(s), 3),
      rounds: of(s).map((x, i) => ({ rps: round(x.rps, 1), p99: round(x.latencyMs.p99, 3), non2xx: x.non2xx, cpuUsPerRequest: round(cpu.get(s)![i] ?? 0, 2) })),
    })),
    pass,
  });
  console.error(`bench ${b.kind}: results written to ${relative(repoRoot, file)}`);
  await stopAll();
  process.exit(0);
}
