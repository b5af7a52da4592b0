/**
 * Cross-site scripting detector: small hand-written tokenizers for the four contexts a reflected
 * value can land in, each asking "would this run script or load content here?".
 *
 * - HTML content: at every `<` (and its look-alikes: fullwidth `＜`, `¼` of high-bit-stripped
 *   US-ASCII, UTF-7 `+ADw-`) the tag name is read as the HTML tokenizer reads it (letters, digits,
 *   namespace prefix `x:`; `/`, whitespace and `>` end it) and the attributes are parsed
 *   (`/` and whitespace as separators, quoted and unquoted values). Script-running tags (`script`,
 *   `iframe`, `style` …), content-loading tags with attributes (`object`, `embed`, `base`, `link`,
 *   `meta`, `svg`, `form` …) and any tag with an event-handler (`on*`), `srcdoc`, `formaction` or
 *   data-binding attribute are strong. Closing tags of raw-text elements (`</script>`, `</title>`
 *   …), comments of server-side includes and processing instructions (`<?import`) too.
 * - Attribute context: at every `=` the attribute name before it is read backwards; an event
 *   handler name after a separator (whitespace, `/`, a quote: `" onmouseover=`), or after an
 *   earlier quote that broke out of the value, is strong.
 * - JavaScript context: identifiers are scanned (with `\uXXXX` escapes decoded); calls of sinks
 *   (`alert`, `eval`, `setTimeout`, `Function`, `fetch`, `import` …) are confirmed by a small
 *   expression grammar over the argument list (so "confirm (by email)" is prose, `confirm(1)` is
 *   code), tagged templates (`` alert`1` ``, `` [].sort.call`${alert}` ``), DOM members
 *   (`document.cookie`, `window["location"]`, `top['al'+'ert']`, comments between tokens),
 *   `constructor.constructor`, JSFuck atoms.
 * - URL context: at every `:` the scheme is read backwards, skipping the whitespace and control
 *   characters browsers ignore (`java\tscript:`); `javascript:`, `vbscript:`, `livescript:`,
 *   `mocha:` and `data:` URLs with an active MIME type or HTML content. CSS `expression(`,
 *   `-moz-binding`, `behavior:url(`.
 *
 * Linear: every `<`, `=`, `:` and identifier is examined with bounded look-around; quoted values,
 * strings and comments are skipped with a cached "next occurrence" search, and attribute parsing
 * has a global budget. No regular expression touches the input.
 */
import { SEVERITY } from '../types.js';
import type { Detector, Hit, InputLocation, Paranoia } from '../types.js';

// ---------------------------------------------------------------------------------------------
// Character classes (on the lower-cased text)

const C_LT = 1;
const C_COLON = 2;
const C_EQ = 4;
const C_PAREN = 8;
const C_TICK = 16;
const C_BRACKET = 32;
const C_BRACE = 64;
const C_DOT = 128;
const C_PLUS = 256;
const C_GT = 512;

const ASCII_CLASS = new Uint16Array(128);
ASCII_CLASS[0x3c] = C_LT;
ASCII_CLASS[0x3a] = C_COLON;
ASCII_CLASS[0x3d] = C_EQ;
ASCII_CLASS[0x28] = C_PAREN;
ASCII_CLASS[0x60] = C_TICK;
ASCII_CLASS[0x5b] = C_BRACKET;
ASCII_CLASS[0x7b] = C_BRACE;
ASCII_CLASS[0x2e] = C_DOT;
ASCII_CLASS[0x2b] = C_PLUS;
ASCII_CLASS[0x3e] = C_GT;

/** Look-alikes of `<` that some back ends fold to ASCII (fullwidth, small form, high-bit-stripped ¼). */
const LT_FULLWIDTH = 0xff1c;
const LT_SMALL = 0xfe64;
const LT_QUARTER = 0xbc;
const GT_FULLWIDTH = 0xff1e;
const GT_SMALL = 0xfe65;
/** NFKC folds `¼` to `1⁄4`. */
const FRACTION_SLASH = 0x2044;

