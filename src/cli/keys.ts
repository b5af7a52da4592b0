/**
 * `portcullis keys create|list|revoke|rotate`: manage the API key store named by
 * `identity.apiKeys.store` in the config (`-c`), or given directly (`--store`).
 *
 * A new key goes to stdout alone, and the guidance to stderr, so `key=$(portcullis keys
 * create --owner svc)` captures just the key; `--json` puts everything on stdout as one JSON
 * document. The key is shown once and never again: the store keeps only its hash.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { displayPath, formatDiagnostic, loadConfig } from '../config/index.js';
import { iso, KeyStore, KeyStoreError, parseTimestamp, recordToJson, type KeyRecord } from '../identity/keystore.js';
import { UserError } from './errors.js';

interface StoreOptions {
  readonly config?: string;
  readonly store?: string;
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** `90s`, `15m`, `24h`, `30d`, `2w`, or a plain number of seconds. Seconds, or undefined. */
export function parseDuration(text: string): number | undefined {
  if (text.length === 0 || text.length > 12) return undefined;
  const last = text[text.length - 1]!;
  const unit = UNIT_SECONDS[last];
  const digits = unit === undefined ? text : text.slice(0, -1);
  if (digits.length === 0) return undefined;
  for (let i = 0; i < digits.length; i++) {
    const c = digits.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  return Number(digits) * (unit ?? 1);
}

/** `--expires`: a duration from now, or an ISO date / date-time. Epoch ms. */
function parseExpires(text: string, now: number): number {
  const seconds = parseDuration(text);
  const at = seconds !== undefined ? now + seconds * 1000 : parseTimestamp(text);
  if (at === undefined) {
    throw new UserError(`--expires: expected a duration like 30d or 12h, or an ISO date or date-time like 2030-01-31 or 2030-01-31T12:00:00Z; got ${JSON.stringify(text.slice(0, 64))}`);
  }
  return at;
}

/** The store file from `--store`, or from `identity.apiKeys.store` of the config. */
async function storeFile(opts: StoreOptions): Promise<string> {
  if (opts.config !== undefined && opts.store !== undefined) throw new UserError('give either --config or --store, not both');
  if (opts.store !== undefined) return resolve(opts.store);
  const file = opts.config ?? 'portcullis.yaml';
  const loaded = await loadConfig(file);
  if (!loaded.ok) {
    const first = loaded.diagnostics.find((d) => d.severity === 'error') ?? loaded.diagnostics[0];
    const where = first === undefined ? displayPath(resolve(file)) : formatDiagnostic(first);
    throw new UserError(`${oneLine(where)} (run \`portcullis check -c ${file}\` for every problem)`);
  }
  const store = loaded.config.identity.apiKeys?.store;
  if (store === undefined) {
    throw new UserError(`${displayPath(loaded.config.file)} sets no identity.apiKeys.store; set it to the key store file, or pass --store <file>`);
  }
  return store;
}

function oneLine(s: string): string {
  let out = '';
  for (const ch of s) out += ch === '\n' || ch === '\r' ? ' ' : ch;
  return out;
}

/** Open the store, run `fn`, close it (flushing); store errors become one-line user errors. */
async function withStore<T>(opts: StoreOptions, create: boolean, fn: (store: KeyStore) => T): Promise<T> {
  const file = await storeFile(opts);
  let store: KeyStore | undefined;
  try {
    store = KeyStore.open(file, { create });
    return fn(store);
  } catch (err) {
    if (err instanceof KeyStoreError) {
      throw new UserError(err.kind === 'not_found' && store === undefined ? `${err.message} (create a key first with \`portcullis keys create\`)` : oneLine(err.message));
    }
    throw err;
  } finally {
    store?.close();
  }
}

function out(line: string): void {
  process.stdout.write(line + '\n');
}

function note(line: string): void {
  process.stderr.write(line + '\n');
}

/** A time to the second for people: `2030-01-31T12:00:00Z`, or `-`. */
function when(ms: number | undefined): string {
  if (ms === undefined) return '-';
  const text = iso(ms);
  return text.length === 24 ? `${text.slice(0, 19)}Z` : text;
}

function table(records: readonly KeyRecord[]): string[] {
  const head = ['ID', 'OWNER', 'NAME', 'SCOPES', 'ROLES', 'CREATED', 'EXPIRES', 'LAST USED', 'STATUS'];
  const rows = records.map((r) => [
    r.id,
    r.owner,
    r.name ?? '-',
    r.scopes.length === 0 ? '-' : r.scopes.join(','),
    r.roles.length === 0 ? '-' : r.roles.join(','),
    when(r.createdAt),
    when(r.expiresAt),
    when(r.lastUsedAt),
    r.status === 'active' && r.replacedBy !== undefined ? `active (rotated to ${r.replacedBy})` : r.status,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [fmt(head), ...rows.map(fmt)];
}

function storeOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'config file whose identity.apiKeys.store names the key store (default: portcullis.yaml)')
    .option('--store <file>', 'the key store file itself, instead of --config');
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Add `portcullis keys …` to the program. */
export function registerKeys(program: Command): void {
  const keys = program
    .command('keys')
    .description('Manage API keys in the key store (identity.apiKeys.store): create, list, revoke, rotate.');

  storeOptions(keys.command('create'))
    .description('Issue a new API key. The key is printed once, on stdout; store it now, it cannot be shown again.')
    .requiredOption('--owner <id>', 'principal id of the key holder')
    .option('--scope <scope>', 'grant a scope (repeat for several)', collect, [] as string[])
    .option('--role <role>', 'give the key holder a role, for x-portcullis-roles and bypassRoles (repeat for several)', collect, [] as string[])
    .option('--name <name>', 'a label for the key, e.g. what uses it')
    .option('--expires <when>', 'expiry: a duration (30d, 12h, 2w) or an ISO date / date-time')
    .option('--json', 'print the key and its record as JSON on stdout')
    .action(async (o: StoreOptions & { owner: string; scope: string[]; role: string[]; name?: string; expires?: string; json?: boolean }) => {
      const expiresAt = o.expires === undefined ? undefined : parseExpires(o.expires, Date.now());
      const { record, key } = await withStore(o, true, (s) =>
        s.create({ owner: o.owner, scopes: o.scope, roles: o.role, ...(o.name !== undefined ? { name: o.name } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}) }),
      );
      if (o.json) {
        out(JSON.stringify({ key, ...recordToJson(record) }, null, 2));
        return;
      }
      out(key);
      const expiry = record.expiresAt === undefined ? 'no expiry' : `expires ${when(record.expiresAt)}`;
      note(`Created ${record.id} for ${record.owner} (scopes: ${record.scopes.join(', ') || 'none'}; roles: ${record.roles.join(', ') || 'none'}; ${expiry}).`);
      note('Store this key now: it cannot be shown again.');
    });

  storeOptions(keys.command('list'))
    .description('List keys (never the keys themselves, which are not stored).')
    .option('--all', 'include revoked keys')
    .option('--json', 'print JSON')
    .action(async (o: StoreOptions & { all?: boolean; json?: boolean }) => {
      const records = await withStore(o, false, (s) => s.list({ includeRevoked: o.all === true }));
      if (o.json) return out(JSON.stringify(records.map(recordToJson), null, 2));
      if (records.length === 0) return note(o.all ? 'No keys.' : 'No keys (revoked keys are shown with --all).');
      for (const line of table(records)) out(line);
    });

  storeOptions(keys.command('revoke'))
    .description('Revoke a key. Every gateway process refuses it within a second.')
    .argument('<id>', 'key id (key_…)')
    .option('--json', 'print the revoked record as JSON')
    .action(async (id: string, o: StoreOptions & { json?: boolean }) => {
      const record = await withStore(o, false, (s) => s.revoke(id));
      if (o.json) return out(JSON.stringify(recordToJson(record), null, 2));
      out(`Revoked ${record.id} (owner ${record.owner}).`);
    });

  storeOptions(keys.command('rotate'))
    .description('Replace a key by a new one with the same owner, scopes, roles and name; the old key keeps working during the overlap. The new key is printed once.')
    .argument('<id>', 'key id (key_…)')
    .option('--overlap <duration>', 'how long the old key keeps working (e.g. 24h, 7d, 0)', '24h')
    .option('--json', 'print the new key and both records as JSON')
    .action(async (id: string, o: StoreOptions & { overlap: string; json?: boolean }) => {
      const overlapSeconds = parseDuration(o.overlap);
      if (overlapSeconds === undefined) throw new UserError(`--overlap: expected a duration like 24h, 7d or 0; got ${JSON.stringify(o.overlap.slice(0, 64))}`);
      const { record, key, previous } = await withStore(o, false, (s) => s.rotate(id, { overlapSeconds }));
      if (o.json) {
        out(JSON.stringify({ key, ...recordToJson(record), previous: recordToJson(previous) }, null, 2));
        return;
      }
      out(key);
      note(`Rotated ${previous.id} to ${record.id}; ${previous.id} keeps working until ${when(previous.expiresAt)}.`);
      note('Store this key now: it cannot be shown again.');
    });
}
