/**
 * The self-hosted proof-of-work challenge and the clearance it buys.
 *
 * A challenge token is stateless: `<exp>.<difficulty>.<nonce>.<mac>`, the MAC an HMAC-SHA256 over
 * those fields and the client binding (address prefix and User-Agent), so a token is only good
 * for the client it was issued to, until it expires. The client finds a `solution` such that
 * SHA-256(`<token>:<solution>`) starts with `difficulty` zero bits, and posts both to the
 * verification endpoint. A used nonce is remembered until the token's expiry (bounded map), so
 * one solution buys one clearance.
 *
 * The clearance is a cookie `v1.<exp>.<mac>`, the MAC over the expiry and the same binding: it
 * cannot be moved to another network or User-Agent, nor extended. Checking it costs one HMAC and
 * happens only when a stage challenges.
 *
 * Safety argument: every MAC is compared with timingSafeEqual on equal-length buffers; keys for
 * tokens and cookies are derived apart (a token can never pass as a cookie); input sizes are
 * checked before any hashing; the replay guard refuses (fails closed) when full of live entries.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ClearanceVerifier, RequestContext } from '../pipeline/types.js';
import { NO_EVENTS, type AbuseEvents } from './events.js';
import { parseIp } from './ip.js';

/** The reserved path of the verification endpoint. */
export const CHALLENGE_PATH = '/.well-known/portcullis/challenge';
export const CLEARANCE_COOKIE = 'portcullis_clearance';
/** The name of the algorithm, as sent to clients. */
export const POW_ALGORITHM = 'sha256-leading-zero-bits';

/** Most User-Agent characters bound into tokens and cookies. */
const MAX_UA = 512;
/** Longest solution accepted (a counter needs at most 16 digits). */
const MAX_SOLUTION = 64;
/** Longest token accepted (ours are about 80 characters). */
const MAX_TOKEN = 200;

export interface ChallengeSettings {
  /** Leading zero bits a solution needs. */
  readonly difficulty: number;
  /** Seconds a challenge may take to solve. */
  readonly ttlSeconds: number;
  /** Seconds a clearance lasts. */
  readonly clearanceSeconds: number;
  /** Address bits bound into tokens and clearances (0: not bound to the address). */
  readonly ipv4Prefix: number;
  readonly ipv6Prefix: number;
  /** Most used nonces remembered at once. */
  readonly replayGuardEntries: number;
}

/** What a client needs to pay for a challenge. */
export interface ChallengeParams {
  readonly algorithm: typeof POW_ALGORITHM;
  readonly token: string;
  readonly difficulty: number;
  /** Unix seconds. */
  readonly expiresAt: number;
  readonly verify: typeof CHALLENGE_PATH;
}

export type RedeemResult =
  | { readonly ok: true; readonly cookie: string; readonly expiresAt: number }
  | { readonly ok: false; readonly reason: string; readonly full?: boolean };

let processKey: Buffer | undefined;

/**
 * The key used when `bots.challenge.secret` is not set: random, made once per process (the
 * cluster primary hands one to its workers so they agree). Clearances it signs are not valid on
 * other instances and do not survive a restart.
 */
export function processChallengeKey(): Buffer {
  processKey ??= randomBytes(32);
  return processKey;
}

/** Use this generated key instead of making one (cluster workers, from their primary). */
export function setProcessChallengeKey(hex: string): void {
  const k = Buffer.from(hex, 'hex');
  if (k.length === 32) processKey = k;
}

function b64url(buf: Buffer): string {
  return buf.toString('base64url');
}

/**
 * Whether a MAC as sent (base64url text) is exactly the canonical encoding of the expected MAC.
 * Text against text: decoding first would accept the other spellings of the last character
 * (its two low bits are padding), so a changed cookie could still verify.
 */
