/**
 * The admin listener: health, readiness, metrics and the authenticated admin API, on its
 * own port.
 *
 * Deny by default: `/admin/*` exists only while `admin.token` is set (404 otherwise), and
 * needs `Authorization: Bearer <token>`. Tokens are compared as SHA-256 digests with
 * `timingSafeEqual`, so neither content nor length leaks through timing. The token is read
 * from `getConfig()` on every request (a reload may change it) and is never logged.
 *
 * `/admin/keys…` is the key store's API (identity/keys-admin.ts), served when the running
 * config has `identity.apiKeys.store`; `/admin/bans…` lists, places and lifts bans (bans.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { readBounded } from '../pipeline/read-body.js';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import { answerNoKeyStore, handleKeysAdmin } from '../identity/keys-admin.js';
import { handleBansAdmin, type BansTransport } from './bans.js';
import type { KeyStore } from '../identity/keystore.js';
import { ERRORS } from '../pipeline/errors.js';
import type { ErrorCode } from '../pipeline/errors.js';
import { PROBLEM_CONTENT_TYPE, problemBody } from '../pipeline/problem.js';

/** What the admin server needs from the rest of the gateway. */
export interface AdminDeps {
  /** Read per request: the token may change on reload. */
  getConfig(): Config['admin'];
  /** Listeners up and config loaded. */
  ready(): boolean;
  /** Config revision, loadedAt, workers, uptime, version… (`revision` is also shown by /readyz). */
  status(): Record<string, unknown>;
  /** Reload the config; concurrent admin calls share one reload. */
  reload(): Promise<{ ok: boolean; revision?: string; errors?: string[] }>;
  /** Prometheus text: one registry, or the cluster aggregate in the primary. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /**
   * The key store behind `/admin/keys`, read per request (a reload may change it): undefined
   * when the running config sets no `identity.apiKeys.store`. Absent: no key store.
   */
  keyStore?(): KeyStore | undefined;
  /**
   * The gateway's ban lists behind `/admin/bans` (admin/bans.ts): the process's own, or in a
   * cluster primary a fan-out to the workers. Absent: `/admin/bans` is 404.
   */
  bans?: BansTransport;
  /** Where failures of the deps are reported (message only; never the request headers). */
  logger?: Pick<Logger, 'warn' | 'error'>;
}

/** A running admin listener. */
export interface AdminServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** Stop accepting, close idle connections, and end the others after a short grace. */
  close(): Promise<void>;
}

/** Bounds of the admin listener. */
export const ADMIN_LIMITS = Object.freeze({
  maxBodyBytes: 64 * 1024,
  maxHeaderSize: 16 * 1024,
  maxHeadersCount: 64,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 256,
  closeGraceMs: 2_000,
});

const COMMON_HEADERS = Object.freeze({
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
});

