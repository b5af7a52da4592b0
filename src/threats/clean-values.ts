/**
 * A bounded memory of values the engine inspected and found clean (no detector hit, no decoding
 * anomaly), by input name: most header values of real traffic repeat from request to request
 * (Content-Type, Accept, Accept-Language, one User-Agent per client), and inspecting one costs
 * tens of microseconds when it has punctuation (a browser's User-Agent); so do the paths of an
 * API's routes. The engine keeps one memory for header values and one for paths.
 *
 * Why it cannot change a verdict: detectors and normalization are pure functions of the value,
 * its name and location, and the engine's options, which are fixed for the engine that owns the
 * memory; so a value found clean once is clean again. Only clean values are kept: a value with a
 * hit is inspected every time. The budget of the request still counts the value.
 *
 * Bounded: two generations of at most `max` values each (of at most `maxLength` characters);
 * when the young one is full it becomes the old one and the old one is dropped; a value found
 * in the old generation moves to the young one. Values that repeat stay, one-off values (request
 * ids) pass through without pushing the others out for long.
 */
export class CleanValues {
  private young = new Map<string, Set<string>>();
  private old = new Map<string, Set<string>>();
  private youngSize = 0;

  constructor(
    readonly max = 256,
    readonly maxLength = 512,
  ) {}

  /** Whether `value` of input `name` was found clean. */
  has(name: string, value: string): boolean {
    if (this.young.get(name)?.has(value) === true) return true;
    if (this.old.get(name)?.has(value) !== true) return false;
    this.add(name, value);
    return true;
  }

  /** Remembers that `value` of input `name` is clean. */
  add(name: string, value: string): void {
    if (value.length > this.maxLength) return;
    if (this.youngSize >= this.max) {
      this.old = this.young;
      this.young = new Map();
      this.youngSize = 0;
    }
    let set = this.young.get(name);
    if (set === undefined) {
      set = new Set();
      this.young.set(name, set);
    }
    if (!set.has(value)) {
      set.add(value);
      this.youngSize++;
    }
  }

  /** Values held (both generations; a value may be in both). */
  get size(): number {
    let n = 0;
    for (const s of this.young.values()) n += s.size;
    for (const s of this.old.values()) n += s.size;
    return n;
  }
}
