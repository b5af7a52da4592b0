/**
 * CRLF injection, HTTP response splitting and request smuggling in values (category `crlf`).
 *
 * A decoded CR or LF in a value becomes dangerous when the value is copied into a response
 * header (redirects, cookies) or a back-end request: what follows the line break then becomes a
 * new header (`\r\nSet-Cookie: …`, `\nLocation: …`), a new response (`HTTP/1.1 200 OK`,
 * `\r\n\r\n<html>`) or a new request (`\nGET / HTTP/1.1`).
 * - In places that end up in headers or URLs (path, query, header, cookie, and parameter names)
 *   any `Name:` line after a break is an attack; a bare break counts less.
 * - In bodies (JSON, form, multipart, XML) multi-line text is normal: only lines that are
 *   unmistakably HTTP count (a header name that is not an English label, a status or request
 *   line, or a label-like name with a header-shaped value such as `Location: http://…`).
 * - An HTTP request line inside a value (`GET http://x HTTP/1.1`) is smuggling material.
 */
import type { DetectContext, Detector, Hit, Paranoia } from '../types.js';
import { nameWords } from './traversal.js';
import { isDigit } from '../charclass.js';

/** Header names that no prose uses as a label. */
const STRONG_HEADERS: ReadonlySet<string> = new Set([
  'set-cookie', 'set-cookie2', 'content-type', 'content-length', 'content-disposition', 'content-encoding',
  'transfer-encoding', 'refresh', 'content-security-policy', 'access-control-allow-origin',
  'access-control-allow-credentials', 'access-control-allow-headers', 'access-control-allow-methods',
  'access-control-expose-headers', 'www-authenticate', 'proxy-authenticate', 'strict-transport-security',
  'cache-control', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip', 'x-original-url',
  'x-rewrite-url', 'x-xss-protection', 'x-frame-options', 'x-content-type-options', 'content-location',
  'keep-alive', 'proxy-connection', 'user-agent', 'cookie', 'authorization', 'proxy-authorization',
  'accept-encoding', 'accept-language', 'if-modified-since', 'if-none-match', 'last-modified', 'etag',
  'x-powered-by', 'x-requested-with', 'x-http-method-override', 'x-csrf-token', 'x-api-key', 'remote-addr',
]);
/** Header names that are also common labels in prose: need a header-shaped value. */
const LABEL_HEADERS: ReadonlySet<string> = new Set(['location', 'host', 'server', 'status', 'link', 'connection', 'date', 'expires', 'upgrade', 'via', 'referer', 'origin']);

const METHODS = ['GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'PROPFIND'];

function isTchar(c: number): boolean {
  // RFC 9110 token characters
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) ||
    c === 45 || c === 95 || c === 46 || c === 33 || c === 35 || c === 36 || c === 37 || c === 38 ||
    c === 39 || c === 42 || c === 43 || c === 94 || c === 96 || c === 124 || c === 126
  );
}
function isBreak(c: number): boolean {
  return c === 13 || c === 10;
}

function show(s: string): string {
  return s.replace(/\r/g, '\\r').replace(/\n/g, '\\n').slice(0, 40);
}

interface LineInfo {
  kind: 'none' | 'header' | 'status' | 'request' | 'html' | 'param';
  name: string;
  valueStart: number;
}

/** Classify the line starting at `i` (after a line break). */
function classifyLine(text: string, lower: string, i: number): LineInfo {
  const n = text.length;
  // status line
  if (lower.startsWith('http/', i) && statusLineAt(text, i + 5)) return { kind: 'status', name: 'http/', valueStart: i };
  // request line: METHOD SP target SP HTTP/
  if (requestLineAt(text, lower, i) >= 0) return { kind: 'request', name: '', valueStart: i };
  const c = lower.charCodeAt(i);
  if (c === 60 /* < */) {
    const k = i + 1;
    if (lower.startsWith('html', k) || lower.startsWith('script', k) || lower.startsWith('!doctype', k) || lower.startsWith('body', k) ||
      lower.startsWith('meta', k) || lower.startsWith('svg', k) || lower.startsWith('iframe', k) || lower.startsWith('head', k)) {
      return { kind: 'html', name: lower.slice(i, i + 8), valueStart: i };
    }
  }
  // header: token [blanks/CR] ':'
  let j = i;
  while (j < n && j - i < 64 && isTchar(text.charCodeAt(j))) j++;
  if (j > i) {
    const name = lower.slice(i, j);
    let k = j;
    while (k < n && k - j < 8 && (text.charCodeAt(k) === 32 || text.charCodeAt(k) === 9 || text.charCodeAt(k) === 13)) k++;
    if (text.charCodeAt(k) === 58 /* : */) return { kind: 'header', name, valueStart: k + 1 };
    if (text.charCodeAt(j) === 61 /* = */) return { kind: 'param', name, valueStart: j + 1 };
  }
  return { kind: 'none', name: '', valueStart: i };
}

