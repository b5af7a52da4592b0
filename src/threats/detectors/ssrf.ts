/**
 * Server-side request forgery (category `ssrf`, think CRS 934110/934120/934190) and remote
 * file inclusion (category `rfi`, think CRS 931) detectors.
 *
 * Both share one URL scanner: every `scheme:` in the decoded value is found by walking back
 * from each `:` over scheme characters (bounded, so the scan stays linear), its authority is
 * split the way the different URL parsers split it (WHATWG host after the last `@`, and the
 * host after every `@` before the first `/`, which is where parser differentials hide), and
 * each candidate host goes through a real host parser:
 *
 * - IPv4 as the WHATWG URL host parser reads it: 1 to 4 parts, each decimal, `0x` hex or
 *   leading-zero octal (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`, `0x7f.0.0.1`),
 *   plus the overflowing forms other parsers wrap modulo 2^32 (`7147006462`);
 * - IPv6 with `::` compression, embedded dotted IPv4, zone ids, and the IPv4 it embeds
 *   (mapped `::ffff:`, compatible `::a.b.c.d`, NAT64 `64:ff9b::`, 6to4 `2002:`);
 * - host names: `localhost` and `*.localhost`, reserved private suffixes (`.internal`,
 *   `.local`, `.home.arpa` …), cloud metadata names, and wildcard-DNS names that spell an
 *   address (`127.0.0.1.nip.io`, `10-0-0-1.sslip.io`, `localtest.me`);
 * - Unicode hosts are mapped like UTS #46 (NFKC, ideographic full stops) before parsing, so
 *   `①②⑦.⓪.⓪.①` and `169。254。169。254` are seen for what they are.
 *
 * Bare values (no scheme) are parsed as host[:port][/path] tokens; because IP addresses and
 * `localhost` do appear legitimately in parameters, they count at higher paranoia levels
 * unless they are cloud metadata endpoints or clearly URL-shaped loopback names.
 */
import type { DetectContext, Detector, Hit, Paranoia } from '../types.js';
import { isDigit } from '../charclass.js';

type Kind =
  | 'metadata'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unspecified'
  | 'cgnat'
  | 'reserved'
  | 'multicast'
  | 'internal-name'
  | 'rebinding'
  | 'public';

interface HostInfo {
  readonly kind: Kind;
  /** The host is an IP literal (any notation). */
  readonly ip: boolean;
  /** IPv4 written in anything but four canonical decimal parts, or IPv4 hidden in IPv6. */
  readonly odd: boolean;
  /** Evidence text (the host as read). */
  readonly text: string;
}

