/**
 * The reference a passthrough gateway is measured against: a minimal but competent reverse
 * proxy on node:http + one undici Pool. It forwards method, path and headers (minus hop-by-hop
 * ones), streams bodies both ways and copies status and headers back. No security, no logging.
 *
 * Whatever this costs over direct-to-upstream is the price of any Node.js proxy; the gateway is
 * judged on what it costs over this.
 *
 * Run: `node dist/bench/minimal-proxy.js --port 0 --upstream http://127.0.0.1:3000`
 * prints `listening <port>` when ready.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import { installStdinLifeline, isMain } from './lib.js';

/** Hop-by-hop headers (RFC 9110 §7.6.1) and ones undici refuses to be handed. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
]);

type Headers = Record<string, string | string[] | undefined>;

/** Copies headers without hop-by-hop ones, including any named in `Connection`. */
function endToEnd(headers: Headers): Record<string, string | string[]> {
  const connection = headers.connection;
  const extra = typeof connection === 'string' && connection !== '' ? connection.toLowerCase().split(',').map((t) => t.trim()) : [];
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || (extra.length > 0 && extra.includes(name))) continue;
    out[name] = value;
  }
  return out;
}

const BAD_GATEWAY = '{"error":"bad_gateway"}';

/** A running minimal proxy. */
export interface MinimalProxy {
  readonly server: http.Server;
  readonly pool: Pool;
  readonly port: number;
  close(): Promise<void>;
}

/** Starts the minimal proxy on 127.0.0.1:`port` in front of `upstream` (an http:// origin). */
export async function startMinimalProxy(upstream: string, port = 0, connections = 128): Promise<MinimalProxy> {
  const pool = new Pool(upstream, { connections, pipelining: 1, keepAliveTimeout: 30_000 });

  const server = http.createServer((req, res) => {
    const headers = endToEnd(req.headers);
    const remote = req.socket.remoteAddress;
    if (remote !== undefined) {
      const prior = req.headers['x-forwarded-for'];
      headers['x-forwarded-for'] = typeof prior === 'string' ? `${prior}, ${remote}` : remote;
    }
    headers['x-forwarded-proto'] = 'http';
    const hasBody = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';

    const opts: Dispatcher.RequestOptions = {
      path: req.url ?? '/',
      method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
      headers,
      body: hasBody ? req : null,
    };
    pool
      .stream(opts, ({ statusCode, headers: upstreamHeaders }) => {
        res.writeHead(statusCode, endToEnd(upstreamHeaders));
        return res;
      })
      .catch(() => {
        if (!res.headersSent) {
          res.writeHead(502, { 'content-type': 'application/json', 'content-length': String(BAD_GATEWAY.length) });
          res.end(BAD_GATEWAY);
        } else {
          res.destroy();
        }
      });
  });

  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', ok);
  });
  return {
    server,
    pool,
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
      await pool.close();
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      upstream: { type: 'string' },
      connections: { type: 'string', default: '128' },
      'stdin-lifeline': { type: 'boolean', default: false },
    },
  });
  if (values.upstream === undefined || !/^http:\/\/[^/]+$/.test(values.upstream)) {
    console.error('minimal-proxy: --upstream http://host:port is required');
    process.exit(1);
  }
  const proxy = await startMinimalProxy(values.upstream, Number(values.port), Number(values.connections));
  if (values['stdin-lifeline']) installStdinLifeline();
  const stop = (): void => void proxy.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`listening ${proxy.port}\n`);
}

if (isMain(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error('minimal-proxy:', err);
    process.exit(1);
  });
}
