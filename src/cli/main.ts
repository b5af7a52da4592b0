#!/usr/bin/env node
/**
 * The `portcullis` command. Commands are registered as data, one file each. A UserError prints
 * one line and exits 1; anything else is a bug: stack trace, exit 2.
 */
import './v8-flags.js'; // first: before anything fills the heap
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { registerCheck } from './check.js';
import { UserError } from './errors.js';
import { registerHashKey } from './hash-key.js';
import { registerKeys } from './keys.js';
import { registerRun } from './run.js';

const COMMANDS: readonly ((program: Command) => void)[] = [registerRun, registerCheck, registerHashKey, registerKeys];

export async function main(argv: readonly string[]): Promise<void> {
  const program = new Command()
    .name('portcullis')
    .description('Portcullis: an API security gateway.')
    .version(VERSION, '-v, --version')
    .showHelpAfterError()
    .exitOverride();
  for (const register of COMMANDS) register(program);
  try {
    await program.parseAsync(argv as string[]);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof UserError) {
      process.stderr.write(`portcullis: ${err.message}\n`);
      process.exitCode = err.exitCode;
      return;
    }
    process.stderr.write(`portcullis: internal error (a bug; please report it)\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 2;
  }
}

await main(process.argv);
