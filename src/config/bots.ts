/**
 * Normalization of the abuse-protection sections this module owns: `ipRules` (top level and per
 * API / route). IP lists are parsed here, at load time, into merged range sets; list files
 * become config dependencies (watched, part of the revision), and a bad entry is a diagnostic
 * at the list file's own line, so a reload with a broken list keeps the old lists serving.
 */
import path from 'node:path';
import { IpSet, parseCidr, parseList, type IpRange } from '../abuse/ip.js';
import { describeFsError, keyPath } from './diagnostics.js';
import type { LoadContext } from './normalize.js';
import type { RawConfig } from './schema.js';
import type { Segment } from './source.js';
import type { BotsConfig, IpListsConfig, RouteIpRulesConfig } from './types.js';

/** Largest list file read (a list of 1M IPv6 CIDRs is about 40 MiB). */
const MAX_LIST_FILE_BYTES = 64 * 1024 * 1024;

type RawIpList = { entries?: string[]; files?: string[] };
type RawRouteIpRules = { allow?: RawIpList; deny?: RawIpList; inherit?: boolean };

/** Parsed list files of one load, by absolute path: a file named by several routes is read once. */
const fileCache = new WeakMap<LoadContext, Map<string, Promise<IpRange[] | undefined>>>();

async function listFile(ctx: LoadContext, at: Segment[], rel: string, maxEntries: number): Promise<IpRange[] | undefined> {
  const file = path.resolve(ctx.dir, rel);
  let cache = fileCache.get(ctx);
  if (cache === undefined) {
    cache = new Map();
    fileCache.set(ctx, cache);
  }
  let pending = cache.get(file);
  if (pending === undefined) {
    pending = readListFile(ctx, at, rel, file, maxEntries);
    cache.set(file, pending);
  }
  return pending;
}

async function readListFile(ctx: LoadContext, at: Segment[], rel: string, file: string, maxEntries: number): Promise<IpRange[] | undefined> {
  ctx.files.push(file);
  let data: Buffer;
  try {
    data = await ctx.read(file);
  } catch (err) {
    ctx.report('error', at, `cannot read IP list ${JSON.stringify(rel)}: ${describeFsError(err)}`);
    return undefined;
  }
  if (data.length > MAX_LIST_FILE_BYTES) {
    ctx.report('error', at, `IP list ${JSON.stringify(rel)} is ${data.length} bytes; at most ${MAX_LIST_FILE_BYTES} are read`);
    return undefined;
  }
  const parsed = parseList(data.toString('utf8'), maxEntries);
  const where = keyPath(at);
  for (const p of parsed.problems) ctx.diagnostics.push({ severity: 'error', file, line: p.line, column: p.column, path: where, message: p.message });
  if (parsed.problemCount > parsed.problems.length) {
    ctx.diagnostics.push({ severity: 'error', file, line: 0, column: 0, path: where, message: `${parsed.problemCount - parsed.problems.length} more invalid entries not listed` });
  }
  if (parsed.tooMany) {
    ctx.report('error', at, `IP list ${JSON.stringify(rel)} has more than ipRules.maxEntries (${maxEntries}) entries`);
    return undefined;
  }
  return parsed.problemCount > 0 ? undefined : parsed.ranges;
}

/** One allow or deny list: inline entries and files, merged into one set labelled with its key path. */
async function ipList(raw: RawIpList | undefined, at: Segment[], ctx: LoadContext, maxEntries: number): Promise<IpSet | undefined> {
  // Defaults fill absent sections; only a list written in the file exists.
  if (raw === undefined || !ctx.src.has(at)) return undefined;
  const ranges: IpRange[] = [];
  let ok = true;
  (raw.entries ?? []).forEach((e, i) => {
    const r = parseCidr(e.trim());
    if ('error' in r) {
      ctx.report('error', [...at, 'entries', i], `invalid entry ${JSON.stringify(e.slice(0, 60))}: ${r.error}`);
      ok = false;
    } else {
      ranges.push(r);
    }
  });
  const files = await Promise.all((raw.files ?? []).map((f, i) => listFile(ctx, [...at, 'files', i], f, maxEntries)));
  for (const f of files) {
    if (f === undefined) ok = false;
    else for (const r of f) ranges.push(r);
  }
  if (ranges.length > maxEntries) {
    ctx.report('error', at, `${ranges.length} entries; ipRules.maxEntries allows ${maxEntries} per list`);
    ok = false;
  }
  if (!ok) return undefined;
  if (ranges.length === 0 && at[at.length - 1] === 'allow') {
    ctx.report('warning', at, 'this allow list is empty: every client address is refused');
  }
  return new IpSet(keyPath(at), ranges);
}

