/**
 * Diagnostics: building, ordering and printing the problems found in config and OpenAPI
 * files, in the `file:line:column: severity: path: message` shape editors and CI understand.
 */
import path from 'node:path';
import type { Diagnostic, Severity, SourceLocation } from './types.js';
import type { Segment } from './source.js';

/** Key path as users write it: `apis[0].cors.allowOrigins`, `upstreams["a.b"]`. */
export function keyPath(segments: readonly Segment[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (isIdentifier(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

function isIdentifier(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36;
    const digit = c >= 48 && c <= 57;
    // `-` is allowed inside keys like `security-headers`.
    if (!(letter || (i > 0 && (digit || c === 45)))) return false;
  }
  return true;
}

/** A diagnostic at a source location. */
export function diagnostic(severity: Severity, at: SourceLocation, path: string, message: string): Diagnostic {
  return { severity, file: at.file, line: at.line, column: at.column, path, message };
}

/** Diagnostics ordered by file, line, column (errors before warnings at one position). */
export function sortDiagnostics(list: readonly Diagnostic[]): Diagnostic[] {
  return [...list].sort(
    (a, b) =>
      (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) ||
      a.line - b.line ||
      a.column - b.column ||
      (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1),
  );
}

/** The file name to print: relative when under `cwd`, else absolute. */
export function displayPath(file: string, cwd: string = process.cwd()): string {
  const rel = path.relative(cwd, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/**
 * One line for a diagnostic:
 * `portcullis.yaml:12:15: error: apis[0].upstream: unknown upstream "x"; expected …`.
 * A position of 0 (file unreadable) prints the file alone.
 */
export function formatDiagnostic(d: Diagnostic, cwd: string = process.cwd()): string {
  const where = d.line > 0 ? `${displayPath(d.file, cwd)}:${d.line}:${d.column}` : displayPath(d.file, cwd);
  return `${where}: ${d.severity}: ${d.path ? `${d.path}: ` : ''}${d.message}`;
}

/** Short words for a file-system error, e.g. `no such file (ENOENT)`. */
export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file (ENOENT)';
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${code})`;
    case 'EISDIR':
      return 'is a directory, expected a file (EISDIR)';
    case undefined:
      return err instanceof Error ? err.message : String(err);
    default:
      return `${(err as Error).message}`;
  }
}