function isAlpha(c: number): boolean {
  return c >= 97 && c <= 122;
}
function isUpper(c: number): boolean {
  return c >= 65 && c <= 90;
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isIdStart(c: number): boolean {
  return (c >= 97 && c <= 122) || c === 36 || c === 95 || (c >= 65 && c <= 90);
}
function isIdPart(c: number): boolean {
  return isIdStart(c) || isDigit(c);
}
/** HTML whitespace plus VT (old IE) and NUL-ish controls. */
function isHtmlSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 12 || c === 13 || c === 11;
}
/** Characters browsers strip inside a URL scheme (tab, newline, CR) or before it (C0 controls, space). */
function isSchemeNoise(c: number): boolean {
  return c <= 32 || c === 92 /* \ (CSS/JS escape) */ || c === 0xad || c === 0x200b || c === 0xfeff;
}
function isHex(c: number): boolean {
  return isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

// ---------------------------------------------------------------------------------------------
// Vocabulary (constant tables: grammar keywords of HTML, DOM and JS, not attack strings)

/** Tags that run script or frame content by themselves. */
const TAG_ALWAYS = new Set(['script', 'iframe', 'frameset', 'style', 'applet', 'vmlframe']);
/** Tags that load content or change the document once they have attributes. */
const TAG_WITH_ATTRS = new Set([
  'object', 'embed', 'frame', 'base', 'link', 'meta', 'layer', 'ilayer', 'bgsound', 'svg', 'math',
  'xml', 'isindex', 'form', 'import', 'handler', 'listener', 'portal',
]);
/** Script-running elements that still read as such with a namespace prefix set apart by spaces. */
const TAG_SPACED_PREFIX = new Set(['script', 'iframe', 'frameset', 'applet', 'vmlframe', 'object', 'embed']);
/** Structural and raw-text tags: injecting them is a breakout attempt (weak alone). */
const TAG_WEAK = new Set([
  'html', 'head', 'body', 'title', 'textarea', 'noscript', 'template', 'xmp', 'plaintext', 'listing',
  'noembed', 'noframes', 'comment',
]);
/** Closing one of these ends a raw-text or escaping context. */
const CLOSE_WEAK = new Set([
  'style', 'title', 'textarea', 'noscript', 'template', 'xmp', 'noembed', 'noframes', 'iframe', 'comment',
  'plaintext', 'select', 'svg', 'math', 'head', 'body', 'html', 'frameset', 'object',
]);
/** Ordinary HTML elements (HTML injection notice at higher paranoia). */
const TAG_HTML = new Set([
  'a', 'abbr', 'address', 'area', 'article', 'aside', 'audio', 'b', 'bdi', 'bdo', 'big', 'blink', 'blockquote', 'br',
  'button', 'canvas', 'caption', 'center', 'cite', 'code', 'col', 'colgroup', 'data', 'datalist', 'dd', 'del',
  'details', 'dfn', 'dialog', 'div', 'dl', 'dt', 'em', 'fieldset', 'figcaption', 'figure', 'font', 'footer',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'header', 'hr', 'i', 'image', 'img', 'input', 'ins', 'kbd', 'keygen', 'label',
  'legend', 'li', 'main', 'map', 'mark', 'marquee', 'menu', 'meter', 'nav', 'ol', 'optgroup', 'option', 'output',
  'p', 'param', 'picture', 'pre', 'progress', 'q', 'rt', 'ruby', 's', 'samp', 'section', 'select', 'small', 'source',
  'span', 'strike', 'strong', 'sub', 'summary', 'sup', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead', 'time', 'tr',
  'track', 'tt', 'u', 'ul', 'var', 'video', 'wbr', 'animate', 'set', 'use', 'foreignobject', 'animatetransform',
]);
/** Attributes that run or load active content wherever they appear in a tag. */
const ATTR_ACTIVE = new Set(['srcdoc', 'formaction', 'datasrc', 'datafld', 'dataformatas', 'seeksegmenttime', 'fscommand']);

/** DOM event handler attribute names (HTML, SVG/SMIL, legacy IE and WebKit). */
const EVENTS = new Set(
  ('abort afterprint afterscriptexecute animationcancel animationend animationiteration animationstart auxclick ' +
    'beforecopy beforecut beforeinput beforepaste beforeprint beforescriptexecute beforetoggle beforeunload begin ' +
    'blur bounce cancel canplay canplaythrough change click close contextmenu copy cuechange cut dblclick drag ' +
    'dragend dragenter dragexit dragleave dragover dragstart drop durationchange emptied end ended error finish ' +
    'focus focusin focusout formdata fullscreenchange hashchange input invalid keydown keypress keyup load ' +
    'loadeddata loadedmetadata loadstart message messageerror mousedown mouseenter mouseleave mousemove mouseout ' +
    'mouseover mouseup mousewheel mozfullscreenchange pagehide pageshow paste pause play playing pointercancel ' +
    'pointerdown pointerenter pointerleave pointermove pointerout pointerover pointerrawupdate pointerup popstate ' +
    'progress ratechange repeat reset resize scroll scrollend search seeked seeking select selectionchange ' +
    'selectstart show start stalled storage submit suspend timeupdate toggle touchcancel touchend touchmove ' +
    'touchstart transitioncancel transitionend transitionrun transitionstart unhandledrejection unload ' +
    'volumechange waiting webkitanimationend webkitanimationiteration webkitanimationstart webkittransitionend ' +
    'wheel activate beforeactivate beforedeactivate deactivate filterchange propertychange readystatechange move ' +
    'moveend movestart losecapture help errorupdate rowenter rowexit rowsdelete rowsinserted zoom resizeend ' +
    'resizestart controlselect dataavailable datasetchanged datasetcomplete layoutcomplete offline online ' +
    'rejectionhandled securitypolicyviolation slotchange visibilitychange pointerlockchange command ' +
    'webkitplaybacktargetavailabilitychanged beforematch contentvisibilityautostatechange mozpointerlockchange ' +
    'webkitmouseforcedown webkitmouseforcewillbegin webkitwillrevealbottom gesturestart gesturechange gestureend')
    .split(' ')
    .map((e) => 'on' + e),
);

/** The longest event handler name: a longer `on…` word is no handler. */
let maxEvent = 0;
for (const e of EVENTS) if (e.length > maxEvent) maxEvent = e.length;
const MAX_EVENT_LENGTH = maxEvent;

const K_SINK = 1; // alert(…) and friends: strong when called
const K_FETCH = 2; // fetch(…), import(…): strong when called with a valid argument list
const K_WEAKCALL = 3; // atob(…), btoa(…)
const K_FUNCTION = 4; // Function constructor
const K_GLOBAL = 5; // window, self, top …: member or computed access
const K_DOCUMENT = 6;
const K_LOCATION = 7;
const K_THIS = 8;
const K_CONSTRUCTOR = 9;
const K_CALLISH = 10; // .call / .apply / .bind with a tagged template
const K_MEMBER_CALL = 11; // .fromCharCode( .getScript( …: strong when a member and called
const K_MEMBER_ASSIGN = 12; // .innerHTML = …
const K_COERCE = 13; // valueOf / toString of the global object, overridden after a string breakout

const IDENT_KIND = new Map<string, number>([
  ['alert', K_SINK], ['prompt', K_SINK], ['confirm', K_SINK], ['eval', K_SINK], ['settimeout', K_SINK],
  ['setinterval', K_SINK], ['setimmediate', K_SINK], ['execscript', K_SINK], ['msgbox', K_SINK],
  ['globaleval', K_SINK], ['importscripts', K_SINK], ['$eval', K_SINK], ['$evalasync', K_SINK],
  ['fetch', K_FETCH], ['import', K_FETCH],
  ['atob', K_WEAKCALL], ['btoa', K_WEAKCALL],
  ['function', K_FUNCTION],
  ['window', K_GLOBAL], ['self', K_GLOBAL], ['top', K_GLOBAL], ['parent', K_GLOBAL], ['frames', K_GLOBAL],
  ['globalthis', K_GLOBAL], ['opener', K_GLOBAL],
  ['document', K_DOCUMENT], ['location', K_LOCATION], ['this', K_THIS],
  ['constructor', K_CONSTRUCTOR],
  ['call', K_CALLISH], ['apply', K_CALLISH], ['bind', K_CALLISH],
  ['fromcharcode', K_MEMBER_CALL], ['getscript', K_MEMBER_CALL], ['insertadjacenthtml', K_MEMBER_CALL],
  ['execcommand', K_MEMBER_CALL], ['createcontextualfragment', K_MEMBER_CALL],
  ['innerhtml', K_MEMBER_ASSIGN], ['outerhtml', K_MEMBER_ASSIGN], ['srcdoc', K_MEMBER_ASSIGN],
  ['valueof', K_COERCE], ['tostring', K_COERCE],
]);


/** `document.cookie`, `document.write`: script reading or writing what matters. */
const DOCUMENT_MEMBERS = new Set([
  'cookie', 'domain', 'write', 'writeln', 'location', 'url', 'documenturi', 'createelement', 'execcommand', 'baseuri',
  'designmode',
]);
/** DOM navigation: code when the chain goes on (`document.querySelector("p").textContent=…`), else a mention. */
const DOCUMENT_NAV = new Set([
  'body', 'head', 'forms', 'images', 'scripts', 'links', 'anchors', 'queryselector', 'queryselectorall', 'getelementbyid',
  'getelementsbyname', 'getelementsbytagname', 'getelementsbyclassname', 'documentelement', 'defaultview', 'all',
  'currentscript', 'createrange', 'open', 'referrer', 'activeelement',
]);
/**
 * Members of `self`, `top`, `parent`, `frames`, `opener` that mean the browser's window: these names
 * are also ordinary variables in other languages (Python's `self.name`, `self.eval()`), so only
 * the unmistakable ones count.
 */
const FRAME_MEMBERS = new Set(['location', 'document', 'alert', 'prompt', 'confirm', 'execscript', 'importscripts']);
/** Strings that mean something when looked up on the window object: `top['alert']`. */
const WINDOW_KEYS = new Set([
  'alert', 'prompt', 'confirm', 'eval', 'settimeout', 'setinterval', 'execscript', 'fetch', 'import', 'function',
  'constructor', 'location', 'document', 'cookie', 'write', 'writeln', 'globaleval', '$', 'jquery', 'atob', 'domain',
  'innerhtml',
]);
const GLOBAL_MEMBERS = new Set([
  'location', 'document', 'alert', 'prompt', 'confirm', 'eval', 'open', 'name', 'postmessage', 'fetch',
  'settimeout', 'setinterval', 'execscript', 'constructor', 'opener', 'localstorage', 'sessionstorage',
  'xmlhttprequest', 'navigation', 'importscripts', 'atob', 'function',
]);
const LOCATION_MEMBERS = new Set(['href', 'hash', 'search', 'replace', 'assign', 'protocol', 'pathname', 'host', 'hostname']);

const SCHEMES = ['javascript', 'vbscript', 'livescript', 'mocha', 'jscript', 'data'];
const DATA_MIME_ACTIVE = new Set([
  'text/html', 'application/xhtml+xml', 'image/svg+xml', 'text/xml', 'application/xml', 'text/javascript',
  'application/javascript', 'application/x-javascript', 'text/ecmascript', 'application/ecmascript',
  'text/vbscript', 'text/x-scriptlet', 'application/x-shockwave-flash', 'text/xsl',
]);

// ---------------------------------------------------------------------------------------------
// Scan state

const WEAK = 3;
const STRONG = SEVERITY.critical;

class Scan {
  readonly s: string;
  readonly n: number;
  readonly paranoia: Paranoia;
  readonly location: InputLocation;
  /**
   * The value is the name of a query, form, cookie or multipart field: names are identifiers,
   * so markup in one (`?<a href=x>=1`, `?  onfoo= =1`) is never a legitimate name.
   */
  readonly markupName: boolean;
  best: Hit | undefined = undefined;
  /** Names of look-alike-bracket tags seen (`¼name¾` and `¼/name¾`), as `|name|` lists (bounded). */
  lookOpen = '';
  lookClose = '';
  /** Does the value hold `</` anywhere (-1: not looked yet)? */
  hasClose = -1;
  /** Distinct weak (paranoia 1, severity < 5) signals: their keys and summed severity. */
  weakKeys = '';
  weakSum = 0;
  weakEvidence = '';
  /** Attribute-scan budget (characters), keeps the multi-start tag parser linear. */
  budget: number;
  /** Cached "next occurrence" answers: from, result (per needle). */
  private readonly cacheFrom = new Int32Array([-1, -1, -1, -1]);
  private readonly cacheAt = new Int32Array([-1, -1, -1, -1]);
  firstQuote: number;
  /** The value before lower-casing (same length), or '' when unknown. */
  orig = '';

  constructor(s: string, paranoia: Paranoia, location: InputLocation, isKey: boolean) {
    this.s = s;
    this.n = s.length;
    this.paranoia = paranoia;
    this.location = location;
    this.markupName = isKey && (location === 'query' || location === 'form' || location === 'cookie' || location === 'multipart');
    this.budget = 3 * s.length + 4096;
    let q = -1;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 34 || c === 39 || c === 96) {
        q = i;
        break;
      }
    }
    this.firstQuote = q;
  }

  get done(): boolean {
    return this.best !== undefined && this.best.paranoia === 1 && this.best.severity >= STRONG;
  }


  /** Records a hit; weak paranoia-1 hits of distinct kinds add up to a strong one. */
  hit(rule: string, severity: number, paranoia: Paranoia, evidence: string, key?: string): void {
    const ev = evidence.length > 40 ? evidence.slice(0, 40) : evidence;
    if (paranoia === 1 && severity < STRONG) {
      key = '|' + (key ?? rule + ':' + ev.slice(0, 12)) + '|';
      if (!this.weakKeys.includes(key)) {
        this.weakKeys += key;
        this.weakSum += severity;
        this.weakEvidence = this.weakEvidence === '' ? ev : this.weakEvidence;
        if (this.weakSum >= STRONG) {
          this.best = { detector: 'xss.combined', category: 'xss', severity: STRONG, paranoia: 1, evidence: (this.weakEvidence + ' + ' + ev).slice(0, 40) };
          return;
        }
      }
    }
    // Prefer hits that count at the requested paranoia, then the most severe, then the lowest level.
    const b = this.best;
    const counts = paranoia <= this.paranoia;
    const bCounts = b !== undefined && b.paranoia <= this.paranoia;
    if (
      b === undefined ||
      (counts && !bCounts) ||
      (counts === bCounts && (severity > b.severity || (severity === b.severity && paranoia < b.paranoia)))
    ) {
      this.best = { detector: 'xss.' + rule, category: 'xss', severity, paranoia, evidence: ev };
    }
  }

  /**
   * Index of the next `needle` (a one- or two-character string) at or after `from`, or -1.
   * Answers are cached per needle so that repeated searches from increasing positions stay linear.
   */
  next(slot: number, needle: string, from: number): number {
    const cf = this.cacheFrom[slot]!;
    const ca = this.cacheAt[slot]!;
    if (cf >= 0 && from >= cf && (ca < 0 || from <= ca)) return ca;
    const r = this.s.indexOf(needle, from);
    this.cacheFrom[slot] = from;
    this.cacheAt[slot] = r;
    return r;
  }

  nextQuote(q: number, from: number): number {
    return this.next(q === 34 ? 0 : q === 39 ? 1 : 2, q === 34 ? '"' : q === 39 ? "'" : '`', from);
  }

  nextCommentEnd(from: number): number {
    return this.next(3, '*/', from);
  }
}

// ---------------------------------------------------------------------------------------------
// HTML context

function readTagName(s: string, i: number): number {
  const n = s.length;
  let j = i;
  const max = Math.min(n, i + 64);
  while (j < max) {
    const c = s.charCodeAt(j);
    if (isAlpha(c) || isDigit(c) || c === 58 /* : */ || c === 45 /* - */ || c === 95 || c === 46) j++;
    else break;
  }
  return j;
}

function localName(name: string): string {
  const k = name.lastIndexOf(':');
  return k >= 0 ? name.slice(k + 1) : name;
}

/** Letters at the start of an attribute name, after stripping leading quotes or junk (`"onload`). */
function attrLetters(s: string, start: number, end: number): string {
  let a = start;
  while (a < end && !isAlpha(s.charCodeAt(a))) a++;
  let b = a;
  while (b < end) {
    const c = s.charCodeAt(b);
    if (isAlpha(c) || c === 45 || c === 58 || c === 95) b++;
    else break;
  }
  return s.slice(a, b);
}

/** XHTML, SVG, MathML, XSLT and IE behaviour namespaces: where injected elements become active. */
function activeNamespace(s: string, a: number, b: number): boolean {
  if (b - a > 256) b = a + 256;
  const v = s.slice(a, b);
  return v.includes('w3.org/1999/xhtml') || v.includes('w3.org/2000/svg') || v.includes('w3.org/1998/math') || v.includes('xsl/transform') || v.includes('schemas-microsoft-com');
}

interface TagInfo {
  attrs: number;
  /** Attributes with a value (`=`). */
  valued: number;
  event: string;
  active: string;
  formAction: boolean;
}

/**
 * Parses the attributes of a tag from `pos` (just after its name) like the HTML tokenizer, up to
 * `>` or end; a `<` outside a quoted value ends the scan (the caller examines it as a tag of its own).
 */
function parseAttrs(sc: Scan, pos: number, info: TagInfo): void {
  const s = sc.s;
  const n = sc.n;
  const start = pos;
  while (pos < n) {
    let c = s.charCodeAt(pos);
    while (pos < n && (isHtmlSpace(c) || c === 47 /* / */)) c = s.charCodeAt(++pos);
    if (pos >= n || c === 62 /* > */ || c === 60 /* < */) break;
    const ns = pos;
    let vs = -1;
    let ve = -1;
    pos++;
    while (pos < n) {
      c = s.charCodeAt(pos);
      if (isHtmlSpace(c) || c === 47 || c === 62 || c === 61 || c === 60) break;
      pos++;
    }
    const ne = pos;
    while (pos < n && isHtmlSpace(s.charCodeAt(pos))) pos++;
    let hasValue = false;
    if (s.charCodeAt(pos) === 61) {
      hasValue = true;
      pos++;
      while (pos < n && isHtmlSpace(s.charCodeAt(pos))) pos++;
      const q = s.charCodeAt(pos);
      if (q === 34 || q === 39 || q === 96) {
        const e = sc.nextQuote(q, pos + 1);
        vs = pos + 1;
        ve = e < 0 ? n : e;
        pos = e < 0 ? n : e + 1;
      } else {
        vs = pos;
        // (a `<` inside an unquoted value is examined as a tag of its own by the caller)
        while (pos < n) {
          c = s.charCodeAt(pos);
          if (isHtmlSpace(c) || c === 62 || c === 60) break;
          pos++;
        }
        ve = pos;
      }
    }
    info.attrs++;
    if (hasValue) info.valued++;
    const name = attrLetters(s, ns, ne);
    if (name.length >= 5 && name.charCodeAt(0) === 111 && name.charCodeAt(1) === 110) {
      if (info.event === '') info.event = name;
    } else if (ATTR_ACTIVE.has(name)) {
      if (info.active === '') info.active = name;
    } else if (name === 'action' && hasValue) {
      info.formAction = true;
    } else if (name.startsWith('xmlns') && hasValue && activeNamespace(s, vs, ve)) {
      // namespace declaration that turns foreign or prefixed elements (`<x:script>`) into XHTML, SVG …
      if (info.active === '') info.active = name;
    }
    if (pos - start > sc.budget) break;
  }
  sc.budget -= pos - start;
}

