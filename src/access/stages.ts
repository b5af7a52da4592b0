/**
 * The access stages a route's chain holds, built from the compiled policies of access/:
 * object-level ownership (BOLA) and property-level authorization (mass assignment on the way
 * in, excessive data exposure on the way out). The request body is parsed once per request and
 * shared by both (`RequestContext.json`).
 */
import type { Decision, RequestContext, ResponseContext, Stage } from '../pipeline/types.js';
import { CONTINUE } from '../pipeline/types.js';
import type { OwnershipPolicy } from './ownership.js';
import { parseJsonBody, type ReadPolicy, type WritePolicy } from './properties.js';

const NO_ROLES: readonly string[] = [];

/** The request body parsed as JSON, once per request. `undefined` value for an empty body. */
export function requestJson(ctx: RequestContext): { ok: true; value: unknown } | { ok: false; reason: string } {
  if (ctx.json !== undefined) return ctx.json;
  const body = ctx.body;
  if (body === undefined || body.length === 0) ctx.json = { ok: true, value: undefined };
  else {
    const ct = ctx.headers['content-type'];
    ctx.json = parseJsonBody(body, typeof ct === 'string' ? ct : undefined);
  }
  return ctx.json;
}

export class OwnershipStage implements Stage {
  readonly name = 'authz' as const;
  readonly needsBody: boolean;

  constructor(private readonly policy: OwnershipPolicy) {
    this.needsBody = policy.needsBody;
  }

  onRequest(ctx: RequestContext): Decision | Promise<Decision> {
    let body: unknown;
    if (this.needsBody) {
      const j = requestJson(ctx);
      if (!j.ok) return { action: 'deny', code: 'body_not_json', reason: j.reason };
      body = j.value;
    }
    return this.policy.check({ params: ctx.params, query: new URLSearchParams(ctx.rawQuery), headers: ctx.headers, body, principal: ctx.principal });
  }
}

/** Whether a response's content type is JSON (`application/json` or `+json`). */
function isJson(ct: unknown): boolean {
  if (typeof ct !== 'string') return false;
  const semi = ct.indexOf(';');
  const base = (semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase();
  return base === 'application/json' || base.endsWith('+json');
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** Mass assignment: a body that writes a property the caller may not write is refused. */
export class PropertyWriteStage implements Stage {
  readonly name = 'properties' as const;
  readonly needsBody = true;

  constructor(private readonly write: WritePolicy) {}

  /** Only methods that carry a representation to store are checked. */
  static applies(method: string): boolean {
    return WRITE_METHODS.has(method);
  }

  onRequest(ctx: RequestContext): Decision {
    const j = requestJson(ctx);
    if (!j.ok) return { action: 'deny', code: 'body_not_json', reason: j.reason };
    if (j.value === undefined) return CONTINUE;
    const v = this.write.check(j.value, ctx.principal?.roles ?? NO_ROLES);
    if (v === undefined) return CONTINUE;
    return { action: 'deny', code: 'property_not_writable', reason: `body sets ${v.pointer} (${v.rule})` };
  }
}

/** Excessive data exposure: response properties the caller may not read are removed. */
export class PropertyReadStage implements Stage {
  readonly name = 'properties' as const;

  constructor(private readonly read: ReadPolicy) {}

  wantsResponseBody(ctx: ResponseContext): boolean {
    return isJson(ctx.headers['content-type']);
  }

  onResponseBody(ctx: ResponseContext, body: Buffer): Buffer | Decision {
    if (body.length === 0) return body;
    const ct = ctx.headers['content-type'];
    const parsed = parseJsonBody(body, typeof ct === 'string' ? ct : undefined);
    // Labelled JSON but not parseable as such (or too deep): what it holds cannot be filtered, so it is not sent.
    if (!parsed.ok) return { action: 'deny', code: 'upstream_bad_response', reason: `response body not filterable: ${parsed.reason}` };
    const value = parsed.value;
    const { removed } = this.read.filter(ctx.status, value, ctx.request.principal?.roles ?? NO_ROLES);
    if (removed.length === 0) return body;
    return Buffer.from(JSON.stringify(value), 'utf8');
  }
}
