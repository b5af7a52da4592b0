/**
 * Schema validation of a config value with ajv (compiled once per process), and the
 * translation of ajv's errors into one plain-words message per location: what was
 * expected, what was found, at the file position of the key or value.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ConfigSchema } from './schema.js';
import { keyPath } from './diagnostics.js';
import { isPlainObject, type SchemaNode } from './schema-walk.js';
import type { ParsedSource, Segment } from './source.js';
import type { Diagnostic } from './types.js';

// ajv-formats is CommonJS with a default export; under NodeNext it arrives as the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

let compiled: ValidateFunction | undefined;

/** The config validator, compiled on first use and kept for the process. */
export function configValidator(): ValidateFunction {
  if (!compiled) {
    const ajv = new Ajv({
      allErrors: true,
      verbose: true,
      strict: true,
      // Our annotations: secrets accept ${ENV} / file:, secret files are never logged.
      keywords: ['x-secret', 'x-secret-file'],
    });
    addFormats(ajv);
    compiled = ajv.compile(ConfigSchema);
  }
  return compiled;
}

/** Validate a parsed config value; one diagnostic per problem, all problems. */
export function validateConfig(value: unknown, src: ParsedSource): Diagnostic[] {
  const validate = configValidator();
  if (validate(value)) return [];
  const problems = explain(validate.errors ?? [], value);
  const seen = new Set<string>();
  const out: Diagnostic[] = [];
  for (const p of problems) {
    const at = p.atKey ? src.locateKey(p.path) : src.locate(p.path);
    const display = keyPath(p.path);
    const id = `${display}\0${p.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ severity: 'error', file: at.file, line: at.line, column: at.column, path: display, message: p.message });
  }
  return out;
}

interface Problem {
  readonly path: Segment[];
  readonly message: string;
  /** Point at the key (unknown keys) rather than the value. */
  readonly atKey?: boolean;
}

/** Turn ajv errors into problems, collapsing each failed union into one message. */
function explain(errors: readonly ErrorObject[], root: unknown): Problem[] {
  const unions = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  // Outermost unions first: a union nested in a branch is handled when that branch is.
  const top = unions.filter((u) => !unions.some((o) => o !== u && u.schemaPath.startsWith(o.schemaPath + '/')));
  const consumed = new Set<ErrorObject>();
  const out: Problem[] = [];
  for (const u of top) {
    const inBranches = errors.filter((e) => e !== u && e.schemaPath.startsWith(u.schemaPath + '/'));
    consumed.add(u);
    for (const e of inBranches) consumed.add(e);
    const branches = (u.schema ?? []) as SchemaNode[];
    const matching = branches.map((b, i) => ({ b, i })).filter(({ b }) => typeMatches(b, u.data));
    const only = matching.length === 1 ? matching[0] : undefined;
    if (only && (only.b.type === 'object' || only.b.type === 'array') && only.b.const === undefined) {
      // The value is clearly meant for this branch: explain what is wrong inside it.
      const prefix = `${u.schemaPath}/${only.i}/`;
      out.push(...explain(inBranches.filter((e) => e.schemaPath.startsWith(prefix)), root));
    } else {
      out.push({ path: toSegments(u.instancePath, root), message: `expected ${describe(u.parentSchema as SchemaNode)}, got ${got(u.data, true)}` });
    }
  }
  for (const e of errors) if (!consumed.has(e)) out.push(single(e, root));
  return out;
}

function single(e: ErrorObject, root: unknown): Problem {
  const path = toSegments(e.instancePath, root);
  const parent = (e.parentSchema ?? {}) as SchemaNode;
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys(parent.properties ?? {});
      if (known.length === 0 && parent.patternProperties) {
        const pattern = Object.keys(parent.patternProperties)[0] ?? '';
        return { path: [...path, key], atKey: true, message: `invalid name ${JSON.stringify(key)}; expected ${describePattern(pattern)}` };
      }
      return { path: [...path, key], atKey: true, message: `unknown key ${JSON.stringify(key)}; expected one of: ${known.join(', ')}` };
    }
    case 'required':
      return { path, message: `missing required key ${JSON.stringify(String(params.missingProperty))}` };
    case 'type':
      return { path, message: `expected ${describeType(String(params.type))}, got ${got(e.data, false)}` };
    case 'const':
      return { path, message: `expected ${JSON.stringify(params.allowedValue)}, got ${got(e.data, true)}` };
    case 'enum':
      return { path, message: `expected one of: ${((params.allowedValues ?? []) as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, got ${got(e.data, true)}` };
    case 'uniqueItems': {
      const i = Number(params.i);
      const j = Number(params.j);
      return { path: [...path, Math.max(i, j)], message: `duplicate entry: the same as item ${Math.min(i, j)}` };
    }
    case 'minItems':
      return { path, message: Number(params.limit) === 1 ? 'expected a non-empty list' : `expected at least ${String(params.limit)} items` };
    case 'maxItems':
      return { path, message: `expected at most ${String(params.limit)} items` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path, message: `expected ${describe(parent)}, got ${got(e.data, true)}` };
    case 'minLength':
    case 'maxLength':
    case 'pattern':
    case 'format':
      // No value in the message: the string may be a secret.
      return { path, message: `expected ${describe(parent)}, got ${e.data === '' ? 'an empty string' : e.keyword === 'pattern' || e.keyword === 'format' ? 'something else' : `${String(e.data).length} characters`}` };
    default:
      return { path, message: e.message ?? `invalid value (${e.keyword})` };
  }
}

/** Instance path (JSON pointer) → key path, with list indexes as numbers. */
function toSegments(pointer: string, root: unknown): Segment[] {
  if (pointer === '') return [];
  const out: Segment[] = [];
  let cur: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const s = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (Array.isArray(cur)) {
      const i = Number(s);
      out.push(i);
      cur = cur[i];
    } else {
      out.push(s);
      cur = isPlainObject(cur) ? cur[s] : undefined;
    }
  }
  return out;
}

function typeMatches(s: SchemaNode, v: unknown): boolean {
  switch (s.type) {
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    case 'array':
      return Array.isArray(v);
    case 'object':
      return isPlainObject(v);
    case 'null':
      return v === null;
    default:
      return s.const !== undefined ? typeof s.const === typeof v : false;
  }
}

/** A schema in words: `an integer from 1 to 256`, `one of: "a", "b"`. */
export function describe(s: SchemaNode): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.anyOf) {
    if (s.anyOf.every((b) => b.const !== undefined)) return `one of: ${s.anyOf.map((b) => JSON.stringify(b.const)).join(', ')}`;
    return s.anyOf.map(describe).join(' or ');
  }
  switch (s.type) {
    case 'string':
      if (s.format === 'date-time') return 'a date and time such as 2026-01-31T00:00:00Z';
      if (s.pattern !== undefined) return describePattern(s.pattern);
      if (s.minLength === 1) return 'a non-empty string';
      return 'a string';
    case 'integer':
    case 'number': {
      const what = s.type === 'integer' ? 'an integer' : 'a number';
      if (s.minimum !== undefined && s.maximum !== undefined) return `${what} from ${s.minimum} to ${s.maximum}`;
      if (s.minimum !== undefined) return `${what} of at least ${s.minimum}`;
      if (s.maximum !== undefined) return `${what} of at most ${s.maximum}`;
      return what;
    }
    default:
      return describeType(s.type ?? 'value');
  }
}

function describeType(type: string): string {
  switch (type) {
    case 'integer':
      return 'an integer';
    case 'number':
      return 'a number';
    case 'string':
      return 'a string';
    case 'boolean':
      return 'true or false';
    case 'array':
      return 'a list';
    case 'object':
      return 'an object';
    case 'null':
      return 'nothing';
    default:
      return type;
  }
}

/** Our schema's patterns, in words; anything else is shown as the pattern. */
const PATTERN_WORDS: Readonly<Record<string, string>> = {
  '^[a-z0-9][a-z0-9_-]{0,62}$': 'a name of 1 to 63 lowercase letters, digits, "-" or "_", starting with a letter or digit',
  '^[0-9a-f]{64}$': '64 lowercase hex digits (a SHA-256)',
  '^[A-Za-z0-9._-]{1,64}$': '1 to 64 letters, digits, ".", "_" or "-"',
  '^[A-Za-z0-9-]+$': 'a header name (letters, digits and "-")',
  "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$": 'a header name (an HTTP token, no spaces or separators)',
  '^https?://[^\\s/?#]+(/[^\\s?#]*)?$': 'an http:// or https:// URL without query or fragment',
  '^(/[^\\s/?#]+)*/?$': 'a path such as /v1 (starting with "/", without spaces, query or fragment)',
  '^/': 'a path starting with "/"',
};

export function describePattern(pattern: string): string {
  return PATTERN_WORDS[pattern] ?? `a string matching ${pattern}`;
}

/** The found value in words. Strings are shown only when `showStrings` (never for free text that may be secret). */
function got(v: unknown, showStrings: boolean): string {
  if (v === null || v === undefined) return 'nothing (an empty value)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') {
    if (v === '') return 'an empty string';
    return showStrings && v.length <= 40 ? JSON.stringify(v) : 'a string';
  }
  if (typeof v === 'boolean') return showStrings ? String(v) : 'a boolean';
  if (typeof v === 'number') return showStrings ? String(v) : Number.isInteger(v) ? 'an integer' : 'a number';
  return typeof v;
}
