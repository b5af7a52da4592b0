/**
 * Shared machinery of the benchmarks: child processes that always die with the bench,
 * readiness checks, the gateway config generated from a scenario template, an autocannon
 * wrapper with microsecond latency percentiles, RSS sampling and result files.
 *
 * Everything is on loopback and bounded in time: each wait has a timeout and the bench
 * process kills its children on exit, error, SIGINT and SIGTERM. The upstream and the
 * minimal proxy also exit when the bench dies without cleaning up (their stdin closes).
 */
import { spawn, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

// ---------------------------------------------------------------------------------------------
// Paths

/** Directory of the compiled bench scripts (dist/bench), where sibling scripts are spawned from. */
export const benchDir = dirname(fileURLToPath(import.meta.url));

/**
 * The repository root: the nearest ancestor holding Portcullis' package.json and the bench
 * sources (a build may copy package.json into dist/), else the cwd.
 */
export const repoRoot = ((): string => {
  for (let dir = benchDir; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && existsSync(join(dir, 'bench', 'portcullis.bench.yaml'))) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'portcullis') return dir;
      } catch {
        // unreadable package.json: keep looking
      }
    }
    if (dirname(dir) === dir) return process.cwd();
  }
})();

/** True when the module at `moduleUrl` is the process entry point. */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/** For spawned helpers: exit when the parent's end of stdin closes (the bench died, even by SIGKILL). */
export function installStdinLifeline(): void {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

// ---------------------------------------------------------------------------------------------
// Child processes

const OUTPUT_TAIL_BYTES = 16 * 1024;

/** A child process owned by the bench, with the tail of its output kept for error messages. */
export class ManagedChild {
  readonly proc: ChildProcess;
  private tail = '';
  private readonly exitPromise: Promise<void>;

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    options: { cwd?: string; echo?: boolean; cpus?: string } = {},
  ) {
    // taskset execs the command, so the pid (for RSS sampling) stays the command's own.
    const [cmd, argv] = options.cpus !== undefined ? ['taskset', ['-c', options.cpus, command, ...args]] : [command, args];
    this.proc = spawn(cmd, argv, { cwd: options.cwd ?? repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(this);
    // Always drain stdout/stderr: a child blocked on a full pipe would distort the figures.
    const collect = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      this.tail = (this.tail + text).slice(-OUTPUT_TAIL_BYTES);
      if (options.echo === true) process.stderr.write(`[${name}] ${text}`);
    };
    this.proc.stdout?.on('data', collect);
    this.proc.stderr?.on('data', collect);
    this.proc.stdin?.on('error', () => undefined);
    this.exitPromise = new Promise((done) => {
      this.proc.once('exit', () => done());
      this.proc.once('error', (err) => {
        this.tail += `\n(spawn failed: ${err.message})`;
        done();
      });
    });
    void this.exitPromise.then(() => children.delete(this));
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get exited(): boolean {
    return this.proc.exitCode !== null || this.proc.signalCode !== null || this.proc.pid === undefined;
  }

  /** The last few KiB of the child's stdout and stderr. */
  output(): string {
    return this.tail;
  }

  /** Describes how the child ended, with its output, for an error message. */
  describeExit(): string {
    const how = this.proc.signalCode !== null ? `signal ${this.proc.signalCode}` : `exit code ${this.proc.exitCode}`;
    return `${this.name} stopped (${how}). Its last output:\n${this.tail.trim() || '(none)'}`;
  }

  /** Resolves with the port from the first `listening <port>` line on stdout. */
  waitForListening(timeoutMs: number): Promise<number> {
    return new Promise((ok, fail) => {
      let seen = '';
      const timer = setTimeout(() => finish(new Error(`${this.name} did not print "listening <port>" within ${timeoutMs} ms`)), timeoutMs);
      const onData = (chunk: Buffer): void => {
        seen += chunk.toString('utf8');
        const m = /^listening (\d+)$/m.exec(seen);
        if (m?.[1] !== undefined) finish(undefined, Number(m[1]));
      };
      const onExit = (): void => finish(new Error(this.describeExit()));
      const finish = (err: Error | undefined, port?: number): void => {
        clearTimeout(timer);
        this.proc.stdout?.off('data', onData);
        this.proc.off('exit', onExit);
        if (err !== undefined) fail(err);
        else ok(port ?? 0);
      };
      this.proc.stdout?.on('data', onData);
      this.proc.once('exit', onExit);
    });
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exited) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }
}

const children = new Set<ManagedChild>();
const tempDirs = new Set<string>();

/** Stops every child still running and removes temp dirs. */
export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => c.stop()));
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

