/**
 * `npm run bench:soak`: does the gateway's memory stay flat under sustained load?
 *
 * Starts the upstream and the gateway (same scenario template as the load bench), sends
 * mixed GET/POST traffic through the gateway for `--duration` seconds, and samples the
 * gateway's RSS (VmRSS of its process tree, from /proc) every 5 s.
 *
 * Reports RSS at 2 min, at the end, the max, and the slope over the last 3 minutes
 * (least squares, KiB/min). Verdict "no growth" when that slope is below 1 MiB/min and the
 * end RSS is at most 1.1 × the RSS at 2 min. Shorter runs scale both windows down and are
 * marked as such (a short soak proves little).
 *
 * Options: --duration S (300), --connections N (50), --config FILE, --gateway-workers N,
 *          --header 'n: v' (repeatable), --strict (exit 1 unless "no growth"), --verbose.
 */
import { parseArgs } from 'node:util';
import { relative, resolve } from 'node:path';
import {
  DEFAULT_SCENARIO_CONFIG,
  MIXED_WORKLOAD,
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
  slope,
  startGateway,
  startScript,
  stopAll,
  takeFileBytes,
  treeRssKiB,
  writeResult,
} from './lib.js';

const SAMPLE_EVERY_MS = 5000;
/** Verdict thresholds. */
export const SOAK_LIMITS = { maxSlopeKiBPerMin: 1024, maxEndOverReference: 1.1 } as const;

