/**
 * The `bans` stage: first in the chain, it refuses a client IP that is banned for a while
 * (429 `client_banned` with `Retry-After`: the client may come back, and well-behaved clients
 * understand 429). The check reads the process-local ban list, which with Redis mirrors the
 * shared list (every instance learns a ban within one pub/sub message), so it never waits.
 *
 * It also places bans: with `bans.onAttacks`, an IP whose requests were refused by threat
 * detection `threshold` times within `window` is banned for `ttl` (counted in the store, so
 * attacks spread over instances add up), and so is the authenticated principal that sent them
 * (changing IPs does not help an attacker with a valid key). Principal bans are checked after
 * authentication (`PrincipalBansStage`). Other stages ban through `AbuseState.ban`.
 */
import type { CompletedContext, Decision, RequestContext, Stage } from '../pipeline/types.js';
import { CONTINUE } from '../pipeline/types.js';
import { parseCidr, parseIp } from './ip.js';
import type { AbuseState } from './state.js';

export interface OnAttacks {
  readonly threshold: number;
  readonly windowMs: number;
  readonly ttlMs: number;
}

export class BansStage implements Stage {
  readonly name = 'bans' as const;

  constructor(
    private readonly state: AbuseState,
    private readonly onAttacks: OnAttacks | undefined,
  ) {}

  onRequest(ctx: RequestContext): Decision {
    const left = this.state.bannedNow('ip', ctx.client.ip);
    if (left === 0) return CONTINUE;
    const s = Math.max(1, Math.ceil(left / 1000));
    return { action: 'deny', code: 'client_banned', reason: `client IP is banned for ${s} s more`, headers: { 'retry-after': String(s) } };
  }

  onComplete(c: CompletedContext): void {
    const a = this.onAttacks;
    if (a === undefined || c.code !== 'attack_detected' || c.outcome !== 'denied') return;
    const ip = c.request.client.ip;
    const principal = c.request.principal?.id;
    const keys = principal === undefined ? ['att:' + ip] : ['att:' + ip, 'attp:' + principal];
    this.state.hit(keys, a.windowMs).then(
      (counts) => {
        if (counts[0]! >= a.threshold) this.state.ban('ip', ip, a.ttlMs, 'attacks');
        if (principal !== undefined && counts[1]! >= a.threshold) this.state.ban('principal', principal, a.ttlMs, 'attacks');
      },
      (err: unknown) => this.state.events.storeError('count', err),
    );
  }
}

/** After authentication: refuses a banned principal (429 `client_banned`), whichever IP it comes from. */
export class PrincipalBansStage implements Stage {
  readonly name = 'bans' as const;

  constructor(private readonly state: AbuseState) {}

  onRequest(ctx: RequestContext): Decision {
    const p = ctx.principal;
    if (p === undefined) return CONTINUE;
    const left = this.state.bannedNow('principal', p.id);
    if (left === 0) return CONTINUE;
    const s = Math.max(1, Math.ceil(left / 1000));
    return { action: 'deny', code: 'client_banned', reason: `principal is banned for ${s} s more`, headers: { 'retry-after': String(s) } };
  }
}

/** Most CIDR bans held at once (each is checked on every request while any exists). */
export const MAX_CIDR_BANS = 256;

interface CidrBan {
  readonly text: string;
  readonly family: 4 | 6;
  readonly start: Uint32Array;
  readonly end: Uint32Array;
  until: number;
}

const lookup = new Uint32Array(4);

/** A parsed CIDR's bounds as four 32-bit words each (IPv4 in the first word). */
function rangeWords(r: Exclude<ReturnType<typeof parseCidr>, { error: string }>): { start: Uint32Array; end: Uint32Array } {
  const start = new Uint32Array(4);
  const end = new Uint32Array(4);
  if (r.family === 4) {
    start[0] = r.start;
    end[0] = r.end;
  } else {
    start.set(r.start);
    end.set(r.end);
  }
  return { start, end };
}

function within(w: Uint32Array, b: CidrBan): boolean {
  for (let k = 0; k < 4; k++) {
    if (w[k]! < b.start[k]!) return false;
    if (w[k]! > b.start[k]!) break;
  }
  for (let k = 0; k < 4; k++) {
    if (w[k]! > b.end[k]!) return false;
    if (w[k]! < b.end[k]!) break;
  }
  return true;
}

