/**
 * IP addresses and CIDR ranges, and a set of ranges that answers "is this address in it" in
 * O(log n) with no allocation: the ranges are merged, sorted and kept in typed arrays, and a
 * lookup is one hand-written parse plus a binary search.
 *
 * IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, also written `::ffff:xxxx:xxxx`) are IPv4:
 * both when a request comes from one (a dual-stack socket) and when a list entry names one
 * (`::ffff:10.0.0.0/104` is 10.0.0.0/8). So one entry covers a client however it connects.
 *
 * Parsing is a single left-to-right scan over at most 45 characters (longer input is refused
 * before the scan), so attacker-chosen strings cost nothing noticeable.
 */

/** Longest textual IPv6 address with an IPv4 tail (zone ids are removed first). */
const MAX_ADDR_CHARS = 45;

/**
 * Parses `s` into `out`: for IPv4 (and IPv4-mapped IPv6) `out[0]` is the address and the
 * result is 4; for IPv6 `out[0..3]` are the four 32-bit words (most significant first) and the
 * result is 6; 0 when `s` is not an address. A zone id (`fe80::1%eth0`) is ignored.
 */
export function parseIp(s: string, out: Uint32Array): 0 | 4 | 6 {
  let end = s.length;
  const zone = s.indexOf('%');
  if (zone >= 0) end = zone;
  if (end === 0 || end > MAX_ADDR_CHARS) return 0;
  if (s.indexOf(':') < 0 || s.indexOf(':') >= end) {
    const v = parseV4(s, 0, end);
    if (v < 0) return 0;
    out[0] = v;
    return 4;
  }
  if (!parseV6(s, end, out)) return 0;
  if (out[0] === 0 && out[1] === 0 && out[2] === 0xffff) {
    out[0] = out[3]!;
    return 4;
  }
  return 6;
}

/** Dotted-quad IPv4 in s[from, end) as an unsigned 32-bit number, or -1. No leading zeros (they read as octal elsewhere). */
function parseV4(s: string, from: number, end: number): number {
  let value = 0;
  let octets = 0;
  let i = from;
  while (i < end) {
    const start = i;
    let n = 0;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
      i++;
      if (i - start > 3) return -1;
    }
    const len = i - start;
    if (len === 0 || n > 255 || (len > 1 && s.charCodeAt(start) === 48)) return -1;
    value = value * 256 + n;
    octets++;
    if (i === end) break;
    if (s.charCodeAt(i) !== 46 || octets === 4) return -1;
    i++;
    if (i === end) return -1; // trailing dot
  }
  return octets === 4 ? value >>> 0 : -1;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

// Scratch for the 16-bit groups of one IPv6 parse (before and after `::`).
const groups = new Uint16Array(8);
const tail = new Uint16Array(8);

/** IPv6 in s[0, end) into four words; false when malformed. */
function parseV6(s: string, end: number, out: Uint32Array): boolean {
  let head = 0; // groups before '::'
  let after = 0; // groups after '::'
  let compressed = false;
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (end < 2 || s.charCodeAt(1) !== 58) return false;
    compressed = true;
    i = 2;
    if (i === end) {
      groups.fill(0);
      return words(out, groups);
    }
  }
  while (i < end) {
    // An IPv4 tail: the rest contains a dot.
    const start = i;
    let n = 0;
    let isV4 = false;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c === 58) break;
      if (c === 46) {
        isV4 = true;
        break;
      }
      const h = hexValue(c);
      if (h < 0) return false;
      n = n * 16 + h;
      i++;
      if (i - start > 4) return false;
    }
    if (isV4) {
      const v4 = parseV4(s, start, end);
      if (v4 < 0) return false;
      if (compressed) {
        if (after + 2 > 7 - head) return false;
        tail[after++] = v4 >>> 16;
        tail[after++] = v4 & 0xffff;
      } else {
        if (head + 2 > 8) return false;
        groups[head++] = v4 >>> 16;
        groups[head++] = v4 & 0xffff;
      }
      i = end;
      break;
    }
    if (i === start) return false; // empty group
    if (compressed) {
      if (head + after >= 7) return false;
      tail[after++] = n;
    } else {
      if (head >= 8) return false;
      groups[head++] = n;
    }
    if (i === end) break;
    // s[i] is ':'
    i++;
    if (i < end && s.charCodeAt(i) === 58) {
      if (compressed) return false; // a second '::'
      compressed = true;
      i++;
      if (i === end) break;
    } else if (i === end) {
      return false; // trailing single ':'
    }
  }
  if (compressed) {
    if (head + after > 7) return false;
    for (let k = head; k < 8 - after; k++) groups[k] = 0;
    for (let k = 0; k < after; k++) groups[8 - after + k] = tail[k]!;
  } else if (head !== 8) {
    return false;
  }
  return words(out, groups);
}

