/**
 * The bans admin API, mounted by the admin listener under `/admin/bans` after it has checked
 * the admin token:
 *
 *   GET    /admin/bans[?kind=ip|principal][&limit=N]   active bans, at most `limit` (default 100, max 1000), `truncated` when more
 *   POST   /admin/bans  {kind, value, ttl, reason?}    ban an IP, a CIDR range or a principal → 201
 *   DELETE /admin/bans/{kind}/{value}                  lift a ban → 200, 404 when there was none
 *
 * The API speaks to the gateway's ban lists through `BansOp` messages, so one code path serves
 * a single process (the op runs on its AbuseState) and a cluster (the primary sends the op to
 * every worker over IPC and merges the answers). With Redis every instance shares the ban set;
 * with the memory store a ban holds on this host's workers only.
 *
 * Refusals are `application/problem+json`: `admin_request_invalid` (400) for a bad body, kind,
 * value or query, and the registry's `method_not_allowed`, `body_too_large`; a DELETE of a
 * subject with no ban answers 404 `not_found` (`type: about:blank`, as in the keys API).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { canonicalBanValue, type AbuseState } from '../abuse/index.js';
import { durationMs } from '../config/abuse.js';
import { ERRORS, type ErrorCode } from '../pipeline/errors.js';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE } from '../pipeline/problem.js';
import { readBounded } from '../pipeline/read-body.js';

/** Largest accepted request body. */
export const BANS_ADMIN_MAX_BODY_BYTES = 4 * 1024;
/** Bans listed when `limit` is not given, and the most one answer lists. */
export const BANS_DEFAULT_LIMIT = 100;
export const BANS_MAX_LIMIT = 1000;
/** Shortest and longest ban the API places. */
export const BAN_MIN_TTL_MS = 1000;
export const BAN_MAX_TTL_MS = 30 * 86_400_000;
/** Longest operator note kept with a ban. */
export const BAN_MAX_REASON_CHARS = 200;

export type AdminBanKind = 'ip' | 'principal';
const KINDS: readonly AdminBanKind[] = ['ip', 'principal'];

/** What the admin API asks of a gateway process (plain data: it crosses IPC in a cluster). */
export type BansOp =
  | { readonly op: 'list'; readonly kind: AdminBanKind | undefined; readonly limit: number }
  | {
      readonly op: 'ban';
      readonly kind: AdminBanKind;
      readonly value: string;
      readonly ttlMs: number;
      readonly reason: string;
      /** false: place it without counting it in `bans_total` (the other workers of a cluster). */
      readonly count?: boolean;
    }
  | { readonly op: 'unban'; readonly kind: AdminBanKind; readonly value: string };

/** A ban as the API shows it. */
export interface BanView {
  readonly kind: AdminBanKind;
  readonly value: string;
  readonly reason: string;
  /** Epoch milliseconds. */
  readonly until: number;
}

/** One process's answer to a `BansOp`. */
export type BansReply =
  | { readonly op: 'list'; readonly bans: BanView[]; readonly truncated: boolean }
  | { readonly op: 'ban'; readonly until: number; readonly shared: boolean }
  | { readonly op: 'unban'; readonly removed: boolean; readonly shared: boolean };

/** Runs `op` on one process's ban lists. */
export async function answerBansOp(state: AbuseState, op: BansOp): Promise<BansReply> {
  if (op.op === 'ban') return { op: 'ban', ...(await state.adminBan(op.kind, op.value, op.ttlMs, op.reason, op.count !== false)) };
  if (op.op === 'unban') return { op: 'unban', ...(await state.unban(op.kind, op.value)) };
  const bans: BanView[] = [];
  let truncated = false;
  for (const kind of op.kind === undefined ? KINDS : [op.kind]) {
    for (const b of state.listBans(kind)) {
      if (bans.length < op.limit) bans.push({ kind, value: b.subject, reason: b.reason, until: b.until });
      else truncated = true;
    }
  }
  return { op: 'list', bans, truncated };
}

/** Sends an op to every gateway process and resolves their answers (one in a single process). */
export type BansTransport = (op: BansOp) => Promise<BansReply[]>;