function send(res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, {
    ...COMMON_HEADERS,
    ...headers,
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

function sendProblem(res: ServerResponse, code: ErrorCode, headers: Record<string, string> = {}): void {
  send(res, ERRORS[code].status, PROBLEM_CONTENT_TYPE, problemBody(code, undefined), headers);
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 7) return undefined;
  if (header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const token = header.slice(7).trim();
  return token === '' ? undefined : token;
}

/**
 * Read and discard the request body, up to `limit` bytes: 'too-large' when it is larger
 * (the caller answers 413 and closes the connection), 'aborted' when the client went away.
 */
async function drainBody(req: IncomingMessage, limit: number): Promise<'ok' | 'too-large' | 'aborted'> {
  if (req.complete) return 'ok';
  const r = await readBounded(req, limit, false);
  return r.kind === 'body' ? 'ok' : r.kind;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

interface Endpoint {
  readonly methods: readonly string[];
  /** 'none': public; 'admin': needs the token; 'metrics': needs it if `metricsRequireToken`. */
  readonly auth: 'none' | 'admin' | 'metrics';
  readonly handler: Handler;
}

/** Start the admin listener on `cfg.host:cfg.port`. Rejects if the port cannot be bound. */
export function startAdminServer(cfg: Config['admin'], deps: AdminDeps): Promise<AdminServer> {
  // Digest of the configured token, recomputed only when the token changes.
  let lastToken: string | undefined;
  let lastDigest: Buffer | undefined;
  const tokenDigest = (token: string): Buffer => {
    if (token !== lastToken || lastDigest === undefined) {
      lastToken = token;
      lastDigest = sha256(token);
    }
    return lastDigest;
  };

  let reloading: Promise<{ ok: boolean; revision?: string; errors?: string[] }> | undefined;

  const fail = (res: ServerResponse, where: string, err: unknown): void => {
    deps.logger?.error({ where, err: err instanceof Error ? err.message : String(err) }, 'admin endpoint failed');
    sendProblem(res, 'internal_error');
  };

  const endpoints: Readonly<Record<string, Endpoint>> = {
    '/healthz': {
      methods: ['GET', 'HEAD'],
      auth: 'none',
      handler: (_req, res) => sendJson(res, 200, { status: 'ok' }),
    },
    '/readyz': {
      methods: ['GET', 'HEAD'],
      auth: 'none',
      handler: (_req, res) => {
        if (!deps.ready()) return sendJson(res, 503, { status: 'not-ready' });
        const revision = deps.status()['revision'];
        sendJson(res, 200, { status: 'ready', revision: typeof revision === 'string' ? revision : undefined });
      },
    },
    '/metrics': {
      methods: ['GET', 'HEAD'],
      auth: 'metrics',
      handler: async (_req, res) => {
        const m = await deps.metrics();
        send(res, 200, m.contentType, m.body);
      },
    },
    '/admin/status': {
      methods: ['GET', 'HEAD'],
      auth: 'admin',
      handler: (_req, res) => sendJson(res, 200, deps.status()),
    },
    '/admin/reload': {
      methods: ['POST'],
      auth: 'admin',
      handler: async (_req, res) => {
        reloading ??= deps.reload().finally(() => {
          reloading = undefined;
        });
        const result = await reloading;
        // A refused config is not a server fault, but the reload did not happen: 422.
        sendJson(res, result.ok ? 200 : 422, result);
      },
    },
  };

  /** 'ok', or the refusal to send: 404 when no token is configured (deny by default), 401 on a bad token. */
  const authorize = (req: IncomingMessage, ep: Pick<Endpoint, 'auth'>, admin: Config['admin']): 'ok' | 'not-found' | 'unauthorized' => {
    if (ep.auth === 'none' || (ep.auth === 'metrics' && !admin.metricsRequireToken)) return 'ok';
    const configured = admin.token;
    if (configured === undefined || configured === '') return 'not-found';
    const given = bearerToken(req.headers.authorization);
    if (given === undefined) return 'unauthorized';
    return timingSafeEqual(sha256(given), tokenDigest(configured)) ? 'ok' : 'unauthorized';
  };

  /**
   * The answer to a request whose handler did not take it (keys, bans): what it sent is drained
   * first (bounded), then 413, 404 or 401 as the token check said. False when the verdict was
   * `ok` and nothing was answered yet.
   */
  const refused = async (req: IncomingMessage, res: ServerResponse, verdict: ReturnType<typeof authorize>): Promise<boolean> => {
    const body = await drainBody(req, ADMIN_LIMITS.maxBodyBytes);
    if (body === 'aborted') return true;
    if (body === 'too-large') {
      sendProblem(res, 'body_too_large', { connection: 'close' });
      return true;
    }
    if (verdict === 'not-found') {
      sendProblem(res, 'route_not_found');
      return true;
    }
    if (verdict === 'unauthorized') {
      sendProblem(res, 'admin_unauthorized', { 'www-authenticate': 'Bearer realm="portcullis-admin"' });
      return true;
    }
    return false;
  };

  /**
   * `/admin/keys…`: keys-admin.ts reads the body itself (its own, smaller bound), so the
   * request is handed over unread once the token checks out. Refusals drain it as usual.
   */
  const handleKeys = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const verdict = authorize(req, { auth: 'admin' }, deps.getConfig());
    let store: KeyStore | undefined;
    try {
      store = verdict === 'ok' ? deps.keyStore?.() : undefined;
      if (store !== undefined && (await handleKeysAdmin(req, res, store, path))) return;
    } catch (err) {
      return fail(res, path, err);
    }
    if (await refused(req, res, verdict)) return;
    if (store === undefined) return answerNoKeyStore(res);
    sendProblem(res, 'route_not_found');
  };

  /** `/admin/bans…`: bans.ts reads the body itself once the token checks out. */
  const handleBans = async (req: IncomingMessage, res: ServerResponse, path: string, transport: BansTransport): Promise<void> => {
    const verdict = authorize(req, { auth: 'admin' }, deps.getConfig());
    if (verdict === 'ok') {
      try {
        return await handleBansAdmin(req, res, path, transport);
      } catch (err) {
        return fail(res, path, err);
      }
    }
    await refused(req, res, verdict);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path === '/admin/keys' || path.startsWith('/admin/keys/')) return handleKeys(req, res, path);
    if (deps.bans !== undefined && (path === '/admin/bans' || path.startsWith('/admin/bans/'))) return handleBans(req, res, path, deps.bans);

    const body = await drainBody(req, ADMIN_LIMITS.maxBodyBytes);
    if (body === 'aborted') return;
    if (body === 'too-large') return sendProblem(res, 'body_too_large', { connection: 'close' });

    const ep = Object.hasOwn(endpoints, path) ? endpoints[path] : undefined;
    if (ep === undefined) return sendProblem(res, 'route_not_found');

    const verdict = authorize(req, ep, deps.getConfig());
    if (verdict === 'not-found') return sendProblem(res, 'route_not_found');
    if (verdict === 'unauthorized') {
      return sendProblem(res, 'admin_unauthorized', { 'www-authenticate': 'Bearer realm="portcullis-admin"' });
    }
    if (!ep.methods.includes(req.method ?? '')) {
      return sendProblem(res, 'method_not_allowed', { allow: ep.methods.join(', ') });
    }
    try {
      await ep.handler(req, res);
    } catch (err) {
      fail(res, path, err);
    }
  };

  const server: Server = createServer(
    {
      maxHeaderSize: ADMIN_LIMITS.maxHeaderSize,
      headersTimeout: ADMIN_LIMITS.headersTimeoutMs,
      requestTimeout: ADMIN_LIMITS.requestTimeoutMs,
      keepAliveTimeout: ADMIN_LIMITS.keepAliveTimeoutMs,
    },
    (req, res) => {
      handle(req, res).catch((err: unknown) => fail(res, 'request', err));
    },
  );
  server.maxHeadersCount = ADMIN_LIMITS.maxHeadersCount;
  server.maxConnections = ADMIN_LIMITS.maxConnections;

  return new Promise<AdminServer>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', onError);
      server.on('error', (err) => deps.logger?.error({ err: err.message }, 'admin listener error'));
      const port = (server.address() as AddressInfo).port;
      let closing: Promise<void> | undefined;
      resolve({
        port,
        close(): Promise<void> {
          closing ??= new Promise<void>((done) => {
            const grace = setTimeout(() => server.closeAllConnections(), ADMIN_LIMITS.closeGraceMs);
            grace.unref();
            server.close(() => {
              clearTimeout(grace);
              done();
            });
            server.closeIdleConnections();
          });
          return closing;
        },
      });
    });
  });
}
