/**
 * `npm run bench:abuse`: the cost of the ip-rules stage with a 100k-entry list and of the bots
 * stage, two ways.
 *
 * 1. In process (little noise on a shared machine): the time of one IP lookup (parse + binary
 *    search) in a 100k-entry set next to a linear scan of the same ranges, the time to build
 *    the set, one bot score, and one clearance check.
 * 2. Under load, as ratios to passthrough in the same gateway (pattern of bench/authn.ts): one
 *    gateway (one worker, audit on) with one route per scenario, told apart by Host:
 *      passthrough   public route, no stage
 *      ip-rules-100k public route, a 100k-entry deny list file (the client is not on it)
 *      bots          public route, bots on (browser headers: score 0, the request passes)
 *    Each scenario is compared with the passthrough route carrying the same headers.
 *
 * Options: --duration S (10) --warmup S (2) --rounds N (3) --connections N (50) --pin auto|off
 *          --micro-only
 */
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { BotSignals, ChallengeService, IpSet, parseCidr, parseIp, type IpRange } from '../src/abuse/index.js';
import type { BotsConfig } from '../src/config/types.js';
import type { RequestContext } from '../src/pipeline/types.js';
import {
  GET_WORKLOAD,
  environment,
  installCleanup,
  interleavedRounds,
  makeTempDir,
  median,
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

const SCENARIOS = ['passthrough', 'ip-rules-100k', 'bots'] as const;
type Scenario = (typeof SCENARIOS)[number];
const BROWSER: Record<string, string> = {
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  accept: 'application/json',
  'accept-language': 'en-GB,en;q=0.9',
  'accept-encoding': 'gzip, deflate, br',
};

/** Deterministic pseudo-random 32-bit numbers. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

const dotted = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

/** 100k entries: 90k IPv4 (/24 to /32) and 10k IPv6 /48s, as a list file would hold them. */
function bigList(): string[] {
  const r = rng(2024);
  const out: string[] = [];
  for (let i = 0; i < 90_000; i++) {
    const bits = 24 + (r() % 9);
    out.push(`${dotted(r() & (0xffffffff << (32 - bits)))}/${bits}`);
  }
  for (let i = 0; i < 10_000; i++) out.push(`2001:${(r() & 0xffff).toString(16)}:${(r() & 0xffff).toString(16)}::/48`);
  return out;
}

function nsPer(n: number, fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / n;
}

function micro(): Record<string, number> {
  const entries = bigList();
  const ranges = entries.map((e) => parseCidr(e) as IpRange);
  const tBuild = process.hrtime.bigint();
  const set = new IpSet('bench', ranges);
  const buildMs = Number(process.hrtime.bigint() - tBuild) / 1e6;
  const r = rng(7);
  const probes = Array.from({ length: 4096 }, () => dotted(r()));
  const w = new Uint32Array(4);
  let sink = 0;
  const N = 1_000_000;
  const lookup: number[] = [];
  const scan: number[] = [];
  // The linear scan a naive implementation does, over the same IPv4 ranges in typed arrays.
  const v4 = ranges.filter((x): x is Extract<IpRange, { family: 4 }> => x.family === 4);
  const starts = Uint32Array.from(v4.map((x) => x.start));
  const ends = Uint32Array.from(v4.map((x) => x.end));
  for (let round = 0; round < 5; round++) {
    lookup.push(
      nsPer(N, () => {
        for (let i = 0; i < N; i++) {
          parseIp(probes[i & 4095]!, w);
          if (set.has4(w[0]!)) sink++;
        }
      }),
    );
    const M = 2000;
    scan.push(
      nsPer(M, () => {
        for (let i = 0; i < M; i++) {
          parseIp(probes[i & 4095]!, w);
          const a = w[0]!;
          for (let k = 0; k < starts.length; k++) if (a >= starts[k]! && a <= ends[k]!) {
            sink++;
            break;
          }
        }
      }),
    );
  }
  const cfg: BotsConfig = {
    enabled: true,
    challengeAt: 4,
    denyAt: 10,
    scores: { missingUserAgent: 5, scriptedUserAgent: 4, headerAnomaly: 3, impossibleRate: 6 },
    rate: { requests: 1_000_000_000, windowSeconds: 10, maxClients: 100_000 },
    scriptedUserAgents: [],
    challenge: { difficulty: 16, secret: undefined, ttlSeconds: 120, clearanceSeconds: 1800, ipv4Prefix: 24, ipv6Prefix: 64, replayGuardEntries: 100_000 },
  };
  const bots = new BotSignals(cfg);
  const ctxs = Array.from({ length: 256 }, (_, i) => ({ headers: BROWSER, client: { ip: `198.51.100.${i}`, httpVersion: '1.1' } }) as unknown as RequestContext);
  const botNs: number[] = [];
  for (let round = 0; round < 5; round++) {
    botNs.push(
      nsPer(N, () => {
        for (let i = 0; i < N; i++) sink += bots.score(ctxs[i & 255]!, 1000).score;
      }),
    );
  }
  const svc = new ChallengeService(cfg.challenge, Buffer.alloc(32, 1), true);
  const c = { headers: { ...BROWSER }, client: { ip: '198.51.100.7' } } as unknown as RequestContext;
  const p = svc.issue(c);
  let solution = 0;
  const redeem = () => svc.redeem(c, p.token, String(solution));
  let rr = redeem();
  while (!rr.ok) {
    solution++;
    rr = redeem();
  }
  (c.headers as Record<string, string>).cookie = `portcullis_clearance=${rr.cookie}`;
  const verifyNs = median(Array.from({ length: 5 }, () => nsPer(100_000, () => {
    for (let i = 0; i < 100_000; i++) if (svc.verify(c)) sink++;
  })));
  if (sink === -1) console.log('');
  return {
    entries: entries.length,
    mergedRanges: set.ranges,
    buildMs: round(buildMs, 1),
    lookupNs: round(median(lookup), 1),
    linearScanNs: round(median(scan), 0),
    botScoreNs: round(median(botNs), 1),
    clearanceCheckNs: round(verifyNs, 0),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...ROUND_ARGS,
      'micro-only': { type: 'boolean', default: false },
    },
  });
  const { durationS, warmupS, rounds, connections } = roundOptions(values);

  console.error('bench abuse: in-process figures (medians of 5 rounds)');
  const m = micro();
  const out = [
    '',
    '### IP rules and bot signals, in process (medians of 5 rounds)',
    '',
    '| what | figure |',
    '|---|---:|',
    `| deny list: entries / merged ranges | ${m.entries} / ${m.mergedRanges} |`,
    `| building the set at config load | ${m.buildMs} ms |`,
    `| one lookup: parse the client IP + binary search (ns) | ${m.lookupNs} |`,
    `| the same with a linear scan of the ranges (ns) | ${m.linearScanNs} |`,
    `| one bot score: UA list, header checks, rate counter (ns) | ${m.botScoreNs} |`,
    `| one clearance check: cookie parse + HMAC-SHA256 (ns) | ${m.clearanceCheckNs} |`,
  ];
  console.log(out.join('\n'));
  if (values['micro-only']) {
    const file = writeResult('abuse', { kind: 'abuse', micro: m, environment: environment() });
    console.error(`bench abuse: results written to ${relative(repoRoot, file)}`);
    return;
  }

  const plan: { name: string; scenario: Scenario; twin: boolean }[] = [];
  for (const s of SCENARIOS) {
    plan.push({ name: s, scenario: s, twin: false });
    if (s !== 'passthrough') plan.push({ name: `${s}@passthrough`, scenario: s, twin: true });
  }
  installCleanup((plan.length * rounds * (durationS + warmupS) + 120) * 1000);
  const cpus = values.pin === 'off' ? undefined : pinCpus();
  warnIfBusy();

  const dir = makeTempDir('portcullis-bench-abuse-');
  writeFileSync(join(dir, 'deny-100k.txt'), '# 100k entries\n' + bigList().join('\n') + '\n');
  const template = join(dir, 'portcullis.abuse.yaml');
  const route = (name: Scenario, extra: string) => `  - { name: ${name}, methods: [GET], path: /get, hosts: [${name}.bench], upstream: bench, public: true${extra} }`;
  writeFileSync(
    template,
    `version: 1
workers: 1
listeners: [{ host: 127.0.0.1, port: 8081 }]
admin: { enabled: false }
threats: { enabled: false }
telemetry: { audit: { enabled: true, destination: stdout } }
bots:
  enabled: true
  rate: { requests: 1000000, windowSeconds: 1 }
upstreams:
  bench: { url: http://127.0.0.1:3000, connections: 128 }
routes:
${route('passthrough', ', stages: { bots: { mode: off } }')}
${route('ip-rules-100k', `, ipRules: { deny: { files: [${join(dir, 'deny-100k.txt')}] } }, stages: { bots: { mode: off } }`)}
${route('bots', '')}
`,
  );
  const upstream = await startScript('upstream', 'upstream.js', ['--port', '0'], cpus?.upstream);
  const gw = await startGateway({ template, upstreamUrl: `http://127.0.0.1:${upstream.port}`, cpus: cpus?.target });
  console.error(`bench abuse: ${plan.length} runs × ${rounds} rounds, ${warmupS} s warm-up + ${durationS} s each, ${connections} connections`);
  const runHeaders = (run: (typeof plan)[number]) => ({ ...BROWSER, host: `${run.twin ? 'passthrough' : run.scenario}.bench` });
  const results = await interleavedRounds({
    url: `http://127.0.0.1:${gw.port}`,
    workload: GET_WORKLOAD,
    connections,
    durationS,
    warmupS,
    rounds,
    runs: plan.map((run) => ({ name: run.name, headers: runHeaders(run) })),
  });
  const rps = (name: string) => median(results.get(name)!.map((x) => x.rps));
  const p99 = (name: string) => median(results.get(name)!.map((x) => x.latencyMs.p99));
  const load = ['', `### Under load (${connections} connections, ${durationS} s per run, medians of ${rounds} interleaved rounds)`, ''];
  load.push('| scenario | req/s | p99 ms | passthrough, same headers: req/s | req/s ratio | p99 ratio | µs added per request |', '|---|---:|---:|---:|---:|---:|---:|');
  for (const s of SCENARIOS) {
    if (s === 'passthrough') {
      load.push(`| passthrough | ${Math.round(rps(s))} | ${p99(s).toFixed(2)} | – | – | – | – |`);
      continue;
    }
    const twin = `${s}@passthrough`;
    load.push(
      `| ${s} | ${Math.round(rps(s))} | ${p99(s).toFixed(2)} | ${Math.round(rps(twin))} | ${(rps(s) / rps(twin)).toFixed(2)} | ${(p99(s) / p99(twin)).toFixed(2)} | ${((1 / rps(s) - 1 / rps(twin)) * 1e6).toFixed(1)} |`,
    );
  }
  console.log(load.join('\n'));
  const file = writeResult('abuse', {
    kind: 'abuse',
    micro: m,
    options: { durationS, warmupS, rounds, connections },
    environment: { ...environment(), cpuPinning: cpus ?? null },
    runs: plan.map((run) => ({
      name: run.name,
      rps: round(rps(run.name), 1),
      p99Ms: round(p99(run.name), 3),
      rounds: results.get(run.name)!.map((x) => ({ rps: round(x.rps, 1), p99: round(x.latencyMs.p99, 3), non2xx: x.non2xx })),
    })),
  });
  console.error(`bench abuse: results written to ${relative(repoRoot, file)}`);
  await stopAll();
  process.exit(0);
}

main().catch(async (err: unknown) => {
  console.error(`bench abuse failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
