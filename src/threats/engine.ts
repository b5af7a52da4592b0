/**
 * The threat-detection engine: extraction, decoding, detectors, scoring.
 *
 * For one request it visits every input — path segments (and the whole path, for traversal),
 * query parameter names and values, header values (all but a short list of structural
 * headers), cookie names and values, and the body: every string of a JSON document with its
 * pointer (member names as keys), form fields, multipart field names, file names and text
 * parts, XML text, attribute values and names, or the whole text of any other textual body.
 * Each value is decoded (normalize.ts) and handed to every detector; each detector answers at
 * most one hit per value. A hit counts when its paranoia level is at most the configured one;
 * the request's score is the sum of the severities of the hits that count, and it is refused
 * when the score reaches the threshold.
 *
 * Safety argument:
 * - Bounded: a per-request budget of bytes and values inspected. A request that exceeds it is
 *   refused (`incomplete: 'budget'`), never passed partly inspected. Values longer than the
 *   decoder's window are inspected in overlapping windows, so no byte escapes inspection.
 * - Linear: extraction is single-pass (no regular expression over input), detectors are
 *   tokenizers (see detectors/), decoding rounds are bounded.
 * - Type-aware: a value the contract stage proved to be an integer, boolean, enum member, uuid,
 *   date or e-mail (RequestContext.inputs) is not scanned; free text is.
 * - Nothing secret leaves: findings carry the detector's short evidence, cut to 40 characters,
 *   control characters escaped, and replaced by `[REDACTED]` when the input's name looks like
 *   a secret (password, token, key …) or it is a cookie.
 */
import { isUtf8 } from 'node:buffer';
import { isSensitiveName, REDACTED } from '../telemetry/redact.js';
import { CC } from './charclass.js';
import { CleanValues } from './clean-values.js';
import { jsonPointer, scanJsonRanges } from './json-scan.js';
import { graphqlStrings } from './graphql.js';
import { ebcdicTable, fromEbcdic } from './ebcdic.js';
import { DEFAULT_NORMALIZE_BUDGET, NORM_BAD_ESCAPE, NORM_CONTROL, NORM_MULTI_ENCODED, NORM_NUL, NORM_OVERLONG, normalize } from './normalize.js';
import { MK, ValueFacts, type LiteralSet } from './prefilter.js';
import { SEVERITY } from './types.js';
import type { DetectContext, Detector, Hit, InputLocation, Paranoia, RawRequest, ThreatCategory, ThreatFinding, ThreatVerdict } from './types.js';
import { scanXml } from './xml.js';
import { isMetadataHost } from './detectors/ssrf.js';
import { stripPort } from '../routing/router.js';
import { parseJsonObject } from '../identity/jwt.js';

export interface NamedDetector {
  /** Family id, e.g. `sqli`; what exclusions name (with the hit's full id). */
  readonly id: string;
  readonly category: ThreatCategory;
  readonly detect: Detector;
  /**
   * At paranoia 1: whether the detector can fire on this value, from its facts (prefilter.ts:
   * character classes, literals, first word …); false skips the call. Undefined: always called.
   * A gate may only say false where the detector could not have fired.
   */
  readonly gate?: (facts: ValueFacts) => boolean;
  /**
   * A gate shared by several detectors (same `select`): one call answers for all of them with a
   * mask, of which `bit` is this detector's. Checked like `gate`; used instead of it.
   */
  readonly shared?: { readonly select: (facts: ValueFacts) => number; readonly bit: number; readonly literals?: LiteralSet };
  /** Where the detector runs; default everywhere. */
  readonly locations?: readonly InputLocation[];
}

/** One exclusion: these detectors (ids, families or categories; all when empty) at these inputs (all when empty). */
export interface ExclusionRule {
  readonly detectors: readonly string[];
  /**
   * `<location>:<name>` patterns: `query:q`, `body:/article/html`, `header:user-agent`,
   * `cookie:*`; a trailing `*` matches any rest of the name.
   */
  readonly locations: readonly string[];
}

export interface ThreatLimits {
  /** Bytes of decoded input inspected per request. */
  readonly maxBytes: number;
  /** Values (and keys) inspected per request. */
  readonly maxItems: number;
  /** Nesting of JSON and XML bodies. */
  readonly maxDepth: number;
}

export interface ThreatOptions {
  readonly paranoia: Paranoia;
  /** Score at which a request is refused. */
  readonly threshold: number;
  readonly exclusions: readonly ExclusionRule[];
  /** Lower-cased header names that are not inspected (their value is structural or a credential). */
  readonly skipHeaders: ReadonlySet<string>;
  readonly cookies: boolean;
  readonly limits: ThreatLimits;
  readonly detectors: readonly NamedDetector[];
  /** Skip detectors whose gate says they cannot fire (default true; false for verification). */
  readonly gates?: boolean;
  /** Header values (and paths) remembered as clean per generation (clean-values.ts; default 256, 0: none). */
  readonly headerMemory?: number;
}

export const DEFAULT_SKIP_HEADERS: readonly string[] = Object.freeze([
  'authorization',
  'proxy-authorization',
  'host',
  ':authority',
  ':method',
  ':path',
  ':scheme',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'te',
  'upgrade',
  'accept-encoding',
  'if-none-match',
  'if-match',
  'if-modified-since',
  'if-unmodified-since',
  'cache-control',
  'pragma',
  'cookie', // inspected as cookies, one by one
]);

/**
 * What is still read of a header that is not inspected as a whole. `credentials`
 * (`Authorization`): a Basic user name, and a Bearer credential that is no token68 (a token is
 * letters, digits and `-._~+/` then `=`; anything else was put there by hand); a secret is
 * never remembered as clean and never shown in an excerpt. `lookup`: a value holding `${` (a
 * Log4j/EL/template lookup: a date, an entity tag or a cache directive never does) is read
 * whole, where Log4Shell was sprayed into every header.
 */
const SKIPPED_HEADER_READS: ReadonlyMap<string, 'credentials' | 'lookup'> = new Map([
  ['authorization', 'credentials'],
  ['proxy-authorization', 'credentials'],
  ...['host', 'if-none-match', 'if-match', 'if-modified-since', 'if-unmodified-since', 'if-range', 'cache-control', 'pragma', 'accept-encoding', 'keep-alive', 'upgrade', 'te'].map((h) => [h, 'lookup'] as const),
]);

/** `Host: 169.254.169.254`: a request addressed to the cloud metadata service, sent through the gateway as a proxy. */
const METADATA_HOST: Hit = { detector: 'ssrf.metadata', category: 'ssrf', severity: SEVERITY.critical, paranoia: 1, evidence: 'Host' };

/** JOSE header members whose value a verifier may use to find its key: a file, a URL, a database key. */
const JWT_KEY_MEMBERS = ['kid', 'jku', 'x5u'] as const;

/**
 * A JWT's header (never its claims or signature): `kid`, `jku` and `x5u` are read, as a
 * verifier may turn them into a file path (`"kid": "../../dev/null"`), a query
 * (`"kid": "x' UNION SELECT 'key"`) or a URL it fetches (`"jku": "http://169.254.169.254/…"`).
 * Only a compact JWS whose first segment decodes to a JSON object (bounded at 1 KiB).
 */
function jwtHeader(run: Inspection, name: string, token: string): void {
  const dot = token.indexOf('.');
  if (dot < 16 || dot > 1400 || token.indexOf('.', dot + 1) < 0) return;
  const header = parseJsonObject(token.slice(0, dot));
  if (header === undefined) return;
  for (const m of JWT_KEY_MEMBERS) {
    const x = header[m];
    if (typeof x === 'string' && x !== '') run.value('header', name + '.' + m, x, false);
  }
}

