import { test } from 'node:test';
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RegistryContentType } from 'prom-client';
import { createAggregator, createMetrics, exposeToPrimary, methodLabel, statusLabel, upstreamLabel } from '../src/telemetry/index.js';
import { FastCounter, FastGauge, FastHistogram } from '../src/telemetry/fast-metrics.js';
import { completed } from './telemetry-helpers.test.js';

if (cluster.isWorker) {
  // Worker side of the cluster aggregation test: one allowed request per worker.
  const m = createMetrics({ collectDefault: false });
  exposeToPrimary(m.registry);
  m.observe(completed());
  m.setConfigInfo('rev-cluster', 1_700_000_000_000);
  m.reloadResult(true);
  process.send?.('ready');
} else {
  registerTests();
}

function registerTests(): void {
  test('metrics: names and label values after observe()', async () => {
    const m = createMetrics({ collectDefault: false });
    m.observe(completed());
    m.observe(completed());
    m.observe(
      completed({
        method: 'BREW',
        status: 401,
        outcome: 'denied',
        code: 'unauthenticated',
        upstreamUs: undefined,
        route: { id: 'route:admin-ui', upstream: 'https://user:hunter2@internal.example:8443/base?x=1' },
        timings: [
          { stage: 'cors', us: 5 },
          { stage: 'authn', us: 30 },
        ],
      }),
    );
    m.observe(completed({ status: 502, outcome: 'error', code: 'upstream_unavailable', route: { id: 'route:admin-ui', upstream: 'https://user:hunter2@internal.example:8443/base?x=1' } }));
    m.upstreamError('https://user:hunter2@internal.example:8443/base', 'timeout');
    m.upstreamError('pets', 'connect');
    m.inflight.inc();
    m.setConfigInfo('old-revision', 1_000);
    m.setConfigInfo('abc123def456', 1_700_000_000_000);
    m.reloadResult(true);
    m.reloadResult(false);
    m.reloadResult(true);

    const text = await m.registry.metrics();
    const has = (s: string): void => assert.ok(text.includes(s), `missing: ${s}\n${text}`);
    has('portcullis_requests_total{route="petstore:getPet",method="GET",status="200",outcome="allowed"} 2');
    has('portcullis_requests_total{route="route:admin-ui",method="OTHER",status="401",outcome="denied"} 1');
    has('portcullis_requests_total{route="route:admin-ui",method="GET",status="502",outcome="error"} 1');
    has('portcullis_denials_total{route="route:admin-ui",code="unauthenticated"} 1');
    // Errors are not denials.
    assert.equal(text.includes('code="upstream_unavailable"'), false);
    has('portcullis_request_duration_seconds_bucket{le="0.0025",route="petstore:getPet"} 2');
    has('portcullis_request_duration_seconds_count{route="petstore:getPet"} 2');
    has('portcullis_stage_duration_seconds_count{stage="authn"} 4');
    has('portcullis_stage_duration_seconds_count{stage="cors"} 1');
    has('portcullis_stage_duration_seconds_bucket{le="0.00001",stage="cors"} 1');
    has('portcullis_upstream_duration_seconds_count{upstream="pets"} 2');
    has('portcullis_upstream_duration_seconds_count{upstream="https://internal.example:8443/base"} 1');
    has('portcullis_upstream_errors_total{upstream="https://internal.example:8443/base",kind="timeout"} 1');
    has('portcullis_upstream_errors_total{upstream="pets",kind="connect"} 1');
    has('portcullis_inflight_requests 1');
    has('portcullis_config_info{revision="abc123def456"} 1');
    assert.equal(text.includes('old-revision'), false);
    has('portcullis_config_loaded_timestamp_seconds 1700000000');
    has('portcullis_config_reload_total{result="success"} 2');
    has('portcullis_config_reload_total{result="failure"} 1');
    // No credential, client address or raw path in any label.
    for (const s of ['hunter2', '203.0.113.7', '/pets/42', 'x=1']) assert.equal(text.includes(s), false, s);
    // Default metrics are off here.
    assert.equal(text.includes('process_cpu'), false);
  });

  test('metrics: bounded label helpers', () => {
    assert.equal(methodLabel('GET'), 'GET');
    assert.equal(methodLabel('get'), 'OTHER');
    assert.equal(methodLabel('PROPFIND'), 'OTHER');
    assert.equal(statusLabel(204), '204');
    assert.equal(statusLabel(99), 'other');
    assert.equal(statusLabel(600), 'other');
    assert.equal(statusLabel(200.5), 'other');
    assert.equal(upstreamLabel('pets'), 'pets');
    assert.equal(upstreamLabel('http://u:p@h:80/'), 'http://h');
    assert.equal(upstreamLabel('http://[bad'), 'invalid');
  });

  test('metrics: default Node metrics on a shared registry, and a custom prefix', async () => {
    const registry = new Registry();
    const m = createMetrics({ registry, prefix: 'gw_' });
    assert.equal(m.registry, registry);
    const text = await registry.metrics();
    assert.ok(text.includes('process_cpu_user_seconds_total'));
    assert.ok(text.includes('nodejs_eventloop_lag_seconds'));
    assert.ok(text.includes('gw_requests_total'));
  });

  test('metrics: observe() never throws', () => {
    const m = createMetrics({ collectDefault: false });
    m.observe({ request: undefined } as never);
  });

  test('metrics: cluster primary aggregates worker registries', async () => {
    cluster.setupPrimary({ exec: fileURLToPath(import.meta.url), execArgv: [], silent: true });
    const workers = [cluster.fork(), cluster.fork()];
    try {
      await Promise.all(workers.map((w) => new Promise<void>((resolve) => w.once('message', () => resolve()))));
      const { contentType, body } = await createAggregator().metrics();
      assert.match(contentType, /^text\/plain/);
      assert.ok(body.includes('portcullis_requests_total{route="petstore:getPet",method="GET",status="200",outcome="allowed"} 2'), body);
      // Reported alike by every worker: not multiplied by the worker count.
      assert.ok(body.includes('portcullis_config_info{revision="rev-cluster"} 1'), body);
      assert.ok(body.includes('portcullis_config_reload_total{result="success"} 1'), body);
    } finally {
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve) => {
              w.once('exit', () => resolve());
              w.kill();
            }),
        ),
      );
    }
  });

  test('metrics: fast metrics export exactly what prom-client exports', async () => {
    const nativeReg = new Registry();
    const fastReg = new Registry();
    const buckets = [0.001, 0.01, 0.1, 1];
    const h = new Histogram({ name: 'h_seconds', help: 'H.', labelNames: ['route'], buckets, registers: [nativeReg] });
    const fh = new FastHistogram({ name: 'h_seconds', help: 'H.', labelNames: ['route'], buckets, registers: [fastReg] });
    const c = new Counter({ name: 'c_total', help: 'C.', labelNames: ['route', 'code'], registers: [nativeReg] });
    const fc = new FastCounter({ name: 'c_total', help: 'C.', labelNames: ['route', 'code'], registers: [fastReg] });
    const g = new Gauge({ name: 'g', help: 'G.', registers: [nativeReg] });
    const fg = new FastGauge({ name: 'g', help: 'G.', registers: [fastReg] });
    new Histogram({ name: 'empty_seconds', help: 'E.', labelNames: ['x'], registers: [nativeReg] });
    new FastHistogram({ name: 'empty_seconds', help: 'E.', labelNames: ['x'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [fastReg] });
    // Boundaries, above the last bucket, zero, two series.
    for (const [route, v] of [['a', 0.001], ['a', 0.0005], ['b', 5], ['a', 0.1], ['b', 0], ['a', 0.05]] as const) {
      h.labels(route).observe(v);
      fh.observe(fh.series(route), v);
    }
    fh.observeMicros(fh.series('b'), 2500);
    h.labels('b').observe(2500 / 1e6);
    c.labels('a', 'x').inc();
    c.labels('a', 'x').inc(2);
    c.labels('b', 'y').inc();
    fc.inc(fc.series('a', 'x'));
    fc.add(fc.series('a', 'x'), 2);
    fc.inc(fc.series('b', 'y'));
    g.inc(3);
    g.dec();
    fg.inc(3);
    fg.dec();
    // Non-finite observations are ignored (prom-client throws; observe() used to swallow that).
    fh.observe(fh.series('a'), Number.NaN);
    fh.observeMicros(fh.series('a'), Number.POSITIVE_INFINITY);

    assert.deepEqual(await fh.get(), await h.get());
    assert.deepEqual(await fh.getForPromString(), await (h as unknown as { getForPromString(): Promise<unknown> }).getForPromString());
    assert.deepEqual(await fc.get(), await c.get());
    assert.deepEqual(await fg.get(), await g.get());
    assert.deepEqual(await fastReg.getMetricsAsJSON(), await nativeReg.getMetricsAsJSON());
    assert.equal(await fastReg.metrics(), await nativeReg.metrics());
    // Same with registry default labels and OpenMetrics (label order, counter names).
    for (const r of [fastReg, nativeReg] as unknown as Registry<RegistryContentType>[]) {
      r.setDefaultLabels({ host: 'h1' });
      r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    }
    assert.equal(await fastReg.metrics(), await nativeReg.metrics());
    assert.deepEqual(await fastReg.getMetricsAsJSON(), await nativeReg.getMetricsAsJSON());

    // A series slot is stable; one per label tuple.
    assert.equal(fc.series('a', 'x'), fc.series('a', 'x'));
    assert.notEqual(fc.series('a', 'x'), fc.series('a', 'y'));
    assert.throws(() => fc.series('a'), /label values/);
    assert.throws(() => new FastCounter({ name: 'bad-name', help: 'x' }), /Invalid metric name/);
    assert.throws(() => new FastCounter({ name: 'c_total', help: 'C.', registers: [fastReg] }), /already been registered/);
    assert.throws(() => fc.add(0, -1), /Invalid counter increment/);
    fh.reset();
    const [first] = (await fh.get()).values;
    assert.equal(first?.value, 0);
  });

  test('metrics: bounded labels in observe(): status other, one upstream series per label', async () => {
    const m = createMetrics({ collectDefault: false });
    m.observe(completed({ status: 99 }));
    m.observe(completed({ status: 200.5, method: 'PROPFIND' }));
    m.observe(completed({ status: 600 }));
    m.observe(completed({ route: { id: 'x', upstream: 'https://a:1@up.example/p?q=1' } }));
    m.observe(completed({ route: { id: 'x', upstream: 'https://b:2@up.example/p' } }));
    m.upstreamError('https://a:1@up.example/p?q=1', 'bad-response');
    m.upstreamError('https://b:2@up.example/p', 'bad-response');
    m.upstreamError('pets', 'nonsense' as never);
    const text = await m.registry.metrics();
    const has = (s: string): void => assert.ok(text.includes(s), `missing: ${s}\n${text}`);
    has('portcullis_requests_total{route="petstore:getPet",method="GET",status="other",outcome="allowed"} 2');
    has('portcullis_requests_total{route="petstore:getPet",method="OTHER",status="other",outcome="allowed"} 1');
    has('portcullis_upstream_duration_seconds_count{upstream="https://up.example/p"} 2');
    assert.equal(text.split('\n').filter((l) => l.startsWith('portcullis_upstream_duration_seconds_count{upstream="https://up.example/p"}')).length, 1);
    has('portcullis_upstream_errors_total{upstream="https://up.example/p",kind="bad-response"} 2');
    has('portcullis_upstream_errors_total{upstream="pets",kind="connect"} 1');
    has('portcullis_request_duration_seconds_count{route="x"} 2');
    m.inflight.inc();
    m.inflight.inc();
    m.inflight.dec();
    has('portcullis_inflight_requests 0');
    assert.ok((await m.registry.metrics()).includes('portcullis_inflight_requests 1'));
  });

  test('metrics: observe cost and allocation (micro-benchmark; allocation loosely asserted)', () => {
    const m = createMetrics({ collectDefault: false });
    const contexts = [
      completed(),
      completed({ status: 404, outcome: 'denied', code: 'route_not_found', upstreamUs: undefined }),
      completed({ method: 'POST', route: { id: 'petstore:addPet' }, timings: [{ stage: 'cors', us: 3 }, { stage: 'authn', us: 20 }] }),
    ];
    const ops: [string, (i: number) => void][] = [
      ['observe', (i) => m.observe(contexts[i % 3]!)],
      ['upstreamError', () => m.upstreamError('pets', 'timeout')],
      ['inflight.inc', () => m.inflight.inc(1)],
    ];
    for (const [name, op] of ops) {
      for (let i = 0; i < 100_000; i++) op(i); // warm-up: series created, code optimized
      const n = 1_000_000;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) op(i);
      const ns = Number(process.hrtime.bigint() - t0) / n;
      // Bytes allocated per call: heap growth over chunks of calls with no GC inside
      // (a chunk during which a scavenge ran shows a shrinking heap and is skipped).
      const chunk = 300;
      let bytes = 0;
      let calls = 0;
      for (let k = 0; k < 3000; k++) {
        const h0 = getHeapStatistics().used_heap_size;
        for (let i = 0; i < chunk; i++) op(i);
        const h1 = getHeapStatistics().used_heap_size;
        if (h1 >= h0) {
          bytes += h1 - h0;
          calls += chunk;
        }
      }
      // getHeapStatistics() itself allocates a little per chunk: this is an upper bound.
      const perCall = bytes / calls;
      console.log(`metrics.${name}: ${ns.toFixed(1)} ns/op, ≤ ${perCall.toFixed(2)} B/op allocated (${calls / chunk} GC-free chunks)`);
      // prom-client children allocated ~1 KB per observe(), ~400 B per upstreamError(), 56 B per Gauge.inc().
      if (calls >= 100 * chunk) assert.ok(perCall < 8, `${name} allocates ${perCall.toFixed(2)} B/op`);
    }
  });
}