/** After `HTTP/`: `1.1 200`, `2 404`, `1.0 302 Found`. */
function statusLineAt(text: string, i: number): boolean {
  if (!isDigit(text.charCodeAt(i))) return false;
  i++;
  if (text.charCodeAt(i) === 46) {
    if (!isDigit(text.charCodeAt(i + 1))) return false;
    i += 2;
  }
  if (text.charCodeAt(i) !== 32) return false;
  return isDigit(text.charCodeAt(i + 1)) && isDigit(text.charCodeAt(i + 2)) && isDigit(text.charCodeAt(i + 3)) &&
    !isDigit(text.charCodeAt(i + 4));
}

/** Index after `METHOD SP target SP HTTP/d` starting at `i`, or -1. */
function requestLineAt(text: string, lower: string, i: number): number {
  let m = '';
  for (const meth of METHODS) {
    if (text.startsWith(meth, i) && text.charCodeAt(i + meth.length) === 32) {
      m = meth;
      break;
    }
  }
  if (m === '') return -1;
  let j = i + m.length + 1;
  const s = j;
  const limit = Math.min(text.length, j + 2048);
  while (j < limit && text.charCodeAt(j) > 32) j++;
  if (j === s || text.charCodeAt(j) !== 32) return -1;
  if (!lower.startsWith('http/', j + 1)) return -1;
  const d = text.charCodeAt(j + 6);
  return d >= 48 && d <= 57 ? j + 7 : -1;
}

/** Does a label-like header carry a header-shaped value (`Location: http://…`, `Host: a.b`)? */
function headerShapedValue(name: string, lower: string, v: number): boolean {
  while (v < lower.length && lower.charCodeAt(v) === 32) v++;
  switch (name) {
    case 'location':
    case 'link':
    case 'referer':
    case 'origin':
      return lower.startsWith('http://', v) || lower.startsWith('https://', v) || lower.startsWith('//', v) || lower.startsWith('<http', v) || lower.startsWith('javascript:', v);
    case 'status':
      return lower.charCodeAt(v) >= 49 && lower.charCodeAt(v) <= 53 && lower.charCodeAt(v + 3) === 32;
    case 'connection':
      return lower.startsWith('close', v) || lower.startsWith('keep-alive', v) || lower.startsWith('upgrade', v);
    default:
      return false;
  }
}

/**
 * Names of fields that hold one line (words joined: `userName`, `email_address`,
 * `redirect_uri`): a user name, login, e-mail address or phone number, and a URL, path or host,
 * which an application puts into a request line, a `Location` or a back-end request.
 */
const SINGLE_LINE_FIELDS: ReadonlySet<string> = new Set([
  'user', 'username', 'userid', 'login', 'loginname', 'loginid', 'email', 'emailaddress', 'mail', 'useremail', 'phone', 'phonenumber', 'handle', 'nickname',
  'url', 'uri', 'href', 'path', 'redirect', 'redirecturl', 'redirecturi', 'returnurl', 'returnto', 'callback', 'callbackurl', 'next', 'host', 'hostname',
  'domain', 'endpoint', 'webhook', 'webhookurl', 'target', 'targeturl',
]);

/** Mail header names an injected line adds recipients or content with. */
const MAIL_HEADERS: ReadonlySet<string> = new Set(['bcc', 'cc', 'to', 'from', 'reply-to', 'sender', 'return-path']);