/**
 * Is there a `>` or one of its look-alikes at `k`: fullwidth `＞`, small `﹥`, UTF-7 `+AD4-`, `3⁄4`
 * (NFKC of `¾`), or any character whose last UTF-8 byte is 0xBE (`¾`, `о` …), which becomes `>`
 * when a US-ASCII back end strips the high bit.
 */
function lookCloser(s: string, k: number): boolean {
  const c = s.charCodeAt(k);
  if (c === 62 || c === GT_FULLWIDTH || c === GT_SMALL) return true;
  if (c >= 0x80 && (c & 0x3f) === 0x3e) return true;
  if (c === 51 && s.charCodeAt(k + 1) === FRACTION_SLASH && s.charCodeAt(k + 2) === 52) return true;
  return c === 43 && s.startsWith('+ad4-', k);
}

/**
 * Examines a tag opened at `i` (the `<`), name starting at `ns`. `look`: 0 a real `<`; 1 a
 * look-alike some back ends fold to `<` (fullwidth, `¼`, UTF-7); 2 a character that only becomes
 * `<` once a US-ASCII back end strips the high bit of its UTF-8 bytes (`м` is D0 BC), which needs
 * a tag-shaped context to count.
 */
function examineTag(sc: Scan, i: number, ns: number, look: 0 | 1 | 2): void {
  const s = sc.s;
  let ne = readTagName(s, ns);
  if (look !== 0) {
    // letters only: the look-alike `>` may follow directly (`1⁄4script3⁄4` after NFKC)
    ne = ns;
    while (ne < s.length && ne < ns + 16 && isAlpha(s.charCodeAt(ne))) ne++;
  }
  if (ne === ns) return;
  const name = s.slice(ns, ne);
  const local = localName(name);
  if (local === '') return;
  if (look !== 0) {
    const closed = lookCloser(s, ne);
    const after = s.charCodeAt(ne);
    if ((TAG_ALWAYS.has(local) || TAG_WITH_ATTRS.has(local)) && (look === 1 || closed || isHtmlSpace(after) || after === 47)) {
      sc.hit('tag-obfuscated', STRONG, 1, s.slice(i, ne));
      return;
    }
    if (closed) {
      // any element spelled with look-alike brackets, opened and closed (`¼b¾x¼/b¾`): no text does that
      const key = '|' + local + '|';
      if (s.charCodeAt(ns - 1) === 47) {
        if (sc.lookOpen.includes(key)) sc.hit('tag-obfuscated', STRONG, 1, s.slice(i, ne));
        else if (sc.lookClose.length < 256) sc.lookClose += key;
      } else if (sc.lookClose.includes(key)) {
        sc.hit('tag-obfuscated', STRONG, 1, s.slice(i, ne));
      } else if (sc.lookOpen.length < 256) {
        sc.lookOpen += key;
      }
    }
    return;
  }
  const always = TAG_ALWAYS.has(local);
  const withAttrs = TAG_WITH_ATTRS.has(local);
  const info: TagInfo = { attrs: 0, valued: 0, event: '', active: '', formAction: false };
  if (sc.budget > 0) parseAttrs(sc, ne, info);
  const ev = '<' + name;
  if (info.event !== '') {
    sc.hit('event-handler', STRONG, 1, ev + ' ' + info.event);
    return;
  }
  if (info.active !== '') {
    sc.hit('active-attribute', STRONG, 1, ev + ' ' + info.active);
    return;
  }
  // `List<Object>`, `Map<String, Style>`: a generic type argument, not a tag.
  const prev = i > 0 ? s.charCodeAt(i - 1) : 32;
  const after = s.charCodeAt(ne);
  const genericLike = isIdPart(prev) && (after === 62 || after === 44 || after === 60 || after === 91);
  // `Function<Object data>`: a type glued to a word, with a parameter name and no attribute value
  const typeSig = genericLike || (isIdPart(prev) && info.attrs > 0 && info.valued === 0);
  // `<head>`, `<meta>` in a Markdown code span: the name of an element in documentation
  const codeSpan = info.attrs === 0 && prev === 96 && after === 62 && s.charCodeAt(ne + 1) === 96;
  if (always) {
    if ((genericLike && local !== 'script') || placeholderTag(sc, i, ne, info)) sc.hit('tag', WEAK, 1, ev, 'el:' + local);
    else sc.hit('tag', STRONG, 1, ev);
    return;
  }
  if (sc.markupName && info.attrs > 0 && !genericLike && (TAG_HTML.has(local) || withAttrs || TAG_WEAK.has(local))) {
    // an HTML element with attributes in a form field's name
    sc.hit('markup-in-name', STRONG, 1, ev);
    return;
  }
  if (withAttrs) {
    if (info.attrs > 0 && !typeSig && (local !== 'form' || info.formAction)) sc.hit('tag', STRONG, 1, ev);
    else if (!typeSig && !codeSpan) sc.hit('tag', WEAK, 1, ev, 'el:' + local);
    return;
  }
  if (TAG_WEAK.has(local)) {
    if (!genericLike && !codeSpan) sc.hit('breakout-tag', WEAK, 1, ev, 'el:' + local);
    return;
  }
  if (sc.paranoia >= 2 && TAG_HTML.has(local)) {
    if (info.attrs > 0) sc.hit('html-injection', WEAK, 2, ev);
    else if (sc.paranoia >= 3 && !genericLike) sc.hit('html-tag', SEVERITY.notice, 3, ev);
  }
}

/**
 * A tag name spread out with whitespace, for the filters and back ends that strip whitespace
 * before parsing: letters one by one (`<f o r m`, `<d i a l o g`) or a namespace prefix set
 * apart (`< x: script`). Only the names of real elements count, spelled in full.
 */
function spacedTag(sc: Scan, i: number): void {
  const s = sc.s;
  const n = sc.n;
  const lim = Math.min(n, i + 64);
  let j = i + 1;
  let spaced = false;
  while (j < lim && isHtmlSpace(s.charCodeAt(j))) {
    j++;
    spaced = true;
  }
  // `< x: script`: prefix, colon, whitespace somewhere, then a script-running element
  let k = j;
  while (k < lim && isAlpha(s.charCodeAt(k))) k++;
  if (k > j && k < lim && s.charCodeAt(k) === 58) {
    let m = k + 1;
    while (m < lim && isHtmlSpace(s.charCodeAt(m))) {
      m++;
      spaced = true;
    }
    if (!spaced) return;
    let e = m;
    while (e < lim && isAlpha(s.charCodeAt(e))) e++;
    const after = s.charCodeAt(e);
    if (TAG_SPACED_PREFIX.has(s.slice(m, e)) && (e >= n || isHtmlSpace(after) || after === 62 || after === 47)) {
      sc.hit('tag-spaced', STRONG, 1, s.slice(i, e));
    }
    return;
  }
  // `<f o r m`: single letters, each followed by whitespace, until the last one
  let name = '';
  let p = j;
  while (p < lim && name.length < 16) {
    if (!isAlpha(s.charCodeAt(p)) || isAlpha(s.charCodeAt(p + 1))) break;
    name += s[p];
    p++;
    let w = 0;
    while (p < lim && w < 3 && isHtmlSpace(s.charCodeAt(p))) {
      p++;
      w++;
    }
    if (w === 0) break;
  }
  if (name.length < 3) return;
  if (TAG_ALWAYS.has(name) || TAG_WITH_ATTRS.has(name) || (name.length >= 4 && (TAG_HTML.has(name) || TAG_WEAK.has(name)))) {
    sc.hit('tag-spaced', STRONG, 1, s.slice(i, p).trim());
  }
}

/**
 * `--pretty=<style>`, `HTML <style> and …`, `.argument('<script>')`: a bare tag name in angle
 * brackets inside text, as documentation writes placeholders and element names. Not when the
 * value opens with it, it follows a breakout (`">`), it has attributes, content follows it or the
 * value closes an element anywhere.
 */
function placeholderTag(sc: Scan, i: number, ne: number, info: TagInfo): boolean {
  const s = sc.s;
  if (info.attrs > 0 || s.charCodeAt(ne) !== 62 || i === 0) return false;
  const b = s.charCodeAt(i - 1);
  if (!(isIdPart(b) || isHtmlSpace(b) || b === 61 || b === 40 || b === 91 || b === 44 || b === 96 || b === 39 || b === 34)) return false;
  if ((b === 39 || b === 34) && i >= 2 && s.charCodeAt(i - 2) === 62) return false;
  const a = s.charCodeAt(ne + 1);
  if (!(Number.isNaN(a) || isHtmlSpace(a) || a === 34 || a === 39 || a === 96 || a === 44 || a === 46 || a === 41 || a === 93 || a === 91 || a === 124)) return false;
  if (sc.hasClose === -1) sc.hasClose = s.includes('</') ? 1 : 0;
  return sc.hasClose === 0;
}

function scanTags(sc: Scan, lookalikes: boolean): void {
  const s = sc.s;
  const n = sc.n;
  for (let i = s.indexOf('<'); i >= 0 && i < n; i = s.indexOf('<', i + 1)) {
    const c = s.charCodeAt(i + 1);
    if (isAlpha(c)) {
      examineTag(sc, i, i + 1, 0);
      if (isHtmlSpace(s.charCodeAt(i + 2)) || s.charCodeAt(i + 2) === 58) spacedTag(sc, i);
    } else if (c === 58 /* <:vmlframe */ && isAlpha(s.charCodeAt(i + 2))) {
      examineTag(sc, i, i + 2, 0);
    } else if (isHtmlSpace(c)) {
      spacedTag(sc, i);
    } else if (c === 47 /* / */) {
      const ne = readTagName(s, i + 2);
      if (ne > i + 2) {
        const name = localName(s.slice(i + 2, ne));
        if (name === 'script') sc.hit('script-close', STRONG, 1, '</script');
        else if (CLOSE_WEAK.has(name) && (ne >= n || s.charCodeAt(ne) === 62 || isHtmlSpace(s.charCodeAt(ne)))) sc.hit('breakout-close', WEAK, 1, '</' + name, 'el:' + name);
      }
    } else if (c === 33 /* ! */) {
      if (s.startsWith('<!--#', i)) {
        const ne = readTagName(s, i + 5);
        const d = s.slice(i + 5, ne);
        if (d === 'exec' || d === 'include' || d === 'echo' || d === 'set' || d === 'config' || d === 'printenv' || d === 'fsize' || d === 'flastmod') {
          sc.hit('ssi', STRONG, 1, '<!--#' + d);
        }
      }
    } else if (c === 63 /* ? */) {
      let j = i + 2;
      while (j < n && isHtmlSpace(s.charCodeAt(j))) j++;
      const ne = readTagName(s, j);
      const pi = s.slice(j, ne);
      if (pi === 'import' || pi === 'xml:namespace') sc.hit('processing-instruction', STRONG, 1, '<?' + pi);
    }
    // Attribute breakout: `">` or `'>` right before a new tag.
    if ((isAlpha(c) || c === 33 || c === 47) && i >= 2) {
      let k = i - 1;
      while (k > 0 && isHtmlSpace(s.charCodeAt(k))) k--;
      if (s.charCodeAt(k) === 62) {
        let q = k - 1;
        if (s.charCodeAt(q) === 47) q--;
        const qc = s.charCodeAt(q);
        if (qc === 34 || qc === 39 || qc === 96) sc.hit('attribute-breakout', WEAK, 1, s.slice(q, Math.min(n, i + 8)), 'attribute-breakout');
      } else {
        const qc = s.charCodeAt(i - 1);
        if ((qc === 34 || qc === 39) && isAlpha(c)) sc.hit('quote-tag', SEVERITY.notice, 1, s.slice(i - 1, Math.min(n, i + 8)), 'quote-tag');
      }
    }
    if (sc.done) return;
  }
  if (lookalikes) {
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) continue;
      let j = -1;
      let look: 1 | 2 = 1;
      if (c === LT_FULLWIDTH || c === LT_SMALL || c === LT_QUARTER) j = i + 1;
      else if (c === FRACTION_SLASH && s.charCodeAt(i - 1) === 49 && s.charCodeAt(i + 1) === 52) j = i + 2; // NFKC of ¼
      else if ((c & 0x3f) === 0x3c) {
        j = i + 1;
        look = 2;
      }
      if (j >= 0) {
        if (s.charCodeAt(j) === 47) j++;
        if (isAlpha(s.charCodeAt(j))) examineTag(sc, c === FRACTION_SLASH ? i - 1 : i, j, look);
        if (sc.done) return;
      }
    }
  }
}

