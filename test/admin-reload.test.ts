import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { startTestGateway, startUpstream, writeFiles } from './helpers.js';

describe('admin API on a running gateway', () => {
  it('POST /admin/reload needs the token (from a file: secret), reloads, and reports a bad file without applying it', async () => {
    const up = await startUpstream();
    const secrets = writeFiles({ 'admin.token': 'tok-0123456789abcdef\n' });
    const yaml = (extra: string) => `version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { port: 0, token: 'file:${join(secrets, 'admin.token')}' }
routes:
  - { name: a, methods: [GET], path: /a, upstream: ${up.url}, public: true }
${extra}`;
    const gw = await startTestGateway(yaml(''));
    const auth = { authorization: 'Bearer tok-0123456789abcdef' };
    try {
      const anon = await request(`${gw.adminUrl}/admin/reload`, { method: 'POST' });
      assert.equal(anon.statusCode, 401);
      assert.equal(((await anon.body.json()) as { code: string }).code, 'admin_unauthorized');
      const wrong = await request(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: { authorization: 'Bearer tok-0123456789abcdeX' } });
      assert.equal(wrong.statusCode, 401);
      await wrong.body.dump();

      const status = await request(`${gw.adminUrl}/admin/status`, { headers: auth });
      assert.equal(status.statusCode, 200);
      const s1 = (await status.body.json()) as { revision: string; routes: number };
      assert.equal(s1.routes, 1);

      writeFileSync(gw.configFile, yaml(`  - { name: b, methods: [GET], path: /b, upstream: ${up.url}, public: true }\n`));
      const ok = await request(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: auth });
      assert.equal(ok.statusCode, 200);
      const r = (await ok.body.json()) as { ok: boolean; revision: string };
      assert.equal(r.ok, true);
      assert.notEqual(r.revision, s1.revision);
      const b = await request(`${gw.url}/b`);
      assert.equal(b.statusCode, 200);
      await b.body.dump();

      writeFileSync(gw.configFile, yaml('  - { name: c, methods: [GET], path: /c, upstream: nowhere }\n'));
      const bad = await request(`${gw.adminUrl}/admin/reload`, { method: 'POST', headers: auth });
      assert.equal(bad.statusCode, 422);
      const br = (await bad.body.json()) as { ok: boolean; errors: string[] };
      assert.equal(br.ok, false);
      assert.ok(br.errors.some((e) => /portcullis\.yaml:\d+:\d+: error: routes\[1\]\.upstream/.test(e)), br.errors.join('\n'));
      assert.equal((await request(`${gw.url}/b`)).statusCode, 200, 'the running config stays');

      const metrics = await request(`${gw.adminUrl}/metrics`);
      const text = await metrics.body.text();
      assert.match(text, /portcullis_config_reload_total\{result="success"\} 1/);
      assert.match(text, /portcullis_config_reload_total\{result="failure"\} 1/);
      assert.doesNotMatch(text + JSON.stringify(gw.logs()), /tok-0123456789abcdef/, 'the token is never logged or exported');
    } finally {
      await gw.close();
      await up.close();
    }
  });
});
