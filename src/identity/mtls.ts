/**
 * Mutual-TLS client identity: maps a client certificate that the listener already verified
 * against its CA bundle to a Principal, through an ordered list of rules (first match wins),
 * and checks RFC 8705 certificate-bound tokens (`cnf.x5t#S256`) against the connection's
 * certificate.
 *
 * The certificate arrives as the listener's `ClientCertificate`: a subject/issuer string of
 * `KEY=value` pairs joined by `,` (Node's `getPeerCertificate()` object, flattened), Node's
 * `DNS:…`/`URI:…`/`email:…` SAN entries, and the SHA-256 fingerprint as colon-separated hex.
 * Everything is parsed with linear scans, never with regular expressions.
 *
 * Matching values are exact, or end in a single `*` meaning "starts with". DNS names compare
 * case-insensitively, fingerprints ignore case and colons, everything else is exact.
 */
import { timingSafeEqual } from 'node:crypto';
import type { ClientCertificate, Principal } from '../pipeline/types.js';
import { fail, type AuthFailure, type AuthResult } from './types.js';

export interface MtlsRule {
  readonly match: {
    readonly subjectCn?: string;
    readonly subject?: string;
    readonly sanDns?: string;
    readonly sanUri?: string;
    readonly sanEmail?: string;
    readonly fingerprint256?: string;
    readonly issuerCn?: string;
  };
  /** Principal id; default from `principalFrom`. */
  readonly id?: string;
  readonly roles?: readonly string[];
  readonly scopes?: readonly string[];
}

export interface MtlsOptions {
  readonly name: string;
  /** Where a rule without `id` takes the principal id from. A SAN type uses the value the rule matched, else the first of that type; `fingerprint` is the SHA-256 fingerprint as upper-case hex without colons. */
  readonly principalFrom: 'subject-cn' | 'san-uri' | 'san-dns' | 'san-email' | 'fingerprint';
  /** First match wins; when empty, any verified certificate is a principal with no roles/scopes. */
  readonly rules: readonly MtlsRule[];
}

/** One compiled match value: exact, or a prefix when the configured value ended in `*`. */
interface Pattern {
  readonly value: string;
  readonly prefix: boolean;
}

type MatchField = keyof MtlsRule['match'];

interface CompiledRule {
  readonly index: number;
  readonly patterns: ReadonlyMap<MatchField, Pattern>;
  readonly id: string | undefined;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
}

/** The parts of a certificate that rules look at, extracted once per authentication. */
interface CertView {
  readonly subjectCn: string | undefined;
  readonly issuerCn: string | undefined;
  readonly dns: readonly string[];
  readonly uri: readonly string[];
  readonly email: readonly string[];
  readonly fingerprint: string;
}

const MATCH_FIELDS: readonly MatchField[] = ['subjectCn', 'subject', 'sanDns', 'sanUri', 'sanEmail', 'fingerprint256', 'issuerCn'];

/** Longest attribute name recognised in a subject string (`CN`, `emailAddress`, `serialNumber`, dotted OIDs …). */
const MAX_ATTR_NAME = 64;

function isAttrNameChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2e;
}

/**
 * Length of an attribute name followed by `=` at `at`, or 0 when there is none. Bounded by
 * MAX_ATTR_NAME, so the whole scan below stays linear in the subject length.
 */
function attrNameAt(dn: string, at: number): number {
  const end = Math.min(dn.length, at + MAX_ATTR_NAME + 1);
  for (let i = at; i < end; i++) {
    const c = dn.charCodeAt(i);
    if (c === 0x3d) return i > at ? i - at : 0;
    if (!isAttrNameChar(c)) return 0;
  }
  return 0;
}

/**
 * Value of attribute `key` in a subject/issuer string as the listener builds it
 * (`CN=client-alice,O=Portcullis Tests`). A `,` starts a new attribute only when followed by
 * `name=`; `\,` is an escaped comma (RFC 4514 style). Because the listener flattens Node's
 * object with unescaped `,`, a string in which some attribute name occurs twice cannot be read
 * unambiguously (Node gives each name once, so a repeat means a value contained `,name=`);
 * then undefined is returned and no rule on that attribute can match.
 */
export function dnAttribute(dn: string, key: string): string | undefined {
  let found: string | undefined;
  const seen = new Set<string>();
  let i = 0;
  while (i < dn.length) {
    const nameLen = attrNameAt(dn, i);
    if (nameLen === 0) return undefined; // not the listener's format
    const name = dn.slice(i, i + nameLen);
    if (seen.has(name)) return undefined;
    seen.add(name);
    // Scan the value up to the next unescaped `,name=`.
    let j = i + nameLen + 1;
    let value = '';
    let next = dn.length;
    while (j < dn.length) {
      const c = dn.charCodeAt(j);
      if (c === 0x5c && j + 1 < dn.length) {
        value += dn[j + 1];
        j += 2;
        continue;
      }
      if (c === 0x2c && attrNameAt(dn, j + 1) > 0) {
        next = j + 1;
        break;
      }
      value += dn[j];
      j++;
    }
    if (name === key && found === undefined) found = value;
    i = next;
  }
  return found;
}

