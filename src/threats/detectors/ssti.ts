/**
 * Server-side template injection (category `ssti`).
 *
 * Finds template expression delimiters (`{{ }}`, `{% %}`, `${ }`, `#{ }`, `*{ }`, `~{ }`, `@{ }`,
 * `<%= %>`, `<% %>`, `[[ ]]`, `[= ]`, `{{= }}`, `@( )`, Perl `@{[ ]}`, Freemarker `<#…>`,
 * Velocity `#set(…)`, Smarty `{php}` / `{system(…)}`) and classifies what is inside with a small
 * expression tokenizer:
 *  - strong (paranoia 1, critical): arithmetic probes (`7*7`, `7*'7'`), Python dunders
 *    (`__class__`, `__globals__` …), sandbox-escape names (`constructor`, `getClass`, `forName`,
 *    `T(java.lang.Runtime)`, `_self.env`, `lipsum`, `config` …), calls of dangerous functions
 *    (`system(`, `exec(`, `popen(`, `require(` …), Freemarker `?new()`, literal-condition probes
 *    (`{% if True %}`);
 *  - code-like (paranoia 2): other calls, subscripts with strings, control statements;
 *  - a plain reference (`{{name}}`, `${price}`): a notice at paranoia 3.
 * `${prefix:…}` Log4j lookups are left to the jndi detector.
 *
 * Linear: each opener's content is bounded (MAX_CONTENT) and the scan resumes after it.
 */
import type { DetectContext, Detector, Hit, Paranoia } from '../types.js';
import { isDigit } from '../charclass.js';

const MAX_CONTENT = 320;

const enum Level {
  None = 0,
  Reference = 1,
  Code = 2,
  Strong = 3,
}

/** Identifiers that only appear in sandbox escapes / reflection. */
const STRONG_IDENTS: ReadonlySet<string> = new Set([
  'constructor', 'getruntime', 'processbuilder', 'classloader', 'getclassloader', 'forname', 'getclass',
  'getmethod', 'getdeclaredmethod', 'getdeclaredfield', 'newinstance', 'child_process', 'mainmodule',
  'registerundefinedfiltercallback', 'getfilter', 'objectconstructor', 'jythonruntime', 'popen', 'subprocess',
  'getstreamvariable', 'lipsum', 'cycler', 'joiner', 'url_for', 'get_flashed_messages', '_self',
  '_templatereference__context', 'execsync', 'spawnsync',
  'getoutput', 'check_output', 'scriptengine', 'scriptenginemanager', 'runtime', 'setaccessible', 'func_globals',
  'instance_eval', 'class_eval', 'public_send', 'module_eval', 'system', 'passthru', 'shell_exec',
  'proc_open', 'pcntl_exec', 'file_get_contents',
]);

/** Function names that are dangerous when called. */
const DANGEROUS_CALLS: ReadonlySet<string> = new Set([
  'system', 'exec', 'eval', 'spawn', 'fork', 'passthru', 'shell_exec', 'popen', 'proc_open', 'require',
  'import', '__import__', 'open', 'readlines', 'load', 'loads', 'execsync', 'spawnsync', 'getoutput',
  'check_output', 'check_call', 'call', 'readfile', 'file_get_contents', 'include', 'include_once',
  'require_once', 'fetch', 'inspect', 'send', 'public_send', 'instance_eval', 'class_eval', 'constantize',
  'start', 'getruntime', 'forname', 'getclass', 'getmethod', 'invoke', 'newinstance', 'execute', 'run',
  'write', 'writefile', 'writefilesync', 'readfilesync', 'readdirsync', 'unlink', 'rmdir', 'mkdir',
  'chmod', 'compile', 'getattr', 'setattr', 'globals', 'locals', 'vars', 'dir', 'attr',
  'assert', 'create_function', 'call_user_func', 'preg_replace', 'base64_decode', 'sleep', 'binding',
  'dlopen', 'load_library', 'getenv', 'setproperty', 'getproperty', 'socket', 'connect',
  'getdeclaredmethod', 'setaccessible', 'registerundefinedfiltercallback', 'getfilter', 'new',
  'listdir', 'getcwd', 'pcntl_exec', 'escapeshellcmd',
]);

