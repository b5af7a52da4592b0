import { test } from 'node:test';
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { createAggregator, createMetrics, exposeToPrimary, methodLabel, statusLabel, upstreamLabel } from '../src/telemetry/index.js';
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

  test('metrics: observe cost (micro-benchmark, not asserted)', () => {
    const m = createMetrics({ collectDefault: false });
    const contexts = [
      completed(),
      completed({ status: 404, outcome: 'denied', code: 'route_not_found', upstreamUs: undefined }),
      completed({ method: 'POST', route: { id: 'petstore:addPet' }, timings: [{ stage: 'cors', us: 3 }, { stage: 'authn', us: 20 }] }),
    ];
    const n = 300_000;
    for (let i = 0; i < 30_000; i++) m.observe(contexts[i % 3]!);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) m.observe(contexts[i % 3]!);
    const ns = Number(process.hrtime.bigint() - t0) / n;
    console.log(`metrics.observe: ${ns.toFixed(0)} ns/op`);
  });
}