/**
 * Bans of address ranges (`ip` bans whose value is a CIDR): a short list scanned on each
 * request while it is not empty. Bounded by MAX_CIDR_BANS; when full, the ban ending soonest
 * makes room (as in the Redis ban set).
 */
export class CidrBans {
  private list: CidrBan[] = [];

  get size(): number {
    return this.list.length;
  }

  /** Bans the range `text` (canonical CIDR) until `until`; keeps a later existing ban. */
  set(text: string, until: number, now: number): void {
    const existing = this.list.find((b) => b.text === text);
    if (existing !== undefined) {
      if (existing.until < until) existing.until = until;
      return;
    }
    const r = parseCidr(text);
    if ('error' in r || until <= now) return;
    this.list = this.list.filter((b) => b.until > now);
    if (this.list.length >= MAX_CIDR_BANS) {
      let soonest = 0;
      for (let i = 1; i < this.list.length; i++) if (this.list[i]!.until < this.list[soonest]!.until) soonest = i;
      this.list.splice(soonest, 1);
    }
    const { start, end } = rangeWords(r);
    this.list.push({ text, family: r.family, start, end, until });
  }

  delete(text: string): boolean {
    const n = this.list.length;
    this.list = this.list.filter((b) => b.text !== text);
    return this.list.length < n;
  }

  /** Milliseconds left on the longest range ban holding `ip` (0: none). */
  remaining(ip: string, now: number): number {
    const family = parseIp(ip, lookup);
    if (family === 0) return 0;
    if (family === 4) lookup.fill(0, 1);
    let left = 0;
    let expired = false;
    for (const b of this.list) {
      if (b.until <= now) {
        expired = true;
        continue;
      }
      if (b.family === family && within(lookup, b) && b.until - now > left) left = b.until - now;
    }
    if (expired) this.list = this.list.filter((x) => x.until > now);
    return left;
  }
}

/** Longest principal id a ban may name. */
export const MAX_PRINCIPAL_CHARS = 256;

/** `10.0.0.0/8`, `2001:db8::/32`, or a single address in the form clients are seen in. */
function addressText(family: 4 | 6, w: Uint32Array): string {
  if (family === 4) return `${w[0]! >>> 24}.${(w[0]! >>> 16) & 255}.${(w[0]! >>> 8) & 255}.${w[0]! & 255}`;
  const groups: string[] = [];
  for (let k = 0; k < 4; k++) groups.push((w[k]! >>> 16).toString(16), (w[k]! & 0xffff).toString(16));
  // The WHATWG URL parser writes IPv6 as RFC 5952 (lowercase, longest zero run as ::), as sockets report peers.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** Prefix length of a range (its start and end differ in the last `n` bits only). */
function prefixBits(family: 4 | 6, start: Uint32Array, end: Uint32Array): number {
  const words = family === 4 ? 1 : 4;
  let bits = 0;
  for (let k = 0; k < words; k++) {
    const diff = (start[k]! ^ end[k]!) >>> 0;
    if (diff === 0) {
      bits += 32;
      continue;
    }
    return bits + Math.clz32(diff);
  }
  return bits;
}

/**
 * The canonical form of a ban subject, or what is wrong with it. IP bans take an address or a
 * CIDR range (host bits dropped; IPv4-mapped IPv6 written as IPv4; a full-length prefix is the
 * address itself); principal bans take the principal id as the gateway sees it.
 */
export function canonicalBanValue(kind: 'ip' | 'principal', value: string): { value: string } | { error: string } {
  if (kind === 'principal') {
    if (value.length === 0 || value.length > MAX_PRINCIPAL_CHARS) return { error: `a principal id is 1 to ${MAX_PRINCIPAL_CHARS} characters` };
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c < 32 || c === 127) return { error: 'a principal id has no control characters' };
    }
    return { value };
  }
  if (value.length > 64) return { error: 'expected an IPv4 or IPv6 address or CIDR such as 203.0.113.0/24 or 2001:db8::/32' };
  const r = parseCidr(value);
  if ('error' in r) return r;
  const { start, end } = rangeWords(r);
  const bits = prefixBits(r.family, start, end);
  const full = r.family === 4 ? 32 : 128;
  if (bits === 0) return { error: 'a ban of every address (prefix /0) is refused; use ipRules.allow to close the gateway' };
  const addr = addressText(r.family, start);
  return { value: bits === full ? addr : `${addr}/${bits}` };
}
