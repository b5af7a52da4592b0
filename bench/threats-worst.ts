/**
 * `npm run bench:threats-worst`: the worst per-request inspection time the threat engine can be
 * made to spend, on adversarial bodies of `--bytes` (default: the default budget, 256 KiB) built
 * from runs of the characters and tokens the detectors react to, as a text body and as one JSON
 * string; next to ordinary bodies of the same size. Best of `--repeat` calls each (the engine is
 * warm). The engine runs in this process; no gateway.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_THREAT_LIMITS, DETECTORS, ThreatEngine } from '../src/threats/index.js';
import type { RawRequest } from '../src/threats/types.js';
import { positiveInt, repoRoot } from './lib.js';

const PATTERNS = [
  "'", "'(", '"', '`', '<a ', '<svg/onload=', '<!--', '${', '{{', '((((', '[[', '../', '%25', '&#', '\\u', '\\x41',
  'a=1&', ';id', '$(', '|', '0x', ' or ', 'select ', 'http://127.0.0.1/', '__proto__[', '*)(', "' or '1'='1",
];

function request(contentType: string, body: string): RawRequest {
  return { method: 'POST', rawPath: '/x', rawQuery: '', headers: { 'content-type': contentType }, body: Buffer.from(body) };
}

function main(): void {
  const { values } = parseArgs({ options: { bytes: { type: 'string' }, repeat: { type: 'string' }, paranoia: { type: 'string' } } });
  const bytes = positiveInt('bytes', values.bytes, DEFAULT_THREAT_LIMITS.maxBytes - 64);
  const repeat = positiveInt('repeat', values.repeat, 3);
  const paranoia = positiveInt('paranoia', values.paranoia, 1) as 1 | 2 | 3 | 4;
  const engine = new ThreatEngine({ detectors: DETECTORS, paranoia, limits: { ...DEFAULT_THREAT_LIMITS, maxBytes: Math.max(bytes + 64, DEFAULT_THREAT_LIMITS.maxBytes) } });
  const time = (req: RawRequest): { ms: number; refused: boolean } => {
    let best = Infinity;
    let refused = false;
    for (let i = 0; i < repeat; i++) {
      const t0 = process.hrtime.bigint();
      refused = engine.inspect(req).block;
      best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return { ms: best, refused };
  };
  const rows: { what: string; ms: number; refused: boolean }[] = [];
  for (const p of PATTERNS) {
    const s = p.repeat(Math.ceil(bytes / p.length)).slice(0, bytes);
    rows.push({ what: `text of ${JSON.stringify(p)}`, ...time(request('text/plain', s)) });
    rows.push({ what: `JSON string of ${JSON.stringify(p)}`, ...time(request('application/json', JSON.stringify({ a: s }))) });
  }
  rows.sort((a, b) => b.ms - a.ms);
  // Ordinary bodies of the same size.
  const order = { orderId: 'ord-7f3a9c21', customer: { id: 'c-100234', name: 'Ada Lovelace', email: 'ada@example.com' }, items: [{ sku: 'SKU-0001', qty: 2, price: 19.99 }], notes: 'Leave at the front desk, fragile.' };
  const orders: unknown[] = [];
  while (JSON.stringify(orders).length < bytes - 200) orders.push(order);
  let prose = '';
  const doc = readFileSync(join(repoRoot, 'docs', 'contract.md'), 'utf8');
  while (prose.length < bytes) prose += doc;
  const ordinary = [
    { what: 'JSON array of orders', ...time(request('application/json', JSON.stringify(orders))) },
    { what: 'markdown prose as one JSON string', ...time(request('application/json', JSON.stringify({ doc: prose.slice(0, bytes - 64) }))) },
  ];
  console.log(`\n### Worst-case inspection time, ${Math.round(bytes / 1024)} KiB bodies, paranoia ${paranoia}, best of ${repeat}\n`);
  console.log('| body | ms | refused |\n|---|---:|:---:|');
  for (const r of rows.slice(0, 8)) console.log(`| ${r.what.replace(/\|/g, '\\|')} | ${r.ms.toFixed(1)} | ${r.refused ? 'yes' : 'no'} |`);
  for (const r of ordinary) console.log(`| ${r.what} (ordinary) | ${r.ms.toFixed(1)} | ${r.refused ? 'yes' : 'no'} |`);
  console.log(`\nWorst: ${rows[0]!.ms.toFixed(1)} ms (${rows[0]!.what}); ${(rows[0]!.ms / (bytes / 1024)).toFixed(2)} ms per KiB.`);
}

main();