function skippedHeader(run: Inspection, name: string, read: 'credentials' | 'lookup', v: string): void {
  if (read === 'lookup') {
    if (v.includes('${')) run.value('header', name, v, false);
    // the metadata service as the request's own host (a gateway used as an open proxy)
    else if (name === 'host') {
      // (not a bare single label: a cluster may well run a service called `metadata`)
      const h = stripPort(v);
      const c = h.charCodeAt(0);
      if ((h.indexOf('.') >= 0 || h.indexOf(':') >= 0 || (c >= 0x30 && c <= 0x39)) && isMetadataHost(h)) run.hit(METADATA_HOST, 'header', name, false, '');
    }
    return;
  }
  const sp = v.indexOf(' ');
  if (sp <= 0) return;
  const scheme = v.slice(0, sp).toLowerCase();
  const credential = v.slice(sp + 1).trim();
  // Read with no name of its own (name undefined, base = the header's name): never kept in the
  // clean-value memory; the header's name redacts every excerpt (telemetry isSensitiveName).
  if (scheme === 'bearer') {
    if (!isToken68(credential)) run.value('header', undefined, credential, false, false, undefined, name, name);
    else jwtHeader(run, name, credential);
  } else if (scheme === 'basic' && isToken68(credential)) {
    const pair = Buffer.from(credential, 'base64').toString('utf8');
    const colon = pair.indexOf(':');
    const user = colon < 0 ? pair : pair.slice(0, colon);
    if (user !== '') run.value('header', undefined, user, false, false, undefined, name, name);
    // a lookup may span the colon (`${jndi:ldap://…}:pw`), or sit in the password: the pair whole
    if (colon >= 0 && pair.includes('${')) run.value('header', undefined, pair, false, false, undefined, name, name);
  }
}

/** RFC 9110 token68: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" */
function isToken68(s: string): boolean {
  let i = 0;
  const n = s.length;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e || c === 0x2b || c === 0x2f)) break;
  }
  if (i === 0) return false;
  while (i < n && s.charCodeAt(i) === 0x3d) i++;
  return i === n;
}

export const DEFAULT_THREAT_LIMITS: ThreatLimits = Object.freeze({ maxBytes: 262_144, maxItems: 50_000, maxDepth: 128 });

/** A value skipped because the contract proved its type. */
export interface TypedSkip {
  readonly location: InputLocation;
  readonly name: string;
}

/** Inputs the contract stage proved harmless: `location \0 name` keys. */
export type SkipSet = ReadonlySet<string>;

export function skipKey(location: InputLocation, name: string): string {
  return location + '\0' + name;
}

const MAX_EXCERPT = 40;
const MAX_FINDINGS = 32;
/** Values longer than this are inspected in windows of this size overlapping by WINDOW_OVERLAP. */
const WINDOW = DEFAULT_NORMALIZE_BUDGET.maxOutput / 2;
const WINDOW_OVERLAP = 512;

/** Decoding anomalies as hits (category `protocol`). */
const ANOMALIES: readonly { flag: number; hit: Hit }[] = [
  { flag: NORM_NUL, hit: { detector: 'protocol.nul-byte', category: 'protocol', severity: SEVERITY.critical, paranoia: 1, evidence: 'NUL' } },
  { flag: NORM_OVERLONG, hit: { detector: 'protocol.overlong-utf8', category: 'protocol', severity: SEVERITY.critical, paranoia: 1, evidence: 'overlong UTF-8' } },
  { flag: NORM_CONTROL, hit: { detector: 'protocol.control-char', category: 'protocol', severity: SEVERITY.critical, paranoia: 2, evidence: 'control character' } },
  { flag: NORM_MULTI_ENCODED, hit: { detector: 'protocol.multi-encoded', category: 'protocol', severity: SEVERITY.notice, paranoia: 2, evidence: 'encoded more than once' } },
  { flag: NORM_BAD_ESCAPE, hit: { detector: 'protocol.bad-escape', category: 'protocol', severity: SEVERITY.notice, paranoia: 3, evidence: 'malformed %-escape' } },
];

/** Detectors that also read the whole path at once (a URL or a file path spans segments). */
const WHOLE_PATH: ReadonlySet<ThreatCategory> = new Set(['traversal', 'rfi', 'ssrf']);

const LOCATIONS: readonly InputLocation[] = ['path', 'query', 'form', 'header', 'cookie', 'body', 'multipart', 'xml'];

/** Characters that normalize() decodes (its fast path returns any other value as it is). */
const DECODE = CC.PERCENT | CC.AMP | CC.BSLASH | CC.CTRL | CC.NONASCII;

/** A parameter name as applications write them: letters, digits and `_ - . [ ] $ : @ ~ !` (no space, quote or bracket of code). */
/** Each `[…]` subscript of a parameter name that is not a plain name, read as a key (at most 16). */
function bracketKeys(run: Inspection, location: 'query' | 'form', name: string): void {
  let open = name.indexOf('[');
  for (let k = 0; open >= 0 && k < 16; k++) {
    const close = name.indexOf(']', open + 1);
    if (close < 0) return;
    const key = name.slice(open + 1, close);
    if (key.length >= 2 && !plainName(key)) run.value(location, name, key, true);
    open = name.indexOf('[', close + 1);
  }
}

function plainName(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x80) continue;
    if ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) continue;
    if (c >= 0x30 && c <= 0x39) continue;
    if (c === 0x5f || c === 0x2d || c === 0x2e || c === 0x5b || c === 0x5d || c === 0x24 || c === 0x3a || c === 0x40 || c === 0x7e || c === 0x21) continue;
    return false;
  }
  return true;
}

/** Inputs whose text is bytes read as Latin-1 (Node's request head; form and multipart bodies). */
const BYTE_LOCATIONS: ReadonlySet<InputLocation> = new Set(['path', 'query', 'form', 'header', 'cookie', 'multipart']);

/**
 * `s` read as UTF-8 when every character of it is a byte (≤ U+00FF) and those bytes are valid
 * UTF-8 (no overlong form, no surrogate: those stay for normalize() to flag), else `s`.
 */
export function utf8OfLatin1(s: string): string {
  let high = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) return s;
    if (c >= 0x80) high = true;
  }
  if (!high) return s;
  const bytes = Buffer.from(s, 'latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : s;
}

/** `<?` and `<%`, where PHP and ASP/JSP code opens in a file. */
const SERVER_CODE_OPENERS = [Buffer.from('<?', 'latin1'), Buffer.from('<%', 'latin1')];
const PHP_CLOSE = Buffer.from('?>', 'latin1');
const PERL_QX = Buffer.from('qx', 'latin1');
const ASP_CLOSE = Buffer.from('%>', 'latin1');
const SERVER_CODE_PROBES = 16;
const SERVER_CODE_WINDOW = 1024;

/**
 * A part type that says the part is a file, with or without a file name (an MTOM attachment
 * `application/pdf`, a DICOM instance, `application/octet-stream`): not text, JSON or XML.
 */
function binaryType(base: string): boolean {
  return base !== '' && !base.startsWith('text/') && !base.endsWith('json') && !base.endsWith('xml') && base !== 'application/x-www-form-urlencoded' && base !== 'application/http';
}

/**
 * The first 4 KiB of a file are text: no NUL and no control character other than tab, line
 * breaks and form feed (images, archives and most PDFs have them at once).
 */
function plainText(content: Buffer): boolean {
  if (content.length === 0) return false;
  const end = Math.min(content.length, 4096);
  for (let i = 0; i < end; i++) {
    const b = content[i]!;
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c) return false;
    if (b === 0x7f) return false;
  }
  return true;
}

function printableAscii(b: number): boolean {
  return (b >= 0x20 && b <= 0x7e) || b === 0x09 || b === 0x0a || b === 0x0d;
}

/** A file whose bytes open (after a BOM and white space) as XML: `<?xml`, `<svg`, `<!DOCTYPE`. */
function looksXml(content: Buffer): boolean {
  let i = content[0] === 0xef && content[1] === 0xbb && content[2] === 0xbf ? 3 : 0;
  while (i < content.length && i < 256 && (content[i] === 0x20 || content[i] === 0x09 || content[i] === 0x0a || content[i] === 0x0d)) i++;
  if (content[i] !== 0x3c) return false;
  const head = content.toString('latin1', i + 1, i + 9).toLowerCase();
  return head.startsWith('?xml') || head.startsWith('svg') || head.startsWith('!doctype');
}

/**
 * Headers that rewrite the request for the application behind a proxy: the method
 * (`X-HTTP-Method-Override: DELETE` on a POST) or the URL (`X-Original-URL: /admin`, which
 * IIS and Symfony take over the request line). The gateway routes, authorizes and checks the
 * contract on the request line it received; an upstream that honours one of these answers
 * another request than the one that was let through.
 */