const SPECIAL = new Set(['http', 'https', 'ws', 'wss', 'ftp', 'ftps', 'file']);
/** Schemes whose only use in a request parameter is to make a server talk a raw protocol. */
const DANGEROUS = new Set(['gopher', 'dict', 'tftp', 'netdoc', 'local_file', 'sftp+gopher']);
const LOOPBACK_NAMES = new Set([
  'localhost', 'localhost.localdomain', 'localhost4', 'localhost6', 'localhost4.localdomain4',
  'localhost6.localdomain6', 'ip6-localhost', 'ip6-loopback', 'ipv6-localhost', 'ipv6-loopback', 'loopback',
]);
const METADATA_NAMES = new Set([
  'metadata.google.internal', 'metadata.goog', 'metadata', 'instance-data', 'instance-data.ec2.internal',
  'metadata.packet.net', 'metadata.platformequinix.com', 'metadata.tencentyun.com', 'metadata.azure.internal',
  'metadata.oraclecloud.com', 'metadata.hetzner.cloud',
]);
/** Public DNS names that always resolve to 127.0.0.1. */
const LOOPBACK_DOMAINS = ['localtest.me', 'lvh.me', 'vcap.me', 'localho.st', 'lacolhost.com'];
/** Wildcard DNS services that resolve a name spelling an address to that address. */
const IP_DNS_DOMAINS = ['nip.io', 'sslip.io', 'xip.io', 'nip.direct', 'traefik.me', 'backname.io', 'ip.addr.tools'];
/** DNS rebinding services: no legitimate use in a request parameter. */
const REBINDING_DOMAINS = ['rbndr.us', '1u.ms', 'rebind.network', 'rebind.it', 'lock.cmpxchg8b.com'];
/** Reserved or conventional private DNS suffixes. */
const PRIVATE_SUFFIXES = [
  '.internal', '.local', '.localdomain', '.home.arpa', '.intranet', '.corp', '.lan', '.svc', '.cluster.local',
  '.localhost',
];
const PRIVATE_NAMES = new Set(['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'host.docker.internal']);

const RFI_SCRIPT_EXTS = new Set([
  'php', 'php3', 'php4', 'php5', 'php7', 'phtml', 'phar', 'txt', 'sh', 'pl', 'py', 'cgi', 'asp', 'aspx', 'jsp',
  'inc', 'gif', 'jpg', 'jpeg', 'png', 'js', 'rb', 'exe', 'bin', 'dat',
]);
/** Words of a parameter name that mean "the server loads/includes this". */
const INCLUDE_WORDS = new Set([
  'file', 'filename', 'filepath', 'path', 'pathname', 'include', 'inc', 'require', 'page', 'template', 'tpl', 'tmpl',
  'dir', 'directory', 'folder', 'root', 'basedir', 'basepath', 'conf', 'config', 'module', 'lang', 'language',
  'theme', 'skin', 'layout', 'doc', 'document', 'load', 'absolute',
]);
/** Include words that name a file or folder whatever else the name says. */
const FILE_WORDS = new Set(['file', 'filename', 'filepath', 'path', 'pathname', 'dir', 'directory', 'folder', 'basedir', 'basepath']);
/** Words that make a URL value ordinary (a link, not an include). */
const LINK_WORDS = new Set([
  'url', 'uri', 'link', 'href', 'redirect', 'callback', 'webhook', 'endpoint', 'host', 'site', 'website', 'homepage',
  'avatar', 'image', 'img', 'icon', 'logo', 'return', 'next', 'origin', 'referer', 'referrer', 'feed', 'server',
]);

/** Words of a parameter name, split on punctuation and camelCase humps (lower-case). */
function nameWords(name: string): string[] {
  const out: string[] = [];
  let cur = '';
  const n = name.length > 80 ? 80 : name.length;
  for (let i = 0; i < n; i++) {
    const ch = name.charCodeAt(i);
    if (ch >= 65 && ch <= 90) {
      const prev = i > 0 ? name.charCodeAt(i - 1) : 0;
      if (cur !== '' && prev >= 97 && prev <= 122) {
        out.push(cur);
        cur = '';
      }
      cur += String.fromCharCode(ch + 32);
    } else if ((ch >= 97 && ch <= 122) || (ch >= 48 && ch <= 57)) {
      cur += name[i];
    } else if (cur !== '') {
      out.push(cur);
      cur = '';
    }
  }
  if (cur !== '') out.push(cur);
  return out;
}

const isAlpha = (c: number): boolean => c >= 97 && c <= 122;
const isHexDigit = (c: number): boolean => isDigit(c) || (c >= 97 && c <= 102);
const isSchemeChar = (c: number): boolean =>
  isAlpha(c) || isDigit(c) || c === 43 || c === 45 || c === 46 || c === 95;
const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11;
const TWO32 = 4294967296;

function mk(category: 'ssrf' | 'rfi', rule: string, severity: number, paranoia: Paranoia, evidence: string): Hit {
  return {
    detector: `${category}.${rule}`,
    category,
    severity,
    paranoia,
    evidence: evidence.length > 40 ? evidence.slice(0, 40) : evidence,
  };
}

function better(a: Hit | undefined, b: Hit | undefined): Hit | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (b.paranoia !== a.paranoia) return b.paranoia < a.paranoia ? b : a;
  return b.severity > a.severity ? b : a;
}

const isStrong = (h: Hit | undefined): boolean => h !== undefined && h.paranoia === 1 && h.severity >= 5;

// ---------------------------------------------------------------------------------------
// IP literal parsers

interface V4 {
  readonly value: number;
  readonly canonical: boolean;
}

/**
 * IPv4 per the WHATWG host parser (`ends in a number` hosts), reading each part as decimal,
 * `0x` hex or leading-zero octal. Parts and the final value that overflow are wrapped the way
 * `inet_aton`-style parsers do rather than rejected, so overflow tricks still resolve.
 * Returns undefined when the host is not numeric (a domain name) or a part is malformed.
 */
export function parseIPv4(h: string): V4 | undefined {
  let n = h.length;
  if (n === 0 || n > 200) return undefined;
  if (h.charCodeAt(n - 1) === 46) n--; // one trailing dot
  if (n === 0) return undefined;
  const parts: number[] = [];
  let canonical = true;
  let i = 0;
  while (i <= n) {
    let j = i;
    while (j < n && h.charCodeAt(j) !== 46) j++;
    if (j === i) return undefined; // empty part
    if (parts.length === 4) return undefined;
    let radix = 10;
    let k = i;
    if (j - i >= 2 && h.charCodeAt(i) === 48 && (h.charCodeAt(i + 1) === 120 || h.charCodeAt(i + 1) === 88)) {
      radix = 16;
      k = i + 2;
      canonical = false;
    } else if (j - i >= 2 && h.charCodeAt(i) === 48) {
      radix = 8;
      k = i + 1;
      canonical = false;
    }
    let v = 0;
    let big = false;
    for (; k < j; k++) {
      const c = h.charCodeAt(k) | 0x20;
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (radix === 16 && c >= 97 && c <= 102) d = c - 87;
      else return undefined;
      if (d >= radix) return undefined;
      v = v * radix + d;
      if (v >= TWO32) {
        v %= TWO32;
        big = true;
      }
    }
    if (big) canonical = false;
    parts.push(v);
    i = j + 1;
  }
  const count = parts.length;
  if (count !== 4) canonical = false;
  let value = 0;
  for (let p = 0; p < count - 1; p++) {
    const part = parts[p] ?? 0;
    if (part > 255) canonical = false;
    value = value * 256 + (part & 255);
  }
  const last = parts[count - 1] ?? 0;
  const room = Math.pow(256, 5 - count);
  if (last >= room) canonical = false;
  value = value * room + (last % room);
  return { value: value % TWO32, canonical };
}

/** IPv6 (RFC 4291 text forms) into eight 16-bit groups; a `%zone` suffix is ignored. */
export function parseIPv6(input: string): number[] | undefined {
  let s = input;
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  const n = s.length;
  if (n < 2 || n > 64) return undefined;
  const groups: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
  let idx = 0;
  let compress = -1;
  let i = 0;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return undefined;
    i = 2;
    compress = 0;
  }
  while (i < n) {
    if (idx === 8) return undefined;
    if (s.charCodeAt(i) === 58) {
      if (compress !== -1) return undefined;
      i++;
      compress = idx;
      continue;
    }
    let v = 0;
    let len = 0;
    const start = i;
    while (len < 4 && i < n && isHexDigit(s.charCodeAt(i) | 0x20)) {
      const c = s.charCodeAt(i) | 0x20;
      v = v * 16 + (c <= 57 ? c - 48 : c - 87);
      i++;
      len++;
    }
    if (i < n && s.charCodeAt(i) === 46) {
      // embedded IPv4 in the last 32 bits
      if (idx > 6) return undefined;
      const v4 = strictDotted(s.slice(start));
      if (v4 === undefined) return undefined;
      groups[idx++] = Math.floor(v4 / 65536);
      groups[idx++] = v4 % 65536;
      i = n;
      break;
    }
    if (len === 0) return undefined;
    groups[idx++] = v;
    if (i < n) {
      if (s.charCodeAt(i) !== 58) return undefined;
      i++;
      if (i === n) return undefined;
    }
  }
  if (compress !== -1) {
    let swaps = idx - compress;
    idx = 7;
    while (idx !== 0 && swaps > 0) {
      const a = groups[compress + swaps - 1] ?? 0;
      groups[compress + swaps - 1] = groups[idx] ?? 0;
      groups[idx] = a;
      idx--;
      swaps--;
    }
  } else if (idx !== 8) {
    return undefined;
  }
  return groups;
}

/** Four decimal parts 0–255 (the only IPv4 form allowed inside IPv6). */
function strictDotted(s: string): number | undefined {
  let value = 0;
  let parts = 0;
  let i = 0;
  const n = s.length;
  while (i < n) {
    let v = 0;
    let len = 0;
    while (i < n && isDigit(s.charCodeAt(i))) {
      v = v * 10 + s.charCodeAt(i) - 48;
      i++;
      len++;
      if (len > 3) return undefined;
    }
    if (len === 0 || v > 255) return undefined;
    value = value * 256 + v;
    parts++;
    if (i < n) {
      if (s.charCodeAt(i) !== 46 || parts === 4) return undefined;
      i++;
    }
  }
  return parts === 4 ? value : undefined;
}

