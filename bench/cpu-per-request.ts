/**
 * `node dist/bench/cpu-per-request.js <baseRepo> <newRepo> [rounds] [seconds] [path]`: CPU time
 * per request of two builds of the gateway and of the minimal proxy (bench/minimal-proxy.ts, the
 * reference of the passthrough bar), measured on the same upstream, in interleaved rounds (order
 * rotated), from /proc/<pid>/stat (utime + stime) over an autocannon run of 50 connections. Each
 * repo must be built (`dist/src/cli/main.js`). `path` `/post` sends the ~400-byte JSON POST.
 *
 * On a shared, busy machine this is steadier than throughput: CPU time per request does not
 * depend on how much CPU the other processes leave. Passthrough route, audit on, defaults
 * otherwise (so the default load-shedding limit is active in builds that have one).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { POST_BODY, benchDir, freePort, median } from './lib.js';

type Result = { '2xx': number; non2xx: number; requests: { average: number } };
const autocannon = createRequire(import.meta.url)('autocannon') as (o: Record<string, unknown>, cb: (e: Error | null, r: Result) => void) => void;

const [baseRepo, newRepo, roundsArg, secondsArg, pathArg] = process.argv.slice(2);
if (baseRepo === undefined || newRepo === undefined) {
  console.error('usage: node dist/bench/cpu-per-request.js <baseRepo> <newRepo> [rounds=5] [seconds=5] [path=/get]');
  process.exit(2);
}
const rounds = Number(roundsArg ?? 5);
const seconds = Number(secondsArg ?? 5);
const path = pathArg ?? '/get';
const TICKS = 100; // CLK_TCK on Linux

const cpuSeconds = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / TICKS;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const children: ChildProcess[] = [];
const start = (args: string[]): ChildProcess => {
  const p = spawn(process.execPath, args, { stdio: ['pipe', 'ignore', 'inherit'] });
  children.push(p);
  return p;
};
process.on('exit', () => children.forEach((c) => c.kill('SIGTERM')));

const upPort = await freePort();
start([join(benchDir, 'upstream.js'), '--port', String(upPort)]);
const dir = mkdtempSync(join(tmpdir(), 'portcullis-cpr-'));
const targets = { base: resolve(baseRepo), new: resolve(newRepo) } as const;
const ports: Record<string, number> = {};
const pids: Record<string, number> = {};
{
  const port = await freePort();
  ports.proxy = port;
  pids.proxy = start([join(benchDir, 'minimal-proxy.js'), '--port', String(port), '--upstream', `http://127.0.0.1:${upPort}`]).pid!;
}
for (const [name, repo] of Object.entries(targets)) {
  const port = await freePort();
  ports[name] = port;
  writeFileSync(
    join(dir, `${name}.yaml`),
    `version: 1
listeners: [{ host: 127.0.0.1, port: ${port} }]
admin: { enabled: false }
telemetry: { audit: { enabled: true, destination: ${join(dir, `${name}-audit.log`)} }, logLevel: warn }
upstreams: { bench: { url: "http://127.0.0.1:${upPort}", connections: 128 } }
routes: [{ name: all, methods: [GET, POST], path: "/*", upstream: bench, public: true }]
`,
  );
  pids[name] = start([join(repo, 'dist/src/cli/main.js'), 'run', '-c', join(dir, `${name}.yaml`)]).pid!;
}
await sleep(3000);
const load = (port: number, duration: number) =>
  new Promise<Result>((res, rej) =>
    autocannon(
      {
        url: `http://127.0.0.1:${port}${path}`,
        connections: 50,
        duration,
        ...(path === '/post' ? { method: 'POST', body: POST_BODY, headers: { 'content-type': 'application/json' } } : {}),
      },
      (e, r) => (e ? rej(e) : res(r)),
    ),
  );
const names = ['base', 'new', 'proxy'];
for (const name of names) await load(ports[name]!, 2);
const us: Record<string, number[]> = { base: [], new: [], proxy: [] };
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < names.length; i++) {
    const name = names[(i + r) % names.length]!;
    const c0 = cpuSeconds(pids[name]!);
    const res = await load(ports[name]!, seconds);
    const c1 = cpuSeconds(pids[name]!);
    if (res.non2xx > 0) console.error(`warning: ${name}: ${res.non2xx} non-2xx`);
    us[name]!.push(((c1 - c0) / res['2xx']) * 1e6);
  }
}
for (const name of names) console.log(`${name}: CPU µs/request ${us[name]!.map((x) => x.toFixed(1)).join(' ')}; median ${median(us[name]!).toFixed(1)}`);
console.log(`new / base: ${(median(us.new!) / median(us.base!)).toFixed(3)}`);
console.log(`base / proxy: ${(median(us.base!) / median(us.proxy!)).toFixed(3)}; new / proxy: ${(median(us.new!) / median(us.proxy!)).toFixed(3)}`);
process.exit(0);
