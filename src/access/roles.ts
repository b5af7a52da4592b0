/**
 * Function-level authorization: the operation (`x-portcullis-roles`) or route (`roles`) is
 * reserved to callers holding one of the listed roles. Admin operations stay unreachable to
 * ordinary users however they authenticate.
 */
import type { Decision, RequestContext, Stage } from '../pipeline/types.js';
import { CONTINUE } from '../pipeline/types.js';

export class RolesStage implements Stage {
  readonly name = 'authz' as const;
  private readonly deny: Decision;

  constructor(private readonly roles: readonly string[]) {
    this.deny = Object.freeze({ action: 'deny', code: 'role_required', reason: `needs one of the roles ${roles.join(', ')}` });
  }

  onRequest(ctx: RequestContext): Decision {
    const held = ctx.principal?.roles;
    if (held !== undefined) for (const r of this.roles) if (held.includes(r)) return CONTINUE;
    return this.deny;
  }
}
