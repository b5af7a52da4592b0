/**
 * `npm run bench:threats-micro`: CPU time of ThreatEngine.inspect per request, in process, on
 * ordinary requests (no attack): the ~400-byte JSON POST of the load benches (bench/lib.ts
 * POST_BODY) with its head, a JSON body with prose fields, a form body, a GET with five query
 * parameters and browser headers, and a bare GET. Also the engine with no detector (extraction
 * and decoding only), for the same POST.
 *
 * Each request is timed in `--rounds` rounds of `--n` calls, rounds interleaved across the
 * requests (so that drift of a shared machine spreads over all of them); the median round is
 * reported in CPU µs per call (process.cpuUsage, so time other processes take is not counted).
 *
 * Options: --n N (20000) --rounds N (7) --only NAME[,NAME]
 */
import { parseArgs } from 'node:util';
import { DETECTORS, ThreatEngine } from '../src/threats/index.js';
import type { RawRequest } from '../src/threats/types.js';
import { median, positiveInt } from './lib.js';
import { ORDINARY_REQUESTS } from './ordinary-requests.js';

function main(): void {
  const { values } = parseArgs({ options: { n: { type: 'string' }, rounds: { type: 'string' }, only: { type: 'string' } } });
  const n = positiveInt('n', values.n, 20000);
  const rounds = positiveInt('rounds', values.rounds, 7);
  const only = values.only?.split(',');
  const engine = new ThreatEngine({ detectors: DETECTORS });
  const bare = new ThreatEngine({ detectors: [] });
  const cases: { name: string; engine: ThreatEngine; req: RawRequest }[] = [];
  for (const [name, req] of Object.entries(ORDINARY_REQUESTS)) {
    if (only !== undefined && !only.includes(name)) continue;
    cases.push({ name, engine, req });
  }
  if (only === undefined) cases.push({ name: 'POST json (bench body), no detector', engine: bare, req: ORDINARY_REQUESTS['POST json (bench body)']! });
  const us: number[][] = cases.map(() => []);
  // Warm-up: every path compiled before timing.
  for (const c of cases) for (let i = 0; i < n; i++) c.engine.inspect(c.req);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(k + r) % cases.length]!;
      const idx = (k + r) % cases.length;
      const t0 = process.cpuUsage();
      let blocked = 0;
      for (let i = 0; i < n; i++) if (c.engine.inspect(c.req).block) blocked++;
      const t = process.cpuUsage(t0);
      if (blocked !== 0) throw new Error(`${c.name}: refused (${blocked}); the micro bench measures ordinary requests`);
      us[idx]!.push((t.user + t.system) / n);
    }
  }
  console.log(`\n### ThreatEngine.inspect, CPU µs per call (median of ${rounds} interleaved rounds of ${n}), Node.js ${process.version}\n`);
  console.log('| request | µs / call | min | max |\n|---|---:|---:|---:|');
  cases.forEach((c, i) => {
    const v = us[i]!;
    console.log(`| ${c.name} | ${median(v).toFixed(2)} | ${Math.min(...v).toFixed(2)} | ${Math.max(...v).toFixed(2)} |`);
  });
}

main();