const REWRITE_HEADERS = new Set(['x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-url', 'x-rewrite-url', 'x-override-url']);
const METHOD_HEADER: Hit = { detector: 'protocol.method-override', category: 'protocol', severity: SEVERITY.critical, paranoia: 1, evidence: '' };
/** `_method=DELETE` (Rails, Laravel, Express method-override): HTML forms use it too, so paranoia 2. */
const METHOD_PARAM: Hit = { detector: 'protocol.method-override', category: 'protocol', severity: SEVERITY.critical, paranoia: 2, evidence: '' };
const URL_HEADER: Hit = { detector: 'protocol.url-override', category: 'protocol', severity: SEVERITY.critical, paranoia: 1, evidence: '' };

function rewriteHeader(run: Inspection, method: string, name: string, value: string): void {
  if (name.endsWith('url')) run.hit(URL_HEADER, 'header', name, false, value);
  else methodOverride(run, method, 'header', name, value, METHOD_HEADER);
}

/** An override that names another method than the request's (the same one changes nothing). */
function methodOverride(run: Inspection, method: string, location: InputLocation, name: string, value: string, hit: Hit): void {
  const v = value.trim().toUpperCase();
  if (v !== '' && v !== method.toUpperCase()) run.hit(hit, location, name, false, v);
}

const MALFORMED_BODY = (what: string): Hit => ({ detector: 'protocol.malformed-body', category: 'protocol', severity: SEVERITY.critical, paranoia: 1, evidence: what });

/** The detectors of one location, and the gate they all share (NamedDetector.shared), if they do. */
interface DetectorPlan {
  readonly detectors: readonly NamedDetector[];
  readonly select: ((facts: ValueFacts) => number) | undefined;
}

function plan(detectors: readonly NamedDetector[]): DetectorPlan {
  const first = detectors[0]?.shared?.select;
  const shared = first !== undefined && detectors.every((d) => d.shared?.select === first);
  return { detectors, select: shared ? first : undefined };
}

/** Compiled exclusion: which detector ids it silences at which inputs. */
interface CompiledExclusion {
  readonly all: boolean;
  readonly ids: ReadonlySet<string>;
  /** [location, name or prefix, isPrefix]; empty: every input. */
  readonly where: readonly (readonly [string, string, boolean])[];
}

export class ThreatEngine {
  readonly options: ThreatOptions;
  private readonly exclusions: readonly CompiledExclusion[];

  constructor(options: Partial<ThreatOptions> & { detectors: readonly NamedDetector[] }) {
    this.options = {
      paranoia: options.paranoia ?? 1,
      threshold: options.threshold ?? 5,
      exclusions: options.exclusions ?? [],
      skipHeaders: options.skipHeaders ?? new Set(DEFAULT_SKIP_HEADERS),
      cookies: options.cookies ?? true,
      limits: options.limits ?? DEFAULT_THREAT_LIMITS,
      detectors: options.detectors,
      gates: options.gates ?? true,
      headerMemory: options.headerMemory ?? 256,
    };
    this.cleanHeaders = new CleanValues(this.options.headerMemory);
    this.cleanPaths = new CleanValues(this.options.headerMemory);
    this.exclusions = this.options.exclusions.map(compileExclusion);
    // Which detectors run where, resolved once.
    const at = (loc: InputLocation): readonly NamedDetector[] => this.options.detectors.filter((d) => d.locations === undefined || d.locations.includes(loc));
    this.byLocation = new Map(LOCATIONS.map((loc) => [loc, plan(at(loc))]));
    this.wholePath = plan(this.options.detectors.filter((d) => WHOLE_PATH.has(d.category)));
    this.gated = this.options.paranoia === 1 && this.options.gates !== false;
    // The literals the gates read are matched in the same pass as the character classes.
    this.literals = this.gated ? this.options.detectors.find((d) => d.shared?.literals !== undefined)?.shared?.literals : undefined;
  }

  /** Literals the shared gates read (matched while scanning each value). */
  readonly literals: LiteralSet | undefined;

  /** Detectors that run at each input location. */
  readonly byLocation: ReadonlyMap<InputLocation, DetectorPlan>;
  /** Detectors that also read the whole path. */
  readonly wholePath: DetectorPlan;
  /** Gates apply at paranoia 1 only (they are verified against the corpora at that level). */
  readonly gated: boolean;
  /** Header values found clean, by header name (clean-values.ts). */
  readonly cleanHeaders: CleanValues;
  /** Paths and path segments found clean (name '' for the whole path, the index for a segment). */
  readonly cleanPaths: CleanValues;
  /** Facts of the value being inspected (one engine inspects one value at a time: it is synchronous). */
  readonly facts = new ValueFacts();

  /**
   * Inspects the head (path, query, headers, cookies) and, when given, the body. `skip` holds
   * inputs the contract proved harmless; `into` continues an earlier inspection of the same
   * request (the head, before the body arrived).
   */
  inspect(req: RawRequest, skip?: SkipSet, into?: Inspection): Inspection {
    const run = into ?? new Inspection(this);
    if (into === undefined) this.inspectHead(run, req, skip);
    if (req.body !== undefined && req.body.length > 0 && run.incomplete === undefined) this.inspectBody(run, req, skip);
    return run;
  }

  /** The head only. */
  inspectHead(run: Inspection, req: RawRequest, skip?: SkipSet): void {
    this.head(run, req, skip);
    this.facts.release();
  }

  private head(run: Inspection, req: RawRequest, skip?: SkipSet): void {
    // Path: each segment, and the whole path for traversal-like detectors.
    const path = req.rawPath;
    if (path.length > 1) {
      let start = 1;
      let index = 0;
      for (let i = 1; i <= path.length; i++) {
        if (i === path.length || path.charCodeAt(i) === 0x2f) {
          if (i > start) {
            const seg = decodeComponent(path.slice(start, i), false);
            if (skip === undefined || !skip.has(skipKey('path', seg))) {
              run.value('path', String(index), seg, false);
              // matrix parameters (`/people;cn=…;ou=staff`): each value on its own, as a
              // framework that reads them hands it over
              if (seg.indexOf(';') > 0) this.matrix(run, index, path.slice(start, i));
            }
          }
          index++;
          start = i + 1;
        }
      }
      run.value('path', '', decodeComponent(path, false), false, true);
    }
    if (req.rawQuery !== '') this.pairs(run, req.rawQuery, 'query', skip, req.method);
    const headers = req.headers;
    const skipHeaders = this.options.skipHeaders;
    for (const name in headers) {
      const v = headers[name];
      if (v === undefined) continue;
      if (skipHeaders.has(name)) {
        const read = SKIPPED_HEADER_READS.get(name);
        if (read !== undefined) {
          if (typeof v === 'string') skippedHeader(run, name, read, v);
          else for (const one of v) skippedHeader(run, name, read, one);
        }
        if (run.incomplete !== undefined) return;
        continue;
      }
      if (typeof v === 'string') run.value('header', name, v, false);
      else for (const one of v) run.value('header', name, one, false);
      if (run.incomplete !== undefined) return;
      if (name.charCodeAt(0) === 0x78 && REWRITE_HEADERS.has(name)) rewriteHeader(run, req.method, name, typeof v === 'string' ? v : v.join(','));
    }
    if (this.options.cookies) {
      const c = headers.cookie;
      if (c !== undefined) for (const one of typeof c === 'string' ? [c] : c) this.cookies(run, one);
    }
  }

  /** Nesting of batch sub-requests being read (one level is read; a batch inside a batch is text). */
  private batchDepth = 0;