/** Roots that name template globals worth probing (`{{config}}`, `{{self}}` …). */
const PROBE_ROOTS: ReadonlySet<string> = new Set([
  'config', 'self', '_self', 'lipsum', 'cycler', 'joiner', 'namespace', 'url_for', 'get_flashed_messages',
  'settings', 'smarty', 'application', 'session', 'request', 'app',
]);

/** Attributes of `request`/`application`/`session` that leak or escape. */
const PROBE_ATTRS: ReadonlySet<string> = new Set([
  'request', 'application', 'environ', 'env', 'secret_key', 'items', 'getclass', 'class', 'servletcontext', 'getservletcontext',
  'attributes', 'getattribute', 'init_globals', 'from_object', 'from_pyfile', 'os', 'version', 'template',
  'current_dir', 'cookies', 'args', 'values',
]);

/** Roots of dangerous host objects in Ruby/Node/Java/.NET/Python templates. */
const DANGEROUS_ROOTS: ReadonlySet<string> = new Set([
  'subprocess', 'child_process', 'builtins', 'importlib', 'pty', 'globalthis', 'open3', 'kernel', 'runtime', 'processbuilder',
]);
/** Host objects that ordinary code also uses (`process.argv`, `os.name`): code-like, not an escape by themselves. */
const HOST_ROOTS: ReadonlySet<string> = new Set([
  'process', 'require', 'global', 'module', 'file', 'io', 'dir', 'os', 'sys', 'java', 'javax', 'system', 'socket', 'fs', 'this',
]);

/** Template statement keywords (`{% kw … %}`, `<% kw … %>`). */
const STATEMENT_KEYWORDS: ReadonlySet<string> = new Set([
  'if', 'elif', 'elsif', 'else', 'for', 'foreach', 'while', 'set', 'import', 'from', 'include', 'extends',
  'macro', 'call', 'block', 'with', 'filter', 'raw', 'load', 'debug', 'autoescape', 'unless', 'case', 'each',
  'assign', 'capture', 'render', 'echo', 'do', 'exec', 'php', 'python', 'endif', 'endfor', 'end',
]);
const STRONG_STATEMENTS: ReadonlySet<string> = new Set(['import', 'from', 'load', 'debug', 'exec', 'php', 'python', 'do']);

const CONSTANT_WORDS: ReadonlySet<string> = new Set(['true', 'false', 'none', 'nil', 'null', 'undefined']);

/** Substrings that are template/EL escapes wherever they appear. */
const STRONG_ANYWHERE = [
  'freemarker.template.utility',
  'registerundefinedfiltercallback',
  '_templatereference__context',
  '.getruntime().exec(',
  'getclass().forname(',
  't(java.lang.runtime)',
  't(java.lang.system)',
  't(java.lang.processbuilder)',
  '?new()(',
];
/** Substrings that are code-like in prose: count at paranoia 2. */
const WEAK_ANYWHERE = [
  '__class__', '__mro__', '__subclasses__', '__globals__', '__builtins__', '__import__', '__init__',
  'java.lang.runtime', 'java.lang.processbuilder', '.getclass()',
];

function isIdentStart(c: number): boolean {
  return (c >= 97 && c <= 122) || c === 95 || c === 36 || (c >= 65 && c <= 90);
}
function isIdentChar(c: number): boolean {
  return isIdentStart(c) || (c >= 48 && c <= 57);
}
function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;
}

interface Verdict {
  level: Level;
  ev: string;
}

const NONE: Verdict = { level: Level.None, ev: '' };

/** Is `ident` a Python-style dunder (`__class__`) or contains a name-mangled dunder? */
function isDunder(ident: string): boolean {
  return ident.length > 4 && ident.startsWith('__') && ident.endsWith('__');
}

/** Inspect a string literal's content for escapes hidden in strings (`'__class__'`, `'system'`). */
function stringIsDangerous(s: string): boolean {
  if (s.includes('__')) {
    const p = s.indexOf('__');
    const q = s.indexOf('__', p + 2);
    if (q > p + 2) return true;
  }
  if (s.startsWith('java.lang.') || s.includes('freemarker.template') || s === 'child_process') return true;
  if (s === 'system' || s === 'exec' || s === 'passthru' || s === 'shell_exec' || s === 'popen' || s === 'eval') return true;
  if (s === 'constructor' || s === 'os' || s === 'subprocess' || s === 'application' || s === 'environ') return true;
  return false;
}

