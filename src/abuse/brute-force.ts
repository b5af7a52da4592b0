/**
 * The `brute-force` stage of a login operation.
 *
 * Attempts are counted per client IP, per username (read from the JSON or form body; only a hash
 * of it is kept, and the password is never read) and failures per login route in total, in the
 * store (with Redis: across instances). An attempt is counted when it is let through, before the
 * upstream answers, so a burst of parallel guesses cannot all slip past; it is taken back when
 * the upstream's answer is not a failure (`failureStatuses`, e.g. 401/403), and a success (2xx)
 * clears the username's count.
 *
 * - Progressive delay: from `delayAfter` counted attempts on, the next one must wait
 *   `delayBaseMs`, doubling with each further one up to `maxDelayMs`, after the last; an earlier
 *   attempt is refused (429 `login_throttled`, `Retry-After`) without reaching the upstream and
 *   without being counted. Refusing instead of holding the request keeps an attack from tying up
 *   connections.
 * - Ban: `perIp.banAfter` failures ban the IP (every route, `banTtl`); `perUsername.lockAfter`
 *   failures lock the username on this login from every IP (429 `login_locked`).
 * - Credential stuffing: `stuffing.threshold` failures on the route within `stuffing.window`,
 *   whichever IPs and usernames they come from, raise an alarm (metric and log line) and the
 *   login answers with the proof-of-work challenge for `challengeFor`; the audit event of each
 *   attempt meanwhile carries a `credential_stuffing` finding.
 */
import { createHash } from 'node:crypto';
import { requestJson } from '../access/stages.js';
import type { LoginConfig } from '../config/types.js';
import type { CompletedContext, Decision, RequestContext, Stage } from '../pipeline/types.js';
import { queryValue } from './keys.js';
import type { AbuseState } from './state.js';

export interface BruteForceSettings {
  readonly windowMs: number;
  readonly perIp: { readonly delayAfter: number; readonly banAfter: number };
  readonly perUsername: { readonly delayAfter: number; readonly lockAfter: number };
  readonly delayBaseMs: number;
  readonly maxDelayMs: number;
  readonly banTtlMs: number;
  readonly stuffing: { readonly threshold: number; readonly windowMs: number; readonly challengeForMs: number };
}

const MAX_USERNAME_CHARS = 256;

/** Reads the value at a JSON pointer, or a top-level form field. */
function readPointer(value: unknown, pointer: string): unknown {
  let v = value;
  for (const raw of pointer.slice(1).split('/')) {
    if (typeof v !== 'object' || v === null) return undefined;
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    v = Object.hasOwn(v, key) ? (v as Record<string, unknown>)[key] : undefined;
  }
  return v;
}

/** The username of a login attempt, or undefined when the body has none. */
export function usernameOf(ctx: RequestContext, pointer: string): string | undefined {
  const body = ctx.body;
  if (body === undefined || body.length === 0) return undefined;
  const ct = ctx.headers['content-type'];
  const type = typeof ct === 'string' ? ct.split(';', 1)[0]!.trim().toLowerCase() : '';
  let v: unknown;
  if (type === 'application/x-www-form-urlencoded') {
    // A form carries flat fields: the pointer's last segment names it.
    v = queryValue(body.toString('latin1'), pointer.slice(pointer.lastIndexOf('/') + 1));
  } else {
    const j = requestJson(ctx);
    if (!j.ok) return undefined;
    v = readPointer(j.value, pointer);
  }
  if (typeof v !== 'string' || v.length === 0) return undefined;
  return v.slice(0, MAX_USERNAME_CHARS).normalize('NFKC').trim().toLowerCase();
}

function hashUser(u: string): string {
  return createHash('sha256').update(u).digest('hex').slice(0, 32);
}

interface Attempt {
  readonly ip: string;
  readonly user: string | undefined;
}

/** Attempts in flight, for onComplete (weak: a request that never completes leaves nothing). */
const attempts = new WeakMap<RequestContext, Attempt>();

function delayFor(failures: number, after: number, s: BruteForceSettings): number {
  if (failures < after) return 0;
  return Math.min(s.maxDelayMs, s.delayBaseMs * 2 ** Math.min(failures - after, 30));
}

export class BruteForceStage implements Stage {
  readonly name = 'brute-force' as const;
  readonly needsBody = true;
  private readonly statuses: ReadonlySet<number>;