/** text[a, b) is one word (no blank, at most 100 characters) that does not end a sentence (`Hi,`, `Thanks!`). */
function oneWord(text: string, a: number, b: number): boolean {
  if (b <= a || b - a > 100) return false;
  for (let i = a; i < b; i++) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9) return false;
  }
  const last = text.charCodeAt(b - 1);
  return last !== 44 && last !== 33 && last !== 46 && last !== 58 && last !== 63 && last !== 59;
}

/** The header line's value holds an address (`@` before the line ends). */
function addressValue(text: string, from: number): boolean {
  for (let i = from; i < text.length && i - from < 256; i++) {
    const c = text.charCodeAt(i);
    if (c === 64) return true;
    if (c === 10 || c === 13) return false;
  }
  return false;
}

function singleLineField(name: string): boolean {
  if (name === '' || name.length > 64) return false;
  const words = nameWords(name.slice(name.lastIndexOf('/') + 1));
  return SINGLE_LINE_FIELDS.has(words.join(''));
}

function isHeaderishLocation(ctx: DetectContext): boolean {
  return ctx.location === 'path' || ctx.location === 'query' || ctx.location === 'header' || ctx.location === 'cookie';
}

function mk(rule: string, severity: number, paranoia: Paranoia, evidence: string): Hit {
  return { detector: rule, category: 'crlf', severity, paranoia, evidence: show(evidence) };
}

function scanCrlf(text: string, lower: string, ctx: DetectContext): Hit | undefined {
  const n = text.length;
  const headerish = isHeaderishLocation(ctx);
  const nameLike = ctx.isKey && ctx.location !== 'body' && ctx.location !== 'xml';
  let weak: Hit | undefined;
  let sawBreak = false;
  let midBreak = false;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (!isBreak(c)) {
      i++;
      continue;
    }
    sawBreak = true;
    const start = i;
    let breaks = 0;
    while (i < n && isBreak(text.charCodeAt(i))) {
      if (text.charCodeAt(i) === 10) breaks++;
      i++;
    }
    const firstLine = !midBreak;
    const blank = breaks >= 2 || (i - start >= 2 && text.charCodeAt(start) === 13 && text.charCodeAt(i - 1) === 13);
    if (i >= n) continue;
    midBreak = true;
    const line = classifyLine(text, lower, i);
    switch (line.kind) {
      case 'status':
        return mk('crlf.response-splitting', 5, 1, text.slice(start, Math.min(n, i + 24)));
      case 'request':
        // JSON text fields may hold pasted HTTP (API tools, tickets): paranoia 2 there.
        if (ctx.location === 'body' && !headerish) {
          if (weak === undefined) weak = mk('crlf.request-smuggling', 4, 2, text.slice(start, Math.min(n, i + 24)));
          break;
        }
        return mk('crlf.request-smuggling', 5, 1, text.slice(start, Math.min(n, i + 24)));
      case 'html':
        if (headerish || nameLike) return mk('crlf.response-splitting', 5, 1, text.slice(start, Math.min(n, i + 24)));
        if (blank && weak === undefined) weak = mk('crlf.body-html', 3, 2, text.slice(start, Math.min(n, i + 24)));
        break;
      case 'header': {
        const known = STRONG_HEADERS.has(line.name) || (LABEL_HEADERS.has(line.name) && headerShapedValue(line.name, lower, line.valueStart)) ||
          (line.name.startsWith('x-') && line.name.indexOf('-', 2) > 2);
        if (known) return mk('crlf.header-injection', 5, 1, text.slice(start, Math.min(n, i + 24)));
        // `x\r\nBcc: victim@…`: one word, then a mail header line: the value ends a header the
        // application writes (a mail subject, a sender name) and adds one of its own
        if (firstLine && MAIL_HEADERS.has(line.name) && oneWord(text, 0, start) && addressValue(text, line.valueStart)) return mk('crlf.header-injection', 5, 1, text.slice(start, Math.min(n, i + 24)));
        if (headerish || nameLike) {
          // Query values may be multi-line text ("Re: meeting"): a one-word label there counts less.
          if (ctx.location === 'query' && !ctx.isKey && line.name.indexOf('-') < 0) {
            if (weak === undefined) weak = mk('crlf.header-injection', 4, 1, text.slice(start, Math.min(n, i + 24)));
            break;
          }
          return mk('crlf.header-injection', 5, 1, text.slice(start, Math.min(n, i + 24)));
        }
        break;
      }
      case 'param':
        if ((headerish || nameLike) && weak === undefined) weak = mk('crlf.parameter-injection', 4, 2, text.slice(start, Math.min(n, i + 24)));
        break;
      default:
        break;
    }
  }
  if (midBreak && !ctx.isKey && !headerish && singleLineField(ctx.name)) {
    // `username=guest\r\n2024-05-02T10:00:00Z INFO login success user=admin`: an identity
    // field has one line; what follows a break there forges log lines or mail headers (and in
    // a URL or path field, headers and requests)
    return weak !== undefined ? { ...weak, severity: 5, paranoia: 1 } : mk('crlf.break-in-single-line-field', 5, 1, '\n');
  }
  if (sawBreak) {
    // A line break has no business in a URL path or in a parameter/cookie name.
    if (ctx.location === 'path') return mk('crlf.break-in-path', 5, 1, '\n');
    if (nameLike) {
      // A trailing newline on the last form field name can be a sloppy client.
      if (midBreak || ctx.location !== 'form') return mk('crlf.break-in-name', 5, 1, '\n');
      return weak ?? mk('crlf.break-in-name', 3, 2, '\n');
    }
    if (weak) return weak;
    switch (ctx.location) {
      case 'header':
      case 'cookie':
        return mk('crlf.break-in-header', 3, 1, '\n');
      case 'query':
        return mk('crlf.break-in-query', 3, 2, '\n');
      default:
        break;
    }
  }
  if (weak) return weak;
  // A request line inside a single-line value.
  if (lower.indexOf(' http/') >= 0) {
    for (let p = 0; p < n; p++) {
      const ch = text.charCodeAt(p);
      // method tokens start with an upper-case letter after a non-letter
      if (ch < 65 || ch > 90) continue;
      if (p > 0) {
        const b = text.charCodeAt(p - 1);
        if ((b >= 65 && b <= 90) || (b >= 97 && b <= 122)) continue;
      }
      const e = requestLineAt(text, lower, p);
      if (e >= 0) {
        const strong = headerish || nameLike || (p === 0 && ctx.location !== 'body');
        return mk('crlf.request-line', strong ? 5 : 4, strong ? 1 : 2, text.slice(p, e));
      }
    }
  }
  return undefined;
}

