import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { runComplete, runRequest, runResponse, type RunResult } from '../src/pipeline/runner.js';
import type { ChainEntry, CompletedContext, Decision, RequestContext, Stage, StageMode, FailureMode, StageName } from '../src/pipeline/types.js';
import { newRequestContext } from '../src/server/gateway.js';
import { passthroughConfig, startTestGateway, startUpstream } from './helpers.js';

function ctx(): RequestContext {
  return newRequestContext('r1', performance.now(), 'GET', '/', '', {}, { ip: '127.0.0.1', peerIp: '127.0.0.1', tls: false, httpVersion: '1.1', certificate: undefined });
}

function stage(name: StageName, answer: () => Decision | Promise<Decision>, calls: string[]): Stage {
  return {
    name,
    onRequest: () => {
      calls.push(name);
      return answer();
    },
    onResponse: () => {
      calls.push(`${name}:response`);
      return answer();
    },
  };
}

const deny: Decision = { action: 'deny', code: 'unauthenticated', reason: 'test' };
const cont: Decision = { action: 'continue' };

function entry(s: Stage, mode: StageMode = 'enforce', onError: FailureMode = 'fail-closed'): ChainEntry {
  return { stage: s, mode, onError };
}

async function result(r: RunResult | Promise<RunResult>): Promise<RunResult> {
  return r;
}

describe('pipeline runner: modes and failure policy in one place', () => {
  it('enforce: a deny stops the chain; later stages are not called', async () => {
    const calls: string[] = [];
    const c = ctx();
    const r = await result(runRequest([entry(stage('cors', () => cont, calls)), entry(stage('authn', () => deny, calls)), entry(stage('security-headers', () => cont, calls))], c));
    assert.equal(r.decision.action, 'deny');
    assert.equal(r.stage, 'authn');
    assert.deepEqual(calls, ['cors', 'authn']);
    assert.deepEqual(c.findings, [{ stage: 'authn', code: 'unauthenticated', reason: 'test', monitored: false }]);
    assert.deepEqual(
      c.timings.map((t) => t.stage),
      ['cors', 'authn'],
    );
  });

  it('monitor: a deny is recorded as a finding and does not block', async () => {
    const calls: string[] = [];
    const c = ctx();
    const r = await result(runRequest([entry(stage('authn', () => deny, calls), 'monitor'), entry(stage('security-headers', () => cont, calls))], c));
    assert.equal(r.decision.action, 'continue');
    assert.deepEqual(calls, ['authn', 'security-headers']);
    assert.equal(c.findings[0]!.monitored, true);
  });

  it('off: the stage is not called', async () => {
    const calls: string[] = [];
    const r = await result(runRequest([entry(stage('authn', () => deny, calls), 'off')], ctx()));
    assert.equal(r.decision.action, 'continue');
    assert.deepEqual(calls, []);
  });

  it('fail-closed: a throwing or rejecting stage denies with stage_failed', async () => {
    for (const answer of [
      () => {
        throw new Error('boom');
      },
      () => Promise.reject(new Error('boom')),
    ]) {
      const c = ctx();
      const r = await result(runRequest([entry(stage('authn', answer, []))], c));
      assert.equal(r.decision.action, 'deny');
      assert.equal(r.decision.action === 'deny' && r.decision.code, 'stage_failed');
      assert.match(c.findings[0]!.reason, /authn failed: boom/);
    }
  });

  it('fail-open: a failing stage lets the request continue and is recorded', async () => {
    const calls: string[] = [];
    const c = ctx();
    const r = await result(
      runRequest(
        [
          entry(
            stage('authn', () => Promise.reject(new Error('store down')), calls),
            'enforce',
            'fail-open',
          ),
          entry(stage('security-headers', () => cont, calls)),
        ],
        c,
      ),
    );
    assert.equal(r.decision.action, 'continue');
    assert.deepEqual(calls, ['authn', 'security-headers']);
    assert.deepEqual(c.findings[0], { stage: 'authn', code: 'stage_failed', reason: 'stage authn failed: store down', monitored: true });
  });

  it('mixes sync and async stages in order', async () => {
    const calls: string[] = [];
    const r = runRequest(
      [entry(stage('cors', () => cont, calls)), entry(stage('authn', () => Promise.resolve(cont), calls)), entry(stage('security-headers', () => deny, calls))],
      ctx(),
    );
    assert.ok(r instanceof Promise, 'switches to async after the first async answer');
    assert.equal((await r).stage, 'security-headers');
    assert.deepEqual(calls, ['cors', 'authn', 'security-headers']);
  });

  it('an all-synchronous chain answers without a promise', () => {
    const r = runRequest([entry(stage('cors', () => cont, []))], ctx());
    assert.ok(!(r instanceof Promise));
  });

  it('response stages run over the reversed chain', async () => {
    const calls: string[] = [];
    const chain = [entry(stage('cors', () => cont, calls)), entry(stage('security-headers', () => cont, calls))];
    await result(runResponse([...chain].reverse(), { request: ctx(), status: 200, headers: {} }));
    assert.deepEqual(calls, ['security-headers:response', 'cors:response']);
  });

  it('onComplete: a throwing hook is reported and the others still run', () => {
    const seen: string[] = [];
    const errors: string[] = [];
    const mk = (name: StageName, fn: () => void): ChainEntry => entry({ name, onComplete: fn });
    const c = { request: ctx() } as CompletedContext;
    runComplete(
      [
        mk('cors', () => {
          throw new Error('x');
        }),
        mk('authn', () => seen.push('authn')),
      ],
      c,
      (stageName) => errors.push(stageName),
    );
    assert.deepEqual(seen, ['authn']);
    assert.deepEqual(errors, ['cors']);
  });
});

describe('every request is recorded exactly once, whatever its outcome', () => {
  it('allowed, refused, upstream error and client abort each give one audit event', async () => {
    const up = await startUpstream();
    const gw = await startTestGateway(passthroughConfig(up.url));
    try {
      const ids: string[] = [];
      const ok = await request(`${gw.url}/ok`);
      ids.push(ok.headers['x-request-id'] as string);
      await ok.body.dump();
      const bad = await request(`${gw.url}/a%2fb`);
      ids.push(bad.headers['x-request-id'] as string);
      await bad.body.dump();
      const notFound = await request(`${gw.url}/`, { method: 'OPTIONS' });
      ids.push(notFound.headers['x-request-id'] as string);
      await notFound.body.dump();
      const upErr = await request(`${gw.url}/drop`);
      ids.push(upErr.headers['x-request-id'] as string);
      await upErr.body.dump();
      // A client that goes away while the upstream is still working.
      const socket = connect(gw.port, '127.0.0.1');
      await once(socket, 'connect');
      socket.write('GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise((r) => setTimeout(r, 100));
      socket.destroy();
      await new Promise((r) => setTimeout(r, 400));
      const events = await gw.waitEvents(5);
      await new Promise((r) => setTimeout(r, 100));
      const all = gw.events();
      assert.equal(all.length, 5, JSON.stringify(all.map((e) => [e.path, e.status, e.outcome])));
      for (const id of ids) assert.equal(all.filter((e) => e.requestId === id).length, 1, `one event for ${id}`);
      const aborted = events.find((e) => e.path === '/slow')!;
      assert.equal(aborted.outcome, 'error');
      assert.equal(aborted.status, 499);
      assert.deepEqual(
        all.map((e) => e.outcome),
        ['allowed', 'denied', 'denied', 'error', 'error'],
      );
    } finally {
      await gw.close();
      await up.close();
    }
  });
});
