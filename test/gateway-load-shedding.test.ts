/**
 * Load shedding on a running gateway: the global concurrency limit with its bounded queue, a
 * per-upstream limit, no slot leaked by clients that give up, and the admin listener staying
 * responsive while another process floods the gateway port (real sockets throughout).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { Limiter } from '../src/proxy/limiter.js';
import { startTestGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';

/** An upstream that answers after `?ms=` and records the most requests it had at once. */
async function slowUpstream(): Promise<Upstream & { peak: () => number }> {
  let active = 0;
  let peak = 0;
  const up = await startUpstream((req, res) => {
    active++;
    peak = Math.max(peak, active);
    const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms') ?? '0');
    setTimeout(() => {
      active--;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    }, ms);
  });
  return Object.assign(up, { peak: () => peak });
}

const config = (a: string, b: string, shedding: string, adminPort = 'enabled: false') => `version: 1
listeners: [{ host: 127.0.0.1, port: 0 }]
admin: { ${adminPort} }
telemetry: { audit: { enabled: true } }
${shedding}
upstreams:
  a: { url: "${a}" }
  b: { url: "${b}", loadShedding: { maxConcurrent: 1, maxQueue: 0 } }
routes:
  - { name: a, methods: [GET], path: /a/*, upstream: a, public: true }
  - { name: b, methods: [GET], path: /b/*, upstream: b, public: true }
`;

describe('limiter', () => {
  it('runs up to the limit, queues FIFO up to the bound, expires waiters, and skips cancelled ones', async () => {
    const l = new Limiter({ maxConcurrent: 2, maxQueue: 2, queueTimeoutMs: 50 });
    assert.ok(l.tryAcquire() && l.tryAcquire());
    assert.equal(l.tryAcquire(), false);
    const order: string[] = [];
    const t1 = l.enqueue(() => order.push('w1'), () => order.push('x1'));
    const t2 = l.enqueue(() => order.push('w2'), () => order.push('x2'));
    assert.ok(t1 && t2);
    assert.equal(l.enqueue(() => order.push('w3'), () => order.push('x3')), undefined, 'queue full');
    t1.cancel();
    l.release();
    assert.deepEqual(order, ['w2'], 'the cancelled waiter is skipped');
    assert.equal(l.active, 2);
    const t4 = l.enqueue(() => order.push('w4'), () => order.push('x4'));
    assert.ok(t4);
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(order, ['w2', 'x4'], 'expired after the queue timeout');
    assert.equal(l.waiting, 0);
    l.release();
    l.release();
    assert.equal(l.active, 0);
    assert.equal(l.tryAcquire(), true);
  });
});

describe('load shedding on a running gateway', () => {
  let a: Upstream & { peak: () => number };
  let b: Upstream & { peak: () => number };
  let gw: TestGateway;
  before(async () => {
    a = await slowUpstream();
    b = await slowUpstream();
    gw = await startTestGateway(config(a.url, b.url, 'loadShedding: { maxConcurrent: 2, maxQueue: 2, queueTimeoutMs: 400, retryAfterSeconds: 3 }'));
  });
  after(async () => {
    await gw.close();
    await a.close();
    await b.close();
  });

  it('beyond the limit and the queue: 503 overloaded with Retry-After at once; queued requests time out with 503', async () => {
    const t0 = Date.now();
    const results = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const res = await request(`${gw.url}/a/x?ms=700`);
        const body = await res.body.text();
        return { status: res.statusCode, retry: res.headers['retry-after'], code: body.startsWith('{"type"') ? (JSON.parse(body) as { code: string }).code : '', ms: Date.now() - t0 };
      }),
    );
    const ok = results.filter((r) => r.status === 200);
    const shed = results.filter((r) => r.status === 503);
    assert.equal(ok.length, 2, JSON.stringify(results));
    assert.equal(shed.length, 4);
    for (const r of shed) {
      assert.equal(r.code, 'overloaded');
      assert.equal(r.retry, '3');
    }
    // Two refused at once (queue full), two after waiting 400 ms in the queue: the queued ones
    // cannot be refused before their timer (a lower bound, whatever the load), and the others
    // were refused before them.
    const ms = shed.map((r) => r.ms).sort((x, y) => x - y);
    assert.ok(ms[2]! >= 390, `the queued ones waited the queue timeout: ${JSON.stringify(results)}`);
    assert.ok(ms[1]! < ms[2]!, JSON.stringify(results));
    assert.ok(a.peak() <= 2, `upstream saw ${a.peak()} at once`);
    const events = await gw.waitEvents(6);
    const reasons = events.filter((e) => e.code === 'overloaded').map((e) => String(e.reason));
    assert.equal(reasons.filter((r) => r.includes('the queue is full')).length, 2);
    assert.equal(reasons.filter((r) => r.includes('no slot within 400 ms')).length, 2);
  });

  it('queued requests run in turn when slots free up, and a client that gives up leaks no slot', async () => {
    // Its own gateway with a patient queue: on a loaded machine the slots may take longer than
    // the 400 ms above to free, and this test is about order and leaks, not the timeout.
    const gw = await startTestGateway(config(a.url, b.url, 'loadShedding: { maxConcurrent: 2, maxQueue: 2, queueTimeoutMs: 10000 }'));
    try {
      const limiter = gw.handle.gateway.limiter;
      // Polls the limiter's state rather than sleeping: on a loaded machine a request may take a
      // while to arrive.
      const reach = async (what: string, cond: () => boolean) => {
        const end = Date.now() + 20_000;
        while (!cond()) {
          assert.ok(Date.now() < end, `timed out waiting for ${what}`);
          await new Promise((r) => setTimeout(r, 5));
        }
      };
      // Long enough that the two others are queued behind them, however slow the machine.
      const first = Array.from({ length: 2 }, () => request(`${gw.url}/a/x?ms=2000`));
      await reach('both slots taken', () => limiter.active === 2);
      // Waits in the queue, then gives up.
      const gone = new AbortController();
      const abandoned = request(`${gw.url}/a/x?ms=10`, { signal: gone.signal }).catch((e: Error) => e);
      await reach('the first one queued', () => limiter.waiting === 1);
      const queued = request(`${gw.url}/a/x?ms=10`);
      await reach('the second one queued', () => limiter.waiting === 2);
      gone.abort();
      assert.ok((await abandoned) instanceof Error);
      for (const res of await Promise.all(first)) {
        assert.equal(res.statusCode, 200);
        await res.body.dump();
      }
      const q = await queued;
      assert.equal(q.statusCode, 200, 'the queued request ran once a slot freed');
      await q.body.dump();
      await reach('every slot back', () => limiter.active === 0);
      assert.equal(limiter.waiting, 0);
    } finally {
      await gw.close();
    }
  });

  it('a per-upstream limit sheds for that upstream only', async () => {
    const slowB = request(`${gw.url}/b/x?ms=300`);
    await new Promise((r) => setTimeout(r, 50));
    const [second, other] = await Promise.all([request(`${gw.url}/b/x`), request(`${gw.url}/a/x`)]);
    assert.equal(second.statusCode, 503);
    assert.equal(((await second.body.json()) as { code: string }).code, 'overloaded');
    assert.equal(other.statusCode, 200, 'upstream a is not affected');
    await other.body.dump();
    const first = await slowB;
    assert.equal(first.statusCode, 200);
    await first.body.dump();
    const e = (await gw.waitEvents(1)).find((ev) => ev.code === 'overloaded' && String(ev.reason).startsWith('upstream b'));
    assert.ok(e, 'the audit event names the upstream');
  });
});