/**
 * Classify an expression's content (lower-cased, bounded) with a tiny tokenizer.
 */
function classifyExpression(e: string): Verdict {
  const n = e.length;
  let i = 0;
  let tokens = 0;
  let idents = 0;
  let numbers = 0;
  let strings = 0;
  let arithOps = 0;
  let strongOps = 0;
  let calls = 0;
  let subscriptString = false;
  let filterAttr = false;
  let strong = '';
  let code = '';
  let root = '';
  let rootAttr = '';
  let prevIdent = '';
  let prevWasDot = false;
  let lastIdentAfterPipe = false;
  while (i < n) {
    const c = e.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    // nested interpolation `${`, `#{`, `*{`, `@{`: transparent
    if ((c === 36 || c === 35 || c === 42 || c === 64) && e.charCodeAt(i + 1) === 123) {
      i += 2;
      continue;
    }
    tokens++;
    if (isIdentStart(c)) {
      const s = i;
      while (i < n && isIdentChar(e.charCodeAt(i))) i++;
      const ident = e.slice(s, i);
      idents++;
      const next = peekNonSpace(e, i);
      if (isDunder(ident) || ident === '_templatereference__context') strong ||= ident;
      // `runtime` and `system` are ordinary words unless used as an object or called.
      if (STRONG_IDENTS.has(ident) && ((ident !== 'runtime' && ident !== 'system') || prevWasDot || next === 46 || next === 40)) {
        strong ||= ident;
      }
      if (!prevWasDot && idents === 1) {
        root = ident;
      } else if (prevWasDot && prevIdent === root && rootAttr === '') {
        rootAttr = ident;
      }
      if (next === 40 /* ( */) {
        calls++;
        if (DANGEROUS_CALLS.has(ident)) strong ||= ident + '(';
        // `''.class.mro()`, `[].class.base.subclasses()`: walking the type hierarchy (Python's sandbox escape)
        else if (prevWasDot && (ident === 'mro' || ident === 'subclasses')) strong ||= '.' + ident + '(';
        // Twig's `dump(app)`: the framework's whole state
        else if (!prevWasDot && ident === 'dump' && e.startsWith('app', skipSpaces(e, e.indexOf('(', i) + 1))) strong ||= 'dump(app';
        // `File.read(…)`, `IO.readlines(…)`, `fs.readFileSync(…)`: file access from a template
        else if (prevWasDot && (root === 'file' || root === 'io' || root === 'dir' || root === 'fs') && prevIdent === root) strong ||= root + '.' + ident + '(';
        else code ||= ident + '(';
        // Spring `T(java.lang.Runtime)`
        if (ident === 't' && !prevWasDot) {
          const p = e.indexOf('(', i);
          if (e.startsWith('java', skipSpaces(e, p + 1))) strong ||= 'T(java';
        }
      }
      if (lastIdentAfterPipe && ident === 'attr') filterAttr = true;
      lastIdentAfterPipe = false;
      if (!prevWasDot && (next === 46 || next === 91)) {
        // `subprocess.check_output`, `Kernel.exec` …; `process.argv` is only code-like
        if (DANGEROUS_ROOTS.has(ident)) strong ||= ident + '.';
        else if (HOST_ROOTS.has(ident)) code ||= ident + '.';
      }
      if (ident === 'new' && !prevWasDot) code ||= 'new';
      prevIdent = ident;
      prevWasDot = false;
      continue;
    }
    if (isDigit(c)) {
      while (i < n && (isDigit(e.charCodeAt(i)) || e.charCodeAt(i) === 46 || e.charCodeAt(i) === 120 || e.charCodeAt(i) === 101)) i++;
      numbers++;
      prevWasDot = false;
      continue;
    }
    if (c === 39 || c === 34 || c === 96) {
      const q = c;
      const s = i + 1;
      i++;
      while (i < n && e.charCodeAt(i) !== q) {
        if (e.charCodeAt(i) === 92) i++;
        i++;
      }
      const lit = e.slice(s, Math.min(i, n));
      i++;
      strings++;
      if (q === 96 && lit.length > 0 && !lit.includes('${')) code ||= '`';
      if (stringIsDangerous(lit)) strong ||= "'" + lit.slice(0, 20);
      // `x['__class__']`
      if (e.charCodeAt(s - 2) === 91 || e.charCodeAt(skipBack(e, s - 2)) === 91) subscriptString = true;
      prevWasDot = false;
      continue;
    }
    i++;
    switch (c) {
      case 46: // .
        prevWasDot = true;
        continue;
      case 42: // *
      case 43: // +
      case 37: // %
        strongOps++;
        arithOps++;
        break;
      case 45: // -   (ranges and dates: `10-20`, `2024-01-01`)
      case 47: // /
        arithOps++;
        break;
      case 124: // |
        lastIdentAfterPipe = true;
        break;
      case 63: // ?  Freemarker built-ins: ?new ?api ?eval
        if (e.startsWith('new', i) || e.startsWith('api', i) || e.startsWith('eval', i) || e.startsWith('interpret', i)) {
          strong ||= '?' + e.slice(i, i + 4);
        }
        break;
      case 59: // ; statement separator
        code ||= ';';
        break;
      default:
        break;
    }
    prevWasDot = false;
  }
  if (tokens === 0) return NONE;
  if (strong !== '') return { level: Level.Strong, ev: strong };
  if (filterAttr) return { level: Level.Strong, ev: '|attr(' };
  // Probe of a template global: `{{config}}`, `{{self}}`, `{{request.application}}`.
  if (root !== '' && PROBE_ROOTS.has(root)) {
    const alone = idents === 1 && calls === 0 && tokens === 1;
    const isGeneric = root === 'request' || root === 'session' || root === 'application' || root === 'namespace' || root === 'app';
    if ((alone && !isGeneric) || (rootAttr !== '' && PROBE_ATTRS.has(rootAttr)) || (!isGeneric && (rootAttr !== '' || calls > 0))) {
      return { level: Level.Strong, ev: root + (rootAttr ? '.' + rootAttr : '') };
    }
  }
  // Arithmetic probe: only literals and operators.
  if (idents === 0 && arithOps > 0 && numbers > 0 && numbers + strings >= 2) {
    return { level: strongOps > 0 ? Level.Strong : Level.Code, ev: 'arith' };
  }
  if (code !== '') return { level: Level.Code, ev: code };
  if (calls > 0 || subscriptString) return { level: Level.Code, ev: 'call' };
  if (idents > 0) return { level: Level.Reference, ev: root };
  return NONE;
}

