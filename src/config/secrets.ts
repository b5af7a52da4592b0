/**
 * `${ENV}` substitution in string values and `file:` secrets.
 *
 * - `${NAME}` anywhere in a string value is replaced by the variable; an unset variable
 *   is an error (there is no default syntax: no secret has a default). `$${` is a
 *   literal `${`.
 * - A field marked `x-secret` in the schema may be `file:<path>` (relative to the config
 *   file's directory): the file is read and one trailing newline removed. `${…}` inside the
 *   path is substituted first.
 * - A secret written literally in the file gets a warning, except a SHA-256 digest, which
 *   is not the secret itself.
 * - A value that came entirely from `${…}` is converted to the integer or boolean the
 *   schema expects there (`port: ${PORT}`), because environment variables are text.
 */
import path from 'node:path';
import { describeFsError, keyPath } from './diagnostics.js';
import { isPlainObject, walkWithSchema, type SchemaNode } from './schema-walk.js';
import type { ParsedSource, Segment } from './source.js';
import type { Diagnostic } from './types.js';

export type Env = Readonly<Record<string, string | undefined>>;

type Substitution = { readonly value: string; readonly whole: boolean } | { readonly error: string };

/** Replace `${NAME}` references in one string. Linear scan, no regex. */
export function substitute(text: string, env: Env): Substitution {
  if (!text.includes('$')) return { value: text, whole: false };
  let out = '';
  let refs = 0;
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '${';
      i += 3;
    } else if (text.startsWith('${', i)) {
      const end = text.indexOf('}', i + 2);
      if (end < 0) return { error: 'unterminated "${"; write ${NAME}, or $${ for a literal "${"' };
      const name = text.slice(i + 2, end);
      if (!isEnvName(name)) return { error: `invalid variable reference "\${${name}}"; expected \${NAME} with letters, digits and "_"` };
      const v = env[name];
      if (v === undefined) return { error: `environment variable ${name} is not set` };
      out += v;
      refs++;
      i = end + 1;
    } else {
      out += text[i];
      i++;
    }
  }
  const whole = refs === 1 && text.startsWith('${') && text.endsWith('}') && text.indexOf('}') === text.length - 1;
  return { value: out, whole };
}

function isEnvName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || (i > 0 && c >= 48 && c <= 57);
    if (!ok) return false;
  }
  return true;
}

export interface ResolveContext {
  readonly src: ParsedSource;
  readonly env: Env;
  /** Directory that relative `file:` paths are resolved against. */
  readonly dir: string;
  readonly read: (file: string) => Promise<Buffer>;
  /** Files read here, for the reload watch list. */
  readonly files: string[];
}

/**
 * Resolve `${ENV}` everywhere and `file:` in secret fields, in place on `value`.
 * Returns the diagnostics and the key paths (display form) that got an error, so schema
 * validation does not report them a second time.
 */
export async function resolveReferences(
  schema: SchemaNode,
  value: unknown,
  ctx: ResolveContext,
): Promise<{ value: unknown; diagnostics: Diagnostic[]; failed: Set<string> }> {
  const diagnostics: Diagnostic[] = [];
  const failed = new Set<string>();
  const report = (p: readonly Segment[], severity: Diagnostic['severity'], message: string) => {
    const at = ctx.src.locate(p);
    diagnostics.push({ severity, file: at.file, line: at.line, column: at.column, path: keyPath(p), message });
    if (severity === 'error') failed.add(keyPath(p));
  };

  // Secret fields, decided on what the file says (before substitution).
  const fileSecrets: { path: Segment[]; spec: string }[] = [];
  const secretPaths = new Set<string>();
  walkWithSchema(schema, value, (s, v, p) => {
    if (s['x-secret'] === true && typeof v === 'string') {
      secretPaths.add(keyPath(p));
      if (v.startsWith('file:')) fileSecrets.push({ path: [...p], spec: v.slice('file:'.length) });
      else if (!v.includes('${') && p[p.length - 1] !== 'sha256')
        report(p, 'warning', 'secret written inline in config; use ${ENV} or file:');
    }
    return v;
  });

  // ${ENV} in every string value (file: secrets are substituted in their path below).
  const whole = new Set<string>();
  const substituteAll = (v: unknown, p: Segment[]): unknown => {
    if (typeof v === 'string') {
      if (secretPaths.has(keyPath(p)) && v.startsWith('file:')) return v;
      const r = substitute(v, ctx.env);
      if ('error' in r) {
        report(p, 'error', r.error);
        return v;
      }
      if (r.whole) whole.add(keyPath(p));
      return r.value;
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = substituteAll(v[i], [...p, i]);
    } else if (isPlainObject(v)) {
      for (const k of Object.keys(v)) v[k] = substituteAll(v[k], [...p, k]);
    }
    return v;
  };
  let out = substituteAll(value, []);

  // Env values are text: give the schema the integer or boolean it expects there.
  if (whole.size > 0) {
    out = walkWithSchema(schema, out, (s, v, p) => (typeof v === 'string' && whole.has(keyPath(p)) ? coerce(s, v) : v));
  }

  for (const { path: p, spec } of fileSecrets) {
    const r = substitute(spec, ctx.env);
    if ('error' in r) {
      report(p, 'error', r.error);
      continue;
    }
    if (r.value === '') {
      report(p, 'error', 'expected a file path after "file:"');
      continue;
    }
    const file = path.resolve(ctx.dir, r.value);
    ctx.files.push(file);
    try {
      const text = (await ctx.read(file)).toString('utf8');
      setAt(out, p, trimOneNewline(text));
    } catch (err) {
      report(p, 'error', `cannot read secret file ${JSON.stringify(r.value)}: ${describeFsError(err)}`);
    }
  }
  return { value: out, diagnostics, failed };
}

function coerce(s: SchemaNode, v: string): unknown {
  if ((s.type === 'integer' || s.type === 'number') && isDecimal(v)) return Number(v);
  if (s.type === 'boolean' && (v === 'true' || v === 'false')) return v === 'true';
  return v;
}

function isDecimal(v: string): boolean {
  if (v.length === 0 || v.length > 15) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (!(c >= 48 && c <= 57) && !(i === 0 && c === 45 && v.length > 1)) return false;
  }
  return true;
}

function trimOneNewline(s: string): string {
  if (s.endsWith('\r\n')) return s.slice(0, -2);
  if (s.endsWith('\n')) return s.slice(0, -1);
  return s;
}

function setAt(root: unknown, p: readonly Segment[], v: unknown): void {
  let cur = root as Record<string | number, unknown>;
  for (let i = 0; i < p.length - 1; i++) cur = cur[p[i] as string] as Record<string | number, unknown>;
  cur[p[p.length - 1] as string] = v;
}
