/**
 * Linear, non-validating XML tokenizer for threat inspection.
 *
 * `scanXml` walks an XML document once and yields every text node (CDATA included, joined
 * across comments and CDATA sections), every attribute value, and element and attribute names
 * as keys, each with a pointer (`/order/item[2]/@sku`, `/order/item/name`). It never expands
 * entities (only the five predefined ones and character references are decoded in leaves) and
 * never loads anything. On the way it reports XXE and XML-bomb constructs:
 *  - external entities (`<!ENTITY x SYSTEM "file:///etc/passwd">`, PUBLIC) — paranoia 1;
 *  - parameter entities (`<!ENTITY % x …>`, `%x;`) — paranoia 1;
 *  - entities whose expansion grows (billion laughs: nesting depth, expanded size) — paranoia 1;
 *  - external DTDs (`<!DOCTYPE x SYSTEM "http://…">`) — paranoia 1 (W3C public ids: 2);
 *  - XInclude (`xi:include`, the XInclude namespace) — paranoia 1;
 *  - any other `<!ENTITY` declaration — paranoia 2; an internal subset without entities — 3;
 *  - resource-loading processing instructions (`<?xml-stylesheet href="http://…"?>`), XSLT
 *    import/include, remote `xsi:schemaLocation`.
 * Malformed documents give `error`; the limits (bytes, depth, items) give `error` too.
 *
 * `detectXxe` is a Detector for string values that carry an XML payload (a DOCTYPE or ENTITY
 * declaration inside a JSON or form field).
 */
import type { Detector, Hit, Paranoia } from './types.js';

export interface XmlLeaf {
  pointer: string;
  value: string;
  isKey: boolean;
}

export interface XmlScan {
  leaves: XmlLeaf[];
  hit: Hit | undefined;
  error: string | undefined;
}

export interface XmlLimits {
  maxBytes: number;
  maxDepth: number;
  maxItems: number;
}

/** Expanded size (characters) above which internal entities are a bomb. */
const BOMB_SIZE = 10_000;
/** Entity nesting depth above which internal entities are a bomb. */
const BOMB_DEPTH = 3;
/** Expansion over declared text above which entities nested BOMB_DEPTH deep are a bomb. */
const BOMB_GROWTH = 32;

/** Longest pointer built; deeper elements share their ancestor's pointer. */
const MAX_POINTER = 1024;

const XINCLUDE_NS = 'http://www.w3.org/2001/xinclude';
const XSLT_NS = 'http://www.w3.org/1999/xsl/transform';

// ---------------------------------------------------------------------------------------------
// Character helpers

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}
function isNameStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 58 || (c >= 0xc0 && c !== 0xd7 && c !== 0xf7);
}
function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 0xb7;
}
/** Case-insensitive match of an ASCII upper-case `word` at `i`. */
function matchWord(s: string, i: number, word: string): boolean {
  if (i + word.length > s.length) return false;
  for (let k = 0; k < word.length; k++) {
    const a = s.charCodeAt(i + k);
    const b = word.charCodeAt(k);
    if (a !== b && !(b >= 65 && b <= 90 && a === b + 32)) return false;
  }
  return true;
}
function skipSpaces(s: string, i: number): number {
  while (i < s.length && isSpace(s.charCodeAt(i))) i++;
  return i;
}
function readName(s: string, i: number): number {
  if (i >= s.length || !isNameStart(s.charCodeAt(i))) return i;
  i++;
  while (i < s.length && isNameChar(s.charCodeAt(i))) i++;
  return i;
}

// ---------------------------------------------------------------------------------------------
// Hits

interface HitBox {
  hit: Hit | undefined;
}

function offer(box: HitBox, rule: string, severity: number, paranoia: Paranoia, evidence: string): void {
  const cur = box.hit;
  if (cur === undefined || paranoia < cur.paranoia || (paranoia === cur.paranoia && severity > cur.severity)) {
    box.hit = { detector: rule, category: 'xxe', severity, paranoia, evidence: evidence.slice(0, 40) };
  }
}

// ---------------------------------------------------------------------------------------------
// DOCTYPE and internal subset

interface EntityInfo {
  /** Characters of the replacement text outside references. */
  literal: number;
  /** Names of the general entities referenced by the replacement text. */
  refs: string[];
}

interface DoctypeResult {
  /** Index after the closing `>` (or where parsing stopped). */
  end: number;
  error: string | undefined;
  /** Declared general entities (names), to tell declared references from undeclared ones. */
  entities: Map<string, EntityInfo>;
}

/** Read a quoted literal at `i`; returns the index after the closing quote, or -1. */
function readQuoted(s: string, i: number): number {
  const q = s.charCodeAt(i);
  if (q !== 34 && q !== 39) return -1;
  const e = s.indexOf(q === 34 ? '"' : "'", i + 1);
  return e < 0 ? -1 : e + 1;
}