function peekNonSpace(e: string, i: number): number {
  while (i < e.length && isSpace(e.charCodeAt(i))) i++;
  return i < e.length ? e.charCodeAt(i) : -1;
}
function skipSpaces(e: string, i: number): number {
  while (i < e.length && isSpace(e.charCodeAt(i))) i++;
  return i;
}
function skipBack(e: string, i: number): number {
  while (i > 0 && isSpace(e.charCodeAt(i))) i--;
  return i;
}

/** Classify a statement tag (`{% if True %}`, `<% system('id') %>`). */
function classifyStatement(e: string): Verdict {
  const s = skipSpaces(e, 0);
  let i = s;
  while (i < e.length && isIdentChar(e.charCodeAt(i))) i++;
  const kw = e.slice(s, i);
  if (STATEMENT_KEYWORDS.has(kw)) {
    let rest = e.slice(i);
    // `{% for k, v in config.items() %}`: what is iterated decides
    if (kw === 'for' || kw === 'foreach') {
      const inAt = rest.indexOf(' in ');
      if (inAt >= 0) rest = rest.slice(inAt + 4);
    }
    const inner = classifyExpression(rest);
    if (inner.level === Level.Strong) return inner;
    if (STRONG_STATEMENTS.has(kw)) return { level: Level.Strong, ev: kw };
    // A condition made only of constants is a probe: `{% if True %}`, `<% if 1 %>`.
    const r = rest.trim();
    if ((kw === 'if' || kw === 'while' || kw === 'unless' || kw === 'elif') && (CONSTANT_WORDS.has(r) || /^[0-9]+$/.test(r))) {
      return { level: Level.Strong, ev: kw + ' ' + r };
    }
    return { level: Level.Code, ev: kw };
  }
  return classifyExpression(e);
}

