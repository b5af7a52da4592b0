/**
 * The audit log: one JSON line per request, allowed or denied, written off the hot path.
 *
 * The event is built here field by field from the completed context (never by dumping
 * the context), with secrets removed by name sets compiled once in `createAuditLog`;
 * pino's compiled `redact` paths are a second belt. Writing is asynchronous (sonic-boom)
 * and bounded in memory: if the destination cannot keep up, lines are dropped and counted
 * rather than letting the buffer grow without end.
 */
import pino from 'pino';
import type { DestinationStream } from 'pino';
import type { Config } from '../config/types.js';
import type { CompletedContext, Outcome, Principal } from '../pipeline/types.js';
import type { ErrorCode } from '../pipeline/errors.js';
import { createHeaderRedactor, redactQuery } from './redact.js';

/**
 * One line of the audit log (schema version `v: 1`). Field names are stable; fields
 * marked optional are left out when they do not apply.
 *
 * - `v` — schema version of the event, `1`.
 * - `time` — ISO 8601 time the event was written (end of the response).
 * - `event` — always `"request"`.
 * - `requestId` — the request id (also sent to the client and upstream).
 * - `route` — the matched route's stable id (`<api>:<operationId>` or `route:<name>`).
 * - `api`, `operationId` — the API and OpenAPI operation, when the route comes from a spec.
 * - `method` — the HTTP method.
 * - `path` — the normalized path (percent-decoded, dot-segment free), capped at 2 KiB.
 * - `query` — the raw query string; the value of every parameter whose name contains
 *   password, passwd, pwd, secret, token, key, auth, session, signature, sig or credential
 *   (case-insensitive) is `[REDACTED]`; capped at 2 KiB.
 * - `clientIp` — the real client IP (after trusted-proxy resolution).
 * - `tls` — whether the client connection was TLS.
 * - `httpVersion` — `1.1`, `2.0` …
 * - `clientCert` — `{ subject }` of a verified client certificate, when one was presented.
 * - `principal` — `{ id, type, credentialId }` of the authenticated caller, when any.
 * - `outcome` — `allowed`, `denied`, `responded` or `error`.
 * - `code` — the error registry code of a denial or error.
 * - `reason` — the audit-only reason of a denial or error (never sent to the client).
 * - `status` — the HTTP status sent to the client.
 * - `bytesIn`, `bytesOut` — body bytes received from the client and sent to it.
 * - `durationMs` — arrival to end of response, milliseconds with 3 decimals.
 * - `upstreamMs` — arrival to upstream response headers, when the request was forwarded.
 * - `stages` — `{ <stage>: microseconds }` spent in each stage.
 * - `findings` — `[{ stage, code, reason, monitored }]`, including monitor-mode findings.
 * - `userAgent` — the User-Agent header, capped at 256 characters.
 * - `headers` — only with `telemetry.audit.includeHeaders`: request headers with the values
 *   of credential headers (authorization, proxy-authorization, cookie, set-cookie, x-api-key,
 *   api-key, the API-key header, `redactHeaders`, and any name containing a sensitive part
 *   as for `query`) replaced by `[REDACTED]`; at most 64 headers of 512 characters.
 */
export interface AuditEvent {
  readonly v: 1;
  readonly time: string;
  readonly event: 'request';
  readonly requestId: string;
  readonly route: string;
  readonly api?: string;
  readonly operationId?: string;
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly clientIp: string;
  readonly tls: boolean;
  readonly httpVersion: string;
  readonly clientCert?: { readonly subject: string };
  readonly principal?: Pick<Principal, 'id' | 'type' | 'credentialId'>;
  readonly outcome: Outcome;
  readonly code?: ErrorCode;
  readonly reason?: string;
  readonly status: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly durationMs: number;
  readonly upstreamMs?: number;
  readonly stages: Record<string, number>;
  readonly findings: readonly { stage: string; code: ErrorCode; reason: string; monitored: boolean }[];
  readonly userAgent?: string;
  readonly headers?: Record<string, string>;
}

/** Writes audit events. Every method is safe to call after `close()` (they do nothing). */
export interface AuditLog {
  /** Queue one event. Cheap and never throws; a failure is counted in `failures`. */
  record(c: CompletedContext): void;
  /** Re-open the destination file (log rotation, wired to SIGUSR2 by the caller). No-op for stdout/stderr/streams. */
  reopen(): void;
  /** Resolve once every queued line has been handed to the OS (and fsync'd for a file). */
  flush(): Promise<void>;
  /** Flush and release the destination. A caller-provided stream is not ended. */
  close(): Promise<void>;
  /** Events that could not be built or written (including lines dropped under back-pressure). */
  readonly failures: number;
}

/** Options of `createAuditLog`. */
export interface AuditLogOptions {
  /** Write here instead of `cfg.destination` (tests, custom sinks). */
  readonly stream?: NodeJS.WritableStream;
  /** Configured API-key header names; their values are always redacted. */
  readonly apiKeyHeaders?: readonly string[];
}

/** In-memory bound of the asynchronous file/stdout buffer; beyond it lines are dropped. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/**
 * Lines are written in batches: when 8 KiB have gathered or every 200 ms, whichever comes
 * first (and on flush/close). One write per request would cost a thread-pool round trip each.
 */
const BATCH_BYTES = 8 * 1024;
const FLUSH_INTERVAL_MS = 200;
const MAX_PATH_CHARS = 2048;
const MAX_USER_AGENT_CHARS = 256;
const MAX_REASON_CHARS = 512;
const MAX_ID_CHARS = 256;

