/**
 * Detection benchmark: replays the public corpora (`../shared/corpora`, see its README.md) and
 * reports how many attacks the gateway refuses and how many legitimate requests it lets through,
 * against the bars of the README.
 *
 * Usage (after `npm run build`, from the repository root):
 *
 *   node dist/bench/detection.js                         # HTTP mode, all corpora, paranoia 1
 *   node dist/bench/detection.js --corpora crs --limit 500
 *   node dist/bench/detection.js --offline               # engine only, no HTTP (fast iteration)
 *   node dist/bench/detection.js --json out.json --misses misses.txt
 *
 * Options:
 *   --corpora LIST     crs,httpparams,csic (default: all three)
 *   --paranoia N       1–4 (default 1), written as `threats: { paranoia: N }` / given to the engine
 *   --offline          call ThreatEngine.inspect in this process instead of replaying over HTTP
 *   --limit N          at most N requests per corpus, evenly spaced over the file (every category
 *                      keeps its share); bars are then marked "sample"
 *   --json FILE        write options, environment, every figure and the bars as JSON
 *   --misses FILE      write the missed attacks, the false positives and the refused near misses
 *                      (id, category, request line, body excerpt, refusal code and findings)
 *   --strict           exit 1 when a bar fails
 *   --corpora-dir DIR  default <repo>/../shared/corpora
 *   --concurrency N    sockets in flight in HTTP mode (default 8)
 *   --timeout MS       per-request timeout in HTTP mode (default 10000)
 *   --no-threats-key   HTTP mode: leave `threats` out of the config (the gateway's defaults apply)
 *   --threats-off      HTTP mode: `threats: { enabled: false }`, the baseline of what the gateway
 *                      refuses without detection (protocol checks, path normalization, routing)
 *   --gateway-cmd CMD  run another gateway command (`{config}`, `{port}`, `{upstream}` substituted)
 *   --verbose          echo the gateway's output
 *
 * HTTP mode (what BENCHMARKS.md reports): an echo upstream in this process (any method and path:
 * 200, a small JSON body, header `x-bench-upstream: echo`), a gateway started as the other benches
 * do (bench/lib.ts startGateway) from a config a new user would write: one explicit public route
 * `/*` for every method, forwarding to the upstream, and `threats: { paranoia: N }`. Each request is
 * written byte for byte on its own TCP connection (CRS stages exactly as go-ftw sends them, so
 * malformed ones reach the gateway as they are), `--concurrency` at a time. A request is *passed*
 * when the upstream's answer came back (200 with the echo header), *refused* otherwise: the gateway
 * answered itself (its problem+json `code` recorded, else `http-<status>`), closed the connection
 * without an answer (`(closed)`), or did not answer within the timeout (`(timeout)`). Detection
 * time comes from the audit log (`stages.threats`, microseconds, head and body stages added) when
 * the events carry it; the client's round-trip latency is reported as well.
 *
 * Offline mode: `ThreatEngine` from src/threats/engine.js (with the detectors of
 * src/threats/detectors/index.js when that module exists), `inspect()` per request, refused =
 * `verdict.block`; per-call time by process.hrtime.bigint. No gateway: protocol refusals,
 * routing and the contract do not apply, so figures differ from HTTP mode's.
 */
