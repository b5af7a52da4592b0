/**
 * Time bounds for the threat tests that hold on a loaded machine (CI shares its cores).
 *
 * - CPU time of this process (process.cpuUsage), not wall-clock time: waiting for a core is
 *   not counted, only the work done.
 * - Best of several runs, after a warm-up call that pays for compilation: one slow run is noise.
 * - A generous ceiling; above it, a second chance against an ordinary input of the same size
 *   timed in the same way: a machine that is slow for the one is slow for the other, while a
 *   quadratic scan of 100 KB costs hundreds of times what a linear one does.
 */
import assert from 'node:assert/strict';

/** CPU milliseconds (user + system) that `fn` takes once. */
export function cpuMs(fn: () => unknown): number {
  const t0 = process.cpuUsage();
  fn();
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1000;
}

/** Best of `runs` timings of `fn` in CPU milliseconds; stops early once a run is at most `enoughMs`. */
export function bestCpuMs(fn: () => unknown, runs = 5, enoughMs = 0): number {
  let best = Infinity;
  for (let r = 0; r < runs && best > enoughMs; r++) best = Math.min(best, cpuMs(fn));
  return best;
}

/** Prose with the punctuation detectors look at, `length` characters: the ordinary input of that size. */
export function ordinaryText(length: number): string {
  const unit = "O'Brien wrote: select a plan (or two) from the list; cats & dogs | 1 - 2 = -1, see https://example.com/a?b=c. ";
  return unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
}

export interface CheapOptions {
  /** CPU milliseconds (best of `runs`) under which the input passes outright. */
  readonly ceilingMs: number;
  /** The input of the same size to compare with above the ceiling (default ordinaryText). */
  readonly ordinary?: string;
  /** How many times the ordinary input's time the input may take above the ceiling (default 50). */
  readonly ratio?: number;
  /** Timed runs (default 5). */
  readonly runs?: number;
}

/**
 * Asserts that `fn(input)` is cheap: at most `ceilingMs` of CPU time (best of runs), or else at
 * most `ratio` times `fn(ordinary)` (the ordinary time counted as at least 1 ms, so that a
 * detector that rejects ordinary text at once still leaves room).
 */
export function assertCheap(label: string, fn: (s: string) => unknown, input: string, o: CheapOptions): void {
  const runs = o.runs ?? 5;
  fn(input);
  const t = bestCpuMs(() => fn(input), runs, o.ceilingMs / 4);
  if (t <= o.ceilingMs) return;
  const ordinary = o.ordinary ?? ordinaryText(input.length);
  fn(ordinary);
  const base = Math.max(bestCpuMs(() => fn(ordinary), runs), 1);
  const ratio = o.ratio ?? 50;
  assert.ok(
    t <= ratio * base,
    `${label}: ${t.toFixed(1)} ms of CPU (best of ${runs}), over the ceiling of ${o.ceilingMs} ms and ${(t / base).toFixed(0)}x ` +
      `an ordinary input of the same size (${base.toFixed(2)} ms; at most ${ratio}x)`,
  );
}

/** CPU nanoseconds per call of `fn` over `n` calls, best of `batches` batches (after one warm-up batch). */
export function cpuNsPerCall(fn: (i: number) => unknown, n: number, batches = 3): number {
  for (let i = 0; i < n; i++) fn(i);
  const run = (): void => {
    for (let i = 0; i < n; i++) fn(i);
  };
  return (bestCpuMs(run, batches) * 1e6) / n;
}