/** Is this DOCTYPE public id a W3C/IETF one (XHTML, SVG, MathML …)? */
function isWellKnownPublicId(pub: string): boolean {
  return pub.startsWith('-//W3C//') || pub.startsWith('-//IETF//');
}

/**
 * Parse an external id (`SYSTEM "uri"` / `PUBLIC "pubid" "uri"`) at `i`. Returns the index
 * after it, -1 if there is none, -2 on a syntax error; `out` gets the public id and uri.
 */
function readExternalId(s: string, i: number, out: { pub: string; uri: string }, strict: boolean): number {
  if (matchWord(s, i, 'SYSTEM') && !isNameChar(s.charCodeAt(i + 6))) {
    const q = skipSpaces(s, i + 6);
    const e = readQuoted(s, q);
    if (e < 0) return strict ? -2 : s.length;
    out.uri = s.slice(q + 1, e - 1);
    return e;
  }
  if (matchWord(s, i, 'PUBLIC') && !isNameChar(s.charCodeAt(i + 6))) {
    const q = skipSpaces(s, i + 6);
    const e = readQuoted(s, q);
    if (e < 0) return strict ? -2 : s.length;
    out.pub = s.slice(q + 1, e - 1);
    const q2 = skipSpaces(s, e);
    const e2 = readQuoted(s, q2);
    if (e2 < 0) return strict ? -2 : e; // lenient: PUBLIC with only a public id
    out.uri = s.slice(q2 + 1, e2 - 1);
    return e2;
  }
  return -1;
}

/** Find `>` from `i` outside quoted literals; -1 if absent. */
function declEnd(s: string, i: number): number {
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 62) return i;
    if (c === 34 || c === 39) {
      const e = s.indexOf(c === 34 ? '"' : "'", i + 1);
      if (e < 0) return -1;
      i = e + 1;
      continue;
    }
    if (c === 60) return -1; // `<` cannot appear unquoted inside a declaration
    i++;
  }
  return -1;
}

/**
 * Parse one `<!ENTITY …>` declaration starting at `i` (pointing at `<!ENTITY` or `!ENTITY`).
 * Records the entity and reports hits. Returns the index after `>`, or -1 on a syntax error.
 */
function parseEntityDecl(s: string, i: number, box: HitBox, entities: Map<string, EntityInfo>, strict: boolean): number {
  const kw = s.charCodeAt(i) === 60 ? i + 8 : i + 7; // past `<!ENTITY` / `!ENTITY`
  let p = skipSpaces(s, kw);
  if (p === kw && strict) return -1;
  let param = false;
  if (s.charCodeAt(p) === 37 /* % */) {
    param = true;
    p = skipSpaces(s, p + 1);
  }
  const ns = p;
  p = readName(s, p);
  if (p === ns) return strict ? -1 : kw;
  const name = s.slice(ns, p);
  p = skipSpaces(s, p);
  const ext = { pub: '', uri: '' };
  const e = readExternalId(s, p, ext, strict);
  if (e === -2) return -1;
  if (e >= 0) {
    // An unparsed entity (`NDATA gif`) is never read as text: a notation reference, weaker.
    const ndata = matchWord(s, skipSpaces(s, e), 'NDATA');
    if (ndata && !param) offer(box, 'xxe.unparsed-entity', 4, 2, name + ' ' + ext.uri);
    else offer(box, param ? 'xxe.external-parameter-entity' : 'xxe.external-entity', 5, 1, (param ? '%' : '') + name + ' ' + (ext.uri || ext.pub));
    const close = declEnd(s, e);
    if (close < 0) return strict ? -1 : s.length;
    return close + 1;
  }
  const v = readQuoted(s, p);
  if (v < 0) return strict ? -1 : p;
  if (param) offer(box, 'xxe.parameter-entity', 5, 1, '%' + name);
  else offer(box, 'xxe.entity-declaration', 4, 2, '<!ENTITY ' + name);
  // Internal entity value: references to other entities make it grow (evaluated in finishEntities).
  const value = s.slice(p + 1, v - 1);
  const refs: string[] = [];
  let literal = 0;
  let last = 0;
  let r = value.indexOf('&');
  while (r >= 0) {
    const ne = readName(value, r + 1);
    if (ne > r + 1 && value.charCodeAt(ne) === 59) {
      refs.push(value.slice(r + 1, ne));
      literal += r - last;
      last = ne + 1;
      r = value.indexOf('&', ne + 1);
    } else {
      r = value.indexOf('&', r + 1);
    }
  }
  literal += value.length - last;
  const pr = value.indexOf('%');
  if (pr >= 0) {
    // parameter-entity references inside an entity value (only legal in the external subset)
    const ne = readName(value, pr + 1);
    if (ne > pr + 1 && value.charCodeAt(ne) === 59) offer(box, 'xxe.parameter-entity', 5, 1, value.slice(pr, ne + 1));
  }
  if (!param && !entities.has(name)) entities.set(name, { literal, refs });
  p = skipSpaces(s, v);
  if (s.charCodeAt(p) !== 62) {
    if (strict) return -1;
    return p;
  }
  return p + 1;
}