/**
 * `嘊嘍Set-Cookie: …`: U+560A and U+560D end in the bytes of LF and CR. A server or client
 * library that writes a header value one byte per UTF-16 code unit (keeping the low byte) turns
 * them into a real line break. The value with such characters read as the breaks they become,
 * or undefined when it has none.
 */
function truncatedBreaks(text: string): string | undefined {
  let out: string[] | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff && ((c & 0xff) === 0x0a || (c & 0xff) === 0x0d)) {
      out ??= text.slice(0, i).split('');
      out.push((c & 0xff) === 0x0a ? '\n' : '\r');
    } else if (out !== undefined) out.push(text[i]!);
  }
  return out?.join('');
}

export const detectCrlf: Detector = (text, lower, ctx) => {
  try {
    if (text.indexOf('\n') < 0 && text.indexOf('\r') < 0) {
      const view = truncatedBreaks(text);
      // no break of any kind: only a request line inside the value (`GET http://x HTTP/1.1`)
      if (view === undefined) return lower.indexOf(' http/') < 0 ? undefined : scanCrlf(text, lower, ctx);
      // only what follows such a "break" as HTTP counts: CJK text holds these characters
      // (上 is U+4E0A), a header line after one it does not
      const h = scanCrlf(view, view.toLowerCase(), ctx);
      return h !== undefined && (h.detector === 'crlf.header-injection' || h.detector === 'crlf.response-splitting' || h.detector === 'crlf.request-smuggling') ? h : undefined;
    }
    return scanCrlf(text, lower, ctx);
  } catch {
    return undefined;
  }
};
