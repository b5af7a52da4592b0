/**
 * The real client address. X-Forwarded-For is believed only hop by hop from the right, and only
 * while the hop that added an entry is a trusted proxy; the first untrusted address is the client.
 */
import { BlockList, isIP } from 'node:net';

/** Most X-Forwarded-For entries walked (bounds work on attacker input). */
const MAX_HOPS = 32;

export function normalizeIp(ip: string): string {
  // IPv4 clients on a dual-stack socket appear as ::ffff:a.b.c.d
  if (ip.startsWith('::ffff:') && ip.includes('.')) return ip.slice(7);
  return ip;
}

export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const slash = entry.indexOf('/');
      const addr = slash < 0 ? entry : entry.slice(0, slash);
      const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
      if (slash < 0) this.list.addAddress(addr, type);
      else this.list.addSubnet(addr, Number(entry.slice(slash + 1)), type);
    }
    this.empty = entries.length === 0;
  }

  has(ip: string): boolean {
    if (this.empty) return false;
    const v = isIP(ip);
    if (v === 0) return false;
    return this.list.check(ip, v === 6 ? 'ipv6' : 'ipv4');
  }

  /** The client IP given the socket peer and the X-Forwarded-For header. */
  clientIp(peer: string, xff: string | string[] | undefined): string {
    if (xff === undefined || !this.has(peer)) return peer;
    const parts = (Array.isArray(xff) ? xff.join(',') : xff).split(',', 1024);
    let client = peer;
    for (let i = parts.length - 1, hops = 0; i >= 0 && hops < MAX_HOPS; i--, hops++) {
      const candidate = normalizeIp(parts[i]!.trim());
      if (isIP(candidate) === 0) return client; // garbage: stop at the last address we could vouch for
      client = candidate;
      if (!this.has(candidate)) return candidate;
    }
    return client;
  }
}
