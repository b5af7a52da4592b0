/**
 * The example notes API: a small JSON service on plain `node:http`, written the way many real
 * backends are: it trusts every caller. It does no authentication and no authorization at all
 * (any caller may read any user's notes), and it returns fields clients should not see. That is
 * on purpose: Portcullis stands in front of it (examples/portcullis.yaml) and is what stops
 * unauthenticated calls, object-level access to other users' notes (BOLA), attacks and leaks.
 *
 * Routes (all JSON):
 *   GET    /v1/health
 *   GET    /v1/users/{userId}
 *   GET    /v1/users/{userId}/notes
 *   POST   /v1/users/{userId}/notes        body {title, body, tags?}
 *   GET    /v1/notes/{noteId}
 *   PUT    /v1/notes/{noteId}              body {title, body, tags?, ownerId?}  (ownerId: a mass-assignment bug)
 *   DELETE /v1/notes/{noteId}
 *   GET    /v1/search?q=&limit=
 *   GET    /v1/admin/stats
 *   POST   /v1/login                       body {username, password}: 200 {userId} or 401 (no lockout of its own)
 *   GET    /internal/owners/notes/{noteId}  the owner of a note (for the gateway's ownership lookup)
 *
 * Run: `node dist/examples/api/server.js --port 3001` (127.0.0.1 by default).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createStore, type Note, type NoteInput, type Store } from './data.js';

/** Version reported by `/v1/health` and the `server` header. */
export const API_VERSION = '1.4.2';

/** Largest request body the API reads (bytes); larger bodies get 413. */
export const MAX_BODY_BYTES = 64 * 1024;

const USER_ID = /^u-\d{4}$/;
const NOTE_ID = /^n-\d{4,9}$/;

/** An error answered as `{"error": code, "message": ...}` with an HTTP status. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  if (status === 204) {
    res.writeHead(204, { server: `notes-api/${API_VERSION}`, ...headers });
    res.end();
    return;
  }
  const body = JSON.stringify(payload);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    // A version banner, as many backends send; the gateway's security-headers stage removes it.
    server: `notes-api/${API_VERSION}`,
    ...headers,
  });
  res.end(body);
}

/** Reads and parses a JSON body, refusing non-JSON (415), oversized (413) and malformed (400) bodies. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new HttpError(415, 'unsupported_media_type', 'Send the body as application/json.');
  }
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > MAX_BODY_BYTES) {
    // Do not read a body we will refuse anyway; close the connection after answering.
    throw new HttpError(413, 'body_too_large', `Body larger than ${MAX_BODY_BYTES} bytes.`, { connection: 'close' });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      throw new HttpError(413, 'body_too_large', `Body larger than ${MAX_BODY_BYTES} bytes.`, { connection: 'close' });
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks, size).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'bad_json', 'The body is not valid JSON.');
  }
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((t) => typeof t === 'string');
}

/** Checks a note body: title 1-200 chars, body up to 10000 chars, up to 20 tags of 1-32 chars. */
function toNoteInput(value: unknown): NoteInput {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HttpError(400, 'invalid_body', 'Expected a JSON object {title, body, tags}.');
  }
  const { title, body, tags = [] } = value as Record<string, unknown>;
  if (typeof title !== 'string' || title.length < 1 || title.length > 200) {
    throw new HttpError(400, 'invalid_body', '`title` must be a string of 1 to 200 characters.');
  }
  if (typeof body !== 'string' || body.length > 10_000) {
    throw new HttpError(400, 'invalid_body', '`body` must be a string of at most 10000 characters.');
  }
  if (!isStringArray(tags) || tags.length > 20 || tags.some((t) => t.length < 1 || t.length > 32)) {
    throw new HttpError(400, 'invalid_body', '`tags` must be an array of at most 20 strings of 1 to 32 characters.');
  }
  const { ownerId } = value as Record<string, unknown>;
  // The mistake many backends make: a field the client should never set is copied from the body.
  return typeof ownerId === 'string' ? { title, body, tags, ownerId } : { title, body, tags };
}

function methodNotAllowed(allow: readonly string[]): HttpError {
  return new HttpError(405, 'method_not_allowed', `Allowed: ${allow.join(', ')}.`, { allow: allow.join(', ') });
}

function findUser(store: Store, userId: string) {
  const user = USER_ID.test(userId) ? store.users.get(userId) : undefined;
  if (user === undefined) throw new HttpError(404, 'not_found', `No user ${userId}.`);
  return user;
}

function findNote(store: Store, noteId: string): Note {
  const note = NOTE_ID.test(noteId) ? store.notes.get(noteId) : undefined;
  if (note === undefined) throw new HttpError(404, 'not_found', `No note ${noteId}.`);
  return note;
}

function notesOf(store: Store, userId: string): Note[] {
  return [...store.notes.values()].filter((n) => n.ownerId === userId);
}

