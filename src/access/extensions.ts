/**
 * The access extensions of an OpenAPI operation, read and compiled once at config load:
 *
 * - `x-portcullis-owner` (object-level authorization; the same shape is accepted verbatim
 *   from config, so {@link parseOwnershipExtension} is the one parser for both);
 * - `readOnly` / `x-portcullis-write-roles` in the request-body schema and `writeOnly` /
 *   `x-portcullis-read-roles` in response schemas (property-level authorization).
 *
 * Every problem comes back as a precise message (`x-portcullis-owner.rules[0].in: expected
 * one of path, query, header, body`) so the config loader can print it with file and line.
 */
import type { ApiOperation } from '../config/types.js';
import {
  DEFAULT_CACHE_SECONDS,
  DEFAULT_LOOKUP_TIMEOUT_MS,
  OwnershipPolicy,
  parseLookupUrl,
  type ClaimMatch,
  type OwnerParam,
  type OwnerParamLocation,
  type OwnershipLookup,
  type OwnershipOptions,
  type OwnershipRule,
} from './ownership.js';
import { compileReadPolicy, compileWritePolicy, type ReadPolicy, type WritePolicy } from './properties.js';
import { isObject, parseJsonPointer, resolveOperationSchemas, SchemaResolver, type DocumentSet, type SchemaProblem } from './schema-resolve.js';

const LOCATIONS: readonly OwnerParamLocation[] = ['path', 'query', 'header', 'body'];
const MAX_RULES = 32;
const MAX_NAME_LENGTH = 256;
const MAX_CACHE_SECONDS = 86_400;
const MAX_TIMEOUT_MS = 60_000;

class Problems {
  readonly errors: string[] = [];
  add(at: string, message: string): void {
    this.errors.push(`${at}: ${message}`);
  }
}

function unknownKeys(p: Problems, at: string, obj: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) p.add(`${at}.${k}`, `unknown key; expected one of ${allowed.join(', ')}`);
  }
}

/** RFC 9110 token characters, for header names. */
function isToken(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || "!#$%&'*+-.^_`|~".includes(s[i] as string);
    if (!ok) return false;
  }
  return s.length > 0;
}

function readParam(p: Problems, at: string, v: Record<string, unknown>): OwnerParam | undefined {
  let ok = true;
  const where = v.in;
  if (where === undefined) {
    p.add(`${at}.in`, `missing; expected one of ${LOCATIONS.join(', ')}`);
    ok = false;
  } else if (typeof where !== 'string' || !LOCATIONS.includes(where as OwnerParamLocation)) {
    p.add(`${at}.in`, `expected one of ${LOCATIONS.join(', ')}`);
    ok = false;
  }
  const name = v.name;
  if (name === undefined) {
    p.add(`${at}.name`, where === 'body' ? 'missing; expected a JSON pointer into the body such as /ownerId' : 'missing; expected the parameter name');
    return undefined;
  }
  if (typeof name !== 'string' || name === '' || name.length > MAX_NAME_LENGTH) {
    p.add(`${at}.name`, `expected a non-empty string of at most ${MAX_NAME_LENGTH} characters`);
    return undefined;
  }
  if (!ok) return undefined;
  if (where === 'body' && (!name.startsWith('/') || parseJsonPointer(name) === undefined)) {
    p.add(`${at}.name`, `expected a JSON pointer into the body such as /ownerId, got ${JSON.stringify(name)}`);
    return undefined;
  }
  if (where === 'header' && !isToken(name)) {
    p.add(`${at}.name`, `expected a header name, got ${JSON.stringify(name)}`);
    return undefined;
  }
  return { in: where as OwnerParamLocation, name };
}

function readMatch(p: Problems, at: string, v: Record<string, unknown>): ClaimMatch | undefined {
  const eq = v.equalsClaim;
  const inc = v.inClaim;
  if (eq !== undefined && inc !== undefined) {
    p.add(at, 'expected either equalsClaim or inClaim, not both');
    return undefined;
  }
  if (eq === undefined && inc === undefined) {
    p.add(at, 'expected equalsClaim (the value equals a claim) or inClaim (the value is a member of a claim)');
    return undefined;
  }
  const key = eq !== undefined ? 'equalsClaim' : 'inClaim';
  const claim = eq ?? inc;
  if (typeof claim !== 'string' || claim === '' || claim.length > MAX_NAME_LENGTH) {
    p.add(`${at}.${key}`, "expected a claim name such as sub ('id' means the principal id)");
    return undefined;
  }
  return key === 'equalsClaim' ? { equalsClaim: claim } : { inClaim: claim };
}