/** UTF-7 `+ADw-script+AD4-`. */
function scanUtf7(sc: Scan): void {
  const s = sc.s;
  for (let i = s.indexOf('+adw-'); i >= 0; i = s.indexOf('+adw-', i + 5)) {
    let j = i + 5;
    if (s.charCodeAt(j) === 47) j++;
    examineTag(sc, i, j, 1);
    if (sc.done) return;
  }
}

// ---------------------------------------------------------------------------------------------
// Attribute context: `on*=` after a separator

function isAttrSep(c: number): boolean {
  return isHtmlSpace(c) || c === 47 || c === 34 || c === 39 || c === 96 || c === 43 /* + */ || c === 59 || c === 44 || Number.isNaN(c);
}

/** Does the text after `=` at `pos` look like script (a call, member access, template, js: URL)? */
function valueLooksLikeJs(s: string, pos: number): boolean {
  const n = s.length;
  let i = pos;
  while (i < n && isHtmlSpace(s.charCodeAt(i))) i++;
  const q = s.charCodeAt(i);
  if (q === 34 || q === 39 || q === 96) i++;
  const end = Math.min(n, i + 48);
  let sawId = false;
  for (; i < end; i++) {
    const c = s.charCodeAt(i);
    if (isIdPart(c)) {
      sawId = true;
      continue;
    }
    if (c === 40 || c === 96 || c === 91 || c === 61) return sawId || c === 40;
    if (c === 46 && sawId) return true;
    if (c === 58 && sawId) return true; // javascript:
    if (isHtmlSpace(c) || c === 62 || c === 34 || c === 39) return false;
    sawId = false;
  }
  return false;
}

/** Is the word ending before the whitespace at `i` a JavaScript declaration keyword? */
function declaredBefore(s: string, i: number): boolean {
  let j = i;
  while (j >= 0 && i - j < 8 && isHtmlSpace(s.charCodeAt(j))) j--;
  const e = j + 1;
  while (j >= 0 && e - j <= 6 && isAlpha(s.charCodeAt(j))) j--;
  if (j >= 0 && isIdPart(s.charCodeAt(j))) return false;
  const w = s.slice(j + 1, e);
  return w === 'const' || w === 'let' || w === 'var';
}

function scanAttrAssign(sc: Scan): void {
  const s = sc.s;
  const n = sc.n;
  for (let e = s.indexOf('='); e >= 0; e = s.indexOf('=', e + 1)) {
    let j = e - 1;
    const lim = Math.max(0, e - 16);
    while (j >= lim && isHtmlSpace(s.charCodeAt(j))) j--;
    const we = j + 1;
    const lim2 = Math.max(0, we - 64);
    while (j >= lim2 && isAlpha(s.charCodeAt(j))) j--;
    const ws = j + 1;
    if (we - ws < 5) continue;
    const sepC = ws > 0 ? s.charCodeAt(ws - 1) : NaN;
    if (!isAttrSep(sepC)) continue;
    if (s.charCodeAt(e + 1) === 61) continue; // ==
    const word = s.slice(ws, we);
    if (isHtmlSpace(sepC) && declaredBefore(s, ws - 1)) continue; // `const onError = …`
    const quoteBefore = sc.firstQuote >= 0 && sc.firstQuote < ws;
    const spaceSep = isHtmlSpace(sepC) || sepC === 47 || sepC === 34 || sepC === 39 || sepC === 96 || sepC === 43;
    if (word.charCodeAt(0) === 111 && word.charCodeAt(1) === 110) {
      const known = EVENTS.has(word);
      const js = valueLooksLikeJs(s, e + 1);
      if (known && (spaceSep || js)) sc.hit('event-handler', STRONG, 1, s.slice(Math.max(0, ws - 1), Math.min(n, e + 1)));
      else if (known) sc.hit('event-handler', WEAK, 1, word + '=');
      else if (quoteBefore && spaceSep) sc.hit('event-handler', js ? STRONG : WEAK, 1, s.slice(ws - 1, Math.min(n, e + 1)));
      else if (sc.markupName && spaceSep && sepC !== 43 && word.length <= MAX_EVENT_LENGTH) {
        // `?%20%20onfoo%3d=x`: an attribute assignment in a field's name (names hold no spaces)
        sc.hit('event-handler', STRONG, 1, s.slice(ws - 1, Math.min(n, e + 1)));
      }
      else if (spaceSep && sepC !== 43) sc.hit('event-handler', WEAK, 1, word + '=');
    } else if (ATTR_ACTIVE.has(word)) {
      if (quoteBefore && spaceSep) sc.hit('active-attribute', STRONG, 1, s.slice(ws - 1, Math.min(n, e + 1)));
      else if (spaceSep) sc.hit('active-attribute', WEAK, 1, word + '=');
    }
    if (sc.done) return;
  }
}

// ---------------------------------------------------------------------------------------------
// URL context: javascript:, vbscript:, data:

function scanSchemes(sc: Scan): void {
  const s = sc.s;
  const n = sc.n;
  for (let p = s.indexOf(':'); p >= 0; p = s.indexOf(':', p + 1)) {
    // Walk back over letters and the noise browsers ignore inside or before a scheme.
    let j = p - 1;
    let letters = '';
    let noise = false;
    let spaceNoise = false;
    let matched = '';
    let matchedNoise = false;
    let matchedSpace = false;
    let boundary = 0;
    const lim = Math.max(0, p - 128);
    while (j >= lim) {
      const c = s.charCodeAt(j);
      if (isAlpha(c)) {
        if (letters.length >= 10) break;
        letters = s[j] + letters;
        if (SCHEMES.includes(letters)) {
          const b = j > 0 ? s.charCodeAt(j - 1) : NaN;
          if (!isAlpha(b)) {
            matched = letters;
            matchedNoise = noise;
            matchedSpace = spaceNoise;
            boundary = b;
          }
        }
        j--;
      } else if (isSchemeNoise(c) && letters.length > 0 && letters.length < 10) {
        // Noise is only interior if more letters follow (checked by the match above).
        if (c === 32) spaceNoise = true;
        else noise = true;
        j--;
      } else if (c === 59 /* ; */ && letters.length < 10) {
        // an entity the decoder did not know (`ja&Tab;vascript`, `&NewLine;` in the wrong case)
        let a = j - 1;
        while (a >= lim && a > j - 12 && isAlpha(s.charCodeAt(a))) a--;
        if (a < 0 || s.charCodeAt(a) !== 38 || a === j - 1) break;
        noise = true;
        j = a - 1;
      } else {
        break;
      }
    }
    if (matched === '') continue;
    if (matched === 'data') {
      examineDataUrl(sc, p + 1);
    } else {
      // What follows the colon.
      let k = p + 1;
      while (k < n && k < p + 16 && isHtmlSpace(s.charCodeAt(k))) k++;
      const followSpace = k > p + 1;
      const atEnd = k >= n;
      const prevIsWord = isAlpha(boundary) || ((boundary === 32) && p - matched.length - 2 >= 0 && isAlpha(s.charCodeAt(p - matched.length - 2)));
      const urlPos = Number.isNaN(boundary) || boundary === 34 || boundary === 39 || boundary === 96 || boundary === 61 || boundary === 40 || boundary === 62 || boundary === 60 || boundary === 59 || boundary === 44 || boundary === 91 || boundary === 123;
      // `<` is no start of a script, except an HTML-like comment (`javascript:<!--`): `JavaScript:
      // <https://…>` is a label and a Markdown autolink (markup after the scheme is read as a tag)
      const jsAfter = !atEnd && codeFollows(s, k) && (s.charCodeAt(k) !== 60 || s.startsWith('<!--', k));
      const ev = s.slice(Math.max(0, p - matched.length - 2), Math.min(n, p + 12)).trim();
      if (matchedNoise) {
        sc.hit('js-url', STRONG, 1, ev);
      } else if (matchedSpace) {
        if (jsAfter) sc.hit('js-url', STRONG, 1, ev);
      } else if (!followSpace && !atEnd) {
        if (!prevIsWord || jsAfter) sc.hit('js-url', STRONG, 1, ev);
        else sc.hit('js-url', WEAK, 1, ev);
      } else if (jsAfter) {
        sc.hit('js-url', STRONG, 1, ev);
      } else if (urlPos) {
        sc.hit('js-url', atEnd ? STRONG : WEAK, 1, ev);
      } else if (sc.paranoia >= 2) {
        sc.hit('js-url', WEAK, 2, ev);
      }
    }
    if (sc.done) return;
  }
}

/** `data:` URL at `pos` (after the colon): active MIME type, or HTML content. */
function examineDataUrl(sc: Scan, pos: number): void {
  const s = sc.s;
  const n = sc.n;
  let i = pos;
  while (i < n && i < pos + 16 && isHtmlSpace(s.charCodeAt(i))) i++;
  const ms = i;
  while (i < n && i < ms + 48) {
    const c = s.charCodeAt(i);
    if (isAlpha(c) || isDigit(c) || c === 47 || c === 43 || c === 46 || c === 45) i++;
    else break;
  }
  const mime = s.slice(ms, i);
  if (DATA_MIME_ACTIVE.has(mime)) {
    sc.hit('data-url', STRONG, 1, 'data:' + mime);
    return;
  }
  if (mime !== '') return;
  // data:,<html> or data:;base64,… with no type
  while (i < n && i < ms + 64 && s.charCodeAt(i) !== 44) i++;
  if (s.charCodeAt(i) !== 44) return;
  i++;
  while (i < n && i < ms + 80 && isHtmlSpace(s.charCodeAt(i))) i++;
  if (s.charCodeAt(i) === 60) sc.hit('data-url', STRONG, 1, 'data:,<');
  else if (codeFollows(s, i)) sc.hit('data-url', WEAK, 1, 'data:,');
}

/** Does JavaScript code start at `k`: a call, member access, comment, literal or punctuation? */
function codeFollows(s: string, k: number): boolean {
  const n = s.length;
  const c = s.charCodeAt(k);
  if (Number.isNaN(c)) return false;
  if (c === 47 || c === 40 || c === 91 || c === 123 || c === 34 || c === 39 || c === 96 || c === 33 || c === 45 || c === 43 || c === 59 || c === 126 || c === 37 || c === 92 || c === 60) return true;
  if (isDigit(c)) return true;
  if (!isIdStart(c)) return false;
  let j = k;
  while (j < n && j < k + 40 && isIdPart(s.charCodeAt(j))) j++;
  while (j < n && s.charCodeAt(j) === 32) j++;
  const d = s.charCodeAt(j);
  return d === 40 || d === 46 || d === 61 || d === 91 || d === 96 || d === 59;
}

// ---------------------------------------------------------------------------------------------
// CSS context