import { createReadStream, existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { environment, installCleanup, makeTempDir, positiveInt, repoRoot, round, startGateway, stopAll } from './lib.js';
import type { StartedGateway } from './lib.js';
import { loadCrs, loadCsic, loadHttpParams, serializeRequest, toRawRequest } from './corpora.js';
import type { CorpusRequest } from './corpora.js';
import type { Paranoia, RawRequest, ThreatVerdict } from '../src/threats/types.js';

type CorpusName = CorpusRequest['corpus'];
const ALL_CORPORA: readonly CorpusName[] = ['crs', 'httpparams', 'csic'];
/** CRS families whose request-side attack stages make the main bar. */
const CRS_BAR_FAMILIES: ReadonlySet<string> = new Set(['930', '931', '932', '933', '934', '941', '942', '944']);
const ECHO_HEADER = 'x-bench-upstream';

/** What happened to one request. */
interface Result {
  readonly req: CorpusRequest;
  readonly refused: boolean;
  /** problem `code`, `http-<status>`, `(closed)`, `(timeout)`, `(connect)` (HTTP) or `block` (offline). */
  readonly code?: string;
  readonly status?: number;
  readonly requestId?: string;
  /** Client round trip (HTTP) or engine call (offline), milliseconds. */
  readonly latencyMs: number;
  /** Threat stage time in µs: audit `stages.threats` (HTTP) or the engine call (offline). */
  detectUs?: number;
  /** Detector/location summary of the findings, when known. */
  findings?: string;
}

interface Options {
  corpora: CorpusName[];
  paranoia: Paranoia;
  offline: boolean;
  limit?: number;
  json?: string;
  misses?: string;
  strict: boolean;
  corporaDir: string;
  concurrency: number;
  timeoutMs: number;
  threatsKey: 'paranoia' | 'absent' | 'off';
  gatewayCmd?: string;
  verbose: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      corpora: { type: 'string' },
      paranoia: { type: 'string' },
      offline: { type: 'boolean', default: false },
      limit: { type: 'string' },
      json: { type: 'string' },
      misses: { type: 'string' },
      strict: { type: 'boolean', default: false },
      'corpora-dir': { type: 'string' },
      concurrency: { type: 'string' },
      timeout: { type: 'string' },
      'no-threats-key': { type: 'boolean', default: false },
      'threats-off': { type: 'boolean', default: false },
      'gateway-cmd': { type: 'string' },
      verbose: { type: 'boolean', default: false },
    },
  });
  const corpora = (values.corpora ?? ALL_CORPORA.join(','))
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
  for (const c of corpora) {
    if (!(ALL_CORPORA as readonly string[]).includes(c)) fail(`--corpora: unknown corpus ${c} (expected ${ALL_CORPORA.join(', ')})`);
  }
  const paranoia = positiveInt('paranoia', values.paranoia, 1);
  if (paranoia > 4) fail('--paranoia must be 1, 2, 3 or 4');
  if (values['no-threats-key'] && values['threats-off']) fail('--no-threats-key and --threats-off exclude each other');
  return {
    corpora: [...new Set(corpora)] as CorpusName[],
    paranoia: paranoia as Paranoia,
    offline: values.offline,
    limit: values.limit === undefined ? undefined : positiveInt('limit', values.limit, 1),
    json: values.json,
    misses: values.misses,
    strict: values.strict,
    corporaDir: resolve(values['corpora-dir'] ?? join(repoRoot, '..', 'shared', 'corpora')),
    concurrency: positiveInt('concurrency', values.concurrency, 8),
    timeoutMs: positiveInt('timeout', values.timeout, 10_000),
    threatsKey: values['no-threats-key'] ? 'absent' : values['threats-off'] ? 'off' : 'paranoia',
    gatewayCmd: values['gateway-cmd'],
    verbose: values.verbose,
  };
}

function fail(message: string): never {
  console.error(`bench detection: ${message}`);
  process.exit(1);
}

// ---------------------------------------------------------------------------------------------
// Corpora

function loadCorpus(name: CorpusName, dir: string): CorpusRequest[] {
  const where = { crs: join(dir, 'coreruleset-tests'), httpparams: join(dir, 'httpparams', 'payload_train.csv'), csic: join(dir, 'csic2010', 'normalTrafficTraining.txt') }[name];
  if (!existsSync(where)) fail(`corpus ${name} not found at ${where} (--corpora-dir)`);
  if (name === 'crs') return loadCrs(where);
  if (name === 'httpparams') return loadHttpParams(where);
  return loadCsic(where);
}

/** At most `limit` requests, evenly spaced, so that every part of the file keeps its share. */
function sample<T>(items: readonly T[], limit: number | undefined): T[] {
  if (limit === undefined || items.length <= limit) return [...items];
  const out: T[] = [];
  for (let i = 0; i < limit; i++) out.push(items[Math.floor((i * items.length) / limit)]!);
  return out;
}

// ---------------------------------------------------------------------------------------------
// HTTP mode

const ECHO_BODY = Buffer.from('{"ok":true,"echo":"portcullis-bench"}');

