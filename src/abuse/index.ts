/**
 * Abuse protection (this part): IP allow/deny lists, bot signals, the proof-of-work challenge
 * and clearance, load shedding.
 */
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