function skipCssNoise(s: string, i: number, lim: number): number {
  while (i < lim) {
    const c = s.charCodeAt(i);
    if (isHtmlSpace(c) || c === 92) {
      i++;
    } else if (c === 47 && s.charCodeAt(i + 1) === 42) {
      // a comment, searched for within the window only
      let e = i + 2;
      while (e + 1 < lim && !(s.charCodeAt(e) === 42 && s.charCodeAt(e + 1) === 47)) e++;
      if (e + 1 >= lim) return lim;
      i = e + 2;
    } else {
      break;
    }
  }
  return i;
}

function scanCss(sc: Scan): void {
  const s = sc.s;
  const n = sc.n;
  // expression( after a property colon, letters possibly split by comments and escapes.
  for (let p = s.indexOf(':'); p >= 0; p = s.indexOf(':', p + 1)) {
    const lim = Math.min(n, p + 64);
    let i = p + 1;
    let letters = '';
    while (i < lim && letters.length < 10) {
      i = skipCssNoise(s, i, lim);
      const c = s.charCodeAt(i);
      if (!isAlpha(c)) break;
      letters += s[i];
      i++;
    }
    if (letters === 'expression') {
      i = skipCssNoise(s, i, lim);
      if (s.charCodeAt(i) === 40) {
        sc.hit('css-expression', STRONG, 1, 'expression(');
        return;
      }
    }
  }
  const b = s.indexOf('-moz-binding');
  if (b >= 0) {
    sc.hit('css-binding', STRONG, 1, '-moz-binding');
    return;
  }
  for (const prop of ['behavior', 'behaviour', 'binding']) {
    const k = s.indexOf(prop);
    if (k < 0 || (k > 0 && isAlpha(s.charCodeAt(k - 1)))) continue;
    const i = skipCssNoise(s, k + prop.length, Math.min(n, k + prop.length + 16));
    if (s.charCodeAt(i) !== 58) continue;
    const u = skipCssNoise(s, i + 1, Math.min(n, i + 20));
    if (s.startsWith('url', u)) {
      sc.hit('css-behavior', STRONG, 1, prop + ':url(');
      return;
    }
  }
}

/** CSS `url(javascript…`, even without its colon (cut or split by the attacker). */
function scanCssUrl(sc: Scan): void {
  const s = sc.s;
  const n = sc.n;
  for (let u = s.indexOf('url'); u >= 0; u = s.indexOf('url', u + 3)) {
    let i = skipCssNoise(s, u + 3, Math.min(n, u + 24));
    if (s.charCodeAt(i) !== 40) continue;
    i = skipCssNoise(s, i + 1, Math.min(n, i + 24));
    const q = s.charCodeAt(i);
    if (q === 34 || q === 39) i = skipCssNoise(s, i + 1, Math.min(n, i + 24));
    let letters = '';
    while (i < n && letters.length < 10) {
      const c = s.charCodeAt(i);
      if (isAlpha(c)) letters += s[i];
      else if (!isSchemeNoise(c)) break;
      i++;
    }
    if (letters === 'javascript' || letters === 'vbscript' || letters === 'livescript') {
      sc.hit('css-url', STRONG, 1, 'url(' + letters);
      return;
    }
  }
}

function scanCssImport(sc: Scan): void {
  const s = sc.s;
  const n = sc.n;
  const im = s.indexOf('@import');
  if (im >= 0) {
    const i = skipCssNoise(s, im + 7, Math.min(n, im + 24));
    const c = s.charCodeAt(i);
    if (c === 34 || c === 39 || s.startsWith('url(', i)) sc.hit('css-import', SEVERITY.error, 1, '@import');
  }
}

// ---------------------------------------------------------------------------------------------
// JavaScript context

/** Skips whitespace and comments (bounded, cached), returns the next significant index. */
function skipJs(sc: Scan, i: number): number {
  const s = sc.s;
  const n = sc.n;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (isHtmlSpace(c) || c === 0xa0) {
      i++;
    } else if (c === 47 && s.charCodeAt(i + 1) === 42) {
      const e = sc.nextCommentEnd(i + 2);
      if (e < 0) return n;
      i = e + 2;
    } else {
      break;
    }
  }
  return i;
}

/** End of a `\uXXXX` or `\u{X…}` escape starting at `i` (the backslash), or -1. */
function escEnd(s: string, i: number): number {
  if (s.charCodeAt(i) !== 92 || s.charCodeAt(i + 1) !== 117) return -1;
  if (s.charCodeAt(i + 2) === 123) {
    let j = i + 3;
    while (j < i + 10 && isHex(s.charCodeAt(j))) j++;
    return s.charCodeAt(j) === 125 && j > i + 3 ? j + 1 : -1;
  }
  for (let j = i + 2; j < i + 6; j++) if (!isHex(s.charCodeAt(j))) return -1;
  return i + 6;
}

/** Reads an identifier at `i` (letters, digits, `$`, `_`, unicode escapes); returns its end. */
function identEnd(s: string, i: number): number {
  const n = s.length;
  let j = i;
  while (j < n) {
    const c = s.charCodeAt(j);
    if (isIdPart(c)) j++;
    else if (c === 92) {
      const e = escEnd(s, j);
      if (e < 0) break;
      j = e;
    } else break;
  }
  return j;
}

function identText(s: string, a: number, b: number): string {
  const raw = s.slice(a, b);
  if (!raw.includes('\\')) return raw;
  let out = '';
  let i = 0;
  while (i < raw.length) {
    const e = escEnd(raw, i);
    if (e < 0) {
      out += raw[i];
      i++;
      continue;
    }
    const hex = raw.charCodeAt(i + 2) === 123 ? raw.slice(i + 3, e - 1) : raw.slice(i + 2, e);
    const cp = parseInt(hex, 16);
    out += cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp).toLowerCase() : '';
    i = e;
  }
  return out;
}

const T_ID = 1;
const T_LIT = 2; // number, string, regex
const T_TPL = 3;
const T_OP = 4;
const T_PUNCT = 5;

function isOpChar(c: number): boolean {
  return c === 43 || c === 45 || c === 42 || c === 47 || c === 37 || c === 61 || c === 60 || c === 62 || c === 38 || c === 124 || c === 94 || c === 33 || c === 63 || c === 58 || c === 126;
}

/**
 * A small JavaScript expression checker for a call's argument list, from the `(` at `open`:
 * 1 valid (or long/unterminated but well-formed so far), 2 valid with a single bare identifier
 * argument, 0 not JavaScript (adjacent operands, stray `;` …).
 */
function checkArgs(sc: Scan, open: number): { ok: number; end: number } {
  const s = sc.s;
  const n = sc.n;
  const stack: number[] = [41];
  let i = open + 1;
  let expectOperand = true;
  let justOpened = true;
  let tokens = 0;
  let soleIdent = true;
  while (tokens < 24) {
    i = skipJs(sc, i);
    if (i >= n) return { ok: tokens > 0 ? 1 : 0, end: n };
    const c = s.charCodeAt(i);
    let t: number;
    let te = i + 1;
    if (isIdStart(c) || c === 92) {
      te = identEnd(s, i);
      if (te === i) return { ok: 0, end: i };
      t = T_ID;
    } else if (isDigit(c) || (c === 46 && isDigit(s.charCodeAt(i + 1)))) {
      while (te < n && (isIdPart(s.charCodeAt(te)) || s.charCodeAt(te) === 46)) te++;
      t = T_LIT;
    } else if (c === 34 || c === 39) {
      const e = sc.nextQuote(c, i + 1);
      te = e < 0 ? n : e + 1;
      t = T_LIT;
    } else if (c === 96) {
      const e = sc.nextQuote(96, i + 1);
      te = e < 0 ? n : e + 1;
      t = T_TPL;
    } else if (c === 47 && expectOperand) {
      // regex literal
      let j = i + 1;
      const lim = Math.min(n, i + 200);
      while (j < lim) {
        const d = s.charCodeAt(j);
        if (d === 92) j += 2;
        else if (d === 47 || d === 10) break;
        else j++;
      }
      if (s.charCodeAt(j) !== 47) return { ok: 0, end: j };
      te = j + 1;
      while (te < n && isAlpha(s.charCodeAt(te))) te++;
      t = T_LIT;
    } else if (c === 63 && s.charCodeAt(i + 1) === 46 && !isDigit(s.charCodeAt(i + 2)) && !expectOperand) {
      // optional chaining: `a?.b` a member, `a?.(…)`, `a?.[…]` a call or a subscript
      const k = skipJs(sc, i + 2);
      const d = s.charCodeAt(k);
      if (isIdStart(d)) {
        i = identEnd(s, k);
        tokens++;
        justOpened = false;
        continue;
      }
      if (d !== 40 && d !== 91) return { ok: 0, end: k };
      i = k;
      continue;
    } else if (isOpChar(c)) {
      while (te < n && isOpChar(s.charCodeAt(te)) && te < i + 4) {
        const d = s.charCodeAt(te);
        if (d === 47 && (s.charCodeAt(te + 1) === 47 || s.charCodeAt(te + 1) === 42)) break;
        te++;
      }
      t = T_OP;
    } else {
      t = T_PUNCT;
    }
    tokens++;
    if (t !== T_ID || tokens > 1) soleIdent = soleIdent && t === T_PUNCT && c === 41 && tokens === 2;
    if (t === T_PUNCT) {
      if (c === 40 || c === 91) {
        stack.push(c === 40 ? 41 : 93);
        expectOperand = true;
        justOpened = true;
        i = te;
        continue;
      }
      if (c === 123) {
        if (!expectOperand) return { ok: 0, end: i };
        // object literal or arrow body: skip balanced, leniently
        let depth = 0;
        let j = i;
        const lim = Math.min(n, i + 512);
        for (; j < lim; j++) {
          const d = s.charCodeAt(j);
          if (d === 123) depth++;
          else if (d === 125 && --depth === 0) break;
        }
        if (j >= lim) return { ok: 1, end: j };
        i = j + 1;
        expectOperand = false;
        justOpened = false;
        continue;
      }
      if (c === 41 || c === 93) {
        if (expectOperand && !justOpened) return { ok: 0, end: i };
        if (stack[stack.length - 1] !== c) return { ok: 0, end: i };
        stack.pop();
        if (stack.length === 0) return { ok: soleIdent ? 2 : 1, end: te };
        expectOperand = false;
        justOpened = false;
        i = te;
        continue;
      }
      if (c === 44) {
        if (expectOperand) return { ok: 0, end: i };
        expectOperand = true;
        justOpened = false;
        i = te;
        continue;
      }
      if (c === 46) {
        if (s.startsWith('...', i) && expectOperand) {
          i += 3;
          continue;
        }
        if (expectOperand) return { ok: 0, end: i };
        const k = skipJs(sc, te);
        if (!isIdStart(s.charCodeAt(k))) return { ok: 0, end: k };
        i = identEnd(s, k);
        justOpened = false;
        continue;
      }
      return { ok: 0, end: i };
    }
    justOpened = false;
    if (expectOperand) {
      if (t === T_ID) {
        const w = s.slice(i, te);
        if (!(w === 'typeof' || w === 'void' || w === 'new' || w === 'delete' || w === 'await')) expectOperand = false;
      } else if (t === T_LIT || t === T_TPL) {
        expectOperand = false;
      } else if (t === T_OP) {
        // unary operators only
        for (let k = i; k < te; k++) {
          const d = s.charCodeAt(k);
          if (d !== 33 && d !== 126 && d !== 43 && d !== 45) return { ok: 0, end: i };
        }
      }
    } else {
      if (t === T_ID) {
        const w = s.slice(i, te);
        if (w === 'in' || w === 'instanceof' || w === 'of') expectOperand = true;
        else return { ok: 0, end: i };
      } else if (t === T_LIT) {
        return { ok: 0, end: i };
      } else if (t === T_OP) {
        expectOperand = true;
      }
      // T_TPL after an operand: tagged template, still an operand
    }
    i = te;
  }
  return { ok: 1, end: i };
}

