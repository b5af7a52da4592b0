/**
 * Allocation-free counters, histograms and a gauge for the per-request hot path.
 *
 * prom-client hashes a label object into a string on every `inc`/`observe`, which costs
 * little in isolation but allocates on every request, and under load every allocated
 * byte brings the next scavenge closer (each one copies all in-flight request state).
 * These metrics keep their values in typed arrays indexed by a series slot: the caller
 * looks a slot up once per label combination (`series(...)`) and afterwards only does
 * `inc(slot)` / `observe(slot, v)`, which touch nothing but numbers. Label objects are
 * built once per series and the exported values only at scrape time.
 *
 * Each metric is registered on a prom-client `Registry` (`registerMetric`) and its
 * `get()` returns exactly what prom-client's own Counter / Histogram / Gauge return, so
 * `registry.metrics()`, `getMetricsAsJSON()` and the cluster `AggregatorRegistry`
 * (which sums the workers' `get()` results) treat them like native metrics.
 */
import type { Metric, OpenMetricsContentType, PrometheusContentType, Registry } from 'prom-client';

type AnyRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>;

/** A label set as prom-client exports it. */
export type LabelSet = Record<string, string | number>;

/** One exported sample, shaped like prom-client's. */
export interface SampleValue {
  value: number;
  labels: LabelSet;
  metricName?: string;
  /** Histogram samples of `getForPromString()`: the series labels, printed after `labels`. */
  sharedLabels?: LabelSet;
  exemplar?: null;
}

/** What `get()` returns, shaped like prom-client's `MetricObjectWithValues`. */
export interface MetricSnapshot {
  help: string;
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: SampleValue[];
  aggregator: 'sum';
}

