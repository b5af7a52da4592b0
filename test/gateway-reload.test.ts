import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { loadConfig } from '../src/config/index.js';
import { startGateway } from '../src/server/process.js';
import { startTestGateway, startUpstream, writeFiles } from './helpers.js';

function cfg(upstream: string, routes: string): string {
  return `version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { enabled: false }
routes:
${routes}`;
}
const route = (name: string, path: string, upstream: string) => `  - { name: ${name}, methods: [GET], path: '${path}', upstream: ${upstream}, public: true }\n`;

describe('hot reload', () => {
  it('swaps in a new valid config; a broken one is reported and the running config keeps serving', async () => {
    const up = await startUpstream();
    const gw = await startTestGateway(cfg(up.url, route('a', '/a/*', up.url)));
    try {
      const rev1 = gw.handle.config().revision;
      assert.equal((await request(`${gw.url}/b/1`)).statusCode, 404);

      writeFileSync(gw.configFile, cfg(up.url, route('a', '/a/*', up.url) + route('b', '/b/*', up.url)));
      const ok = await gw.handle.reload();
      assert.equal(ok.ok, true);
      assert.notEqual(ok.revision, rev1);
      const b = await request(`${gw.url}/b/1`);
      assert.equal(b.statusCode, 200);
      await b.body.dump();

      // Unknown key and a route conflict: rejected whole, nothing half-applied.
      writeFileSync(gw.configFile, cfg(up.url, route('a', '/a/*', up.url) + route('c', '/c/*', up.url) + '  - { name: d, methods: [GET], path: /c/*, upstream: nowhere, public: true, colour: red }\n'));
      const bad = await gw.handle.reload();
      assert.equal(bad.ok, false);
      assert.ok(bad.errors!.some((e) => /portcullis\.yaml:\d+:\d+: error: routes\[2\]/.test(e)), bad.errors!.join('\n'));
      assert.ok(bad.errors!.some((e) => /colour/.test(e)));
      const stillB = await request(`${gw.url}/b/1`);
      assert.equal(stillB.statusCode, 200, 'the old config keeps serving');
      await stillB.body.dump();
      assert.equal((await request(`${gw.url}/c/1`)).statusCode, 404, 'nothing of the bad file was applied');
      assert.ok(gw.logs().some((l) => l.msg === 'config reload failed; the running config stays in force'));
    } finally {
      await gw.close();
      await up.close();
    }
  });

  it('reports a route conflict found when compiling, and keeps the running config', async () => {
    const up = await startUpstream();
    const gw = await startTestGateway(cfg(up.url, route('a', '/a/*', up.url)));
    try {
      writeFileSync(gw.configFile, cfg(up.url, route('a', '/a/*', up.url) + route('a2', '/a/*', up.url)));
      const bad = await gw.handle.reload();
      assert.equal(bad.ok, false);
      assert.match(bad.errors!.join('\n'), /portcullis\.yaml:6:\d+: error: routes\[1\]: route conflict: GET \/a\/\* is declared twice/);
      const a = await request(`${gw.url}/a/1`);
      assert.equal(a.statusCode, 200);
      await a.body.dump();
    } finally {
      await gw.close();
      await up.close();
    }
  });

  it('requests in flight finish on the config they started with', async () => {
    const up = await startUpstream();
    const gw = await startTestGateway(cfg(up.url, route('slow', '/slow', up.url)));
    try {
      const inflight = request(`${gw.url}/slow?ms=400`);
      await new Promise((r) => setTimeout(r, 100));
      writeFileSync(gw.configFile, cfg(up.url, route('other', '/other', up.url)));
      assert.equal((await gw.handle.reload()).ok, true);
      const res = await inflight;
      assert.equal(res.statusCode, 200, 'the old route and its upstream pool served the request to the end');
      assert.equal(((await res.body.json()) as { url: string }).url, '/slow?ms=400');
      assert.equal((await request(`${gw.url}/slow?ms=1`)).statusCode, 404, 'new requests see the new config');
    } finally {
      await gw.close();
      await up.close();
    }
  });

  it('reloads when the config file changes on disk', async () => {
    const up = await startUpstream();
    const dir = writeFiles({ 'portcullis.yaml': cfg(up.url, route('a', '/a/*', up.url)) });
    const file = join(dir, 'portcullis.yaml');
    const loaded = await loadConfig(file, { env: {} });
    assert.ok(loaded.ok);
    const handle = await startGateway({ config: loaded.config, env: {}, watch: true, signals: false, auditStream: new PassThrough().resume(), logStream: new PassThrough().resume() });
    const url = `http://127.0.0.1:${handle.listeners[0]!.port}`;
    try {
      assert.equal((await request(`${url}/w/1`)).statusCode, 404);
      writeFileSync(file, cfg(up.url, route('a', '/a/*', up.url) + route('w', '/w/*', up.url)));
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const res = await request(`${url}/w/1`);
        status = res.statusCode;
        await res.body.dump();
      }
      assert.equal(status, 200);
    } finally {
      await handle.shutdown();
      await up.close();
    }
  });
});
