/**
 * The `threats` stage: runs the engine over each request.
 *
 * Two chain entries share one engine: the head stage (path, query, headers, cookies) runs
 * before the body is read, so an attack in the URL is refused without buffering anything and
 * a GET stays synchronous; the body stage (`needsBody`) adds the body's findings to the same
 * score. Both come after the contract stages, whose typed inputs (RequestContext.inputs) say
 * which values proved to be integers, enum members, uuids, dates … and need no scanning.
 */
import type { Decision, RequestContext, Stage, TypedInputInfo } from '../pipeline/types.js';
import { CONTINUE } from '../pipeline/types.js';
import { Inspection, skipKey, type SkipSet, type ThreatEngine } from './engine.js';
import type { InputLocation, RawRequest } from './types.js';

/** Formats whose values cannot carry an injection once validated. */
const SAFE_FORMATS: ReadonlySet<string> = new Set(['uuid', 'date', 'date-time', 'time', 'email', 'ipv4', 'ipv6', 'int32', 'int64', 'float', 'double', 'duration']);
const SAFE_TYPES: ReadonlySet<string> = new Set(['integer', 'number', 'boolean', 'null']);

/** True when the contract proved this input harmless. */
export function provenSafe(i: TypedInputInfo): boolean {
  if (i.enumerated) return true;
  if (i.type !== undefined && SAFE_TYPES.has(i.type)) return true;
  return i.format !== undefined && SAFE_FORMATS.has(i.format);
}

/**
 * The skip set of a request for the head (path and query; headers and cookies are always read)
 * or for the body, or undefined when nothing there was proved.
 */
export function skipSetOf(ctx: RequestContext, part: 'head' | 'body'): SkipSet | undefined {
  const inputs = ctx.inputs;
  if (inputs === undefined || inputs.length === 0) return undefined;
  let set: Set<string> | undefined;
  for (const i of inputs) {
    if ((i.location === 'body') !== (part === 'body') || !provenSafe(i)) continue;
    set ??= new Set();
    if (i.location === 'path') {
      // Path segments are inspected by value.
      const v = ctx.params[i.name];
      if (v !== undefined) set.add(skipKey('path', v));
    } else {
      set.add(skipKey(i.location as InputLocation, i.name));
    }
  }
  return set;
}

/** Head inspections with findings, for the body stage of the same request. */
const carried = new WeakMap<RequestContext, Inspection>();

function decide(engine: ThreatEngine, run: Inspection, ctx: RequestContext): Decision {
  if (run.findings.length > 0 || run.incomplete !== undefined) {
    ctx.threats = { score: run.score, paranoia: engine.options.paranoia, threshold: engine.options.threshold, findings: run.findings };
  }
  if (!run.block || run.reported) return CONTINUE;
  run.reported = true;
  if (run.incomplete !== undefined) {
    return { action: 'deny', code: 'inspection_limit_exceeded', reason: 'threat inspection budget exceeded' };
  }
  const top = run.findings.slice(0, 4).map((f) => `${f.detector}@${f.location}:${f.name}`).join(', ');
  return { action: 'deny', code: 'attack_detected', reason: `score ${run.score} >= ${engine.options.threshold}: ${top}` };
}

export class ThreatHeadStage implements Stage {
  readonly name = 'threats' as const;

  constructor(readonly engine: ThreatEngine) {}

  onRequest(ctx: RequestContext): Decision {
    const req: RawRequest = { method: ctx.method, rawPath: ctx.path, rawQuery: ctx.rawQuery, headers: ctx.headers, body: undefined };
    const run = new Inspection(this.engine);
    this.engine.inspectHead(run, req, skipSetOf(ctx, 'head'));
    // Only a head with findings has state the body stage must continue from.
    if (run.findings.length > 0) carried.set(ctx, run);
    return decide(this.engine, run, ctx);
  }
}

export class ThreatBodyStage implements Stage {
  readonly name = 'threats' as const;
  readonly needsBody = true;

  constructor(readonly engine: ThreatEngine) {}

  onRequest(ctx: RequestContext): Decision {
    const body = ctx.body;
    if (body === undefined || body.length === 0) return CONTINUE;
    const run = carried.get(ctx) ?? new Inspection(this.engine);
    if (run.reported) return CONTINUE;
    const req: RawRequest = { method: ctx.method, rawPath: ctx.path, rawQuery: ctx.rawQuery, headers: ctx.headers, body };
    this.engine.inspectBody(run, req, skipSetOf(ctx, 'body'));
    return decide(this.engine, run, ctx);
  }
}
