/**
 * Reading a limit's key from a request. Readers are compiled once per limit; on the request path
 * a one-part key costs no allocation (the IP, principal id or header value is the key itself).
 *
 * A key never reaches a log or the client: it may be a header value.
 */
import type { RequestContext } from '../pipeline/types.js';

export type PartReader = (ctx: RequestContext) => string | undefined;

/** The value of query parameter `name` (first occurrence, percent-decoded; undefined when absent or malformed). */
export function queryValue(rawQuery: string, name: string): string | undefined {
  if (rawQuery === '') return undefined;
  let i = 0;
  while (i <= rawQuery.length) {
    let amp = rawQuery.indexOf('&', i);
    if (amp < 0) amp = rawQuery.length;
    const eq = rawQuery.indexOf('=', i);
    const keyEnd = eq >= 0 && eq < amp ? eq : amp;
    if (keyEnd - i === name.length && rawQuery.startsWith(name, i)) {
      const raw = keyEnd === amp ? '' : rawQuery.slice(keyEnd + 1, amp);
      try {
        return decodeURIComponent(raw.replaceAll('+', ' '));
      } catch {
        return undefined;
      }
    }
    i = amp + 1;
  }
  return undefined;
}

function claimString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** Compiles one key part (see `LimitConfig.key`). */
export function partReader(part: string): PartReader {
  const colon = part.indexOf(':');
  const kind = colon < 0 ? part : part.slice(0, colon);
  const name = colon < 0 ? '' : part.slice(colon + 1);
  switch (kind) {
    case 'ip':
      return (ctx) => ctx.client.ip;
    case 'principal':
      return (ctx) => ctx.principal?.id;
    case 'credential':
      return (ctx) => ctx.principal?.credentialId;
    case 'route':
      return (ctx) => ctx.route.id;
    case 'global':
      return () => '*';
    case 'header':
      return (ctx) => {
        const v = ctx.headers[name];
        return typeof v === 'string' ? v : Array.isArray(v) ? v[0] : undefined;
      };
    case 'claim':
      return (ctx) => claimString(ctx.principal?.claims[name]);
    case 'param':
      return (ctx) => ctx.params[name];
    case 'query':
      return (ctx) => queryValue(ctx.rawQuery, name);
    default:
      throw new Error(`unknown key part ${part}`);
  }
}

/** Parts that are known before authentication: limits made only of them can run first. */
export function isEarlyPart(part: string): boolean {
  return !(part === 'principal' || part === 'credential' || part.startsWith('claim:'));
}

const SEP = '\u0001';

/**
 * A limit's key reader: the parts' values joined, or, when a part has no value, per `whenMissing`
 * the client IP (in its own namespace), one shared key, or undefined (the limit does not apply).
 */
export function keyReader(parts: readonly string[], whenMissing: 'ip' | 'shared' | 'skip'): PartReader {
  const readers = parts.map(partReader);
  const missing: PartReader =
    whenMissing === 'ip' ? (ctx) => SEP + 'ip' + SEP + ctx.client.ip : whenMissing === 'shared' ? () => SEP + 'missing' : () => undefined;
  if (readers.length === 1) {
    const one = readers[0]!;
    return (ctx) => {
      const v = one(ctx);
      return v === undefined || v === '' ? missing(ctx) : v;
    };
  }
  return (ctx) => {
    let key = '';
    for (let i = 0; i < readers.length; i++) {
      const v = readers[i]!(ctx);
      if (v === undefined || v === '') return missing(ctx);
      key = i === 0 ? v : key + SEP + v;
    }
    return key;
  };
}