function readInteger(p: Problems, at: string, v: unknown, def: number, min: number, max: number): number | undefined {
  if (v === undefined) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    p.add(at, `expected an integer from ${min} to ${max}`);
    return undefined;
  }
  return v;
}

function readLookup(p: Problems, at: string, v: unknown): OwnershipLookup | undefined {
  if (!isObject(v)) {
    p.add(at, 'expected an object with param, url, ownerPointer and equalsClaim or inClaim');
    return undefined;
  }
  const before = p.errors.length;
  unknownKeys(p, at, v, ['param', 'url', 'ownerPointer', 'equalsClaim', 'inClaim', 'cacheSeconds', 'timeoutMs']);
  let param: OwnerParam | undefined;
  if (v.param === undefined) p.add(`${at}.param`, 'missing; expected { in, name }: the request value that names the object');
  else if (!isObject(v.param)) p.add(`${at}.param`, 'expected { in, name }: the request value that names the object');
  else {
    unknownKeys(p, `${at}.param`, v.param, ['in', 'name']);
    param = readParam(p, `${at}.param`, v.param);
  }
  let url: string | undefined;
  if (typeof v.url !== 'string') {
    p.add(`${at}.url`, v.url === undefined ? 'missing; expected an http(s) URL with {value}' : 'expected an http(s) URL with {value}');
  } else {
    try {
      parseLookupUrl(v.url);
      url = v.url;
    } catch (err) {
      p.add(`${at}.url`, (err as Error).message);
    }
  }
  let ownerPointer = '';
  if (v.ownerPointer !== undefined) {
    if (typeof v.ownerPointer !== 'string' || parseJsonPointer(v.ownerPointer) === undefined) {
      p.add(`${at}.ownerPointer`, 'expected a JSON pointer into the lookup answer such as /owner');
    } else {
      ownerPointer = v.ownerPointer;
    }
  }
  const match = readMatch(p, at, v);
  const cacheSeconds = readInteger(p, `${at}.cacheSeconds`, v.cacheSeconds, DEFAULT_CACHE_SECONDS, 0, MAX_CACHE_SECONDS);
  const timeoutMs = readInteger(p, `${at}.timeoutMs`, v.timeoutMs, DEFAULT_LOOKUP_TIMEOUT_MS, 1, MAX_TIMEOUT_MS);
  if (p.errors.length > before || !param || url === undefined || !match || cacheSeconds === undefined || timeoutMs === undefined) return undefined;
  return { param, url, ownerPointer, cacheSeconds, timeoutMs, ...match } as OwnershipLookup;
}

/**
 * Parse `x-portcullis-owner` (or the route's `owner` in config). `at` names the place for
 * messages, e.g. `x-portcullis-owner` or `routes[2].owner`. No policy when there is any error.
 */
export function parseOwnershipExtension(value: unknown, at: string, opts: OwnershipOptions = {}): { policy?: OwnershipPolicy; errors: string[] } {
  const p = new Problems();
  if (!isObject(value)) {
    p.add(at, 'expected an object with rules, lookup and/or bypassRoles');
    return { errors: p.errors };
  }
  unknownKeys(p, at, value, ['rules', 'lookup', 'bypassRoles']);

  const rules: OwnershipRule[] = [];
  if (value.rules !== undefined) {
    if (!Array.isArray(value.rules)) {
      p.add(`${at}.rules`, 'expected a list of rules, each { in, name, equalsClaim | inClaim }');
    } else if (value.rules.length > MAX_RULES) {
      p.add(`${at}.rules`, `expected at most ${MAX_RULES} rules`);
    } else {
      value.rules.forEach((raw: unknown, i) => {
        const rat = `${at}.rules[${i}]`;
        if (!isObject(raw)) {
          p.add(rat, 'expected an object { in, name, equalsClaim | inClaim }');
          return;
        }
        unknownKeys(p, rat, raw, ['in', 'name', 'equalsClaim', 'inClaim']);
        const param = readParam(p, rat, raw);
        const match = readMatch(p, rat, raw);
        if (param && match) rules.push({ ...param, ...match } as OwnershipRule);
      });
    }
  }

  const lookup = value.lookup === undefined ? undefined : readLookup(p, `${at}.lookup`, value.lookup);

  let bypassRoles: string[] = [];
  if (value.bypassRoles !== undefined) {
    if (!Array.isArray(value.bypassRoles) || !value.bypassRoles.every((r) => typeof r === 'string' && r !== '')) {
      p.add(`${at}.bypassRoles`, 'expected a list of role names');
    } else {
      bypassRoles = [...(value.bypassRoles as string[])];
    }
  }

  if ((value.rules === undefined || (Array.isArray(value.rules) && value.rules.length === 0)) && value.lookup === undefined) {
    p.add(at, 'expected at least one rule or a lookup (an empty ownership check would allow everything)');
  }
  if (p.errors.length > 0) return { errors: p.errors };
  return { policy: new OwnershipPolicy(Object.freeze({ rules: Object.freeze(rules), lookup, bypassRoles: Object.freeze(bypassRoles) }), opts), errors: [] };
}