export function classifyIPv4(x: number): Kind {
  if (x === 0xa9fea9fe || x === 0xa9feaa02 || x === 0xa9fea9fd || x === 0x646464c8 || x === 0xc00000c0) return 'metadata';
  const a = Math.floor(x / 16777216);
  const b = Math.floor(x / 65536) % 256;
  const c = Math.floor(x / 256) % 256;
  if (a === 0) return 'unspecified';
  if (a === 127) return 'loopback';
  if (a === 10) return 'private';
  if (a === 172 && b >= 16 && b <= 31) return 'private';
  if (a === 192 && b === 168) return 'private';
  if (a === 169 && b === 254) return 'link-local';
  if (a === 100 && b >= 64 && b <= 127) return 'cgnat';
  if (a === 192 && b === 0 && c === 0) return 'reserved';
  if (a === 198 && (b === 18 || b === 19)) return 'reserved';
  if (a >= 224 && a <= 239) return 'multicast';
  if (a >= 240) return 'reserved';
  return 'public';
}

function classifyIPv6(g: readonly number[]): { kind: Kind; odd: boolean } {
  const g0 = g[0] ?? 0;
  const g1 = g[1] ?? 0;
  const g2 = g[2] ?? 0;
  const g5 = g[5] ?? 0;
  const g6 = g[6] ?? 0;
  const g7 = g[7] ?? 0;
  const zeroTo = (k: number): boolean => {
    for (let i = 0; i < k; i++) if ((g[i] ?? 0) !== 0) return false;
    return true;
  };
  if (zeroTo(8)) return { kind: 'unspecified', odd: false };
  if (zeroTo(7) && g7 === 1) return { kind: 'loopback', odd: false };
  const v4 = g6 * 65536 + g7;
  if (zeroTo(5) && g5 === 0xffff) return { kind: classifyIPv4(v4), odd: true }; // ::ffff:a.b.c.d
  if (zeroTo(6)) return { kind: classifyIPv4(v4), odd: true }; // ::a.b.c.d (compatible)
  if (g0 === 0x64 && g1 === 0xff9b && (g[2] ?? 0) === 0 && (g[3] ?? 0) === 0 && (g[4] ?? 0) === 0 && g5 === 0) {
    return { kind: classifyIPv4(v4), odd: true }; // NAT64
  }
  if (g0 === 0x2002) {
    const k = classifyIPv4(g1 * 65536 + g2); // 6to4
    return { kind: k === 'public' ? 'public' : k, odd: k !== 'public' };
  }
  if (g0 === 0xfd00 && g1 === 0x0ec2 && v4 === 0x254 && zeroTo(0)) return { kind: 'metadata', odd: false };
  if ((g0 & 0xffc0) === 0xfe80) return { kind: 'link-local', odd: false };
  if ((g0 & 0xffc0) === 0xfec0) return { kind: 'private', odd: false };
  if ((g0 & 0xfe00) === 0xfc00) return { kind: 'private', odd: false };
  if ((g0 & 0xff00) === 0xff00) return { kind: 'multicast', odd: false };
  if ((g0 & 0xe000) === 0x2000) return { kind: 'public', odd: false };
  return { kind: 'reserved', odd: false };
}

function endsWithDomain(h: string, d: string): boolean {
  return h === d || (h.length > d.length && h.endsWith(d) && h.charCodeAt(h.length - d.length - 1) === 46);
}

/** The address spelled by the labels in front of a wildcard-DNS domain (`10.0.0.1`, `10-0-0-1`, `0a000001`). */
function spelledAddress(prefix: string): Kind | undefined {
  // dotted: the last four labels
  let dots = 0;
  let start = prefix.length;
  while (start > 0) {
    const c = prefix.charCodeAt(start - 1);
    if (c === 46) {
      dots++;
      if (dots === 4) break;
    }
    start--;
  }
  const dotted = strictDotted(prefix.slice(start));
  if (dotted !== undefined) return classifyIPv4(dotted);
  // dashed or hex, in the last label (possibly after a name and a dash)
  const lastDot = prefix.lastIndexOf('.');
  const label = prefix.slice(lastDot + 1);
  let dashStart = label.length;
  let dashes = 0;
  while (dashStart > 0) {
    const c = label.charCodeAt(dashStart - 1);
    if (c === 45) {
      dashes++;
      if (dashes === 4) break;
    } else if (!isDigit(c)) break;
    dashStart--;
  }
  const dashed = strictDotted(label.slice(dashStart).split('-').join('.'));
  if (dashed !== undefined) return classifyIPv4(dashed);
  if (label.length >= 8) {
    const hex = label.slice(label.length - 8);
    let ok = true;
    for (let i = 0; i < 8; i++) if (!isHexDigit(hex.charCodeAt(i))) ok = false;
    if (ok) return classifyIPv4(parseInt(hex, 16));
  }
  return undefined;
}

type SuffixRule = 'loopback' | 'rebinding' | 'ip-dns' | 'private';

/** Suffix rules grouped by top-level label, so a name costs one Map probe when nothing applies. */
const SUFFIX_RULES: ReadonlyMap<string, readonly (readonly [string, SuffixRule])[]> = (() => {
  const m = new Map<string, (readonly [string, SuffixRule])[]>();
  const add = (domain: string, rule: SuffixRule): void => {
    const d = domain.charCodeAt(0) === 46 ? domain.slice(1) : domain;
    const tld = d.slice(d.lastIndexOf('.') + 1);
    const list = m.get(tld) ?? [];
    list.push([d, rule]);
    m.set(tld, list);
  };
  for (const d of LOOPBACK_DOMAINS) add(d, 'loopback');
  for (const d of REBINDING_DOMAINS) add(d, 'rebinding');
  for (const d of IP_DNS_DOMAINS) add(d, 'ip-dns');
  for (const d of PRIVATE_SUFFIXES) add(d, 'private');
  return m;
})();

function classifyName(h: string): Kind {
  if (LOOPBACK_NAMES.has(h)) return 'loopback';
  if (METADATA_NAMES.has(h)) return 'metadata';
  if (PRIVATE_NAMES.has(h)) return 'internal-name';
  const rules = SUFFIX_RULES.get(h.slice(h.lastIndexOf('.') + 1));
  if (rules === undefined) return 'public';
  for (const [d, rule] of rules) {
    if (!endsWithDomain(h, d)) continue;
    switch (rule) {
      case 'loopback':
        return 'loopback';
      case 'rebinding':
        if (h.length > d.length) return 'rebinding';
        break;
      case 'ip-dns':
        if (h.length > d.length) {
          const k = spelledAddress(h.slice(0, h.length - d.length - 1));
          return k === undefined ? 'public' : k;
        }
        break;
      case 'private':
        if (h.length > d.length) return d === 'localhost' ? 'loopback' : 'internal-name';
        break;
    }
  }
  return 'public';
}

