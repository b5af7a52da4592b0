/**
 * `npm run bench:threats-micro`: CPU time of ThreatEngine.inspect per request, in process, on
 * ordinary requests (no attack): the ~400-byte JSON POST of the load benches (bench/lib.ts
 * POST_BODY) with its head, a JSON body with prose fields, a form body, a GET with five query
 * parameters and browser headers, and a bare GET; requests that carry an `x-request-id` get a
 * new one each call. Also the engine without its memory of clean header values (every header
 * value inspected, as for a client never seen before), and with no detector (extraction and
 * decoding only), for the same POST.
 *
 * Each request is timed in `--rounds` rounds of `--n` calls, rounds interleaved across the
 * requests (so that drift of a shared machine spreads over all of them); the median round is
 * reported in CPU µs per call (process.cpuUsage, so time other processes take is not counted).
 *
 * `--baseline DIR` also times the engine of another build (DIR is its `dist`, e.g. a checkout
 * of an earlier commit after `npm run build`) on the same requests, in the same rounds, and
 * reports the ratio: the before/after figure of a change, measured in one process.
 *
 * Options: --n N (20000) --rounds N (7) --only NAME[,NAME] --baseline DIR
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DETECTORS, ThreatEngine } from '../src/threats/index.js';
import type { RawRequest } from '../src/threats/types.js';
import { median, positiveInt } from './lib.js';
import { ORDINARY_REQUESTS } from './ordinary-requests.js';

/** A request with an `x-request-id` header comes in 1024 copies with distinct ids, as in real traffic (ids never repeat). */
function variants(req: RawRequest): RawRequest[] {
  if (req.headers['x-request-id'] === undefined || req.headers['x-request-id'] === 'abc') return [req];
  const out: RawRequest[] = [];
  for (let i = 0; i < 1024; i++) {
    const id = randomUUID();
    out.push({ ...req, headers: { ...req.headers, 'x-request-id': id } });
  }
  return out;
}

/** What the bench needs of an engine, from this build or another one. */
interface Engine {
  inspect(req: RawRequest): { readonly block: boolean };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { n: { type: 'string' }, rounds: { type: 'string' }, only: { type: 'string' }, baseline: { type: 'string' } } });
  const n = positiveInt('n', values.n, 20000);
  const rounds = positiveInt('rounds', values.rounds, 7);
  const only = values.only?.split(',');
  const engine = new ThreatEngine({ detectors: DETECTORS });
  const cold = new ThreatEngine({ detectors: DETECTORS, headerMemory: 0 });
  const bare = new ThreatEngine({ detectors: [] });
  let baseline: Engine | undefined;
  if (values.baseline !== undefined) {
    const mod = (await import(pathToFileURL(resolve(values.baseline, 'src', 'threats', 'index.js')).href)) as {
      ThreatEngine: new (o: { detectors: unknown }) => Engine;
      DETECTORS: unknown;
    };
    baseline = new mod.ThreatEngine({ detectors: mod.DETECTORS });
  }
  const cases: { name: string; engine: Engine; reqs: RawRequest[]; baseOf?: number }[] = [];
  for (const [name, req] of Object.entries(ORDINARY_REQUESTS)) {
    if (only !== undefined && !only.includes(name)) continue;
    const reqs = variants(req);
    cases.push({ name, engine, reqs });
    if (baseline !== undefined) cases.push({ name: `${name}, baseline`, engine: baseline, reqs, baseOf: cases.length - 1 });
  }
  if (only === undefined) {
    const post = ORDINARY_REQUESTS['POST json (bench body)']!;
    cases.push({ name: 'POST json (bench body), no header memory', engine: cold, reqs: [post] });
    cases.push({ name: 'GET 5 query params, no header memory', engine: cold, reqs: variants(ORDINARY_REQUESTS['GET 5 query params']!) });
    cases.push({ name: 'POST json (bench body), no detector', engine: bare, reqs: [post] });
  }
  const us: number[][] = cases.map(() => []);
  // Warm-up: every path compiled before timing.
  for (const c of cases) for (let i = 0; i < n; i++) c.engine.inspect(c.reqs[i % c.reqs.length]!);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(k + r) % cases.length]!;
      const idx = (k + r) % cases.length;
      const t0 = process.cpuUsage();
      let blocked = 0;
      const reqs = c.reqs;
      for (let i = 0; i < n; i++) if (c.engine.inspect(reqs[i % reqs.length]!).block) blocked++;
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
  if (baseline !== undefined) {
    console.log(`\n| request | baseline µs | this build µs | ratio | speed-up |\n|---|---:|---:|---:|---:|`);
    cases.forEach((c, i) => {
      if (c.baseOf === undefined) return;
      const before = median(us[i]!);
      const after = median(us[c.baseOf]!);
      console.log(`| ${cases[c.baseOf]!.name} | ${before.toFixed(2)} | ${after.toFixed(2)} | ${(after / before).toFixed(3)} | ×${(before / after).toFixed(1)} |`);
    });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
