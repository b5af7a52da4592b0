/**
 * Redaction for audit events and operational logs.
 *
 * Safety argument: secrets can reach an event through three doors only — the query
 * string, the request headers (when `includeHeaders` is on) and free-form objects
 * handed to a logger. The first two are rewritten here before serialization, with name
 * sets compiled once when telemetry is created; the third is covered by pino's compiled
 * `redact` paths (`AUDIT_REDACT_PATHS`, `LOG_REDACT_PATHS`), which also act as a second
 * belt on the audit event. Matching errs towards redacting too much: a parameter or
 * header whose name merely contains `key` or `sig` loses its value.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** What replaces a redacted value. */
export const REDACTED = '[REDACTED]';

/**
 * A query parameter (or header) whose lower-cased name contains one of these is redacted.
 * `sig` covers `signature`, `auth` covers `oauth` and `authorization`, `key` covers `api_key`.
 */
export const SENSITIVE_NAME_PARTS: readonly string[] = Object.freeze([
  'password',
  'passwd',
  'pwd',
  'secret',
  'token',
  'key',
  'auth',
  'session',
  'signature',
  'sig',
  'credential',
]);

/** Headers whose value is always redacted, whatever the config says. */
export const ALWAYS_REDACTED_HEADERS: readonly string[] = Object.freeze([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'api-key',
]);

/** Header names that contain a sensitive part but carry no secret. */
const HEADER_EXEMPT: ReadonlySet<string> = new Set([':authority']);

/** Default cap of the `query` field, in characters. */
export const MAX_QUERY_CHARS = 2048;

/** True when a lower-cased parameter or header name looks like it carries a secret. */
export function isSensitiveName(lowerName: string): boolean {
  for (const part of SENSITIVE_NAME_PARTS) {
    if (lowerName.includes(part)) return true;
  }
  return false;
}

function sensitive(lowerName: string, extra: ReadonlySet<string> | undefined): boolean {
  return isSensitiveName(lowerName) || (extra !== undefined && extra.has(lowerName));
}

function decodeName(raw: string): string {
  let name = raw;
  if (name.includes('+')) name = name.replaceAll('+', ' ');
  if (name.includes('%')) {
    try {
      name = decodeURIComponent(name);
    } catch {
      // Malformed escapes: match on the raw text (still lower-cased below).
    }
  }
  return name.toLowerCase();
}

/**
 * Redact one `&`-separated segment. Some servers also split on `;`, so each `;`-part is
 * checked too; from the first sensitive part on, the rest of the segment is redacted.
 */
function redactSegment(seg: string, extra: ReadonlySet<string> | undefined): string {
  let start = 0;
  while (start < seg.length) {
    let end = seg.indexOf(';', start);
    if (end === -1) end = seg.length;
    const eq = seg.indexOf('=', start);
    if (eq !== -1 && eq < end && sensitive(decodeName(seg.slice(start, eq)), extra)) {
      return seg.slice(0, eq + 1) + REDACTED;
    }
    start = end + 1;
  }
  return seg;
}

/**
 * The raw query string (without `?`) with the value of every sensitive parameter replaced
 * by `[REDACTED]`, cut at `maxChars`. Work stops once the cap is reached, so a huge query
 * costs no more than a small one.
 */
export function redactQuery(raw: string, maxChars: number = MAX_QUERY_CHARS, extra?: ReadonlySet<string>): string {
  if (raw === '') return '';
  let out = '';
  let start = 0;
  while (start <= raw.length && out.length < maxChars) {
    let end = raw.indexOf('&', start);
    if (end === -1) end = raw.length;
    if (start > 0) out += '&';
    out += redactSegment(raw.slice(start, end), extra);
    start = end + 1;
  }
  return out.length > maxChars ? out.slice(0, maxChars) : out;
}

/** Bounds of the `headers` object of an audit event. */
export interface HeaderRedactorOptions {
  /** Characters kept of each value (default 512). */
  readonly maxValueChars?: number;
  /** Headers kept (default 64); the rest are dropped. */
  readonly maxHeaders?: number;
}

