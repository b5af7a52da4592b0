/**
 * The benchmark upstream: as fast as plain node:http gets, so that what the benchmark
 * measures is the proxy in front of it, not the backend.
 *
 *   GET  /get   → a fixed ~100-byte JSON document
 *   POST /post  → reads the body, answers {"ok":true,"received":<bytes>}
 *
 * Run: `node dist/bench/upstream.js --port 0` prints `listening <port>` when ready.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { installStdinLifeline, isMain } from './lib.js';

const GET_BODY = Buffer.from(
  JSON.stringify({ id: 'b-0001', name: 'benchmark item', price: 12.5, tags: ['a', 'b', 'c'], inStock: true, updated: '2024-05-01' }),
);
const GET_HEADERS = { 'content-type': 'application/json', 'content-length': String(GET_BODY.length) };
const NOT_FOUND = Buffer.from('{"error":"not_found"}');

/** A running upstream. */
export interface Upstream {
  readonly server: http.Server;
  readonly port: number;
  close(): Promise<void>;
}

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.method === 'GET' && req.url === '/get') {
    res.writeHead(200, GET_HEADERS);
    res.end(GET_BODY);
    return;
  }
  if (req.method === 'POST' && req.url === '/post') {
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    req.on('end', () => {
      const body = `{"ok":true,"received":${received}}`;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
      res.end(body);
    });
    return;
  }
  // Drain whatever was sent so the connection stays usable.
  req.resume();
  res.writeHead(404, { 'content-type': 'application/json', 'content-length': String(NOT_FOUND.length) });
  res.end(NOT_FOUND);
}

/** Starts the upstream on 127.0.0.1 (port 0 picks a free port). */
export async function startUpstream(port = 0): Promise<Upstream> {
  const server = http.createServer(handler);
  // Longer than any client pool's idle timeout, so the server never closes a pooled
  // connection the proxy is about to reuse.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', ok);
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, 'stdin-lifeline': { type: 'boolean', default: false } } });
  const upstream = await startUpstream(Number(values.port));
  if (values['stdin-lifeline']) installStdinLifeline();
  process.on('SIGTERM', () => void upstream.close().then(() => process.exit(0)));
  process.on('SIGINT', () => void upstream.close().then(() => process.exit(0)));
  process.stdout.write(`listening ${upstream.port}\n`);
}

if (isMain(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error('upstream:', err);
    process.exit(1);
  });
}