/** Reads `[ 'a' + "b" ]` (strings, `+`, comments) from the `[` at `open`; returns the concatenated string. */
function bracketString(sc: Scan, open: number): { str: string | undefined; end: number; obfuscated: boolean } {
  const s = sc.s;
  const n = sc.n;
  let i = skipJs(sc, open + 1);
  let out = '';
  let any = false;
  let obfuscated = false;
  for (let parts = 0; parts < 16; parts++) {
    const q = s.charCodeAt(i);
    if (q !== 34 && q !== 39 && q !== 96) return { str: undefined, end: i, obfuscated: false };
    const e = sc.nextQuote(q, i + 1);
    if (e < 0 || e - i > 128) return { str: undefined, end: n, obfuscated: false };
    const raw = s.slice(i + 1, e);
    if (raw.includes('\\') || parts > 0) obfuscated = true;
    out += decodeJsString(raw);
    any = true;
    i = skipJs(sc, e + 1);
    const c = s.charCodeAt(i);
    if (c === 93) return { str: any ? out : undefined, end: i + 1, obfuscated };
    if (c !== 43) return { str: undefined, end: i, obfuscated: false };
    i = skipJs(sc, i + 1);
  }
  return { str: undefined, end: i, obfuscated: false };
}

function decodeJsString(raw: string): string {
  if (!raw.includes('\\')) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const d = raw[i + 1];
    if (d === 'x' && i + 3 < raw.length + 0) {
      const cp = parseInt(raw.slice(i + 2, i + 4), 16);
      if (!Number.isNaN(cp)) {
        out += String.fromCharCode(cp).toLowerCase();
        i += 3;
        continue;
      }
    }
    if (d === 'u') {
      const e = escEnd(raw, i);
      if (e > 0) {
        out += identText(raw, i, e);
        i = e - 1;
        continue;
      }
    }
    if (d !== undefined) {
      out += d;
      i++;
    }
  }
  return out;
}

function prevSignificant(s: string, i: number): number {
  let j = i - 1;
  const lim = Math.max(0, i - 32);
  while (j >= lim && isHtmlSpace(s.charCodeAt(j))) j--;
  return j >= lim ? j : -1;
}

/** Member name after the `.` at `dot`: [start, end) or undefined. */
function memberAfter(sc: Scan, dot: number): { name: string; end: number } | undefined {
  const s = sc.s;
  const k = skipJs(sc, dot + 1);
  const c = s.charCodeAt(k);
  if (!isIdStart(c) && c !== 92) return undefined;
  const e = identEnd(s, k);
  return { name: identText(s, k, e), end: e };
}

function examineIdent(sc: Scan, a: number, b: number): void {
  const s = sc.s;
  const n = sc.n;
  const len = b - a;
  if (len < 3 || len > 64) return;
  let k = skipJs(sc, b);
  let nc = k < n ? s.charCodeAt(k) : NaN;
  if (nc === 63 && s.charCodeAt(k + 1) === 46 && (s.charCodeAt(k + 2) === 40 || s.charCodeAt(k + 2) === 96)) {
    // optional call: alert?.(1)
    k += 2;
    nc = s.charCodeAt(k);
  }
  // Only identifiers followed by something JavaScript-ish can matter.
  if (!(nc === 40 || nc === 96 || nc === 46 || nc === 91 || nc === 41 || nc === 125 || nc === 59 || nc === 44 || nc === 61 || nc === 93 || nc === 60 || Number.isNaN(nc))) return;
  let name = identText(s, a, b);
  let kind = IDENT_KIND.get(name);
  if (kind === undefined && name.length > 6 && name.startsWith('script')) {
    // `scriptalert(1)/script`: a script tag whose brackets a filter stripped
    name = name.slice(6);
    kind = IDENT_KIND.get(name);
    if (kind !== K_SINK && kind !== K_DOCUMENT) return;
  }
  if (kind === undefined) return;
  if (nc === 96 && !templateCanTag(s, a)) return;
  const p = prevSignificant(s, a);
  let pc = p >= 0 ? s.charCodeAt(p) : NaN;
  // "… the end. Call `x`": a full stop before whitespace, not member access
  if (pc === 46 && p > 0 && isHtmlSpace(s.charCodeAt(p + 1)) && (isIdPart(s.charCodeAt(p - 1)) || s.charCodeAt(p - 1) === 96 || s.charCodeAt(p - 1) === 41)) pc = 32;
  const isMember = pc === 46;
  switch (kind) {
    case K_SINK:
    case K_FETCH:
    case K_WEAKCALL:
      sinkUse(sc, name, kind, a, b, k, nc, pc);
      return;
    case K_FUNCTION: {
      if (nc !== 40) return;
      const newBefore = p >= 2 && s.startsWith('new', p - 2) && !isIdPart(s.charCodeAt(p - 3));
      const first = s.charCodeAt(skipJs(sc, k + 1));
      // `x' (function(){…}()) '`, `";(function(){…})()`: a function expression right after
      // leaving the application's string is the payload, whatever it does
      if (!newBefore && !isMember && closingBreakout(sc, p)) {
        sc.hit('js-breakout', STRONG, 1, s.slice(Math.max(0, p - 2), b + 2));
        return;
      }
      // Only the Function constructor matters: `new Function(…)` or `Function('code')`.
      if (!newBefore && first !== 34 && first !== 39 && first !== 96) {
        if (sc.paranoia >= 2 && first === 41) sc.hit('js-function', WEAK, 2, 'function(');
        return;
      }
      const r = checkArgs(sc, k);
      if (r.ok === 0) return;
      // "added a new function (foo_bar) that …": a word in parentheses after a spaced `function`
      if (r.ok === 2 && k > b) return;
      const after = skipJs(sc, r.end);
      const ac = s.charCodeAt(after);
      if (ac === 123 || ac === 61) {
        if (sc.paranoia >= 2) sc.hit('js-function', WEAK, 2, 'function(');
        return;
      }
      const firstArg = skipJs(sc, k + 1);
      const fc = s.charCodeAt(firstArg);
      if (newBefore || fc === 34 || fc === 39 || fc === 96 || ac === 40) sc.hit('js-call', STRONG, 1, newBefore ? 'new function(' : 'function(\'…\')');
      return;
    }
    case K_GLOBAL:
    case K_DOCUMENT:
    case K_LOCATION:
    case K_THIS:
      // `Document.location`, `Window.open()`: the interface's name in documentation; the
      // objects a script reaches are spelled `document`, `window`, `location` (case matters)
      if (kind !== K_THIS && isUpper(sc.orig.charCodeAt(a)) && !isUpper(sc.orig.charCodeAt(a + 1))) return;
      domUse(sc, name, kind, k, nc, pc, p);
      return;
    case K_CONSTRUCTOR: {
      if (nc === 46) {
        const m = memberAfter(sc, k);
        if (m !== undefined && m.name === 'constructor') sc.hit('js-constructor', STRONG, 1, 'constructor.constructor');
        return;
      }
      if (nc === 40 && isMember) {
        const f = skipJs(sc, k + 1);
        const fc = s.charCodeAt(f);
        if (fc === 34 || fc === 39 || fc === 96) sc.hit('js-constructor', STRONG, 1, '.constructor(\'…\')');
      }
      if (nc === 96 && isMember) sc.hit('js-constructor', STRONG, 1, '.constructor`');
      return;
    }
    case K_CALLISH:
      if (isMember && nc === 96) sc.hit('js-tagged-template', STRONG, 1, '.' + name + '`');
      return;
    case K_MEMBER_CALL:
      // `.createContextualFragment()` with nothing to parse writes nothing (a method's name in a text)
      if (isMember && nc === 40 && s.charCodeAt(skipJs(sc, k + 1)) === 41) return;
      if (isMember && (nc === 40 || nc === 96)) sc.hit('js-call', STRONG, 1, '.' + name + '(');
      return;
    case K_MEMBER_ASSIGN:
      if (isMember && nc === 61 && s.charCodeAt(k + 1) !== 61) sc.hit('js-dom-write', STRONG, 1, '.' + name + '=');
      return;
    case K_COERCE:
      // `"in valueOf=alert`, `';toString=…`: a conversion method replaced right after leaving a string
      if (!isMember && nc === 61 && s.charCodeAt(k + 1) !== 61 && afterStringBreakout(s, p)) sc.hit('js-coercion', STRONG, 1, name + '=');
      return;
  }
}

/**
 * Can the identifier at `a`, followed by a backtick, be the tag of a template? Not when its
 * member chain (`response.setTimeout`) opens right after another backtick — that is a Markdown
 * code span (`` `setTimeout` ``) — nor after `--`/`++` (`` `--eval` ``), which need a variable.
 */
function templateCanTag(s: string, a: number): boolean {
  let j = a - 1;
  const lim = Math.max(0, a - 48);
  while (j >= lim) {
    const c = s.charCodeAt(j);
    // `unsafe-eval`: a hyphenated word (CSS, CSP keywords) is one word in a code span
    if (isIdPart(c) || c === 46 || (c === 45 && isAlpha(s.charCodeAt(j - 1)) && isAlpha(s.charCodeAt(j + 1)))) j--;
    else break;
  }
  const c = j >= 0 ? s.charCodeAt(j) : NaN;
  if (c === 96) return false;
  if ((c === 45 || c === 43) && s.charCodeAt(j - 1) === c) return false;
  return true;
}

/** Is the significant character at `p` the end of `"in` / `";` / `"+` …: an operator right after a closing quote? */
function afterStringBreakout(s: string, p: number): boolean {
  if (p < 1) return false;
  let c = s.charCodeAt(p);
  let q = p;
  if (isAlpha(c)) {
    // `in`, `instanceof`, `typeof`, `void`: keyword operators
    let w = p;
    while (w > 0 && isAlpha(s.charCodeAt(w - 1)) && p - w < 12) w--;
    const word = s.slice(w, p + 1);
    if (word !== 'in' && word !== 'instanceof' && word !== 'typeof' && word !== 'void') return false;
    q = w;
  } else if (!(c === 59 || c === 44 || c === 43 || c === 45 || c === 124 || c === 38 || c === 41)) {
    return false;
  }
  const r = prevSignificant(s, q);
  c = r >= 0 ? s.charCodeAt(r) : NaN;
  return c === 34 || c === 39 || c === 96;
}

/**
 * Does the code before `p` (the significant character before an identifier) open with a quote
 * that closes the application's string? Going back over `(`, `+`, `;`, `,`, `|`, `&` and spaces,
 * a quote that is the first quote of the value, glued to the text before it (`test"`, or
 * the value's first character) and followed by an operator or a space: `x";setTimeout(…`,
 * `a@b.org' (function(){…`. An opening quotation mark (`said "(function…`) has a space before it.
 */
function closingBreakout(sc: Scan, p: number): boolean {
  const s = sc.s;
  let r = p;
  const lim = Math.max(0, p - 16);
  while (r >= lim) {
    const c = s.charCodeAt(r);
    if (c === 40 || c === 43 || c === 59 || c === 44 || c === 124 || c === 38 || isHtmlSpace(c)) r--;
    else break;
  }
  if (r < 0 || r === p + 1) return false;
  const q = s.charCodeAt(r);
  if (q !== 34 && q !== 39 && q !== 96) return false;
  if (sc.firstQuote !== r) return false;
  if (r > 0 && isHtmlSpace(s.charCodeAt(r - 1))) return false;
  const after = s.charCodeAt(r + 1);
  return after === 32 || after === 43 || after === 59 || after === 44 || after === 41 || after === 40 || after === 124 || after === 38;
}