  constructor(
    private readonly state: AbuseState,
    private readonly routeId: string,
    private readonly login: LoginConfig,
    private readonly s: BruteForceSettings,
  ) {
    this.statuses = new Set(login.failureStatuses);
  }

  async onRequest(ctx: RequestContext): Promise<Decision> {
    const now = Date.now();
    const raw = usernameOf(ctx, this.login.usernamePointer);
    const user = raw === undefined ? undefined : hashUser(raw);
    if (this.state.banned('alarm', this.routeId, now) > 0) {
      ctx.findings.push({ stage: 'brute-force', code: 'credential_stuffing', reason: 'credential-stuffing alarm on this login: challenge', monitored: false });
      return { action: 'challenge', kind: 'pow' };
    }
    if (user !== undefined) {
      const locked = this.state.banned('user', user, now);
      if (locked > 0) return this.refuse('login_locked', `username locked after repeated failures (${Math.ceil(locked / 1000)} s left)`, locked);
    }
    const ip = ctx.client.ip;
    const keys = user === undefined ? ['ip:' + ip] : ['ip:' + ip, 'user:' + user];
    const { now: clock, counts } = await this.state.peek(keys);
    const wait = Math.max(this.waitFor(counts[0]!, this.s.perIp.delayAfter, clock), counts[1] === undefined ? 0 : this.waitFor(counts[1], this.s.perUsername.delayAfter, clock));
    if (wait > 0) return this.refuse('login_throttled', `login attempt too soon after ${Math.max(counts[0]!.count, counts[1]?.count ?? 0)} counted attempts`, wait);
    // Reserve: count this attempt now. A count beyond what we saw means parallel attempts got in
    // between; past the delay threshold, this one waits its turn.
    const reserved = await this.state.hit(keys, this.s.windowMs);
    attempts.set(ctx, { ip, user });
    const raced = (i: number, after: number) => reserved[i]! - 1 > counts[i]!.count && reserved[i]! - 1 >= after;
    if (raced(0, this.s.perIp.delayAfter) || (user !== undefined && raced(1, this.s.perUsername.delayAfter))) {
      attempts.delete(ctx);
      void this.state.unhit(keys);
      return this.refuse('login_throttled', 'parallel login attempts past the delay threshold', this.s.delayBaseMs);
    }
    return { action: 'continue' };
  }

  private waitFor(c: { count: number; last: number }, after: number, clock: number): number {
    return c.count > 0 ? c.last + delayFor(c.count, after, this.s) - clock : 0;
  }

  private refuse(code: 'login_throttled' | 'login_locked', reason: string, waitMs: number): Decision {
    return { action: 'deny', code, reason, headers: { 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))) } };
  }

  onComplete(c: CompletedContext): void {
    const a = attempts.get(c.request);
    if (a === undefined) return;
    attempts.delete(c.request);
    const keys = a.user === undefined ? ['ip:' + a.ip] : ['ip:' + a.ip, 'user:' + a.user];
    if (c.outcome !== 'allowed' || !this.statuses.has(c.status)) {
      // Not a failed login: take the attempt back; a success also clears the username.
      void this.state.unhit(keys).then(() => {
        if (c.outcome === 'allowed' && c.status >= 200 && c.status < 300 && a.user !== undefined) return this.state.resetCounters(['user:' + a.user]);
        return undefined;
      });
      return;
    }
    void this.failed(a, keys);
  }

  private async failed(a: Attempt, keys: readonly string[]): Promise<void> {
    const s = this.s;
    try {
      const { counts } = await this.state.peek(keys);
      const [total] = await this.state.hit(['login:' + this.routeId], s.stuffing.windowMs);
      if (counts[0]!.count >= s.perIp.banAfter) this.state.ban('ip', a.ip, s.banTtlMs, 'brute-force');
      if (a.user !== undefined && counts[1]!.count >= s.perUsername.lockAfter) this.state.ban('user', a.user, s.banTtlMs, 'brute-force');
      if (total! >= s.stuffing.threshold) {
        const raised = this.state.banned('alarm', this.routeId, Date.now()) === 0;
        this.state.ban('alarm', this.routeId, s.stuffing.challengeForMs, 'credential-stuffing');
        if (raised) this.state.events.stuffingAlarm(this.routeId, total!);
      }
    } catch (err) {
      this.state.events.storeError('brute-force', err);
    }
  }
}