/**
 * Evaluate declared internal entities as a graph: a cycle is recursion, and the expanded size
 * and nesting depth (computed in topological order, linear in the number of references) tell a
 * billion-laughs bomb from an entity that merely uses another one.
 */
function finishEntities(entities: Map<string, EntityInfo>, box: HitBox): void {
  if (entities.size === 0) return;
  const names = [...entities.keys()];
  const index = new Map<string, number>();
  names.forEach((nm, k) => index.set(nm, k));
  const m = names.length;
  // edges e -> ref; process refs before users: in-degree counts users not yet resolved
  const pending = new Int32Array(m); // number of unresolved declared refs of e
  const users: number[][] = Array.from({ length: m }, () => []);
  let anyRef = false;
  for (let k = 0; k < m; k++) {
    const info = entities.get(names[k] as string) as EntityInfo;
    for (const ref of info.refs) {
      anyRef = true;
      const t = index.get(ref);
      if (t === undefined) continue;
      pending[k] = (pending[k] ?? 0) + 1;
      (users[t] as number[]).push(k);
    }
  }
  if (!anyRef) return;
  const size = new Float64Array(m);
  const depth = new Int32Array(m);
  const queue: number[] = [];
  for (let k = 0; k < m; k++) if (pending[k] === 0) queue.push(k);
  let done = 0;
  let worstSize = 0;
  let worstDepth = 0;
  let worst = '';
  for (let q = 0; q < queue.length; q++) {
    const k = queue[q] as number;
    done++;
    const info = entities.get(names[k] as string) as EntityInfo;
    let sz = info.literal;
    let dp = 1;
    for (const ref of info.refs) {
      const t = index.get(ref);
      if (t === undefined) continue;
      sz = Math.min(1e15, sz + (size[t] ?? 0));
      dp = Math.max(dp, (depth[t] ?? 0) + 1);
    }
    size[k] = sz;
    depth[k] = dp;
    if (sz > worstSize || dp > worstDepth) {
      worstSize = Math.max(worstSize, sz);
      worstDepth = Math.max(worstDepth, dp);
      worst = names[k] as string;
    }
    for (const u of users[k] as number[]) {
      pending[u] = (pending[u] ?? 0) - 1;
      if (pending[u] === 0) queue.push(u);
    }
  }
  if (done < m) {
    const k = pending.findIndex((x) => x > 0);
    offer(box, 'xxe.entity-recursion', 5, 1, '&' + (names[k] ?? '') + ';');
    return;
  }
  let declared = 0;
  for (const info of entities.values()) declared += info.literal;
  // or a small bomb (three levels of ten): growth that composition (`&company; 2024`) never has
  const amplified = worstDepth >= BOMB_DEPTH && worstSize >= BOMB_GROWTH * Math.max(1, declared);
  if (worstSize > BOMB_SIZE || worstDepth > BOMB_DEPTH || amplified) {
    offer(box, 'xxe.entity-expansion', 5, 1, '&' + worst + '; x' + worstSize);
  } else {
    offer(box, 'xxe.nested-entity', 4, 2, '&' + worst + ';');
  }
}

/**
 * Parse `<!DOCTYPE …>` at `i`. `strict` (document mode) requires well-formed syntax; lenient
 * mode (values) reports what it can and stops quietly.
 */