function cap(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) : s;
}

/** Microseconds → milliseconds with 3 decimals. */
function usToMs(us: number): number {
  return Math.round(us) / 1000;
}

/** Minimal view of sonic-boom used here (pino's `destination()` returns one). */
interface SonicBoomLike extends DestinationStream {
  reopen(file?: string): void;
  flush(cb?: (err?: Error) => void): void;
  end(): void;
  on(event: string, fn: (...args: unknown[]) => void): unknown;
  once(event: string, fn: (...args: unknown[]) => void): unknown;
  readonly file: string | null;
  readonly destroyed: boolean;
}

const DISABLED: AuditLog = Object.freeze({
  record(): void {},
  reopen(): void {},
  flush: () => Promise.resolve(),
  close: () => Promise.resolve(),
  failures: 0,
});

/**
 * Create the audit log for `telemetry.audit`. With `enabled: false` it is a no-op that
 * opens nothing. The destination is `stdout`, `stderr` or an absolute file path (its
 * folder is created); file writes are asynchronous and `reopen()` supports rotation.
 */
export function createAuditLog(cfg: Config['telemetry']['audit'], opts: AuditLogOptions = {}): AuditLog {
  if (!cfg.enabled) return DISABLED;

  const apiKeyHeaders = opts.apiKeyHeaders ?? [];
  const redactNames = [...apiKeyHeaders, ...cfg.redactHeaders];
  const redactHeaders = cfg.includeHeaders ? createHeaderRedactor(redactNames) : undefined;

  let sonic: SonicBoomLike | undefined;
  let dest: DestinationStream;
  if (opts.stream !== undefined) {
    dest = opts.stream as unknown as DestinationStream;
  } else {
    const target = cfg.destination === 'stdout' ? 1 : cfg.destination === 'stderr' ? 2 : cfg.destination;
    sonic = pino.destination({
      dest: target,
      sync: false,
      mkdir: typeof target === 'string',
      minLength: BATCH_BYTES,
      maxLength: MAX_BUFFERED_BYTES,
    }) as unknown as SonicBoomLike;
    dest = sonic;
  }

  let failures = 0;
  let closed = false;
  if (sonic !== undefined) {
    // An unwritable file must not crash the gateway; count and carry on.
    sonic.on('error', () => {
      failures++;
    });
    sonic.on('drop', () => {
      failures++;
    });
  }

  // Events are built from an allow-list of fields, with headers and query values redacted in
  // `build`, so they are serialized directly (no logger, no second redaction pass).
  const timer = sonic === undefined ? undefined : setInterval(() => sonic?.flush(), FLUSH_INTERVAL_MS);
  timer?.unref();

  const build = (c: CompletedContext): AuditEvent => {
    const r = c.request;
    const stages: Record<string, number> = {};
    for (const t of r.timings) stages[t.stage] = (stages[t.stage] ?? 0) + t.us;
    const cert = r.client.certificate;
    const p = r.principal;
    const ua = r.headers['user-agent'];
    return {
      v: 1,
      time: new Date().toISOString(),
      event: 'request',
      requestId: cap(r.requestId, MAX_ID_CHARS),
      route: r.route.id,
      api: r.route.api,
      operationId: r.route.operationId,
      method: cap(r.method, 32),
      path: cap(r.path, MAX_PATH_CHARS),
      query: redactQuery(r.rawQuery),
      clientIp: r.client.ip,
      tls: r.client.tls,
      httpVersion: r.client.httpVersion,
      clientCert: cert === undefined ? undefined : { subject: cap(cert.subject, 1024) },
      principal: p === undefined ? undefined : { id: cap(p.id, MAX_ID_CHARS), type: p.type, credentialId: cap(p.credentialId, MAX_ID_CHARS) },
      outcome: c.outcome,
      code: c.code,
      reason: c.reason === undefined ? undefined : cap(c.reason, MAX_REASON_CHARS),
      status: c.status,
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
      durationMs: usToMs(c.totalUs),
      upstreamMs: c.upstreamUs === undefined ? undefined : usToMs(c.upstreamUs),
      stages,
      findings: r.findings.map((f) => ({ stage: f.stage, code: f.code, reason: cap(f.reason, MAX_REASON_CHARS), monitored: f.monitored })),
      userAgent: typeof ua === 'string' ? cap(ua, MAX_USER_AGENT_CHARS) : undefined,
      headers: redactHeaders === undefined ? undefined : redactHeaders(r.headers),
    };
  };

  const flush = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (closed || sonic === undefined || sonic.destroyed) return resolve();
      try {
        // fsync of a pipe (stdout) fails with EINVAL; the data is written all the same.
        sonic.flush(() => resolve());
      } catch {
        resolve();
      }
    });

  return {
    record(c: CompletedContext): void {
      if (closed) return;
      try {
        dest.write(JSON.stringify(build(c)) + '\n');
      } catch {
        failures++;
      }
    },
    reopen(): void {
      if (closed || sonic === undefined || sonic.file === null) return;
      try {
        sonic.reopen();
      } catch {
        failures++;
      }
    },
    flush,
    async close(): Promise<void> {
      if (closed) return;
      if (timer !== undefined) clearInterval(timer);
      await flush();
      closed = true;
      const s = sonic;
      if (s === undefined || s.destroyed) return;
      await new Promise<void>((resolve) => {
        s.once('close', () => resolve());
        s.once('error', () => resolve());
        try {
          s.end();
        } catch {
          resolve();
        }
      });
    },
    get failures(): number {
      return failures;
    },
  };
}