  /**
   * An HTTP request inside a batch part (Google, OData and SharePoint `$batch`): its path,
   * query, headers and body inspected like the outer request's, in the same budget. False when
   * the part does not hold a request line and headers (the caller reads it as text).
   */
  private embeddedRequest(run: Inspection, content: Buffer): boolean {
    const text = content.toString('latin1');
    let start = 0;
    while (start < text.length && (text.charCodeAt(start) === 0x0d || text.charCodeAt(start) === 0x0a)) start++;
    const lineEnd = text.indexOf('\n', start);
    if (lineEnd < 0) return false;
    const line = text.slice(start, text.charCodeAt(lineEnd - 1) === 0x0d ? lineEnd - 1 : lineEnd);
    const sp1 = line.indexOf(' ');
    const sp2 = line.lastIndexOf(' ');
    if (sp1 <= 0 || sp2 <= sp1 || !line.startsWith('HTTP/', sp2 + 1)) return false;
    const method = line.slice(0, sp1);
    let target = line.slice(sp1 + 1, sp2);
    if (!/^[A-Za-z]{3,10}$/.test(method)) return false;
    // an absolute target (`https://host/path`): its path
    const scheme = target.indexOf('://');
    if (scheme > 0 && scheme < 8) {
      const slash = target.indexOf('/', scheme + 3);
      target = slash < 0 ? '/' : target.slice(slash);
    }
    if (target.charCodeAt(0) !== 0x2f) return false;
    const headers: Record<string, string> = {};
    let at = lineEnd + 1;
    for (let n = 0; n < 100; n++) {
      const e = text.indexOf('\n', at);
      const end = e < 0 ? text.length : e;
      const h = text.slice(at, text.charCodeAt(end - 1) === 0x0d ? end - 1 : end);
      at = end + 1;
      if (h === '' || e < 0) break;
      const colon = h.indexOf(':');
      if (colon <= 0) return false;
      const hn = h.slice(0, colon).trim().toLowerCase();
      headers[hn] = headers[hn] === undefined ? h.slice(colon + 1).trim() : `${headers[hn]}, ${h.slice(colon + 1).trim()}`;
    }
    const q = target.indexOf('?');
    const sub: RawRequest = {
      method,
      rawPath: q < 0 ? target : target.slice(0, q),
      rawQuery: q < 0 ? '' : target.slice(q + 1),
      headers,
      body: at < content.length ? content.subarray(at) : undefined,
    };
    this.batchDepth++;
    try {
      this.head(run, sub);
      if (sub.body !== undefined && sub.body.length > 0 && run.incomplete === undefined) this.body(run, sub);
    } finally {
      this.batchDepth--;
    }
    return true;
  }

  /** The `;name=value` parameters of a raw path segment, each value named `<index>;<name>`. */
  private matrix(run: Inspection, index: number, raw: string): void {
    let at = raw.indexOf(';');
    for (let n = 0; at >= 0 && n < 32 && run.incomplete === undefined; n++) {
      const next = raw.indexOf(';', at + 1);
      const item = raw.slice(at + 1, next < 0 ? raw.length : next);
      const eq = item.indexOf('=');
      if (eq > 0) run.value('path', `${index};${decodeComponent(item.slice(0, eq), false)}`, decodeComponent(item.slice(eq + 1), false), false);
      at = next;
    }
  }

  /** The body, by its media type. */
  inspectBody(run: Inspection, req: RawRequest, skip?: SkipSet): void {
    this.body(run, req, skip);
    this.facts.release();
  }

  private body(run: Inspection, req: RawRequest, skip?: SkipSet): void {
    const body = req.body!;
    const ctRaw = req.headers['content-type'];
    const ct = (typeof ctRaw === 'string' ? ctRaw : '').toLowerCase();
    const semi = ct.indexOf(';');
    const base = (semi < 0 ? ct : ct.slice(0, semi)).trim();
    if (base === 'application/json' || base.endsWith('+json')) {
      this.json(run, body.toString('utf8'), '', 'body', skip);
    } else if (base === 'application/x-www-form-urlencoded') {
      // `charset=ibm037`: names and values are read as the EBCDIC text the server will decode
      const ebcdic = semi < 0 ? undefined : ebcdicTable(charsetOf(ct.slice(semi)));
      this.pairs(run, body.toString('latin1'), 'form', skip, req.method, ebcdic);
    } else if (base === 'multipart/form-data' || base === 'multipart/related' || base === 'multipart/mixed') {
      // (related: SOAP with MTOM attachments, DICOMweb; mixed: batch APIs, one request per part)
      this.multipart(run, body, typeof ctRaw === 'string' ? ctRaw : '', skip);
    } else if (base === 'application/xml' || base === 'text/xml' || base.endsWith('+xml')) {
      this.xml(run, body.toString('utf8'));
    } else if (binaryType(base) && !plainText(body)) {
      // A body of a binary type whose bytes are no text (an image `PUT` to storage, a tus
      // upload chunk, a framed binary protocol): its NULs and control bytes are its format, not
      // an anomaly. Media (not UTF-8) is read for hidden server-side code only, as a binary file
      // part; a body that is valid UTF-8 (frames of ASCII strings: Jenkins' CLI protocol) is
      // read as the strings it holds, each run of printable text as a value
      if (isUtf8(body)) this.printableRuns(run, body.toString('utf8'));
      else this.serverCode(run, '', body, 'body');
    } else if (base.startsWith('text/') || base === '' || isUtf8(body)) {
      // Any other text is inspected whole; binary bodies (images, archives) are not text to inject into.
      if (base.startsWith('text/') || isUtf8(body)) {
        const ebcdic = semi < 0 ? undefined : ebcdicTable(charsetOf(ct.slice(semi)));
        const text = ebcdic === undefined ? body.toString('utf8') : fromEbcdic(body.toString('latin1'), ebcdic);
        // … unless it is JSON or XML under another name (`application/ejson`, `text/json`,
        // `text/x-opml`, no type): then member by member or element by element, as its reader
        // will see it; what does not parse, whole
        if (jsonStart(text)) {
          if (!this.json(run, text, '', 'body', skip, false)) run.value('body', '', text, false);
        } else if (looksXml(body)) {
          this.xml(run, text, 'xml', '', false);
        } else {
          run.value('body', '', text, false);
        }
      }
    }
  }

  /**
   * A JSON text, member by member. `declared`: the media type said JSON, so what does not parse
   * is refused (and read whole); a text that only looks like JSON answers false instead, and
   * the caller reads it whole.
   */
  private json(run: Inspection, text: string, base: string, location: InputLocation, skip?: SkipSet, declared = true): boolean {
    // Detectors get the member name (what a `file` or `redirect_uri` rule reads), or the whole
    // pointer below prototype-ish members and wherever exclusions or a skip set name inputs by
    // pointer. Pointers are built only when something reads them.
    const pointers = skip !== undefined || this.exclusions.length > 0;
    const skipLast = skip === undefined ? undefined : lastSegments(skip);
    const r = scanJsonRanges(text, this.options.limits.maxDepth, (src, start, end, isKey, path) => {
      let name = isKey && (protoPath(path) || dollarKey(path)) ? jsonPointer(path, base) : undefined;
      if (!isKey && skipLast !== undefined) {
        // Only a value whose member name ends a skipped pointer can be skipped.
        const last = path.length === 0 ? undefined : path[path.length - 1];
        if (last === undefined || skipLast.has(typeof last === 'number' ? String(last) : last)) {
          name ??= jsonPointer(path, base);
          if (skip!.has(skipKey('body', name))) return true;
        }
      }
      if (!isKey && graphqlQuery(path) && this.graphql(run, location, name ?? jsonPointer(path, base), src.slice(start, end))) return run.incomplete === undefined;
      run.valueIn(location, name, src, start, end, isKey, false, path, base, undefined, pointers);
      if (!isKey && end - start >= 4 && jsonish(src.charCodeAt(start), src.charCodeAt(end - 1))) {
        // a string that holds JSON (`"filter": "{\"id\": …}"`; the range is the decoded string): its members too, one level
        this.embeddedJson(run, location, name ?? jsonPointer(path, base), src.slice(start, end));
      }
      return run.incomplete === undefined;
    });
    if (r === 'malformed' || r === 'too-deep') {
      if (!declared) return false;
      run.hit(MALFORMED_BODY(r === 'too-deep' ? 'JSON nested too deep' : 'malformed JSON'), location, base, false, '');
      // What did not parse is still inspected as text.
      run.value(location, base, text, false);
    }
    return true;
  }

  /**
   * An XML document: XXE and bombs, then each name, attribute and text as a value named
   * `<base><path>` (detectors see the XML path alone). A document that does not parse is read
   * whole as text; as a request body it is refused too (`refuseMalformed`), as an uploaded file
   * it is not.
   */
  private xml(run: Inspection, text: string, location: InputLocation = 'xml', base = '', refuseMalformed = true): void {
    const limits = this.options.limits;
    const scan = scanXml(text, { maxBytes: limits.maxBytes, maxDepth: limits.maxDepth, maxItems: limits.maxItems });
    if (scan.hit !== undefined) run.hit(scan.hit, location, base, false, '');
    if (scan.error !== undefined) {
      if (refuseMalformed) run.hit(MALFORMED_BODY('malformed XML'), location, base, false, '');
      run.value(location, base, text, false);
      return;
    }
    for (const leaf of scan.leaves) {
      run.value(location, base + leaf.pointer, leaf.value, leaf.isKey, false, undefined, '', leaf.pointer);
      if (run.incomplete !== undefined) return;
    }
  }