/** The echo upstream: any method and path, drains the body, 200 + small JSON + the echo header. */
async function startEchoUpstream(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer({ requireHostHeader: false, insecureHTTPParser: true, maxHeaderSize: 1024 * 1024 }, (req, res) => {
    const answer = (): void => {
      if (res.headersSent) return;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(ECHO_BODY.length), [ECHO_HEADER]: 'echo' });
      res.end(ECHO_BODY);
    };
    req.on('error', answer);
    req.on('end', answer);
    req.resume();
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((ok, no) => {
    server.once('error', no);
    server.listen(0, '127.0.0.1', ok);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** The scenario a new user would write: one explicit public route for every path and method. */
function gatewayTemplate(o: Options): string {
  const threats =
    o.threatsKey === 'absent' ? '' : o.threatsKey === 'off' ? 'threats: { enabled: false }\n' : `threats: { paranoia: ${o.paranoia} }\n`;
  return `version: 1
workers: 1
listeners: [{ host: 127.0.0.1, port: 8081 }]
admin: { enabled: false }
telemetry: { audit: { enabled: true, destination: stdout } }
upstreams:
  bench: { url: http://127.0.0.1:3000 }
routes:
  - name: everything
    methods: [GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE]
    path: /*
    upstream: bench
    public: true
${threats}`;
}

interface WireAnswer {
  status?: number;
  headers?: Map<string, string>;
  body?: Buffer;
  /** '(closed)', '(timeout)', '(connect)' when no complete answer came. */
  failure?: string;
}

/**
 * Parses a response from `buf`: undefined until complete (1xx interim answers skipped;
 * Content-Length, chunked, or no body for HEAD/204/304). A response framed by the end of the
 * connection is only complete at close (`atClose`).
 */
function parseResponse(buf: Buffer, isHead: boolean, atClose: boolean): WireAnswer | undefined {
  let start = 0;
  for (;;) {
    const headEnd = buf.indexOf('\r\n\r\n', start, 'latin1');
    if (headEnd < 0) return undefined;
    const lines = buf.subarray(start, headEnd).toString('latin1').split('\r\n');
    const status = Number((lines[0] ?? '').split(' ')[1]);
    if (!Number.isInteger(status)) return undefined;
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    const bodyStart = headEnd + 4;
    if (status >= 100 && status < 200 && status !== 101) {
      start = bodyStart;
      continue;
    }
    const rest = buf.subarray(bodyStart);
    if (isHead || status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0) };
    if ((headers.get('transfer-encoding') ?? '').toLowerCase().includes('chunked')) {
      const body = dechunkComplete(rest);
      if (body !== undefined) return { status, headers, body };
      return atClose ? { status, headers, body: rest } : undefined;
    }
    const cl = headers.get('content-length');
    if (cl !== undefined) {
      const n = Number(cl);
      if (rest.length >= n) return { status, headers, body: rest.subarray(0, n) };
      return atClose ? { status, headers, body: rest } : undefined;
    }
    return atClose ? { status, headers, body: rest } : undefined;
  }
}

function dechunkComplete(buf: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', pos, 'latin1');
    if (lineEnd < 0) return undefined;
    const size = parseInt(buf.subarray(pos, lineEnd).toString('latin1').split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size) || size < 0) return undefined;
    pos = lineEnd + 2;
    if (size === 0) return Buffer.concat(parts);
    if (pos + size + 2 > buf.length) return undefined;
    parts.push(buf.subarray(pos, pos + size));
    pos += size + 2;
  }
}

/** Writes one request on a new connection and waits for one complete answer. */
function sendOne(port: number, bytes: Buffer, isHead: boolean, timeoutMs: number): Promise<WireAnswer> {
  return new Promise((done) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    let connected = false;
    const socket = net.connect({ host: '127.0.0.1', port });
    const finish = (answer: WireAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      done(answer);
    };
    const atEnd = (): void => {
      const all = Buffer.concat(chunks, size);
      finish(parseResponse(all, isHead, true) ?? { failure: connected ? '(closed)' : '(connect)' });
    };
    const timer = setTimeout(() => {
      const partial = parseResponse(Buffer.concat(chunks, size), isHead, true);
      finish(partial ?? { failure: '(timeout)' });
    }, timeoutMs);
    socket.setNoDelay(true);
    socket.on('connect', () => {
      connected = true;
      socket.write(bytes);
    });
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      const answer = parseResponse(Buffer.concat(chunks, size), isHead, false);
      if (answer !== undefined) finish(answer);
    });
    socket.on('error', atEnd);
    socket.on('close', atEnd);
  });
}

function classify(req: CorpusRequest, answer: WireAnswer, latencyMs: number): Result {
  if (answer.status === undefined) return { req, refused: true, code: answer.failure ?? '(closed)', latencyMs };
  const requestId = answer.headers?.get('x-request-id');
  if (answer.status === 200 && answer.headers?.has(ECHO_HEADER) === true) return { req, refused: false, status: 200, requestId, latencyMs };
  let code = `http-${answer.status}`;
  if ((answer.headers?.get('content-type') ?? '').includes('json') && answer.body !== undefined) {
    try {
      const problem = JSON.parse(answer.body.toString('utf8')) as { code?: unknown };
      if (typeof problem.code === 'string') code = problem.code;
    } catch {
      // not JSON after all: keep the status
    }
  }
  return { req, refused: true, code, status: answer.status, requestId, latencyMs };
}

