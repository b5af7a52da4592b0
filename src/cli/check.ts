/**
 * `portcullis check`: load a config (and its OpenAPI documents) without starting anything,
 * print every problem with file:line:column, exit 1 when there is an error.
 */
import { Option, type Command } from 'commander';
import { displayPath, formatDiagnostic, loadConfig, type Diagnostic } from '../config/index.js';

export type CheckFormat = 'text' | 'json';

export interface CheckOptions {
  readonly format: CheckFormat;
  /** Receives the output, one line (or one JSON document) at a time. */
  readonly out: (line: string) => void;
  /** Environment for `${NAME}` references (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Check a config file and print the result.
 * @returns the exit code: 1 when there is any error, else 0 (warnings alone pass).
 */
export async function runCheck(file: string, opts: CheckOptions): Promise<number> {
  const result = await loadConfig(file, opts.env ? { env: opts.env } : {});
  const diagnostics: readonly Diagnostic[] = result.ok ? result.warnings : result.diagnostics;
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.length - errors;
  const apis = result.ok ? result.config.apis.length : 0;
  const routes = result.ok ? result.config.routes.length : 0;
  const operations = result.ok
    ? result.config.apis.reduce((n, a) => n + a.spec.operations.length, 0) + result.config.routes.reduce((n, r) => n + r.methods.length, 0)
    : 0;

  if (opts.format === 'json') {
    opts.out(
      JSON.stringify(
        {
          file: result.ok ? result.config.file : displayPath(file),
          ok: result.ok,
          errors,
          warnings,
          diagnostics,
          ...(result.ok ? { revision: result.config.revision, apis, routes, operations } : {}),
        },
        null,
        2,
      ),
    );
  } else {
    for (const d of diagnostics) opts.out(formatDiagnostic(d));
    const name = displayPath(result.ok ? result.config.file : file);
    const warned = warnings > 0 ? `, ${plural(warnings, 'warning')}` : '';
    opts.out(
      result.ok
        ? `${name}: OK${warned} (${plural(apis + routes, 'API/route', 'APIs/routes')}, ${plural(operations, 'operation')})`
        : `${name}: ${plural(errors, 'error')}${warned}`,
    );
  }
  return result.ok ? 0 : 1;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Add `portcullis check` to the program. */
export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('Check a config file and the OpenAPI documents it names; print every problem with file:line:column. Exits 1 on errors.')
    .option('-c, --config <file>', 'config file (YAML or JSON)', 'portcullis.yaml')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (options: { config: string; format: CheckFormat }) => {
      const code = await runCheck(options.config, { format: options.format, out: (line) => process.stdout.write(`${line}\n`) });
      process.exitCode = code;
    });
}