  /** `a=1&b=2` (query strings and form bodies): names as keys, values; `+` is a space. */
  private pairs(run: Inspection, raw: string, location: 'query' | 'form', skip: SkipSet | undefined, method: string, ebcdic?: string): void {
    let start = 0;
    const n = raw.length;
    // names and values read, for parameters sent more than once (joined below)
    const seenNames: string[] = [];
    const seenValues: string[] = [];
    while (start <= n && run.incomplete === undefined) {
      let end = raw.indexOf('&', start);
      if (end < 0) end = n;
      if (end > start) {
        const eq = raw.indexOf('=', start);
        const hasValue = eq >= 0 && eq < end;
        let name = decodeComponent(raw.slice(start, hasValue ? eq : end), true);
        if (ebcdic !== undefined) name = fromEbcdic(name, ebcdic);
        run.value(location, name, name, true);
        // `name[0 or updatexml(…)#]` (Drupalgeddon): PHP and its frameworks hand each bracketed
        // key over on its own, where it may reach a query as a key of an array
        if (!plainName(name)) bracketKeys(run, location, name);
        if (hasValue) {
          let value = decodeComponent(raw.slice(eq + 1, end), true);
          if (ebcdic !== undefined) value = fromEbcdic(value, ebcdic);
          if (name === '_method') methodOverride(run, method, location, name, value, METHOD_PARAM);
          if (skip === undefined || !skip.has(skipKey(location === 'form' ? 'body' : 'query', location === 'form' ? '/' + name : name))) {
            if (name !== 'query' || !this.graphql(run, location, name, value)) run.value(location, name, value, false);
            this.embeddedJson(run, location, name, value);
            // `1 or 1=1`, `' or 'a'='a` sent as a whole item: a "name" that is no name is the
            // first half of a text cut at its `=`; the item is read whole too.
            if (!plainName(name)) run.value(location, name, name + '=' + value, false);
            if (seenNames.length < 64) {
              seenNames.push(name);
              seenValues.push(value);
            }
          }
        } else if (skip === undefined || !skip.has(skipKey(location === 'form' ? 'body' : 'query', location === 'form' ? '/' + name : name))) {
          run.value(location, name, name, false);
        }
      }
      start = end + 1;
    }
    if (seenNames.length >= 2 && run.incomplete === undefined) repeatedParameters(run, location, seenNames, seenValues);
  }

  /**
   * A parameter or cookie value that is a JSON object or array (`filter={"id":"…"}`): its
   * member names and strings are read one by one as well, named `<parameter>/<pointer>`, as
   * the application will see them once it parses the value. Inside the text as a whole, a
   * payload in a JSON string sits between double quotes that SQL and shells read as quoting.
   * What does not parse was already read whole.
   */
  private embeddedJson(run: Inspection, location: InputLocation, name: string, value: string): void {
    if (value.length < 4 || run.incomplete !== undefined) return;
    let a = 0;
    let b = value.length - 1;
    while (a < b && value.charCodeAt(a) <= 0x20) a++;
    while (b > a && value.charCodeAt(b) <= 0x20) b--;
    if (!jsonish(value.charCodeAt(a), value.charCodeAt(b))) return;
    scanJsonRanges(value, this.options.limits.maxDepth, (src, start, end, isKey, path) => {
      // an operator key (`$gte`) is read with its whole pointer: where it sits tells a filter from an injection
      run.valueIn(location, undefined, src, start, end, isKey, false, path, name, undefined, isKey && dollarKey(path));
      return run.incomplete === undefined;
    });
  }

  /**
   * The `query` of a GraphQL request, if it is a GraphQL document: its string literals, each
   * named `<name>/<field>/<argument>` (graphql.ts). False if it is not one (read it whole).
   */
  private graphql(run: Inspection, location: InputLocation, name: string, doc: string): boolean {
    const strings = graphqlStrings(doc, this.options.limits.maxItems);
    if (strings === undefined) return false;
    for (const s of strings) {
      if (run.incomplete !== undefined) break;
      run.value(location, `${name}/${s.field}/${s.arg}`, s.value, false, false, undefined, '', s.arg);
    }
    return true;
  }

  private cookies(run: Inspection, header: string): void {
    let start = 0;
    const n = header.length;
    while (start < n && run.incomplete === undefined) {
      let end = header.indexOf(';', start);
      if (end < 0) end = n;
      const eq = header.indexOf('=', start);
      const hasValue = eq >= 0 && eq < end;
      const name = header.slice(start, hasValue ? eq : end).trim();
      if (name !== '') run.value('cookie', name, name, true);
      if (hasValue) {
        let value = header.slice(eq + 1, end).trim();
        if (value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22) value = value.slice(1, -1);
        const decoded = decodeComponent(value, false);
        run.value('cookie', name, decoded, false);
        this.embeddedJson(run, 'cookie', name, decoded);
      }
      start = end + 1;
    }
  }

  /** RFC 7578 multipart/form-data: field names, file names, text parts (JSON parts as JSON). */
  private multipart(run: Inspection, body: Buffer, contentType: string, skip?: SkipSet): void {
    const boundary = boundaryOf(contentType);
    if (boundary === undefined) {
      run.hit(MALFORMED_BODY('multipart without boundary'), 'multipart', '', false, '');
      run.value('multipart', '', body.toString('latin1'), false);
      return;
    }
    const delim = Buffer.from('--' + boundary, 'latin1');
    let pos = body.indexOf(delim);
    if (pos < 0) {
      run.hit(MALFORMED_BODY('multipart boundary absent'), 'multipart', '', false, '');
      run.value('multipart', '', body.toString('latin1'), false);
      return;
    }
    // The preamble is ignored by parsers; an attack hidden there is inspected all the same.
    if (pos > 0) run.value('multipart', '', body.toString('latin1', 0, pos), false);
    for (;;) {
      pos += delim.length;
      if (body[pos] === 0x2d && body[pos + 1] === 0x2d) break; // closing delimiter
      if (body[pos] !== 0x0d || body[pos + 1] !== 0x0a) {
        run.hit(MALFORMED_BODY('malformed multipart delimiter'), 'multipart', '', false, '');
        break;
      }
      pos += 2;
      const headEnd = body.indexOf('\r\n\r\n', pos, 'latin1');
      if (headEnd < 0) {
        run.hit(MALFORMED_BODY('multipart part without header end'), 'multipart', '', false, '');
        break;
      }
      const head = body.toString('latin1', pos, headEnd);
      const next = body.indexOf(Buffer.from('\r\n--' + boundary, 'latin1'), headEnd + 4);
      if (next < 0) {
        run.hit(MALFORMED_BODY('multipart without closing delimiter'), 'multipart', '', false, '');
        run.value('multipart', '', body.toString('latin1', headEnd + 4), false);
        break;
      }
      const part = body.subarray(headEnd + 4, next);
      this.part(run, head, part, skip);
      if (run.incomplete !== undefined) return;
      pos = next + 2;
    }
  }