async function replay(reqs: readonly CorpusRequest[], port: number, o: Options, gatewayAlive: () => boolean): Promise<Result[]> {
  const results: Result[] = new Array<Result>(reqs.length);
  let next = 0;
  let done = 0;
  const started = Date.now();
  const progress = setInterval(() => {
    const s = (Date.now() - started) / 1000;
    console.error(`  ${done}/${reqs.length} (${Math.round(done / s)} req/s)`);
  }, 10_000);
  const worker = async (): Promise<void> => {
    while (next < reqs.length) {
      const i = next++;
      const req = reqs[i]!;
      const t0 = process.hrtime.bigint();
      const answer = await sendOne(port, serializeRequest(req), req.method.toUpperCase() === 'HEAD', o.timeoutMs);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      results[i] = classify(req, answer, ms);
      done++;
      if (answer.failure === '(connect)' && !gatewayAlive()) throw new Error('the gateway exited during the run');
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(o.concurrency, reqs.length) }, worker));
  } finally {
    clearInterval(progress);
  }
  return results;
}

interface AuditFacts {
  threatsUs?: number;
  reason?: string;
}

/** requestId → threat-stage time and findings, from the audit log (JSON lines). */
async function readAudit(file: string, wanted: ReadonlySet<string>): Promise<{ facts: Map<string, AuditFacts>; events: number; withTimings: number }> {
  const facts = new Map<string, AuditFacts>();
  let events = 0;
  let withTimings = 0;
  if (!existsSync(file)) return { facts, events, withTimings };
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line === '') continue;
    let ev: { requestId?: unknown; stages?: Record<string, unknown>; reason?: unknown; code?: unknown; findings?: { stage?: unknown; reason?: unknown }[] };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      continue;
    }
    events++;
    if (typeof ev.requestId !== 'string' || !wanted.has(ev.requestId)) continue;
    const f: AuditFacts = {};
    const us = ev.stages?.threats;
    if (typeof us === 'number') {
      f.threatsUs = us;
      withTimings++;
    }
    const reasons = (ev.findings ?? []).filter((x) => x.stage === 'threats' && typeof x.reason === 'string').map((x) => String(x.reason));
    if (reasons.length > 0) f.reason = reasons.join(' | ');
    else if (typeof ev.reason === 'string') f.reason = ev.reason;
    facts.set(ev.requestId, f);
  }
  return { facts, events, withTimings };
}

async function runHttp(reqs: readonly CorpusRequest[], o: Options): Promise<{ results: Result[]; timingSource: string; notes: string[] }> {
  const notes: string[] = [];
  const upstream = await startEchoUpstream();
  const dir = makeTempDir('portcullis-bench-detection-');
  const template = join(dir, 'portcullis.detection.yaml');
  writeFileSync(template, gatewayTemplate(o));
  let gw: StartedGateway;
  try {
    gw = await startGateway({ template, upstreamUrl: `http://127.0.0.1:${upstream.port}`, gatewayCmd: o.gatewayCmd, echo: o.verbose });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const hint = o.threatsKey === 'paranoia' ? '\n(if the config is refused because of `threats`, this gateway predates threat detection: try --no-threats-key)' : '';
    throw new Error(`the gateway did not start: ${msg}${hint}`);
  }
  console.error(`bench detection: gateway on port ${gw.port}, upstream on ${upstream.port}; replaying ${reqs.length} requests, ${o.concurrency} at a time`);
  const child = gw.child;
  const started = Date.now();
  const results = await replay(reqs, gw.port, o, () => !child.exited);
  const seconds = (Date.now() - started) / 1000;
  notes.push(`replayed ${reqs.length} requests in ${seconds.toFixed(1)} s (${Math.round(reqs.length / seconds)} req/s, ${o.concurrency} connections)`);
  if (child.exited) throw new Error(`the gateway exited during the run.\n${child.describeExit()}`);
  // Stopping the gateway flushes its audit log.
  await child.stop();
  await upstream.close();
  const wanted = new Set<string>();
  for (const r of results) if (r.requestId !== undefined) wanted.add(r.requestId);
  const audit = await readAudit(gw.auditFile, wanted);
  for (const r of results) {
    const f = r.requestId === undefined ? undefined : audit.facts.get(r.requestId);
    if (f?.threatsUs !== undefined) r.detectUs = f.threatsUs;
    if (f?.reason !== undefined) r.findings = f.reason;
  }
  notes.push(`audit log: ${audit.events} events, ${audit.facts.size} matched by request id, ${audit.withTimings} with a \`threats\` stage timing`);
  const timingSource = audit.withTimings > 0 ? 'audit `stages.threats` (µs)' : 'none in the audit log (no `threats` stage ran): client round-trip latency instead';
  return { results, timingSource, notes };
}

// ---------------------------------------------------------------------------------------------
// Offline mode

