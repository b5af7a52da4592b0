/**
 * Test helpers: a real upstream on port 0, a real gateway started from a real config file in a
 * temp directory, raw-socket requests for protocol tests. Nothing is mocked.
 */
import { once } from 'node:events';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { loadConfig, formatDiagnostic } from '../src/config/index.js';
import { startGateway, type GatewayHandle } from '../src/server/process.js';

export interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export interface Upstream {
  readonly url: string;
  readonly port: number;
  /** Every request the upstream received, in order. */
  readonly seen: Seen[];
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void | Promise<void>;

/**
 * An upstream that answers JSON describing what it received. Paths with special behaviour:
 * `/slow?ms=N`, `/banner`, `/status/NNN`, `/hang`, `/drop` (closes the socket), `/stream?chunks=N`.
 */
export async function startUpstream(custom?: Handler): Promise<Upstream> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers }, body });
      if (custom) {
        void custom(req, res, body);
        return;
      }
      const url = new URL(req.url ?? '/', 'http://upstream');
      const send = (status: number, extra: Record<string, string> = {}) => {
        const out = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body });
        res.writeHead(status, { 'content-type': 'application/json', ...extra });
        res.end(out);
      };
      if (url.pathname.endsWith('/slow')) {
        setTimeout(() => send(200), Number(url.searchParams.get('ms') ?? '200'));
      } else if (url.pathname.endsWith('/banner')) {
        send(200, {
          server: 'Apache/2.4.1 (Unix)',
          'x-powered-by': 'PHP/5.6',
          'keep-alive': 'timeout=5',
          'x-upstream-secret': 'hop',
          connection: 'x-upstream-secret',
        });
      } else if (url.pathname.includes('/status/')) {
        send(Number(url.pathname.split('/status/')[1]));
      } else if (url.pathname.endsWith('/hang')) {
        // never answers
      } else if (url.pathname.endsWith('/drop')) {
        req.socket.destroy();
      } else if (url.pathname.endsWith('/stream')) {
        const n = Number(url.searchParams.get('chunks') ?? '5');
        res.writeHead(200, { 'content-type': 'text/plain' });
        let i = 0;
        const tick = () => {
          if (i++ >= n) return res.end();
          res.write(`chunk-${i}\n`);
          setTimeout(tick, 10);
        };
        tick();
      } else {
        send(200);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface TestGateway {
  readonly handle: GatewayHandle;
  readonly dir: string;
  readonly configFile: string;
  /** `http://127.0.0.1:<port>` of the first listener. */
  readonly url: string;
  readonly port: number;
  readonly ports: readonly number[];
  readonly adminUrl: string | undefined;
  /** Parsed audit events so far. */
  events(): Record<string, unknown>[];
  /** Operational log lines so far. */
  logs(): Record<string, unknown>[];
  /** Waits until `n` audit events have been written. */
  waitEvents(n: number, timeoutMs?: number): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

function lineCollector(): { stream: PassThrough; lines: () => Record<string, unknown>[] } {
  const stream = new PassThrough();
  let buf = '';
  const out: Record<string, unknown>[] = [];
  stream.on('data', (c: Buffer) => {
    buf += c.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) out.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  return { stream, lines: () => out };
}

export function tempDir(prefix = 'portcullis-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes `files` (name → content) into a new temp dir and returns the dir. */
export function writeFiles(files: Record<string, string>, dir = tempDir()): string {
  for (const [name, content] of Object.entries(files)) {
    const p = join(dir, name);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
  return dir;
}

export const FIXTURES = resolve('test/fixtures');

/**
 * Starts a gateway from `yaml` (written as portcullis.yaml next to `files`). The listener and
 * admin ports should be 0. Audit events and logs are captured.
 */
export async function startTestGateway(yaml: string, files: Record<string, string> = {}, env: Record<string, string> = {}): Promise<TestGateway> {
  const dir = writeFiles({ ...files, 'portcullis.yaml': yaml });
  const configFile = join(dir, 'portcullis.yaml');
  const loaded = await loadConfig(configFile, { env });
  if (!loaded.ok) throw new Error('test config invalid:\n' + loaded.diagnostics.map((d) => formatDiagnostic(d)).join('\n'));
  const audit = lineCollector();
  const logs = lineCollector();
  const handle = await startGateway({ config: loaded.config, env, watch: false, signals: false, auditStream: audit.stream, logStream: logs.stream });
  const port = handle.listeners[0]!.port;
  return {
    handle,
    dir,
    configFile,
    port,
    ports: handle.listeners.map((l) => l.port),
    url: `http://127.0.0.1:${port}`,
    adminUrl: handle.admin ? `http://127.0.0.1:${handle.admin.port}` : undefined,
    events: audit.lines,
    logs: logs.lines,
    async waitEvents(n: number, timeoutMs = 3000) {
      const until = Date.now() + timeoutMs;
      while (audit.lines().length < n) {
        if (Date.now() > until) throw new Error(`expected ${n} audit events, got ${audit.lines().length}`);
        await handle.telemetry.audit.flush();
        await new Promise((r) => setTimeout(r, 10));
      }
      return audit.lines();
    },
    close: () => handle.shutdown(),
  };
}

export interface RawResponse {
  readonly raw: string;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** True when the server closed the connection. */
  readonly closed: boolean;
}

/** Sends raw bytes and reads until the server closes or `waitMs` passes. */
export async function rawRequest(port: number, payload: string | Buffer, waitMs = 1500): Promise<RawResponse> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.write(payload);
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, waitMs);
    socket.once('close', () => {
      closed = true;
      clearTimeout(t);
      resolve();
    });
    socket.once('error', () => undefined);
  });
  socket.destroy();
  const raw = Buffer.concat(chunks).toString('latin1');
  return { ...parseRaw(raw), raw, closed };
}

export function parseRaw(raw: string): { status: number; headers: Record<string, string>; body: string } {
  const end = raw.indexOf('\r\n\r\n');
  const head = end < 0 ? raw : raw.slice(0, end);
  const lines = head.split('\r\n');
  const status = Number(lines[0]?.split(' ')[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  let body = end < 0 ? '' : raw.slice(end + 4);
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  return { status, headers, body };
}

function dechunk(text: string): string {
  let out = '';
  let i = 0;
  for (;;) {
    const nl = text.indexOf('\r\n', i);
    if (nl < 0) return out;
    const size = parseInt(text.slice(i, nl), 16);
    if (!(size > 0)) return out;
    out += text.slice(nl + 2, nl + 2 + size);
    i = nl + 2 + size + 2;
  }
}

/** A minimal config with one public passthrough route to `upstream`. */
export function passthroughConfig(upstream: string, extra = ''): string {
  return `version: 1
listeners:
  - port: 0
    host: 127.0.0.1
admin:
  enabled: false
routes:
  - name: all
    methods: [GET, HEAD, POST, PUT, PATCH, DELETE]
    path: /*
    upstream: ${upstream}
    public: true
${extra}`;
}

/** xorshift32 in [0, 1): the same values on every run, for generated test inputs. */
export function prng(seed: number): () => number {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}