describe('health and admin stay responsive under a flood', () => {
  it('while another process floods the gateway port, /healthz, /readyz and /metrics answer promptly', { timeout: 60_000 }, async () => {
    const a = await slowUpstream();
    const b = await slowUpstream();
    const gw = await startTestGateway(config(a.url, b.url, 'loadShedding: { maxConcurrent: 20, maxQueue: 20, queueTimeoutMs: 300 }', 'port: 0').replace('audit: { enabled: true }', 'audit: { enabled: false }'));
    try {
      const probe = async (): Promise<number[]> => {
        const out: number[] = [];
        for (const path of ['/healthz', '/readyz', '/metrics']) {
          const t0 = Date.now();
          const res = await request(`${gw.adminUrl}${path}`);
          await res.body.dump();
          out.push(Date.now() - t0);
          assert.equal(res.statusCode, 200, path);
        }
        return out;
      };
      // The same probes on the quiet gateway first: the machine's own latency today.
      const quiet: number[] = [];
      for (let i = 0; i < 10; i++) quiet.push(...(await probe()));
      quiet.sort((x, y) => x - y);
      const quietP50 = quiet[Math.floor(quiet.length / 2)]!;
      const flood = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { Pool } from 'undici';
const pool = new Pool(process.argv[1], { connections: 200, pipelining: 1 });
const counts = {};
const until = Date.now() + Number(process.argv[2]);
async function loop() {
  while (Date.now() < until) {
    try {
      const r = await pool.request({ path: '/a/flood?ms=500', method: 'GET' });
      await r.body.dump();
      counts[r.statusCode] = (counts[r.statusCode] ?? 0) + 1;
    } catch (e) { counts.error = (counts.error ?? 0) + 1; }
  }
}
await Promise.all(Array.from({ length: 200 }, loop));
await pool.close();
process.stdout.write(JSON.stringify(counts));`,
          gw.url,
          '3000',
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      flood.stdout.on('data', (c: Buffer) => (out += c.toString()));
      const exited = new Promise<number | null>((r) => flood.once('exit', r));
      await new Promise((r) => setTimeout(r, 300));
      const latencies: number[] = [];
      const deadline = Date.now() + 2000;
      while (Date.now() < deadline) {
        latencies.push(...(await probe()));
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(await exited, 0);
      const counts = JSON.parse(out) as Record<string, number>;
      latencies.sort((x, y) => x - y);
      const p50 = latencies[Math.floor(latencies.length / 2)]!;
      const p90 = latencies[Math.floor(latencies.length * 0.9)]!;
      const max = latencies.at(-1)!;
      console.log(`# flood: ${JSON.stringify(counts)}; admin probes: ${latencies.length}, p50 ${p50} ms, p90 ${p90} ms, max ${max} ms (before the flood: p50 ${quietP50} ms)`);
      assert.ok((counts['503'] ?? 0) > 100, `the flood was shed: ${out}`);
      assert.ok((counts['200'] ?? 0) > 0, `some requests were served: ${out}`);
      assert.ok(a.peak() <= 20, `the upstream saw ${a.peak()} at once`);
      // An unshed flood of 200 connections holds probes for seconds. The bounds allow for a
      // shared, busy machine: the median against the same machine's quiet median (10x, at
      // least 100 ms), and nine probes in ten under a second (a descheduled moment may hit one).
      assert.ok(p50 < Math.max(100, 10 * quietP50), `admin p50 ${p50} ms (quiet: ${quietP50} ms)`);
      assert.ok(p90 < 1000, `admin p90 ${p90} ms`);
      const end = Date.now() + 5000;
      while (gw.handle.gateway.limiter.active !== 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      assert.equal(gw.handle.gateway.limiter.active, 0, 'every slot back after the flood');
    } finally {
      await gw.close();
      await a.close();
      await b.close();
    }
  });
});
