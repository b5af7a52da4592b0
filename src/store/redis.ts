/**
 * The Redis store: counters and bans shared by every gateway instance.
 *
 * - Atomic: each operation is one Lua script (lua.ts), run with EVALSHA; a NOSCRIPT answer (a
 *   restarted or flushed Redis) falls back to EVAL once, which caches the script again.
 * - One round trip per request for all of its limits (one script call with every key).
 * - Keys for Redis Cluster: every counter's key carries its own hash tag
 *   (`<prefix>rl:{<limit>:<key>}`), so counters spread over the slots; the ban set is
 *   `<prefix>{bans}` (with its reasons in `<prefix>{bans}:reasons`).
 * - Bounded: no offline queue (a command while disconnected fails at once), no resend of
 *   unanswered commands after a reconnect, a timeout on every command; the client reconnects by
 *   itself with backoff.
 * - Health: `down` from the first failure (refused connection, timeout, closed socket) until a
 *   PING succeeds again; each change is reported once to the listener (metric and log line). The
 *   caller applies the configured fail mode while the store is down.
 *
 * Nothing here logs; nothing secret (the URL may carry a password) leaves this file.
 */
import { createHash } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { BAN_SCRIPT, HIT_SCRIPT, LIMITS_SCRIPT, PEEK_SCRIPT, UNBAN_SCRIPT, UNHIT_SCRIPT } from './lua.js';
import { ALLOWED, OUT_STRIDE, STORE_UNAVAILABLE, type CheckResult, type FailureCount, type LimitRule, type StoreHealth, type StoreHealthListener } from './types.js';

export interface RedisStoreOptions {
  /** `redis://[:password@]host:port[/db]` or `rediss://…`. */
  readonly url: string;
  /** AUTH credentials (never part of `url`, so the URL can be logged). */
  readonly password?: string | undefined;
  readonly username?: string | undefined;
  /** Prefix of every key (and of the ban channel). */
  readonly keyPrefix: string;
  /** `url` is one node of a Redis Cluster; the others are discovered. */
  readonly cluster?: boolean;
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
  /** While down, how often to try a PING. */
  readonly recoverIntervalMs: number;
  /** Most bans kept in Redis and in the local mirror. */
  readonly maxBans: number;
}

class Script {
  readonly sha: string;
  constructor(readonly text: string) {
    this.sha = createHash('sha1').update(text).digest('hex');
  }
}

const LIMITS = new Script(LIMITS_SCRIPT);
const HIT = new Script(HIT_SCRIPT);
const PEEK = new Script(PEEK_SCRIPT);
const UNHIT = new Script(UNHIT_SCRIPT);
const BAN = new Script(BAN_SCRIPT);
const UNBAN = new Script(UNBAN_SCRIPT);

/** Timed-out commands in a row, on a connection that looks alive, before the store counts as down. */
const FAILURES_TO_DOWN = 3;