/** UTS #46-like mapping of a Unicode host: full stops, NFKC (circled and full-width forms), case. */
function mapUnicodeHost(h: string): string {
  let out = '';
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    out += c === 0x3002 || c === 0xff0e || c === 0xff61 ? '.' : h[i];
  }
  try {
    return out.normalize('NFKC').toLowerCase();
  } catch {
    return out;
  }
}

/**
 * Is `h` (a lower-case host without port or brackets) the cloud metadata service? Names by a
 * set look-up; an address (a digit first, or IPv6) through the host parser, so every IPv4
 * notation counts (`169.254.169.254`, `2852039166`, `0xa9fea9fe`).
 */
export function isMetadataHost(h: string): boolean {
  if (METADATA_NAMES.has(h)) return true;
  if (!isDigit(h.charCodeAt(0)) && h.indexOf(':') < 0) return false;
  return classifyHost(h)?.kind === 'metadata';
}

/** Parses one candidate host (lower-case, no brackets for IPv4/names). */
export function classifyHost(raw: string): HostInfo | undefined {
  let h = raw;
  if (h.length === 0 || h.length > 255) return undefined;
  let ascii = true;
  for (let i = 0; i < h.length; i++) if (h.charCodeAt(i) > 127) { ascii = false; break; }
  let odd = false;
  if (!ascii) {
    const mapped = mapUnicodeHost(h);
    if (mapped !== h) odd = true;
    h = mapped;
  }
  if (h.charCodeAt(0) === 91) {
    const close = h.indexOf(']');
    const g = parseIPv6(h.slice(1, close < 0 ? h.length : close));
    if (g === undefined) return undefined;
    const c = classifyIPv6(g);
    return { kind: c.kind, ip: true, odd: c.odd || odd, text: raw };
  }
  if (h.indexOf(':') >= 0) {
    const g = parseIPv6(h);
    if (g === undefined) return undefined;
    const c = classifyIPv6(g);
    return { kind: c.kind, ip: true, odd: c.odd || odd, text: raw };
  }
  if (h.charCodeAt(h.length - 1) === 46) h = h.slice(0, -1);
  if (h.length === 0) return undefined;
  // WHATWG: a host whose last label is numeric must be an IPv4 address
  const lastDot = h.lastIndexOf('.');
  const lastLabel = h.slice(lastDot + 1);
  const c0 = lastLabel.charCodeAt(0);
  if (isDigit(c0)) {
    const v4 = parseIPv4(h);
    if (v4 !== undefined) return { kind: classifyIPv4(v4.value), ip: true, odd: odd || !v4.canonical, text: raw };
    return undefined;
  }
  return { kind: classifyName(h), ip: false, odd, text: raw };
}

// ---------------------------------------------------------------------------------------
// URL scanner

interface UrlFinding {
  readonly scheme: string;
  /** Offset of the scheme in the value. */
  readonly start: number;
  /** Offset where the authority ends (path, query or end). */
  readonly authEnd: number;
  /** Offset up to which the authority scan looked (for `@` differentials). */
  readonly scanEnd: number;
  /** The worst host among the candidates. */
  readonly host: HostInfo | undefined;
  /** Backslashes interleaved in the host, or parser-differential userinfo. */
  readonly trick: string;
  readonly hasAuthority: boolean;
}

const KIND_RANK: Record<Kind, number> = {
  metadata: 9,
  loopback: 8,
  unspecified: 7,
  'link-local': 7,
  private: 6,
  rebinding: 6,
  'internal-name': 5,
  cgnat: 5,
  reserved: 4,
  multicast: 3,
  public: 0,
};

function worse(a: HostInfo | undefined, b: HostInfo | undefined): HostInfo | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  const ra = KIND_RANK[a.kind] + (a.odd ? 0.5 : 0);
  const rb = KIND_RANK[b.kind] + (b.odd ? 0.5 : 0);
  return rb > ra ? b : a;
}

function isHostEnd(c: number): boolean {
  // : / \ ? # @ whitespace and the punctuation that cannot be in a host
  return (
    c === 58 || c === 47 || c === 92 || c === 63 || c === 35 || c === 64 || isSpace(c) || c === 38 || c === 59 ||
    c === 44 || c === 34 || c === 39 || c === 60 || c === 62 || c === 96 || c === 124 || c === 41 || c === 40 ||
    c === 123 || c === 125
  );
}

/** Reads the host starting at `i` (bounded by `end`): [host, end offset]. */
function readHost(v: string, i: number, end: number): readonly [string, number] {
  while (i < end && isSpace(v.charCodeAt(i))) i++;
  if (v.charCodeAt(i) === 91) {
    const close = findCode(v, 93, i, Math.min(end, i + 72));
    if (close > 0) return [v.slice(i, close + 1), close + 1];
  }
  let j = i;
  while (j < end && !isHostEnd(v.charCodeAt(j))) j++;
  // unbracketed IPv6 (`https://2001:db8::1/x`): take the colons along
  if (v.charCodeAt(j) === 58) {
    let k = j;
    let colons = 0;
    while (k < end && k - i <= 64) {
      const c = v.charCodeAt(k);
      if (c === 58) colons++;
      else if (!isHexDigit(c | 0x20) && c !== 46) break;
      k++;
    }
    if (colons >= 2 && parseIPv6(v.slice(i, k)) !== undefined) return [v.slice(i, k), k];
  }
  return [v.slice(i, j), j];
}

