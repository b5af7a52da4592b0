/**
 * One undici Pool per upstream: keep-alive, connect/header/body timeouts from config, and a
 * total timeout per exchange. Pools survive a config reload when their settings are unchanged,
 * so warm connections are kept.
 */
import { Pool, errors as undiciErrors } from 'undici';
import type { UpstreamConfig } from '../config/types.js';
import type { ErrorCode } from '../pipeline/errors.js';
import { Deadlines } from './deadlines.js';
import { Limiter } from './limiter.js';

export class UpstreamPool {
  readonly pool: Pool;
  /** Settings fingerprint: a reload reuses the pool when this is unchanged. */
  readonly key: string;
  /** The upstream's concurrency limit (`upstreams.<name>.loadShedding`), undefined when none. */
  readonly limiter: Limiter | undefined;
  /** The total timeouts (`totalTimeoutMs`) of this upstream's exchanges. */
  readonly deadlines: Deadlines;

  constructor(readonly cfg: UpstreamConfig) {
    this.key = upstreamKey(cfg);
    this.deadlines = new Deadlines(cfg.totalTimeoutMs);
    this.limiter = cfg.loadShedding === undefined ? undefined : new Limiter(cfg.loadShedding);
    this.pool = new Pool(cfg.origin, {
      connections: cfg.connections,
      pipelining: cfg.pipelining,
      keepAliveTimeout: cfg.keepAliveTimeoutMs,
      keepAliveMaxTimeout: Math.max(cfg.keepAliveTimeoutMs, 600_000),
      headersTimeout: cfg.headersTimeoutMs,
      bodyTimeout: cfg.bodyTimeoutMs,
      connectTimeout: cfg.connectTimeoutMs,
      connect:
        cfg.tls === undefined
          ? { timeout: cfg.connectTimeoutMs }
          : {
              timeout: cfg.connectTimeoutMs,
              ca: cfg.tls.ca,
              servername: cfg.tls.serverName,
              rejectUnauthorized: !cfg.tls.insecureSkipVerify,
            },
    });
  }

  /** Waits for in-flight exchanges, then closes the connections. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  destroy(): Promise<void> {
    return this.pool.destroy();
  }
}

export function upstreamKey(cfg: UpstreamConfig): string {
  return JSON.stringify({ ...cfg, tls: cfg.tls && { ...cfg.tls, ca: cfg.tls.ca?.toString('base64') } });
}

/** Thrown by the request-body reader when the body passes the route's limit. */
export class BodyTooLargeError extends Error {
  readonly code = 'PORTCULLIS_BODY_TOO_LARGE';
}

/** Thrown when the total timeout of an exchange passes. */
export class TotalTimeoutError extends Error {
  readonly code = 'PORTCULLIS_TOTAL_TIMEOUT';
}

/** Maps an error from undici (or the request body) to the refusal the client gets. */
export function classifyUpstreamError(err: unknown): { code: ErrorCode; kind: 'connect' | 'timeout' | 'bad-response' | 'client' | 'internal' } {
  if (err instanceof BodyTooLargeError) return { code: 'body_too_large', kind: 'client' };
  // undici refused the options we built: a gateway bug, not the upstream's fault.
  if (err instanceof undiciErrors.InvalidArgumentError || err instanceof undiciErrors.InvalidReturnValueError) return { code: 'internal_error', kind: 'internal' };
  if (err instanceof TotalTimeoutError) return { code: 'upstream_timeout', kind: 'timeout' };
  if (
    err instanceof undiciErrors.ConnectTimeoutError ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError
  ) {
    return { code: 'upstream_timeout', kind: 'timeout' };
  }
  if (err instanceof undiciErrors.HTTPParserError || err instanceof undiciErrors.ResponseContentLengthMismatchError) {
    return { code: 'upstream_bad_response', kind: 'bad-response' };
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_INFO')) {
    return { code: 'upstream_bad_response', kind: 'bad-response' };
  }
  if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH' || code === 'ECONNABORTED' || code === 'ERR_STREAM_PREMATURE_CLOSE') {
    return { code: 'malformed_request', kind: 'client' };
  }
  return { code: 'upstream_unavailable', kind: 'connect' };
}