interface FastMetricConfig {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly string[];
  readonly registers?: readonly AnyRegistry[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const SEP = '\u0000';

abstract class FastMetric {
  /** Mutable like prom-client's (an OpenMetrics registry rewrites counter names). */
  name: string;
  readonly help: string;
  readonly aggregator = 'sum' as const;
  readonly labelNames: readonly string[];
  abstract readonly type: MetricSnapshot['type'];

  /** Label values joined by NUL → slot: the slow path that creates series. */
  protected readonly slots = new Map<string, number>();
  /** Slot → label object, in creation order. */
  protected readonly seriesLabels: LabelSet[] = [];

  constructor(cfg: FastMetricConfig) {
    if (!METRIC_NAME.test(cfg.name)) throw new Error('Invalid metric name');
    const labelNames = cfg.labelNames ?? [];
    if (!labelNames.every((l) => LABEL_NAME.test(l))) throw new Error('Invalid label name');
    this.name = cfg.name;
    this.help = cfg.help;
    this.labelNames = [...labelNames];
  }

  /** Register on each registry (after the subclass has set up its storage). */
  protected register(registers: readonly AnyRegistry[] | undefined): void {
    for (const r of registers ?? []) r.registerMetric(this as unknown as Metric);
  }

  /**
   * The slot of the series with these label values (in `labelNames` order), created on
   * first use. Not for the hot path: cache the slot.
   */
  series(...values: string[]): number {
    if (values.length !== this.labelNames.length) {
      throw new Error(`Invalid number of label values (${values.length}) for label names (${this.labelNames.length}) of ${this.name}`);
    }
    const key = values.join(SEP);
    let slot = this.slots.get(key);
    if (slot === undefined) {
      const labels: LabelSet = {};
      for (let i = 0; i < values.length; i++) labels[this.labelNames[i]!] = values[i]!;
      slot = this.seriesLabels.length;
      this.seriesLabels.push(labels);
      this.slots.set(key, slot);
      this.grow(slot + 1);
    }
    return slot;
  }

  /** Make room for `n` series. */
  protected abstract grow(n: number): void;

  /** prom-client's `reset()`: values back to zero (cached slots stay valid). */
  abstract reset(): void;

  abstract get(): Promise<MetricSnapshot>;
}

function grown(a: Float64Array, need: number): Float64Array {
  if (need <= a.length) return a;
  const b = new Float64Array(Math.max(need, a.length * 2, 8));
  b.set(a);
  return b;
}

/** A counter; `inc(slot)` neither allocates nor hashes. */
export class FastCounter extends FastMetric {
  readonly type = 'counter' as const;
  private values: Float64Array = new Float64Array(8);

  constructor(cfg: FastMetricConfig) {
    super(cfg);
    // Like prom-client: a counter without labels exports its single series (0) from the start.
    if (this.labelNames.length === 0) this.series();
    this.register(cfg.registers);
  }

  protected grow(n: number): void {
    this.values = grown(this.values, n);
  }

  /** Add 1 to the series in `slot`. */
  inc(slot: number): void {
    this.values[slot]! += 1;
  }

  /** Add `v` (finite, ≥ 0) to the series in `slot`. */
  add(slot: number, v: number): void {
    if (!(v >= 0) || v === Infinity) throw new TypeError(`Invalid counter increment: ${v}`);
    this.values[slot]! += v;
  }

  reset(): void {
    this.values.fill(0);
  }

  async get(): Promise<MetricSnapshot> {
    const values: SampleValue[] = [];
    for (let i = 0; i < this.seriesLabels.length; i++) values.push({ value: this.values[i]!, labels: this.seriesLabels[i]! });
    return { help: this.help, name: this.name, type: this.type, values, aggregator: this.aggregator };
  }
}

/**
 * A histogram; `observe(slot, v)` neither allocates nor hashes. Per series the storage
 * holds one (non-cumulative) count per upper bound, then the sum, then the count.
 */
export class FastHistogram extends FastMetric {
  readonly type = 'histogram' as const;
  readonly upperBounds: readonly number[];
  private readonly bounds: Float64Array;
  private readonly stride: number;
  private data: Float64Array;

  constructor(cfg: FastMetricConfig & { readonly buckets: readonly number[] }) {
    super(cfg);
    if (this.labelNames.includes('le')) throw new Error('le is a reserved label keyword');
    this.upperBounds = Object.freeze([...cfg.buckets]);
    this.bounds = Float64Array.from(this.upperBounds);
    this.stride = this.upperBounds.length + 2;
    this.data = new Float64Array(this.stride * 8);
    if (this.labelNames.length === 0) this.series();
    this.register(cfg.registers);
  }

  protected grow(n: number): void {
    this.data = grown(this.data, n * this.stride);
  }

  /** Observe `v` in the series in `slot`. Non-finite values are ignored. */
  observe(slot: number, v: number): void {
    if (v - v !== 0) return; // NaN or ±Infinity
    this.record(slot, v);
  }

  /** Observe `us` microseconds as seconds (`us / 1e6`). Non-finite values are ignored. */
  observeMicros(slot: number, us: number): void {
    if (us - us !== 0) return;
    this.record(slot, us / 1e6);
  }

  private record(slot: number, v: number): void {
    const d = this.data;
    const b = this.bounds;
    const base = slot * this.stride;
    const n = b.length;
    let i = 0;
    while (i < n && !(v <= b[i]!)) i++;
    if (i < n) d[base + i]! += 1;
    d[base + n]! += v;
    d[base + n + 1]! += 1;
  }

  reset(): void {
    this.data.fill(0);
  }

  /** prom-client's `Histogram.get()`: the series labels merged into each sample's labels. */
  async get(): Promise<MetricSnapshot> {
    return this.snapshot(true);
  }

  /**
   * prom-client's `Histogram.getForPromString()` (what `Registry.metrics()` prefers): the
   * series labels kept apart as `sharedLabels`, so the text puts them after `le` and any
   * registry default labels exactly as prom-client does.
   */
  async getForPromString(): Promise<MetricSnapshot> {
    return this.snapshot(false);
  }

  private snapshot(splay: boolean): MetricSnapshot {
    const bucketName = `${this.name}_bucket`;
    const sumName = `${this.name}_sum`;
    const countName = `${this.name}_count`;
    const n = this.upperBounds.length;
    const values: SampleValue[] = [];
    const sample = (value: number, metricName: string, labels: LabelSet, shared: LabelSet, exemplar: null | undefined): SampleValue => {
      if (!splay) return { labels, sharedLabels: shared, value, metricName, exemplar };
      Object.assign(labels, shared);
      return { value, metricName, exemplar, labels };
    };
    for (let s = 0; s < this.seriesLabels.length; s++) {
      const shared = this.seriesLabels[s]!;
      const base = s * this.stride;
      let acc = 0;
      for (let i = 0; i < n; i++) {
        acc += this.data[base + i]!;
        values.push(sample(acc, bucketName, { le: this.upperBounds[i]! }, shared, null));
      }
      const count = this.data[base + n + 1]!;
      values.push(
        sample(count, bucketName, { le: '+Inf' }, shared, null),
        sample(this.data[base + n]!, sumName, {}, shared, undefined),
        sample(count, countName, {}, shared, undefined),
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

/** A gauge without labels, backed by a plain number. */
export class FastGauge extends FastMetric {
  readonly type = 'gauge' as const;
  private value = 0;

  constructor(cfg: Omit<FastMetricConfig, 'labelNames'>) {
    super(cfg);
    this.register(cfg.registers);
  }

  protected grow(): void {}

  inc(delta = 1): void {
    if (typeof delta !== 'number') throw new TypeError(`Delta is not a valid number: ${String(delta)}`);
    this.value += delta;
  }

  dec(delta = 1): void {
    if (typeof delta !== 'number') throw new TypeError(`Delta is not a valid number: ${String(delta)}`);
    this.value -= delta;
  }

  set(value: number): void {
    this.value = value;
  }

  reset(): void {
    this.value = 0;
  }

  async get(): Promise<MetricSnapshot> {
    return { help: this.help, name: this.name, type: this.type, values: [{ value: this.value, labels: {} }], aggregator: this.aggregator };
  }
}
