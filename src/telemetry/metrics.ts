/**
 * Prometheus metrics of the gateway.
 *
 * Label values are bounded by construction: route ids, stage names, upstream names and
 * error codes come from the config and the registry, the method label is one of the
 * known methods or `OTHER`, the status label is a 3-digit status or `other`. Nothing a
 * client sends (raw path, query, IP, header) ever becomes a label. Child handles are
 * cached per label tuple so `observe` does map look-ups, not prom-client's label hashing.
 *
 * Cluster mode: each worker keeps its own registry and calls `exposeToPrimary(registry)`;
 * the primary serves `createAggregator().metrics()` (prom-client's `AggregatorRegistry`),
 * which sums counters and histograms over the workers. Gauges that every worker reports
 * alike (`config_info`, `config_loaded_timestamp_seconds`, `config_reload_total`) are
 * aggregated with `max`, so they are not multiplied by the number of workers.
 */
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CompletedContext } from '../pipeline/types.js';

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
  inflight: Gauge;
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

const KNOWN_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);
const UPSTREAM_ERROR_KINDS: ReadonlySet<string> = new Set<UpstreamErrorKind>(['connect', 'timeout', 'bad-response']);

/** The `method` label: a known method, else `OTHER`. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'OTHER';
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

interface RouteHandles {
  readonly duration: Histogram.Internal<string>;
  /** `method status outcome` → child. */
  readonly requests: Map<string, Counter.Internal>;
  /** code → child. */
  readonly denials: Map<string, Counter.Internal>;
}

/** Create the gateway metrics on `opts.registry` (or a new registry). */
export function createMetrics(opts: MetricsOptions = {}): GatewayMetrics {
  const registry = opts.registry ?? new Registry();
  const p = opts.prefix ?? 'portcullis_';
  const registers = [registry];

  if (opts.collectDefault ?? true) collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: `${p}requests_total`,
    help: 'Requests completed, by route, method, status and outcome.',
    labelNames: ['route', 'method', 'status', 'outcome'] as const,
    registers,
  });
  const denials = new Counter({
    name: `${p}denials_total`,
    help: 'Requests denied, by route and error code.',
    labelNames: ['route', 'code'] as const,
    registers,
  });
  const duration = new Histogram({
    name: `${p}request_duration_seconds`,
    help: 'Time from request arrival to the end of the response, by route.',
    labelNames: ['route'] as const,
    buckets: [...REQUEST_BUCKETS],
    registers,
  });
  const stageDuration = new Histogram({
    name: `${p}stage_duration_seconds`,
    help: 'Time spent in each pipeline stage.',
    labelNames: ['stage'] as const,
    buckets: [...STAGE_BUCKETS],
    registers,
  });
  const upstreamDuration = new Histogram({
    name: `${p}upstream_duration_seconds`,
    help: 'Time from request arrival to upstream response headers, by upstream.',
    labelNames: ['upstream'] as const,
    buckets: [...REQUEST_BUCKETS],
    registers,
  });
  const upstreamErrors = new Counter({
    name: `${p}upstream_errors_total`,
    help: 'Upstream failures, by upstream and kind (connect, timeout, bad-response).',
    labelNames: ['upstream', 'kind'] as const,
    registers,
  });
  const inflight = new Gauge({
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

  const routes = new Map<string, RouteHandles>();
  const stages = new Map<string, Histogram.Internal<string>>();
  const upstreams = new Map<string, Histogram.Internal<string>>();

  const routeHandles = (id: string): RouteHandles => {
    let h = routes.get(id);
    if (h === undefined) {
      h = { duration: duration.labels(id), requests: new Map(), denials: new Map() };
      routes.set(id, h);
    }
    return h;
  };

  const observe = (c: CompletedContext): void => {
    const r = c.request;
    const route = r.route.id;
    const h = routeHandles(route);

    const method = methodLabel(r.method);
    const status = statusLabel(c.status);
    const key = method + ' ' + status + ' ' + c.outcome;
    let req = h.requests.get(key);
    if (req === undefined) {
      req = requests.labels(route, method, status, c.outcome);
      h.requests.set(key, req);
    }
    req.inc();

    if (c.outcome === 'denied' && c.code !== undefined) {
      let d = h.denials.get(c.code);
      if (d === undefined) {
        d = denials.labels(route, c.code);
        h.denials.set(c.code, d);
      }
      d.inc();
    }

    h.duration.observe(c.totalUs / 1e6);

    for (const t of r.timings) {
      let s = stages.get(t.stage);
      if (s === undefined) {
        s = stageDuration.labels(t.stage);
        stages.set(t.stage, s);
      }
      s.observe(t.us / 1e6);
    }

    if (c.upstreamUs !== undefined) {
      let u = upstreams.get(r.route.upstream);
      if (u === undefined) {
        u = upstreamDuration.labels(upstreamLabel(r.route.upstream));
        upstreams.set(r.route.upstream, u);
      }
      u.observe(c.upstreamUs / 1e6);
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
      upstreamErrors.labels(upstreamLabel(upstream), UPSTREAM_ERROR_KINDS.has(kind) ? kind : 'connect').inc();
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
