/**
 * Time bounds that hold on a loaded machine. Wall-clock bounds fail when other processes take
 * the CPU; these measure CPU time of this process (`process.cpuUsage`), keep the best of several
 * runs (a run interrupted by GC or a page fault is not the cost of the code), and compare the
 * input under test with an ordinary input of the same size measured the same way, so a slower
 * machine moves both. A generous absolute ceiling stays, for a catastrophe the ratio could hide
 * (a baseline that became slow too).
 */
import assert from 'node:assert/strict';

/** Best CPU time (user + system, ms) of `runs` calls of `fn`. */
export function cpuMs(fn: () => unknown, runs = 5): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t0 = process.cpuUsage();
    fn();
    const d = process.cpuUsage(t0);
    best = Math.min(best, (d.user + d.system) / 1000);
  }
  return best;
}

export interface CheapOptions {
  /** What is measured, for the message. */
  readonly what: string;
  /** `work` may cost at most `ratio` × `baseline` … */
  readonly ratio: number;
  /** … plus this much (timer resolution and fixed costs of a tiny baseline; default 2 ms). */
  readonly slackMs?: number;
  /** And never more than this, whatever the baseline (CPU ms). */
  readonly ceilingMs: number;
  /** Runs of each, the best kept (default 5). */
  readonly runs?: number;
}

/**
 * Asserts that `work` costs at most `ratio` × `baseline` + slack in CPU time, best of several
 * runs of each, and stays under an absolute ceiling. Returns both figures.
 */
export function assertCheap(work: () => unknown, baseline: () => unknown, o: CheapOptions): { workMs: number; baseMs: number } {
  const runs = o.runs ?? 5;
  // Interleaved, so that a busy spell weighs on both.
  let workMs = Number.POSITIVE_INFINITY;
  let baseMs = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    baseMs = Math.min(baseMs, cpuMs(baseline, 1));
    workMs = Math.min(workMs, cpuMs(work, 1));
  }
  const bound = o.ratio * baseMs + (o.slackMs ?? 2);
  const figures = `${o.what}: ${workMs.toFixed(2)} ms CPU vs baseline ${baseMs.toFixed(2)} ms (bound ${o.ratio}x + ${o.slackMs ?? 2} ms, ceiling ${o.ceilingMs} ms)`;
  assert.ok(workMs <= bound, figures);
  assert.ok(workMs < o.ceilingMs, figures);
  return { workMs, baseMs };
}