function parseDoctype(s: string, i: number, box: HitBox, strict: boolean): DoctypeResult {
  const entities = new Map<string, EntityInfo>();
  const n = s.length;
  const fail = (msg: string, at: number): DoctypeResult => {
    finishEntities(entities, box);
    return { end: at, error: strict ? msg : undefined, entities };
  };
  let p = skipSpaces(s, i + 9);
  const ns = p;
  p = readName(s, p);
  if (p === ns) return fail('xml: bad DOCTYPE name', p);
  const rootName = s.slice(ns, p);
  p = skipSpaces(s, p);
  const ext = { pub: '', uri: '' };
  const e = readExternalId(s, p, ext, strict);
  if (e === -2) return fail('xml: bad DOCTYPE external id', p);
  if (e >= 0) {
    if (ext.uri.trim() === '') {
      // PUBLIC with no system literal: nothing to fetch (catalog-resolved at most)
      if (strict) offer(box, 'xxe.external-dtd', 3, 2, 'DOCTYPE ' + ext.pub);
    } else if (ext.pub !== '' && isWellKnownPublicId(ext.pub)) {
      if (strict) offer(box, 'xxe.external-dtd', 4, 2, 'DOCTYPE ' + ext.pub);
    } else {
      offer(box, 'xxe.external-dtd', 5, 1, 'DOCTYPE ' + rootName + ' ' + (ext.uri || ext.pub));
    }
    p = skipSpaces(s, e);
  }
  let sawSubset = false;
  if (s.charCodeAt(p) === 91 /* [ */) {
    sawSubset = true;
    p++;
    for (;;) {
      p = skipSpaces(s, p);
      if (p >= n) return fail('xml: unterminated DOCTYPE', p);
      const c = s.charCodeAt(p);
      if (c === 93 /* ] */) {
        p++;
        break;
      }
      if (c === 37 /* % PEReference */) {
        const ne = readName(s, p + 1);
        if (ne > p + 1 && s.charCodeAt(ne) === 59) {
          offer(box, 'xxe.parameter-entity', 5, 1, s.slice(p, ne + 1));
          p = ne + 1;
          continue;
        }
        return fail('xml: bad parameter entity reference', p);
      }
      if (c !== 60) return fail('xml: bad DOCTYPE internal subset', p);
      if (s.startsWith('<!--', p)) {
        const ce = s.indexOf('-->', p + 4);
        if (ce < 0) return fail('xml: unterminated comment', p);
        p = ce + 3;
        continue;
      }
      if (s.startsWith('<?', p)) {
        const pe = s.indexOf('?>', p + 2);
        if (pe < 0) return fail('xml: unterminated processing instruction', p);
        p = pe + 2;
        continue;
      }
      if (matchWord(s, p, '<!ENTITY')) {
        const after = parseEntityDecl(s, p, box, entities, strict);
        if (after < 0) return fail('xml: bad ENTITY declaration', p);
        if (after <= p) return fail('xml: bad ENTITY declaration', p);
        p = after;
        continue;
      }
      if (matchWord(s, p, '<!ELEMENT') || matchWord(s, p, '<!ATTLIST') || matchWord(s, p, '<!NOTATION')) {
        const de = declEnd(s, p + 2);
        if (de < 0) return fail('xml: bad markup declaration', p);
        p = de + 1;
        continue;
      }
      if (s.startsWith('<![', p)) {
        // conditional sections are only legal in external subsets
        offer(box, 'xxe.conditional-section', 5, 1, s.slice(p, p + 12));
        return fail('xml: conditional section in internal subset', p);
      }
      return fail('xml: bad DOCTYPE internal subset', p);
    }
    p = skipSpaces(s, p);
  }
  if (s.charCodeAt(p) !== 62) return fail('xml: unterminated DOCTYPE', p);
  finishEntities(entities, box);
  if (sawSubset && entities.size === 0 && box.hit === undefined) offer(box, 'xxe.internal-subset', 2, 3, 'DOCTYPE ' + rootName + ' [');
  return { end: p + 1, error: undefined, entities };
}

// ---------------------------------------------------------------------------------------------
// Reference decoding for leaves (predefined entities and character references only)

/** Decode `&lt;` … and `&#…;`; returns undefined when a reference is malformed. */
function decodeRefs(s: string, strict: boolean): string | undefined {
  let amp = s.indexOf('&');
  if (amp < 0) return s;
  let out = '';
  let run = 0;
  while (amp >= 0) {
    const semi = s.indexOf(';', amp + 1);
    if (semi < 0 || semi - amp > 32) {
      if (strict) return undefined;
      amp = s.indexOf('&', amp + 1);
      continue;
    }
    const body = s.slice(amp + 1, semi);
    let rep: string | undefined;
    if (body.charCodeAt(0) === 35 /* # */) {
      const hex = body.charCodeAt(1) === 120;
      const digits = body.slice(hex ? 2 : 1);
      let cp = 0;
      let ok = digits.length > 0 && digits.length <= 8;
      for (let k = 0; k < digits.length && ok; k++) {
        const d = digits.charCodeAt(k);
        if (d >= 48 && d <= 57) cp = cp * (hex ? 16 : 10) + (d - 48);
        else if (hex && d >= 97 && d <= 102) cp = cp * 16 + (d - 87);
        else if (hex && d >= 65 && d <= 70) cp = cp * 16 + (d - 55);
        else ok = false;
      }
      if (!ok || cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        if (strict) return undefined;
      } else {
        rep = String.fromCodePoint(cp);
      }
    } else {
      switch (body) {
        case 'lt':
          rep = '<';
          break;
        case 'gt':
          rep = '>';
          break;
        case 'amp':
          rep = '&';
          break;
        case 'quot':
          rep = '"';
          break;
        case 'apos':
          rep = "'";
          break;
        default: {
          // A named (custom) entity: never expanded; must at least be a name.
          const ne = readName(body, 0);
          if (strict && (ne !== body.length || ne === 0)) return undefined;
        }
      }
    }
    if (rep !== undefined) {
      out += s.slice(run, amp) + rep;
      run = semi + 1;
    }
    amp = s.indexOf('&', semi + 1);
  }
  return out + s.slice(run);
}

