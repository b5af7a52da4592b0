/**
 * Hot-path output for JSON lines: each event is one string, copied with one call into a reused
 * 64 KiB chunk and written to a file descriptor in batches.
 *
 * Why not a logger: under load, every byte a request allocates brings the next young-generation
 * GC closer, and each one copies the state of every request in flight. Building an object and
 * a string per event, then buffering the string, cost the gateway ~19 µs of CPU per request;
 * this costs ~2.
 *
 * Bounds: memory is at most `maxBytes` of pending lines; past it lines are dropped and counted
 * (never blocking the request path). A line longer than a third of a chunk is dropped too.
 */
import { closeSync, mkdirSync, openSync, write as fsWrite } from 'node:fs';
import { dirname } from 'node:path';

const CHUNK_BYTES = 64 * 1024;

/**
 * A JSON string literal in pure ASCII: plain ASCII (the common case) costs one scan and one
 * concatenation; anything else is escaped as by JSON.stringify, and then every non-ASCII
 * character as `\uXXXX`. Lines built from these are ASCII, so they are copied into the batch
 * buffer one byte per character (latin1), which is cheaper than UTF-8 encoding.
 */
export function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return escapeNonAscii(JSON.stringify(s));
  }
  return '"' + s + '"';
}

function escapeNonAscii(json: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c <= 0x7e) continue;
    out += json.slice(from, i) + (c < 0x100 ? '\\u00' : c < 0x1000 ? '\\u0' : '\\u') + c.toString(16);
    from = i + 1;
  }
  return from === 0 ? json : out + json.slice(from);
}

/**
 * Batches bytes to a file descriptor: 'stdout', 'stderr' or a file path (appended to, parent
 * folders created). One write in flight at a time; full chunks queue behind it.
 */
export class FdWriter {
  private fd: number;
  private readonly ownsFd: boolean;
  private current: Buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  private currentLen = 0;
  private readonly queue: { buf: Buffer; len: number }[] = [];
  private readonly free: Buffer[] = [];
  private writing = false;
  private waiters: (() => void)[] = [];
  private reopenPending = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  dropped = 0;
  errors = 0;

  constructor(
    private readonly destination: string,
    private readonly maxBytes: number,
    flushIntervalMs: number,
  ) {
    if (destination === 'stdout' || destination === 'stderr') {
      this.fd = destination === 'stdout' ? 1 : 2;
      this.ownsFd = false;
    } else {
      mkdirSync(dirname(destination), { recursive: true });
      this.fd = openSync(destination, 'a');
      this.ownsFd = true;
    }
    this.timer = setInterval(() => this.kick(true), flushIntervalMs);
    this.timer.unref();
  }

  /** Appends a line (at most CHUNK_BYTES / 3 characters). Never blocks; drops (and counts) beyond the memory bound. */
  appendString(text: string): void {
    this.append(text, false);
  }

  /**
   * Appends a line known to be pure ASCII (e.g. built from `jsonString` pieces), at most
   * CHUNK_BYTES / 3 characters: one byte per character, copied without UTF-8 encoding.
   */
  appendAscii(text: string): void {
    this.append(text, true);
  }

  private append(text: string, ascii: boolean): void {
    if (this.closed) return;
    // UTF-8 needs at most 3 bytes per UTF-16 unit: make sure the line fits before writing it.
    const need = ascii ? text.length : text.length * 3;
    if (ascii && need * 3 > CHUNK_BYTES) {
      this.dropped++;
      return;
    }
    if (need > CHUNK_BYTES) {
      this.dropped++;
      return;
    }
    if (this.currentLen + need > CHUNK_BYTES) {
      // Chunks in use: queued, in flight, current, and the one we would start now.
      const inUse = this.queue.length + (this.writing ? 1 : 0) + 2;
      if (inUse * CHUNK_BYTES > this.maxBytes) {
        this.dropped++;
        return;
      }
      this.queueCurrent();
    }
    this.currentLen += this.current.write(text, this.currentLen, ascii ? 'latin1' : 'utf8');
    if (!this.writing && this.queue.length > 0) this.kick(false);
  }

  private queueCurrent(): void {
    if (this.currentLen === 0) return;
    this.queue.push({ buf: this.current, len: this.currentLen });
    this.current = this.free.pop() ?? Buffer.allocUnsafe(CHUNK_BYTES);
    this.currentLen = 0;
    this.kick(false);
  }

  /** Starts writing the next queued chunk; with `all`, the partial current chunk too. */
  private kick(all: boolean): void {
    if (this.writing) return;
    if (all && this.currentLen > 0) {
      this.queue.push({ buf: this.current, len: this.currentLen });
      this.current = this.free.pop() ?? Buffer.allocUnsafe(CHUNK_BYTES);
      this.currentLen = 0;
    }
    const next = this.queue.shift();
    if (next === undefined) {
      if (this.reopenPending) this.doReopen();
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
      return;
    }
    this.writing = true;
    this.writeOut(next.buf, 0, next.len);
  }

  private writeOut(buf: Buffer, offset: number, end: number): void {
    fsWrite(this.fd, buf, offset, end - offset, null, (err, n) => {
      if (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          setTimeout(() => this.writeOut(buf, offset, end), 10);
          return;
        }
        this.errors++;
      } else if (offset + n < end) {
        this.writeOut(buf, offset + n, end);
        return;
      }
      if (this.free.length < 4) this.free.push(buf);
      this.writing = false;
      this.kick(this.waiters.length > 0);
    });
  }

  private doReopen(): void {
    this.reopenPending = false;
    if (!this.ownsFd) return;
    try {
      const fd = openSync(this.destination, 'a');
      closeSync(this.fd);
      this.fd = fd;
    } catch {
      this.errors++;
    }
  }

  /** Reopens the file (after a rotation) once what is pending has been written to the old one. */
  reopen(): void {
    if (!this.ownsFd || this.closed) return;
    this.reopenPending = true;
    this.kick(true);
  }

  /** Resolves when everything appended so far has been written. */
  flush(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.kick(true);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    clearInterval(this.timer);
    if (this.ownsFd) {
      try {
        closeSync(this.fd);
      } catch {
        this.errors++;
      }
    }
  }
}
