/**
 * The `ip-rules` stage: refuses client addresses in a deny list, and addresses outside an allow
 * list, before anything else looks at the request (first in the chain, before authentication).
 *
 * Safety argument: the address is the real client IP the gateway resolved (trusted proxies
 * only); an address that cannot be parsed (a socket already gone) is refused whenever any list
 * applies, so no list can be skipped by an odd address. A deny entry wins over an allow entry.
 */
import type { Decision, RequestContext, Stage } from '../pipeline/types.js';
import { CONTINUE } from '../pipeline/types.js';
import { type IpSet, parseIp } from './ip.js';

const scratch = new Uint32Array(4);

export class IpRulesStage implements Stage {
  readonly name = 'ip-rules' as const;
  private readonly deny: readonly IpSet[];
  private readonly allow: readonly IpSet[];

  /** `deny`: every list that refuses; `allow`: every list the address must be in (all of them). */
  constructor(deny: readonly (IpSet | undefined)[], allow: readonly (IpSet | undefined)[]) {
    this.deny = deny.filter((s): s is IpSet => s !== undefined);
    this.allow = allow.filter((s): s is IpSet => s !== undefined);
  }

  /** Whether any list applies (a route without lists gets no stage). */
  get active(): boolean {
    return this.deny.length > 0 || this.allow.length > 0;
  }

  onRequest(ctx: RequestContext): Decision {
    const family = parseIp(ctx.client.ip, scratch);
    if (family === 0) return { action: 'deny', code: 'ip_denied', reason: 'client address unknown' };
    for (const set of this.deny) {
      if (family === 4 ? set.has4(scratch[0]!) : set.has6(scratch)) return { action: 'deny', code: 'ip_denied', reason: `in deny list ${set.label}` };
    }
    for (const set of this.allow) {
      if (!(family === 4 ? set.has4(scratch[0]!) : set.has6(scratch))) return { action: 'deny', code: 'ip_denied', reason: `not in allow list ${set.label}` };
    }
    return CONTINUE;
  }
}
