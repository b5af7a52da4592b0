/**
 * Prometheus metrics of the gateway.
 *
 * Label values are bounded by construction: route ids, stage names, upstream names and
 * error codes come from the config and the registry, the method label is one of the
 * known methods or `OTHER`, the status label is a 3-digit status or `other`. Nothing a
 * client sends (raw path, query, IP, header) ever becomes a label. Child handles are
 * resolved once per label tuple: on the hot path `observe` and `upstreamError` do a few
 * map look-ups (a route id, a number combining method, status and outcome, a code, a
 * stage or upstream name) and add to typed arrays; they allocate nothing once each label
 * combination has been seen (see `fast-metrics.ts`). Label objects are built at scrape time.
 *
 * Cluster mode: each worker keeps its own registry and calls `exposeToPrimary(registry)`;
 * the primary serves `createAggregator().metrics()` (prom-client's `AggregatorRegistry`),
 * which sums counters and histograms over the workers. Gauges that every worker reports
 * alike (`config_info`, `config_loaded_timestamp_seconds`, `config_reload_total`) are
 * aggregated with `max`, so they are not multiplied by the number of workers.
 */
import { AggregatorRegistry, Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { CompletedContext } from '../pipeline/types.js';
import { FastCounter, FastGauge, FastHistogram } from './fast-metrics.js';

/** Kinds of upstream failure counted in `upstream_errors_total`. */
export type UpstreamErrorKind = 'connect' | 'timeout' | 'bad-response';

/** The gateway's metrics, on one registry. */
export interface GatewayMetrics {
  readonly registry: Registry;
  /** Count and time one completed request (requests, denials, durations, stages, upstream). Never throws. */
  observe(c: CompletedContext): void;
  /** Count an upstream failure. */
  upstreamError(upstream: string, kind: UpstreamErrorKind): void;
  /** Publish the running config revision (`config_info{revision}` = 1) and its load time. */
  setConfigInfo(revision: string, loadedAtMs: number): void;
  /** Count a config reload attempt. */
  reloadResult(ok: boolean): void;
  /** Requests in flight; the listener increments on arrival and decrements on completion. */
  inflight: InflightGauge;
}

/** The `inflight_requests` gauge: a plain number (prom-client's `Gauge.inc` allocates per call). */
export interface InflightGauge {
  inc(delta?: number): void;
  dec(delta?: number): void;
}

/** Options of `createMetrics`. */
export interface MetricsOptions {
  /** Register on this registry (default: a new one). */
  readonly registry?: Registry;
  /** Also collect Node's default process metrics (default true). */
  readonly collectDefault?: boolean;
  /** Metric name prefix (default `portcullis_`). Default Node metrics keep their standard names. */
  readonly prefix?: string;
}

/** Request duration buckets, seconds: 0.5 ms … 10 s. */
export const REQUEST_BUCKETS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);
/** Stage duration buckets, seconds: 10 µs … 100 ms. */
export const STAGE_BUCKETS: readonly number[] = Object.freeze([
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
]);

