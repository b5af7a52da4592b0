/**
 * The `bans` stage: first in the chain, it refuses a client IP that is banned for a while
 * (429 `client_banned` with `Retry-After`: the client may come back, and well-behaved clients
 * understand 429). The check reads the process-local ban list, which with Redis mirrors the
 * shared list (every instance learns a ban within one pub/sub message), so it never waits.
 *
 * It also places bans: with `bans.onAttacks`, an IP whose requests were refused by threat
 * detection `threshold` times within `window` is banned for `ttl` (counted in the store, so
 * attacks spread over instances add up), and so is the authenticated principal that sent them
 * (changing IPs does not help an attacker with a valid key). Principal bans are checked after
 * authentication (`PrincipalBansStage`). Other stages ban through `AbuseState.ban`.
 */
import type { CompletedContext, Decision, RequestContext, Stage } from '../pipeline/types.js';
import { CONTINUE } from '../pipeline/types.js';
import type { AbuseState } from './state.js';

export interface OnAttacks {
  readonly threshold: number;
  readonly windowMs: number;
  readonly ttlMs: number;
}

export class BansStage implements Stage {
  readonly name = 'bans' as const;

  constructor(
    private readonly state: AbuseState,
    private readonly onAttacks: OnAttacks | undefined,
  ) {}

  onRequest(ctx: RequestContext): Decision {
    const left = this.state.banned('ip', ctx.client.ip, Date.now());
    if (left === 0) return CONTINUE;
    const s = Math.max(1, Math.ceil(left / 1000));
    return { action: 'deny', code: 'client_banned', reason: `client IP is banned for ${s} s more`, headers: { 'retry-after': String(s) } };
  }

  onComplete(c: CompletedContext): void {
    const a = this.onAttacks;
    if (a === undefined || c.code !== 'attack_detected' || c.outcome !== 'denied') return;
    const ip = c.request.client.ip;
    const principal = c.request.principal?.id;
    const keys = principal === undefined ? ['att:' + ip] : ['att:' + ip, 'attp:' + principal];
    this.state.hit(keys, a.windowMs).then(
      (counts) => {
        if (counts[0]! >= a.threshold) this.state.ban('ip', ip, a.ttlMs, 'attacks');
        if (principal !== undefined && counts[1]! >= a.threshold) this.state.ban('principal', principal, a.ttlMs, 'attacks');
      },
      (err: unknown) => this.state.events.storeError('count', err),
    );
  }
}

/** After authentication: refuses a banned principal (429 `client_banned`), whichever IP it comes from. */
export class PrincipalBansStage implements Stage {
  readonly name = 'bans' as const;

  constructor(private readonly state: AbuseState) {}

  onRequest(ctx: RequestContext): Decision {
    const p = ctx.principal;
    if (p === undefined) return CONTINUE;
    const left = this.state.banned('principal', p.id, Date.now());
    if (left === 0) return CONTINUE;
    const s = Math.max(1, Math.ceil(left / 1000));
    return { action: 'deny', code: 'client_banned', reason: `principal is banned for ${s} s more`, headers: { 'retry-after': String(s) } };
  }
}
