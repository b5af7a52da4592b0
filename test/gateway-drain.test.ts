import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { parseRaw, passthroughConfig, startTestGateway, startUpstream } from './helpers.js';

describe('graceful drain', () => {
  it('finishes the request in flight with Connection: close and stops accepting', async () => {
    const up = await startUpstream();
    const gw = await startTestGateway(passthroughConfig(up.url, 'shutdown: { drainTimeoutMs: 3000 }\n'));
    try {
      const socket = connect(gw.port, '127.0.0.1');
      await once(socket, 'connect');
      let raw = '';
      socket.on('data', (c: Buffer) => (raw += c.toString('latin1')));
      socket.write('GET /slow?ms=400 HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise((r) => setTimeout(r, 100));
      const stopped = gw.handle.shutdown();
      await once(socket, 'close');
      await stopped;
      const first = parseRaw(raw);
      assert.equal(first.status, 200, raw);
      assert.equal(first.headers.connection, 'close', 'draining answers tell the client to go away');
      await assert.rejects(request(`${gw.url}/x`), 'the listener no longer accepts');
    } finally {
      await up.close();
    }
  });

  it('a request that reaches a draining gateway gets 503 overloaded with Retry-After', async () => {
    const up = await startUpstream();
    const gw = await startTestGateway(passthroughConfig(up.url));
    try {
      gw.handle.gateway.draining = true; // the window between the drain decision and the listener closing
      const res = await request(`${gw.url}/x`);
      assert.equal(res.statusCode, 503);
      assert.equal(res.headers['retry-after'], '5');
      assert.equal(res.headers.connection, 'close');
      assert.equal(((await res.body.json()) as { code: string }).code, 'overloaded');
      assert.equal(up.seen.length, 0);
    } finally {
      await gw.close();
      await up.close();
    }
  });

  it('closes connections still busy when the drain deadline passes', async () => {
    const up = await startUpstream();
    const gw = await startTestGateway(passthroughConfig(up.url, 'shutdown: { drainTimeoutMs: 300 }\n'));
    try {
      const slow = request(`${gw.url}/slow?ms=5000`).then(
        () => 'answered',
        () => 'cut',
      );
      await new Promise((r) => setTimeout(r, 100));
      const t0 = Date.now();
      await gw.handle.shutdown();
      const took = Date.now() - t0;
      assert.ok(took >= 250 && took < 2000, `shutdown took ${took} ms`);
      assert.equal(await slow, 'cut');
    } finally {
      await up.close();
    }
  });
});
