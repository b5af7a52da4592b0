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
import { FastCounter } from '../telemetry/index.js';

export type BanKind = 'ip' | 'principal' | 'user' | 'alarm';

export interface AbuseEvents {
  /** The shared store's health changed (metric, transition count, log line). */
  storeHealth(store: 'redis', health: StoreHealth, reason: string): void;
  /** The shared store's health as it is at start (the `store_up` gauge only: no transition, no log). */
  storeState(store: 'redis', health: StoreHealth): void;
  /** A ban was placed (by this instance). `subject` is an IP or a username hash, for the log only. */
  banned(kind: BanKind, subject: string, reason: string, ttlMs: number): void;
  /** The credential-stuffing alarm of a login route was raised (by this instance). */
  stuffingAlarm(route: string, failures: number): void;
  /** A limit check decided without the shared store (`local`, `fail-open`, `fail-closed`). */
  fallback(mode: 'local' | 'fail-open' | 'fail-closed'): void;
  /** A background store operation failed (counted, logged at most once a minute). */
  storeError(what: string, err: unknown): void;
  /**
   * A rate-limit decision on the request path: each limit of an allowed request counts
   * `allowed`, the refusing limit of a refused one `denied`. `limit` is a configured name.
   */
  rateLimit(limit: string, allowed: boolean): void;
  /** A proof-of-work challenge was issued, or a solution accepted (`solved`) or refused (`failed`). */
  challenge(result: 'issued' | 'solved' | 'failed'): void;
}

export const NO_EVENTS: AbuseEvents = Object.freeze({
  storeHealth() {},
  storeState() {},
  banned() {},
  stuffingAlarm() {},
  fallback() {},
  storeError() {},
  rateLimit() {},
  challenge() {},
});

/** What the abuse metrics read at scrape time. */
export interface AbuseGauges {
  /** Login routes whose credential-stuffing alarm is raised now. */
  stuffingAlarms(): number;
}

/**
 * Abuse metrics and log lines on `registry` and `logger`. The per-request counters (rate-limit
 * decisions) are FastCounters: one map look-up and one add, no allocation.
 */
export function createAbuseEvents(registry: Registry, logger: Logger, prefix = 'portcullis_', gauges?: AbuseGauges): AbuseEvents {
  const registers = [registry];
  const decisions = new FastCounter({
    name: `${prefix}rate_limit_decisions_total`,
    help: 'Rate-limit decisions, by limit (policy name) and result: allowed (counted on every limit of an allowed request) or denied (on the limit that refused).',
    labelNames: ['limit', 'result'],
    registers,
  });
  /** Limit name → [allowed slot, denied slot]. Names come from the config, so the map stays small. */
  const decisionSlots = new Map<string, [number, number]>();
  const challenges = new Counter({
    name: `${prefix}challenges_total`,
    help: 'Proof-of-work challenges, by result: issued, solved (a solution accepted, clearance cookie set), failed (a solution refused).',
    labelNames: ['result'] as const,
    registers,
  });
  const challengeLabels = { issued: challenges.labels('issued'), solved: challenges.labels('solved'), failed: challenges.labels('failed') };
  new Gauge({
    name: `${prefix}credential_stuffing_alarms_active`,
    help: 'Login routes whose credential-stuffing alarm is raised now (they answer with the challenge). In a cluster: the highest over the workers.',
    aggregator: 'max',
    registers,
    collect() {
      this.set(gauges?.stuffingAlarms() ?? 0);
    },
  });
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
    storeState(store, health) {
      up.labels(store).set(health === 'up' ? 1 : 0);
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
    rateLimit(limit, allowed) {
      let slots = decisionSlots.get(limit);
      if (slots === undefined) {
        slots = [decisions.series(limit, 'allowed'), decisions.series(limit, 'denied')];
        decisionSlots.set(limit, slots);
      }
      decisions.inc(allowed ? slots[0] : slots[1]);
    },
    challenge(result) {
      challengeLabels[result].inc();
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