/** Method labels; the index of `OTHER` is 0. */
const METHODS: readonly string[] = ['OTHER', 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'];
const METHOD_INDEX: ReadonlyMap<string, number> = new Map(METHODS.slice(1).map((m, i) => [m, i + 1]));
const UPSTREAM_ERROR_KINDS: readonly UpstreamErrorKind[] = ['connect', 'timeout', 'bad-response'];

/** The `method` label: a known method, else `OTHER`. */
export function methodLabel(method: string): string {
  return METHOD_INDEX.has(method) ? method : 'OTHER';
}

/** The `status` label: a 3-digit status, else `other`. */
export function statusLabel(status: number): string {
  return Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : 'other';
}

/**
 * The `upstream` label. Inline upstreams are named by their URL, which may carry
 * credentials (`https://user:pass@host`) or a query: keep only origin and path.
 */
export function upstreamLabel(upstream: string): string {
  if (!upstream.includes('://')) return upstream.slice(0, 128);
  try {
    const u = new URL(upstream);
    return (u.origin + (u.pathname === '/' ? '' : u.pathname)).slice(0, 128);
  } catch {
    return 'invalid';
  }
}

/** Outcome labels by index; the four known ones first, others (not in the type) appended when seen. */
const OUTCOMES: string[] = ['allowed', 'denied', 'responded', 'error'];
const OUTCOME_DENIED = 1;

function outcomeIndex(outcome: string): number {
  switch (outcome) {
    case 'allowed':
      return 0;
    case 'denied':
      return 1;
    case 'responded':
      return 2;
    case 'error':
      return 3;
    default: {
      let i = OUTCOMES.indexOf(outcome);
      if (i < 0) i = OUTCOMES.push(String(outcome)) - 1;
      return i;
    }
  }
}

/**
 * The request counter key of a method index (0-9), a status (100-599, or 0 for `other`)
 * and an outcome index: a small integer, so the per-route look-up hashes no string.
 */
function requestKey(method: number, status: number, outcome: number): number {
  return (outcome * 16 + method) * 1024 + status;
}

/** The series slots of one route. */
interface RouteSeries {
  /** `request_duration_seconds{route}`. */
  readonly duration: number;
  /** `requestKey(...)` → `requests_total{route,method,status,outcome}`. */
  readonly requests: Map<number, number>;
  /** code → `denials_total{route,code}`. */
  readonly denials: Map<string, number>;
}

/** Create the gateway metrics on `opts.registry` (or a new registry). */
export function createMetrics(opts: MetricsOptions = {}): GatewayMetrics {
  const registry = opts.registry ?? new Registry();
  const p = opts.prefix ?? 'portcullis_';
  const registers = [registry];

  if (opts.collectDefault ?? true) collectDefaultMetrics({ register: registry });

  const requests = new FastCounter({
    name: `${p}requests_total`,
    help: 'Requests completed, by route, method, status and outcome.',
    labelNames: ['route', 'method', 'status', 'outcome'],
    registers,
  });
  const denials = new FastCounter({
    name: `${p}denials_total`,
    help: 'Requests denied, by route and error code.',
    labelNames: ['route', 'code'],
    registers,
  });
  const duration = new FastHistogram({
    name: `${p}request_duration_seconds`,
    help: 'Time from request arrival to the end of the response, by route.',
    labelNames: ['route'],
    buckets: REQUEST_BUCKETS,
    registers,
  });
  const stageDuration = new FastHistogram({
    name: `${p}stage_duration_seconds`,
    help: 'Time spent in each pipeline stage.',
    labelNames: ['stage'],
    buckets: STAGE_BUCKETS,
    registers,
  });
  const upstreamDuration = new FastHistogram({
    name: `${p}upstream_duration_seconds`,
    help: 'Time from request arrival to upstream response headers, by upstream.',
    labelNames: ['upstream'],
    buckets: REQUEST_BUCKETS,
    registers,
  });
  const upstreamErrors = new FastCounter({
    name: `${p}upstream_errors_total`,
    help: 'Upstream failures, by upstream and kind (connect, timeout, bad-response).',
    labelNames: ['upstream', 'kind'],
    registers,
  });
  const loadShed = new FastCounter({
    name: `${p}load_shed_total`,
    help: 'Requests refused with 503 overloaded: a concurrency limit (global or upstream) was reached and its queue was full or timed out, or the gateway was draining.',
    registers,
  });
  const inflight = new FastGauge({
    name: `${p}inflight_requests`,
    help: 'Requests being processed.',
    registers,
  });
  const configInfo = new Gauge({
    name: `${p}config_info`,
    help: 'The running config revision (value is always 1).',
    labelNames: ['revision'] as const,
    aggregator: 'max',
    registers,
  });
  const configLoaded = new Gauge({
    name: `${p}config_loaded_timestamp_seconds`,
    help: 'When the running config was loaded, Unix time in seconds.',
    aggregator: 'max',
    registers,
  });
  const reloads = new Counter({
    name: `${p}config_reload_total`,
    help: 'Config reload attempts, by result (success, failure).',
    labelNames: ['result'] as const,
    aggregator: 'max',
    registers,
  });
  // Present from the start, so a dashboard sees 0 rather than no series.
  reloads.labels('success').inc(0);
  reloads.labels('failure').inc(0);

  // Hot-path caches: raw key → series slot. Keys are config-bound (route ids, stage
  // names, upstream names as configured, error codes), so these maps stay small.
  const routes = new Map<string, RouteSeries>();
  const stages = new Map<string, number>();
  /** Raw upstream (as configured) → `upstream_duration_seconds{upstream}`. */
  const upstreams = new Map<string, number>();
  /** Raw upstream → `upstream_errors_total{upstream,kind}` slot per kind index (-1: not yet). */
  const upstreamErrorSlots = new Map<string, Int32Array>();

  const newRoute = (id: string): RouteSeries => {
    const rs: RouteSeries = { duration: duration.series(id), requests: new Map(), denials: new Map() };
    routes.set(id, rs);
    return rs;
  };

  const observe = (c: CompletedContext): void => {
    const r = c.request;
    const route = r.route;
    const id = route.id;
    const rs = routes.get(id) ?? newRoute(id);

    const method = METHOD_INDEX.get(r.method) ?? 0;
    const st = c.status;
    const status = st >= 100 && st <= 599 && Number.isInteger(st) ? st : 0;
    const outcome = outcomeIndex(c.outcome);
    const key = requestKey(method, status, outcome);
    let req = rs.requests.get(key);
    if (req === undefined) {
      req = requests.series(id, METHODS[method]!, status === 0 ? 'other' : String(status), OUTCOMES[outcome]!);
      rs.requests.set(key, req);
    }
    requests.inc(req);

    if (outcome === OUTCOME_DENIED && c.code !== undefined) {
      let d = rs.denials.get(c.code);
      if (d === undefined) {
        d = denials.series(id, c.code);
        rs.denials.set(c.code, d);
      }
      denials.inc(d);
      if (c.code === 'overloaded') loadShed.inc(0);
    }

    duration.observeMicros(rs.duration, c.totalUs);

    const timings = r.timings;
    for (let i = 0; i < timings.length; i++) {
      const t = timings[i]!;
      let s = stages.get(t.stage);
      if (s === undefined) {
        s = stageDuration.series(t.stage);
        stages.set(t.stage, s);
      }
      stageDuration.observeMicros(s, t.us);
    }

    if (c.upstreamUs !== undefined) {
      let u = upstreams.get(route.upstream);
      if (u === undefined) {
        u = upstreamDuration.series(upstreamLabel(route.upstream));
        upstreams.set(route.upstream, u);
      }
      upstreamDuration.observeMicros(u, c.upstreamUs);
    }
  };

  return {
    registry,
    inflight,
    observe(c: CompletedContext): void {
      try {
        observe(c);
      } catch {
        // Metrics must never break a request; a bad context only loses its sample.
      }
    },
    upstreamError(upstream: string, kind: UpstreamErrorKind): void {
      const k = kind === 'timeout' ? 1 : kind === 'bad-response' ? 2 : 0; // unknown kinds count as connect
      let slots = upstreamErrorSlots.get(upstream);
      if (slots === undefined) {
        slots = new Int32Array(UPSTREAM_ERROR_KINDS.length).fill(-1);
        upstreamErrorSlots.set(upstream, slots);
      }
      let slot = slots[k]!;
      if (slot < 0) {
        slot = upstreamErrors.series(upstreamLabel(upstream), UPSTREAM_ERROR_KINDS[k]!);
        slots[k] = slot;
      }
      upstreamErrors.inc(slot);
    },
    setConfigInfo(revision: string, loadedAtMs: number): void {
      configInfo.reset();
      configInfo.labels(revision.slice(0, 64)).set(1);
      configLoaded.set(loadedAtMs / 1000);
    },
    reloadResult(ok: boolean): void {
      reloads.labels(ok ? 'success' : 'failure').inc();
    },
  };
}

/** A source of Prometheus text, as the admin server's `metrics` dependency wants it. */
export interface MetricsSource {
  metrics(): Promise<{ contentType: string; body: string }>;
}

/** Serve one registry (single process, or a worker's own view). */
export function registrySource(registry: Registry): MetricsSource {
  return {
    async metrics() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

let workerResponder: object | undefined;

/**
 * In a cluster worker: answer the primary's aggregation requests from `registry`
 * (prom-client answers from its global registry otherwise).
 */
export function exposeToPrimary(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  // prom-client installs the worker's IPC responder only when an AggregatorRegistry is built.
  workerResponder ??= new AggregatorRegistry();
}

/**
 * In the cluster primary: the workers' metrics, aggregated (counters and histograms
 * summed). `primary`, if given, is appended as is; its metric names must not be used by
 * the workers (e.g. a registry holding only primary-side metrics).
 */
export function createAggregator(opts: { readonly primary?: Registry } = {}): MetricsSource {
  const aggregator = new AggregatorRegistry();
  return {
    async metrics() {
      let body = await aggregator.clusterMetrics();
      if (opts.primary !== undefined) {
        if (body !== '' && !body.endsWith('\n')) body += '\n';
        body += await opts.primary.metrics();
      }
      return { contentType: aggregator.contentType, body };
    },
  };
}