/** Next-occurrence cache: `from` only grows during one scan, so each needle is searched in amortized linear time. */
type NextCache = Map<string, number>;

function nextIndex(cache: NextCache, lower: string, needle: string, from: number): number {
  const c = cache.get(needle);
  if (c !== undefined && (c < 0 || c >= from)) return c;
  const r = lower.indexOf(needle, from);
  cache.set(needle, r);
  return r;
}

/** Find `close` in `lower` from `from`, stopping at `reopen` or after MAX_CONTENT characters. */
function contentEnd(cache: NextCache, lower: string, from: number, close: string, reopen: string): { end: number; closed: boolean } {
  const limit = Math.min(lower.length, from + MAX_CONTENT);
  const c = nextIndex(cache, lower, close, from);
  const r = reopen === '' ? -1 : nextIndex(cache, lower, reopen, from);
  if (c >= 0 && c < limit && (r < 0 || c <= r)) return { end: c, closed: true };
  if (r >= 0 && r < limit) return { end: r, closed: false };
  return { end: limit, closed: false };
}

/** Is this `${…}` content a Log4j lookup (`jndi:`, `env:`, `::-x`)? */
function isLookup(content: string): boolean {
  let i = skipSpaces(content, 0);
  if (content.charCodeAt(i) === 58 /* : */) return true;
  const s = i;
  while (i < content.length) {
    const c = content.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95)) break;
    i++;
  }
  return i > s && content.charCodeAt(i) === 58 && content.charCodeAt(i + 1) !== 58;
}

interface Best {
  level: Level;
  ev: string;
}

function better(best: Best, v: Verdict, prefix: string): void {
  if (v.level > best.level) {
    best.level = v.level;
    best.ev = (prefix + v.ev).slice(0, 40);
  }
}

const VELOCITY_DIRECTIVES = ['set', 'foreach', 'evaluate', 'parse', 'include', 'define', 'macro', 'if', 'elseif'];
const FREEMARKER_DIRECTIVES = ['assign', 'list', 'if', 'include', 'import', 'macro', 'function', 'setting', 'attempt', 'local', 'global', 'ftl'];