  private part(run: Inspection, head: string, content: Buffer, skip?: SkipSet): void {
    let name = '';
    let filename: string | undefined;
    let type = '';
    // MIME part headers may be folded (a line that starts with a blank continues the one
    // before): unfolded first, so a `filename=` on the next line is read with its header.
    const lines: string[] = [];
    for (const l of head.split('\r\n')) {
      const c0 = l.charCodeAt(0);
      if ((c0 === 0x20 || c0 === 0x09) && lines.length > 0) lines[lines.length - 1] += ' ' + l.trim();
      else lines.push(l);
    }
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon < 0) {
        // not a header line: read all the same, nothing in a request goes uninspected
        if (line !== '') run.value('multipart', `${name || '?'}:`, line, false);
        continue;
      }
      const hname = line.slice(0, colon).trim().toLowerCase();
      const hvalue = line.slice(colon + 1).trim();
      // Header values of parts are inspected: attacks hide in Content-Type and Content-Disposition too.
      run.value('multipart', `${name || '?'}:${hname}`, hvalue, false);
      if (hname === 'content-disposition') {
        name = dispositionParam(hvalue, 'name') ?? '';
        filename = dispositionParam(hvalue, 'filename');
      } else if (hname === 'content-type') {
        type = hvalue.toLowerCase();
      }
    }
    run.value('multipart', name, name, true);
    if (filename !== undefined) run.value('multipart', name + '.filename', filename, false);
    const base = type.split(';')[0]!.trim();
    if (base === 'application/http' && this.batchDepth === 0 && this.embeddedRequest(run, content)) {
      // a batch API's sub-request (`multipart/mixed` of `application/http` parts): read as the request it is
    } else if (base === 'application/json' || base.endsWith('+json')) {
      this.json(run, content.toString('utf8'), '/' + name, 'multipart', skip);
    } else if (base === 'application/xml' || base === 'text/xml' || base.endsWith('+xml') || (filename !== undefined && looksXml(content))) {
      // XML files (an SVG avatar, a DOCX part, a document sent as `image/png`): XXE and bombs
      // as in an XML body, and its names, attributes and text as values (script in an SVG). A
      // file that does not parse is not refused for that: it is read whole as text instead.
      if (skip === undefined || !skip.has(skipKey('body', '/' + name))) this.xml(run, content.toString('utf8'), 'multipart', name, false);
    } else if ((filename === undefined && !binaryType(base)) || base.startsWith('text/') || ((base === '' || plainText(content)) && isUtf8(content))) {
      // … and a file declared as anything whose bytes are plain text: an ImageMagick MVG sent as
      // `image/png`, PostScript, YAML, CSV under a vendor type: what reads it reads text
      if (skip === undefined || !skip.has(skipKey('body', '/' + name))) run.value('multipart', name, content.toString(isUtf8(content) ? 'utf8' : 'latin1'), false);
    } else if (skip === undefined || !skip.has(skipKey('body', '/' + name))) {
      this.serverCode(run, name, content);
    }
  }

  /**
   * Each run of at least 4 characters without a control character, read as a body value of its
   * own (the strings of a frame are separate arguments, not lines of one text). Every run is
   * read: the request's inspection budget bounds them as any values, and past it the request is
   * refused, never passed with strings unread.
   */
  private printableRuns(run: Inspection, text: string): void {
    let start = 0;
    for (let i = 0; i <= text.length; i++) {
      const c = i < text.length ? text.charCodeAt(i) : 0;
      if (c >= 0x20 || c === 0x09) continue;
      if (i - start >= 4) {
        run.value('body', '', text.slice(start, i), false);
        if (run.incomplete !== undefined) return;
      }
      start = i + 1;
    }
  }

  /**
   * A binary file part is no text to inject into, but server-side code hidden in one is a web
   * shell (`GIF89a<?php eval($_POST['x']); ?>` passes an image check and runs once the file is
   * served through the interpreter): the text after each PHP (`<?php`, `<?=`) or ASP/JSP
   * (`<%`) opening is inspected. At most SERVER_CODE_PROBES openings, SERVER_CODE_WINDOW bytes each.
   */
  private serverCode(run: Inspection, name: string, content: Buffer, location: InputLocation = 'multipart'): void {
    let found = 0;
    for (const open of SERVER_CODE_OPENERS) {
      let k = content.indexOf(open);
      for (let probes = 0; k >= 0 && probes < SERVER_CODE_PROBES && found < SERVER_CODE_PROBES; probes++) {
        const c2 = content[k + 2] ?? 0;
        const c3 = content[k + 3] ?? 0;
        const c4 = content[k + 4] ?? 0;
        const limit = Math.min(content.length, k + SERVER_CODE_WINDOW);
        // `<?php` (the closing `?>` is optional); the short `<?=` and ASP/JSP `<%` only with their
        // closing tag in reach: three bytes occur by chance in large binaries, a pair rarely
        const php = open[1] === 0x3f && (c2 | 0x20) === 0x70 && (c3 | 0x20) === 0x68 && (c4 | 0x20) === 0x70;
        const shortTag = open[1] === 0x3f && c2 === 0x3d;
        const asp = open[1] === 0x25 && (c2 === 0x40 || c2 === 0x3d || c2 === 0x20 || c2 === 0x0a || c2 === 0x0d || c2 === 0x09);
        // … and code is text: the bytes read stop at the first that is not printable ASCII, and
        // a short or ASP tag counts only when its closing tag comes before that
        let end = k + 2;
        while (end < limit && printableAscii(content[end] ?? 0)) end++;
        const close = shortTag || asp ? content.indexOf(open[1] === 0x3f ? PHP_CLOSE : ASP_CLOSE, k + 3) : -1;
        if (php || ((shortTag || asp) && close >= 0 && close + 2 <= end)) {
          found++;
          run.value(location, name, content.toString('latin1', k, php ? end : close + 2), false);
          if (run.incomplete !== undefined) return;
        }
        k = content.indexOf(open, k + 2);
      }
    }
    // Perl's `qx{…}` in file metadata (the DjVu annotation that ExifTool evaluated,
    // CVE-2021-22205): only with its closing bracket inside the same run of printable text.
    let k = content.indexOf(PERL_QX);
    for (let probes = 0; k >= 0 && probes < SERVER_CODE_PROBES && found < SERVER_CODE_PROBES; probes++) {
      const o = content[k + 2];
      if (o === 0x7b || o === 0x28) {
        const limit = Math.min(content.length, k + SERVER_CODE_WINDOW);
        let end = k + 3;
        while (end < limit && printableAscii(content[end] ?? 0)) end++;
        const close = content.indexOf(o === 0x7b ? 0x7d : 0x29, k + 3);
        if (close >= 0 && close < end) {
          found++;
          run.value(location, name, content.toString('latin1', k, close + 1), false);
          if (run.incomplete !== undefined) return;
        }
      }
      k = content.indexOf(PERL_QX, k + 2);
    }
  }

  /** Which detector ids of `hit` are silenced at this input. */
  excluded(detector: string, category: string, location: InputLocation, name: string): boolean {
    for (const ex of this.exclusions) {
      if (!ex.all && !ex.ids.has(detector) && !ex.ids.has(category) && !ex.ids.has(familyOf(detector))) continue;
      if (ex.where.length === 0) return true;
      for (const [loc, pattern, prefix] of ex.where) {
        if (loc !== location && !(loc === 'body' && (location === 'form' || location === 'multipart' || location === 'xml'))) continue;
        // a name covers what was read inside its value too: `filter` covers `filter/id` (JSON in
        // the parameter), `/html` covers `/html/0` (JSON in the string), `file` covers `file/svg/@onload`
        if (prefix ? name.startsWith(pattern) : name === pattern || (name.startsWith(pattern) && name.charCodeAt(pattern.length) === 0x2f)) return true;
      }
    }
    return false;
  }

  get hasExclusions(): boolean {
    return this.exclusions.length > 0;
  }
}

/** The work of one request: budget, score, findings. */
export class Inspection implements ThreatVerdict {
  score = 0;
  incomplete: 'budget' | undefined = undefined;
  /** A refusal was already answered for this request (monitor mode goes on to the body). */
  reported = false;
  readonly findings: ThreatFinding[] = [];
  private bytes = 0;
  private items = 0;
  /** Hits offered to hit(), counted or not (a value without any is clean). */
  private offered = 0;
  /** detector id + location + name of hits already counted (one per detector and input). */
  private seen: Set<string> | undefined;

  constructor(private readonly engine: ThreatEngine) {}

  get block(): boolean {
    return this.incomplete !== undefined || this.score >= this.engine.options.threshold;
  }

  /**
   * One input. `name` may be undefined for JSON leaves when nobody needs it unless a hit is
   * found; it is then built from `path` and `base`. `pathOnly`: only detectors that read a
   * whole path (traversal, file inclusion, SSRF) run. `hint` is the name detectors see
   * (DetectContext.name); by default `name`, or the last member of `path`.
   */
  value(
    location: InputLocation,
    name: string | undefined,
    raw: string,
    isKey: boolean,
    pathOnly = false,
    path?: readonly (string | number)[],
    base = '',
    hint?: string,
  ): void {
    this.valueIn(location, name, raw, 0, raw.length, isKey, pathOnly, path, base, hint);
  }

