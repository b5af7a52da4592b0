/**
 * The `rate-limit` stage: every limit of a route checked in one call to the store, all or
 * nothing; 429 `rate_limited` with `Retry-After` when one refuses, and the IETF RateLimit header
 * fields (draft-ietf-httpapi-ratelimit-headers, drafts 08-11 structure) on every answer:
 *
 *   RateLimit-Policy: "per-ip";q=100;w=60, "daily";q=10000;w=86400
 *   RateLimit: "per-ip";r=42;t=17, "daily";r=9950;t=40213
 *
 * `q` is the quota of the window `w` (seconds), `r` what remains after this request, `t` the
 * seconds until the quota is whole again.
 *
 * Two entries per route at most: limits whose keys are known before authentication (IP, route,
 * header, path or query parameter) run first, so an unauthenticated flood is refused cheaply;
 * limits on the principal, credential or token claims run after authentication and
 * authorization.
 *
 * The in-process path is synchronous and reuses its arrays (a check allocates only the header
 * strings). With Redis the stage answers with a promise; while Redis is down it applies
 * `store.redis.onUnavailable` synchronously.
 */
import type { Decision, RequestContext, Stage } from '../pipeline/types.js';
import { CONTINUE } from '../pipeline/types.js';
import { ALLOWED, MAX_LIMITS_PER_REQUEST, OUT_STRIDE, STORE_UNAVAILABLE, type LimitRule } from '../store/index.js';
import type { PartReader } from './keys.js';
import type { AbuseState, CompiledLimit } from './state.js';

const UNAVAILABLE: Decision = Object.freeze({
  action: 'deny',
  code: 'rate_limit_unavailable',
  reason: 'rate-limit store unavailable (fail-closed)',
  headers: Object.freeze({ 'retry-after': '1' }),
});

function policyItem(l: CompiledLimit): string {
  return `"${l.cfg.name}";q=${l.cfg.limit};w=${Math.round(l.cfg.windowMs / 1000)}`;
}

export class RateLimitStage implements Stage {
  readonly name = 'rate-limit' as const;
  private readonly shared: LimitRule[];
  private readonly local: LimitRule[];
  /** Policy header when every limit applies (the usual case). */
  private readonly policyAll: string;
  private readonly policyItems: string[];
  // Scratch of the synchronous path.
  private readonly keys: string[] = [];
  private readonly active: number[] = [];
  private readonly sharedActive: LimitRule[] = [];
  private readonly localActive: LimitRule[] = [];
  private readonly out = new Float64Array(MAX_LIMITS_PER_REQUEST * OUT_STRIDE);

  constructor(
    private readonly state: AbuseState,
    private readonly limits: readonly CompiledLimit[],
    private readonly readers: readonly PartReader[],
    private readonly cost: number,
    private readonly headers: boolean,
  ) {
    this.shared = limits.map((l) => l.shared);
    this.local = limits.map((l) => l.local);
    this.policyItems = limits.map(policyItem);
    this.policyAll = this.policyItems.join(', ');
  }

  onRequest(ctx: RequestContext): Decision | Promise<Decision> {
    const n = this.limits.length;
    let m = 0;
    for (let i = 0; i < n; i++) {
      const key = this.readers[i]!(ctx);
      if (key === undefined) continue;
      this.keys[m] = key;
      this.active[m] = i;
      this.sharedActive[m] = this.shared[i]!;
      this.localActive[m] = this.local[i]!;
      m++;
    }
    if (m === 0) return CONTINUE;
    const now = Date.now();
    const redis = this.state.redis;
    if (redis !== undefined) {
      if (redis.health === 'up') {
        // The scratch arrays are reused by the next request before Redis answers: copy them.
        const keys = this.keys.slice(0, m);
        const active = this.active.slice(0, m);
        const rules = this.sharedActive.slice(0, m);
        const out = new Float64Array(m * OUT_STRIDE);
        return redis.checkLimits(rules, keys, m, this.cost, out, now).then((r) => {
          if (r !== STORE_UNAVAILABLE) return this.decide(ctx, r, out, active, m);
          // Redis failed on this very request: the fail mode decides it.
          return this.unavailable(ctx, active.map((i) => this.local[i]!), keys, active, m, Date.now());
        });
      }
      return this.unavailable(ctx, this.localActive, this.keys, this.active, m, now);
    }
    const r = this.state.limiter.check(this.localActive, this.keys, m, this.cost, now, this.out);
    return this.decide(ctx, r, this.out, this.active, m);
  }

  private unavailable(ctx: RequestContext, rules: readonly LimitRule[], keys: readonly string[], active: readonly number[], m: number, now: number): Decision {
    const mode = this.state.store.redis?.onUnavailable ?? 'local';
    this.state.events.fallback(mode);
    if (mode === 'fail-open') return CONTINUE;
    if (mode === 'fail-closed') return UNAVAILABLE;
    const out = this.out;
    const r = this.state.limiter.check(rules, keys, m, this.cost, now, out);
    return this.decide(ctx, r, out, active, m);
  }

  private decide(ctx: RequestContext, r: number, out: Float64Array, active: readonly number[], m: number): Decision {
    if (this.headers) this.setHeaders(ctx, out, active, m);
    const events = this.state.events;
    if (r === ALLOWED) {
      for (let j = 0; j < m; j++) events.rateLimit(this.limits[active[j]!]!.cfg.name, true);
      return CONTINUE;
    }
    const limit = this.limits[active[r]!]!;
    events.rateLimit(limit.cfg.name, false);
    const retryS = Math.max(1, Math.ceil(out[r * OUT_STRIDE + 2]! / 1000));
    return {
      action: 'deny',
      code: 'rate_limited',
      reason: `rate limit "${limit.cfg.name}" exceeded (cost ${this.cost}; retry in ${retryS} s)`,
      headers: { 'retry-after': String(retryS) },
    };
  }

  private setHeaders(ctx: RequestContext, out: Float64Array, active: readonly number[], m: number): void {
    let policy = this.policyAll;
    if (m !== this.limits.length) {
      policy = '';
      for (let j = 0; j < m; j++) policy += (j === 0 ? '' : ', ') + this.policyItems[active[j]!];
    }
    let value = '';
    for (let j = 0; j < m; j++) {
      const o = j * OUT_STRIDE;
      value += `${j === 0 ? '' : ', '}"${this.limits[active[j]!]!.cfg.name}";r=${Math.max(0, out[o]!)};t=${Math.max(0, Math.ceil(out[o + 1]! / 1000))}`;
    }
    const h = ctx.responseHeaders;
    // A route's early and late entries both report: one list each.
    const prevPolicy = h['ratelimit-policy'];
    h['ratelimit-policy'] = prevPolicy === undefined ? policy : `${prevPolicy}, ${policy}`;
    const prev = h.ratelimit;
    h.ratelimit = prev === undefined ? value : `${prev}, ${value}`;
  }
}
