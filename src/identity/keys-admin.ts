/**
 * The key store's admin API, mounted by the admin listener under `/admin/keys` after it has
 * checked the admin token:
 *
 *   GET  /admin/keys                list (`?all=1` includes revoked keys)
 *   POST /admin/keys                {owner, scopes?, roles?, name?, expiresAt?} → 201 with the key, shown once
 *   GET  /admin/keys/{id}           one key
 *   POST /admin/keys/{id}/revoke    → 200
 *   POST /admin/keys/{id}/rotate    {overlapSeconds?} (default 86400) → 201 with the new key, shown once
 *
 * Every answer carries `Cache-Control: no-store`. Refusals are `application/problem+json`
 * with `type, title, status, code, detail`. Where a gateway registry code fits
 * (`malformed_request`, `body_too_large`, `method_not_allowed`) it is used with its registry
 * `type` and `title`; the two admin-only outcomes are not gateway error codes and use
 * `type: about:blank` with `code: 'not_found'` (404, unknown key id) or `code: 'conflict'`
 * (409, e.g. revoking a revoked key). `detail` never contains a key: ids are echoed only
 * when they are shaped like key ids.
 *
 * The body (at most 16 KiB) is read here, so the admin server must hand over the request
 * unread. Where no key store is configured, the admin server answers with `answerNoKeyStore`.
 */
import { readBounded } from '../pipeline/read-body.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ERRORS, type ErrorCode } from '../pipeline/errors.js';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE } from '../pipeline/problem.js';
import { KeyStoreError, isKeyId, parseTimestamp, recordToJson, type KeyStore } from './keystore.js';

/** Largest accepted request body. */
export const KEYS_ADMIN_MAX_BODY_BYTES = 16 * 1024;
/** Overlap of a rotation when the body does not say (one day). */
export const DEFAULT_OVERLAP_SECONDS = 86_400;

const BASE = '/admin/keys';
const HEADERS = Object.freeze({ 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });

type Route =
  | { readonly kind: 'collection' }
  | { readonly kind: 'item' | 'revoke' | 'rotate'; readonly id: string };

/** The endpoint `path` names, or undefined when it is not one of ours. */
function route(path: string): Route | undefined {
  if (path === BASE) return { kind: 'collection' };
  if (!path.startsWith(BASE + '/') || path.length > BASE.length + 200) return undefined;
  const rest = path.slice(BASE.length + 1);
  const slash = rest.indexOf('/');
  const id = slash === -1 ? rest : rest.slice(0, slash);
  if (id === '') return undefined;
  if (slash === -1) return { kind: 'item', id };
  const action = rest.slice(slash + 1);
  if (action === 'revoke' || action === 'rotate') return { kind: action, id };
  return undefined;
}

class BadRequest extends Error {}

function send(res: ServerResponse, status: number, contentType: string, body: string, extra: Record<string, string> = {}): void {
  if (res.headersSent) return;
  res.writeHead(status, { ...HEADERS, ...extra, 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, extra: Record<string, string> = {}): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value), extra);
}

/** A problem with a registry code. */
function registryProblem(res: ServerResponse, code: ErrorCode, detail: string, extra: Record<string, string> = {}): void {
  const spec = ERRORS[code];
  send(res, spec.status, PROBLEM_CONTENT_TYPE, JSON.stringify({ type: PROBLEM_TYPE_BASE + code, title: spec.title, status: spec.status, code, detail }), extra);
}

/** A problem that is the admin API's own (not a gateway error code). */
function adminProblem(res: ServerResponse, status: 404 | 409, detail: string): void {
  const [code, title] = status === 404 ? ['not_found', 'Not Found'] : ['conflict', 'Conflict'];
  send(res, status, PROBLEM_CONTENT_TYPE, JSON.stringify({ type: 'about:blank', title, status, code, detail }));
}

/**
 * The body as text, at most `limit` bytes: 'too-large' past it (the caller answers 413 and
 * closes), 'aborted' when the client went away, '' when the body was already consumed.
 */
type BodyResult = { readonly text: string } | 'too-large' | 'aborted';

async function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const r = await readBounded(req, limit, true);
  return r.kind === 'body' ? { text: r.body.toString('utf8') } : r.kind;
}

