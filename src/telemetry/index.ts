/**
 * Telemetry: the audit log, Prometheus metrics and the operational logger, bundled so the
 * listener calls one `record(c)` from `onComplete`.
 */
import pino from 'pino';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from '../config/types.js';
import type { CompletedContext } from '../pipeline/types.js';
import { createAuditLog } from './audit.js';
import type { AuditLog } from './audit.js';
import { createMetrics } from './metrics.js';
import type { GatewayMetrics } from './metrics.js';
import { logRedactPaths, REDACTED } from './redact.js';

export { createAuditLog } from './audit.js';
export type { AuditEvent, AuditLog, AuditLogOptions } from './audit.js';
export {
  createAggregator,
  createMetrics,
  exposeToPrimary,
  methodLabel,
  registrySource,
  statusLabel,
  upstreamLabel,
  REQUEST_BUCKETS,
  STAGE_BUCKETS,
} from './metrics.js';
export type { GatewayMetrics, MetricsOptions, MetricsSource, UpstreamErrorKind } from './metrics.js';
export { FastCounter } from './fast-metrics.js';
export {
  ALWAYS_REDACTED_HEADERS,
  REDACTED,
  SENSITIVE_NAME_PARTS,
  auditRedactPaths,
  createHeaderRedactor,
  isSensitiveName,
  logRedactPaths,
  redactQuery,
} from './redact.js';
export type { HeaderRedactor, HeaderRedactorOptions } from './redact.js';

/** Options of `createTelemetry`. */
export interface TelemetryOptions {
  /** Configured API-key header names; always redacted in events and logs. */
  readonly apiKeyHeaders?: readonly string[];
  readonly apiKeyQueryParams?: readonly string[];
  /** Write audit events here instead of `cfg.audit.destination` (tests). */
  readonly auditStream?: NodeJS.WritableStream;
  /** Write operational logs here instead of stderr (tests). */
  readonly logStream?: NodeJS.WritableStream;
  /** Fields on every operational log line (default `{ pid }`), e.g. `{ pid, worker }`. */
  readonly logBase?: Record<string, unknown>;
  /** Metrics registry (default: a new one). */
  readonly registry?: Registry;
  /** Collect Node's default process metrics (default true). */
  readonly collectDefault?: boolean;
  /** Metric name prefix (default `portcullis_`). */
  readonly metricsPrefix?: string;
  /**
   * Re-open the audit file on this signal (log rotation), e.g. `'SIGUSR2'`; the handler is
   * removed by `close()`. Default: none (the caller wires signals).
   */
  readonly reopenSignal?: NodeJS.Signals;
}

/** The telemetry of one process. */
export interface Telemetry {
  readonly audit: AuditLog;
  readonly metrics: GatewayMetrics;
  /** Operational logs (stderr, level from `telemetry.logLevel`, secrets redacted). */
  readonly logger: Logger;
  /** Audit event + metrics for one completed request. Never throws. */
  record(c: CompletedContext): void;
  /** Flush and close the audit log, flush the logger, remove the signal handler. */
  close(): Promise<void>;
}

/** Build the telemetry bundle from `telemetry` config. */
export function createTelemetry(cfg: Config['telemetry'], opts: TelemetryOptions = {}): Telemetry {
  const apiKeyHeaders = opts.apiKeyHeaders ?? [];
  const audit = createAuditLog(cfg.audit, { stream: opts.auditStream, apiKeyHeaders, apiKeyQueryParams: opts.apiKeyQueryParams ?? [] });
  const metrics = createMetrics({ registry: opts.registry, collectDefault: opts.collectDefault, prefix: opts.metricsPrefix });
  const logger = pino(
    {
      level: cfg.logLevel,
      base: opts.logBase ?? { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: logRedactPaths([...apiKeyHeaders, ...cfg.audit.redactHeaders]), censor: REDACTED },
    },
    // Operational logs are few and matter most right before a crash: write synchronously.
    opts.logStream === undefined ? pino.destination({ dest: 2, sync: true }) : (opts.logStream as unknown as pino.DestinationStream),
  );

  const signal = opts.reopenSignal;
  const onSignal = (): void => audit.reopen();
  if (signal !== undefined) process.on(signal, onSignal);

  return {
    audit,
    metrics,
    logger,
    record(c: CompletedContext): void {
      audit.record(c);
      metrics.observe(c);
    },
    async close(): Promise<void> {
      if (signal !== undefined) process.off(signal, onSignal);
      await audit.close();
      await new Promise<void>((resolve) => logger.flush(() => resolve()));
    },
  };
}