function macMatches(given: string, expected: Buffer): boolean {
  const a = Buffer.from(given, 'latin1');
  const b = Buffer.from(b64url(expected), 'latin1');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Leading zero bits of a digest. */
export function leadingZeroBits(d: Buffer): number {
  let n = 0;
  for (let i = 0; i < d.length; i++) {
    const b = d[i]!;
    if (b === 0) {
      n += 8;
      continue;
    }
    return n + Math.clz32(b) - 24;
  }
  return n;
}

/** Finds a solution for a token (what a client does; used by tests, benches and docs). */
export function solveChallenge(token: string, difficulty: number, maxTries = 2 ** 32): string {
  for (let i = 0; i < maxTries; i++) {
    const s = String(i);
    if (leadingZeroBits(createHash('sha256').update(`${token}:${s}`).digest()) >= difficulty) return s;
  }
  throw new Error('no solution found');
}

function isSolutionText(s: string): boolean {
  if (s.length === 0 || s.length > MAX_SOLUTION) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95;
    if (!ok) return false;
  }
  return true;
}

function isDecimal(s: string, maxLen: number): boolean {
  if (s.length === 0 || s.length > maxLen) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

const ipWords = new Uint32Array(4);

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

export class ChallengeService implements ClearanceVerifier {
  private readonly tokenKey: Buffer;
  private readonly cookieKey: Buffer;
  /** Used nonces → expiry (unix seconds), in insertion order (roughly expiry order). */
  private readonly used: Map<string, number>;
  /** Where issued, solved and failed challenges are counted (set by the process once telemetry exists). */
  events: AbuseEvents;

  constructor(
    readonly settings: ChallengeSettings,
    key: Buffer,
    /** The generated key is in use: clearances are local to this process tree. */
    readonly generatedKey: boolean,
    previous?: ChallengeService,
  ) {
    // Separate keys for the two kinds of MAC: a token can never be replayed as a cookie.
    this.tokenKey = createHmac('sha256', key).update('portcullis pow challenge v1').digest();
    this.cookieKey = createHmac('sha256', key).update('portcullis clearance v1').digest();
    // The replay guard survives reloads: a reload must not make used solutions usable again.
    this.used = previous?.used ?? new Map();
    this.events = previous?.events ?? NO_EVENTS;
  }

  /** Client binding: the address prefix and the User-Agent. */
  private binding(ctx: RequestContext): string {
    const ua = ctx.headers['user-agent'];
    const agent = typeof ua === 'string' ? ua.slice(0, MAX_UA) : '';
    return `${this.prefix(ctx.client.ip)}|${agent}`;
  }

  private prefix(ip: string): string {
    const family = parseIp(ip, ipWords);
    if (family === 0) return 'unknown';
    const bits = family === 4 ? this.settings.ipv4Prefix : this.settings.ipv6Prefix;
    if (bits === 0) return 'any';
    if (family === 4) {
      const mask = bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
      return `4:${hex8(ipWords[0]! & mask)}/${bits}`;
    }
    let out = '6:';
    for (let k = 0; k < 4; k++) {
      const keep = Math.max(0, Math.min(32, bits - 32 * k));
      const mask = keep === 0 ? 0 : keep === 32 ? 0xffffffff : (0xffffffff << (32 - keep)) >>> 0;
      out += hex8(ipWords[k]! & mask);
    }
    return `${out}/${bits}`;
  }

  private tokenMac(exp: string, difficulty: string, nonce: string, binding: string): Buffer {
    return createHmac('sha256', this.tokenKey).update(`pow1|${exp}|${difficulty}|${nonce}|${binding}`).digest();
  }

  private cookieMac(exp: string, binding: string): Buffer {
    return createHmac('sha256', this.cookieKey).update(`clr1|${exp}|${binding}`).digest();
  }

  /** A new challenge for this client. */
  issue(ctx: RequestContext, now = Date.now()): ChallengeParams {
    const exp = String(Math.floor(now / 1000) + this.settings.ttlSeconds);
    const difficulty = String(this.settings.difficulty);
    const nonce = b64url(randomBytes(16));
    const mac = b64url(this.tokenMac(exp, difficulty, nonce, this.binding(ctx)));
    this.events.challenge('issued');
    return { algorithm: POW_ALGORITHM, token: `${exp}.${difficulty}.${nonce}.${mac}`, difficulty: this.settings.difficulty, expiresAt: Number(exp), verify: CHALLENGE_PATH };
  }

  /** Checks a solution; on success remembers the nonce and returns the clearance cookie value. */
  redeem(ctx: RequestContext, token: string, solution: string, now = Date.now()): RedeemResult {
    const r = this.check(ctx, token, solution, now);
    this.events.challenge(r.ok ? 'solved' : 'failed');
    return r;
  }

  private check(ctx: RequestContext, token: string, solution: string, now: number): RedeemResult {
    if (token.length > MAX_TOKEN) return { ok: false, reason: 'token too long' };
    if (!isSolutionText(solution)) return { ok: false, reason: 'solution is not 1-64 characters of [A-Za-z0-9_-]' };
    const parts = token.split('.', 5);
    if (parts.length !== 4) return { ok: false, reason: 'malformed token' };
    const [exp, difficulty, nonce, mac] = parts as [string, string, string, string];
    if (!isDecimal(exp, 12) || !isDecimal(difficulty, 2) || nonce.length !== 22 || mac.length !== 43) return { ok: false, reason: 'malformed token' };
    const nowS = Math.floor(now / 1000);
    if (Number(exp) < nowS) return { ok: false, reason: 'token expired' };
    if (!macMatches(mac, this.tokenMac(exp, difficulty, nonce, this.binding(ctx)))) return { ok: false, reason: 'token not issued to this client (address, User-Agent) or forged' };
    const digest = createHash('sha256').update(`${token}:${solution}`).digest();
    if (leadingZeroBits(digest) < Number(difficulty)) return { ok: false, reason: `solution has fewer than ${difficulty} leading zero bits` };
    if (this.used.has(nonce)) return { ok: false, reason: 'token already used' };
    if (!this.remember(nonce, Number(exp), nowS)) return { ok: false, reason: 'replay guard full', full: true };
    const cookieExp = String(nowS + this.settings.clearanceSeconds);
    return { ok: true, cookie: `v1.${cookieExp}.${b64url(this.cookieMac(cookieExp, this.binding(ctx)))}`, expiresAt: Number(cookieExp) };
  }

  private remember(nonce: string, exp: number, nowS: number): boolean {
    if (this.used.size >= this.settings.replayGuardEntries) {
      for (const [k, e] of this.used) {
        if (e >= nowS) break;
        this.used.delete(k);
      }
      // Entries from before a reload with a longer ttl may sit out of order: a full sweep, rarely.
      if (this.used.size >= this.settings.replayGuardEntries) for (const [k, e] of this.used) if (e < nowS) this.used.delete(k);
      if (this.used.size >= this.settings.replayGuardEntries) return false;
    }
    this.used.set(nonce, exp);
    return true;
  }

  /** Whether the request carries a valid clearance cookie for this client. */
  verify(ctx: RequestContext, now = Date.now()): boolean {
    const header = ctx.headers.cookie;
    if (header === undefined) return false;
    const text = Array.isArray(header) ? header.join('; ') : header;
    let from = 0;
    // A client may send the name more than once; each candidate is checked (at most 4).
    for (let tries = 0; tries < 4; tries++) {
      const at = text.indexOf(CLEARANCE_COOKIE + '=', from);
      if (at < 0) return false;
      from = at + CLEARANCE_COOKIE.length + 1;
      // Only at the start of a cookie pair.
      if (at > 0 && text.charCodeAt(at - 1) !== 32 && text.charCodeAt(at - 1) !== 59) continue;
      let end = text.indexOf(';', from);
      if (end < 0) end = text.length;
      if (this.checkCookie(text.slice(from, end).trim(), ctx, now)) return true;
    }
    return false;
  }

  private checkCookie(value: string, ctx: RequestContext, now: number): boolean {
    if (value.length > 80 || !value.startsWith('v1.')) return false;
    const dot = value.indexOf('.', 3);
    if (dot < 0) return false;
    const exp = value.slice(3, dot);
    const mac = value.slice(dot + 1);
    if (!isDecimal(exp, 12) || mac.length !== 43) return false;
    if (Number(exp) < Math.floor(now / 1000)) return false;
    return macMatches(mac, this.cookieMac(exp, this.binding(ctx)));
  }

  /** The Set-Cookie value for a clearance. */
  setCookie(value: string, tls: boolean): string {
    return `${CLEARANCE_COOKIE}=${value}; Path=/; Max-Age=${this.settings.clearanceSeconds}; HttpOnly; SameSite=Lax${tls ? '; Secure' : ''}`;
  }
}
