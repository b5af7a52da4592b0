/**
 * Log4Shell / JNDI lookup injection (category `jndi`).
 *
 * Log4j 2 evaluates `${prefix:name}` lookups in logged strings, innermost first, and a lookup
 * result may itself form new lookup syntax. Attackers hide `${jndi:ldap://…}` behind nested
 * lookups that resolve to single characters: `${lower:J}`, `${upper:n}`, `${::-d}`,
 * `${env:NOPE:-i}`, `${date:'j'}`, `$${…}` escapes … This detector runs a small, bounded
 * evaluator over the (lower-cased) text: each `${…}` is replaced by the literal it may resolve
 * to (its default value, the case-mapped argument, the quoted date pattern) and the result is
 * evaluated again a few times; a lookup whose resolved name starts with `jndi:` is an attack.
 * Exfiltration lookups (`${env:…}`, `${sys:…}`, `${ctx:…}` …) count fully when they sit in a
 * URL-like value, and at a higher paranoia level otherwise.
 *
 * Linear: every pass copies the text at most once (output never grows), the nesting depth and
 * the number of passes are bounded.
 */
import type { DetectContext, Detector, Hit } from '../types.js';

const MAX_DEPTH = 48;
const MAX_PASSES = 4;

/** Log4j lookups that read secrets or environment facts (exfiltration through DNS/LDAP). */
const EXFIL_LOOKUPS: ReadonlySet<string> = new Set([
  'env', 'sys', 'ctx', 'java', 'main', 'docker', 'k8s', 'kubernetes', 'spring', 'web', 'bundle',
  'jvmrunargs', 'log4j', 'sd', 'map', 'marker', 'event', 'hostname',
]);

/** Lookups used only to build characters (obfuscation). */
const OBFUSCATION_LOOKUPS: ReadonlySet<string> = new Set(['lower', 'upper', 'date', 'base64']);

/** JNDI providers an attacker names after `jndi:`. */
const JNDI_PROTOCOLS = ['ldap', 'ldaps', 'rmi', 'dns', 'iiop', 'corba', 'nds', 'nis', 'http', 'https', 'iiopname'];

/**
 * Apache Commons Text interpolators that run code or fetch resources (Text4Shell,
 * CVE-2022-42889): `${script:javascript:…}`, `${url:UTF-8:http://…}`, `${dns:…}`, `${file:…}`.
 */
const CODE_LOOKUPS: ReadonlySet<string> = new Set(['script', 'url', 'dns', 'file', 'xml', 'properties', 'const']);

interface EvalState {
  jndi: boolean;
  code: string | undefined;
  exfil: string | undefined;
  obfuscation: boolean;
}

/** Is `c` a character of a lookup prefix (`env`, `k8s`, `sys` …)? */
function isPrefixChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || c === 45;
}

/**
 * Resolve the content of one `${…}` (already free of nested lookups) to its possible literal.
 * Returns the replacement text.
 */
function resolve(raw: string, st: EvalState): string {
  // Decisions on the lower-cased content; base64 decoding needs the original case.
  const inner = raw.toLowerCase();
  // Tolerate blanks the attacker may add: `${ jndi:…}` is not valid Log4j, but cheap to see.
  let s = 0;
  while (s < inner.length && (inner.charCodeAt(s) === 32 || inner.charCodeAt(s) === 9)) s++;
  if (inner.startsWith('jndi:', s)) {
    st.jndi = true;
    return '';
  }
  // Default-value form `${anything:-value}` (includes `${::-x}` and `${env:NOPE:-x}`).
  const dflt = inner.indexOf(':-');
  const colon = inner.indexOf(':', s);
  let prefix = '';
  if (colon > s) {
    let ok = true;
    for (let i = s; i < colon; i++) {
      if (!isPrefixChar(inner.charCodeAt(i))) {
        ok = false;
        break;
      }
    }
    if (ok) prefix = inner.slice(s, colon);
  }
  if (prefix !== '' && CODE_LOOKUPS.has(prefix) && st.code === undefined) {
    // `${script:js:…}` needs an engine name, `${url:UTF-8:…}` a charset, `${dns:…}` / `${file:…}` an argument
    const rest = inner.slice(colon + 1);
    if (prefix === 'script' || prefix === 'url' || prefix === 'file' || prefix === 'xml' || prefix === 'properties' ? rest.indexOf(':') > 0 : rest.length > 0) {
      st.code = '${' + inner.slice(s, Math.min(inner.length, s + 24));
    }
  }
  if (prefix === 'base64decoder') {
    st.obfuscation = true;
    return decodeBase64(raw.slice(colon + 1));
  }
  if (prefix !== '' && EXFIL_LOOKUPS.has(prefix) && (dflt < 0 || dflt > colon)) {
    if (st.exfil === undefined) st.exfil = '${' + inner.slice(s, Math.min(inner.length, s + 24));
  }
  if (dflt >= 0) {
    // A default of one or two characters builds a keyword letter by letter.
    if (inner.length - dflt - 2 <= 2) st.obfuscation = true;
    return raw.slice(dflt + 2);
  }
  if (prefix === 'lower' || prefix === 'upper') {
    // Case mapped as Java maps it: `${upper:ı}` (dotless i) is `I`, `${upper:ſ}` (long s) is `S`.
    st.obfuscation = true;
    const arg = raw.slice(colon + 1);
    return prefix === 'upper' ? arg.toUpperCase() : arg.toLowerCase();
  }
  if (prefix === 'date') {
    // SimpleDateFormat: quoted text is literal.
    st.obfuscation = true;
    let out = '';
    const arg = raw.slice(colon + 1);
    let q = arg.indexOf("'");
    while (q >= 0) {
      const e = arg.indexOf("'", q + 1);
      if (e < 0) break;
      out += arg.slice(q + 1, e);
      q = arg.indexOf("'", e + 1);
    }
    return out;
  }
  if (prefix !== '' && OBFUSCATION_LOOKUPS.has(prefix)) st.obfuscation = true;
  // Unknown or unresolvable lookup: Log4j leaves it as written.
  return '${' + raw + '}';
}

