/**
 * Abuse protection: rate limits and quotas, temporary bans, brute-force and credential-stuffing
 * protection of logins (state in store/: memory or Redis); IP allow/deny lists, bot signals,
 * the proof-of-work challenge and clearance, load shedding.
 */
import type { AbuseConfig } from '../config/types.js';
import type { RouteInfo } from '../pipeline/types.js';
import { BansStage, PrincipalBansStage } from './bans.js';
import { BruteForceStage } from './brute-force.js';
import { isEarlyPart, keyReader } from './keys.js';
import { RateLimitStage } from './rate-limit.js';
import type { AbuseState } from './state.js';

export { IpSet, parseIp, parseCidr, parseList, type IpRange, type ListProblem } from './ip.js';
export { IpRulesStage } from './ip-rules.js';
export {
  CHALLENGE_PATH,
  CLEARANCE_COOKIE,
  POW_ALGORITHM,
  ChallengeService,
  leadingZeroBits,
  processChallengeKey,
  setProcessChallengeKey,
  solveChallenge,
  type ChallengeParams,
  type ChallengeSettings,
  type RedeemResult,
} from './challenge.js';
export { CHALLENGE_PAGE_CSP, challengePage } from './challenge-page.js';
export { BotSignals, BotsStage, RateTracker, SCRIPTED_USER_AGENTS, scriptedAgent } from './bots.js';
export { AbuseState, type CompiledLimit } from './state.js';
export { createAbuseEvents, NO_EVENTS, type AbuseEvents, type BanKind } from './events.js';
export { BansStage, PrincipalBansStage, CidrBans, MAX_CIDR_BANS, canonicalBanValue } from './bans.js';
export { BruteForceStage, usernameOf } from './brute-force.js';
export { RateLimitStage } from './rate-limit.js';
export { CalendarWindow } from './calendar.js';
export { keyReader, queryValue } from './keys.js';

/** The abuse stages of one route, in the order the chain holds them (each may be absent). */
export interface RouteAbuseStages {
  readonly bans: BansStage | undefined;
  /** After authentication: banned principals (authenticated routes only). */
  readonly principalBans: PrincipalBansStage | undefined;
  /** Limits known before authentication. */
  readonly early: RateLimitStage | undefined;
  /** Limits on the principal, credential or claims: after authentication and authorization. */
  readonly late: RateLimitStage | undefined;
  readonly bruteForce: BruteForceStage | undefined;
}

/**
 * Whether any ban can be placed: only then does every route pay for the ban check. `adminBans`:
 * the admin API can place them (an admin token is configured).
 */
export function bansInUse(abuse: AbuseConfig, adminBans = false): boolean {
  if (adminBans || abuse.bans.onAttacks !== undefined) return true;
  for (const r of abuse.routes.values()) if (r.login !== undefined) return true;
  return false;
}

export function routeAbuseStages(state: AbuseState, abuse: AbuseConfig, info: RouteInfo, adminBans = false): RouteAbuseStages {
  const r = abuse.routes.get(info.id);
  const inUse = bansInUse(abuse, adminBans);
  const bans = inUse ? new BansStage(state, abuse.bans.onAttacks) : undefined;
  const principalBans = inUse && !info.public ? new PrincipalBansStage(state) : undefined;
  let early: RateLimitStage | undefined;
  let late: RateLimitStage | undefined;
  if (r !== undefined && r.limits.length > 0) {
    const limits = r.limits.map((n) => state.limit(n));
    const first = limits.filter((l) => l.cfg.key.every(isEarlyPart));
    const second = limits.filter((l) => !l.cfg.key.every(isEarlyPart));
    const stage = (ls: typeof limits) =>
      ls.length === 0 ? undefined : new RateLimitStage(state, ls, ls.map((l) => keyReader(l.cfg.key, l.cfg.whenMissing)), r.cost, abuse.rateLimits.headers);
    early = stage(first);
    late = stage(second);
  }
  const bruteForce = r?.login === undefined ? undefined : new BruteForceStage(state, info.id, r.login, abuse.bruteForce);
  return { bans, principalBans, early, late, bruteForce };
}