function words(out: Uint32Array, g: Uint16Array): true {
  out[0] = ((g[0]! << 16) | g[1]!) >>> 0;
  out[1] = ((g[2]! << 16) | g[3]!) >>> 0;
  out[2] = ((g[4]! << 16) | g[5]!) >>> 0;
  out[3] = ((g[6]! << 16) | g[7]!) >>> 0;
  return true;
}

/** A parsed list entry: an address or CIDR as an inclusive range. */
export type IpRange = { readonly family: 4; readonly start: number; readonly end: number } | { readonly family: 6; readonly start: Uint32Array; readonly end: Uint32Array };

/**
 * Parses `203.0.113.0/24`, `2001:db8::/32`, or a single address. Host bits under the prefix
 * are ignored (`10.1.2.3/8` is 10.0.0.0/8). Returns a message saying what was expected when
 * the text is not one of those.
 */
export function parseCidr(text: string): IpRange | { readonly error: string } {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const w = new Uint32Array(4);
  const raw = parseRaw(addr, w);
  if (raw === 0) return { error: 'expected an IPv4 or IPv6 address or CIDR such as 203.0.113.0/24 or 2001:db8::/32' };
  let bits = raw === 4 ? 32 : 128;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (p.length === 0 || p.length > 3 || !isDigits(p)) return { error: `expected a prefix length after "/" (0-${bits})` };
    const n = Number(p);
    if (n > bits) return { error: `prefix length /${n} is longer than the ${bits} bits of an IPv${raw} address` };
    bits = n;
  }
  if (raw === 6 && w[0] === 0 && w[1] === 0 && w[2] === 0xffff && bits >= 96) {
    // IPv4-mapped: a range of IPv4 addresses.
    return v4Range(w[3]!, bits - 96);
  }
  if (raw === 4) return v4Range(w[0]!, bits);
  const start = new Uint32Array(4);
  const end = new Uint32Array(4);
  for (let k = 0; k < 4; k++) {
    const keep = Math.max(0, Math.min(32, bits - 32 * k));
    const mask = keep === 0 ? 0 : keep === 32 ? 0xffffffff : (0xffffffff << (32 - keep)) >>> 0;
    start[k] = (w[k]! & mask) >>> 0;
    end[k] = (start[k]! | (~mask >>> 0)) >>> 0;
  }
  return { family: 6, start, end };
}

/** Like parseIp but keeps an IPv4-mapped address as IPv6 (the prefix length decides). */
function parseRaw(s: string, out: Uint32Array): 0 | 4 | 6 {
  if (s.length === 0 || s.length > MAX_ADDR_CHARS || s.indexOf('%') >= 0) return 0;
  if (s.indexOf(':') < 0) {
    const v = parseV4(s, 0, s.length);
    if (v < 0) return 0;
    out[0] = v;
    return 4;
  }
  return parseV6(s, s.length, out) ? 6 : 0;
}

function v4Range(addr: number, bits: number): IpRange {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const start = (addr & mask) >>> 0;
  return { family: 4, start, end: (start | (~mask >>> 0)) >>> 0 };
}

function isDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function cmp6(a: Uint32Array, ai: number, b: Uint32Array, bi: number): number {
  for (let k = 0; k < 4; k++) {
    const x = a[ai + k]!;
    const y = b[bi + k]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** `w + 1` in place; false on overflow (w was all ones). */
function inc6(w: Uint32Array): boolean {
  for (let k = 3; k >= 0; k--) {
    if (w[k] !== 0xffffffff) {
      w[k] = w[k]! + 1;
      return true;
    }
    w[k] = 0;
  }
  return false;
}

/**
 * A set of IPv4 and IPv6 ranges. Built once (merged and sorted); lookups allocate nothing.
 * `label` names where the list comes from (a config key path) for audit reasons.
 */
export class IpSet {
  private readonly starts4: Uint32Array;
  private readonly ends4: Uint32Array;
  private readonly starts6: Uint32Array;
  private readonly ends6: Uint32Array;
  /** Ranges after merging overlapping and adjacent ones. */
  readonly ranges: number;
  /** Entries it was built from. */
  readonly entries: number;

  constructor(
    readonly label: string,
    ranges: readonly IpRange[],
  ) {
    this.entries = ranges.length;
    const v4: { start: number; end: number }[] = [];
    const v6: { start: Uint32Array; end: Uint32Array }[] = [];
    for (const r of ranges) {
      if (r.family === 4) v4.push({ start: r.start, end: r.end });
      else v6.push({ start: r.start, end: r.end });
    }
    v4.sort((a, b) => a.start - b.start || a.end - b.end);
    const s4: number[] = [];
    const e4: number[] = [];
    for (const r of v4) {
      const last = e4.length - 1;
      // Overlapping or adjacent: extend the previous range.
      if (last >= 0 && r.start <= e4[last]! + 1) {
        if (r.end > e4[last]!) e4[last] = r.end;
      } else {
        s4.push(r.start);
        e4.push(r.end);
      }
    }
    this.starts4 = Uint32Array.from(s4);
    this.ends4 = Uint32Array.from(e4);

    v6.sort((a, b) => cmp6(a.start, 0, b.start, 0) || cmp6(a.end, 0, b.end, 0));
    const merged: { start: Uint32Array; end: Uint32Array }[] = [];
    const next = new Uint32Array(4);
    for (const r of v6) {
      const last = merged[merged.length - 1];
      if (last !== undefined) {
        next.set(last.end);
        const overflow = !inc6(next);
        if (overflow || cmp6(r.start, 0, next, 0) <= 0) {
          if (cmp6(r.end, 0, last.end, 0) > 0) last.end = r.end;
          continue;
        }
      }
      merged.push({ start: r.start, end: r.end });
    }
    this.starts6 = new Uint32Array(merged.length * 4);
    this.ends6 = new Uint32Array(merged.length * 4);
    merged.forEach((r, i) => {
      this.starts6.set(r.start, i * 4);
      this.ends6.set(r.end, i * 4);
    });
    this.ranges = s4.length + merged.length;
  }

  /** An IPv4 address (as parseIp leaves it in `out[0]`). */
  has4(addr: number): boolean {
    const s = this.starts4;
    let lo = 0;
    let hi = s.length - 1;
    // The last range starting at or below addr.
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! <= addr) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && addr <= this.ends4[hi]!;
  }

  /** An IPv6 address as four words. */
  has6(w: Uint32Array): boolean {
    const s = this.starts6;
    let lo = 0;
    let hi = s.length / 4 - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (cmp6(s, mid * 4, w, 0) <= 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi >= 0 && cmp6(w, 0, this.ends6, hi * 4) <= 0;
  }

  /** Parses and looks up; false for anything that is not an address. */
  has(ip: string): boolean {
    const family = parseIp(ip, scratch);
    if (family === 4) return this.has4(scratch[0]!);
    if (family === 6) return this.has6(scratch);
    return false;
  }
}

const scratch = new Uint32Array(4);

/** One problem in a list: where (1-based line and column) and what was expected. */
export interface ListProblem {
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

/**
 * Parses a list file: one address or CIDR per line; `#` or `;` start a comment (whole line or
 * after an entry, as in Tor exit lists and Spamhaus DROP); blank lines are ignored.
 * Stops collecting problems after `maxProblems` (the count still grows).
 */
export function parseList(text: string, maxEntries: number, maxProblems = 20): { ranges: IpRange[]; problems: ListProblem[]; problemCount: number; tooMany: boolean } {
  const ranges: IpRange[] = [];
  const problems: ListProblem[] = [];
  let problemCount = 0;
  let lineNo = 0;
  let pos = 0;
  while (pos <= text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    lineNo++;
    let end = nl;
    const hash = text.indexOf('#', pos);
    if (hash >= 0 && hash < end) end = hash;
    const semi = text.indexOf(';', pos);
    if (semi >= 0 && semi < end) end = semi;
    let start = pos;
    while (start < end && isSpace(text.charCodeAt(start))) start++;
    while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
    if (end > start) {
      const entry = text.slice(start, end);
      const r = parseCidr(entry);
      if ('error' in r) {
        problemCount++;
        if (problems.length < maxProblems) problems.push({ line: lineNo, column: start - pos + 1, message: `invalid entry ${JSON.stringify(entry.slice(0, 60))}: ${r.error}` });
      } else {
        if (ranges.length >= maxEntries) return { ranges, problems, problemCount, tooMany: true };
        ranges.push(r);
      }
    }
    pos = nl + 1;
  }
  return { ranges, problems, problemCount, tooMany: false };
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 0xfeff;
}