/** Turns request headers into a flat, redacted, bounded `name → value` object. */
export type HeaderRedactor = (headers: IncomingHttpHeaders) => Record<string, string>;

/**
 * Compile a header redactor: `ALWAYS_REDACTED_HEADERS` + `extraNames` (API-key headers,
 * `telemetry.audit.redactHeaders`) are redacted by exact name, and any other header whose
 * name contains a `SENSITIVE_NAME_PARTS` entry (e.g. `x-auth-token`) too.
 */
export function createHeaderRedactor(extraNames: readonly string[], opts: HeaderRedactorOptions = {}): HeaderRedactor {
  const maxValue = opts.maxValueChars ?? 512;
  const maxHeaders = opts.maxHeaders ?? 64;
  const exact = new Set<string>([...ALWAYS_REDACTED_HEADERS, ...extraNames.map((n) => n.toLowerCase())]);
  // Per-name verdicts, so the substring scan runs once per distinct header name.
  const verdicts = new Map<string, boolean>();
  const sensitive = (name: string): boolean => {
    let v = verdicts.get(name);
    if (v === undefined) {
      v = exact.has(name) || (!HEADER_EXEMPT.has(name) && isSensitiveName(name));
      if (verdicts.size < 1024) verdicts.set(name, v);
    }
    return v;
  };
  return (headers) => {
    const out: Record<string, string> = {};
    let n = 0;
    for (const rawName in headers) {
      const value = headers[rawName];
      if (value === undefined) continue;
      if (n++ >= maxHeaders) break;
      // Node lower-cases names already; do it again for headers built elsewhere.
      const name = rawName.toLowerCase();
      if (sensitive(name)) {
        out[name] = REDACTED;
      } else {
        const s = typeof value === 'string' ? value : value.join(', ');
        out[name] = s.length > maxValue ? s.slice(0, maxValue) : s;
      }
    }
    return out;
  };
}

const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/** A pino `redact` path for a header, or undefined when the name cannot be written as one. */
function headerPath(prefix: string, name: string): string | undefined {
  const lower = name.toLowerCase();
  return HEADER_TOKEN.test(lower) && !lower.includes("'") ? `${prefix}["${lower}"]` : undefined;
}

const SECRET_KEYS = ['password', 'token', 'secret', 'authorization', 'cookie'] as const;

/** Object-valued fields of the audit event other than `headers`. */
const AUDIT_OBJECT_FIELDS = ['principal', 'clientCert'] as const;

/**
 * pino `redact` paths for the audit logger: the secret-looking keys at the top level and in
 * each object field, plus every always-redacted and configured header under `headers`.
 * The event builder already redacts; these catch a field added later by mistake.
 * Explicit paths only: wildcard paths (`*.password`) cost ~14 µs per event (measured),
 * more than building and serializing the event itself.
 */
export function auditRedactPaths(headerNames: readonly string[]): string[] {
  const paths = new Set<string>();
  for (const k of SECRET_KEYS) {
    paths.add(k);
    for (const field of AUDIT_OBJECT_FIELDS) paths.add(`${field}.${k}`);
  }
  for (const h of [...SECRET_KEYS, ...ALWAYS_REDACTED_HEADERS, ...headerNames]) {
    const p = headerPath('headers', h);
    if (p !== undefined) paths.add(p);
  }
  return [...paths];
}

/**
 * pino `redact` paths for operational logs: secret-looking keys at the top level, one and
 * two levels down, and the credential headers of a `req`/`request` object if one is logged.
 */
export function logRedactPaths(headerNames: readonly string[] = []): string[] {
  const paths = new Set<string>();
  for (const k of [...SECRET_KEYS, 'apiKey', 'api_key', 'adminToken']) {
    paths.add(k);
    paths.add(`*.${k}`);
    paths.add(`*.*.${k}`);
  }
  for (const h of [...ALWAYS_REDACTED_HEADERS, ...headerNames]) {
    for (const prefix of ['headers', 'req.headers', 'request.headers']) {
      const p = headerPath(prefix, h);
      if (p !== undefined) paths.add(p);
    }
  }
  return [...paths];
}
