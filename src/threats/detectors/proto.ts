/**
 * Prototype pollution (category `prototype-pollution`).
 *
 * Keys (JSON member names, query/form parameter names like `a[__proto__][x]`,
 * `__proto__.polluted`, `constructor[prototype][x]`, `constructor.prototype.x`) are split into
 * path segments on `[`, `]`, `.` and quotes; `__proto__` as a segment, or `constructor` followed
 * by `prototype`, is an attack. A JSON member `prototype` whose pointer already passes through
 * `constructor` is caught through the pointer in `ctx.name`.
 * Values are searched for the same paths written as accessors (`__proto__[admin]=1`,
 * `{"__proto__":{…}}`, `constructor.prototype`, `["constructor"]["prototype"]`, a JSON pointer
 * `/__proto__/x` as in a JSON Patch `path`) and for the
 * `constructor.constructor` walk to `Function`. The words alone in prose are benign (or count
 * at paranoia 2 for a bare `__proto__`).
 */
import type { DetectContext, Detector, Hit } from '../types.js';

function isSep(c: number): boolean {
  // [ ] . " ' / and blanks
  return c === 91 || c === 93 || c === 46 || c === 34 || c === 39 || c === 47 || c === 32 || c === 9;
}
function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || c === 36;
}

function mk(rule: string, severity: number, paranoia: 1 | 2, evidence: string): Hit {
  return { detector: rule, category: 'prototype-pollution', severity, paranoia, evidence: evidence.slice(0, 40) };
}

/** Path segments of a key or pointer (lower-cased), split on separators. */
function segments(lower: string, max: number): string[] {
  const out: string[] = [];
  let s = -1;
  for (let i = 0; i <= lower.length && out.length < max; i++) {
    const c = i < lower.length ? lower.charCodeAt(i) : 91;
    if (isSep(c)) {
      if (s >= 0) {
        out.push(lower.slice(s, i));
        s = -1;
      }
    } else if (s < 0) {
      s = i;
    }
  }
  return out;
}

function scanKeyPath(lower: string): Hit | undefined {
  if (lower.indexOf('__proto__') < 0 && lower.indexOf('prototype') < 0 && lower.indexOf('constructor') < 0) return undefined;
  const segs = segments(lower, 256);
  let sawConstructor = false;
  for (const seg of segs) {
    if (seg === '__proto__') return mk('prototype-pollution.proto-key', 5, 1, '__proto__');
    if (seg === 'constructor') sawConstructor = true;
    else if (seg === 'prototype' && sawConstructor) return mk('prototype-pollution.constructor-prototype', 5, 1, 'constructor.prototype');
  }
  // `__proto__` glued to other text in a key (`x__proto__`) is odd but not a path.
  return undefined;
}

/** After `i`, skip accessor punctuation (`.`, `[`, `]`, quotes, `:`, `{`, blanks) up to 8 chars. */
function skipAccessor(lower: string, i: number): number {
  const end = Math.min(lower.length, i + 8);
  while (i < end) {
    const c = lower.charCodeAt(i);
    if (c === 46 || c === 91 || c === 93 || c === 34 || c === 39 || c === 58 || c === 123 || c === 32 || c === 9 || c === 92) i++;
    else break;
  }
  return i;
}

/** After `constructor.prototype`: a deeper property, an assignment or a JSON member follows. */
function pathContinues(lower: string, i: number): boolean {
  let c = lower.charCodeAt(i);
  if (c === 34 || c === 39 || c === 93) {
    // `"prototype"]`, `"prototype":`
    i++;
    c = lower.charCodeAt(i);
    if (c === 93) c = lower.charCodeAt(++i);
  }
  if (c === 91 || c === 61 || c === 58) return true;
  return c === 46 && isWordChar(lower.charCodeAt(i + 1));
}

function scanValue(lower: string): Hit | undefined {
  // A JSON pointer or path as a value (JSON Patch `"path": "/__proto__/isAdmin"`, a field path
  // handed to a setter): read as a key path.
  if (lower.charCodeAt(0) === 47 && lower.indexOf(' ') < 0) {
    const h = scanKeyPath(lower);
    if (h !== undefined) return h;
  }
  let weak: Hit | undefined;
  let p = lower.indexOf('__proto__');
  while (p >= 0) {
    const before = p > 0 ? lower.charCodeAt(p - 1) : -1;
    const e = p + 9;
    const after = e < lower.length ? lower.charCodeAt(e) : -1;
    const next = e + 1 < lower.length ? lower.charCodeAt(e + 1) : -1;
    // accessor / member / assignment shapes
    if (
      after === 91 /* [ */ ||
      (after === 46 /* . */ && isWordChar(next)) ||
      after === 61 /* = */ ||
      (after === 58 /* : */ && (before === 58 || before === 91 || before === 46)) ||
      ((after === 34 || after === 39) && (before === 34 || before === 39)) ||
      (before === 91 || before === 46 || before === 58) && (after === 93 || after === -1 || after === 58 || after === 46 || after === 61)
    ) {
      return mk('prototype-pollution.proto-path', 5, 1, lower.slice(Math.max(0, p - 2), e + 6));
    }
    if (weak === undefined && (before === -1 || !isWordChar(before)) && (after === -1 || !isWordChar(after))) {
      weak = mk('prototype-pollution.proto-word', 4, 2, '__proto__');
    }
    p = lower.indexOf('__proto__', e);
  }
  p = lower.indexOf('constructor');
  while (p >= 0) {
    const e = p + 11;
    const before = p > 0 ? lower.charCodeAt(p - 1) : -1;
    if (before === -1 || !isWordChar(before)) {
      const k = skipAccessor(lower, e);
      if (k > e) {
        if (lower.startsWith('prototype', k) && !isWordChar(lower.charCodeAt(k + 9)) && pathContinues(lower, k + 9)) {
          return mk('prototype-pollution.constructor-prototype', 5, 1, lower.slice(p, k + 9));
        }
        if (lower.startsWith('constructor', k) && !isWordChar(lower.charCodeAt(k + 11))) {
          return mk('prototype-pollution.constructor-walk', 5, 1, lower.slice(p, k + 11));
        }
      }
    }
    p = lower.indexOf('constructor', e);
  }
  return weak;
}

function scanProto(lower: string, ctx: DetectContext): Hit | undefined {
  if (ctx.isKey) {
    const h = scanKeyPath(lower);
    if (h) return h;
    // JSON member below `constructor`/`__proto__` members: the pointer in ctx.name has the path.
    const name = ctx.name.toLowerCase();
    const viaName = scanKeyPath(name);
    if (viaName) return viaName;
    if (lower === 'prototype' && segments(name, 256).includes('constructor')) {
      return mk('prototype-pollution.constructor-prototype', 5, 1, 'constructor.prototype');
    }
    return undefined;
  }
  return scanValue(lower);
}

/** Words without which a value is no prototype path (the engine's gate reads them too). */
export const PROTO_WORDS: readonly string[] = ['__proto__', 'constructor', 'prototype'];

export const detectPrototypePollution: Detector = (_text, lower, ctx) => {
  if (!PROTO_WORDS.some((w) => lower.indexOf(w) >= 0)) {
    if (!ctx.isKey || (ctx.name.indexOf('__proto__') < 0 && ctx.name.indexOf('rototype') < 0)) return undefined;
  }
  try {
    return scanProto(lower, ctx);
  } catch {
    return undefined;
  }
};
