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
import { median, positiveInt, POST_BODY } from './lib.js';

const benchHeaders = { host: 'threats.local', 'content-type': 'application/json', 'content-length': '400', 'user-agent': 'autocannon', 'x-request-id': 'abc' };

const browserHeaders = {
  host: 'shop.example.com',
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  accept: 'application/json, text/plain, */*',
  'accept-language': 'en-GB,en;q=0.9,fr;q=0.8',
  referer: 'https://shop.example.com/catalog?page=2',
  cookie: 'session=3q2+7wAAAAFZ9xQ; theme=dark',
  'x-request-id': '0f3c2a9e-5b8d-4c1e-9a7f-2d6b8e1c4a90',
};

const PROSE_BODY = JSON.stringify({
  title: 'Great kettle, slow delivery',
  rating: 4,
  author: { name: "Brendan O'Brien", city: 'Cork' },
  body:
    'The kettle boils quickly and the handle stays cool. Delivery took 9 days (not 3 as promised), ' +
    'and the box was dented - but the kettle itself was fine. Would I buy it again? Probably: ' +
    "it's quiet, it's 1.7 l, and it switches off on its own. See https://example.com/review/123 for photos.",
  tags: ['kitchen', 'electric', 'value-for-money'],
  verified: true,
});

const FORM_BODY =
  'name=Ada+Lovelace&email=ada%40example.com&subject=Order+question&message=Hello%2C+my+order+ord-7f3a9c21+' +
  'has+not+arrived+yet.+Could+you+check%3F+Thanks%21&newsletter=on';

export const MICRO_REQUESTS: Record<string, RawRequest> = {
  'POST json (bench body)': { method: 'POST', rawPath: '/post', rawQuery: '', headers: benchHeaders, body: Buffer.from(POST_BODY) },
  'POST json prose': {
    method: 'POST',
    rawPath: '/api/products/4711/reviews',
    rawQuery: '',
    headers: { ...browserHeaders, 'content-type': 'application/json', 'content-length': String(PROSE_BODY.length) },
    body: Buffer.from(PROSE_BODY),
  },
  'POST form': {
    method: 'POST',
    rawPath: '/contact',
    rawQuery: '',
    headers: { ...browserHeaders, 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(FORM_BODY.length) },
    body: Buffer.from(FORM_BODY),
  },
  'GET 5 query params': {
    method: 'GET',
    rawPath: '/api/v2/products',
    rawQuery: 'category=garden-tools&sort=price_asc&page=3&per_page=25&q=cordless+hedge+trimmer',
    headers: browserHeaders,
    body: undefined,
  },
  'GET bare (bench head)': { method: 'GET', rawPath: '/get', rawQuery: '', headers: { host: 'threats.local', 'user-agent': 'autocannon' }, body: undefined },
};

function main(): void {
  const { values } = parseArgs({ options: { n: { type: 'string' }, rounds: { type: 'string' }, only: { type: 'string' } } });
  const n = positiveInt('n', values.n, 20000);
  const rounds = positiveInt('rounds', values.rounds, 7);
  const only = values.only?.split(',');
  const engine = new ThreatEngine({ detectors: DETECTORS });
  const bare = new ThreatEngine({ detectors: [] });
  const cases: { name: string; engine: ThreatEngine; req: RawRequest }[] = [];
  for (const [name, req] of Object.entries(MICRO_REQUESTS)) {
    if (only !== undefined && !only.includes(name)) continue;
    cases.push({ name, engine, req });
  }
  if (only === undefined) cases.push({ name: 'POST json (bench body), no detector', engine: bare, req: MICRO_REQUESTS['POST json (bench body)']! });
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
