/**
 * The `portcullis` command as a user runs it: real child processes, real signals.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { hashApiKey } from '../src/identity/apikey.js';
import { startUpstream, writeFiles } from './helpers.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

function cli(args: string[], input?: string) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input, timeout: 20000 });
}

interface Running {
  readonly child: ChildProcess;
  /** Parsed JSON log lines from stderr so far. */
  readonly logs: Record<string, unknown>[];
  waitLog(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

function run(args: string[]): Running {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let buf = '';
  child.stderr!.on('data', (c: Buffer) => {
    buf += c.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ text: line });
      }
    }
  });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    logs,
    exited,
    async waitLog(pred, timeoutMs = 10000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const hit = logs.find(pred);
        if (hit) return hit;
        if (Date.now() > until) throw new Error('log line not seen; logs: ' + JSON.stringify(logs).slice(0, 2000));
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

function port(address: unknown): number {
  return Number(String(address).split(':').pop());
}

describe('portcullis CLI', () => {
  it('--version prints the package version', () => {
    const r = cli(['--version']);
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim(), VERSION);
  });

  it('--help works on the program and on every command', () => {
    const root = cli(['--help']);
    assert.equal(root.status, 0);
    for (const c of ['run', 'check', 'hash-key']) assert.match(root.stdout, new RegExp(`\\b${c}\\b`));
    for (const c of ['run', 'check', 'hash-key']) {
      const r = cli([c, '--help']);
      assert.equal(r.status, 0, c);
      assert.match(r.stdout, new RegExp(`Usage: portcullis ${c}`));
    }
  });

  it('an unknown command is a usage error (exit 1), not a crash', () => {
    const r = cli(['launch']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /unknown command/);
  });

  it('run with an invalid config prints every problem with file:line:column and exits 1 without starting', () => {
    const dir = writeFiles({
      'portcullis.yaml': 'version: 1\nlisteners:\n  - port: 99999\nroutes:\n  - name: x\n    methods: [GET]\n    path: /x\n    upstream: nowhere\n    publik: true\n',
    });
    const r = cli(['run', '-c', join(dir, 'portcullis.yaml')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /portcullis\.yaml:3:\d+: error: listeners\[0\]\.port/);
    assert.match(r.stderr, /portcullis\.yaml:9:\d+: error: routes\[0\].*publik/);
    assert.match(r.stderr, /invalid config; nothing started/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace for a user error');
  });

  it('hash-key reads the key from stdin and prints its SHA-256', () => {
    const r = cli(['hash-key'], 'my-key\n');
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim(), hashApiKey('my-key'));
  });

  it('run: serves, reloads on SIGHUP, drains on SIGTERM (requests in flight finish), exits 0', async () => {
    const up = await startUpstream();
    const yaml = (extra: string) => `version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { enabled: true, port: 0 }
shutdown: { drainTimeoutMs: 5000 }
telemetry: { audit: { destination: ./audit.log } }
routes:
  - { name: all, methods: [GET], path: '/*', upstream: ${up.url}, public: true }
${extra}`;
    const dir = writeFiles({ 'portcullis.yaml': yaml('') });
    const p = run(['run', '-c', join(dir, 'portcullis.yaml')]);
    try {
      const listening = await p.waitLog((l) => l.msg === 'listening');
      const admin = await p.waitLog((l) => l.msg === 'admin listener');
      const base = `http://127.0.0.1:${port(listening.address)}`;
      const adminBase = `http://127.0.0.1:${port(admin.address)}`;
      const ok = await request(`${base}/hello`);
      assert.equal(ok.statusCode, 200);
      await ok.body.dump();
      const ready = await request(`${adminBase}/readyz`);
      assert.equal(ready.statusCode, 200);
      await ready.body.dump();

      // SIGHUP: a new route appears.
      writeFileSync(join(dir, 'portcullis.yaml'), yaml(`  - { name: extra, methods: [POST], path: /extra, upstream: ${up.url}, public: true }\n`));
      p.child.kill('SIGHUP');
      await p.waitLog((l) => l.msg === 'config reloaded');
      const extra = await request(`${base}/extra`, { method: 'POST', body: 'x' });
      assert.equal(extra.statusCode, 200);
      await extra.body.dump();

      // SIGTERM during a slow request: it finishes; the process then exits 0.
      const slow = request(`${base}/slow?ms=700`);
      await new Promise((r) => setTimeout(r, 150));
      p.child.kill('SIGTERM');
      const res = await slow;
      assert.equal(res.statusCode, 200);
      await res.body.dump();
      assert.equal(await p.exited, 0);
      await assert.rejects(request(`${base}/hello`), 'no longer accepting');
      const audit = readFileSync(join(dir, 'audit.log'), 'utf8').trim().split('\n');
      assert.ok(audit.length >= 3, 'audit events were flushed to the file before exit');
    } finally {
      p.child.kill('SIGKILL');
      await up.close();
    }
  });

  it('run with workers: 2 serves from both workers, aggregates metrics, and stops cleanly', async () => {
    const up = await startUpstream();
    const dir = writeFiles({
      'portcullis.yaml': `version: 1
workers: 2
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { port: 0 }
telemetry: { audit: { enabled: false } }
routes:
  - { name: all, methods: [GET], path: '/*', upstream: ${up.url}, public: true }
`,
    });
    const p = run(['run', '-c', join(dir, 'portcullis.yaml')]);
    try {
      const admin = await p.waitLog((l) => l.msg === 'admin listener');
      const adminBase = `http://127.0.0.1:${port(admin.address)}`;
      // Port 0 with cluster: every worker shares the one port the primary bound.
      // Each worker loads and compiles the config: on a loaded 2-core machine that alone can take 10 s.
      const listening = await p.waitLog((l) => l.msg === 'listening', 45_000);
      await p.waitLog((l) => l.msg === 'listening' && l.pid !== listening.pid, 45_000);
      const base = `http://127.0.0.1:${port(listening.address)}`;
      for (let i = 0; i < 50; i++) {
        const r = await request(`${base}/n/${i}`, { reset: true });
        assert.equal(r.statusCode, 200);
        await r.body.dump();
      }
      let ready = 0;
      for (let i = 0; i < 50 && ready !== 200; i++) {
        const r = await request(`${adminBase}/readyz`);
        ready = r.statusCode;
        await r.body.dump();
        if (ready !== 200) await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(ready, 200);
      const m = await request(`${adminBase}/metrics`);
      const text = await m.body.text();
      const total = text
        .split('\n')
        .filter((l) => l.startsWith('portcullis_requests_total{') && l.includes('route="route:all"'))
        .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
      assert.equal(total, 50, 'the primary sums both workers');
      p.child.kill('SIGTERM');
      assert.equal(await p.exited, 0);
    } finally {
      p.child.kill('SIGKILL');
      await up.close();
    }
  });
});
