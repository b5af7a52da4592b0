/**
 * Header hygiene between client and upstream. Sets of names are built once; per request it is
 * one pass over the incoming header object.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { util as undiciUtil } from 'undici';

/** RFC 9110 §7.6.1 connection-specific fields, plus ones undici refuses or that belong to this hop. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
  'http2-settings',
]);

/** Fields the gateway computes itself and never takes from an untrusted client. */
const FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded', 'x-real-ip']);

export interface ForwardingFacts {
  readonly clientIp: string;
  readonly peerIp: string;
  readonly peerTrusted: boolean;
  readonly proto: 'http' | 'https';
  readonly host: string | undefined;
  readonly requestIdHeader: string;
  readonly requestId: string;
}

/** Names listed in a Connection header are hop-by-hop too (RFC 9110 §7.6.1). */
function connectionTokens(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  // Nearly every message says one of these, and they name no field: no set to build.
  if (value === 'keep-alive' || value === 'close' || value === 'Keep-Alive' || value === 'Close') return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  const out = new Set<string>();
  for (const part of text.split(',')) {
    const t = part.trim().toLowerCase();
    if (t.length > 0) out.add(t);
  }
  return out;
}

function quoteForwardedFor(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

/** The headers to send upstream. */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, f: ForwardingFacts): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const extra = connectionTokens(incoming.connection);
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined) continue;
    if (name.charCodeAt(0) === 0x3a) continue; // HTTP/2 pseudo-headers
    if (HOP_BY_HOP.has(name) || FORWARDING.has(name)) continue;
    if (extra !== undefined && extra.has(name)) continue;
    out[name] = value;
  }
  // Forwarding headers: extend the chain only when the peer is a proxy we trust.
  const prior = f.peerTrusted ? incoming['x-forwarded-for'] : undefined;
  out['x-forwarded-for'] = prior === undefined ? f.peerIp : `${Array.isArray(prior) ? prior.join(', ') : prior}, ${f.peerIp}`;
  const proto = (f.peerTrusted && typeof incoming['x-forwarded-proto'] === 'string' && incoming['x-forwarded-proto']) || f.proto;
  out['x-forwarded-proto'] = proto;
  const host = (f.peerTrusted && typeof incoming['x-forwarded-host'] === 'string' && incoming['x-forwarded-host']) || f.host;
  if (host !== undefined) out['x-forwarded-host'] = host;
  let fwd = `for=${quoteForwardedFor(f.clientIp)};proto=${proto}`;
  if (host !== undefined && isSafeHost(host)) fwd += `;host="${host}"`;
  const priorFwd = f.peerTrusted ? incoming.forwarded : undefined;
  out.forwarded = priorFwd === undefined ? fwd : `${priorFwd}, ${fwd}`;
  out[f.requestIdHeader] = f.requestId;
  return out;
}

/** Host header values safe to echo in Forwarded and redirects: a hostname or IP literal with an optional port. */
export function isSafeHost(host: string): boolean {
  if (host.length === 0 || host.length > 255) return false;
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    const ok =
      (c >= 0x30 && c <= 0x3a) || // 0-9 :
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      c === 0x2d || // -
      c === 0x2e || // .
      c === 0x5b || // [
      c === 0x5d; // ]
    if (!ok) return false;
  }
  return true;
}

/**
 * The headers to send to the client, straight from undici's raw response headers (name, value,
 * name, value … as Buffers): upstream headers minus hop-by-hop fields, minus the
 * connection-specific tokens the upstream named, minus software banners. One pass, no
 * intermediate object. Names are lower-cased (known names
 * come interned from undici's lookup tree), repeated fields become arrays, values are latin1 as
 * on the wire. A field named `__proto__` is dropped.
 */
export function clientResponseHeadersRaw(raw: readonly (Buffer | string)[], banners: ReadonlySet<string>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  let connection: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i]!;
    const name = typeof n === 'string' ? n.toLowerCase() : undiciUtil.headerNameToString(n);
    const v = raw[i + 1]!;
    const value = typeof v === 'string' ? v : v.toString('latin1');
    if (HOP_BY_HOP.has(name) || banners.has(name)) {
      if (name === 'connection') connection = connection === undefined ? value : `${connection},${value}`;
      continue;
    }
    if (name === '__proto__') continue;
    const prior = out[name];
    if (prior === undefined) out[name] = value;
    else if (Array.isArray(prior)) prior.push(value);
    else out[name] = [String(prior), value];
  }
  const extra = connectionTokens(connection);
  if (extra !== undefined) for (const name of extra) delete out[name];
  return out;
}