function parseAuthority(v: string, scheme: string, start: number, hs: number, special: boolean, n: number): UrlFinding {
  // Extended authority: up to the first '/' (capped). Parsers disagree about what ends the
  // authority before that ('?', '#', '\\' for special schemes, spaces), which is where
  // `http://good#@evil` style differentials live: every reading is considered.
  const cap = Math.min(n, hs + 256);
  let end = hs;
  let lastAt = -1;
  let firstEnd = -1; // first '?', '#' or (special) '\\': the WHATWG end of the authority
  let firstOdd = -1; // first of those or a space
  while (end < cap) {
    const c = v.charCodeAt(end);
    if (c === 47 || c === 10 || c === 13 || c === 34 || c === 39 || c === 60 || c === 62) break;
    if (c === 64) lastAt = end;
    else if (c === 35 || c === 63 || (special && c === 92)) {
      if (firstEnd < 0) firstEnd = end;
      if (firstOdd < 0) firstOdd = end;
    } else if (isSpace(c) && firstOdd < 0) firstOdd = end;
    end++;
  }
  const sepBeforeAt = firstOdd >= 0 && lastAt > firstOdd;
  // without any '@' after it, a backslash or '?' ends the authority for everyone
  if (!sepBeforeAt && firstEnd >= 0) end = firstEnd;
  const whatwgEnd = firstEnd >= 0 ? firstEnd : end;
  let host: HostInfo | undefined;
  let trick = '';
  // candidates: the host after every '@', and the text before the first '@' when it is the
  // WHATWG host (no '@' before the first `?`, `#`, `\` or space)
  const firstAt = findCode(v, 64, hs, end);
  let pieceStart = firstAt >= 0 && firstAt < whatwgEnd ? firstAt + 1 : hs;
  for (;;) {
    const [h, hEnd] = readHost(v, pieceStart, pieceStart === hs ? whatwgEnd : end);
    let cand = h;
    if (special && v.charCodeAt(hEnd) === 92 && interleavedBackslashes(v, hEnd, cap)) {
      // `http://\l\o\c\a\l\h\o\s\t/`: backslashes between the letters of the host
      let k = pieceStart;
      let stripped = '';
      while (k < cap && stripped.length < 255) {
        const c = v.charCodeAt(k);
        if (c === 92) { k++; continue; }
        if (isHostEnd(c)) break;
        stripped += v[k];
        k++;
      }
      cand = stripped;
      trick = 'backslash-host';
    }
    const info = cand === '' ? undefined : classifyHost(cand);
    host = worse(host, info);
    const at = findCode(v, 64, pieceStart, end);
    if (at < 0) break;
    pieceStart = at + 1;
  }
  if (sepBeforeAt) trick = trick === '' ? 'userinfo-confusion' : trick;
  return { scheme, start, authEnd: whatwgEnd, scanEnd: end, host, trick, hasAuthority: true };
}

/** `\x\y\z`: at least two backslashes each followed by a host character, within the authority. */
function interleavedBackslashes(v: string, i: number, end: number): boolean {
  let count = 0;
  let k = i;
  while (k < end && k - i < 128) {
    const c = v.charCodeAt(k);
    if (c === 92) {
      const nx = v.charCodeAt(k + 1);
      if (k + 1 < end && (isAlpha(nx) || isDigit(nx))) count++;
      else if (nx !== 92) break;
    } else if (c === 47 || isSpace(c)) break;
    k++;
  }
  return count >= 2;
}

/** Every `scheme:` URL of the value, in order. Linear: each ':' walks back at most to the previous one. */
function scanUrls(v: string, visit: (u: UrlFinding) => boolean): void {
  const n = v.length;
  let prevColon = -1;
  let skipUntil = 0;
  for (let i = v.indexOf(':'); i >= 0; i = v.indexOf(':', i + 1)) {
    const floor = prevColon + 1;
    prevColon = i;
    if (i < skipUntil) continue;
    let j = i;
    while (j > floor && i - j < 32 && isSchemeChar(v.charCodeAt(j - 1))) j--;
    while (j < i && !isAlpha(v.charCodeAt(j))) j++;
    if (i - j < 2) continue; // single letters are drive letters
    const scheme = v.slice(j, i);
    const special = SPECIAL.has(scheme);
    let hs = i + 1;
    let slashes = 0;
    while (hs < n && (v.charCodeAt(hs) === 47 || v.charCodeAt(hs) === 92) && slashes < 64) {
      hs++;
      slashes++;
    }
    let u: UrlFinding;
    if (special || slashes >= 2) {
      if (hs >= n || isSpace(v.charCodeAt(hs))) continue;
      if (slashes === 0) {
        // `http:127.0.0.1` is a URL; `file:"` and `http: the protocol` are not
        const c = v.charCodeAt(hs);
        if (!(isAlpha(c) || isDigit(c) || c === 91 || c > 127)) continue;
      }
      if (scheme === 'file' && slashes >= 3) {
        u = { scheme, start: j, authEnd: hs, scanEnd: hs, host: undefined, trick: '', hasAuthority: false };
      } else {
        u = parseAuthority(v, scheme, j, hs, special, n);
        skipUntil = u.scanEnd;
      }
    } else {
      u = { scheme, start: j, authEnd: i + 1, scanEnd: i + 1, host: undefined, trick: '', hasAuthority: false };
    }
    if (visit(u)) return;
  }
}

// ---------------------------------------------------------------------------------------
// SSRF

function internal(k: Kind): boolean {
  return k !== 'public';
}

function ssrfForUrl(v: string, u: UrlFinding, clientRedirect: boolean): Hit | undefined {
  const s = u.scheme;
  const ev = v.slice(u.start, Math.min(v.length, u.start + 40));
  if (DANGEROUS.has(s) && (u.hasAuthority || s === 'netdoc' || s === 'local_file')) return mk('ssrf', 'scheme', 5, 1, ev);
  if (s === 'jar') {
    // jar:http://…!/ fetches a remote archive; jar:file: is local inclusion
    let k = u.start + 4;
    while (k < v.length && k - u.start < 20 && isSchemeChar(v.charCodeAt(k))) k++;
    if (k > u.start + 4 && v.charCodeAt(k) === 58) return mk('ssrf', 'scheme', 5, 1, ev);
    return undefined;
  }
  if (s === 'file') {
    // `file:/…`, `file://…`, `file:\\…`; `file:lineno` is a label (a parser that infers an
    // authority for the special scheme reads `file:///lineno`, but no one writes a file URL so)
    const c = v.charCodeAt(u.start + 5);
    return c === 47 || c === 92 ? mk('ssrf', 'scheme', 5, 1, ev) : undefined;
  }
  if (!u.hasAuthority) return undefined;
  const h = u.host;
  let best: Hit | undefined;
  if (u.trick === 'backslash-host') best = mk('ssrf', 'obfuscated-host', 5, 1, ev);
  if (h === undefined) return best;
  if (h.kind === 'metadata') return mk('ssrf', 'metadata', 5, 1, ev);
  if (internal(h.kind)) {
    // RFC 8252 native-app redirects to the loopback are ordinary in redirect_uri and friends
    if (clientRedirect && !h.odd && u.trick === '' && (h.kind === 'loopback' || h.kind === 'private' || h.kind === 'internal-name')) {
      return better(best, mk('ssrf', 'internal-host', 5, 2, ev));
    }
    // A link to an internal host inside running text (an error message pasted into a question,
    // a runbook link in an alert's description) is something people read, not a URL the
    // application is handed to fetch: paranoia 2 when written plainly.
    if (!h.odd && u.trick === '' && h.kind === 'internal-name' && inRunningText(v, u.start)) {
      return better(best, mk('ssrf', 'internal-host', 5, 2, ev));
    }
    return mk('ssrf', 'internal-host', 5, 1, ev);
  }
  if (h.ip && h.odd) return mk('ssrf', 'ip-obfuscation', 5, 1, ev);
  if (h.odd) best = better(best, mk('ssrf', 'obfuscated-host', 4, 2, ev));
  if (u.trick === 'userinfo-confusion') best = better(best, mk('ssrf', 'userinfo-confusion', 4, 2, ev));
  if ((s === 'ldap' || s === 'ldaps' || s === 'ldapi' || s === 'rmi') && !isStrong(best)) {
    best = better(best, mk('ssrf', 'scheme', 4, 2, ev));
  }
  return best;
}

