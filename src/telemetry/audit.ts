/**
 * The audit log: one JSON line per request, allowed or denied, written off the hot path.
 *
 * The event is serialized here field by field from the completed context (never by dumping
 * the context), with secrets removed by name sets compiled once in `createAuditLog`. It is
 * written straight into a reused buffer (line-writer.ts: allocation on the hot path is what
 * costs under load). Writing is asynchronous and bounded in memory: if the destination cannot
 * keep up, lines are dropped and counted rather than letting the buffer grow without end.
 */
import type { Config } from '../config/types.js';
import type { CompletedContext, Outcome, Principal, RouteInfo } from '../pipeline/types.js';
import type { ErrorCode } from '../pipeline/errors.js';
import { FdWriter, jsonString as q } from './line-writer.js';
import { MAX_QUERY_CHARS, createHeaderRedactor, redactQuery } from './redact.js';

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
 * - `deprecated` — `true` when the operation is deprecated (absent otherwise).
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
 * - `findings` — `[{ stage, code, reason, monitored, cleared? }]`, including monitor-mode findings;
 *   `cleared: true` marks a challenge the request had already paid for (a valid clearance).
 * - `threats` — when threat detection found anything: `{ score, paranoia, threshold, findings:
 *   [{ category, detector, severity, location, name, key?, excerpt }] }`; `name` is the parameter,
 *   header or cookie name or the JSON pointer, `excerpt` at most 40 characters of what matched
 *   (`[REDACTED]` for cookies and secret-looking names). Monitor-mode findings appear too.
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
  readonly findings: readonly { stage: string; code: ErrorCode; reason: string; monitored: boolean; cleared?: true }[];
  readonly threats?: {
    readonly score: number;
    readonly paranoia: number;
    readonly threshold: number;
    readonly findings: readonly { category: string; detector: string; severity: number; location: string; name: string; key?: true; excerpt: string }[];
  };
  readonly userAgent?: string;
  readonly headers?: Record<string, string>;
}

/** Writes audit events. Every method is safe to call after `close()` (they do nothing). */
export interface AuditLog {
  /** Queue one event. Cheap and never throws; a failure is counted in `failures`. */
  record(c: CompletedContext): void;
  /** Re-open the destination file (log rotation, wired to SIGUSR2 by the caller). No-op for stdout/stderr/streams. */
  reopen(): void;
  /** Resolve once every queued line has been handed to the OS. */
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
  /** Query parameters that carry API keys (`in: query` schemes): always redacted. */
  readonly apiKeyQueryParams?: readonly string[];
}

/** In-memory bound of lines waiting to be written; beyond it lines are dropped and counted. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** Lines are written in batches: a 64 KiB chunk at a time, and at least every 200 ms. */
const FLUSH_INTERVAL_MS = 200;
/** Longest line in characters (a third of a 64 KiB chunk); a longer one (only possible with includeHeaders) is dropped and counted. */
const MAX_LINE_BYTES = 21 * 1024;
const MAX_PATH_CHARS = 2048;
const MAX_USER_AGENT_CHARS = 256;
const MAX_REASON_CHARS = 512;
const MAX_ID_CHARS = 256;

function cap(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) : s;
}

/**
 * Microseconds → milliseconds with 3 decimals, as JSON number text: the same text as
 * `String(Math.round(us) / 1000)` without formatting a double (which costs more than the rest
 * of the field).
 */
export function msText(us: number): string {
  if (!Number.isFinite(us)) return 'null';
  const r = Math.round(us);
  if (r < 0 || r > 0x1fffffffffffff) return String(r / 1000);
  const int = Math.floor(r / 1000);
  let frac = r - int * 1000;
  if (frac === 0) return '' + int;
  let digits = 3;
  while (frac % 10 === 0) {
    frac /= 10;
    digits--;
  }
  const f = '' + frac;
  return int + (f.length === digits ? '.' : f.length === digits - 1 ? '.0' : '.00') + f;
}