// ---------------------------------------------------------------------------------------------
// Document scanner

interface Frame {
  name: string;
  pointer: string;
  /** Name of the first child element (sibling counts start when a second child appears). */
  firstChild: string | undefined;
  counts: Map<string, number> | undefined;
}

function utf8Length(s: string, cap: number): number {
  let b = 0;
  for (let i = 0; i < s.length && b <= cap; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) b += 1;
    else if (c < 0x800) b += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      b += 4;
      i++;
    } else b += 3;
  }
  return b;
}

function isRemoteRef(v: string): boolean {
  const l = v.toLowerCase();
  return l.includes('http:') || l.includes('https:') || l.includes('ftp:') || l.includes('file:') || l.includes('//') ||
    l.includes('jar:') || l.includes('php:') || l.includes('gopher:') || l.includes('expect:') || l.includes('data:');
}

/** URL schemes a schema location never legitimately has: local files, archives, other protocols. */
const LOCAL_SCHEMES: ReadonlySet<string> = new Set(['file', 'jar', 'netdoc', 'gopher', 'php', 'phar', 'expect', 'data', 'dict', 'ldap', 'smb', 'zip', 'compress.zlib']);

/** `scheme` and lower-cased host of an absolute URL, host '' without one; undefined for a relative reference. */
function urlParts(u: string): { scheme: string; host: string } | undefined {
  if (u.startsWith('\\\\')) return { scheme: 'smb', host: '' }; // UNC path
  const colon = u.indexOf(':');
  if (colon <= 0 || colon > 16) return undefined;
  const scheme = u.slice(0, colon);
  for (let i = 0; i < scheme.length; i++) {
    const c = scheme.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (i > 0 && ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46)))) return undefined;
  }
  if (u.charCodeAt(colon + 1) !== 47 || u.charCodeAt(colon + 2) !== 47) return { scheme, host: '' };
  let end = colon + 3;
  while (end < u.length && u.charCodeAt(end) !== 47 && u.charCodeAt(end) !== 63 && u.charCodeAt(end) !== 35) end++;
  let host = u.slice(colon + 3, end);
  const at = host.lastIndexOf('@');
  if (at >= 0) host = host.slice(at + 1);
  const port = host.lastIndexOf(':');
  if (port >= 0 && host.indexOf(']') < port) host = host.slice(0, port);
  return { scheme, host };
}

/** The last two labels of a host name (`cdn.example.com` → `example.com`). */
function siteOf(host: string): string {
  const last = host.lastIndexOf('.');
  if (last < 0) return host;
  const prev = host.lastIndexOf('.', last - 1);
  return prev < 0 ? host : host.slice(prev + 1);
}

/**
 * A schema location an XML parser may fetch (`xsi:schemaLocation`, `xsi:noNamespaceSchemaLocation`;
 * `attr` and `value` lower-cased, value trimmed): paranoia 1 for a local-file or non-web scheme
 * (`file:`, `jar:`, UNC …) and for a schema on a site other than its namespace's (documents
 * put their schemas beside their namespaces: `http://maven.apache.org/POM/4.0.0
 * http://maven.apache.org/xsd/maven-4.0.0.xsd`; an out-of-band probe points elsewhere); paranoia
 * 2 for any other remote location; nothing for relative ones.
 */
function schemaLocation(box: HitBox, attr: string, value: string): void {
  const evidence = attr + '=' + value;
  const noNamespace = attr.endsWith('nonamespaceschemalocation');
  // schemaLocation: pairs `namespace location`; noNamespaceSchemaLocation: one location.
  const words: string[] = [];
  for (let i = 0; i < value.length && words.length < 64; ) {
    while (i < value.length && isSpace(value.charCodeAt(i))) i++;
    const start = i;
    while (i < value.length && !isSpace(value.charCodeAt(i))) i++;
    if (i > start) words.push(value.slice(start, i));
  }
  let remote = false;
  for (let k = noNamespace ? 0 : 1; k < words.length; k += noNamespace ? 1 : 2) {
    const loc = urlParts(words[k]!);
    if (loc === undefined) continue;
    if (LOCAL_SCHEMES.has(loc.scheme)) return offer(box, 'xxe.schema-location', 5, 1, evidence);
    if (loc.host === '') continue;
    remote = true;
    if (noNamespace) continue;
    const ns = urlParts(words[k - 1]!);
    if (ns !== undefined && ns.host !== '' && siteOf(ns.host) !== siteOf(loc.host)) return offer(box, 'xxe.schema-location', 5, 1, evidence);
  }
  if (remote) offer(box, 'xxe.schema-location', 3, 2, evidence);
}