interface EngineLike {
  inspect(req: RawRequest): ThreatVerdict;
}
type EngineCtor = new (options: { paranoia: Paranoia; detectors?: unknown }) => EngineLike;

async function runOffline(reqs: readonly CorpusRequest[], o: Options): Promise<{ results: Result[]; timingSource: string; notes: string[] }> {
  const engineUrl = pathToFileURL(join(import.meta.dirname, '..', 'src', 'threats', 'engine.js')).href;
  const detectorsUrl = pathToFileURL(join(import.meta.dirname, '..', 'src', 'threats', 'detectors', 'index.js')).href;
  let Engine: EngineCtor;
  try {
    Engine = ((await import(engineUrl)) as { ThreatEngine: EngineCtor }).ThreatEngine;
  } catch (err) {
    throw new Error(`cannot load the engine (${engineUrl}): ${err instanceof Error ? err.message : String(err)}`);
  }
  let detectors: unknown;
  try {
    detectors = ((await import(detectorsUrl)) as { DETECTORS?: unknown }).DETECTORS;
  } catch {
    detectors = undefined;
  }
  const engine = new Engine(detectors === undefined ? { paranoia: o.paranoia } : { paranoia: o.paranoia, detectors });
  const results: Result[] = [];
  for (const req of reqs) {
    const raw = toRawRequest(req);
    const t0 = process.hrtime.bigint();
    const verdict = engine.inspect(raw);
    const ns = Number(process.hrtime.bigint() - t0);
    const findings = verdict.findings.map((f) => `${f.detector}@${f.location}:${f.name}`).join(', ');
    const base = { req, latencyMs: ns / 1e6, detectUs: ns / 1e3 };
    const r: Result = verdict.block ? { ...base, refused: true, code: verdict.incomplete === 'budget' ? 'inspection_limit_exceeded' : 'attack_detected' } : { ...base, refused: false };
    if (findings !== '') r.findings = `score ${verdict.score}: ${findings}`;
    results.push(r);
  }
  return { results, timingSource: 'ThreatEngine.inspect per call (µs)', notes: [`engine: ${engineUrl}${detectors === undefined ? ' (no detectors module found)' : ''}`] };
}

// ---------------------------------------------------------------------------------------------
// Report

interface Group {
  corpus: CorpusName;
  category: string;
  requests: number;
  refused: number;
  attacks: number;
  attacksRefused: number;
  benign: number;
  benignRefused: number;
  nearMisses: number;
  nearMissesRefused: number;
  /** Detection times of the group's requests (µs), when known; summarized on output. */
  times: number[];
}

function newGroup(corpus: CorpusName, category: string): Group {
  return { corpus, category, requests: 0, refused: 0, attacks: 0, attacksRefused: 0, benign: 0, benignRefused: 0, nearMisses: 0, nearMissesRefused: 0, times: [] };
}

function add(g: Group, r: Result): void {
  g.requests++;
  if (r.detectUs !== undefined) g.times.push(r.detectUs);
  if (r.refused) g.refused++;
  if (r.req.attack) {
    g.attacks++;
    if (r.refused) g.attacksRefused++;
  } else if (r.req.nearMiss === true) {
    g.nearMisses++;
    if (r.refused) g.nearMissesRefused++;
  } else {
    g.benign++;
    if (r.refused) g.benignRefused++;
  }
}

interface Bar {
  name: string;
  refused: number;
  total: number;
  /** 'min%': refused % ≥ target; 'max%': refused % ≤ target; 'count': refused ≤ target. */
  kind: 'min%' | 'max%' | 'count';
  target: number;
  pass: boolean;
}

function pct(n: number, d: number): number {
  return d === 0 ? 0 : (100 * n) / d;
}

function fmtPct(n: number, d: number, digits = 1): string {
  return d === 0 ? '–' : `${pct(n, d).toFixed(digits)}%`;
}

function quantiles(values: number[]): { n: number; median: number; p99: number; max: number } {
  if (values.length === 0) return { n: 0, median: 0, p99: 0, max: 0 };
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
  return { n: s.length, median: at(0.5), p99: at(0.99), max: s[s.length - 1]! };
}

