/**
 * A concurrency limit with a bounded waiting queue, for load shedding: the gateway's global
 * limit and each upstream's. Below the limit `tryAcquire` is a counter increment (no
 * allocation); at the limit a request waits in a FIFO of at most `maxQueue` entries for at most
 * `queueTimeoutMs`; beyond that it is refused at once. Every acquired slot must be released
 * exactly once (the gateway does it when the request's record is written).
 */

/** A request waiting for a slot. */
export interface Ticket {
  /** The waiter gave up (its client went away): skipped when its turn comes. */
  cancel(): void;
}

interface Waiter extends Ticket {
  cancelled: boolean;
  readonly go: () => void;
  timer: NodeJS.Timeout | undefined;
}

export interface LimiterSettings {
  /** Most slots held at once. */
  readonly maxConcurrent: number;
  /** Most requests waiting for a slot (0: refuse at once). */
  readonly maxQueue: number;
  readonly queueTimeoutMs: number;
}

export class Limiter {
  active = 0;
  /** Live waiters (not run, expired or cancelled). */
  waiting = 0;
  private queue: Waiter[] = [];
  private head = 0;

  constructor(public settings: LimiterSettings) {}

  /** Takes a slot when one is free. */
  tryAcquire(): boolean {
    // Waiters go first: a newcomer never overtakes the queue.
    if (this.active >= this.settings.maxConcurrent || this.waiting > 0) return false;
    this.active++;
    return true;
  }

  /**
   * Waits for a slot: `go` runs holding it, or `expire` runs after the queue timeout (holding
   * nothing). Undefined when the queue is full (refuse at once).
   */
  enqueue(go: () => void, expire: () => void): Ticket | undefined {
    if (this.waiting >= this.settings.maxQueue) return undefined;
    const w: Waiter = {
      cancelled: false,
      go,
      timer: undefined,
      cancel: () => {
        if (w.cancelled) return;
        w.cancelled = true;
        this.waiting--;
        if (w.timer !== undefined) clearTimeout(w.timer);
      },
    };
    w.timer = setTimeout(() => {
      if (w.cancelled) return;
      w.cancelled = true;
      this.waiting--;
      expire();
    }, this.settings.queueTimeoutMs);
    this.waiting++;
    // Expired and cancelled waiters stay in the array until their turn: prune them when they pile up.
    if (this.queue.length - this.head > 2 * this.settings.maxQueue + 16) {
      this.queue = this.queue.slice(this.head).filter((x) => !x.cancelled);
      this.head = 0;
    }
    this.queue.push(w);
    // A slot may have freed between tryAcquire and here.
    this.drain();
    return w;
  }

  /** Gives a slot back; the first live waiter gets it. */
  release(): void {
    this.active--;
    this.drain();
  }

  private drain(): void {
    while (this.active < this.settings.maxConcurrent && this.head < this.queue.length) {
      const w = this.queue[this.head]!;
      this.queue[this.head] = undefined as unknown as Waiter;
      this.head++;
      if (w.cancelled) continue;
      w.cancelled = true;
      this.waiting--;
      if (w.timer !== undefined) clearTimeout(w.timer);
      this.active++;
      w.go();
    }
    // Compact once the consumed head is large, so the array does not grow without end.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    } else if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    }
  }
}