interface Sample {
  /** Seconds since the load started (negative: before). */
  t: number;
  rssKiB: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      connections: { type: 'string' },
      config: { type: 'string' },
      'gateway-workers': { type: 'string' },
      'gateway-cmd': { type: 'string' }, // hidden: test the harness with another process in the gateway slot
      header: { type: 'string', multiple: true },
      strict: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
    },
  });
  const durationS = positiveInt('duration', values.duration, 300);
  const connections = positiveInt('connections', values.connections, 50);
  const workers = values['gateway-workers'] === undefined ? undefined : positiveInt('gateway-workers', values['gateway-workers'], 1);
  const template = resolve(repoRoot, values.config ?? DEFAULT_SCENARIO_CONFIG);
  const scenario = scenarioFromConfig(template);
  installCleanup((durationS + 120) * 1000);

  // The standard windows are for a 5-minute soak; shorter runs use the same proportions.
  const full = durationS >= 300;
  const referenceS = full ? 120 : Math.round(durationS * 0.4);
  const windowS = full ? 180 : Math.round(durationS * 0.6);

  console.error(`soak: scenario ${scenario}, ${connections} connections, ${durationS} s, RSS every ${SAMPLE_EVERY_MS / 1000} s`);
  const cpus = pinCpus();
  warnIfBusy();
  const upstream = await startScript('upstream', 'upstream.js', ['--port', '0'], cpus?.upstream);
  const gw = await startGateway({
    template,
    upstreamUrl: `http://127.0.0.1:${upstream.port}`,
    workers,
    gatewayCmd: values['gateway-cmd'],
    echo: values.verbose,
    cpus: cpus?.target,
  });
  const pid = gw.child.pid;

  const samples: Sample[] = [];
  let auditBytes = 0;
  const start = Date.now();
  const sample = (): void => {
    const rss = treeRssKiB(pid);
    if (rss !== undefined) samples.push({ t: (Date.now() - start) / 1000, rssKiB: rss });
    auditBytes += takeFileBytes(gw.auditFile);
  };
  sample(); // idle, before any load
  const timer = setInterval(() => {
    sample();
    const last = samples[samples.length - 1];
    if (last !== undefined) console.error(`  t=${Math.round(last.t)} s  rss=${(last.rssKiB / 1024).toFixed(1)} MiB`);
  }, SAMPLE_EVERY_MS);

  const stats = await runLoad({ url: `http://127.0.0.1:${gw.port}`, workload: MIXED_WORKLOAD, connections, durationS, headers: parseHeaders(values.header) });
  clearInterval(timer);
  sample();
  if (gw.child.exited) throw new Error(gw.child.describeExit());

  const at = (t: number): Sample | undefined =>
    samples.reduce<Sample | undefined>((best, s) => (best === undefined || Math.abs(s.t - t) < Math.abs(best.t - t) ? s : best), undefined);
  const idle = samples[0];
  const reference = at(referenceS);
  const end = samples[samples.length - 1];
  const maxRss = Math.max(...samples.map((s) => s.rssKiB));
  const endT = end?.t ?? 0;
  const windowPoints = samples.filter((s) => s.t >= endT - windowS).map((s) => [s.t / 60, s.rssKiB] as const);
  const slopeKiBPerMin = slope(windowPoints);
  const endOverRef = reference !== undefined && end !== undefined ? end.rssKiB / reference.rssKiB : undefined;
  const noGrowth = slopeKiBPerMin < SOAK_LIMITS.maxSlopeKiBPerMin && endOverRef !== undefined && endOverRef <= SOAK_LIMITS.maxEndOverReference;
  const bad = stats.non2xx + stats.errors;
  const verdict = noGrowth ? 'no growth' : 'growth';

  const mib = (k: number | undefined) => (k === undefined ? '–' : (k / 1024).toFixed(1));
  console.log(
    [
      '',
      `### Soak: scenario \`${scenario}\`, ${durationS} s, ${connections} connections, mixed GET/POST through the gateway`,
      '',
      '| figure | value |',
      '|---|---:|',
      `| requests/s | ${Math.round(stats.rps)} |`,
      `| p50 / p99 latency (ms) | ${stats.latencyMs.p50.toFixed(2)} / ${stats.latencyMs.p99.toFixed(2)} |`,
      `| non-2xx / errors | ${stats.non2xx} / ${stats.errors} |`,
      `| RSS idle, before load (MiB) | ${mib(idle?.rssKiB)} |`,
      `| RSS at ${referenceS} s (MiB) | ${mib(reference?.rssKiB)} |`,
      `| RSS at end (MiB) | ${mib(end?.rssKiB)} |`,
      `| RSS max (MiB) | ${mib(maxRss)} |`,
      `| end / at ${referenceS} s | ${endOverRef === undefined ? '–' : endOverRef.toFixed(3)} (limit ${SOAK_LIMITS.maxEndOverReference}) |`,
      `| slope over the last ${windowS} s (KiB/min) | ${Math.round(slopeKiBPerMin)} (limit ${SOAK_LIMITS.maxSlopeKiBPerMin}) |`,
      `| audit log (bytes/request) | ${(auditBytes / Math.max(1, stats.requests)).toFixed(1)} |`,
      '',
      `Verdict: ${verdict}${full ? '' : ` (short run: windows scaled from 120 s / 180 s of a ${300} s soak)`}` +
        (bad > 0 ? `; warning: ${bad} non-2xx/errors ${JSON.stringify(stats.statusCodes)}` : ''),
    ].join('\n'),
  );

  const file = writeResult('soak', {
    kind: 'soak',
    scenario,
    config: relative(repoRoot, template),
    options: { durationS, connections, gatewayWorkers: workers ?? null, sampleEveryS: SAMPLE_EVERY_MS / 1000, gatewayCmd: values['gateway-cmd'] ?? null },
    environment: { ...environment(), cpuPinning: cpus ?? null },
    load: {
      rps: round(stats.rps, 1),
      latencyMs: { p50: round(stats.latencyMs.p50, 3), p99: round(stats.latencyMs.p99, 3) },
      requests: stats.requests,
      non2xx: stats.non2xx,
      errors: stats.errors,
      statusCodes: stats.statusCodes,
      auditBytesPerRequest: round(auditBytes / Math.max(1, stats.requests), 1),
    },
    rssKiB: {
      idle: idle?.rssKiB ?? null,
      reference: { atS: referenceS, value: reference?.rssKiB ?? null },
      end: end?.rssKiB ?? null,
      max: maxRss,
    },
    slopeKiBPerMin: { windowS, value: round(slopeKiBPerMin, 1) },
    endOverReference: endOverRef === undefined ? null : round(endOverRef, 3),
    limits: SOAK_LIMITS,
    fullLength: full,
    verdict,
    samples: samples.map((s) => ({ t: round(s.t, 1), rssKiB: s.rssKiB })),
  });
  console.error(`\nsoak: results written to ${relative(repoRoot, file)}`);
  await stopAll();
  process.exit(values.strict && !noGrowth ? 1 : 0);
}

main().catch(async (err: unknown) => {
  console.error(`soak failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