  /** value() of `src.slice(start, end)`, which is copied only if a detector reads it. */
  valueIn(
    location: InputLocation,
    name: string | undefined,
    src: string,
    start: number,
    end: number,
    isKey: boolean,
    pathOnly = false,
    path?: readonly (string | number)[],
    base = '',
    hint?: string,
    pointerHint = false,
  ): void {
    const o = this.engine.options;
    // Refused already (or out of budget): the verdict cannot change, and a request made of
    // attacks must not buy more inspection than one that is refused at its first.
    if (this.incomplete !== undefined || this.score >= o.threshold) return;
    const length = end - start;
    this.items++;
    this.bytes += length;
    if (this.items > o.limits.maxItems || this.bytes > o.limits.maxBytes) {
      this.incomplete = 'budget';
      return;
    }
    if (length === 0) return;
    // Where the value is, for findings only: the name is resolved when a hit needs it.
    this.curName = name;
    this.curPath = path;
    this.curBase = base;
    this.curHint = hint ?? name;
    this.curPointerHint = pointerHint;
    const clean = location === 'header' ? this.engine.cleanHeaders : location === 'path' ? this.engine.cleanPaths : undefined;
    if (clean !== undefined && name !== undefined && length <= clean.maxLength && clean.max > 0) {
      // Header values and paths repeat across requests: a value found clean before is clean (clean-values.ts).
      const raw = start === 0 && end === src.length ? src : src.slice(start, end);
      if (clean.has(name, raw)) return;
      const before = this.offered;
      this.window(location, raw, 0, raw.length, isKey, pathOnly);
      if (this.offered === before) clean.add(name, raw);
      return;
    }
    if (length <= WINDOW) {
      this.window(location, src, start, end, isKey, pathOnly);
      return;
    }
    for (let from = start; from < end; from += WINDOW - WINDOW_OVERLAP) {
      const to = Math.min(end, from + WINDOW);
      this.window(location, src.slice(from, to), 0, to - from, isKey, pathOnly);
      if (from + WINDOW >= end || this.score >= o.threshold) break;
    }
  }

  /** One window of a value: src[start, end). */
  private window(location: InputLocation, src: string, start: number, end: number, isKey: boolean, pathOnly: boolean): void {
    const engine = this.engine;
    const facts = engine.facts;
    facts.scan(src, isKey, engine.literals, start, end);
    // Nothing to decode (the common case): the value is its own decoded text.
    if ((facts.classes & DECODE) === 0 && (facts.marks & MK.LONG_B64) === 0) {
      this.detect(location, isKey, pathOnly);
      return;
    }
    const given = facts.text;
    // Bytes of the head (and of form and multipart bodies) reach us one Latin-1 character per
    // byte: read them as the UTF-8 they are, so that `’`, `。` or `①` sent raw look as they
    // would percent-encoded.
    const raw = (facts.classes & CC.NONASCII) !== 0 && BYTE_LOCATIONS.has(location) ? utf8OfLatin1(given) : given;
    const norm = normalize(raw);
    const paranoia = engine.options.paranoia;
    if (norm.flags !== 0) {
      for (const a of ANOMALIES) if ((norm.flags & a.flag) !== 0 && a.hit.paranoia <= paranoia) this.hit(a.hit, location, this.resolvedName(), isKey, '');
    }
    if (norm.text !== given) facts.scan(norm.text, isKey, engine.literals);
    this.detect(location, isKey, pathOnly);
    if (norm.decoded64 !== undefined) {
      facts.scan(norm.decoded64, isKey, engine.literals);
      this.detect(location, isKey, pathOnly, true);
    }
  }

  private curName: string | undefined = undefined;
  private curPath: readonly (string | number)[] | undefined = undefined;
  private curBase = '';
  private curHint: string | undefined = undefined;
  /** Without a name or hint, detectors see the JSON pointer (else the member name). */
  private curPointerHint = false;

  private resolvedName(): string {
    return this.curName ?? (this.curPath !== undefined ? jsonPointer(this.curPath, this.curBase) : this.curBase);
  }

  /** The name detectors see: the given hint or name, else the pointer or the member name (or index) the JSON path ends with. */
  private hintName(): string {
    if (this.curHint === undefined && this.curPointerHint) this.curHint = this.resolvedName();
    if (this.curHint === undefined) {
      const path = this.curPath;
      const last = path === undefined ? undefined : path[path.length - 1];
      this.curHint = last === undefined ? '' : String(last);
    }
    return this.curHint;
  }

  /**
   * Runs the detectors on the value whose facts are in engine.facts. `from64`: the facts are
   * of text decoded from base64 in the value. Line breaks there are the
   * decoded document's own (a MIME message in Gmail's `raw`, a PEM, a YAML file): the CRLF
   * detector, which asks where a break would land in a header, does not read it.
   */
  private detect(location: InputLocation, isKey: boolean, pathOnly: boolean, from64 = false): void {
    const engine = this.engine;
    const paranoia = engine.options.paranoia;
    const gated = engine.gated;
    const facts = engine.facts;
    facts.nameOf = this;
    facts.location = location;
    let text: string | undefined;
    let lower: string | undefined;
    let ctx: DetectContext | undefined;
    const plan = pathOnly ? engine.wholePath : engine.byLocation.get(location)!;
    let select: ((facts: ValueFacts) => number) | undefined;
    let mask = 0;
    if (gated && plan.select !== undefined) {
      // One gate for all: most values stop here.
      select = plan.select;
      mask = select(facts);
      if (mask === 0) return;
    }
    for (const d of plan.detectors) {
      if (from64 && d.category === 'crlf') continue;
      if (gated) {
        const g = d.shared;
        if (g !== undefined) {
          if (g.select !== select) {
            select = g.select;
            mask = select(facts);
          }
          if ((mask & g.bit) === 0) continue;
        } else if (d.gate !== undefined && !d.gate(facts)) continue;
      }
      // Lower case costs a copy only when there is something to lower.
      text ??= facts.text;
      lower ??= (facts.marks & MK.UPPER) === 0 && (facts.classes & CC.NONASCII) === 0 ? text : text.toLowerCase();
      ctx ??= { paranoia, location, name: this.hintName(), isKey };
      let hit: Hit | undefined;
      try {
        hit = d.detect(text, lower, ctx);
      } catch {
        // A detector bug must not open a hole: count it as a notice and go on.
        hit = { detector: `${d.id}.error`, category: d.category, severity: SEVERITY.notice, paranoia: 1, evidence: 'detector failed' };
      }
      if (hit !== undefined && hit.paranoia <= paranoia) {
        this.hit(hit, location, this.resolvedName(), isKey, hit.evidence);
        if (this.score >= engine.options.threshold) return;
      }
    }
  }

  /** For the gates that read the input's name (ValueFacts.name). */
  nameForGate(): string {
    return this.hintName();
  }

  /**
   * Whether the name detectors see contains `needle`, a word of letters and `_`: without
   * building a JSON pointer when the name would be one (a needle without `/`, `~` or digits
   * cannot span two segments or their escapes, so it is in the pointer iff it is in a segment).
   */
  nameHas(needle: string): boolean {
    const path = this.unbuiltPointer();
    if (path === undefined) return this.hintName().indexOf(needle) >= 0;
    if (this.curBase.indexOf(needle) >= 0) return true;
    for (const seg of path) if (typeof seg === 'string' && seg.indexOf(needle) >= 0) return true;
    return false;
  }

  /** `name.length > 5 && /file/i.test(name)` of the name detectors see (code.ts uploadName), pointers read by segment. */
  nameHasFile(): boolean {
    const path = this.unbuiltPointer();
    if (path !== undefined) {
      let file = FILE.test(this.curBase);
      for (let i = 0; !file && i < path.length; i++) {
        const seg = path[i];
        if (typeof seg === 'string' && FILE.test(seg)) file = true;
      }
      if (!file) return false;
    }
    const name = this.hintName();
    return name.length > 5 && FILE.test(name);
  }

  /** The path whose pointer is the name detectors see, while that pointer is not built yet. */
  private unbuiltPointer(): readonly (string | number)[] | undefined {
    return this.curHint === undefined && this.curPointerHint && this.curName === undefined ? this.curPath : undefined;
  }