/** One SAN entry's value, `undefined` for a fragment of a quoted value that the listener split on `,`. */
function sanValue(raw: string): string | undefined {
  if (raw.indexOf('"') === -1) return raw;
  // Node prints values with special characters as JSON strings: `URI:"a,b"`.
  if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) {
    try {
      const v: unknown = JSON.parse(raw);
      return typeof v === 'string' ? v : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function certView(cert: ClientCertificate): CertView {
  const dns: string[] = [];
  const uri: string[] = [];
  const email: string[] = [];
  for (const entry of cert.subjectAltNames) {
    const colon = entry.indexOf(':');
    if (colon <= 0) continue;
    const type = entry.slice(0, colon);
    const value = sanValue(entry.slice(colon + 1));
    if (value === undefined || value.length === 0) continue;
    if (type === 'DNS') dns.push(value);
    else if (type === 'URI') uri.push(value);
    else if (type === 'email') email.push(value);
  }
  return {
    subjectCn: dnAttribute(cert.subject, 'CN'),
    issuerCn: dnAttribute(cert.issuer, 'CN'),
    dns,
    uri,
    email,
    fingerprint: normalizeFingerprint(cert.fingerprint256),
  };
}

function normalizeFingerprint(fp: string): string {
  let out = '';
  for (let i = 0; i < fp.length; i++) {
    const ch = fp[i]!;
    if (ch !== ':') out += ch.toUpperCase();
  }
  return out;
}

function matches(p: Pattern, value: string, caseInsensitive: boolean): boolean {
  const v = caseInsensitive ? value.toLowerCase() : value;
  return p.prefix ? v.startsWith(p.value) : v === p.value;
}

/** The first of `values` the pattern matches, or undefined. */
function firstMatch(p: Pattern, values: readonly string[], caseInsensitive: boolean): string | undefined {
  for (const v of values) if (matches(p, v, caseInsensitive)) return v;
  return undefined;
}

function compilePattern(name: string, index: number, field: MatchField, raw: string): Pattern {
  const star = raw.indexOf('*');
  if (raw.length === 0) throw new Error(`mtls scheme ${name}: rules[${index}].match.${field} is empty`);
  if (star !== -1 && star !== raw.length - 1) {
    throw new Error(`mtls scheme ${name}: rules[${index}].match.${field} may only contain '*' as its last character`);
  }
  if (field === 'fingerprint256') {
    if (star !== -1) throw new Error(`mtls scheme ${name}: rules[${index}].match.fingerprint256 must be exact (no '*')`);
    const fp = normalizeFingerprint(raw);
    if (fp.length !== 64 || !isHex(fp)) {
      throw new Error(`mtls scheme ${name}: rules[${index}].match.fingerprint256 must be a SHA-256 fingerprint (64 hex digits, colons allowed)`);
    }
    return { value: fp, prefix: false };
  }
  const prefix = star !== -1;
  const body = prefix ? raw.slice(0, -1) : raw;
  return { value: field === 'sanDns' ? body.toLowerCase() : body, prefix };
}

function isHex(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

export class MtlsAuthenticator {
  private readonly rules: readonly CompiledRule[];

  constructor(private readonly opts: MtlsOptions) {
    this.rules = opts.rules.map((rule, index) => {
      const patterns = new Map<MatchField, Pattern>();
      for (const field of MATCH_FIELDS) {
        const raw = rule.match[field];
        if (raw !== undefined) patterns.set(field, compilePattern(opts.name, index, field, raw));
      }
      if (patterns.size === 0) throw new Error(`mtls scheme ${opts.name}: rules[${index}].match names no field`);
      if (rule.id !== undefined && rule.id.length === 0) throw new Error(`mtls scheme ${opts.name}: rules[${index}].id is empty`);
      return Object.freeze({
        index,
        patterns,
        id: rule.id,
        roles: Object.freeze([...(rule.roles ?? [])]),
        scopes: Object.freeze([...(rule.scopes ?? [])]),
      });
    });
  }

  authenticate(cert: ClientCertificate | undefined): AuthResult {
    if (cert === undefined) return fail('client_certificate_required', `${this.opts.name}: no verified client certificate on the connection`);
    const view = certView(cert);
    if (this.rules.length === 0) return this.principal(cert, view, undefined, new Map(), [], []);
    for (const rule of this.rules) {
      const hits = this.match(rule, cert, view);
      if (hits !== undefined) return this.principal(cert, view, rule.id, hits, rule.roles, rule.scopes);
    }
    return fail('client_certificate_unmapped', `${this.opts.name}: certificate ${cert.fingerprint256} matches no rule`);
  }

  /** The SAN values that matched, per field, when every pattern of the rule matches; else undefined. */
  private match(rule: CompiledRule, cert: ClientCertificate, view: CertView): Map<MatchField, string> | undefined {
    const hits = new Map<MatchField, string>();
    for (const [field, p] of rule.patterns) {
      let hit: string | undefined;
      switch (field) {
        case 'subjectCn':
          hit = view.subjectCn !== undefined && matches(p, view.subjectCn, false) ? view.subjectCn : undefined;
          break;
        case 'issuerCn':
          hit = view.issuerCn !== undefined && matches(p, view.issuerCn, false) ? view.issuerCn : undefined;
          break;
        case 'subject':
          hit = matches(p, cert.subject, false) ? cert.subject : undefined;
          break;
        case 'sanDns':
          hit = firstMatch(p, view.dns, true);
          break;
        case 'sanUri':
          hit = firstMatch(p, view.uri, false);
          break;
        case 'sanEmail':
          hit = firstMatch(p, view.email, false);
          break;
        case 'fingerprint256':
          hit = view.fingerprint === p.value ? cert.fingerprint256 : undefined;
          break;
      }
      if (hit === undefined) return undefined;
      hits.set(field, hit);
    }
    return hits;
  }

  private principal(
    cert: ClientCertificate,
    view: CertView,
    ruleId: string | undefined,
    hits: ReadonlyMap<MatchField, string>,
    roles: readonly string[],
    scopes: readonly string[],
  ): AuthResult {
    let thumbprint: string;
    try {
      thumbprint = certificateThumbprint(cert);
    } catch {
      return fail('client_certificate_unmapped', `${this.opts.name}: certificate fingerprint is not a SHA-256 fingerprint`);
    }
    const id = ruleId ?? this.defaultId(view, hits);
    if (id === undefined) {
      return fail('client_certificate_unmapped', `${this.opts.name}: certificate has no ${this.opts.principalFrom} to name the principal`);
    }
    const principal: Principal = Object.freeze({
      id,
      type: 'mtls',
      scopes,
      roles,
      claims: Object.freeze({
        subject: cert.subject,
        issuer: cert.issuer,
        san: Object.freeze([...cert.subjectAltNames]),
        fingerprint256: cert.fingerprint256,
      }),
      credentialId: `x5t#S256:${thumbprint}`,
    });
    return { ok: true, principal, expiresAt: undefined };
  }

  /** Principal id from `principalFrom`; for a SAN, the value the rule matched if it named that SAN type. */
  private defaultId(view: CertView, hits: ReadonlyMap<MatchField, string>): string | undefined {
    switch (this.opts.principalFrom) {
      case 'subject-cn':
        return view.subjectCn === undefined || view.subjectCn.length === 0 ? undefined : view.subjectCn;
      case 'san-uri':
        return hits.get('sanUri') ?? view.uri[0];
      case 'san-dns':
        return hits.get('sanDns') ?? view.dns[0];
      case 'san-email':
        return hits.get('sanEmail') ?? view.email[0];
      case 'fingerprint':
        return view.fingerprint.length === 0 ? undefined : view.fingerprint;
    }
  }
}

/**
 * RFC 8705 §3.1: base64url(SHA-256(DER)) of the certificate, computed from
 * ClientCertificate.fingerprint256 (hex with colons). Throws on a value that is not 32 bytes of hex.
 */
export function certificateThumbprint(cert: ClientCertificate): string {
  const hex = normalizeFingerprint(cert.fingerprint256);
  if (hex.length !== 64 || !isHex(hex)) throw new TypeError('client certificate fingerprint256 is not a SHA-256 fingerprint');
  return Buffer.from(hex, 'hex').toString('base64url');
}

/**
 * RFC 8705 binding check for a token principal (JWT or introspection) presented on a
 * connection: if claims.cnf['x5t#S256'] exists it must equal the connection certificate's
 * thumbprint (constant-time), else token_binding_mismatch; if `required` and the token has no
 * cnf, token_binding_mismatch. Returns undefined when fine.
 */
export function checkCertificateBinding(
  claims: Readonly<Record<string, unknown>>,
  cert: ClientCertificate | undefined,
  required: boolean,
): AuthFailure | undefined {
  const cnf = claims['cnf'];
  const bound = typeof cnf === 'object' && cnf !== null && !Array.isArray(cnf) ? (cnf as Record<string, unknown>)['x5t#S256'] : undefined;
  if (bound === undefined) {
    return required ? fail('token_binding_mismatch', 'token is not bound to a client certificate (no cnf.x5t#S256)') : undefined;
  }
  if (typeof bound !== 'string' || bound.length === 0) return fail('token_binding_mismatch', 'token cnf.x5t#S256 is not a string');
  if (cert === undefined) return fail('token_binding_mismatch', 'token is bound to a client certificate but the connection has none');
  let actual: string;
  try {
    actual = certificateThumbprint(cert);
  } catch {
    return fail('token_binding_mismatch', 'connection certificate has no usable fingerprint');
  }
  const a = Buffer.from(actual, 'utf8');
  const b = Buffer.from(bound, 'utf8');
  // Lengths are public (a thumbprint is always 43 characters); the contents are compared in constant time.
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    return fail('token_binding_mismatch', 'token cnf.x5t#S256 does not match the connection certificate');
  }
  return undefined;
}