/** The transport of a single process. */
export function localBans(state: () => AbuseState): BansTransport {
  return async (op) => [await answerBansOp(state(), op)];
}

const LOADED = 'loaded from redis';

/** Merges the answers of several processes to one op. */
export function mergeBansReplies(op: BansOp, replies: readonly BansReply[]): BansReply {
  if (op.op === 'ban') {
    let until = 0;
    let shared = false;
    for (const r of replies) {
      if (r.op !== 'ban') continue;
      until = Math.max(until, r.until);
      shared ||= r.shared;
    }
    return { op: 'ban', until, shared };
  }
  if (op.op === 'unban') {
    let removed = false;
    let shared = false;
    for (const r of replies) {
      if (r.op !== 'unban') continue;
      removed ||= r.removed;
      shared ||= r.shared;
    }
    return { op: 'unban', removed, shared };
  }
  const byKey = new Map<string, BanView>();
  let truncated = false;
  for (const r of replies) {
    if (r.op !== 'list') continue;
    truncated ||= r.truncated;
    for (const b of r.bans) {
      const key = `${b.kind}:${b.value}`;
      const seen = byKey.get(key);
      // The latest end wins; a reason from the ban channel beats the placeholder of a start-up load.
      if (seen === undefined || b.until > seen.until || (b.until === seen.until && seen.reason === LOADED)) byKey.set(key, b);
    }
  }
  return { op: 'list', bans: [...byKey.values()].slice(0, op.limit), truncated: truncated || byKey.size > op.limit };
}

const HEADERS = Object.freeze({ 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });

function send(res: ServerResponse, status: number, contentType: string, body: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { ...HEADERS, ...extra, 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

function problem(res: ServerResponse, code: ErrorCode, detail: string, extra: Record<string, string> = {}): void {
  const spec = ERRORS[code];
  send(res, spec.status, PROBLEM_CONTENT_TYPE, JSON.stringify({ type: PROBLEM_TYPE_BASE + code, title: spec.title, status: spec.status, code, detail }), extra);
}

class BadRequest extends Error {}

function view(b: BanView, now: number): Record<string, unknown> {
  return { kind: b.kind, value: b.value, reason: b.reason, expiresAt: new Date(b.until).toISOString(), ttlSeconds: Math.max(0, Math.ceil((b.until - now) / 1000)) };
}

function kindOf(v: unknown, where: string): AdminBanKind {
  if (v === 'ip' || v === 'principal') return v;
  throw new BadRequest(`${where} must be "ip" or "principal"`);
}

function valueOf(kind: AdminBanKind, v: unknown): string {
  if (typeof v !== 'string') throw new BadRequest('value is required and must be a string');
  const c = canonicalBanValue(kind, v);
  if ('error' in c) throw new BadRequest(`value: ${c.error}`);
  return c.value;
}

/** `30s`, `15m`, `2h`, `7d`: digits and one unit, checked by hand (no regex on admin input). */
function ttlOf(v: unknown): number {
  const shape = 'ttl is required: a duration such as 90s, 15m, 2h or 7d';
  if (typeof v !== 'string' || v.length < 2 || v.length > 12) throw new BadRequest(shape);
  const unit = v.endsWith('ms') ? 'ms' : v.slice(-1);
  const digits = v.slice(0, v.length - unit.length);
  if (!['ms', 's', 'm', 'h', 'd'].includes(unit) || digits === '' || ![...digits].every((c) => c >= '0' && c <= '9')) throw new BadRequest(shape);
  const ms = durationMs(v);
  if (!(ms >= BAN_MIN_TTL_MS && ms <= BAN_MAX_TTL_MS)) throw new BadRequest('ttl must be between 1s and 30d');
  return ms;
}

function reasonOf(v: unknown): string {
  if (v === undefined) return 'admin';
  if (typeof v !== 'string' || v.length === 0 || v.length > BAN_MAX_REASON_CHARS) throw new BadRequest(`reason must be a string of 1 to ${BAN_MAX_REASON_CHARS} characters`);
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 32 || c === 127) throw new BadRequest('reason must not contain control characters');
  }
  return v;
}