function bars(results: readonly Result[], corpora: readonly CorpusName[]): Bar[] {
  const out: Bar[] = [];
  const count = (f: (r: Result) => boolean): { refused: number; total: number } => {
    let refused = 0;
    let total = 0;
    for (const r of results) {
      if (!f(r)) continue;
      total++;
      if (r.refused) refused++;
    }
    return { refused, total };
  };
  const min = (name: string, c: { refused: number; total: number }, target: number): Bar => ({ name, ...c, kind: 'min%', target, pass: c.total > 0 && pct(c.refused, c.total) >= target });
  const max = (name: string, c: { refused: number; total: number }, target: number): Bar => ({ name, ...c, kind: 'max%', target, pass: c.total > 0 && pct(c.refused, c.total) <= target });
  if (corpora.includes('crs')) {
    out.push(min('CRS request-side attack stages, 930–934, 941, 942, 944', count((r) => r.req.corpus === 'crs' && r.req.attack && CRS_BAR_FAMILIES.has(r.req.category)), 95));
    const c999 = count((r) => r.req.corpus === 'crs' && r.req.category === '999');
    out.push({ name: 'CRS REQUEST-999 stages', ...c999, kind: 'count', target: 0, pass: c999.total > 0 && c999.refused === 0 });
  }
  if (corpora.includes('httpparams')) {
    for (const p of ['query', 'form', 'json']) {
      out.push(min(`HttpParams anom, ${p}`, count((r) => r.req.corpus === 'httpparams' && r.req.attack && r.req.category.endsWith(`/${p}`)), 99));
    }
    for (const p of ['query', 'form', 'json']) {
      out.push(max(`HttpParams norm, ${p}`, count((r) => r.req.corpus === 'httpparams' && !r.req.attack && r.req.category.endsWith(`/${p}`)), 0.3));
    }
  }
  if (corpora.includes('csic')) out.push(max('CSIC 2010 normal traffic', count((r) => r.req.corpus === 'csic'), 0.3));
  return out;
}

function barMeasured(b: Bar): string {
  return b.kind === 'count' ? `${b.refused} refused of ${b.total}` : `${fmtPct(b.refused, b.total, 2)} (${b.refused}/${b.total})`;
}

function barTarget(b: Bar): string {
  return b.kind === 'count' ? `${b.target} refused` : `${b.kind === 'min%' ? '≥' : '≤'} ${b.target}%`;
}

/** The request line for people: a target holding UTF-8 bytes (kept as Latin-1 characters, as sent) is shown decoded. */
function requestLine(r: CorpusRequest, max = 300): string {
  let target = r.path;
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(target)) {
    const utf8 = Buffer.from(target, 'latin1').toString('utf8');
    if (!utf8.includes('\ufffd')) target = utf8;
  }
  return escapeForReport(`${r.method} ${target}`, max);
}