/** Routes one request. Path segments are compared literally: the API does no normalization. */
async function handle(store: Store, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://notes.invalid');
  const method = req.method ?? 'GET';
  const seg = url.pathname.split('/').slice(1).map((s) => decodeURIComponent(s));
  // GET /internal/owners/notes/{noteId}: who owns a note. For the gateway's ownership lookup;
  // it is not in the OpenAPI document, so the gateway never forwards a client to it.
  if (seg[0] === 'internal' && seg[1] === 'owners' && seg[2] === 'notes' && seg[3] !== undefined && seg.length === 4) {
    if (method !== 'GET') throw methodNotAllowed(['GET']);
    return send(res, 200, { ownerId: findNote(store, seg[3]).ownerId });
  }
  if (seg[0] !== 'v1') throw new HttpError(404, 'not_found', 'No such route.');
  const [, a, b, c, ...rest] = seg;
  if (rest.length > 0) throw new HttpError(404, 'not_found', 'No such route.');

  // GET /v1/health
  if (a === 'health' && b === undefined) {
    if (method !== 'GET') throw methodNotAllowed(['GET']);
    return send(res, 200, { status: 'ok', version: API_VERSION, uptimeSeconds: Math.floor((Date.now() - store.startedAt) / 1000) });
  }

  // /v1/users/{userId}[/notes]
  if (a === 'users' && b !== undefined && b !== '') {
    if (c === undefined) {
      if (method !== 'GET') throw methodNotAllowed(['GET']);
      return send(res, 200, findUser(store, b));
    }
    if (c === 'notes') {
      if (method === 'GET') {
        findUser(store, b);
        const items = notesOf(store, b);
        return send(res, 200, { items, count: items.length });
      }
      if (method === 'POST') {
        const user = findUser(store, b);
        const input = toNoteInput(await readJson(req));
        const now = new Date().toISOString();
        const note: Note = { id: `n-${store.nextNoteNumber++}`, ownerId: user.id, ownerEmail: user.email, ...input, createdAt: now, updatedAt: now };
        store.notes.set(note.id, note);
        return send(res, 201, note, { location: `/v1/notes/${note.id}` });
      }
      throw methodNotAllowed(['GET', 'POST']);
    }
  }

  // /v1/notes/{noteId}
  if (a === 'notes' && b !== undefined && b !== '' && c === undefined) {
    if (method === 'GET') return send(res, 200, findNote(store, b));
    if (method === 'PUT') {
      const note = findNote(store, b);
      const input = toNoteInput(await readJson(req));
      note.title = input.title;
      note.body = input.body;
      note.tags = input.tags;
      if (input.ownerId !== undefined && USER_ID.test(input.ownerId)) note.ownerId = input.ownerId;
      note.updatedAt = new Date().toISOString();
      return send(res, 200, note);
    }
    if (method === 'DELETE') {
      findNote(store, b);
      store.notes.delete(b);
      return send(res, 204, undefined);
    }
    throw methodNotAllowed(['GET', 'PUT', 'DELETE']);
  }

  // GET /v1/search?q=&limit= : searches every user's notes (the backend does not know who asks).
  if (a === 'search' && b === undefined) {
    if (method !== 'GET') throw methodNotAllowed(['GET']);
    const q = url.searchParams.get('q') ?? '';
    if (q.length < 1 || q.length > 100) throw new HttpError(400, 'invalid_query', '`q` must be 1 to 100 characters.');
    const limitText = url.searchParams.get('limit') ?? '20';
    const limit = /^\d{1,3}$/.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= 50)) throw new HttpError(400, 'invalid_query', '`limit` must be an integer from 1 to 50.');
    const needle = q.toLowerCase();
    const items = [...store.notes.values()]
      .filter((n) => n.title.toLowerCase().includes(needle) || n.body.toLowerCase().includes(needle) || n.tags.some((t) => t.toLowerCase() === needle))
      .slice(0, limit);
    return send(res, 200, { query: q, items, count: items.length });
  }

  // POST /v1/login: checks a password and nothing else. Like many backends it has no brute-force
  // protection of its own: the gateway counts failures, slows and bans guessers.
  if (a === 'login' && b === undefined) {
    if (method !== 'POST') throw methodNotAllowed(['POST']);
    const body = await readJson(req);
    const { username, password } = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    if (typeof username !== 'string' || typeof password !== 'string') throw new HttpError(400, 'invalid_body', 'Expected {username, password}.');
    const expected = store.passwords.get(username.toLowerCase());
    const digest = (s: string) => createHash('sha256').update(s).digest();
    if (expected === undefined || !timingSafeEqual(digest(expected), digest(password))) {
      throw new HttpError(401, 'invalid_credentials', 'Unknown username or wrong password.');
    }
    const user = [...store.users.values()].find((u) => u.email === username.toLowerCase());
    return send(res, 200, { userId: user?.id ?? '' });
  }

  // GET /v1/admin/stats
  if (a === 'admin' && b === 'stats' && c === undefined) {
    if (method !== 'GET') throw methodNotAllowed(['GET']);
    const notesByUser: Record<string, number> = {};
    for (const user of store.users.values()) notesByUser[user.id] = notesOf(store, user.id).length;
    return send(res, 200, {
      users: store.users.size,
      notes: store.notes.size,
      notesByUser,
      uptimeSeconds: Math.floor((Date.now() - store.startedAt) / 1000),
      heapUsedBytes: process.memoryUsage().heapUsed,
    });
  }

  throw new HttpError(404, 'not_found', 'No such route.');
}

/** Creates the example notes API server (not listening yet), with fresh seed data. */
export function createExampleApi(): http.Server {
  const store = createStore();
  return http.createServer((req, res) => {
    handle(store, req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) {
        send(res, err.status, { error: err.code, message: err.message }, err.headers);
      } else if (err instanceof URIError) {
        send(res, 400, { error: 'bad_path', message: 'Malformed percent-encoding in the path.' });
      } else {
        console.error('notes-api: unexpected error', err);
        send(res, 500, { error: 'internal', message: 'Internal error.' });
      }
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string', default: '3001' }, host: { type: 'string', default: '127.0.0.1' } },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`notes-api: --port must be an integer from 0 to 65535, got ${values.port}`);
    process.exit(1);
  }
  const server = createExampleApi();
  server.on('error', (err) => {
    console.error(`notes-api: cannot listen on ${values.host}:${port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, values.host, () => {
    const addr = server.address();
    const bound = typeof addr === 'object' && addr !== null ? addr.port : port;
    console.log(`notes-api listening on http://${values.host}:${bound}`);
  });
  const stop = (): void => void server.close(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) void main();
