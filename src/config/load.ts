/**
 * Config loading: file → parsed value with positions → `${ENV}` and `file:` secrets →
 * schema validation → semantic checks and normalization (normalize.ts).
 *
 * Loading is a pure function of the files and the environment. Problems in them never
 * throw: they come back as diagnostics, all of them, each with file:line:column. A caller
 * gets either a complete `Config` or none (nothing is half-applied).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigSchema, type RawConfig } from './schema.js';
import { describeFsError, keyPath, sortDiagnostics } from './diagnostics.js';
import { normalize, type LoadContext } from './normalize.js';
import { fillDefaults, type SchemaNode } from './schema-walk.js';
import { resolveReferences, type Env } from './secrets.js';
import { parseSource, type Segment } from './source.js';
import type { Diagnostic, LoadResult, Severity } from './types.js';
import { validateConfig } from './validate.js';

export interface LoadConfigOptions {
  /** Environment for `${NAME}` references. Default: `process.env`. */
  readonly env?: Env;
}

/**
 * Load, check and normalize a config file (YAML or JSON).
 *
 * @returns `{ ok: true, config, warnings }`, or `{ ok: false, diagnostics, files }` with
 *   every problem found (sorted by file and position) and the files to watch for a fix.
 */
export async function loadConfig(file: string, opts: LoadConfigOptions = {}): Promise<LoadResult> {
  const abs = path.resolve(file);
  const env = opts.env ?? process.env;
  const cache = new Map<string, Promise<Buffer>>();
  const read = (f: string): Promise<Buffer> => {
    let p = cache.get(f);
    if (!p) {
      p = readFile(f);
      cache.set(f, p);
    }
    return p;
  };
  const files: string[] = [abs];
  const fail = (diagnostics: Diagnostic[]): LoadResult => ({ ok: false, diagnostics: sortDiagnostics(diagnostics), files: unique(files) });

  let text: string;
  try {
    text = (await read(abs)).toString('utf8');
  } catch (err) {
    return fail([{ severity: 'error', file: abs, line: 0, column: 0, path: '', message: `cannot read config file: ${describeFsError(err)}` }]);
  }
  const src = parseSource(abs, text);
  if (src.value === undefined) return fail([...src.diagnostics]);
  if (src.value === null) {
    return fail([{ severity: 'error', file: abs, line: 1, column: 1, path: '', message: 'the config file is empty; expected at least "version: 1" and "listeners"' }]);
  }

  const schema = ConfigSchema as unknown as SchemaNode;
  const dir = path.dirname(abs);
  const resolved = await resolveReferences(schema, src.value, { src, env, dir, read, files });
  const diagnostics: Diagnostic[] = [...src.diagnostics, ...resolved.diagnostics];
  // A value that already failed (unset variable, unreadable secret) is not also a schema error.
  diagnostics.push(...validateConfig(resolved.value, src).filter((d) => !resolved.failed.has(d.path)));
  if (diagnostics.some((d) => d.severity === 'error')) return fail(diagnostics);

  const raw = resolved.value as RawConfig;
  const filled = fillDefaults(schema, structuredClone(raw)) as RawConfig;
  const ctx: LoadContext = {
    file: abs,
    dir,
    src,
    read,
    files,
    diagnostics,
    report(severity: Severity, at: readonly Segment[], message: string, onKey = false) {
      const loc = onKey ? src.locateKey(at) : src.locate(at);
      diagnostics.push({ severity, file: loc.file, line: loc.line, column: loc.column, path: keyPath(at), message });
    },
  };
  const normalized = await normalize(raw, filled, ctx);
  if (!normalized || diagnostics.some((d) => d.severity === 'error')) return fail(diagnostics);

  const allFiles = unique(files);
  const hash = createHash('sha256');
  for (const f of allFiles) {
    // Each file's length first, so moving bytes from one file to the next changes the hash.
    const content = await read(f).catch(() => Buffer.alloc(0));
    hash.update(`${content.length}\0`);
    hash.update(content);
  }
  const config = { ...normalized, file: abs, files: allFiles, revision: hash.digest('hex').slice(0, 12), locate: (p: readonly Segment[]) => src.locate(p) };
  return { ok: true, config, warnings: sortDiagnostics(diagnostics) };
}

function unique(list: readonly string[]): string[] {
  return [...new Set(list)];
}