/**
 * The URL at `start` sits among at least three words of text: a blank or line break before it,
 * and a blank or line break after its end, with letters on both sides somewhere.
 */
function inRunningText(v: string, start: number): boolean {
  let end = start;
  while (end < v.length && !isSpace(v.charCodeAt(end)) && v.charCodeAt(end) !== 10 && v.charCodeAt(end) !== 13) end++;
  let words = 0;
  let inWord = false;
  for (let i = 0; i < v.length && words < 3; i++) {
    if (i === start) {
      i = end;
      inWord = false;
      continue;
    }
    const c = v.charCodeAt(i);
    const letter = isAlpha(c) || c >= 0x80;
    if (letter && !inWord) words++;
    inWord = letter || (inWord && !isSpace(c) && c !== 10 && c !== 13);
  }
  return words >= 3;
}

/** Bare host[:port][/path] tokens (no scheme): the ambiguous end of SSRF. */
function ssrfBare(v: string): Hit | undefined {
  let best: Hit | undefined;
  const n = v.length;
  let i = 0;
  while (i < n) {
    // token start
    while (i < n && isBareBoundary(v.charCodeAt(i))) i++;
    if (i >= n) break;
    const tokStart = i;
    let protoRel = false;
    if (v.charCodeAt(i) === 47 && v.charCodeAt(i + 1) === 47 && v.charCodeAt(i + 2) !== 47) {
      protoRel = true;
      i += 2;
    }
    const c0 = v.charCodeAt(i);
    if ((isAlpha(c0) || isDigit(c0) || c0 === 91) && (protoRel || c0 === 91 || worthHost(v, i, n, c0))) {
      const [h, hEnd] = readHost(v, i, n);
      const after = v.charCodeAt(hEnd);
      const port = after === 58 && isDigit(v.charCodeAt(hEnd + 1));
      const pathAfter = (after === 47 || after === 92) && !cidrSuffix(v, hEnd + 1) && !productVersion(v, h, hEnd + 1);
      let portOnly = false;
      if (port) {
        let k = hEnd + 1;
        while (k < n && k - hEnd < 7 && isDigit(v.charCodeAt(k))) k++;
        portOnly = !(v.charCodeAt(k) === 47 || v.charCodeAt(k) === 92);
      }
      const urlish = protoRel || port || pathAfter;
      if (protoRel) portOnly = false;
      const hasDot = h.indexOf('.') >= 0;
      if (h.length >= 2 && (hasDot || c0 === 91 || h.indexOf(':') >= 0 || LOOPBACK_NAMES.has(h) || PRIVATE_NAMES.has(h) || METADATA_NAMES.has(h))) {
        const info = classifyHost(h);
        if (info !== undefined && internal(info.kind)) {
          const canonicalForm = !info.ip || !info.odd || c0 === 91;
          const ev = v.slice(tokStart, Math.min(n, tokStart + 40));
          let hit: Hit | undefined;
          if (info.kind === 'metadata') hit = mk('ssrf', 'metadata', 5, urlish ? 1 : 2, ev);
          else if (protoRel) hit = mk('ssrf', 'internal-host', 5, 1, ev);
          else if (!info.ip) {
            // names: localhost/ and host.docker.internal/ are URL-shaped; a bare `localhost` is a setting
            const name = info.kind === 'loopback' || info.kind === 'rebinding' || info.kind === 'internal-name';
            // `localhost/` and `host.docker.internal/x` are URL-shaped; `localhost:443` may be a setting
            if (name) {
              // (an internal name inside running text is read by people: see ssrfForUrl)
              const prose = info.kind === 'internal-name' && inRunningText(v, tokStart);
              hit = urlish && !portOnly && !prose ? mk('ssrf', 'internal-host', 5, 1, ev) : mk('ssrf', 'internal-host', urlish ? 5 : 3, 2, ev);
            }
          } else if (canonicalForm) {
            if (c0 === 91) hit = mk('ssrf', 'internal-host', 5, 2, ev);
            else hit = urlish ? mk('ssrf', 'internal-host', 5, 2, ev) : mk('ssrf', 'internal-host', 3, 3, ev);
          } else if (urlish) {
            hit = mk('ssrf', 'ip-obfuscation', 4, 3, ev);
          }
          best = better(best, hit);
          if (isStrong(best)) return best;
        }
      }
      i = hEnd > i ? hEnd : i + 1;
    } else {
      i++;
    }
    // skip the rest of the token
    while (i < n && !isBareBoundary(v.charCodeAt(i))) i++;
  }
  return best;
}

/**
 * Cheap look before slicing a bare token: a host worth parsing has a dot or a colon, or is
 * one of the dotless names (`localhost`, `ip6-loopback`, `kubernetes`, `metadata` …).
 */
function worthHost(v: string, i: number, n: number, c0: number): boolean {
  for (let k = i; k < n; k++) {
    const c = v.charCodeAt(k);
    if (c === 46 || c === 58 || c === 0x3002 || c === 0xff0e || c === 0xff61) return true;
    if (isHostEnd(c)) break;
  }
  return c0 === 108 || c0 === 105 || c0 === 107 || c0 === 109; // l i k m
}

/**
 * `kubernetes/9a4b2c1`, `localhost/1.2`: a dotless name, a slash and a version (a digit, or `v`
 * and a digit, first) is a User-Agent product token, not a host and path.
 */
