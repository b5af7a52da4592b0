/**
 * `npm run bench:ratelimit-exact`: how exact a limit is.
 *
 * 1. Several instances: two gateway processes (one worker each, each its own Redis
 *    connection) share one limit of `--instances-limit` (5000) through Redis; 200 concurrent
 *    connections spread over both send twice the limit; the allowed count should be the limit
 *    (the bar: within 1 %).
 * 2. Workers: with the memory store each worker enforces `limit / N`, so the gateway never lets
 *    more than the limit through, but a client whose requests land on one worker gets less.
 *    Measured: the requests allowed out of a window of `--limit` (200) for clients with 1, 2, 8
 *    and 50 keep-alive connections, memory store against Redis, with `workers: 2`.
 *
 * Options: --workers N (2) --limit L (200) --instances-limit L (5000) --redis URL (redis://127.0.0.1:6379)
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { installCleanup, makeTempDir, positiveInt, startGateway, startScript, stopAll, writeResult } from './lib.js';

async function allowed(url: string, connections: number, requests: number, tenant: string): Promise<number> {
  const pool = new Pool(url, { connections, pipelining: 1 });
  let ok = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < requests) {
        next++;
        const res = await pool.request({ method: 'GET', path: '/get', headers: { 'x-tenant': tenant } });
        await res.body.dump();
        if (res.statusCode === 200) ok++;
      }
    }),
  );
  await pool.close();
  return ok;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { workers: { type: 'string' }, limit: { type: 'string' }, 'instances-limit': { type: 'string' }, redis: { type: 'string', default: 'redis://127.0.0.1:6379' } },
  });
  const workers = positiveInt('workers', values.workers, 2);
  const limit = positiveInt('limit', values.limit, 200);
  const instancesLimit = positiveInt('instances-limit', values['instances-limit'], 5000);
  installCleanup(300_000);
  const dir = makeTempDir('portcullis-bench-rlw-');
  const upstream = await startScript('upstream', 'upstream.js', ['--port', '0']);
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`;
  const template = (name: string, store: string, w = workers, l = limit) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      `version: 1
workers: ${w}
listeners: [{ host: 127.0.0.1, port: 8081 }]
admin: { enabled: false }
threats: { enabled: false }
telemetry: { audit: { enabled: false } }
${store}
rateLimits:
  limits:
    quota: { key: ['header:x-tenant'], algorithm: fixed-window, limit: ${l}, window: 1d }
  apply: [quota]
upstreams:
  bench: { url: http://127.0.0.1:3000 }
routes:
  - { name: get, methods: [GET], path: /get, upstream: bench, public: true }
`,
    );
    return file;
  };
  const stores = {
    memory: 'store: { type: memory }',
    redis: `store: { type: redis, redis: { url: "${values.redis}", keyPrefix: "portcullis-bench-${randomBytes(4).toString('hex')}:", onUnavailable: fail-closed, commandTimeoutMs: 2000 } }`,
  };
  // 1. Two instances on one Redis.
  const shared = template('instances', stores.redis, 1, instancesLimit);
  const a = await startGateway({ template: shared, upstreamUrl, workers: 1 });
  const b = await startGateway({ template: shared, upstreamUrl, workers: 1 });
  const t0 = Date.now();
  const [onA, onB] = await Promise.all([
    allowed(`http://127.0.0.1:${a.port}`, 100, instancesLimit, 'two-instances'),
    allowed(`http://127.0.0.1:${b.port}`, 100, instancesLimit, 'two-instances'),
  ]);
  const seconds = (Date.now() - t0) / 1000;
  const both = onA + onB;
  a.child.proc.kill('SIGTERM');
  b.child.proc.kill('SIGTERM');
  const exact = [
    '',
    `### Two instances, one Redis: limit ${instancesLimit}, ${2 * instancesLimit} requests over 200 connections (100 per instance) in ${seconds.toFixed(1)} s`,
    '',
    '| instance | allowed |',
    '|---|---:|',
    `| a | ${onA} |`,
    `| b | ${onB} |`,
    `| both | ${both} (${(((both - instancesLimit) / instancesLimit) * 100).toFixed(2)} % off the limit) |`,
  ];
  console.log(exact.join('\n'));

  // 2. Workers.
  const rows: { store: string; connections: number; allowed: number }[] = [];
  for (const [name, store] of Object.entries(stores)) {
    const gw = await startGateway({ template: template(name, store), upstreamUrl, workers });
    const url = `http://127.0.0.1:${gw.port}`;
    for (const connections of [1, 2, 8, 50]) {
      // Each case its own tenant: a fresh window of `limit`. Twice the limit is sent.
      rows.push({ store: name, connections, allowed: await allowed(url, connections, 2 * limit, `${name}-${connections}`) });
    }
    gw.child.proc.kill('SIGTERM');
  }
  const out = ['', `### Limit of ${limit} per window, workers: ${workers}, ${2 * limit} requests per client`, '', '| store | client connections | allowed | allowed / limit |', '|---|---:|---:|---:|'];
  for (const r of rows) out.push(`| ${r.store} | ${r.connections} | ${r.allowed} | ${(r.allowed / limit).toFixed(2)} |`);
  console.log(out.join('\n'));
  writeResult('ratelimit-exact', { kind: 'ratelimit-exact', instances: { limit: instancesLimit, a: onA, b: onB, seconds }, workers, limit, rows });
  await stopAll();
  process.exit(0);
}

main().catch(async (err: unknown) => {
  console.error(`bench ratelimit-exact failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