function pseudoAttr(pi: string, name: string): string {
  const p = pi.indexOf(name + '=');
  if (p < 0) return '';
  const q = pi.charCodeAt(p + name.length + 1);
  if (q !== 34 && q !== 39) return '';
  const e = pi.indexOf(String.fromCharCode(q), p + name.length + 2);
  return e < 0 ? '' : pi.slice(p + name.length + 2, e);
}

export function scanXml(text: string, limits: XmlLimits): XmlScan {
  const leaves: XmlLeaf[] = [];
  const box: HitBox = { hit: undefined };
  const result = (error: string | undefined): XmlScan => ({ leaves, hit: box.hit, error });
  try {
    if (text.length > limits.maxBytes || (text.length * 3 > limits.maxBytes && utf8Length(text, limits.maxBytes) > limits.maxBytes)) {
      // Still look at the prolog for XXE so the event says why, then refuse.
      const dt = text.indexOf('<!');
      if (dt >= 0 && dt < 4096 && matchWord(text, dt, '<!DOCTYPE')) parseDoctype(text.slice(0, 65536), dt, box, false);
      return result('xml: document too large');
    }
    return scanDocument(text, limits, leaves, box, result);
  } catch {
    return result('xml: internal error');
  }
}

function scanDocument(
  text: string,
  limits: XmlLimits,
  leaves: XmlLeaf[],
  box: HitBox,
  result: (error: string | undefined) => XmlScan,
): XmlScan {
  const n = text.length;
  const stack: Frame[] = [];
  const rootCounts = new Map<string, number>();
  let seenRoot = false;
  let seenDoctype = false;
  let textBuf = '';
  let xincludePrefix = '';
  let xsltPrefix = '';
  let i = 0;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  const prologStart = i;

  const push = (leaf: XmlLeaf): boolean => {
    leaves.push(leaf);
    return leaves.length <= limits.maxItems;
  };
  const flushText = (): string | undefined => {
    if (textBuf === '') return undefined;
    const top = stack[stack.length - 1];
    let blank = true;
    for (let k = 0; k < textBuf.length; k++) {
      if (!isSpace(textBuf.charCodeAt(k))) {
        blank = false;
        break;
      }
    }
    if (!blank && top !== undefined) {
      if (!push({ pointer: top.pointer, value: textBuf, isKey: false })) {
        textBuf = '';
        return 'xml: too many items';
      }
    }
    textBuf = '';
    return undefined;
  };

  while (i < n) {
    const c = text.charCodeAt(i);
    if (c !== 60 /* < */) {
      let e = text.indexOf('<', i);
      if (e < 0) e = n;
      const raw = text.slice(i, e);
      if (stack.length === 0) {
        for (let k = 0; k < raw.length; k++) {
          if (!isSpace(raw.charCodeAt(k))) return result('xml: text outside the root element');
        }
      } else {
        if (raw.indexOf(']]>') >= 0) return result("xml: ']]>' in text");
        const dec = decodeRefs(raw, true);
        if (dec === undefined) return result('xml: bad reference');
        textBuf += dec;
      }
      i = e;
      continue;
    }
    const c1 = text.charCodeAt(i + 1);
    if (c1 === 63 /* ? */) {
      const e = text.indexOf('?>', i + 2);
      if (e < 0) return result('xml: unterminated processing instruction');
      const ne = readName(text, i + 2);
      if (ne === i + 2) return result('xml: bad processing instruction');
      const target = text.slice(i + 2, ne).toLowerCase();
      const body = text.slice(ne, e);
      if (target === 'xml') {
        if (i !== prologStart) return result('xml: misplaced XML declaration');
      } else if (target === 'xml-stylesheet') {
        const href = pseudoAttr(body, 'href');
        if (href !== '' && isRemoteRef(href)) offer(box, 'xxe.stylesheet-pi', 4, 1, '<?xml-stylesheet ' + href);
        else offer(box, 'xxe.stylesheet-pi', 3, 2, '<?xml-stylesheet');
      }
      i = e + 2;
      continue;
    }
    if (c1 === 33 /* ! */) {
      if (text.startsWith('<!--', i)) {
        const e = text.indexOf('-->', i + 4);
        if (e < 0) return result('xml: unterminated comment');
        i = e + 3;
        continue;
      }
      if (text.startsWith('<![CDATA[', i)) {
        if (stack.length === 0) return result('xml: CDATA outside the root element');
        const e = text.indexOf(']]>', i + 9);
        if (e < 0) return result('xml: unterminated CDATA section');
        textBuf += text.slice(i + 9, e);
        i = e + 3;
        continue;
      }
      if (matchWord(text, i, '<!DOCTYPE')) {
        if (seenRoot || seenDoctype) return result('xml: misplaced DOCTYPE');
        seenDoctype = true;
        const dt = parseDoctype(text, i, box, true);
        if (dt.error !== undefined) return result(dt.error);
        if (!text.startsWith('<!DOCTYPE', i)) return result('xml: bad DOCTYPE keyword');
        i = dt.end;
        continue;
      }
      if (matchWord(text, i, '<!ENTITY')) {
        // a declaration outside a DOCTYPE: still a threat, and not well-formed
        parseEntityDecl(text, i, box, new Map(), false);
        return result('xml: declaration outside DOCTYPE');
      }
      return result('xml: bad markup declaration');
    }
    if (c1 === 47 /* / */) {
      const ns = i + 2;
      const ne = readName(text, ns);
      if (ne === ns) return result('xml: bad end tag');
      const name = text.slice(ns, ne);
      const gt = skipSpaces(text, ne);
      if (text.charCodeAt(gt) !== 62) return result('xml: bad end tag');
      const top = stack[stack.length - 1];
      if (top === undefined || top.name !== name) return result('xml: mismatched end tag </' + name.slice(0, 40) + '>');
      const err = flushText();
      if (err) return result(err);
      stack.pop();
      i = gt + 1;
      continue;
    }
    // start tag
    const ns = i + 1;
    const ne = readName(text, ns);
    if (ne === ns) return result('xml: bad start tag');
    const name = text.slice(ns, ne);
    if (stack.length === 0 && seenRoot) return result('xml: content after the root element');
    const err = flushText();
    if (err) return result(err);
    const parent = stack[stack.length - 1];
    let count = 1;
    if (parent === undefined) {
      count = (rootCounts.get(name) ?? 0) + 1;
      rootCounts.set(name, count);
    } else if (parent.firstChild === undefined) {
      parent.firstChild = name;
    } else {
      // sibling counts, created only for elements with several children
      if (parent.counts === undefined) parent.counts = new Map([[parent.firstChild, 1]]);
      count = (parent.counts.get(name) ?? 0) + 1;
      parent.counts.set(name, count);
    }
    const parentPointer = parent === undefined ? '' : parent.pointer;
    // Pointers stop growing past MAX_POINTER characters so deep documents stay linear.
    const pointer = parentPointer.length > MAX_POINTER ? parentPointer : parentPointer + '/' + name + (count > 1 ? '[' + count + ']' : '');
    if (stack.length + 1 > limits.maxDepth) return result('xml: nesting too deep');
    if (!push({ pointer, value: name, isKey: true })) return result('xml: too many items');
    const lname = name.toLowerCase();
    // attributes
    let p = ne;
    let seen: Set<string> | undefined;
    let selfClose = false;
    for (;;) {
      const s0 = p;
      p = skipSpaces(text, p);
      const a = text.charCodeAt(p);
      if (a === 62 /* > */) {
        p++;
        break;
      }
      if (a === 47 /* / */ && text.charCodeAt(p + 1) === 62) {
        selfClose = true;
        p += 2;
        break;
      }
      if (p === s0) return result('xml: bad attribute syntax');
      const an = readName(text, p);
      if (an === p) return result('xml: bad attribute name');
      const attr = text.slice(p, an);
      let q = skipSpaces(text, an);
      if (text.charCodeAt(q) !== 61) return result('xml: attribute without value');
      q = skipSpaces(text, q + 1);
      const qc = text.charCodeAt(q);
      if (qc !== 34 && qc !== 39) return result('xml: unquoted attribute value');
      const ve = text.indexOf(qc === 34 ? '"' : "'", q + 1);
      if (ve < 0) return result('xml: unterminated attribute value');
      const rawVal = text.slice(q + 1, ve);
      if (rawVal.indexOf('<') >= 0) return result("xml: '<' in attribute value");
      const val = decodeRefs(rawVal, true);
      if (val === undefined) return result('xml: bad reference');
      if (seen === undefined) seen = new Set();
      if (seen.has(attr)) return result('xml: duplicate attribute');
      seen.add(attr);
      const ap = pointer + '/@' + attr;
      if (!push({ pointer: ap, value: attr, isKey: true })) return result('xml: too many items');
      if (!push({ pointer: ap, value: val, isKey: false })) return result('xml: too many items');
      // namespaces and resource-loading attributes
      const lattr = attr.toLowerCase();
      const lval = val.toLowerCase().trim();
      if (lattr.startsWith('xmlns')) {
        const prefix = lattr.length > 6 ? lattr.slice(6) : '';
        if (lval === XINCLUDE_NS) {
          xincludePrefix = prefix === '' ? '#default' : prefix;
          offer(box, 'xxe.xinclude', 5, 1, 'xmlns' + (prefix ? ':' + prefix : '') + '=XInclude');
        } else if (lval === XSLT_NS) {
          xsltPrefix = prefix === '' ? '#default' : prefix;
          offer(box, 'xxe.xslt', 3, 2, 'XSLT namespace');
        }
      } else if (lattr.endsWith(':schemalocation') || lattr.endsWith(':nonamespaceschemalocation')) {
        schemaLocation(box, lattr, lval);
      } else if (lattr === 'href' && xsltPrefix !== '' && (lname.endsWith(':import') || lname.endsWith(':include') || lname === 'import' || lname === 'include')) {
        offer(box, 'xxe.xslt-include', 4, 1, name + ' ' + lval);
      }
      p = ve + 1;
    }
    // XInclude element (by prefix or by the conventional `xi:` prefix)
    const colon = lname.indexOf(':');
    const local = colon >= 0 ? lname.slice(colon + 1) : lname;
    const prefix = colon >= 0 ? lname.slice(0, colon) : '#default';
    if ((local === 'include' || local === 'fallback') && (prefix === xincludePrefix || prefix === 'xi')) {
      offer(box, 'xxe.xinclude', 5, 1, '<' + name);
    }
    seenRoot = true;
    if (!selfClose) stack.push({ name, pointer, firstChild: undefined, counts: undefined });
    i = p;
  }
  if (stack.length > 0) return result('xml: unclosed element <' + (stack[stack.length - 1]?.name ?? '').slice(0, 40) + '>');
  if (!seenRoot) return result('xml: no root element');
  return result(undefined);
}