/** Text of a base64 string (invalid characters end it); never longer than its input. */
function decodeBase64(b64: string): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < b64.length; i++) {
    const c = b64.charCodeAt(i);
    let v: number;
    if (c >= 65 && c <= 90) v = c - 65;
    else if (c >= 97 && c <= 122) v = c - 71;
    else if (c >= 48 && c <= 57) v = c + 4;
    else if (c === 43 || c === 45) v = 62;
    else if (c === 47 || c === 95) v = 63;
    else break;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((acc >> bits) & 0xff);
    }
  }
  return out;
}

/** One evaluation pass over `text`; returns the text with every complete lookup resolved. */
function evaluatePass(text: string, st: EvalState): string {
  // stack[0] is the top-level output; stack[k] the content of the k-th open `${`.
  const stack: string[] = [''];
  const n = text.length;
  let runStart = 0;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 36 /* $ */ && i + 1 < n && text.charCodeAt(i + 1) === 123 /* { */ && stack.length <= MAX_DEPTH) {
      stack[stack.length - 1] += text.slice(runStart, i);
      stack.push('');
      i += 2;
      runStart = i;
      continue;
    }
    if (c === 125 /* } */ && stack.length > 1) {
      const inner = (stack.pop() as string) + text.slice(runStart, i);
      stack[stack.length - 1] += resolve(inner, st);
      if (st.jndi) return '';
      i++;
      runStart = i;
      continue;
    }
    i++;
  }
  stack[stack.length - 1] += text.slice(runStart, n);
  // Unclosed lookups stay literal.
  while (stack.length > 1) {
    const inner = stack.pop() as string;
    stack[stack.length - 1] += '${' + inner;
  }
  return stack[0] ?? '';
}

/** `jndi:` followed by a provider scheme (`jndi:ldap:`), from `from`. */
function jndiProtocolAt(lower: string, from: number): number {
  let p = lower.indexOf('jndi:', from);
  while (p >= 0) {
    let q = p + 5;
    while (q < lower.length && (lower.charCodeAt(q) === 32 || lower.charCodeAt(q) === 9)) q++;
    for (const proto of JNDI_PROTOCOLS) {
      if (lower.startsWith(proto, q) && lower.charCodeAt(q + proto.length) === 58 /* : */) return p;
    }
    p = lower.indexOf('jndi:', p + 5);
  }
  return -1;
}

function isUrlLike(lower: string): boolean {
  return lower.includes('://') || lower.includes('ldap:') || lower.includes('rmi:') || lower.includes('dns:');
}

function scanJndi(text: string, lower: string, ctx: DetectContext): Hit | undefined {
  const dollar = lower.indexOf('${');
  const jndiAt = lower.indexOf('jndi');
  if (dollar < 0 && jndiAt < 0) return undefined;

  if (dollar >= 0) {
    const st: EvalState = { jndi: false, code: undefined, exfil: undefined, obfuscation: false };
    let cur = text;
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      const next = evaluatePass(cur, st);
      if (st.jndi) {
        return {
          detector: st.obfuscation || pass > 0 ? 'jndi.obfuscated-lookup' : 'jndi.lookup',
          category: 'jndi',
          severity: 5,
          paranoia: 1,
          evidence: '${jndi:',
        };
      }
      if (next === cur || next.indexOf('${') < 0) {
        cur = next;
        break;
      }
      cur = next;
    }
    if (st.code !== undefined) {
      return { detector: 'jndi.interpolation-rce', category: 'jndi', severity: 5, paranoia: 1, evidence: st.code.slice(0, 40) };
    }
    // The resolved text may spell `jndi:ldap:` without a complete lookup around it.
    if (jndiProtocolAt(cur.toLowerCase(), 0) >= 0) {
      return { detector: 'jndi.lookup', category: 'jndi', severity: 5, paranoia: 1, evidence: 'jndi:' };
    }
    if (st.exfil !== undefined) {
      const strong = isUrlLike(lower);
      if (strong || ctx.paranoia >= 2) {
        return {
          detector: 'jndi.exfiltration-lookup',
          category: 'jndi',
          severity: strong ? 5 : 4,
          paranoia: strong ? 1 : 2,
          evidence: st.exfil.slice(0, 40),
        };
      }
    }
    if (st.obfuscation && ctx.paranoia >= 2) {
      return { detector: 'jndi.lookup-obfuscation', category: 'jndi', severity: 3, paranoia: 2, evidence: '${' };
    }
  }

  // `jndi:ldap://` outside a complete lookup: a `$` before it (a brace the decoders could not
  // restore) is enough; prose mentioning the scheme counts only at paranoia 2.
  if (jndiAt >= 0) {
    const p = jndiProtocolAt(lower, jndiAt);
    if (p >= 0) {
      const dollarBefore = lower.lastIndexOf('$', p);
      if (dollarBefore >= 0) {
        return { detector: 'jndi.lookup', category: 'jndi', severity: 5, paranoia: 1, evidence: 'jndi:' };
      }
      return { detector: 'jndi.scheme', category: 'jndi', severity: 4, paranoia: 2, evidence: 'jndi:' };
    }
  }
  return undefined;
}

export const detectJndi: Detector = (text, lower, ctx) => {
  try {
    return scanJndi(text, lower, ctx);
  } catch {
    return undefined;
  }
};
