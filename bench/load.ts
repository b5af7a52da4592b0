/**
 * `npm run bench`: throughput and latency of the gateway, against the same run's
 * direct-to-upstream and minimal-proxy figures.
 *
 * Three child processes (upstream, minimal proxy, gateway) and autocannon in this process.
 * For each workload (GET /get, POST /post with a ~400-byte JSON body) and each target
 * (direct, proxy, gateway, in that order): a warm-up, then a measured run. Figures are only
 * comparable within one run on one machine, hence the ratios.
 *
 * Options:
 *   --duration S          measured seconds per run (20)
 *   --warmup S            warm-up seconds before each run (3; 0 to skip)
 *   --rounds N            repeat direct/proxy/gateway N times, interleaved, and report medians (1)
 *   --connections N       concurrent connections (50)
 *   --only LIST           targets among direct,proxy,gateway (all)
 *   --workloads LIST      among get,post (both)
 *   --config FILE         scenario template (bench/portcullis.bench.yaml)
 *   --scenario NAME       result name: bench/results/load-<NAME>.json (from the config file name)
 *   --gateway-workers N   override `workers` in the scenario
 *   --header 'n: v'       extra request header, repeatable (e.g. credentials for a secured scenario)
 *   --pin auto|off        pin processes to CPUs (auto; see pinCpus in lib.ts)
 *   --strict              exit 1 when a bar fails
 *   --verbose             echo the gateway's output
 */
import { parseArgs } from 'node:util';
import { relative, resolve } from 'node:path';
import {
  DEFAULT_SCENARIO_CONFIG,
  GET_WORKLOAD,
  POST_WORKLOAD,
  environment,
  installCleanup,
  parseHeaders,
  pinCpus,
  positiveInt,
  repoRoot,
  warnIfBusy,
  round,
  runLoad,
  scenarioFromConfig,
  startGateway,
  startScript,
  stopAll,
  takeFileBytes,
  writeResult,
  median,
  ROUND_ARGS,
  roundOptions,
} from './lib.js';
import type { LoadStats, Workload } from './lib.js';

type Target = 'direct' | 'proxy' | 'gateway';
const TARGETS: readonly Target[] = ['direct', 'proxy', 'gateway'];
const WORKLOADS: Record<string, Workload> = { get: GET_WORKLOAD, post: POST_WORKLOAD };

/** The bars a passthrough gateway must meet against the minimal proxy. */
export const BARS = { minThroughputRatio: 0.85, maxP99Ratio: 1.2 } as const;

/** Share of non-2xx answers and errors above which a run's figures mean nothing. */
const MAX_BAD_SHARE = 0.001;

interface RunRecord {
  workload: string;
  target: Target;
  stats: LoadStats;
  valid: boolean;
  /** Each round's figures; `stats` holds their medians. */
  rounds: LoadStats[];
  auditBytesPerRequest?: number;
}