const DISABLED: AuditLog = Object.freeze({
  record(): void {},
  reopen(): void {},
  flush: () => Promise.resolve(),
  close: () => Promise.resolve(),
  failures: 0,
});

/** `,"route":…,"api":…,"operationId":…` is fixed per route: built once per compiled route. */
const routeFieldCache = new WeakMap<RouteInfo, string>();
function routeFields(route: RouteInfo): string {
  let text = routeFieldCache.get(route);
  if (text === undefined) {
    text = `,"route":${q(route.id)}`;
    if (route.api !== undefined) text += `,"api":${q(route.api)}`;
    if (route.operationId !== undefined) text += `,"operationId":${q(route.operationId)}`;
    // A deprecated operation still being called is a zombie endpoint: every call says so.
    if (route.deprecated === true) text += `,"deprecated":true`;
    routeFieldCache.set(route, text);
  }
  return text;
}

function num(n: number): string {
  // Integers (status, byte counts, microseconds): the engine's number-to-string cache.
  return Number.isInteger(n) ? '' + n : Number.isFinite(n) ? String(n) : 'null';
}

/**
 * ISO time: the text up to the seconds is built once per second, the milliseconds appended
 * (many events share one second at high rates; `toISOString` costs more than the whole line).
 */
let lastSecond = -1;
let lastPrefix = '';
let lastMs = -1;
let lastIso = '';
function isoNow(): string {
  const now = Date.now();
  if (now === lastMs) return lastIso;
  lastMs = now;
  const ms = now % 1000;
  const second = now - ms;
  if (second !== lastSecond) {
    lastSecond = second;
    lastPrefix = new Date(second).toISOString().slice(0, 20);
  }
  lastIso = lastPrefix + (ms < 10 ? '00' : ms < 100 ? '0' : '') + ms + 'Z';
  return lastIso;
}

/**
 * Create the audit log for `telemetry.audit`. With `enabled: false` it is a no-op that
 * opens nothing. The destination is `stdout`, `stderr` or an absolute file path (its
 * folder is created, the file opened for appending now, so a bad path fails at start);
 * writes are batched and asynchronous, and `reopen()` supports rotation.
 */
