/**
 * What abuse protection reports besides refusals (which the audit event and `denials_total`
 * already carry): store health changes, bans, credential-stuffing alarms, requests decided
 * without the shared store. Metrics on the process registry and one log line per event.
 *
 * Nothing secret reaches a label or a log line: subjects (IPs, usernames) are not labels, and
 * usernames appear only as a short hash.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { StoreHealth } from '../store/index.js';

export type BanKind = 'ip' | 'principal' | 'user' | 'alarm';

export interface AbuseEvents {
  storeHealth(store: 'redis', health: StoreHealth, reason: string): void;
  /** A ban was placed (by this instance). `subject` is an IP or a username hash, for the log only. */
  banned(kind: BanKind, subject: string, reason: string, ttlMs: number): void;
  /** The credential-stuffing alarm of a login route was raised (by this instance). */
  stuffingAlarm(route: string, failures: number): void;
  /** A limit check decided without the shared store (`local`, `fail-open`, `fail-closed`). */
  fallback(mode: 'local' | 'fail-open' | 'fail-closed'): void;
  /** A background store operation failed (counted, logged at most once a minute). */
  storeError(what: string, err: unknown): void;
}

export const NO_EVENTS: AbuseEvents = Object.freeze({
  storeHealth() {},
  banned() {},
  stuffingAlarm() {},
  fallback() {},
  storeError() {},
});

/** Abuse metrics and log lines on `registry` and `logger`. */
export function createAbuseEvents(registry: Registry, logger: Logger, prefix = 'portcullis_'): AbuseEvents {
  const registers = [registry];
  const up = new Gauge({
    name: `${prefix}store_up`,
    help: 'Whether the shared store answers (1) or not (0), by store. In a cluster: the lowest over the workers.',
    labelNames: ['store'] as const,
    aggregator: 'min',
    registers,
  });
  const transitions = new Counter({
    name: `${prefix}store_transitions_total`,
    help: 'Changes of the shared store health, by store and new state (up, down).',
    labelNames: ['store', 'to'] as const,
    registers,
  });
  const fallbacks = new Counter({
    name: `${prefix}rate_limit_fallback_total`,
    help: 'Rate-limit checks decided without the shared store, by fail mode (local, fail-open, fail-closed).',
    labelNames: ['mode'] as const,
    registers,
  });
  const bans = new Counter({
    name: `${prefix}bans_total`,
    help: 'Temporary bans placed by this process, by kind (ip, principal, user: a locked username, alarm: a credential-stuffing alarm) and reason.',
    labelNames: ['kind', 'reason'] as const,
    registers,
  });
  const alarms = new Counter({
    name: `${prefix}credential_stuffing_alarms_total`,
    help: 'Credential-stuffing alarms raised, by login route.',
    labelNames: ['route'] as const,
    registers,
  });
  const errors = new Counter({
    name: `${prefix}store_errors_total`,
    help: 'Failed background store operations (failure counting, bans), by operation.',
    labelNames: ['operation'] as const,
    registers,
  });
  const fallbackLabels = {
    local: fallbacks.labels('local'),
    'fail-open': fallbacks.labels('fail-open'),
    'fail-closed': fallbacks.labels('fail-closed'),
  };
  let lastErrorLog = 0;
  return {
    storeHealth(store, health, reason) {
      up.labels(store).set(health === 'up' ? 1 : 0);
      transitions.labels(store, health).inc();
      if (health === 'up') logger.info({ store }, 'store available: limits, counters and bans are shared again');
      else logger.warn({ store, reason }, 'store unavailable: applying store.redis.onUnavailable until it answers again');
    },
    banned(kind, subject, reason, ttlMs) {
      bans.labels(kind, reason).inc();
      logger.warn({ kind, subject, reason, ttlSeconds: Math.round(ttlMs / 1000) }, kind === 'alarm' ? 'credential-stuffing alarm raised' : 'temporary ban');
    },
    stuffingAlarm(route, failures) {
      alarms.labels(route).inc();
      logger.warn({ route, failures }, 'credential-stuffing alarm: this login answers with a challenge until the alarm ends');
    },
    fallback(mode) {
      fallbackLabels[mode].inc();
    },
    storeError(what, err) {
      errors.labels(what).inc();
      const now = Date.now();
      if (now - lastErrorLog >= 60_000) {
        lastErrorLog = now;
        logger.warn({ operation: what, err: err instanceof Error ? err.message.slice(0, 120) : String(err).slice(0, 120) }, 'store operation failed');
      }
    },
  };
}
