/**
 * The runner applies the cross-cutting policy in one place (STYLE 4): each stage's mode
 * (enforce | monitor | off), its failure mode (fail-closed by default), per-stage timing,
 * and `onComplete` exactly once. Stages only answer with decisions.
 *
 * Safety argument: a stage that throws or rejects never lets the request through unless its
 * entry says `fail-open`; a monitor-mode denial is recorded as a finding and never blocks. A
 * challenge passes only on a clearance the context's verifier accepts (a cryptographic check,
 * made once per request), so no stage can be skipped by a cookie the gateway did not sign.
 */
import { performance } from 'node:perf_hooks';
import type { ChainEntry, CompletedContext, Decision, RequestContext, ResponseContext, StageName } from './types.js';
import { CONTINUE } from './types.js';

export interface RunResult {
  readonly decision: Decision;
  /** The stage that decided, when the decision is not `continue`. */
  readonly stage: StageName | undefined;
}

const PASSED: RunResult = Object.freeze({ decision: CONTINUE, stage: undefined });

type Hook = 'onRequest' | 'onResponse';

/** Microseconds since `t0` (a performance.now() reading), at nanosecond resolution. No BigInt per reading. */
export function usSince(t0: number): number {
  return Math.round((performance.now() - t0) * 1e6) / 1000;
}

function settle(entry: ChainEntry, ctx: RequestContext, decision: Decision, t0: number): RunResult | undefined {
  ctx.timings.push({ stage: entry.stage.name, us: usSince(t0) });
  if (decision.action === 'continue') return undefined;
  if (decision.action === 'deny') {
    const monitored = entry.mode === 'monitor';
    ctx.findings.push({ stage: entry.stage.name, code: decision.code, reason: decision.reason, monitored });
    return monitored ? undefined : { decision, stage: entry.stage.name };
  }
  if (decision.action === 'challenge') {
    const monitored = entry.mode === 'monitor';
    // A paid challenge (valid clearance) lets the chain go on as if the stage had continued.
    const cleared = !monitored && ctx.clearance !== undefined && (ctx.cleared ??= ctx.clearance.verify(ctx));
    const reason = decision.reason ?? 'challenge';
    ctx.findings.push(cleared ? { stage: entry.stage.name, code: 'challenge_required', reason, monitored, cleared } : { stage: entry.stage.name, code: 'challenge_required', reason, monitored });
    return monitored || cleared ? undefined : { decision, stage: entry.stage.name };
  }
  // `respond` ends the chain in enforce mode only.
  return entry.mode === 'monitor' ? undefined : { decision, stage: entry.stage.name };
}

function failed(entry: ChainEntry, ctx: RequestContext, err: unknown, t0: number): RunResult | undefined {
  ctx.timings.push({ stage: entry.stage.name, us: usSince(t0) });
  const message = err instanceof Error ? err.message : String(err);
  const reason = `stage ${entry.stage.name} failed: ${message}`.slice(0, 300);
  const open = entry.onError === 'fail-open' || entry.mode === 'monitor';
  ctx.findings.push({ stage: entry.stage.name, code: 'stage_failed', reason, monitored: open });
  if (open) return undefined;
  return { decision: { action: 'deny', code: 'stage_failed', reason }, stage: entry.stage.name };
}

/**
 * Runs `hook` over `entries` in the given order. Synchronous stages run without allocating a
 * promise; the first asynchronous answer switches to an async continuation.
 */
function run(entries: readonly ChainEntry[], hook: Hook, ctx: RequestContext, arg: RequestContext | ResponseContext, from: number): RunResult | Promise<RunResult> {
  for (let i = from; i < entries.length; i++) {
    const entry = entries[i]!;
    if (entry.mode === 'off') continue;
    const fn = entry.stage[hook] as ((a: typeof arg) => Decision | Promise<Decision>) | undefined;
    if (fn === undefined) continue;
    const t0 = performance.now();
    let answer: Decision | Promise<Decision>;
    try {
      answer = fn.call(entry.stage, arg);
    } catch (err) {
      const stop = failed(entry, ctx, err, t0);
      if (stop) return stop;
      continue;
    }
    if (answer instanceof Promise) {
      return answer.then(
        (decision) => settle(entry, ctx, decision, t0) ?? run(entries, hook, ctx, arg, i + 1),
        (err: unknown) => failed(entry, ctx, err, t0) ?? run(entries, hook, ctx, arg, i + 1),
      );
    }
    const stop = settle(entry, ctx, answer, t0);
    if (stop) return stop;
  }
  return PASSED;
}

/** Request stages, in chain order. */
export function runRequest(chain: readonly ChainEntry[], ctx: RequestContext): RunResult | Promise<RunResult> {
  return run(chain, 'onRequest', ctx, ctx, 0);
}

/** Response stages, in reverse chain order (`reversed` is precomputed by the chain builder). */
export function runResponse(reversed: readonly ChainEntry[], rctx: ResponseContext): RunResult | Promise<RunResult> {
  return run(reversed, 'onResponse', rctx.request, rctx, 0);
}

/** Calls every stage's onComplete. Never throws; a failing hook is reported through `onHookError`. */
export function runComplete(chain: readonly ChainEntry[], c: CompletedContext, onHookError: (stage: StageName, err: unknown) => void): void {
  for (const entry of chain) {
    const fn = entry.stage.onComplete;
    if (fn === undefined || entry.mode === 'off') continue;
    try {
      fn.call(entry.stage, c);
    } catch (err) {
      onHookError(entry.stage.name, err);
    }
  }
}