// ---------------------------------------------------------------------------------------------
// Detector for XML hidden in string values

function scanValueForXxe(text: string, lower: string): Hit | undefined {
  const box: HitBox = { hit: undefined };
  const dt = lower.indexOf('<!doctype');
  if (dt >= 0) {
    parseDoctype(text, dt, box, false);
  }
  if (box.hit === undefined || box.hit.paranoia > 1) {
    // ENTITY declarations outside a recognizable DOCTYPE (fragments, `!ENTITY % x SYSTEM`)
    let p = lower.indexOf('!entity');
    let guard = 0;
    const entities = new Map<string, EntityInfo>();
    while (p >= 0 && guard < 256) {
      const start = p > 0 && lower.charCodeAt(p - 1) === 60 ? p - 1 : p;
      const after = parseEntityDecl(text, start, box, entities, false);
      p = lower.indexOf('!entity', Math.max(after, p + 7));
      guard++;
    }
    finishEntities(entities, box);
  }
  if (lower.indexOf('xinclude') >= 0 || lower.indexOf('xi:include') >= 0) {
    if (lower.indexOf(XINCLUDE_NS) >= 0 || lower.indexOf('<xi:include') >= 0) offer(box, 'xxe.xinclude', 5, 1, 'xi:include');
  }
  // `prefix:schemaLocation="…"` attributes of an element in the value.
  for (let p = lower.indexOf(':schemalocation'), guard = 0; p >= 0 && guard < 64; p = lower.indexOf(':schemalocation', p + 15), guard++) {
    schemaLocationAttr(text, lower, p, p + 15, box);
  }
  for (let p = lower.indexOf(':nonamespaceschemalocation'), guard = 0; p >= 0 && guard < 64; p = lower.indexOf(':nonamespaceschemalocation', p + 26), guard++) {
    schemaLocationAttr(text, lower, p, p + 26, box);
  }
  return box.hit;
}

