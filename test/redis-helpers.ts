/**
 * Redis for tests. The shared server on 127.0.0.1:6379 is used with a random key prefix per run
 * and is never flushed, stopped or reconfigured. Tests that need Redis to go away start their own
 * `redis-server` on a free port (no persistence) and kill that one.
 *
 * Without Redis the tests skip with a visible message; with CI set they fail instead.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';

export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379';
export const REDIS_SERVER_BIN = '/usr/bin/redis-server';

/** A key prefix no other run uses. */
export function randomPrefix(what = 'test'): string {
  return `portcullis-${what}-${randomBytes(6).toString('hex')}:`;
}

function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
    s.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d: Buffer) => {
      clearTimeout(t);
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
  });
}

/**
 * Undefined when the shared Redis answers; otherwise the reason to skip (or throws under CI).
 * Use as `test(name, { skip: await redisMissing() }, …)`.
 */
export async function redisMissing(): Promise<string | false> {
  // Patient, and twice: on a loaded machine a slow PONG must not skip the Redis tests.
  if ((await ping(6379, 2000)) || (await ping(6379, 2000))) return false;
  const why = 'Redis is not running on 127.0.0.1:6379: skipping the Redis tests';
  if (process.env.CI) throw new Error(`${why} (CI is set: Redis must be there)`);
  process.stderr.write(`# ${why}\n`);
  return why;
}

/** Undefined when redis-server can be started here; otherwise the reason to skip (throws under CI). */
export function redisServerMissing(): string | false {
  if (existsSync(REDIS_SERVER_BIN) && existsSync('/usr/bin/redis-cli')) return false;
  const why = `${REDIS_SERVER_BIN} or /usr/bin/redis-cli is not installed: skipping the tests that run their own Redis`;
  if (process.env.CI) throw new Error(`${why} (CI is set: it must be there)`);
  process.stderr.write(`# ${why}\n`);
  return why;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** A redis-server of our own, on a free port, without persistence; can be killed and restarted on the same port. */
export class OwnRedis {
  private proc: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly extraArgs: readonly string[],
  ) {}

  /** `extraArgs(port)`: further server arguments (e.g. cluster mode). */
  static async start(extraArgs: (port: number) => readonly string[] = () => []): Promise<OwnRedis> {
    const port = await freePort();
    const r = new OwnRedis(port, extraArgs(port));
    await r.restart();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (again) on the same port and waits until it answers PING. */
  async restart(): Promise<void> {
    if (this.proc !== undefined) throw new Error('already running');
    const proc = spawn(REDIS_SERVER_BIN, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--enable-debug-command', 'yes', ...this.extraArgs], {
      stdio: 'ignore',
    });
    this.proc = proc;
    proc.once('exit', () => {
      if (this.proc === proc) this.proc = undefined;
    });
    const until = Date.now() + 5000;
    while (!(await ping(this.port, 200))) {
      if (Date.now() > until) throw new Error(`own redis-server on port ${this.port} did not start`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** SIGKILL: the server vanishes as in a crash. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (proc === undefined) return;
    this.proc = undefined;
    const exited = once(proc, 'exit');
    proc.kill('SIGKILL');
    await exited;
  }
}