export function createAuditLog(cfg: Config['telemetry']['audit'], opts: AuditLogOptions = {}): AuditLog {
  if (!cfg.enabled) return DISABLED;

  const apiKeyHeaders = opts.apiKeyHeaders ?? [];
  const queryNames = opts.apiKeyQueryParams === undefined || opts.apiKeyQueryParams.length === 0 ? undefined : new Set(opts.apiKeyQueryParams.map((n) => n.toLowerCase()));
  const redactNames = [...apiKeyHeaders, ...cfg.redactHeaders];
  const redactHeaders = cfg.includeHeaders ? createHeaderRedactor(redactNames) : undefined;
  const stream = opts.stream;
  const writer = stream === undefined ? new FdWriter(cfg.destination, MAX_BUFFERED_BYTES, FLUSH_INTERVAL_MS) : undefined;
  let failures = 0;
  let closed = false;
  // A caller-provided stream that breaks must cost events, never the process.
  stream?.on('error', () => failures++);

  /**
   * Serializes the event field by field (the field list is the allow-list: nothing else of the
   * request can reach the log). One string per event, written with one call into the batch
   * buffer; field order and names are those of AuditEvent.
   */
  const serialize = (c: CompletedContext): string => {
    const r = c.request;
    let s = `{"v":1,"time":"${isoNow()}","event":"request","requestId":${q(cap(r.requestId, MAX_ID_CHARS))}${routeFields(r.route)}`;
    s += `,"method":${q(cap(r.method, 32))},"path":${q(cap(r.path, MAX_PATH_CHARS))},"query":${q(redactQuery(r.rawQuery, MAX_QUERY_CHARS, queryNames))},"clientIp":${q(r.client.ip)},"tls":${r.client.tls},"httpVersion":${q(r.client.httpVersion)}`;
    const cert = r.client.certificate;
    if (cert !== undefined) s += `,"clientCert":{"subject":${q(cap(cert.subject, 1024))}}`;
    const p = r.principal;
    if (p !== undefined) s += `,"principal":{"id":${q(cap(p.id, MAX_ID_CHARS))},"type":${q(p.type)},"credentialId":${q(cap(p.credentialId, MAX_ID_CHARS))}}`;
    s += `,"outcome":"${c.outcome}"`;
    if (c.code !== undefined) s += `,"code":"${c.code}"`;
    if (c.reason !== undefined) s += `,"reason":${q(cap(c.reason, MAX_REASON_CHARS))}`;
    s += `,"status":${num(c.status)},"bytesIn":${num(c.bytesIn)},"bytesOut":${num(c.bytesOut)},"durationMs":${msText(c.totalUs)}`;
    if (c.upstreamUs !== undefined) s += `,"upstreamMs":${msText(c.upstreamUs)}`;
    s += ',"stages":{';
    const timings = r.timings;
    let firstStage = true;
    for (let i = 0; i < timings.length; i++) {
      const t = timings[i]!;
      // A stage can appear twice (request and response hooks): one key, times added.
      let dup = false;
      for (let j = 0; j < i; j++) if (timings[j]!.stage === t.stage) dup = true;
      if (dup) continue;
      let us = t.us;
      for (let j = i + 1; j < timings.length; j++) if (timings[j]!.stage === t.stage) us += timings[j]!.us;
      // Microseconds with 3 decimals: the same text as String(us), without formatting a double.
      s += `${firstStage ? '' : ','}"${t.stage}":${msText(us * 1000)}`;
      firstStage = false;
    }
    s += '},"findings":[';
    for (let i = 0; i < r.findings.length; i++) {
      const f = r.findings[i]!;
      s += `${i === 0 ? '' : ','}{"stage":"${f.stage}","code":"${f.code}","reason":${q(cap(f.reason, MAX_REASON_CHARS))},"monitored":${f.monitored}${f.cleared === true ? ',"cleared":true' : ''}}`;
    }
    s += ']';
    const t = r.threats;
    if (t !== undefined) {
      s += `,"threats":{"score":${num(t.score)},"paranoia":${num(t.paranoia)},"threshold":${num(t.threshold)},"findings":[`;
      for (let i = 0; i < t.findings.length; i++) {
        const f = t.findings[i]!;
        s += `${i === 0 ? '' : ','}{"category":${q(f.category)},"detector":${q(f.detector)},"severity":${num(f.severity)},"location":${q(f.location)},"name":${q(cap(f.name, 128))}`;
        s += `${f.isKey ? ',"key":true' : ''},"excerpt":${q(cap(f.excerpt, 64))}}`;
      }
      s += ']}';
    }
    const ua = r.headers['user-agent'];
    if (typeof ua === 'string') s += `,"userAgent":${q(cap(ua, MAX_USER_AGENT_CHARS))}`;
    if (redactHeaders !== undefined) {
      s += ',"headers":{';
      let first = true;
      for (const [name, value] of Object.entries(redactHeaders(r.headers))) {
        s += `${first ? '' : ','}${q(name)}:${q(value)}`;
        first = false;
      }
      s += '}';
    }
    return s + '}\n';
  };

  return {
    record(c: CompletedContext): void {
      if (closed) return;
      try {
        const text = serialize(c);
        if (text.length > MAX_LINE_BYTES) {
          failures++;
          return;
        }
        // Every piece is ASCII (jsonString escapes the rest): one byte per character.
        if (writer !== undefined) writer.appendAscii(text);
        else stream!.write(text);
      } catch {
        failures++;
      }
    },
    reopen(): void {
      if (!closed) writer?.reopen();
    },
    flush(): Promise<void> {
      return writer === undefined ? Promise.resolve() : writer.flush();
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await writer?.close();
    },
    get failures(): number {
      return failures + (writer === undefined ? 0 : writer.dropped + writer.errors);
    },
  };
}
