/** The admin listener: health, readiness, metrics and the authenticated admin API. */
export { startAdminServer, ADMIN_LIMITS } from './server.js';
export type { AdminDeps, AdminServer } from './server.js';
export { answerBansOp, localBans, mergeBansReplies, handleBansAdmin, type BansOp, type BansReply, type BansTransport, type BanView } from './bans.js';
