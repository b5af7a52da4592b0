import type { Command } from 'commander';
import { hashApiKey } from '../identity/apikey.js';
import { UserError } from './errors.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    if (chunks.reduce((n, c) => n + c.length, 0) > 4096) throw new UserError('key on stdin is longer than 4096 bytes');
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export function registerHashKey(program: Command): void {
  program
    .command('hash-key')
    .description('Print the SHA-256 of an API key, for `identity.apiKeys.keys[].sha256`. Reads the key from stdin so it stays out of shell history.')
    .action(async () => {
      const key = await readStdin();
      if (key.length === 0) throw new UserError('no key on stdin (e.g. `printf %s "$KEY" | portcullis hash-key`)');
      process.stdout.write(hashApiKey(key) + '\n');
    });
}