  /** Records a hit if it counts at the configured paranoia level and is not excluded. */
  hit(hit: Hit, location: InputLocation, name: string, isKey: boolean, evidence: string): void {
    this.offered++;
    const engine = this.engine;
    if (hit.paranoia > engine.options.paranoia) return;
    if (engine.hasExclusions && engine.excluded(hit.detector, hit.category, location, name)) return;
    const key = hit.detector + '\0' + location + '\0' + name;
    this.seen ??= new Set();
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.score += hit.severity;
    if (this.findings.length < MAX_FINDINGS) {
      this.findings.push({
        detector: hit.detector,
        category: hit.category,
        severity: hit.severity,
        location,
        name: cut(name, 128),
        isKey,
        excerpt: location === 'cookie' || isSensitiveName(name.toLowerCase()) ? REDACTED : cut(evidence, MAX_EXCERPT),
      });
    }
  }
}

/** code.ts uploadName reads names that mention a file. */
const FILE = /file/i;

/**
 * HTTP parameter pollution: ASP.NET hands a parameter sent more than once to the application as
 * one value joined by commas, so `id=1` + `id=UNION` + `id=SELECT…`, with SQL comments opened at
 * the end of one value and closed at the start of the next, make a query no single part shows.
 * A repeated parameter is read joined as well (the first 64 parameters of a request).
 */
function repeatedParameters(run: Inspection, location: 'query' | 'form', names: readonly string[], values: readonly string[]): void {
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    let first = true;
    for (let j = 0; j < i; j++) if (names[j] === name) first = false;
    if (!first) continue;
    let joined: string | undefined;
    for (let j = i + 1; j < names.length; j++) {
      if (names[j] === name) joined = (joined ?? values[i]!) + ',' + values[j]!;
    }
    if (joined !== undefined) run.value(location, name, joined, false);
  }
}

/** The `charset` parameter of a media type's parameters (`; charset="ibm037"`), lower case, or ''. */
function charsetOf(params: string): string {
  const at = params.indexOf('charset=');
  if (at < 0) return '';
  let v = params.slice(at + 8);
  const semi = v.indexOf(';');
  if (semi >= 0) v = v.slice(0, semi);
  v = v.trim();
  if (v.length >= 2 && v.charCodeAt(0) === 0x22 && v.charCodeAt(v.length - 1) === 0x22) v = v.slice(1, -1);
  return v;
}

/** The text opens like a JSON object or array (after blanks). */
function jsonStart(text: string): boolean {
  let i = 0;
  while (i < text.length && text.charCodeAt(i) <= 0x20) i++;
  const c = text.charCodeAt(i);
  return c === 0x7b || c === 0x5b;
}

/** A GraphQL request's document: the member `query` of the body, or of a request in a batch (an array). */
function graphqlQuery(path: readonly (string | number)[]): boolean {
  const n = path.length;
  return path[n - 1] === 'query' && (n === 1 || (n === 2 && typeof path[0] === 'number'));
}

/** `{…}` or `[…]`. */
function jsonish(open: number, close: number): boolean {
  return (open === 0x7b && close === 0x7d) || (open === 0x5b && close === 0x5d);
}

/** The last segments (unescaped) of the body pointers in a skip set: which member names may end a skipped value. */
function lastSegments(skip: SkipSet): ReadonlySet<string> {
  const out = new Set<string>();
  const prefix = skipKey('body', '');
  for (const key of skip) {
    if (!key.startsWith(prefix)) continue;
    const seg = key.slice(key.lastIndexOf('/') + 1);
    out.add(seg.indexOf('~') < 0 ? seg : seg.replace(/~1/g, '/').replace(/~0/g, '~'));
  }
  return out;
}

/** A path through `constructor`, `prototype` or `__proto__` (prototype pollution reads the whole pointer). */
function protoPath(path: readonly (string | number)[]): boolean {
  for (const seg of path) if (seg === 'constructor' || seg === 'prototype' || seg === '__proto__') return true;
  return false;
}

/** The last member name of a JSON path starts with `$` (a query operator, a `$ref` …). */
function dollarKey(path: readonly (string | number)[]): boolean {
  const last = path[path.length - 1];
  return typeof last === 'string' && last.charCodeAt(0) === 0x24;
}

function familyOf(detector: string): string {
  const dot = detector.indexOf('.');
  return dot < 0 ? detector : detector.slice(0, dot);
}

function compileExclusion(rule: ExclusionRule): CompiledExclusion {
  return {
    all: rule.detectors.length === 0,
    ids: new Set(rule.detectors),
    where: rule.locations.map((p) => {
      const colon = p.indexOf(':');
      const loc = colon < 0 ? p : p.slice(0, colon);
      const pattern = colon < 0 ? '*' : p.slice(colon + 1);
      const prefix = pattern.endsWith('*');
      return [loc, prefix ? pattern.slice(0, -1) : pattern, prefix] as const;
    }),
  };
}

/** Short, single-line, printable. */
function cut(s: string, max: number): string {
  let out = s.length > max ? s.slice(0, max) : s;
  // Control characters would make an event hard to read and could fake log lines.
  let clean = true;
  for (let i = 0; i < out.length; i++) {
    const c = out.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) {
      clean = false;
      break;
    }
  }
  if (!clean) {
    let r = '';
    for (let i = 0; i < out.length; i++) {
      const c = out.charCodeAt(i);
      r += c < 0x20 || c === 0x7f ? `\\x${c.toString(16).padStart(2, '0')}` : out[i];
    }
    out = r.slice(0, max * 2);
  }
  return out;
}

/**
 * One percent-decoding round of a URL component (`+` as space for query and form), lenient:
 * invalid escapes stay as they are, and bytes that are not UTF-8 decode as Latin-1 (legacy
 * clients send `%F1` for ñ). Further rounds are normalize()'s job.
 */
export function decodeComponent(s: string, plusIsSpace: boolean): string {
  if (s.indexOf('%') < 0 && (!plusIsSpace || s.indexOf('+') < 0)) return s;
  const src = plusIsSpace ? s.replace(/\+/g, ' ') : s;
  try {
    return decodeURIComponent(src);
  } catch {
    // Decode byte runs one at a time: UTF-8 where valid, else Latin-1.
    let out = '';
    let i = 0;
    while (i < src.length) {
      const c = src.charCodeAt(i);
      if (c === 0x25 && i + 2 < src.length + 0 && isHexPair(src, i + 1)) {
        const bytes: number[] = [];
        while (i + 2 < src.length + 1 && src.charCodeAt(i) === 0x25 && isHexPair(src, i + 1)) {
          bytes.push(parseInt(src.slice(i + 1, i + 3), 16));
          i += 3;
        }
        const buf = Buffer.from(bytes);
        out += isUtf8(buf) ? buf.toString('utf8') : buf.toString('latin1');
      } else {
        out += src[i];
        i++;
      }
    }
    return out;
  }
}

function isHexPair(s: string, i: number): boolean {
  if (i + 1 >= s.length) return false;
  const a = s.charCodeAt(i) | 0x20;
  const b = s.charCodeAt(i + 1) | 0x20;
  return ((a >= 0x30 && a <= 0x39) || (a >= 0x61 && a <= 0x66)) && ((b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66));
}

/** The boundary parameter, case preserved (boundaries are case-sensitive). */
function boundaryOf(contentType: string): string | undefined {
  const i = contentType.toLowerCase().indexOf('boundary=');
  if (i < 0) return undefined;
  let b = contentType.slice(i + 9);
  const semi = b.indexOf(';');
  if (semi >= 0) b = b.slice(0, semi);
  b = b.trim();
  if (b.startsWith('"') && b.endsWith('"') && b.length >= 2) b = b.slice(1, -1);
  return b.length > 0 && b.length <= 70 ? b : undefined;
}

function dispositionParam(value: string, param: string): string | undefined {
  const lower = value.toLowerCase();
  let from = 0;
  for (;;) {
    const i = lower.indexOf(param + '=', from);
    if (i < 0) return undefined;
    // Must be a whole parameter name (`name=` is not the tail of `filename=`).
    const before = i === 0 ? ';' : lower[i - 1]!;
    if (before === ';' || before === ' ' || before === '\t') {
      let v = value.slice(i + param.length + 1);
      if (v.startsWith('"')) {
        const end = v.indexOf('"', 1);
        return end < 0 ? v.slice(1) : v.slice(1, end);
      }
      const semi = v.indexOf(';');
      if (semi >= 0) v = v.slice(0, semi);
      return v.trim();
    }
    from = i + 1;
  }
}