/** One figure per target from several rounds: medians of rates and percentiles, sums of counts. */
function combine(rounds: readonly LoadStats[]): LoadStats {
  if (rounds.length === 1 && rounds[0] !== undefined) return rounds[0];
  const statusCodes: Record<string, number> = {};
  for (const r of rounds) for (const [code, n] of Object.entries(r.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + n;
  const sum = (f: (r: LoadStats) => number) => rounds.reduce((acc, r) => acc + f(r), 0);
  const med = (f: (r: LoadStats) => number) => median(rounds.map(f));
  return {
    durationS: sum((r) => r.durationS),
    rps: med((r) => r.rps),
    latencyMs: {
      p50: med((r) => r.latencyMs.p50),
      p90: med((r) => r.latencyMs.p90),
      p99: med((r) => r.latencyMs.p99),
      mean: med((r) => r.latencyMs.mean),
      max: Math.max(...rounds.map((r) => r.latencyMs.max)),
    },
    requests: sum((r) => r.requests),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    statusCodes,
    bytesPerSecond: med((r) => r.bytesPerSecond),
  };
}

function listOption<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T[] {
  if (value === undefined) return [...allowed];
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const item of items) {
    if (!allowed.includes(item as T)) {
      console.error(`--${name}: unknown ${item}; expected some of ${allowed.join(',')}`);
      process.exit(1);
    }
  }
  return allowed.filter((a) => items.includes(a));
}

const ratio = (a: number, b: number): number | undefined => (b > 0 ? a / b : undefined);
const fmt = (n: number | undefined, digits = 2): string => (n === undefined ? '–' : n.toFixed(digits));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...ROUND_ARGS,
      only: { type: 'string' },
      workloads: { type: 'string' },
      config: { type: 'string' },
      scenario: { type: 'string' },
      'gateway-workers': { type: 'string' },
      'gateway-cmd': { type: 'string' }, // hidden: test the harness with another process in the gateway slot
      header: { type: 'string', multiple: true },
      strict: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
    },
  });
  const { durationS, warmupS, connections, rounds: roundCount } = roundOptions(values, { durationS: 20, warmupS: 3, rounds: 1 });
  const workers = values['gateway-workers'] === undefined ? undefined : positiveInt('gateway-workers', values['gateway-workers'], 1);
  const targets = listOption('only', values.only, TARGETS);
  const workloadKeys = listOption('workloads', values.workloads, ['get', 'post'] as const);
  const template = resolve(repoRoot, values.config ?? DEFAULT_SCENARIO_CONFIG);
  const scenario = values.scenario ?? scenarioFromConfig(template);
  const headers = parseHeaders(values.header);

  const runs = targets.length * workloadKeys.length * roundCount;
  installCleanup((runs * (durationS + warmupS) + 120) * 1000);

  if (values.pin !== 'auto' && values.pin !== 'off') {
    console.error('--pin must be auto or off');
    process.exit(1);
  }
  const cpus = values.pin === 'auto' ? pinCpus() : undefined;
  const env = environment();
  console.error(`bench: scenario ${scenario}, ${connections} connections, ${warmupS} s warm-up + ${durationS} s per run, ${runs} runs`);
  console.error(`bench: ${cpus === undefined ? 'no CPU pinning' : `CPUs: load generator ${cpus.bench}, upstream ${cpus.upstream}, target ${cpus.target}`}`);
  warnIfBusy();
  const upstream = await startScript('upstream', 'upstream.js', ['--port', '0'], cpus?.upstream);
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`;
  const urls: Partial<Record<Target, string>> = { direct: upstreamUrl };
  if (targets.includes('proxy')) {
    const proxy = await startScript('minimal-proxy', 'minimal-proxy.js', ['--port', '0', '--upstream', upstreamUrl], cpus?.target);
    urls.proxy = `http://127.0.0.1:${proxy.port}`;
  }
  let auditFile: string | undefined;
  if (targets.includes('gateway')) {
    const gw = await startGateway({ template, upstreamUrl, workers, gatewayCmd: values['gateway-cmd'], echo: values.verbose, cpus: cpus?.target });
    urls.gateway = `http://127.0.0.1:${gw.port}`;
    auditFile = gw.auditFile;
  }

  const records: RunRecord[] = [];
  for (const key of workloadKeys) {
    const workload = WORKLOADS[key] as Workload;
    const rounds = new Map<Target, LoadStats[]>(targets.map((t) => [t, []]));
    let auditBytes = 0;
    for (let r = 0; r < roundCount; r++) {
      // Rotate the order each round so slow drifts in machine load do not favour one target.
      const order = targets.map((_, i) => targets[(i + r) % targets.length] as Target);
      for (const target of order) {
        const url = urls[target] as string;
        const label = `  ${workload.name} → ${target}${roundCount > 1 ? ` (round ${r + 1}/${roundCount})` : ''}`;
        if (warmupS > 0) {
          console.error(`${label}: warm-up ${warmupS} s`);
          await runLoad({ url, workload, connections, durationS: warmupS, headers });
        }
        if (target === 'gateway' && auditFile !== undefined) takeFileBytes(auditFile);
        console.error(`${label}: measuring ${durationS} s`);
        rounds.get(target)?.push(await runLoad({ url, workload, connections, durationS, headers }));
        if (target === 'gateway' && auditFile !== undefined) auditBytes += takeFileBytes(auditFile);
      }
    }
    for (const target of targets) {
      const perRound = rounds.get(target) ?? [];
      const stats = combine(perRound);
      const bad = stats.non2xx + stats.errors;
      const valid = stats.requests > 0 && bad / Math.max(1, stats.requests + stats.errors) <= MAX_BAD_SHARE;
      const record: RunRecord = { workload: workload.name, target, stats, valid, rounds: perRound };
      if (target === 'gateway' && auditFile !== undefined) record.auditBytesPerRequest = round(auditBytes / Math.max(1, stats.requests), 1);
      if (!valid) {
        console.error(`  warning: ${target} answered ${stats.non2xx} non-2xx (${JSON.stringify(stats.statusCodes)}) and ${stats.errors} errors; its figures are not comparable`);
      }
      records.push(record);
    }
  }

  // Ratios and bars.
  const find = (w: string, t: Target) => records.find((r) => r.workload === w && r.target === t);
  const comparisons = workloadKeys.map((key) => {
    const w = (WORKLOADS[key] as Workload).name;
    const direct = find(w, 'direct');
    const proxy = find(w, 'proxy');
    const gateway = find(w, 'gateway');
    const vsDirect = (r: RunRecord | undefined) =>
      r === undefined || direct === undefined
        ? undefined
        : { throughput: ratio(r.stats.rps, direct.stats.rps), p99: ratio(r.stats.latencyMs.p99, direct.stats.latencyMs.p99) };
    const gwVsProxy =
      proxy !== undefined && gateway !== undefined
        ? { throughput: ratio(gateway.stats.rps, proxy.stats.rps), p99: ratio(gateway.stats.latencyMs.p99, proxy.stats.latencyMs.p99) }
        : undefined;
    const comparable = proxy?.valid === true && gateway?.valid === true;
    const bars =
      gwVsProxy === undefined
        ? undefined
        : {
            throughput: comparable && gwVsProxy.throughput !== undefined && gwVsProxy.throughput >= BARS.minThroughputRatio,
            p99: comparable && gwVsProxy.p99 !== undefined && gwVsProxy.p99 <= BARS.maxP99Ratio,
            comparable,
          };
    return { workload: w, proxyVsDirect: vsDirect(proxy), gatewayVsDirect: vsDirect(gateway), gatewayVsProxy: gwVsProxy, bars };
  });

  // Report.
  const out: string[] = [];
  const roundsNote = roundCount > 1 ? `, medians of ${roundCount} interleaved rounds` : '';
  out.push('', `### Load: scenario \`${scenario}\` (${connections} connections, ${durationS} s per run${roundsNote})`, '');
  out.push('| workload | target | req/s | p50 ms | p99 ms | req/s vs direct | p99 vs direct | non-2xx | errors |');
  out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of records) {
    const c = comparisons.find((x) => x.workload === r.workload);
    const vs = r.target === 'proxy' ? c?.proxyVsDirect : r.target === 'gateway' ? c?.gatewayVsDirect : { throughput: 1, p99: 1 };
    out.push(
      `| ${r.workload} | ${r.target} | ${Math.round(r.stats.rps)} | ${fmt(r.stats.latencyMs.p50)} | ${fmt(r.stats.latencyMs.p99)} | ` +
        `${fmt(vs?.throughput)} | ${fmt(vs?.p99)} | ${r.stats.non2xx} | ${r.stats.errors} |`,
    );
  }
  const withBars = comparisons.filter((c) => c.bars !== undefined);
  if (withBars.length > 0) {
    out.push('', `| workload | gateway/proxy req/s (bar ≥ ${BARS.minThroughputRatio}) | gateway/proxy p99 (bar ≤ ${BARS.maxP99Ratio}) |`, '|---|---:|---:|');
    for (const c of withBars) {
      const mark = (ok: boolean | undefined) => (c.bars?.comparable === false ? 'INVALID' : ok === true ? 'PASS' : 'FAIL');
      out.push(`| ${c.workload} | ${fmt(c.gatewayVsProxy?.throughput)} ${mark(c.bars?.throughput)} | ${fmt(c.gatewayVsProxy?.p99)} ${mark(c.bars?.p99)} |`);
    }
  }
  const audit = records.filter((r) => r.auditBytesPerRequest !== undefined);
  if (audit.length > 0) out.push('', `Gateway audit log: ${audit.map((r) => `${r.auditBytesPerRequest} bytes/request (${r.workload})`).join(', ')}.`);
  const allPass = withBars.every((c) => c.bars?.throughput === true && c.bars.p99);
  if (withBars.length > 0) out.push('', `Bars: ${allPass ? 'PASS' : 'FAIL'}`);
  console.log(out.join('\n'));

  const file = writeResult(`load-${scenario}`, {
    kind: 'load',
    scenario,
    config: relative(repoRoot, template),
    options: { durationS, warmupS, rounds: roundCount, connections, pipelining: 1, targets, workloads: workloadKeys, gatewayWorkers: workers ?? null, gatewayCmd: values['gateway-cmd'] ?? null },
    environment: { ...env, cpuPinning: cpus ?? null },
    bars: BARS,
    runs: records.map((r) => ({
      workload: r.workload,
      target: r.target,
      valid: r.valid,
      rps: round(r.stats.rps, 1),
      latencyMs: Object.fromEntries(Object.entries(r.stats.latencyMs).map(([k, v]) => [k, round(v, 3)])),
      requests: r.stats.requests,
      non2xx: r.stats.non2xx,
      errors: r.stats.errors,
      timeouts: r.stats.timeouts,
      statusCodes: r.stats.statusCodes,
      ...(r.auditBytesPerRequest !== undefined ? { auditBytesPerRequest: r.auditBytesPerRequest } : {}),
      ...(r.rounds.length > 1
        ? { rounds: r.rounds.map((x) => ({ rps: round(x.rps, 1), p50: round(x.latencyMs.p50, 3), p99: round(x.latencyMs.p99, 3), non2xx: x.non2xx, errors: x.errors })) }
        : {}),
    })),
    comparisons: comparisons.map((c) => JSON.parse(JSON.stringify(c, (_k, v: unknown) => (typeof v === 'number' ? round(v, 3) : v))) as unknown),
    pass: withBars.length > 0 ? allPass : null,
  });
  console.error(`\nbench: results written to ${relative(repoRoot, file)}`);
  await stopAll();
  process.exit(values.strict && !allPass ? 1 : 0);
}

main().catch(async (err: unknown) => {
  console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
