/**
 * Abuse protection (this part): IP allow/deny lists, bot signals, the proof-of-work challenge
 * and clearance, load shedding.
 */
export { IpSet, parseIp, parseCidr, parseList, type IpRange, type ListProblem } from './ip.js';
export { IpRulesStage } from './ip-rules.js';
