/**
 * One gateway process: listeners, admin listener, telemetry, hot reload and graceful drain.
 * Used directly for `workers: 1` and by each worker of a cluster (cluster.ts).
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Registry } from 'prom-client';
import { localBans, startAdminServer, type AdminServer } from '../admin/index.js';
import { formatDiagnostic, loadConfig } from '../config/index.js';
import type { Config, Diagnostic } from '../config/types.js';
import { createTelemetry, exposeToPrimary, registrySource, type MetricsSource, type Telemetry } from '../telemetry/index.js';
import { Gateway, type GatewaySink } from './gateway.js';
import { startListener, type StartedListener } from './listeners.js';
import { buildRuntime, retireRuntime, type Runtime } from './runtime.js';
import { VERSION } from '../version.js';
import { setProcessChallengeKey } from '../abuse/index.js';
import { createAbuseEvents } from '../abuse/index.js';

export interface ReloadOutcome {
  readonly ok: boolean;
  readonly revision?: string;
  readonly errors?: string[];
}

export interface GatewayHandle {
  readonly gateway: Gateway;
  readonly listeners: readonly StartedListener[];
  readonly admin: AdminServer | undefined;
  readonly telemetry: Telemetry;
  /** The config in force. */
  config(): Config;
  /** Loads, validates and compiles the config file again; swaps it in only if all of that succeeds. */
  reload(): Promise<ReloadOutcome>;
  /** Graceful drain: stop accepting, let requests in flight finish until the deadline, close. */
  shutdown(): Promise<void>;
}

export interface StartOptions {
  readonly config: Config;
  readonly env?: Record<string, string | undefined>;
  /** Start the admin listener here (false in cluster workers: the primary runs it). */
  readonly admin?: boolean;
  /** Watch the config files and reload on change (default true). */
  readonly watch?: boolean;
  /** Handle SIGHUP (reload), SIGTERM/SIGINT (drain, then exit) and SIGUSR2 (reopen audit file). */
  readonly signals?: boolean;
  /** Tests: capture audit events and logs. */
  readonly auditStream?: NodeJS.WritableStream;
  readonly logStream?: NodeJS.WritableStream;
  /** Cluster worker: answer the primary's metric aggregation requests. */
  readonly worker?: boolean;
  /** Overrides the admin listener's metrics source (the cluster primary aggregates). */
  readonly metricsSource?: MetricsSource;
}

/** Environment variable through which the cluster primary hands its generated challenge key to workers. */
export const CHALLENGE_KEY_ENV = 'PORTCULLIS_CHALLENGE_KEY';

function diagnosticsText(diags: readonly Diagnostic[]): string[] {
  return diags.filter((d) => d.severity === 'error').map((d) => formatDiagnostic(d));
}

/** Loads and compiles a config file without serving it: used by reload and by the cluster primary. */
export async function prepare(
  file: string,
  env: Record<string, string | undefined> | undefined,
  previous?: Runtime,
): Promise<{ ok: true; runtime: Runtime; warnings: readonly Diagnostic[] } | { ok: false; errors: string[] }> {
  const loaded = await loadConfig(file, env === undefined ? undefined : { env });
  if (!loaded.ok) return { ok: false, errors: diagnosticsText(loaded.diagnostics) };
  const built = buildRuntime(loaded.config, previous);
  if (!built.ok) return { ok: false, errors: diagnosticsText(built.diagnostics) };
  return { ok: true, runtime: built.runtime, warnings: loaded.warnings };
}

/** Header or query parameter names that carry API keys, for log redaction. */
function apiKeyParams(c: Config, where: 'header' | 'query'): string[] {
  const out = new Set<string>();
  if (where === 'header' && c.identity.apiKeys !== undefined) out.add(c.identity.apiKeys.header);
  for (const s of Object.values(c.identity.schemes)) if (s.type === 'apiKey' && s.in === where) out.add(s.param);
  return [...out].sort();
}

