/**
 * Total timeouts of upstream exchanges without a timer per request.
 *
 * Every exchange of one upstream has the same total timeout, so deadlines in arrival order are
 * in expiry order: a doubly linked list (the entries are the exchanges themselves) with one
 * timer armed for its head. Adding is an append, finishing an unlink, both O(1) and without
 * allocation; a `setTimeout` and `clearTimeout` per request cost more than the whole list.
 */
import { performance } from 'node:perf_hooks';

/** An exchange that can expire. The fields belong to the list; `onDeadline` is called at most once. */
export interface DeadlineEntry {
  deadlineAt: number;
  deadlinePrev: DeadlineEntry | undefined;
  deadlineNext: DeadlineEntry | undefined;
  deadlineList: Deadlines | undefined;
  onDeadline(): void;
}

export class Deadlines {
  private head: DeadlineEntry | undefined;
  private tail: DeadlineEntry | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Entries in the list (for tests and metrics). */
  size = 0;

  constructor(readonly timeoutMs: number) {}

  /** Starts the clock of `e`: `onDeadline` runs once `timeoutMs` have passed, unless `remove` comes first. */
  add(e: DeadlineEntry): void {
    if (e.deadlineList !== undefined) e.deadlineList.remove(e);
    e.deadlineAt = performance.now() + this.timeoutMs;
    e.deadlineList = this;
    e.deadlinePrev = this.tail;
    e.deadlineNext = undefined;
    if (this.tail === undefined) this.head = e;
    else this.tail.deadlineNext = e;
    this.tail = e;
    this.size++;
    if (this.timer === undefined) this.arm(this.timeoutMs);
  }

  /** Stops the clock of `e` (no-op when it is not in this list). */
  remove(e: DeadlineEntry): void {
    if (e.deadlineList !== this) return;
    const { deadlinePrev: prev, deadlineNext: next } = e;
    if (prev === undefined) this.head = next;
    else prev.deadlineNext = next;
    if (next === undefined) this.tail = prev;
    else next.deadlinePrev = prev;
    e.deadlinePrev = undefined;
    e.deadlineNext = undefined;
    e.deadlineList = undefined;
    this.size--;
    // An armed timer whose head went away fires for nothing and re-arms: cheaper than re-arming here.
  }

  private arm(ms: number): void {
    this.timer = setTimeout(this.expire, Math.max(1, Math.ceil(ms)));
    // In-flight exchanges keep the process alive through their sockets, not through this timer.
    this.timer.unref();
  }

  private readonly expire = (): void => {
    this.timer = undefined;
    const now = performance.now();
    let e = this.head;
    while (e !== undefined && e.deadlineAt <= now) {
      this.remove(e);
      e.onDeadline();
      e = this.head;
    }
    if (e !== undefined) this.arm(e.deadlineAt - now);
  };

  /** Cancels the timer (the entries stay; used when the upstream pool is dropped). */
  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