function productVersion(v: string, h: string, i: number): boolean {
  if (h.indexOf('.') >= 0 || h.indexOf(':') >= 0) return false;
  const c = v.charCodeAt(i);
  return isDigit(c) || ((c === 118 || c === 86) && isDigit(v.charCodeAt(i + 1)));
}

/** `/24` after an address is a prefix length, not a path. */
function findCode(v: string, code: number, from: number, to: number): number {
  for (let i = from; i < to; i++) if (v.charCodeAt(i) === code) return i;
  return -1;
}

function cidrSuffix(v: string, i: number): boolean {
  let k = i;
  while (k < v.length && k - i < 3 && isDigit(v.charCodeAt(k))) k++;
  return k > i && (k >= v.length || isBareBoundary(v.charCodeAt(k)));
}

function isBareBoundary(c: number): boolean {
  return (
    isSpace(c) || c === 61 || c === 38 || c === 44 || c === 59 || c === 34 || c === 39 || c === 40 || c === 41 ||
    c === 60 || c === 62 || c === 124 || c === 64 || c === 96 || c === 123 || c === 125 || c === 42
  );
}

/** Quick look: could the value hold a host or URL at all? */
function prefilter(lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = lower.charCodeAt(i);
    if (c === 58 || c === 46 || c === 91 || c === 0x3002 || c === 0xff0e || c === 0xff61) return true;
  }
  // bare names without a dot: localhost, ip6-localhost …
  for (const w of BARE_HOST_WORDS) if (lower.indexOf(w) >= 0) return true;
  return false;
}

/** Words of host names without a dot that the pre-filter lets through (the engine's gate reads them too). */
export const BARE_HOST_WORDS: readonly string[] = ['localhost', 'loopback', 'metadata'];

/** Parameters that carry a URL the browser is sent to (not fetched by the server). */
function clientRedirectName(ctx: DetectContext): boolean {
  if (ctx.isKey || ctx.name === '' || (ctx.location !== 'query' && ctx.location !== 'form' && ctx.location !== 'body')) {
    return false;
  }
  for (const w of nameWords(ctx.name)) if (w === 'redirect' || w === 'return' || w === 'returnto') return true;
  return false;
}