/** What changes only take effect on restart. */
function restartOnlyChanges(a: Config, b: Config): string[] {
  const out: string[] = [];
  const listenerKey = (c: Config) => JSON.stringify(c.listeners.map((l) => [l.name, l.host, l.port, l.tls !== undefined, l.tls?.http2, l.tls?.clientCertificate]));
  if (listenerKey(a) !== listenerKey(b)) out.push('listeners');
  if (a.workers !== b.workers) out.push('workers');
  if (JSON.stringify([a.admin.enabled, a.admin.host, a.admin.port]) !== JSON.stringify([b.admin.enabled, b.admin.host, b.admin.port])) out.push('admin listener address');
  if (JSON.stringify(a.telemetry) !== JSON.stringify(b.telemetry)) out.push('telemetry');
  if (a.limits.maxHeaderBytes !== b.limits.maxHeaderBytes) out.push('limits.maxHeaderBytes');
  const keyParams = (c: Config) => JSON.stringify([apiKeyParams(c, 'header'), apiKeyParams(c, 'query')]);
  if (keyParams(a) !== keyParams(b)) out.push('API key header/query names (used for log redaction)');
  return out;
}

export async function startGateway(opts: StartOptions): Promise<GatewayHandle> {
  // A cluster worker signs clearances with the key its primary generated, so workers agree.
  const sharedKey = opts.env?.[CHALLENGE_KEY_ENV];
  if (sharedKey !== undefined) setProcessChallengeKey(sharedKey);
  const built = buildRuntime(opts.config);
  if (!built.ok) throw new Error(diagnosticsText(built.diagnostics).join('\n'));
  let runtime = built.runtime;
  void runtime.identity.start(); // prefetch JWKS and discovery documents; never throws
  const config0 = opts.config;

  const registry = new Registry();
  const telemetry = createTelemetry(config0.telemetry, {
    registry,
    apiKeyHeaders: apiKeyParams(config0, 'header'),
    apiKeyQueryParams: apiKeyParams(config0, 'query'),
    auditStream: opts.auditStream,
    logStream: opts.logStream,
    reopenSignal: opts.signals ? 'SIGUSR2' : undefined,
  });
  if (opts.worker) exposeToPrimary(registry);
  const { metrics, logger } = telemetry;
  metrics.setConfigInfo(config0.revision, runtime.loadedAt);
  if (config0.bots.enabled && runtime.challenge.generatedKey && opts.worker !== true) {
    logger.warn(
      'bots.challenge.secret is not set: challenges and clearances are signed with a key generated at start; they do not survive a restart and are not valid on other instances (set the same secret on every instance)',
    );
  }
  const abuseEvents = createAbuseEvents(registry, logger, undefined, { stuffingAlarms: () => runtime.abuse.listBans('alarm').length });
  runtime.abuse.start(abuseEvents); // connects the shared store (Redis), if any
  runtime.challenge.events = abuseEvents;

  const sink: GatewaySink = {
    record: (c) => telemetry.record(c),
    upstreamError: (u, kind) => metrics.upstreamError(u, kind),
    inflight: (delta) => metrics.inflight.inc(delta),
    hookError: (stage, err) => logger.error({ stage, err: err instanceof Error ? err.message : String(err) }, 'onComplete hook failed'),
    internalError: (requestId, err) => logger.error({ requestId, err: err instanceof Error ? (err.stack ?? err.message) : String(err) }, 'internal error while serving a request'),
  };
  const gateway = new Gateway(runtime, sink);

  const listeners: StartedListener[] = [];
  try {
    for (const l of config0.listeners) listeners.push(await startListener(l, config0, gateway));
  } catch (err) {
    for (const l of listeners) l.destroyAll();
    await Promise.all(listeners.map((l) => l.stopAccepting()));
    await telemetry.close();
    throw err;
  }
  for (const l of listeners) logger.info({ listener: l.name, address: `${l.host}:${l.port}`, tls: l.tls }, 'listening');

  let reloading: Promise<ReloadOutcome> | undefined;
  let watchers: FSWatcher[] = [];
  let closed = false;

  const doReload = async (): Promise<ReloadOutcome> => {
    const old = runtime;
    const next = await prepare(old.config.file, opts.env, old);
    if (closed) return { ok: false, errors: ['shutting down'] };
    if (!next.ok) {
      metrics.reloadResult(false);
      logger.error({ errors: next.errors }, 'config reload failed; the running config stays in force');
      return { ok: false, errors: next.errors };
    }
    runtime = next.runtime;
    void runtime.identity.start();
    runtime.abuse.start(abuseEvents);
    runtime.challenge.events = abuseEvents;
    gateway.runtime = runtime; // atomic swap: requests in flight keep the runtime they started with
    for (const l of listeners) l.update(runtime.config);
    metrics.reloadResult(true);
    metrics.setConfigInfo(runtime.config.revision, runtime.loadedAt);
    const restart = restartOnlyChanges(old.config, runtime.config);
    if (restart.length > 0) logger.warn({ settings: restart }, 'these settings changed but take effect only after a restart');
    for (const w of next.warnings) logger.warn({ warning: formatDiagnostic(w) }, 'config warning');
    logger.info({ revision: runtime.config.revision }, 'config reloaded');
    void retireRuntime(old, runtime);
    if (opts.watch !== false) rewatch();
    return { ok: true, revision: runtime.config.revision };
  };

  const reload = (): Promise<ReloadOutcome> => {
    // Concurrent triggers (file change + SIGHUP + admin) share one reload.
    reloading ??= doReload().finally(() => (reloading = undefined));
    return reloading;
  };

  let debounce: NodeJS.Timeout | undefined;
  const rewatch = (): void => {
    for (const w of watchers) w.close();
    watchers = [];
    // Watch directories, not files: editors replace files by renaming, which ends a file watch.
    const byDir = new Map<string, Set<string>>();
    for (const f of runtime.config.files) {
      const set = byDir.get(dirname(f)) ?? new Set<string>();
      set.add(basename(f));
      byDir.set(dirname(f), set);
    }
    for (const [dir, names] of byDir) {
      try {
        const w = watch(dir, { persistent: false }, (_event, filename) => {
          if (filename === null || !names.has(filename.toString())) return;
          clearTimeout(debounce);
          debounce = setTimeout(() => void reload(), 200);
        });
        w.on('error', () => undefined);
        watchers.push(w);
      } catch (err) {
        logger.warn({ dir: join(dir), err: String(err) }, 'cannot watch config directory; reload with SIGHUP');
      }
    }
  };
  if (opts.watch !== false) rewatch();

  const startedAt = Date.now();
  let admin: AdminServer | undefined;
  const metricsSource = opts.metricsSource ?? registrySource(registry);
  if (opts.admin !== false && config0.admin.enabled) {
    admin = await startAdminServer(config0.admin, {
      getConfig: () => runtime.config.admin,
      ready: () => !gateway.draining && !closed,
      status: () => ({
        version: VERSION,
        revision: runtime.config.revision,
        loadedAt: new Date(runtime.loadedAt).toISOString(),
        startedAt: new Date(startedAt).toISOString(),
        workers: 1,
        inflight: gateway.inflight,
        listeners: listeners.map((l) => ({ name: l.name, port: l.port, tls: l.tls })),
        routes: runtime.table.size,
      }),
      reload,
      metrics: () => metricsSource.metrics(),
      keyStore: () => runtime.identity.keyStore,
      bans: localBans(() => runtime.abuse),
      logger,
    });
    logger.info({ address: `${config0.admin.host}:${admin.port}` }, 'admin listener');
  }

  let shuttingDown: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    shuttingDown ??= (async () => {
      closed = true;
      gateway.draining = true;
      clearTimeout(debounce);
      for (const w of watchers) w.close();
      const deadline = Date.now() + runtime.config.shutdown.drainTimeoutMs;
      logger.info({ inflight: gateway.inflight, drainTimeoutMs: runtime.config.shutdown.drainTimeoutMs }, 'draining');
      const stopped = Promise.all(listeners.map((l) => l.stopAccepting()));
      while (gateway.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      if (gateway.inflight > 0) logger.warn({ inflight: gateway.inflight }, 'drain deadline passed; closing connections');
      for (const l of listeners) l.destroyAll();
      await stopped;
      await admin?.close();
      await Promise.all([...runtime.pools.values()].map((p) => p.destroy().catch(() => undefined)));
      runtime.identity.retire(undefined); // closes the key store, writing its last-used times
      await runtime.abuse.close();
      logger.info('stopped');
      await telemetry.close();
    })();
    return shuttingDown;
  };

  if (opts.signals) {
    process.on('SIGHUP', () => void reload());
    const stop = () => void shutdown().then(() => process.exit(0));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  }

  return { gateway, listeners, admin, telemetry, config: () => runtime.config, reload, shutdown };
}