/** CRC16 (XMODEM), as Redis Cluster hashes key slots. */
function crc16(s: string): number {
  const b = Buffer.from(s, 'utf8');
  let crc = 0;
  for (let i = 0; i < b.length; i++) {
    crc ^= b[i]! << 8;
    for (let j = 0; j < 8; j++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The Redis Cluster slot of a key: its hash tag (`{…}`) when it has a non-empty one. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return crc16(key.slice(open + 1, close)) % 16384;
  }
  return crc16(key) % 16384;
}

/** Longest key part kept as is; longer ones (attacker-chosen header values …) are hashed. */
const MAX_KEY_PART = 128;

function keyPart(s: string): string {
  return s.length <= MAX_KEY_PART ? s : 'h:' + createHash('sha256').update(s).digest('base64url');
}

function isNoScript(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOSCRIPT');
}

/** A short reason for logs: the error's message without anything that could be the URL. */
function describe(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.replace(/redis(s)?:\/\/\S*/gi, 'redis://…').slice(0, 120);
}

/** Receives every ban (until > 0) and lifted ban (until 0) of the shared list. */
export type BanMirror = (subject: string, until: number, reason: string) => void;

export class RedisStore {
  readonly client: Redis | Cluster;
  private sub: Redis | Cluster | undefined;
  private state: StoreHealth = 'down';
  private reason = 'connecting';
  private probe: NodeJS.Timeout | undefined;
  private probing = false;
  private closed = false;
  private readonly listeners: StoreHealthListener[] = [];
  private mirror: BanMirror | undefined;
  /** Commands failed in a row; a success resets it. */
  private failures = 0;
  /** EVALSHA calls answered NOSCRIPT and retried with EVAL. */
  noScriptFallbacks = 0;
  readonly bansKey: string;
  /** Hash subject → reason of the bans in `bansKey` (same hash tag, so the same cluster slot). */
  readonly banReasonsKey: string;
  readonly banChannel: string;

  constructor(readonly opts: RedisStoreOptions) {
    this.bansKey = `${opts.keyPrefix}{bans}`;
    this.banReasonsKey = `${opts.keyPrefix}{bans}:reasons`;
    this.banChannel = `${opts.keyPrefix}bans`;
    // Reconnect forever, backing off to 2 s: recovery is automatic.
    const backoff = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000);
    const common = {
      password: opts.password,
      username: opts.username,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      connectTimeout: opts.connectTimeoutMs,
      commandTimeout: opts.commandTimeoutMs,
    };
    if (opts.cluster === true) {
      const u = new URL(opts.url);
      this.client = new Cluster([{ host: u.hostname, port: Number(u.port || 6379) }], {
        enableOfflineQueue: false,
        clusterRetryStrategy: backoff,
        redisOptions: { ...common, tls: u.protocol === 'rediss:' ? {} : undefined },
      });
    } else {
      this.client = new Redis(opts.url, { ...common, enableOfflineQueue: false, retryStrategy: backoff, lazyConnect: false });
    }
    // Connection errors surface through health; an unhandled 'error' event would crash the process.
    this.client.on('error', (err: unknown) => this.down(describe(err)));
    this.client.on('close', () => this.down('connection closed'));
    this.client.on('ready', () => void this.tryRecover());
    this.probe = setInterval(() => void this.tryRecover(), opts.recoverIntervalMs);
    this.probe.unref();
  }

  get health(): StoreHealth {
    return this.state;
  }

  get healthReason(): string {
    return this.reason;
  }

  onHealth(listener: StoreHealthListener): void {
    this.listeners.push(listener);
  }

  private set(state: StoreHealth, reason: string): void {
    if (this.state === state) return;
    this.state = state;
    this.reason = reason;
    for (const l of this.listeners) {
      try {
        l('redis', state, reason);
      } catch {
        // A listener must never take the store down with it.
      }
    }
  }

  private down(reason: string): void {
    if (this.closed) return;
    this.set('down', reason);
  }

  /**
   * A command failed. A lost connection already marked the store down (connection events); a
   * timeout on a live connection can be our own event loop running late under load, so it takes
   * FAILURES_TO_DOWN in a row. The request itself gets the fail mode either way.
   */
  private failed(err: unknown): void {
    this.failures++;
    if (this.client.status !== 'ready' || this.failures >= FAILURES_TO_DOWN) this.down(describe(err));
  }

  /** While down: a PING decides whether Redis is back. */
  private async tryRecover(): Promise<void> {
    if (this.closed || this.state === 'up' || this.probing || this.client.status !== 'ready') return;
    this.probing = true;
    try {
      await this.client.ping();
      if (this.mirror !== undefined) await this.loadBans(this.mirror);
      this.set('up', 'ping answered');
    } catch (err) {
      this.reason = describe(err);
    } finally {
      this.probing = false;
    }
  }

  /** Waits until the store is up (tests, start-up), or rejects after `timeoutMs`. */
  async ready(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.health !== 'up') {
      if (Date.now() > until) throw new Error(`redis store not available: ${this.reason}`);
      await this.tryRecover();
      if ((this.health as StoreHealth) !== 'up') await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async run(script: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await this.client.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      this.noScriptFallbacks++;
      return await this.client.eval(script.text, keys.length, ...keys, ...args);
    }
  }

  /**
   * Runs a per-key script (every key independent) on `keys`: one call, or in a cluster one call
   * per slot, concurrently. Replies are concatenated in key order; `lead` values that the
   * script puts before the per-key values (the server time) are taken from the first call.
   */
  private async runPerKey(script: Script, keys: readonly string[], args: readonly (string | number)[], perKey: number, lead = 0): Promise<number[]> {
    if (!(this.client instanceof Cluster) || keys.length <= 1) return ((await this.run(script, keys, args)) as unknown[]).map(Number);
    const groups = new Map<number, number[]>();
    keys.forEach((k, i) => {
      const slot = keySlot(k);
      const g = groups.get(slot);
      if (g === undefined) groups.set(slot, [i]);
      else g.push(i);
    });
    const out = new Array<number>(lead + keys.length * perKey);
    let first = true;
    await Promise.all(
      [...groups.values()].map(async (idx) => {
        const r = ((await this.run(script, idx.map((i) => keys[i]!), args)) as unknown[]).map(Number);
        if (first) {
          first = false;
          for (let j = 0; j < lead; j++) out[j] = r[j]!;
        }
        idx.forEach((i, j) => {
          for (let v = 0; v < perKey; v++) out[lead + i * perKey + v] = r[lead + j * perKey + v]!;
        });
      }),
    );
    return out;
  }

  /** The Redis key of a limit's counter. */
  limitKey(rule: LimitRule, key: string): string {
    return `${this.opts.keyPrefix}rl:{${rule.name}:${keyPart(key)}}`;
  }

  /** A failure counter's Redis key. */
  counterKey(key: string): string {
    return `${this.opts.keyPrefix}fc:{${keyPart(key)}}`;
  }

  /**
   * Checks the first `n` rules in one script call. Resolves ALLOWED, the index of the refusing
   * limit, or STORE_UNAVAILABLE (the store is marked down); never rejects.
   */
  async checkLimits(rules: readonly LimitRule[], keys: readonly string[], n: number, cost: number, out: Float64Array, now: number): Promise<CheckResult> {
    const redisKeys: string[] = new Array<string>(n);
    const args: (string | number)[] = new Array<string | number>(1 + n * 6);
    args[0] = cost;
    const b = new Float64Array(2);
    for (let i = 0; i < n; i++) {
      const rule = rules[i]!;
      redisKeys[i] = this.limitKey(rule, keys[i]!);
      let ws = 0;
      let we = 0;
      if (rule.calendar !== undefined) {
        rule.calendar.bounds(now, b);
        ws = b[0]!;
        we = b[1]!;
      }
      const a = 1 + i * 6;
      args[a] = rule.algo;
      args[a + 1] = rule.limit;
      args[a + 2] = rule.windowMs;
      args[a + 3] = rule.burst;
      args[a + 4] = ws;
      args[a + 5] = we;
    }
    try {
      if (this.client instanceof Cluster && n > 1) return await this.checkAcrossSlots(redisKeys, args, n, out);
      const r = (await this.run(LIMITS, redisKeys, args)) as number[];
      this.failures = 0;
      for (let i = 0; i < n * OUT_STRIDE; i++) out[i] = Number(r[i + 1]);
      const denied = Number(r[0]);
      return denied === 0 ? ALLOWED : denied - 1;
    } catch (err) {
      this.failed(err);
      return STORE_UNAVAILABLE;
    }
  }

  /**
   * Redis Cluster: a script may only touch keys of one slot, so the limits are grouped by slot and
   * each group is one script call, all sent at once (still one round trip of waiting). Each group
   * is atomic and all or nothing; across groups a refused request may have spent from a limit in
   * another slot (documented in docs/abuse.md).
   */
  private async checkAcrossSlots(redisKeys: readonly string[], args: readonly (string | number)[], n: number, out: Float64Array): Promise<CheckResult> {
    const groups = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const slot = keySlot(redisKeys[i]!);
      const g = groups.get(slot);
      if (g === undefined) groups.set(slot, [i]);
      else g.push(i);
    }
    let denied = ALLOWED;
    await Promise.all(
      [...groups.values()].map(async (idx) => {
        const a: (string | number)[] = [args[0]!];
        for (const i of idx) for (let v = 1; v <= 6; v++) a.push(args[i * 6 + v]!);
        const r = (await this.run(LIMITS, idx.map((i) => redisKeys[i]!), a)) as number[];
        idx.forEach((i, j) => {
          for (let v = 0; v < OUT_STRIDE; v++) out[i * OUT_STRIDE + v] = Number(r[1 + j * OUT_STRIDE + v]);
        });
        const d = Number(r[0]);
        if (d !== 0) {
          const i = idx[d - 1]!;
          if (denied === ALLOWED || i < denied) denied = i;
        }
      }),
    );
    this.failures = 0;
    return denied;
  }

  /** Adds one event to each counter; rejects when the store fails. */
  async hit(keys: readonly string[], windowMs: number): Promise<number[]> {
    try {
      return await this.runPerKey(HIT, keys.map((k) => this.counterKey(k)), [Math.max(1, Math.round(windowMs))], 1);
    } catch (err) {
      this.failed(err);
      throw err;
    }
  }

  /** Takes back one event of each counter (an attempt that turned out not to be a failure). */
  async unhit(keys: readonly string[]): Promise<number[]> {
    try {
      return await this.runPerKey(UNHIT, keys.map((k) => this.counterKey(k)), [], 1);
    } catch (err) {
      this.failed(err);
      throw err;
    }
  }

  /** Count and last event of each counter, with the server time. */
  async peek(keys: readonly string[]): Promise<{ now: number; counts: FailureCount[] }> {
    try {
      const r = await this.runPerKey(PEEK, keys.map((k) => this.counterKey(k)), [], 2, 1);
      const counts: FailureCount[] = [];
      for (let i = 0; i < keys.length; i++) counts.push({ count: r[1 + 2 * i]!, last: r[2 + 2 * i]! });
      return { now: r[0]!, counts };
    } catch (err) {
      this.failed(err);
      throw err;
    }
  }

  async reset(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    try {
      // One key per call: the counters have their own hash tags (slots).
      await Promise.all(keys.map((k) => this.client.del(this.counterKey(k))));
    } catch (err) {
      this.failed(err);
      throw err;
    }
  }

  /** Bans `subject` for `ttlMs` on every instance; resolves the until time. */
  async ban(subject: string, ttlMs: number, reason: string): Promise<number> {
    try {
      return Number(await this.run(BAN, [this.bansKey, this.banReasonsKey], [subject, Math.max(1, Math.round(ttlMs)), reason.slice(0, 200), this.banChannel, this.opts.maxBans]));
    } catch (err) {
      this.failed(err);
      throw err;
    }
  }

  async unban(subject: string): Promise<boolean> {
    try {
      return Number(await this.run(UNBAN, [this.bansKey, this.banReasonsKey], [subject, this.banChannel])) > 0;
    } catch (err) {
      this.failed(err);
      throw err;
    }
  }

  /**
   * Keeps `mirror` equal to the bans in Redis: loaded whenever the store becomes available, then
   * updated from the ban channel. The ban check on the request path reads only the mirror.
   */
  async mirrorBans(mirror: BanMirror): Promise<void> {
    this.mirror = mirror;
    const c = this.client;
    const sub = c instanceof Cluster ? c.duplicate(undefined, { enableOfflineQueue: true }) : c.duplicate({ enableOfflineQueue: true, commandTimeout: undefined });
    this.sub = sub;
    sub.on('error', () => undefined);
    sub.on('message', (_channel: string, message: string) => {
      const [subject, until, reason] = message.split('\n');
      if (subject === undefined || until === undefined) return;
      mirror(subject, Number(until), reason ?? '');
    });
    // The subscription is renewed by ioredis on every reconnect.
    await sub.subscribe(this.banChannel).catch(() => undefined);
    if (this.state === 'up') await this.loadBans(mirror).catch(() => undefined);
  }

  private async loadBans(mirror: BanMirror): Promise<void> {
    const entries = await this.client.zrangebyscore(this.bansKey, Date.now(), '+inf', 'WITHSCORES', 'LIMIT', 0, this.opts.maxBans);
    // Reasons in chunks: one HMGET per 1000 bans.
    for (let from = 0; from < entries.length; from += 2000) {
      const chunk = entries.slice(from, from + 2000);
      const subjects = chunk.filter((_, i) => i % 2 === 0);
      const reasons = subjects.length === 0 ? [] : await this.client.hmget(this.banReasonsKey, ...subjects);
      subjects.forEach((subject, i) => mirror(subject, Number(chunk[2 * i + 1]), reasons[i] ?? 'loaded from redis'));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.probe);
    const quit = async (c: Redis | Cluster) => {
      try {
        if (c.status === 'ready') await c.quit();
        else c.disconnect();
      } catch {
        c.disconnect();
      }
    };
    await Promise.all([quit(this.client), this.sub ? quit(this.sub) : Promise.resolve()]);
  }
}