/** The attribute whose name has `:…schemalocation` at [colon, end) in `lower`, when it is one: a prefix before, `="…"` after. */
function schemaLocationAttr(text: string, lower: string, colon: number, end: number, box: HitBox): void {
  if (colon === 0 || !isNameChar(lower.charCodeAt(colon - 1))) return;
  let q = skipSpaces(lower, end);
  if (lower.charCodeAt(q) !== 61) return;
  q = skipSpaces(lower, q + 1);
  const qc = lower.charCodeAt(q);
  if (qc !== 34 && qc !== 39) return;
  const close = lower.indexOf(qc === 34 ? '"' : "'", q + 1);
  if (close < 0 || close - q > 4096) return;
  schemaLocation(box, lower.slice(colon + 1, end), decodeRefs(text.slice(q + 1, close), true)?.toLowerCase().trim() ?? '');
}

/** Words without which a value holds no DTD, XInclude or schema location (the engine's gate reads them too). */
export const XXE_MARKERS: readonly string[] = ['!doctype', '!entity', 'xi:include', 'xinclude', 'schemalocation'];

export const detectXxe: Detector = (text, lower, _ctx) => {
  if (!XXE_MARKERS.some((m) => lower.indexOf(m) >= 0)) return undefined;
  try {
    return scanValueForXxe(text, lower);
  } catch {
    return undefined;
  }
};
