import { resolve } from 'node:path';
import type { Command } from 'commander';
import { formatDiagnostic, loadConfig } from '../config/index.js';
import { isWorker, runPrimary, runWorker } from '../server/cluster.js';
import { startGateway } from '../server/process.js';
import { UserError } from './errors.js';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('Start the gateway: listeners, admin listener, hot reload on SIGHUP and file change, graceful drain on SIGTERM.')
    .option('-c, --config <file>', 'config file (YAML or JSON)', 'portcullis.yaml')
    .option('-w, --workers <n>', 'override `workers` from the config (a number or "auto")')
    .addHelpText(
      'after',
      '\nSignals: SIGHUP reloads the config (a bad file is reported and the running config stays), SIGTERM/SIGINT drain and stop, SIGUSR2 reopens the audit file.',
    )
    .action(async (opts: { config: string; workers?: string }) => {
      const file = resolve(opts.config);
      const env = process.env;
      const loaded = await loadConfig(file, { env });
      if (!loaded.ok) {
        for (const d of loaded.diagnostics) process.stderr.write(formatDiagnostic(d) + '\n');
        throw new UserError(`${opts.config}: invalid config; nothing started (run \`portcullis check -c ${opts.config}\` for details)`);
      }
      for (const w of loaded.warnings) process.stderr.write(formatDiagnostic(w) + '\n');
      let config = loaded.config;
      if (opts.workers !== undefined) {
        const n = opts.workers === 'auto' ? (await import('node:os')).availableParallelism() : Number(opts.workers);
        if (!Number.isInteger(n) || n < 1 || n > 256) throw new UserError(`--workers: expected "auto" or a whole number from 1 to 256, got "${opts.workers}"`);
        config = Object.assign(Object.create(Object.getPrototypeOf(config) as object) as object, config, { workers: n }) as typeof config;
      }
      if (isWorker()) return runWorker(config, env);
      if (config.workers > 1) return runPrimary(config, env);
      try {
        await startGateway({ config, env, signals: true });
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === 'EADDRINUSE' || code === 'EACCES') throw new UserError(`cannot listen: ${(err as Error).message}`);
        throw err;
      }
    });
}