/** Parse a JSON object body with only `allowed` fields. Empty body → `{}` unless required. */
function parseObject(text: string, allowed: readonly string[], required: boolean): Record<string, unknown> {
  if (text.trim() === '') {
    if (required) throw new BadRequest('the request body must be a JSON object');
    return {};
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadRequest(`the request body is not valid JSON: ${err instanceof Error ? err.message : 'parse error'}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequest('the request body must be a JSON object');
  for (const field of Object.keys(value)) {
    if (!allowed.includes(field)) {
      throw new BadRequest(`unknown field ${JSON.stringify(field.slice(0, 64))}; allowed: ${allowed.join(', ')}`);
    }
  }
  return value as Record<string, unknown>;
}

function createInput(body: Record<string, unknown>): { owner: string; scopes?: string[]; roles?: string[]; name?: string; expiresAt?: number } {
  const { owner, scopes, roles, name, expiresAt } = body;
  if (typeof owner !== 'string') throw new BadRequest('owner is required and must be a string');
  for (const [field, list] of [['scopes', scopes], ['roles', roles]] as const) {
    if (list !== undefined && (!Array.isArray(list) || !list.every((s) => typeof s === 'string'))) {
      throw new BadRequest(`${field} must be an array of strings`);
    }
  }
  if (name !== undefined && typeof name !== 'string') throw new BadRequest('name must be a string');
  let expires: number | undefined;
  if (expiresAt !== undefined) {
    expires = typeof expiresAt === 'string' ? parseTimestamp(expiresAt) : undefined;
    if (expires === undefined) throw new BadRequest('expiresAt must be an RFC 3339 date-time such as 2030-01-31T00:00:00Z');
  }
  return {
    owner,
    ...(scopes !== undefined ? { scopes: scopes as string[] } : {}),
    ...(roles !== undefined ? { roles: roles as string[] } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(expires !== undefined ? { expiresAt: expires } : {}),
  };
}

function overlapOf(body: Record<string, unknown>): number {
  const v = body['overlapSeconds'];
  if (v === undefined) return DEFAULT_OVERLAP_SECONDS;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new BadRequest('overlapSeconds must be a whole number of seconds, 0 or more');
  return v;
}

function wantAll(url: string | undefined): boolean {
  const q = url === undefined ? -1 : url.indexOf('?');
  if (q === -1 || url === undefined) return false;
  const all = new URLSearchParams(url.slice(q + 1)).get('all');
  return all === '1' || all === 'true';
}

/** The answer on `/admin/keys…` when the running config sets no `identity.apiKeys.store`. */
export function answerNoKeyStore(res: ServerResponse): void {
  registryProblem(res, 'route_not_found', 'no key store is configured: set identity.apiKeys.store to manage API keys here');
}

/**
 * Answer `req` if `path` (the URL path without query) is a key-store endpoint; false when it
 * is not (the caller answers 404). Call only after the admin token has been checked.
 */
export async function handleKeysAdmin(req: IncomingMessage, res: ServerResponse, store: KeyStore, path: string): Promise<boolean> {
  const r = route(path);
  if (r === undefined) return false;
  const method = req.method ?? '';
  const allow = r.kind === 'collection' ? ['GET', 'POST'] : r.kind === 'item' ? ['GET'] : ['POST'];
  if (!allow.includes(method)) {
    registryProblem(res, 'method_not_allowed', `${method} is not allowed on ${r.kind === 'collection' ? BASE : `${BASE}/{id}${r.kind === 'item' ? '' : `/${r.kind}`}`}`, {
      allow: allow.join(', '),
    });
    return true;
  }

  const read = await readBody(req, KEYS_ADMIN_MAX_BODY_BYTES);
  if (read === 'aborted') return true;
  if (read === 'too-large') {
    registryProblem(res, 'body_too_large', `the request body is larger than ${KEYS_ADMIN_MAX_BODY_BYTES} bytes`, { connection: 'close' });
    return true;
  }
  const body = read.text;

  try {
    if (r.kind === 'collection') {
      if (method === 'GET') {
        sendJson(res, 200, { keys: store.list({ includeRevoked: wantAll(req.url) }).map(recordToJson) });
      } else {
        const input = createInput(parseObject(body, ['owner', 'scopes', 'roles', 'name', 'expiresAt'], true));
        const { record, key } = store.create(input);
        sendJson(res, 201, { key, ...recordToJson(record) }, { location: `${BASE}/${record.id}` });
      }
      return true;
    }
    if (!isKeyId(r.id)) {
      adminProblem(res, 404, 'no such key (ids look like key_…)');
      return true;
    }
    if (r.kind === 'item') {
      const record = store.get(r.id);
      if (record === undefined) adminProblem(res, 404, `no key with id ${r.id}`);
      else sendJson(res, 200, recordToJson(record));
    } else if (r.kind === 'revoke') {
      sendJson(res, 200, recordToJson(store.revoke(r.id)));
    } else {
      const overlapSeconds = overlapOf(parseObject(body, ['overlapSeconds'], false));
      const { record, key, previous } = store.rotate(r.id, { overlapSeconds });
      sendJson(res, 201, { key, ...recordToJson(record), previous: recordToJson(previous) }, { location: `${BASE}/${record.id}` });
    }
  } catch (err) {
    if (err instanceof BadRequest) registryProblem(res, 'malformed_request', err.message);
    else if (err instanceof KeyStoreError && err.kind === 'invalid') registryProblem(res, 'malformed_request', err.message);
    else if (err instanceof KeyStoreError && err.kind === 'not_found') adminProblem(res, 404, err.message);
    else if (err instanceof KeyStoreError && err.kind === 'conflict') adminProblem(res, 409, err.message);
    else throw err; // the admin server answers internal_error and logs the message
  }
  return true;
}
