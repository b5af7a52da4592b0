/**
 * Asynchronous stages on a real gateway: the data plane must hold the upstream body while an
 * async response stage decides, and refuse cleanly when it denies. No issue-2 stage is async,
 * so the test places stages into a compiled route's chain (white box; later capabilities add
 * async stages through config).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import type { ChainEntry, Decision, RequestContext, ResponseContext } from '../src/pipeline/types.js';
import type { CompiledRoute } from '../src/server/runtime.js';
import { passthroughConfig, startTestGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';

const later = <T>(v: T, ms = 20): Promise<T> => new Promise((r) => setTimeout(() => r(v), ms));

describe('asynchronous stages on a running gateway', () => {
  let up: Upstream;
  let gw: TestGateway;
  let route: CompiledRoute;
  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(passthroughConfig(up.url));
    const found = gw.handle.gateway.runtime.table.lookup('GET', '/x', undefined);
    assert.equal(found.kind, 'found');
    route = (found as { value: CompiledRoute }).value;
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  function install(entry: ChainEntry, where: 'request' | 'response' | 'body'): () => void {
    const list = (where === 'request' ? route.headChain : where === 'body' ? route.bodyChain : route.reversed) as ChainEntry[];
    list.unshift(entry);
    return () => list.shift();
  }

  it('an async request stage that continues lets the request through; one that denies refuses it', async () => {
    let verdict: Decision = { action: 'continue' };
    const undo = install({ stage: { name: 'authn', onRequest: (_c: RequestContext) => later(verdict) }, mode: 'enforce', onError: 'fail-closed' }, 'request');
    try {
      const ok = await request(`${gw.url}/x`);
      assert.equal(ok.statusCode, 200);
      await ok.body.dump();
      verdict = { action: 'deny', code: 'unauthenticated', reason: 'async no', headers: { 'www-authenticate': 'Test' } };
      const before = up.seen.length;
      const no = await request(`${gw.url}/x`);
      assert.equal(no.statusCode, 401);
      assert.equal(no.headers['www-authenticate'], 'Test');
      await no.body.dump();
      assert.equal(up.seen.length, before, 'not forwarded');
    } finally {
      undo();
    }
  });

  it('an async response stage gets the head first; the body is held and delivered whole after it continues', async () => {
    const undo = install(
      {
        stage: {
          name: 'security-headers',
          onResponse: async (r: ResponseContext) => {
            await later(null, 30);
            r.headers['x-checked'] = 'yes';
            return { action: 'continue' };
          },
        },
        mode: 'enforce',
        onError: 'fail-closed',
      },
      'response',
    );
    try {
      const res = await request(`${gw.url}/stream?chunks=5`);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['x-checked'], 'yes');
      assert.equal(await res.body.text(), 'chunk-1\nchunk-2\nchunk-3\nchunk-4\nchunk-5\n');
    } finally {
      undo();
    }
  });

  it('an async response stage that denies replaces the upstream answer with a problem, and one that throws fails closed', async () => {
    const deny = install(
      { stage: { name: 'security-headers', onResponse: () => later<Decision>({ action: 'deny', code: 'upstream_bad_response', reason: 'leak' }) }, mode: 'enforce', onError: 'fail-closed' },
      'response',
    );
    try {
      const res = await request(`${gw.url}/x`);
      assert.equal(res.statusCode, 502);
      const body = (await res.body.json()) as { code: string };
      assert.equal(body.code, 'upstream_bad_response');
    } finally {
      deny();
    }
    const boom = install({ stage: { name: 'security-headers', onResponse: () => Promise.reject(new Error('boom')) }, mode: 'enforce', onError: 'fail-closed' }, 'response');
    try {
      const res = await request(`${gw.url}/x`);
      assert.equal(res.statusCode, 500);
      assert.equal(((await res.body.json()) as { code: string }).code, 'stage_failed');
      const events = await gw.waitEvents(1);
      assert.ok(events.some((e) => e.code === 'stage_failed' && e.outcome === 'error'));
    } finally {
      boom();
    }
    const after = await request(`${gw.url}/x`);
    assert.equal(after.statusCode, 200, 'the gateway keeps serving');
    await after.body.dump();
  });

  it('a stage that needs the body runs once, on the whole body (empty without one), before anything is forwarded', async () => {
    const seen: (string | undefined)[] = [];
    const undo = install(
      {
        stage: {
          name: 'authn',
          needsBody: true,
          onRequest: async (c: RequestContext) => {
            seen.push(c.body?.toString('utf8'));
            return c.body?.toString('utf8').includes('forbidden') ? { action: 'deny', code: 'unauthenticated', reason: 'body says no' } : { action: 'continue' };
          },
        },
        mode: 'enforce',
        onError: 'fail-closed',
      },
      'body',
    );
    try {
      const { Readable } = await import('node:stream');
      const ok = await request(`${gw.url}/upload`, { method: 'POST', body: Readable.from(['part-1 ', 'part-2']) });
      assert.equal(ok.statusCode, 200);
      assert.equal(((await ok.body.json()) as { body: string }).body, 'part-1 part-2', 'the buffered body is forwarded intact');
      const before = up.seen.length;
      const no = await request(`${gw.url}/upload`, { method: 'POST', body: 'this is forbidden' });
      assert.equal(no.statusCode, 401);
      await no.body.dump();
      assert.equal(up.seen.length, before, 'refused on the body: nothing forwarded');
      const get = await request(`${gw.url}/plain`);
      assert.equal(get.statusCode, 200);
      const echo = (await get.body.json()) as { headers: Record<string, string> };
      assert.equal(echo.headers['content-length'], undefined, 'a request without a body is forwarded without one');
      assert.deepEqual(seen, ['part-1 part-2', 'this is forbidden', ''], 'once per request, always with the whole body');
    } finally {
      undo();
    }
  });
});