/** The top-level `ipRules`. */
export async function globalIpRules(filled: RawConfig, ctx: LoadContext): Promise<{ lists: IpListsConfig; maxEntries: number }> {
  const s = filled.ipRules ?? {};
  const maxEntries = s.maxEntries ?? 1_000_000;
  const [allow, deny] = await Promise.all([ipList(s.allow, ['ipRules', 'allow'], ctx, maxEntries), ipList(s.deny, ['ipRules', 'deny'], ctx, maxEntries)]);
  return { lists: { allow, deny }, maxEntries };
}

/** `apis[i].ipRules` or `routes[i].ipRules`. */
export async function routeIpRules(raw: RawRouteIpRules | undefined, at: Segment[], ctx: LoadContext, maxEntries: number): Promise<RouteIpRulesConfig> {
  const [allow, deny] = await Promise.all([
    ipList(raw?.allow, [...at, 'ipRules', 'allow'], ctx, maxEntries),
    ipList(raw?.deny, [...at, 'ipRules', 'deny'], ctx, maxEntries),
  ]);
  return { allow, deny, inherit: raw?.inherit ?? true };
}

/** Defaults are filled by the schema walk; this turns "cannot happen" into a loud bug. */
function must<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`config normalization: ${what} has no value after defaults`);
  return v;
}

/** The top-level `bots` (signals and the challenge). */
export function botsConfig(filled: RawConfig, ctx: LoadContext): BotsConfig {
  const b = must(filled.bots, 'bots');
  const scores = must(b.scores, 'bots.scores');
  const rate = must(b.rate, 'bots.rate');
  const c = must(b.challenge, 'bots.challenge');
  const challengeAt = must(b.challengeAt, 'bots.challengeAt');
  const denyAt = must(b.denyAt, 'bots.denyAt');
  if (b.enabled && denyAt <= challengeAt) ctx.report('warning', ['bots', 'denyAt'], `denyAt (${denyAt}) is not above challengeAt (${challengeAt}): requests are refused without being offered a challenge`);
  if (c.secret !== undefined && c.secret.length < 32) ctx.report('error', ['bots', 'challenge', 'secret'], `the secret has ${c.secret.length} characters; expected at least 32 (e.g. \`openssl rand -hex 32\`)`);
  return {
    enabled: must(b.enabled, 'bots.enabled'),
    challengeAt,
    denyAt,
    scores: {
      missingUserAgent: must(scores.missingUserAgent, 'missingUserAgent'),
      scriptedUserAgent: must(scores.scriptedUserAgent, 'scriptedUserAgent'),
      headerAnomaly: must(scores.headerAnomaly, 'headerAnomaly'),
      impossibleRate: must(scores.impossibleRate, 'impossibleRate'),
    },
    rate: { requests: must(rate.requests, 'rate.requests'), windowSeconds: must(rate.windowSeconds, 'rate.windowSeconds'), maxClients: must(rate.maxClients, 'rate.maxClients') },
    scriptedUserAgents: must(b.scriptedUserAgents, 'bots.scriptedUserAgents').map((u) => u.toLowerCase()),
    challenge: {
      difficulty: must(c.difficulty, 'challenge.difficulty'),
      secret: c.secret,
      ttlSeconds: must(c.ttlSeconds, 'challenge.ttlSeconds'),
      clearanceSeconds: must(c.clearanceSeconds, 'challenge.clearanceSeconds'),
      ipv4Prefix: must(c.ipv4Prefix, 'challenge.ipv4Prefix'),
      ipv6Prefix: must(c.ipv6Prefix, 'challenge.ipv6Prefix'),
      replayGuardEntries: must(c.replayGuardEntries, 'challenge.replayGuardEntries'),
    },
  };
}