function escapeForReport(s: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\t' ? '\\t' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

function writeMisses(file: string, results: readonly Result[]): { missed: number; falsePositives: number; nearMisses: number } {
  const missed = results.filter((r) => r.req.attack && !r.refused);
  const fps = results.filter((r) => !r.req.attack && r.req.nearMiss !== true && r.refused);
  const nms = results.filter((r) => r.req.nearMiss === true && r.refused);
  const line = (r: Result, withCode: boolean): string => {
    const parts = [r.req.corpus, r.req.id, r.req.category];
    if (withCode) parts.push(r.code ?? '');
    parts.push(requestLine(r.req));
    if (r.req.body !== undefined && r.req.body.length > 0) parts.push(`body: ${escapeForReport(r.req.body.toString('latin1'), 300)}`);
    if (withCode && r.findings !== undefined) parts.push(`findings: ${escapeForReport(r.findings, 400)}`);
    return parts.join('\t');
  };
  const out = [
    '# Detection benchmark: requests to study. Tab-separated: corpus, id, category, [refusal code,] request line, body excerpt, [findings].',
    `# Missed attacks: ${missed.length}`,
    ...missed.map((r) => line(r, false)),
    '',
    `# False positives (benign requests refused): ${fps.length}`,
    ...fps.map((r) => line(r, true)),
    '',
    `# Near misses refused (CRS stages where a rule must not fire; hard negatives, not counted as false positives): ${nms.length}`,
    ...nms.map((r) => line(r, true)),
    '',
  ];
  writeFileSync(file, out.join('\n'));
  return { missed: missed.length, falsePositives: fps.length, nearMisses: nms.length };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseOptions();
  installCleanup(60 * 60 * 1000);
  const loaded: CorpusRequest[] = [];
  const loadNotes: string[] = [];
  for (const name of o.corpora) {
    const t0 = Date.now();
    const all = loadCorpus(name, o.corporaDir);
    const picked = sample(all, o.limit);
    loaded.push(...picked);
    loadNotes.push(`${name}: ${picked.length}${picked.length < all.length ? ` of ${all.length} (sample)` : ''} requests, loaded in ${Date.now() - t0} ms`);
  }
  console.error(`bench detection: ${loadNotes.join('; ')}`);

  const mode = o.offline ? 'offline' : 'http';
  const run = o.offline ? await runOffline(loaded, o) : await runHttp(loaded, o);
  const results = run.results;

  // Per corpus and category.
  const groups = new Map<string, Group>();
  const codes = new Map<string, Map<string, number>>();
  for (const r of results) {
    const key = `${r.req.corpus}\0${r.req.category}`;
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = newGroup(r.req.corpus, r.req.category)));
    add(g, r);
    if (r.refused) {
      const byCorpus = codes.get(r.req.corpus) ?? new Map<string, number>();
      codes.set(r.req.corpus, byCorpus);
      byCorpus.set(r.code ?? '?', (byCorpus.get(r.code ?? '?') ?? 0) + 1);
    }
  }
  const sortedGroups = [...groups.values()].sort((a, b) => ALL_CORPORA.indexOf(a.corpus) - ALL_CORPORA.indexOf(b.corpus) || a.category.localeCompare(b.category));
  const barList = bars(results, o.corpora);

  // Balanced accuracy: attacks = CRS bar families' attack stages + HttpParams anom;
  // benign = CRS 999 + HttpParams norm + CSIC. Near misses and other CRS families are left out.
  let tp = 0;
  let p = 0;
  let tn = 0;
  let n = 0;
  for (const r of results) {
    const c = r.req;
    const isBarAttack = c.attack && (c.corpus === 'httpparams' || (c.corpus === 'crs' && CRS_BAR_FAMILIES.has(c.category)));
    const isBenign = !c.attack && (c.corpus === 'csic' || c.corpus === 'httpparams' || (c.corpus === 'crs' && c.category === '999'));
    if (isBarAttack) {
      p++;
      if (r.refused) tp++;
    } else if (isBenign) {
      n++;
      if (!r.refused) tn++;
    }
  }
  const tpr = p === 0 ? undefined : tp / p;
  const tnr = n === 0 ? undefined : tn / n;
  const balanced = tpr !== undefined && tnr !== undefined ? (tpr + tnr) / 2 : undefined;

  const detect = quantiles(results.filter((r) => r.detectUs !== undefined).map((r) => r.detectUs!));
  const latency = quantiles(results.map((r) => r.latencyMs));

  // Per corpus: its attacks and its benign requests as the bars count them (CRS: the bar
  // families' attack stages and REQUEST-999; HttpParams: anom and norm, every placement).
  const perCorpus = o.corpora.map((corpus) => {
    let a = 0;
    let ar = 0;
    let b = 0;
    let br = 0;
    const times: number[] = [];
    for (const r of results) {
      const c = r.req;
      if (c.corpus !== corpus) continue;
      if (r.detectUs !== undefined) times.push(r.detectUs);
      if (c.attack && (corpus !== 'crs' || CRS_BAR_FAMILIES.has(c.category))) {
        a++;
        if (r.refused) ar++;
      } else if (!c.attack && c.nearMiss !== true && (corpus !== 'crs' || c.category === '999')) {
        b++;
        if (!r.refused) br++;
      }
    }
    const tprC = a === 0 ? undefined : ar / a;
    const tnrC = b === 0 ? undefined : br / b;
    return { corpus, attacks: a, attacksRefused: ar, benign: b, benignRefused: b - br, tpr: tprC, fpr: tnrC === undefined ? undefined : 1 - tnrC, balanced: tprC !== undefined && tnrC !== undefined ? (tprC + tnrC) / 2 : undefined, time: quantiles(times) };
  });
  const fmtRate = (x: number | undefined, digits: number): string => (x === undefined ? '–' : `${(x * 100).toFixed(digits)}%`);
  const fmtTime = (q: { n: number; median: number; p99: number; max: number }): string => (q.n === 0 ? '– | – | –' : `${q.median.toFixed(0)} | ${q.p99.toFixed(0)} | ${q.max.toFixed(0)}`);

  // Markdown.
  const sampleNote = o.limit !== undefined ? `, sample of at most ${o.limit} per corpus` : '';
  const threatsNote = mode === 'offline' ? 'engine in process' : o.threatsKey === 'paranoia' ? `\`threats: { paranoia: ${o.paranoia} }\`` : o.threatsKey === 'off' ? '`threats: { enabled: false }` (baseline)' : 'no `threats` key (gateway defaults)';
  const md: string[] = [
    '',
    `### Detection benchmark (${mode} mode, paranoia ${o.paranoia}, ${threatsNote}${sampleNote})`,
    '',
    `${new Date().toISOString().slice(0, 10)}, Node.js ${process.version}. ${loadNotes.join('; ')}. ${run.notes.join('; ')}.`,
    '',
    '| bar | measured | target | result |',
    '|---|---:|---:|:---:|',
    ...barList.map((b) => `| ${b.name} | ${barMeasured(b)} | ${barTarget(b)} | ${b.pass ? 'PASS' : 'FAIL'}${o.limit !== undefined ? ' (sample)' : ''} |`),
    '',
    `Balanced accuracy ${balanced === undefined ? '–' : (balanced * 100).toFixed(2) + '%'} (TPR ${tpr === undefined ? '–' : (tpr * 100).toFixed(2) + '%'} over ${p} attacks: CRS bar families + HttpParams anom; TNR ${tnr === undefined ? '–' : (tnr * 100).toFixed(2) + '%'} over ${n} benign: CRS 999 + HttpParams norm + CSIC).`,
    '',
    `Detection time, ${run.timingSource}: ${detect.n === 0 ? 'not available' : `median ${detect.median.toFixed(1)} µs, p99 ${detect.p99.toFixed(1)} µs, max ${detect.max.toFixed(1)} µs over ${detect.n} requests`}. ` +
      (mode === 'http' ? `Round trip per request (new connection each): median ${latency.median.toFixed(2)} ms, p99 ${latency.p99.toFixed(2)} ms, max ${latency.max.toFixed(2)} ms.` : ''),
    '',
    '| corpus | attacks | TPR | benign | FPR | balanced accuracy | detection µs median | p99 | max |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...perCorpus.map((c) => `| ${c.corpus}${c.corpus === 'crs' ? ' (bar families; benign: 999)' : ''} | ${c.attacks} | ${fmtRate(c.tpr, 2)} | ${c.benign} | ${fmtRate(c.fpr, 3)} | ${fmtRate(c.balanced, 2)} | ${fmtTime(c.time)} |`),
    '',
    '| corpus | category | requests | refused | refused % | attacks | TPR | benign | FPR | near misses | near misses refused | detection µs median | p99 |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...sortedGroups.map((g) => {
      const q = quantiles(g.times);
      return (
        `| ${g.corpus} | ${g.category}${g.corpus === 'crs' && CRS_BAR_FAMILIES.has(g.category) ? ' (bar)' : ''} | ${g.requests} | ${g.refused} | ${fmtPct(g.refused, g.requests)} | ${g.attacks} | ${fmtPct(g.attacksRefused, g.attacks)} | ${g.benign} | ${fmtPct(g.benignRefused, g.benign, 2)} | ${g.nearMisses} | ${g.nearMisses === 0 ? '–' : `${g.nearMissesRefused} (${fmtPct(g.nearMissesRefused, g.nearMisses)})`} | ` +
        `${q.n === 0 ? '–' : q.median.toFixed(0)} | ${q.n === 0 ? '–' : q.p99.toFixed(0)} |`
      );
    }),
    '',
    'Refusal codes per corpus: ' +
      ([...codes.entries()].map(([c, m]) => `${c}: ${[...m.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`).join('; ') || 'none') +
      '.',
    '',
  ];
  console.log(md.join('\n'));

  if (o.misses !== undefined) {
    const m = writeMisses(o.misses, results);
    console.error(`bench detection: ${m.missed} missed attacks, ${m.falsePositives} false positives, ${m.nearMisses} refused near misses written to ${o.misses}`);
  }
  if (o.json !== undefined) {
    const data = {
      kind: 'detection',
      mode,
      options: { corpora: o.corpora, paranoia: o.paranoia, limit: o.limit ?? null, concurrency: o.concurrency, timeoutMs: o.timeoutMs, threatsKey: o.threatsKey },
      environment: environment(),
      notes: [...loadNotes, ...run.notes],
      bars: barList.map((b) => ({ ...b, refusedPct: round(pct(b.refused, b.total), 3) })),
      balancedAccuracy: balanced === undefined ? null : round(balanced, 5),
      tpr: tpr === undefined ? null : round(tpr, 5),
      tnr: tnr === undefined ? null : round(tnr, 5),
      detectionTime: { source: run.timingSource, unit: 'us', ...detect },
      latencyMs: latency,
      corpora: perCorpus.map((c) => ({ ...c, tpr: c.tpr ?? null, fpr: c.fpr ?? null, balanced: c.balanced ?? null })),
      groups: sortedGroups.map(({ times, ...g }) => ({ ...g, detectUs: quantiles(times) })),
      refusalCodes: Object.fromEntries([...codes.entries()].map(([c, m]) => [c, Object.fromEntries(m)])),
    };
    writeFileSync(o.json, `${JSON.stringify(data, null, 2)}\n`);
    console.error(`bench detection: results written to ${o.json}`);
  }
  await stopAll();
  process.exit(o.strict && barList.some((b) => !b.pass) ? 1 : 0);
}

main().catch(async (err: unknown) => {
  console.error(`bench detection failed: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