function scanSsti(lower: string, ctx: DetectContext): Hit | undefined {
  const best: Best = { level: Level.None, ev: '' };
  const cache: NextCache = new Map();
  const hasConstructor = lower.indexOf('constructor') >= 0;
  const n = lower.length;
  let i = 0;
  while (i < n && best.level < Level.Strong) {
    const c = lower.charCodeAt(i);
    const c1 = i + 1 < n ? lower.charCodeAt(i + 1) : -1;
    if (c === 123 /* { */) {
      if (c1 === 123) {
        // {{ … }} (also {{{ }}}, {{= }}, handlebars {{# }})
        let s = i + 2;
        if (s < n && lower.charCodeAt(s) === 123) s++;
        const { end, closed } = contentEnd(cache, lower, s, '}}', '{{');
        let body = lower.slice(s, end);
        const lead = body.charCodeAt(0);
        if (lead === 61 /* = */ || lead === 45 /* - */ || lead === 126 /* ~ */) body = body.slice(1);
        if (lead === 35 /* # */ || lead === 47 /* / */ || lead === 62 /* > */ || lead === 94 /* ^ */) {
          // Handlebars block helpers: only the escape through `constructor` matters.
          if (hasConstructor) better(best, { level: Level.Strong, ev: 'constructor' }, '{{#');
          else better(best, { level: Level.Reference, ev: body.slice(1, 12) }, '{{');
        } else if (lead === 33 /* ! */) {
          // comment
        } else {
          better(best, classifyExpression(body), '{{');
        }
        i = closed ? end + 2 : Math.max(end, i + 2);
        continue;
      }
      if (c1 === 37 /* % */) {
        const { end, closed } = contentEnd(cache, lower, i + 2, '%}', '{%');
        let body = lower.slice(i + 2, end);
        if (body.charCodeAt(0) === 45) body = body.slice(1);
        better(best, classifyStatement(body), '{%');
        i = closed ? end + 2 : Math.max(end, i + 2);
        continue;
      }
      // Smarty single-brace tags: {php}, {system('id')}, {$smarty.version}, {self::…}
      const v = smartyTag(lower, i);
      if (v.level !== Level.None) better(best, v, '{');
      i++;
      continue;
    }
    if ((c === 36 /* $ */ || c === 35 /* # */ || c === 42 /* * */ || c === 126 /* ~ */ || c === 64 /* @ */) && c1 === 123) {
      // ${ }, #{ }, *{ }, ~{ }, @{ } ; Perl @{[ … ]}
      if (c === 64) {
        const k = skipSpaces(lower, i + 2);
        if (lower.charCodeAt(k) === 91 /* [ */) {
          better(best, { level: Level.Strong, ev: '@{[' + lower.slice(k + 1, k + 20) }, '');
          break;
        }
      }
      let s = i + 2;
      let close = '}';
      if (lower.charCodeAt(s) === 123) {
        // ${{7*7}}
        s++;
        close = '}}';
      }
      const reopen = String.fromCharCode(c) + '{';
      const { end, closed } = contentEnd(cache, lower, s, close, reopen);
      const body = lower.slice(s, end);
      if (!(c === 36 && isLookup(body))) {
        let v = classifyExpression(body);
        // An unterminated `${` in prose is weak evidence.
        if (!closed && v.level === Level.Strong && v.ev === 'arith') v = { level: Level.Code, ev: 'arith' };
        // Thymeleaf preprocessing `__${…}__` is an escape by construction.
        if (c === 36 && i >= 2 && lower.charCodeAt(i - 1) === 95 && lower.charCodeAt(i - 2) === 95 && v.level >= Level.Reference) {
          v = { level: Level.Strong, ev: '__${' };
        }
        better(best, v, String.fromCharCode(c) + '{');
      }
      i = closed ? end + close.length : Math.max(end, i + 2);
      continue;
    }
    if (c === 60 /* < */ && c1 === 37 /* % */) {
      // <%= %>, <%- %>, <% %>, <%# comment %>
      let s = i + 2;
      const mark = lower.charCodeAt(s);
      if (mark === 61 || mark === 45 || mark === 43 || mark === 126) s++;
      const { end, closed } = contentEnd(cache, lower, s, '%>', '<%');
      if (mark !== 35 /* # */ && mark !== 64 /* @ JSP directive */) {
        const body = lower.slice(s, end);
        let v = classifyStatement(body);
        if (!closed && v.level === Level.Strong && v.ev === 'arith') v = { level: Level.Code, ev: 'arith' };
        better(best, v, '<%');
      }
      i = closed ? end + 2 : Math.max(end, i + 2);
      continue;
    }
    if (c === 60 /* < */ && c1 === 35 /* # */) {
      // Freemarker directive <#assign …>
      const s = i + 2;
      for (const d of FREEMARKER_DIRECTIVES) {
        if (lower.startsWith(d, s) && !isIdentChar(lower.charCodeAt(s + d.length))) {
          const { end } = contentEnd(cache, lower, s + d.length, '>', '<#');
          const body = lower.slice(s + d.length, end);
          const v = classifyExpression(body.replace('=', ' '));
          better(best, v.level === Level.Strong ? v : { level: Level.Code, ev: d }, '<#');
          if (d === 'assign' && body.includes('?new')) better(best, { level: Level.Strong, ev: '?new' }, '<#assign ');
          break;
        }
      }
      i += 2;
      continue;
    }
    if (c === 35 /* # */ && isIdentStart(c1)) {
      // Velocity #set($x = …), #foreach(…), #evaluate(…)
      for (const d of VELOCITY_DIRECTIVES) {
        if (lower.startsWith(d, i + 1)) {
          const k = skipSpaces(lower, i + 1 + d.length);
          if (lower.charCodeAt(k) === 40) {
            const k2 = skipSpaces(lower, k + 1);
            if (lower.charCodeAt(k2) === 36 /* $ */) {
              const { end } = contentEnd(cache, lower, k2, ')', '#');
              const v = classifyExpression(lower.slice(k2, end));
              better(best, d === 'set' || d === 'evaluate' || v.level === Level.Strong ? { level: Level.Strong, ev: d + '($' } : { level: Level.Code, ev: d }, '#');
            }
          }
          break;
        }
      }
      i++;
      continue;
    }
    if (c === 91 /* [ */ && (c1 === 91 || c1 === 61)) {
      // Thymeleaf inline [[…]] / Freemarker square syntax [=…]; link syntax [[Page]] is prose.
      const close = c1 === 91 ? ']]' : ']';
      const { end, closed } = contentEnd(cache, lower, i + 2, close, c1 === 91 ? '[[' : '[=');
      if (closed) {
        const v = classifyExpression(lower.slice(i + 2, end));
        if (v.level >= Level.Code) better(best, v, c1 === 91 ? '[[' : '[=');
      }
      i = closed ? end + close.length : i + 2;
      continue;
    }
    if (c === 64 /* @ */ && c1 === 40 /* ( */) {
      // Razor @( … )
      const { end, closed } = contentEnd(cache, lower, i + 2, ')', '@(');
      if (closed) {
        const v = classifyExpression(lower.slice(i + 2, end));
        if (v.level >= Level.Code) better(best, v, '@(');
      }
      i = closed ? end + 1 : i + 2;
      continue;
    }
    i++;
  }

  if (best.level < Level.Strong) {
    for (const s of STRONG_ANYWHERE) {
      if (lower.includes(s)) {
        better(best, { level: Level.Strong, ev: s }, '');
        break;
      }
    }
  }
  if (best.level < Level.Code && ctx.paranoia >= 2) {
    for (const s of WEAK_ANYWHERE) {
      if (lower.includes(s)) {
        better(best, { level: Level.Code, ev: s }, '');
        break;
      }
    }
  }
  return toHit(best);
}