/** Objects whose members are the browser's globals. */
const WINDOWISH = new Set(['window', 'globalthis', 'top', 'parent', 'frames', 'opener', 'self', 'this', 'document', 'content']);

/** Is the argument at `a` inside the argument list of a method call `x.name(…, here`? */
function isMethodCallArg(sc: Scan, a: number): boolean {
  const s = sc.s;
  let i = a - 1;
  const lim = Math.max(0, a - 64);
  // back to the opening parenthesis of this argument list (flat arguments only)
  while (i >= lim) {
    const c = s.charCodeAt(i);
    if (c === 40) break;
    if (c === 41 || c === 59 || c === 123 || c === 125) return false;
    i--;
  }
  if (i < lim) return false;
  let j = i - 1;
  while (j >= 0 && isHtmlSpace(s.charCodeAt(j))) j--;
  const e = j + 1;
  while (j >= 0 && isIdPart(s.charCodeAt(j))) j--;
  if (j + 1 === e) return false;
  while (j >= 0 && isHtmlSpace(s.charCodeAt(j))) j--;
  return s.charCodeAt(j) === 46;
}

/** Is the first argument of the timer call opened at `open` code to run (a string, a sink, a concatenation)? */
function timerRunsCode(sc: Scan, open: number): boolean {
  const s = sc.s;
  const f = skipJs(sc, open + 1);
  const fc = s.charCodeAt(f);
  if (fc === 34 || fc === 39 || fc === 96) return true;
  if (!isIdStart(fc) && fc !== 92) return false;
  const e = identEnd(s, f);
  const kind = IDENT_KIND.get(identText(s, f, e));
  if (kind === K_SINK || kind === K_WEAKCALL || kind === K_FUNCTION) return true;
  const after = s.charCodeAt(skipJs(sc, e));
  return after === 43 || after === 91; // `x+'…'`, `self['al'+'ert']`
}

/** Nothing but whitespace before `a`, nothing but whitespace and `;` from `end`. */
function isWholeValue(sc: Scan, a: number, end: number): boolean {
  const s = sc.s;
  for (let i = 0; i < a; i++) if (!isHtmlSpace(s.charCodeAt(i))) return false;
  for (let i = end; i < sc.n; i++) {
    const c = s.charCodeAt(i);
    if (!isHtmlSpace(c) && c !== 59) return false;
  }
  return true;
}

/** Does the string literal whose text starts at `i` hold an absolute or scheme-relative URL? */
function urlLiteral(s: string, i: number): boolean {
  if (s.startsWith('//', i) || s.startsWith('\\\\', i)) return true;
  const lim = Math.min(s.length, i + 16);
  let j = i;
  while (j < lim && (isAlpha(s.charCodeAt(j)) || s.charCodeAt(j) === 45 || s.charCodeAt(j) === 43)) j++;
  if (j === i || s.charCodeAt(j) !== 58) return false;
  const scheme = s.slice(i, j);
  return s.startsWith('//', j + 1) || scheme === 'data' || scheme === 'javascript' || scheme === 'blob' || scheme === 'vbscript';
}

/** A backtick right before the name at `a`, or before its object (`` `window.alert `` ). */
function codeSpanBefore(s: string, a: number, pc: number): boolean {
  if (pc === 96) return true;
  if (pc !== 46) return false;
  const dot = prevSignificant(s, a);
  let os = dot;
  while (os > 0 && a - os < 40 && isIdPart(s.charCodeAt(os - 1))) os--;
  return os < dot && s.charCodeAt(os - 1) === 96;
}

function sinkUse(sc: Scan, name: string, kind: number, a: number, b: number, k: number, nc: number, pc: number): void {
  const s = sc.s;
  if (nc === 63 && s.charCodeAt(k + 1) === 46) {
    // optional chaining: `alert?.(1)` is a call, `alert?.call(…)` a member
    const k2 = skipJs(sc, k + 2);
    if (s.charCodeAt(k2) === 40) {
      k = k2;
      nc = 40;
    } else {
      k = k + 1;
      nc = 46;
    }
  }
  if (pc === 46 && name !== 'alert' && name !== 'prompt' && name !== 'confirm' && name !== 'execscript' && name !== 'msgbox' && name !== 'globaleval') {
    // `model.eval()`, `sock.settimeout(5)`, `cursor.fetch()`: a method of some object, unless the object is the window
    const dot = prevSignificant(s, a);
    const oe = prevSignificant(s, dot) + 1;
    let os = oe;
    while (os > 0 && isIdPart(s.charCodeAt(os - 1))) os--;
    if (!WINDOWISH.has(s.slice(os, oe))) return;
    if (s.slice(os, oe) === 'self' && nc === 40 && s.charCodeAt(skipJs(sc, k + 1)) === 41) return; // self.eval()
  } else if (pc === 46 && nc === 40 && s.charCodeAt(skipJs(sc, k + 1)) === 41) {
    // `rl.prompt()`, `dialog.confirm()`: a method of some object, called without a message
    const dot = prevSignificant(s, a);
    const oe = prevSignificant(s, dot) + 1;
    let os = oe;
    while (os > 0 && isIdPart(s.charCodeAt(os - 1))) os--;
    if (os < oe && !WINDOWISH.has(s.slice(os, oe))) return;
  }
  if (nc === 40) {
    const r = checkArgs(sc, k);
    if (r.ok === 0) return;
    const gap = k > b;
    if (r.ok === 2) {
      const arg = s.slice(k + 1, r.end - 1).trim();
      // "alert(s)", "confirm(ed)": English plural and suffix idioms, not calls
      if (arg === 's' || arg === 'es' || arg === 'ed' || arg === 'd' || arg === 'ies') return;
      // "eval (evaluation)", "prompt (optional)": a word in parentheses after a spaced sink is prose
      if (gap) return;
    }
    if (kind === K_FETCH) {
      // fetch('//evil'), import(`//evil`): a literal URL; `fetch(url)`, `import('node:fs')`,
      // `import('./x.js')` are ordinary code
      const f = skipJs(sc, k + 1);
      const fc = s.charCodeAt(f);
      if (fc !== 34 && fc !== 39 && fc !== 96) return;
      if (!urlLiteral(s, f + 1)) return;
    }
    if (kind === K_SINK && s.charCodeAt(skipJs(sc, k + 1)) === 41 && (name === 'eval' || name === 'settimeout' || name === 'setinterval' || name === 'setimmediate' || name === 'execscript')) {
      // `eval()`, `setTimeout()`: nothing to run ("ignore all `eval()` calls" in a text)
      if (sc.paranoia >= 2) sc.hit('js-call', WEAK, 2, name + '()');
      return;
    }
    if (kind === K_SINK && (name === 'settimeout' || name === 'setinterval' || name === 'setimmediate')) {
      // timers run strings as code: a literal, a sink or a concatenation as the first argument;
      // a function, an arrow function, a number or a variable (`setTimeout(fn, 100)`) is ordinary code
      if (!timerRunsCode(sc, k) && !(pc !== 46 && closingBreakout(sc, prevSignificant(s, a)))) {
        if (sc.paranoia >= 2) sc.hit('js-call', WEAK, 2, name + '(');
        return;
      }
    }
    if (s.charCodeAt(skipJs(sc, k + 1)) === 41 && s.charCodeAt(r.end) === 96 && codeSpanBefore(s, a, pc)) {
      // "`window.alert()` instructs the browser …": an empty call in a Markdown code span
      // (in script, a template literal: text); a notice at paranoia 2, like `eval()` above
      if (sc.paranoia >= 2) sc.hit('js-call', WEAK, 2, name + '()');
      return;
    }
    if (kind === K_WEAKCALL) {
      // `atob()` as the whole value is code, not a word in text
      sc.hit('js-call', isWholeValue(sc, a, r.end) ? STRONG : WEAK, 1, name + '(');
    } else {
      sc.hit('js-call', STRONG, 1, name + '(');
    }
    return;
  }
  if (kind !== K_SINK) return;
  if (nc === 96) {
    sc.hit('js-call', STRONG, 1, name + '`');
    return;
  }
  if (nc === 46) {
    const m = memberAfter(sc, k);
    if (m !== undefined && (m.name === 'call' || m.name === 'apply' || m.name === 'bind')) sc.hit('js-call', STRONG, 1, name + '.' + m.name);
    return;
  }
  if (nc === 41) {
    // (0,eval)(…)
    const after = skipJs(sc, k + 1);
    if (s.charCodeAt(after) === 40 && (pc === 44 || pc === 40)) {
      sc.hit('js-call', STRONG, 1, name + ')(');
      return;
    }
  }
  if (nc === 125 && pc === 123 && s.charCodeAt(prevSignificant(s, a) - 1) === 36) {
    sc.hit('js-template-sink', STRONG, 1, '${' + name + '}');
    return;
  }
  // A sink handed to a method as a callback: `[1].map(alert)`, `Reflect.apply(alert, …)`
  if ((pc === 40 || pc === 44) && (nc === 41 || nc === 44) && kind === K_SINK && isMethodCallArg(sc, a)) {
    sc.hit('js-sink-ref', STRONG, 1, name + ' as callback');
    return;
  }
  // A sink passed around as a value: `b=alert;`, `[alert]`, `(eval)`
  if (pc === 61 || pc === 40 || pc === 91 || pc === 44 || pc === 58 || pc === 63 || pc === 124 || pc === 38) {
    if (nc === 59 || nc === 41 || nc === 93 || nc === 44 || nc === 125 || nc === 60 || Number.isNaN(nc)) sc.hit('js-sink-ref', WEAK, 1, name, 'js-sink-ref:' + name);
  }
}

/** After a member ending at `end`: a call, a further member, an index or an assignment follows. */
function chainContinues(sc: Scan, end: number, assign = true): boolean {
  const s = sc.s;
  let i = skipJs(sc, end);
  let c = s.charCodeAt(i);
  if (c === 40) {
    const r = checkArgs(sc, i);
    if (r.ok === 0) return false;
    i = skipJs(sc, r.end);
    c = s.charCodeAt(i);
  }
  return c === 46 || c === 91 || (assign && c === 61 && s.charCodeAt(i + 1) !== 61);
}

function assignsString(sc: Scan, end: number): boolean {
  const s = sc.s;
  const i = skipJs(sc, end);
  if (s.charCodeAt(i) !== 61 || s.charCodeAt(i + 1) === 61) return false;
  const q = s.charCodeAt(skipJs(sc, i + 1));
  return q === 34 || q === 39 || q === 96;
}

/** Nothing but whitespace or sentence punctuation after `end`. */
function isBareEnd(sc: Scan, end: number): boolean {
  const s = sc.s;
  for (let i = end; i < sc.n; i++) {
    const c = s.charCodeAt(i);
    if (!(isHtmlSpace(c) || c === 47 || c === 46)) return false;
  }
  return true;
}

/** Does the bracket at `open` hold a concatenation with a literal (`+` and a quote, backtick or regex)? */
function concatInBracket(s: string, open: number): boolean {
  let plus = false;
  let lit = false;
  const lim = Math.min(s.length, open + 96);
  for (let i = open + 1; i < lim; i++) {
    const c = s.charCodeAt(i);
    if (c === 93) return plus && lit;
    if (c === 43) plus = true;
    else if (c === 34 || c === 39 || c === 96 || c === 47) lit = true;
    else if (c === 91 || c === 59) return false;
  }
  return false;
}