export const detectSsrf: Detector = (_text, lower, ctx) => {
  if (lower.length < 2 || !prefilter(lower)) return undefined;
  let best: Hit | undefined;
  if (lower.indexOf(':') >= 0) {
    const redirect = clientRedirectName(ctx);
    scanUrls(lower, (u) => {
      best = better(best, ssrfForUrl(lower, u, redirect));
      return isStrong(best);
    });
    if (isStrong(best)) return relaxForHeader(best, ctx);
  }
  if (!(ctx.location === 'header' && HOST_HEADERS.has(ctx.name.toLowerCase()))) best = better(best, ssrfBare(lower));
  else {
    // Proxies fill these with private addresses, never with the cloud metadata service's:
    // `X-Forwarded-Host: 169.254.169.254` steers an application that builds URLs from it.
    // (`Forwarded: for=…;host=…`: its parameters' values as tokens of their own)
    const bare = ssrfBare(lower.indexOf('=') >= 0 ? lower.replace(/[=;,"]/g, ' ') : lower);
    if (bare !== undefined && bare.detector === 'ssrf.metadata') best = better(best, { ...bare, severity: 5, paranoia: 1 });
  }
  return relaxForHeader(best, ctx);
};

/** Headers whose value is a host or an address by definition (proxies fill them with private IPs). */
export const HOST_HEADERS: ReadonlySet<string> = new Set([
  'host', 'x-forwarded-host', 'x-forwarded-for', 'x-real-ip', 'forwarded', 'x-original-host', 'via',
  'true-client-ip', 'x-client-ip', 'x-forwarded-server', 'x-host', 'cf-connecting-ip', 'x-cluster-client-ip',
]);
/** Headers a browser fills with the page's own URL, which is `localhost` during development. */
const BROWSER_URL_HEADERS = new Set(['referer', 'referrer', 'origin']);

function relaxForHeader(h: Hit | undefined, ctx: DetectContext): Hit | undefined {
  if (h === undefined || ctx.location !== 'header' || h.paranoia >= 3) return h;
  if (!BROWSER_URL_HEADERS.has(ctx.name.toLowerCase())) return h;
  // A browser writes the host as the URL parser made it (`http://0x7f000001/` becomes
  // `http://127.0.0.1/`) and never points a page at the metadata service: those stay.
  if (h.detector === 'ssrf.metadata' || !canonicalUrlHost(h.evidence)) return h;
  return { detector: h.detector, category: h.category, severity: h.severity, paranoia: 3, evidence: h.evidence };
}

/**
 * The host of the URL an evidence opens with is as a browser writes it: a name with a letter,
 * four decimal octets without leading zeros, or a bracketed IPv6 address. Evidence without
 * `//` answers true (nothing to judge).
 */
function canonicalUrlHost(evidence: string): boolean {
  const s = evidence.indexOf('//');
  if (s < 0) return true;
  let e = s + 2;
  while (e < evidence.length && !isHostEnd(evidence.charCodeAt(e)) && evidence.charCodeAt(e) !== 58) e++;
  const host = evidence.slice(s + 2, e);
  if (host === '' || host.charCodeAt(0) === 91) return true;
  const parts = host.split('.');
  let letters = false;
  for (let i = 0; i < host.length && !letters; i++) letters = isAlpha(host.charCodeAt(i));
  if (letters) return !/^0x|\.0x/.test(host);
  return parts.length === 4 && parts.every((p) => p !== '' && p.length <= 3 && (p === '0' || p.charCodeAt(0) !== 48) && Number(p) <= 255);
}

// ---------------------------------------------------------------------------------------
// RFI

const RFI_SCHEMES = new Set(['http', 'https', 'ftp', 'ftps']);

function includeName(name: string): boolean {
  if (name === '') return false;
  // The input's own name: the last segment of an XML path or JSON pointer that is not an
  // array index (`/Document/@xmlns:xsi` is an attribute of a document, not a document).
  let end = name.length;
  let slash = name.lastIndexOf('/');
  while (slash >= 0 && /^\d+$/.test(name.slice(slash + 1, end))) {
    end = slash;
    slash = name.lastIndexOf('/', end - 1);
  }
  const own = name.slice(slash + 1, end);
  // a namespace declaration names a namespace; nothing fetches it
  if (own.startsWith('@xmlns')) return false;
  let include = false;
  let fileWord = false;
  let location = false;
  for (const w of nameWords(own)) {
    // `page_location` (Google Analytics, Amplitude) is where a page is; `file_location` still names a file
    if (w === 'location') location = true;
    else if (LINK_WORDS.has(w)) return false;
    if (INCLUDE_WORDS.has(w)) include = true;
    if (FILE_WORDS.has(w)) fileWord = true;
  }
  return include && (!location || fileWord);
}

interface PathInfo {
  ext: string;
  end: number;
  terminator: number;
  /** Memo: the scan that found `end` started at `from`; `lastSlash` is the last separator before `end`. */
  from: number;
  lastSlash: number;
}

/**
 * Extension of the last path segment of the URL whose path starts at `p` (up to `?`, `#`,
 * space). URLs are visited left to right and share their terminator with every earlier URL
 * that has no terminator of its own, so `memo` keeps the total scan linear.
 */
function pathInfo(v: string, p: number, memo: PathInfo): PathInfo {
  const n = v.length;
  if (!(p >= memo.from && p <= memo.end)) {
    let lastSlash = -1;
    let k = p;
    while (k < n) {
      const c = v.charCodeAt(k);
      if (c === 63 || c === 35 || isSpace(c) || c === 34 || c === 39 || c === 60 || c === 62) break;
      if (c === 47 || c === 92) lastSlash = k;
      k++;
    }
    memo.from = p;
    memo.end = k;
    memo.lastSlash = lastSlash;
    memo.terminator = k < n ? v.charCodeAt(k) : -1;
    memo.ext = '';
    if (lastSlash >= 0) {
      let dot = -1;
      for (let d = k - 1; d > lastSlash && k - d <= 9; d--) {
        if (v.charCodeAt(d) === 46) {
          dot = d;
          break;
        }
      }
      if (dot > lastSlash) memo.ext = v.slice(dot + 1, k);
    }
  }
  if (memo.lastSlash < p) {
    // this URL has no path of its own before the shared terminator
    return { ext: '', end: memo.end, terminator: memo.terminator, from: memo.from, lastSlash: -1 };
  }
  return memo;
}

function rfiForUrl(v: string, u: UrlFinding, ctx: DetectContext, valueStart: number, memo: PathInfo): Hit | undefined {
  if (!RFI_SCHEMES.has(u.scheme) || !u.hasAuthority) return undefined;
  const ev = v.slice(u.start, Math.min(v.length, u.start + 40));
  const info = pathInfo(v, u.authEnd, memo);
  const scriptPath = info.ext !== '' && RFI_SCRIPT_EXTS.has(info.ext);
  let best: Hit | undefined;
  const h = u.host;
  if (h !== undefined && h.ip) {
    if (scriptPath) return mk('rfi', 'ip-host-script', 5, 1, ev);
    if (u.scheme === 'ftp' || u.scheme === 'ftps') return mk('rfi', 'ip-host', 5, 1, ev);
    best = better(best, mk('rfi', 'ip-host', 4, 2, ev));
  }
  // include-style: a trailing '?' (or '#' after a script path) cuts off what the server appends
  if (info.terminator === 63 || info.terminator === 35) {
    let k = info.end;
    while (k < v.length && (v.charCodeAt(k) === 63 || v.charCodeAt(k) === 35)) k++;
    const tailEmpty = k >= v.length || isSpace(v.charCodeAt(k)) || v.charCodeAt(k) === 34 || v.charCodeAt(k) === 39;
    if (tailEmpty && (info.terminator === 63 || scriptPath)) {
      // strong when the path names a file (`/shell.txt?`) or is empty (`http://evil?`)
      const noPath = info.end - u.authEnd <= 1;
      if (scriptPath || noPath || (h !== undefined && h.ip)) return mk('rfi', 'trailing-query', 5, 1, ev);
      best = better(best, mk('rfi', 'trailing-query', 4, 2, ev));
    }
  }
  // `http://good.com%2f:x@evil.com/` once decoded: a userinfo-looking first path segment
  if (v.charCodeAt(u.authEnd) === 47) {
    const segEnd = Math.min(info.end, u.authEnd + 128);
    const slashAt = findCode(v, 47, u.authEnd + 1, segEnd);
    const segStop = slashAt < 0 ? segEnd : slashAt;
    let at = -1;
    for (let k = findCode(v, 64, u.authEnd + 1, segStop); k >= 0; k = findCode(v, 64, k + 1, segStop)) at = k;
    if (at > 0) {
      const colon = findCode(v, 58, u.authEnd + 1, at);
      const slash = findCode(v, 47, u.authEnd + 1, at);
      const [h2] = readHost(v, at + 1, segEnd);
      if (colon > 0 && slash < 0 && h2.indexOf('.') > 0) return mk('rfi', 'userinfo-confusion', 5, 1, ev);
    }
  }
  if (u.start === valueStart && ctx.location !== 'path' && !ctx.isKey && includeName(ctx.name)) {
    // a browser's script or style sheet (`"filename": "https://shop.example/_next/static/chunks/app.js"`
    // in an error tracker's stack frame, a CSP report's `source-file`) is what pages load, not
    // what a server includes: paranoia 2
    if (info.ext === 'js' || info.ext === 'mjs' || info.ext === 'css' || info.ext === 'map') best = better(best, mk('rfi', 'include-param', 4, 2, ev));
    else return mk('rfi', 'include-param', 5, 1, ev);
  }
  if ((u.scheme === 'ftp' || u.scheme === 'ftps') && h !== undefined) best = better(best, mk('rfi', 'ftp-url', 4, 2, ev));
  if (ctx.location === 'path' && u.start > 0) best = better(best, mk('rfi', 'url-in-path', 4, 2, ev));
  if (u.trick === 'userinfo-confusion') best = better(best, mk('rfi', 'userinfo-confusion', 4, 2, ev));
  return best;
}

export const detectRfi: Detector = (_text, lower, ctx) => {
  if (lower.length < 6 || lower.indexOf(':') < 0) return undefined;
  let valueStart = 0;
  while (valueStart < lower.length && isSpace(lower.charCodeAt(valueStart))) valueStart++;
  let best: Hit | undefined;
  const memo: PathInfo = { ext: '', end: -1, terminator: -1, from: -1, lastSlash: -1 };
  scanUrls(lower, (u) => {
    best = better(best, rfiForUrl(lower, u, ctx, valueStart, memo));
    return isStrong(best);
  });
  return relaxForHeader(best, ctx);
};