/** Smarty-style single-brace tag at `i` (`{php}`, `{system('id')}`, `{$smarty.version}`, `{if system(…)}`). */
function smartyTag(lower: string, i: number): Verdict {
  let k = i + 1;
  if (lower.startsWith('php}', k) || lower.startsWith('/php}', k)) return { level: Level.Strong, ev: 'php}' };
  if (lower.startsWith('$smarty.', k)) return { level: Level.Strong, ev: '$smarty.' };
  if (lower.startsWith('self::', k)) return { level: Level.Strong, ev: 'self::' };
  if (lower.startsWith('if', k) && isSpace(lower.charCodeAt(k + 2))) k = skipSpaces(lower, k + 2);
  const s = k;
  while (k < lower.length && k - s < 32 && isIdentChar(lower.charCodeAt(k))) k++;
  if (k === s) return NONE;
  const ident = lower.slice(s, k);
  if (lower.charCodeAt(skipSpaces(lower, k)) === 40 && (ident === 'system' || ident === 'exec' || ident === 'passthru' ||
    ident === 'shell_exec' || ident === 'popen' || ident === 'proc_open' || ident === 'eval' || ident === 'file_get_contents' ||
    ident === 'readfile' || ident === 'include' || ident === 'fetch' || ident === 'assert')) {
    return { level: Level.Strong, ev: ident + '(' };
  }
  return NONE;
}

function toHit(best: Best): Hit | undefined {
  let paranoia: Paranoia;
  let severity: number;
  let rule: string;
  switch (best.level) {
    case Level.Strong:
      paranoia = 1;
      severity = 5;
      rule = 'ssti.expression';
      break;
    case Level.Code:
      paranoia = 2;
      severity = 4;
      rule = 'ssti.code-like';
      break;
    case Level.Reference:
      paranoia = 3;
      severity = 2;
      rule = 'ssti.reference';
      break;
    default:
      return undefined;
  }
  return { detector: rule, category: 'ssti', severity, paranoia, evidence: best.ev };
}

/** Characters and words without which no template syntax exists (the engine's gate reads them too). */
export const TEMPLATE_MARKERS: readonly string[] = ['{', '<%', '<#', '#', '[[', '[=', '@(', '__', 'getclass', 't(java', '.getruntime'];

function mayContainTemplate(lower: string): boolean {
  for (const m of TEMPLATE_MARKERS) if (lower.indexOf(m) >= 0) return true;
  return false;
}

export const detectSsti: Detector = (_text, lower, ctx) => {
  if (!mayContainTemplate(lower)) return undefined;
  try {
    return scanSsti(lower, ctx);
  } catch {
    return undefined;
  }
};