/** The access checks of one operation, compiled. */
export interface OperationAccess {
  /** Mass-assignment check of the JSON request body (undefined: nothing restricted). */
  readonly write: WritePolicy | undefined;
  /** Response filter (undefined: nothing restricted). */
  readonly read: ReadPolicy | undefined;
  /** Object-level check from `x-portcullis-owner` (undefined: none declared). */
  readonly ownership: OwnershipPolicy | undefined;
  /**
   * Errors refuse the config; warnings (e.g. `$ref`s to files that are not part of the
   * document, not followed) are shown. `at` is a JSON pointer in the main document, or
   * `other/file.yaml#/pointer` (with `file` set) for another file of the document.
   */
  readonly problems: readonly SchemaProblem[];
}

/** Path template parameter names (`/a/{x}/{y}` → x, y). */
function templateParams(template: string): string[] {
  const out: string[] = [];
  let i = template.indexOf('{');
  while (i >= 0) {
    const end = template.indexOf('}', i);
    if (end < 0) break;
    out.push(template.slice(i + 1, end));
    i = template.indexOf('{', end);
  }
  return out;
}

/**
 * Compile the access extensions of one operation of a loaded document (`LoadedSpec` or
 * `singleDocument(doc)` of schema-resolve.js; `operation.pointer` is in the main document, and the path item or
 * anything below it may be a `$ref` to another file of the document). Call once per operation
 * at config load; the policies are immutable and shared by every request (the ownership policy
 * holds its lookup cache).
 */
export function compileOperationAccess(spec: DocumentSet, operation: Pick<ApiOperation, 'pointer' | 'path'>, opts: OwnershipOptions = {}): OperationAccess {
  const resolver = SchemaResolver.of(spec);
  const schemas = resolveOperationSchemas(spec, operation.pointer, resolver);
  const compileProblem = (at: string, file: string, err: unknown) => resolver.report('error', at, (err as Error).message, file);

  let write: WritePolicy | undefined;
  if (schemas.request) {
    try {
      write = compileWritePolicy(schemas.request.schema, { resolver, at: schemas.request.at, file: schemas.request.file });
    } catch (err) {
      compileProblem(schemas.request.at, schemas.request.file, err);
    }
  }

  let read: ReadPolicy | undefined;
  if (schemas.responses.size > 0) {
    const bySchema = new Map<string, unknown>();
    for (const [status, s] of schemas.responses) bySchema.set(status, s.schema);
    try {
      read = compileReadPolicy(bySchema, { resolver, locate: (status) => schemas.responses.get(status) ?? { at: '', file: resolver.file } });
    } catch (err) {
      compileProblem(`${operation.pointer}/responses`, resolver.file, err);
    }
  }

  let ownership: OwnershipPolicy | undefined;
  const op = resolver.at(operation.pointer);
  const ext = op && isObject(op.value) && Object.hasOwn(op.value, 'x-portcullis-owner') ? op.value['x-portcullis-owner'] : undefined;
  if (op && ext !== undefined) {
    const extAt = `${op.at}/x-portcullis-owner`;
    const report = (message: string) => resolver.report('error', extAt, message, op.file);
    const parsed = parseOwnershipExtension(ext, 'x-portcullis-owner', opts);
    for (const e of parsed.errors) report(e);
    if (parsed.policy) {
      const names = templateParams(operation.path);
      const spec = parsed.policy.spec;
      const params = [...spec.rules.map((r, i) => ({ p: r as OwnerParam, where: `rules[${i}]` })), ...(spec.lookup ? [{ p: spec.lookup.param, where: 'lookup.param' }] : [])];
      let ok = true;
      for (const { p, where } of params) {
        if (p.in === 'path' && !names.includes(p.name)) {
          ok = false;
          report(`x-portcullis-owner.${where}.name: path parameter ${JSON.stringify(p.name)} is not in the path template ${JSON.stringify(operation.path)} (the check would refuse every request)`);
        }
      }
      if (ok) ownership = parsed.policy;
    }
  }
  return { write, read, ownership, problems: resolver.problems };
}