function banBody(text: string): BansOp {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new BadRequest('the request body must be a JSON object: {"kind": "ip", "value": "203.0.113.7", "ttl": "1h", "reason": "…"}');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequest('the request body must be a JSON object');
  const b = body as Record<string, unknown>;
  for (const field of Object.keys(b)) {
    if (!['kind', 'value', 'ttl', 'reason'].includes(field)) throw new BadRequest(`unknown field ${JSON.stringify(field.slice(0, 64))}; allowed: kind, value, ttl, reason`);
  }
  const kind = kindOf(b['kind'], 'kind');
  return { op: 'ban', kind, value: valueOf(kind, b['value']), ttlMs: ttlOf(b['ttl']), reason: reasonOf(b['reason']) };
}

function listQuery(url: string): BansOp {
  const q = url.indexOf('?');
  const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1, q + 1 + 512));
  for (const k of params.keys()) if (k !== 'kind' && k !== 'limit') throw new BadRequest(`unknown query parameter ${JSON.stringify(k.slice(0, 32))}; allowed: kind, limit`);
  const kind = params.get('kind');
  const limitText = params.get('limit');
  let limit = BANS_DEFAULT_LIMIT;
  if (limitText !== null) {
    limit = Number(limitText);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > BANS_MAX_LIMIT) throw new BadRequest(`limit must be a whole number from 1 to ${BANS_MAX_LIMIT}`);
  }
  return { op: 'list', kind: kind === null ? undefined : kindOf(kind, 'kind'), limit };
}

/** `/admin/bans/{kind}/{value}`: the value is the rest of the path (a CIDR's `/` may stay unencoded). */
function deletePath(path: string): BansOp {
  const rest = path.slice('/admin/bans/'.length);
  const slash = rest.indexOf('/');
  if (slash < 0) throw new BadRequest('expected /admin/bans/{kind}/{value}');
  const kind = kindOf(rest.slice(0, slash), 'the kind in the path');
  let value: string;
  try {
    value = decodeURIComponent(rest.slice(slash + 1));
  } catch {
    throw new BadRequest('the value in the path is not valid percent-encoding');
  }
  return { op: 'unban', kind, value: valueOf(kind, value) };
}

/**
 * Answers a request on `/admin/bans` or below (the caller checked the path prefix and the
 * token, and has not read the body).
 */
export async function handleBansAdmin(req: IncomingMessage, res: ServerResponse, path: string, transport: BansTransport): Promise<void> {
  const method = req.method ?? '';
  const collection = path === '/admin/bans';
  const allow = collection ? ['GET', 'POST'] : ['DELETE'];
  const read = await readBounded(req, BANS_ADMIN_MAX_BODY_BYTES, method === 'POST');
  if (read.kind === 'aborted') return;
  if (read.kind === 'too-large') return problem(res, 'body_too_large', `the request body is larger than ${BANS_ADMIN_MAX_BODY_BYTES} bytes`, { connection: 'close' });
  if (!allow.includes(method)) return problem(res, 'method_not_allowed', `${method.slice(0, 16)} is not allowed here`, { allow: allow.join(', ') });
  let op: BansOp;
  try {
    op = !collection ? deletePath(path) : method === 'GET' ? listQuery(req.url ?? '') : banBody(read.body.toString('utf8'));
  } catch (err) {
    if (err instanceof BadRequest) return problem(res, 'admin_request_invalid', err.message);
    throw err;
  }
  const reply = mergeBansReplies(op, await transport(op));
  const now = Date.now();
  if (reply.op === 'list') {
    sendJson(res, 200, { bans: reply.bans.map((b) => view(b, now)), count: reply.bans.length, truncated: reply.truncated });
  } else if (reply.op === 'ban' && op.op === 'ban') {
    sendJson(res, 201, { ...view({ kind: op.kind, value: op.value, reason: op.reason, until: reply.until }, now), shared: reply.shared });
  } else if (reply.op === 'unban' && op.op === 'unban') {
    if (!reply.removed) {
      send(res, 404, PROBLEM_CONTENT_TYPE, JSON.stringify({ type: 'about:blank', title: 'Not Found', status: 404, code: 'not_found', detail: `no active ${op.kind} ban on ${op.value}` }));
    } else {
      sendJson(res, 200, { kind: op.kind, value: op.value, removed: true, shared: reply.shared });
    }
  }
}