let cleanupInstalled = false;

/**
 * Makes sure no child outlives the bench: on SIGINT/SIGTERM, on an uncaught error, and at exit
 * (SIGKILL, the only thing possible synchronously). Also a watchdog: after `maxRunMs` the
 * bench gives up, whatever is hanging.
 */
export function installCleanup(maxRunMs: number): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  const bail = (code: number, message?: string) => {
    if (message !== undefined) console.error(message);
    void stopAll().finally(() => process.exit(code));
    // If stopping itself hangs, leave anyway (the exit hook SIGKILLs what is left).
    setTimeout(() => process.exit(code), 8000).unref();
  };
  process.once('SIGINT', () => bail(130, '\ninterrupted; stopping children'));
  process.once('SIGTERM', () => bail(143));
  process.on('uncaughtException', (err) => bail(1, `bench failed: ${err.stack ?? String(err)}`));
  process.on('unhandledRejection', (err) => bail(1, `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
  process.on('exit', () => {
    for (const c of children) if (!c.exited) c.proc.kill('SIGKILL');
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
  setTimeout(() => bail(1, `bench watchdog: still running after ${Math.round(maxRunMs / 1000)} s; giving up`), maxRunMs).unref();
}

/** A temp dir removed when the bench ends. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** Starts one of the compiled sibling scripts (upstream.js, minimal-proxy.js) and waits for its port. */
export async function startScript(
  name: string,
  script: string,
  args: readonly string[],
  cpus?: string,
  timeoutMs = 15_000,
): Promise<{ child: ManagedChild; port: number }> {
  const child = new ManagedChild(name, process.execPath, [join(benchDir, script), ...args, '--stdin-lifeline'], { cpus });
  const port = await child.waitForListening(timeoutMs);
  return { child, port };
}

/** A free TCP port on 127.0.0.1 (bind to 0, read, close; a tiny race we accept on loopback). */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = net.createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => ok(port));
    });
  });
}

/** Polls `url` until any HTTP answer arrives; fails if `child` exits or after `timeoutMs`. */
export async function waitForHttp(url: string, child: ManagedChild, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exited) throw new Error(child.describeExit());
    try {
      const res = await request(url, { headersTimeout: 2000, bodyTimeout: 2000 });
      await res.body.dump();
      return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${child.name} did not answer ${url} within ${timeoutMs} ms. Its last output:\n${child.output().trim() || '(none)'}`);
    await sleep(100);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---------------------------------------------------------------------------------------------
// CPU placement

/** Which CPUs the load generator (this process), the upstream and the measured target run on. */
export interface CpuPlan {
  readonly bench: string;
  readonly upstream: string;
  readonly target: string;
}

/**
 * Pins processes to CPUs so the figures do not depend on where the scheduler happens to put
 * three busy processes. The load generator gets CPU 0 to itself; on 2 CPUs the upstream and
 * the measured target share CPU 1 (the same for direct, proxy and gateway, so ratios stay
 * fair); with 4 or more, the upstream gets CPU 1 and the target the rest. Undefined (no
 * pinning) on 1 CPU, without `taskset`, or when pinning this process fails.
 */
export function pinCpus(): CpuPlan | undefined {
  const n = os.cpus().length;
  if (n < 2) return undefined;
  const plan: CpuPlan =
    n === 2 ? { bench: '0', upstream: '1', target: '1' } : n === 3 ? { bench: '0', upstream: '1', target: '2' } : { bench: '0', upstream: '1', target: `2-${n - 1}` };
  try {
    // -a: every thread of this process, autocannon's included.
    execFileSync('taskset', ['-a', '-cp', plan.bench, String(process.pid)], { stdio: 'ignore' });
    return plan;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Gateway

/** Where the scenario template names its upstream; the bench points it at the real port. */
export const BENCH_UPSTREAM_NAME = 'bench';

/** The default scenario: a passthrough route, audit on. */
export const DEFAULT_SCENARIO_CONFIG = 'bench/portcullis.bench.yaml';

export interface GatewayConfigOptions {
  /** The scenario template (YAML). */
  readonly template: string;
  readonly port: number;
  readonly upstreamUrl: string;
  readonly auditFile: string;
  readonly workers?: number;
}

/**
 * Turns a scenario template into a runnable config: listener on 127.0.0.1:<port>, admin off,
 * audit to `auditFile`, `upstreams.bench.url` set, relative spec paths made absolute.
 */
export function renderGatewayConfig(o: GatewayConfigOptions): string {
  const doc = parseYaml(readFileSync(o.template, 'utf8')) as Record<string, unknown> | null;
  if (doc === null || typeof doc !== 'object') throw new Error(`${o.template}: not a YAML mapping`);
  const upstreams = doc.upstreams as Record<string, Record<string, unknown>> | undefined;
  const named = upstreams?.[BENCH_UPSTREAM_NAME];
  if (named === undefined) throw new Error(`${o.template}: the scenario must define upstreams.${BENCH_UPSTREAM_NAME} (its url is replaced by the bench)`);
  named.url = o.upstreamUrl;
  doc.listeners = [{ name: 'bench', host: '127.0.0.1', port: o.port }];
  doc.admin = { enabled: false };
  if (o.workers !== undefined) doc.workers = o.workers;
  const telemetry = (doc.telemetry ??= {}) as Record<string, unknown>;
  const audit = (telemetry.audit ??= {}) as Record<string, unknown>;
  audit.destination = o.auditFile;
  const templateDir = dirname(resolve(o.template));
  for (const api of (doc.apis as Array<Record<string, unknown>> | undefined) ?? []) {
    if (typeof api.spec === 'string' && !isAbsolute(api.spec)) api.spec = resolve(templateDir, api.spec);
  }
  return `# Generated by the bench from ${o.template}\n${stringifyYaml(doc)}`;
}

export interface StartedGateway {
  readonly child: ManagedChild;
  readonly port: number;
  readonly configFile: string;
  readonly auditFile: string;
}

/**
 * Starts the gateway as `node dist/src/cli/main.js run -c <generated config>` (or `gatewayCmd`,
 * a hidden override whose `{port}`, `{upstream}` and `{config}` are substituted) and waits until
 * it answers HTTP.
 */
export async function startGateway(o: {
  template: string;
  upstreamUrl: string;
  workers?: number;
  gatewayCmd?: string;
  echo?: boolean;
  cpus?: string;
}): Promise<StartedGateway> {
  const dir = makeTempDir('portcullis-bench-');
  const port = await freePort();
  const configFile = join(dir, 'portcullis.yaml');
  const auditFile = join(dir, 'audit.log');
  writeFileSync(configFile, renderGatewayConfig({ template: o.template, port, upstreamUrl: o.upstreamUrl, auditFile, workers: o.workers }));
  let command = process.execPath;
  let args = [join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'run', '-c', configFile];
  if (o.gatewayCmd !== undefined) {
    const words = o.gatewayCmd
      .replaceAll('{port}', String(port))
      .replaceAll('{upstream}', o.upstreamUrl)
      .replaceAll('{config}', configFile)
      .split(/\s+/)
      .filter((w) => w !== '');
    command = words[0] === 'node' || words[0] === undefined ? process.execPath : words[0];
    args = words.slice(1);
  } else if (!existsSync(args[0] ?? '')) {
    throw new Error(`${args[0]} not found: build first (npm run build)`);
  }
  const child = new ManagedChild('gateway', command, args, { echo: o.echo, cpus: o.cpus });
  await waitForHttp(`http://127.0.0.1:${port}/`, child, 20_000);
  return { child, port, configFile, auditFile };
}

// ---------------------------------------------------------------------------------------------
// Load generation (autocannon)

interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
}

interface AutocannonOptions extends AutocannonRequest {
  url: string;
  connections: number;
  pipelining: number;
  duration: number;
  timeout?: number;
  requests?: AutocannonRequest[];
}

/** The parts of autocannon's result this bench reads. */
interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  resets: number;
  '2xx': number;
  statusCodeStats: Record<string, { count: number }>;
  requests: { average: number; total: number; sent: number };
  latency: { p50: number; p99: number; average: number; max: number };
  throughput: { average: number };
}

type Tracker = EventEmitter & { stop(): void };
type Autocannon = (opts: AutocannonOptions, cb: (err: Error | null, result: AutocannonResult) => void) => Tracker;

let autocannonFn: Autocannon | undefined;
/** autocannon is CommonJS without bundled types; loaded on first use so helpers that import lib stay light. */
function autocannon(opts: AutocannonOptions, cb: (err: Error | null, result: AutocannonResult) => void): Tracker {
  autocannonFn ??= createRequire(import.meta.url)('autocannon') as Autocannon;
  return autocannonFn(opts, cb);
}

/** A request mix to send. */
export interface Workload {
  readonly name: string;
  readonly requests: readonly AutocannonRequest[];
}

/** A ~400-byte JSON body, the kind an API receives. */
export const POST_BODY = JSON.stringify({
  orderId: 'ord-7f3a9c21',
  customer: { id: 'c-100234', name: 'Ada Lovelace', email: 'ada@example.com', tier: 'gold' },
  items: [
    { sku: 'SKU-0001', qty: 2, price: 19.99 },
    { sku: 'SKU-0042', qty: 1, price: 249.0 },
    { sku: 'SKU-0777', qty: 5, price: 3.5 },
  ],
  shipping: { street: '12 Analytical Engine Way', city: 'London', postcode: 'NW1 6XE', country: 'GB' },
  notes: 'Leave at the front desk, fragile.',
});

export const GET_WORKLOAD: Workload = { name: 'GET /get', requests: [{ method: 'GET', path: '/get' }] };
export const POST_WORKLOAD: Workload = {
  name: 'POST /post',
  requests: [{ method: 'POST', path: '/post', headers: { 'content-type': 'application/json' }, body: POST_BODY }],
};
export const MIXED_WORKLOAD: Workload = { name: 'mixed GET/POST', requests: [...GET_WORKLOAD.requests, ...POST_WORKLOAD.requests] };

/** Latency histogram at 1 µs resolution up to 100 ms; slower answers kept individually. */
class LatencyHistogram {
  private readonly buckets = new Uint32Array(100_000);
  private readonly slow: number[] = [];
  count = 0;
  private sum = 0;
  max = 0;

  record(ms: number): void {
    const us = Math.round(ms * 1000);
    if (us < this.buckets.length) this.buckets[us] = (this.buckets[us] ?? 0) + 1;
    else this.slow.push(us);
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /** The `q` quantile (0..1) in milliseconds. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let us = 0; us < this.buckets.length; us++) {
      seen += this.buckets[us] ?? 0;
      if (seen >= rank) return us / 1000;
    }
    this.slow.sort((a, b) => a - b);
    return (this.slow[rank - seen - 1] ?? this.slow[this.slow.length - 1] ?? 0) / 1000;
  }
}

/** What one measured run produced. */
export interface LoadStats {
  readonly durationS: number;
  /** Completed 2xx responses per second over the run. */
  readonly rps: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly mean: number; readonly max: number };
  readonly requests: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly statusCodes: Record<string, number>;
  readonly bytesPerSecond: number;
}

/**
 * Runs autocannon in this process against `url` and returns throughput and latency of the
 * 2xx answers. Latency percentiles are computed here at 1 µs resolution (autocannon's own are
 * whole milliseconds, too coarse to compare p99s of a few ms).
 */
export function runLoad(o: {
  url: string;
  workload: Workload;
  connections: number;
  durationS: number;
  headers?: Record<string, string>;
}): Promise<LoadStats> {
  const hist = new LatencyHistogram();
  const requests = o.workload.requests.map((r) => ({ ...r, headers: { ...r.headers, ...o.headers } }));
  return new Promise((ok, fail) => {
    const tracker = autocannon({ url: o.url, connections: o.connections, pipelining: 1, duration: o.durationS, timeout: 10, requests }, (err, result) => {
      if (err !== null) {
        fail(err);
        return;
      }
      const statusCodes: Record<string, number> = {};
      for (const [code, { count }] of Object.entries(result.statusCodeStats)) statusCodes[code] = count;
      ok({
        durationS: result.duration,
        rps: result['2xx'] / result.duration,
        latencyMs: { p50: hist.quantile(0.5), p90: hist.quantile(0.9), p99: hist.quantile(0.99), mean: hist.mean(), max: hist.max },
        requests: result.requests.total,
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        statusCodes,
        bytesPerSecond: result.throughput.average,
      });
    });
    tracker.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode >= 200 && statusCode < 300) hist.record(responseTime);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Memory

/** VmRSS of one process in KiB, or undefined when it is gone. */
export function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] !== undefined ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Sum of VmRSS of `pid` and all its descendants (a gateway with workers is several processes). */
export function treeRssKiB(pid: number): number | undefined {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/<pid>/stat is the parent pid; the command name (field 2) may hold spaces.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // process ended while we looked
    }
  }
  const own = rssKiB(pid);
  if (own === undefined) return undefined;
  let total = own;
  const inTree = new Set([pid]);
  // Descendants: repeat until no new child is found (process trees here are shallow).
  for (let grew = true; grew; ) {
    grew = false;
    for (const [child, parent] of parentOf) {
      if (!inTree.has(child) && inTree.has(parent)) {
        inTree.add(child);
        total += rssKiB(child) ?? 0;
        grew = true;
      }
    }
  }
  return total;
}

/** Least-squares slope of y over x. */
export function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

// ---------------------------------------------------------------------------------------------
// Options and results

/** Parses a positive integer option, or exits with a one-line message. */
export function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer, got ${value}`);
    process.exit(1);
  }
  return n;
}

/** The command-line options of every load bench's rounds (spread into parseArgs' options). */
export const ROUND_ARGS = {
  duration: { type: 'string' },
  warmup: { type: 'string' },
  rounds: { type: 'string' },
  connections: { type: 'string' },
  pin: { type: 'string', default: 'auto' },
} as const;

export interface RoundOptions {
  readonly durationS: number;
  readonly warmupS: number;
  readonly rounds: number;
  readonly connections: number;
}

/** Reads ROUND_ARGS (`--warmup 0` turns the warm-up off); exits with a message on a bad value. */
export function roundOptions(values: { duration?: string; warmup?: string; rounds?: string; connections?: string }, defaults = { durationS: 10, warmupS: 2, rounds: 3 }): RoundOptions {
  return {
    durationS: positiveInt('duration', values.duration, defaults.durationS),
    warmupS: values.warmup === '0' ? 0 : positiveInt('warmup', values.warmup, defaults.warmupS),
    rounds: positiveInt('rounds', values.rounds, defaults.rounds),
    connections: positiveInt('connections', values.connections, 50),
  };
}

/** Parses repeated `--header 'name: value'` options. */
export function parseHeaders(values: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of values ?? []) {
    const i = h.indexOf(':');
    if (i < 1) {
      console.error(`--header must look like 'name: value', got ${h}`);
      process.exit(1);
    }
    out[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  return out;
}

/** Scenario name from a config path: `bench/portcullis.jwt.yaml` → `jwt`. */
export function scenarioFromConfig(configPath: string): string {
  const base = basename(configPath).replace(/\.(ya?ml|json)$/, '').replace(/^portcullis\./, '');
  return base === 'bench' || base === 'portcullis' ? 'passthrough' : base;
}

/** Facts about the machine and the code, stored with each result so figures can be compared. */
export function environment(): Record<string, unknown> {
  let commit: string | undefined;
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    commit = undefined;
  }
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    commit,
  };
}

/**
 * Warns when the machine is already busy: other processes take CPU from the measured ones
 * and the figures (ratios included) become noise.
 */
export function warnIfBusy(): void {
  const load = os.loadavg()[0] ?? 0;
  const cpus = os.cpus().length;
  if (load > 0.25 * cpus) {
    console.error(`bench: warning: 1-minute load average is ${load.toFixed(2)} on ${cpus} CPUs before starting; figures will be noisy`);
  }
}

/** Writes `bench/results/<name>.json` and returns its path. */
export function writeResult(name: string, data: unknown): string {
  const dir = join(repoRoot, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

/** Returns how many bytes `file` holds and empties it (keeps a busy audit log from filling the disk). */
export function takeFileBytes(file: string): number {
  try {
    const size = statSync(file).size;
    truncateSync(file, 0);
    return size;
  } catch {
    return 0;
  }
}

/** Rounds for display and JSON. */
export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

// ---------------------------------------------------------------------------------------------
// Rounds

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * The median over rounds of `a[r] / b[r]`: each round's figure against the other scenario's
 * figure of the same round. On a machine whose speed drifts (shared cores, CPU steal), rounds
 * minutes apart differ by more than the cost being measured; a ratio within a round does not
 * carry that drift, and its median over rounds is steadier than the ratio of the two medians.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  const ratios: number[] = [];
  for (let r = 0; r < n; r++) if ((b[r] ?? 0) > 0) ratios.push((a[r] ?? 0) / b[r]!);
  return median(ratios);
}

/**
 * Runs every named load `rounds` times, interleaved, rotating the order each round so slow
 * drifts in machine load favour none of them; each run after its own warm-up.
 */
export async function interleavedRounds(o: {
  url: string;
  workload: Workload;
  connections: number;
  durationS: number;
  warmupS: number;
  rounds: number;
  runs: readonly { readonly name: string; readonly headers: Record<string, string> }[];
  /** Wraps each measured run (not the warm-up), e.g. to sample the target's CPU time around it. */
  around?: (name: string, run: () => Promise<LoadStats>) => Promise<LoadStats>;
}): Promise<Map<string, LoadStats[]>> {
  const results = new Map<string, LoadStats[]>(o.runs.map((r) => [r.name, []]));
  for (let r = 0; r < o.rounds; r++) {
    const order = o.runs.map((_, i) => o.runs[(i + r) % o.runs.length]!);
    for (const run of order) {
      if (o.warmupS > 0) await runLoad({ url: o.url, workload: o.workload, connections: o.connections, durationS: o.warmupS, headers: run.headers });
      console.error(`  ${run.name} (round ${r + 1}/${o.rounds})`);
      const measured = (): Promise<LoadStats> => runLoad({ url: o.url, workload: o.workload, connections: o.connections, durationS: o.durationS, headers: run.headers });
      const stats = await (o.around === undefined ? measured() : o.around(run.name, measured));
      if (stats.non2xx > 0 || stats.errors > 0) console.error(`  warning: ${run.name}: ${stats.non2xx} non-2xx ${JSON.stringify(stats.statusCodes)}, ${stats.errors} errors`);
      results.get(run.name)!.push(stats);
    }
  }
  return results;
}