function isAsciiLetter(c: number): boolean {
  return (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
}

const JS_WORDS_BEFORE_EXPR = new Set(['return', 'typeof', 'void', 'new', 'await', 'delete', 'throw', 'yield', 'case', 'do', 'else', 'instanceof']);

/**
 * A DOM member named in text rather than used: "Why does document.cookie return …" (a word on
 * each side: juxtaposed words are no script, unless the word before is a keyword such as
 * `return`), "… opened by document.open()." (then the end of a sentence), or a Markdown code span
 * "`document.designMode`" (in script, a template literal: text). `p` is the index of `pc`, the
 * character before the object's name; `end` where the member name ends. An empty call `()` may
 * follow the member.
 */
function skipSpaces(s: string, i: number): number {
  while (s.charCodeAt(i) === 32 || s.charCodeAt(i) === 9) i++;
  return i;
}

function namedInText(s: string, p: number, pc: number, end: number): boolean {
  let e = end;
  if (s.charCodeAt(e) === 40 && s.charCodeAt(e + 1) === 41) e += 2;
  const ac = s.charCodeAt(e);
  if (pc === 96) return ac === 96;
  // "window.fetch JavaScript polyfill": the name opens the value and a word follows
  if (Number.isNaN(pc)) return (s.charCodeAt(e) === 32 || s.charCodeAt(e) === 9) && isAsciiLetter(s.charCodeAt(skipSpaces(s, e)));
  if (!isAsciiLetter(pc)) return false;
  let w = p;
  while (w > 0 && p - w < 12 && isAsciiLetter(s.charCodeAt(w - 1))) w--;
  if (JS_WORDS_BEFORE_EXPR.has(s.slice(w, p + 1).toLowerCase())) return false;
  const j = skipSpaces(s, e);
  const nc = s.charCodeAt(j);
  if (j > e && isAsciiLetter(nc)) return true;
  // "… of window.atob and window.btoa": the end of the value after a word
  if (j === e && Number.isNaN(ac)) return true;
  // end of a sentence or a clause: `.`/`,`/`?`/`!` then a space, a line break or the end
  if (j === e && (ac === 46 || ac === 44 || ac === 63 || ac === 33)) {
    const after = s.charCodeAt(e + 1);
    return Number.isNaN(after) || after === 32 || after === 10 || after === 13;
  }
  return false;
}

function domUse(sc: Scan, name: string, kind: number, k: number, nc: number, pc: number, pp: number): void {
  const s = sc.s;
  // `(document)["cookie"]`, `(window).location`
  if (nc === 41 && pc === 40) {
    k = skipJs(sc, k + 1);
    nc = s.charCodeAt(k);
  }
  if (nc === 46) {
    let m = memberAfter(sc, k);
    if (m === undefined) return;
    const prose = namedInText(s, pp, pc, m.end);
    if (kind === K_DOCUMENT) {
      if (DOCUMENT_MEMBERS.has(m.name)) sc.hit('dom', (sc.location === 'path' && isBareEnd(sc, m.end)) || prose ? WEAK : STRONG, 1, 'document.' + m.name);
      else if (DOCUMENT_NAV.has(m.name)) sc.hit('dom', chainContinues(sc, m.end) && !prose ? STRONG : WEAK, 1, 'document.' + m.name);
      return;
    }
    if (kind === K_LOCATION) {
      if (LOCATION_MEMBERS.has(m.name)) sc.hit('dom', prose ? WEAK : STRONG, 1, 'location.' + m.name);
      return;
    }
    if (kind === K_GLOBAL) {
      // walk a short member chain: top.frame2.location
      const members = name === 'window' || name === 'globalthis' ? GLOBAL_MEMBERS : FRAME_MEMBERS;
      for (let depth = 0; depth < 4 && m !== undefined; depth++) {
        if (members.has(m.name)) {
          // `self.location = loc` in Python: for `self`, only a string assigned or a further member counts
          const sure = name !== 'self' || chainContinues(sc, m.end, false) || assignsString(sc, m.end);
          const weakMember = m.name === 'open' || m.name === 'name' || m.name === 'opener';
          const used = !weakMember || chainContinues(sc, m.end) || s.charCodeAt(skipJs(sc, m.end)) === 40;
          sc.hit('dom', sure && used && !namedInText(s, pp, pc, m.end) ? STRONG : WEAK, 1, name + '.' + m.name);
          return;
        }
        const e = skipJs(sc, m.end);
        if (s.charCodeAt(e) !== 46) return;
        m = memberAfter(sc, e);
      }
    }
    return;
  }
  if (nc === 91) {
    const r = bracketString(sc, k);
    if (r.str === undefined && kind !== K_LOCATION && kind !== K_THIS && concatInBracket(s, k)) {
      // `top[/al/.source+/ert/.source]`, `self[x+'rt']`: a key assembled at run time
      sc.hit('dom', STRONG, 1, name + '[…+…]');
      return;
    }
    if (r.str === undefined || kind === K_LOCATION) return;
    // a meaningful key, or one the attacker had to assemble or escape (`'al'+'ert'`, `'\x24'`)
    if (WINDOW_KEYS.has(r.str) || (r.obfuscated && kind !== K_THIS)) sc.hit('dom', STRONG, 1, (name + '[\'' + r.str).slice(0, 36) + '\']');
    return;
  }
  if (nc === 61 && kind === K_LOCATION && s.charCodeAt(k + 1) !== 61) {
    // location='//evil' — an assignment of a string, in a statement position
    const v = skipJs(sc, k + 1);
    const q = s.charCodeAt(v);
    if ((q === 34 || q === 39 || q === 96) && (Number.isNaN(pc) || pc === 59 || pc === 123 || pc === 40 || pc === 46 || pc === 44 || pc === 39 || pc === 34 || pc === 62)) {
      sc.hit('dom', STRONG, 1, 'location=');
    }
  }
}

function scanJs(sc: Scan): void {
  const s = sc.s;
  const n = sc.n;
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (isIdStart(c) || (c === 92 && s.charCodeAt(i + 1) === 117)) {
      const start = i;
      const end = identEnd(s, i);
      if (end === i) {
        i++;
        continue;
      }
      examineIdent(sc, start, end);
      if (sc.done) return;
      i = end;
    } else {
      i++;
    }
  }
}

/** JSFuck atoms: runs of `[]()!+` such as `+!![]`, `(![]+[])[+[]]`. */
function scanJsFuck(sc: Scan): void {
  const s = sc.s;
  const n = sc.n;
  let i = 0;
  while (i < n) {
    let j = i;
    let plus = 0;
    let bang = 0;
    let pair = 0;
    let sig = 0;
    while (j < n) {
      const c = s.charCodeAt(j);
      if (c === 43 || c === 32) plus++;
      else if (c === 33) bang++;
      else if (c === 91 && s.charCodeAt(j + 1) === 93) pair++;
      else if (c !== 91 && c !== 93 && c !== 40 && c !== 41) break;
      if (c !== 32) sig++;
      j++;
    }
    const next = s.charCodeAt(j);
    const member = next === 46 || isIdPart(next);
    if (!member && ((sig >= 5 && plus > 0 && bang > 0 && pair > 0) || (sig >= 4 && bang > 1 && pair > 0))) {
      sc.hit('jsfuck', STRONG, 1, s.slice(i, Math.min(j, i + 20)));
      return;
    }
    i = j + 1;
  }
}

/** AngularJS / Vue expressions: `{{ … }}` containing a call. */
function scanTemplate(sc: Scan): void {
  const s = sc.s;
  const o = s.indexOf('{{');
  if (o < 0) return;
  const c = s.indexOf('}}', o + 2);
  const body = s.slice(o + 2, c < 0 ? Math.min(sc.n, o + 256) : c);
  if (body.includes('constructor') || body.includes('$eval') || body.includes('$on') || body.includes('$emit') || body.includes('__proto__')) {
    sc.hit('template-injection', STRONG, 1, '{{' + body.slice(0, 30));
  } else if (sc.paranoia >= 2 && body.includes('(')) {
    sc.hit('template-injection', WEAK, 2, '{{' + body.slice(0, 30));
  }
}

// ---------------------------------------------------------------------------------------------

/** DOM names whose member access is script (`document.cookie`); the engine's gate reads them too. */
export const DOM_WORDS = ['document', 'window', 'location', 'innerhtml', 'outerhtml', 'constructor', 'self', 'top', 'parent', 'globalthis', 'opener', 'frames', 'this', 'content'];

export const detectXss: Detector = (_text, lower, ctx) => {
  const s = lower;
  const n = s.length;
  // Pre-filter: which of the characters the contexts need are present?
  let cls = 0;
  let look = false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 128) cls |= ASCII_CLASS[c]!;
    else if (c === LT_FULLWIDTH || c === LT_SMALL || (c & 0x3f) === 0x3c || c === FRACTION_SLASH) look = true;
  }
  if (cls === 0 && !look) return undefined;
  if ((cls & (C_LT | C_COLON | C_EQ | C_PAREN | C_TICK | C_BRACKET | C_BRACE | C_PLUS)) === 0 && !look) {
    // Only dots and `>`: what is left to find is DOM member access (`document.cookie`) and `-->`.
    if (((cls & C_DOT) === 0 || !hasDomWord(s)) && ((cls & C_GT) === 0 || !s.includes('--'))) return undefined;
  }
  const sc = new Scan(s, ctx.paranoia, ctx.location, ctx.isKey);
  // the value as written, when lower-casing kept its length (JavaScript names are case-sensitive)
  if (_text.length === n) sc.orig = _text;
  if ((cls & C_LT) !== 0 || look) scanTags(sc, look);
  if (!sc.done && (cls & C_PLUS) !== 0) scanUtf7(sc);
  if (!sc.done && (cls & C_EQ) !== 0) scanAttrAssign(sc);
  if (!sc.done && (cls & C_COLON) !== 0) scanSchemes(sc);
  if (!sc.done && (cls & C_COLON) !== 0) scanCss(sc);
  if (!sc.done && (cls & C_PAREN) !== 0) scanCssUrl(sc);
  if (!sc.done) scanCssImport(sc);
  if (!sc.done && (cls & (C_PAREN | C_TICK | C_BRACKET | C_EQ)) !== 0) scanJs(sc);
  else if (!sc.done && (cls & C_DOT) !== 0 && hasDomWord(s)) scanJs(sc);
  if (!sc.done && (cls & C_BRACKET) !== 0 && s.includes('[]')) scanJsFuck(sc);
  if (!sc.done && (cls & C_BRACE) !== 0) scanTemplate(sc);
  if (!sc.done && (cls & C_GT) !== 0) scanCommentClose(sc);
  if (!sc.done && (cls & C_BRACE) !== 0) {
    // Netscape JavaScript entity `&{code};`
    const a = s.indexOf('&{');
    if (a >= 0 && (s.charCodeAt(a + 2) === 40 || codeFollows(s, a + 2))) sc.hit('js-entity', WEAK, 1, '&{');
  }
  return sc.best;
};

/**
 * `-->` (or `--!>`): closes an HTML comment. A value that starts with it (after quotes) and holds
 * nothing else but markup breaks out of a comment it is reflected in; elsewhere (`step 1 --> 2`)
 * it is an arrow, a notice at higher paranoia.
 */
function scanCommentClose(sc: Scan): void {
  const s = sc.s;
  const n = sc.n;
  let k = 0;
  while (k < n && (isHtmlSpace(s.charCodeAt(k)) || s.charCodeAt(k) === 34 || s.charCodeAt(k) === 39)) k++;
  const len = s.startsWith('-->', k) ? 3 : s.startsWith('--!>', k) ? 4 : 0;
  if (len > 0) {
    let r = k + len;
    while (r < n && isHtmlSpace(s.charCodeAt(r))) r++;
    if (r >= n || s.charCodeAt(r) === 60) {
      sc.hit('comment-breakout', STRONG, 1, s.slice(k, k + len));
      return;
    }
  }
  if (sc.paranoia >= 2 && s.includes('-->') && !s.includes('<!--')) sc.hit('comment-close', SEVERITY.notice, 2, '-->');
}

function hasDomWord(s: string): boolean {
  for (const w of DOM_WORDS) if (s.includes(w)) return true;
  return false;
}
