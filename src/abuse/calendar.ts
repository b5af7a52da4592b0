/**
 * Calendar windows for quotas: days (or blocks of days) starting at midnight in a time zone, and
 * calendar months. The bounds are computed with Intl once per window and reused until the
 * window ends, so a check costs two comparisons.
 */
import type { WindowClock } from '../store/index.js';

const DAY_MS = 86_400_000;

/** Wall-clock time in `tz` at `instant`, as if that wall clock were UTC (ms). */
function wallClock(fmt: Intl.DateTimeFormat, instant: number): number {
  let y = 0;
  let mo = 0;
  let d = 0;
  let h = 0;
  let mi = 0;
  let s = 0;
  for (const p of fmt.formatToParts(instant)) {
    const v = Number(p.value);
    switch (p.type) {
      case 'year':
        y = v;
        break;
      case 'month':
        mo = v;
        break;
      case 'day':
        d = v;
        break;
      case 'hour':
        h = v === 24 ? 0 : v;
        break;
      case 'minute':
        mi = v;
        break;
      case 'second':
        s = v;
        break;
      default:
        break;
    }
  }
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

export class CalendarWindow implements WindowClock {
  private readonly fmt: Intl.DateTimeFormat;
  private start = 0;
  private end = 0;

  /** `days` > 0: blocks of that many days; 0: calendar months. */
  constructor(
    readonly timeZone: string,
    readonly days: number,
  ) {
    this.fmt = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  /** The instant at which the wall clock in the zone shows `wall` (ms as if UTC). */
  private toInstant(wall: number): number {
    // The offset at a first guess, then at the result: right across a DST change too.
    const guess = wall - (wallClock(this.fmt, wall) - wall);
    const offset = wallClock(this.fmt, guess) - Math.floor(guess / 1000) * 1000;
    return wall - offset;
  }

  bounds(now: number, out: Float64Array): void {
    if (now < this.start || now >= this.end) this.compute(now);
    out[0] = this.start;
    out[1] = this.end;
  }

  private compute(now: number): void {
    const wall = wallClock(this.fmt, now);
    let startWall: number;
    let endWall: number;
    if (this.days === 0) {
      const d = new Date(wall);
      startWall = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
      endWall = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    } else {
      const day = Math.floor(wall / DAY_MS);
      const first = day - (day % this.days);
      startWall = first * DAY_MS;
      endWall = (first + this.days) * DAY_MS;
    }
    this.start = this.toInstant(startWall);
    this.end = this.toInstant(endWall);
    // A window must hold `now` even where a zone's history is odd.
    if (!(this.start <= now && now < this.end)) {
      this.start = now - (now % DAY_MS);
      this.end = this.start + DAY_MS;
    }
  }
}
