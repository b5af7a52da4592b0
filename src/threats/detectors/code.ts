/**
 * Code injection and insecure deserialization detector: PHP, Java, Node.js, Python, Ruby,
 * Perl and .NET payloads.
 *
 * Structure over words: a dangerous name counts when it is *used* — a call shape
 * (`system(`, `$a(`, `('sys'.'tem')(`), a serialized structure that parses (`O:8:"stdClass":1:{`),
 * a fully qualified class name in a code position (`java.lang.Runtime`, `T(java.lang.Runtime)`),
 * a gadget class name, a deserialization magic (`rO0AB`, `aced0005`, `AAEAAAD/////`, pickle
 * `cos\nsystem`), or a PHP stream wrapper (`php://input`). Prose that mentions "eval", "system",
 * "exec" or "java" has no such shape and stays quiet.
 *
 * The scan is a single pass over identifiers with bounded look-ahead/look-behind windows, plus
 * a few `indexOf` probes and a bounded base64 decode; time is linear in the length of the value.
 */
import type { DetectContext, Detector, Hit, Paranoia, ThreatCategory } from '../types.js';
import { isDigit, isAlpha } from '../charclass.js';
import { isCommandName } from './cmdi.js';

// ---------------------------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------------------------

/** PHP (and shared JS/Python/Ruby) functions that execute code or commands, or load code. */
const EXEC_FUNCS = new Set([
  'system', 'exec', 'passthru', 'shell_exec', 'popen', 'proc_open', 'pcntl_exec', 'pcntl_fork', 'eval', 'assert',
  'assert_options', 'create_function', 'call_user_func', 'call_user_func_array', 'call_user_method',
  'call_user_method_array', 'forward_static_call', 'forward_static_call_array', 'register_shutdown_function',
  'register_tick_function', 'include', 'include_once', 'require', 'require_once', 'preg_replace', 'mb_ereg_replace',
  'array_map', 'array_filter', 'array_walk', 'usort', 'uasort', 'uksort', 'iterator_apply', 'ob_start',
  'file_get_contents', 'file_put_contents', 'fopen', 'fwrite', 'fputs', 'fread', 'readfile', 'file', 'fpassthru',
  'highlight_file', 'show_source', 'php_strip_whitespace', 'parse_ini_file', 'move_uploaded_file', 'copy', 'unlink',
  'rmdir', 'mkdir', 'chmod', 'chown', 'symlink', 'base64_decode', 'gzinflate', 'gzuncompress', 'gzdecode',
  'str_rot13', 'convert_uudecode', 'bzdecompress', 'zlib_decode', 'hex2bin', 'unserialize', 'phpinfo', 'getenv',
  'putenv', 'ini_set', 'ini_get', 'ini_restore', 'dl', 'mail', 'fsockopen', 'pfsockopen', 'stream_socket_client',
  'stream_socket_server', 'curl_init', 'curl_exec', 'curl_setopt', 'socket_create', 'get_defined_functions',
  'get_defined_vars', 'get_defined_constants', 'get_class_methods', 'get_class_vars', 'extract', 'parse_str',
  'apache_child_terminate', 'posix_kill', 'posix_setuid', 'posix_getpwuid', 'posix_getuid', 'posix_uname',
  'posix_getcwd', 'posix_getegid', 'posix_geteuid', 'posix_getgid', 'proc_nice', 'proc_terminate', 'escapeshellcmd',
  'reflectionfunction', 'invokeargs', 'wp_remote_get', 'wp_remote_post', 'wp_remote_fopen', 'gzopen', 'bzopen',
  'expect_popen', 'leak', 'link', 'tmpfile', 'tempnam', 'set_error_handler', 'set_exception_handler', 'spl_autoload_register',
  // Python / Ruby / Node
  '__import__', 'execfile', 'compile', 'exec_', 'execsync', 'spawnsync', 'execfilesync', 'instance_eval',
  'class_eval', 'module_eval', 'settimeout', 'setinterval', 'spawn',
]);

/** Names that are also ordinary English words: need a tight call shape. */
const WORDY = new Set([
  'system', 'exec', 'eval', 'assert', 'include', 'require', 'file', 'copy', 'link', 'mail', 'extract', 'compile',
  'leak', 'spawn', 'unlink', 'mkdir', 'rmdir', 'chmod', 'chown', 'popen', 'fopen', 'fwrite', 'fread', 'readfile',
  'settimeout', 'setinterval', 'getenv', 'putenv', 'symlink', 'usort', 'ob_start',
]);

/** Calls that are code in JS/HTML too (`setTimeout(`, `fopen(`): only with code-like arguments. */
const JS_COMMON = new Set(['settimeout', 'setinterval', 'spawn', 'compile', 'require', 'include', 'file', 'copy', 'link', 'mail']);

/** PHP-specific library functions: code, but not dangerous on their own. */
const PHP_OTHER = new Set([
  'strrev', 'intval', 'chr', 'ord', 'print_r', 'var_dump', 'var_export', 'strip_tags', 'str_replace', 'preg_match',
  'is_array', 'is_string', 'unpack', 'pack', 'serialize', 'checkdate', 'date_add', 'gethostbyname', 'gethostbynamel',
  'chroot', 'filegroup', 'fileowner', 'fileperms', 'array_diff', 'str_repeat', 'strtolower', 'strtoupper', 'urldecode',
  'rawurldecode', 'htmlspecialchars_decode', 'html_entity_decode', 'stripslashes', 'array_merge', 'implode', 'explode',
  'curl_exec', 'ldap_get_entries', 'odbc_connect', 'pg_connect', 'mysql_query', 'mysqli_query', 'get_current_user',
  'getcwd', 'scandir', 'glob', 'opendir', 'readdir', 'file_exists', 'is_file', 'is_dir', 'realpath', 'basename',
  'touch', 'crypt', 'md5', 'sha1', 'printf', 'sprintf', 'vsprintf', 'fputcsv', 'fgets', 'fgetc', 'feof', 'fclose',
  'array_key_exists', 'in_array', 'uniqid', 'mt_rand', 'random_bytes', 'bin2hex', 'dechex', 'hexdec', 'octdec',
  'strlen', 'substr', 'strpos', 'str_pad', 'ucfirst', 'lcfirst', 'ucwords', 'nl2br', 'gzcompress', 'gzdeflate',
  'gzencode', 'base64_encode', 'str_rot13', 'convert_uuencode', 'phpversion', 'php_uname', 'php_sapi_name',
  'sys_get_temp_dir', 'ini_get_all', 'get_loaded_extensions', 'function_exists', 'class_exists', 'method_exists',
  'filemtime', 'assert_options', 'symlink', 'tidy_parse_string', 'array_walk_recursive',
]);

/** Gadget and type names used in deserialization chains (Java, .NET, Python). */
export const GADGETS = new Set([
  'invokertransformer', 'chainedtransformer', 'constanttransformer', 'instantiatetransformer', 'clonetransformer',
  'forclosure', 'whileclosure', 'instantiatefactory', 'prototypeclonefactory', 'prototypeserializationfactory',
  'templatesimpl', 'jdbcrowsetimpl', 'annotationinvocationhandler', 'badattributevalueexpexception', 'lazymap',
  'transformingcomparator', 'beancomparator', 'jndirefforwardingdatasource', 'combopooleddatasource',
  'objectdataprovider', 'windowsidentity', 'expandedwrapper', 'typeconfusedelegate', 'textformattingrunproperties',
  'activitysurrogateselector', 'activitysurrogatedisableselector', 'claimsidentity', 'sessionsecuritytoken',
  'rolepropertiesforms', 'psobject', 'methodclosure', 'convertedclosure', 'defaultadvisorchainfactory',
  'xbean', 'jdk7u21', 'mozillarhino', 'nativejavaobject', 'spelexpressionparser', 'spel', 'groovyshell',
  'scriptenginemanager', 'urlclassloader', 'processbuilder', 'getruntime', 'unixprocess', 'processimpl',
  'ognlcontext', '_memberaccess', 'ognlutil', 'memberaccess', 'classloader',
]);

/** Dotted-name roots that denote platform classes (Java, .NET, sun/jdk internals, gadget libraries). */
const JAVA_ROOTS = new Set(['java', 'javax', 'jdk', 'sun']);
export const JAVA_PACKAGES = [
  'com.sun.', 'org.apache.commons', 'org.apache.xalan', 'org.springframework.', 'org.codehaus.groovy',
  'com.opensymphony.xwork2', 'org.omg.', 'bsh.', 'org.mozilla.javascript', 'com.mchange.', 'com.bea.',
  'weblogic.', 'org.hibernate.', 'org.jboss.', 'ognl.', 'org.python.', 'com.alibaba.fastjson', 'org.yaml.snakeyaml',
  'org.apache.xbean', 'org.apache.tomcat', 'org.apache.catalina', 'org.apache.log4j', 'org.apache.naming',
];
/** Segments that make a Java dotted name dangerous in any position. */
const JAVA_DANGER = new Set([
  'runtime', 'processbuilder', 'process', 'processimpl', 'unixprocess', 'classloader', 'urlclassloader', 'reflect',
  'invoke', 'scriptenginemanager', 'script', 'naming', 'initialcontext', 'getruntime', 'forname', 'defineclass',
  'xmldecoder', 'rmi', 'management', 'jndi', 'objectinputstream', 'methodhandles', 'unsafe',
]);
/** .NET namespaces that carry code execution gadgets. */
export const DOTNET_DANGER = ['system.diagnostics.process', 'system.windows.data.', 'system.runtime.serialization',
  'system.reflection.assembly', 'system.management.automation', 'system.io.file', 'system.workflow.',
  'system.security.claims', 'system.identitymodel', 'microsoft.visualstudio.text', 'system.windows.markup'];

const PHP_WRAPPERS = ['php://', 'phar://', 'expect://', 'zip://', 'compress.zlib://', 'compress.bzip2://', 'glob://',
  'ssh2.shell://', 'ssh2.exec://', 'ssh2.tunnel://', 'ssh2.sftp://', 'ssh2.scp://', 'rar://', 'ogg://', 'zlib://',
  'bzip2://', 'data://text/'];

const SUPERGLOBALS = ['$_GET', '$_POST', '$_REQUEST', '$_COOKIE', '$_SERVER', '$_FILES', '$_ENV', '$_SESSION', '$GLOBALS',
  '$HTTP_GET_VARS', '$HTTP_POST_VARS', '$HTTP_RAW_POST_DATA', '$HTTP_SERVER_VARS'];

/** php.ini directives with no meaning outside a PHP configuration. */
const PHP_INI = new Set([
  'allow_url_include', 'allow_url_fopen', 'auto_prepend_file', 'auto_append_file', 'disable_functions',
  'disable_classes', 'open_basedir', 'safe_mode', 'register_globals', 'magic_quotes_gpc', 'file_uploads',
  'upload_tmp_dir', 'memory_limit', 'max_execution_time', 'extension_dir', 'include_path', 'display_errors',
  'log_errors', 'error_log', 'short_open_tag', 'expose_php', 'unserialize_max_depth', 'unserialize_callback_func',
  'enable_dl', 'user_ini.filename', 'session.save_path', 'session.serialize_handler', 'session.referer_check',
  'session.upload_progress.enabled', 'cgi.force_redirect', 'zend.assertions', 'assert.active', 'mail.log',
  'sendmail_path', 'phar.readonly', 'opcache.enable', 'opcache.file_cache', 'default_charset', 'error_reporting',
]);

/** Executable script extensions for upload file names. */
const SCRIPT_EXT = new Set(['php', 'php2', 'php3', 'php4', 'php5', 'php6', 'php7', 'php8', 'phtml', 'phar', 'phps', 'pht',
  'phpt', 'pgif', 'inc', 'jsp', 'jspx', 'jspf', 'jsw', 'jsv', 'asp', 'aspx', 'asa', 'asax', 'ascx', 'ashx', 'asmx',
  'cer', 'cshtml', 'vbhtml', 'shtml', 'cgi', 'war']);

/** Pickle GLOBAL opcodes: `c<module>\n<name>\n`. */
const PICKLE_MODULES = ['os', 'posix', 'nt', 'subprocess', '__builtin__', 'builtins', 'commands', 'platform', 'pty',
  'socket', 'runpy', 'importlib', 'webbrowser', 'code'];
const PICKLE_NAMES = new Set(['system', 'popen', 'call', 'check_output', 'check_call', 'run', 'getoutput', 'exec',
  'eval', 'execfile', 'spawn', 'spawnl', 'execv', 'execve', '__import__', 'run_path', 'run_module', 'open', 'apply',
  'compile', 'getattr', 'import_module', 'interact']);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function isIdStart(c: number): boolean {
  return isAlpha(c) || c === 95;
}
function isIdPart(c: number): boolean {
  return isAlpha(c) || isDigit(c) || c === 95;
}
function isWs(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;
}

/** indexOf limited to [from, lim): never scans past the window. */
function findIn(t: string, needle: string, from: number, lim: number): number {
  if (from >= lim) return -1;
  const k = t.slice(from, Math.min(t.length, lim)).indexOf(needle);
  return k < 0 ? -1 : from + k;
}

/** lastIndexOf limited to [lo, from]. */
function findBackIn(t: string, needle: string, from: number, lo: number): number {
  if (from < lo) return -1;
  const k = t.slice(Math.max(0, lo), from + needle.length).lastIndexOf(needle);
  return k < 0 ? -1 : Math.max(0, lo) + k;
}

interface State {
  best: Hit | undefined;
  paranoia: Paranoia;
  /** Remaining look-behind evaluations of `(…)(` callee expressions. */
  calleeBudget: number;
}

function report(st: State, category: ThreatCategory, rule: string, paranoia: Paranoia, severity: number, evidence: string): void {
  const ev = evidence.length > 40 ? evidence.slice(0, 40) : evidence;
  const hit: Hit = { detector: `${category === 'deserialization' ? 'deser' : 'code'}.${rule}`, category, severity, paranoia, evidence: ev };
  const b = st.best;
  if (!b) {
    st.best = hit;
    return;
  }
  const hc = hit.paranoia <= st.paranoia;
  const bc = b.paranoia <= st.paranoia;
  if (hc !== bc) {
    if (hc) st.best = hit;
    return;
  }
  if (hc ? hit.severity > b.severity || (hit.severity === b.severity && hit.paranoia < b.paranoia)
    : hit.paranoia < b.paranoia || (hit.paranoia === b.paranoia && hit.severity > b.severity)) st.best = hit;
}

function done(st: State): boolean {
  return st.best !== undefined && st.best.paranoia === 1 && st.best.severity >= 5;
}

/** Skip whitespace and PHP/JS comments (`/* … *\/`, `// …\n`, `# …\n`) forward; bounded. */
function skipWsComments(t: string, i: number, lim: number): number {
  while (i < lim) {
    const c = t.charCodeAt(i);
    if (isWs(c)) {
      i++;
      continue;
    }
    if (c === 47 && t.charCodeAt(i + 1) === 42) {
      const e = findIn(t, '*/', i + 2, lim);
      if (e < 0) return lim;
      i = e + 2;
      continue;
    }
    if ((c === 47 && t.charCodeAt(i + 1) === 47) || c === 35) {
      // A line comment only ends at a newline; without one, what follows is comment text.
      let e = i + 1;
      while (e < lim && t.charCodeAt(e) !== 10 && t.charCodeAt(e) !== 13) e++;
      if (e >= lim) return lim;
      i = e + 1;
      continue;
    }
    break;
  }
  return i;
}

/** Was the whitespace/comment run between a name and `(` made of comments (deliberate)? */
function hasComment(t: string, a: number, b: number): boolean {
  for (let i = a; i < b; i++) {
    const c = t.charCodeAt(i);
    if (c === 47 || c === 35) return true;
  }
  return false;
}

/** Arguments after `(` look like code: quotes, variables, nested calls, numbers, `)`. */
function codeArgs(t: string, open: number): boolean {
  let i = open + 1;
  const lim = Math.min(t.length, open + 160);
  while (i < lim && isWs(t.charCodeAt(i))) i++;
  if (i >= t.length) return true; // `base64_decode(` at the end
  const c = t.charCodeAt(i);
  if (c === 41 || c === 39 || c === 34 || c === 36 || c === 96 || c === 40 || c === 91 || c === 64 || c === 95) return true;
  if (isDigit(c)) {
    // `chr(123)`, `exec(1,2)`: digits followed by code punctuation.
    let j = i;
    while (j < lim && (isDigit(t.charCodeAt(j)) || t.charCodeAt(j) === 46)) j++;
    const d = t.charCodeAt(j);
    return d === 41 || d === 44 || d === 43 || d === 45 || d === 42;
  }
  if (isIdStart(c)) {
    let j = i;
    while (j < lim && (isIdPart(t.charCodeAt(j)) || t.charCodeAt(j) === 46)) j++;
    const word = t.slice(i, j);
    const d = t.charCodeAt(j);
    if (j >= t.length && word.includes('.')) return true; // `eval(String.fromCharCode` cut short
    // `(s)`, `(es)`: plural markers in prose.
    if (d === 41 && (word === 's' || word === 'es' || word === 'S' || word === 'ES')) return false;
    return d === 40 || d === 41 || d === 44 || d === 91 || d === 46 || d === 45 && t.charCodeAt(j + 1) === 62 || d === 58 && t.charCodeAt(j + 1) === 58;
  }
  return false;
}

/** What the argument list looks like: `()`, `(2)` (a man page section), `(a[, b])` (a signature), a string. */
function argShape(t: string, open: number): 'empty' | 'manref' | 'signature' | 'string' | 'other' {
  let i = open + 1;
  while (i < t.length && i - open < 32 && isWs(t.charCodeAt(i))) i++;
  const c = t.charCodeAt(i);
  if (c === 41) return 'empty';
  if (c >= 49 && c <= 56 && t.charCodeAt(i + 1) === 41) return 'manref';
  if (c === 39 || c === 34 || c === 96) return 'string';
  const close = findIn(t, ')', i, i + 80);
  const inner = t.slice(i, close < 0 ? i + 80 : close);
  if (inner.includes('[,') || inner.includes('[ ,') || inner.includes('...') || inner.includes('…')) return 'signature';
  return 'other';
}

/** The previous non-space token is an ordinary prose word ("the system (see …)"). */
function proseBefore(t: string, start: number): boolean {
  let i = start - 1;
  while (i >= 0 && (t.charCodeAt(i) === 32 || t.charCodeAt(i) === 9)) i--;
  if (i < 0) return false;
  if (i === start - 1) return false; // glued to something
  const c = t.charCodeAt(i);
  if (!isAlpha(c)) return false;
  let j = i;
  while (j >= 0 && isAlpha(t.charCodeAt(j)) && i - j < 32) j--;
  const word = t.slice(j + 1, i + 1).toLowerCase();
  return !['return', 'echo', 'print', 'new', 'await', 'void', 'typeof', 'then', 'do', 'else', 'and', 'or', 'xor', 'not'].includes(word);
}

// ---------------------------------------------------------------------------------------------
// PHP tags, wrappers, superglobals, ini
// ---------------------------------------------------------------------------------------------

function phpTags(st: State, t: string, lower: string): void {
  let from = 0;
  for (let n = 0; n < 16; n++) {
    const k = lower.indexOf('<?', from);
    if (k < 0) break;
    from = k + 2;
    const rest = lower.slice(k + 2, k + 40);
    if (rest.startsWith('php')) {
      const c = rest.charCodeAt(3);
      if (Number.isNaN(c) ? t.trim().length > 5 : isWs(c)) {
        report(st, 'code-injection', 'php-tag', 1, 5, t.slice(k, k + 20));
        return;
      }
      if (Number.isNaN(c)) report(st, 'code-injection', 'php-tag', 2, 5, '<?php');
      continue;
    }
    if (rest.startsWith('=')) {
      report(st, 'code-injection', 'php-tag', 1, 5, t.slice(k, k + 20));
      return;
    }
    if (rest === '') {
      // `test<?`: an open tag glued to the end of a word ends the value (a probe).
      const glued = k > 0 && isIdPart(t.charCodeAt(k - 1)) && lower.slice(k + 2).trim() === '';
      report(st, 'code-injection', 'php-tag', glued ? 1 : 2, 5, '<?');
      continue;
    }
    const c0 = rest.charCodeAt(0);
    if (isWs(c0)) {
      // `<? exec(…)`, `<?\nsystem(…)`, `<? php echo`: code after a short open tag.
      let j = 0;
      while (j < rest.length && isWs(rest.charCodeAt(j))) j++;
      const d = rest.charCodeAt(j);
      if (d === 36 || d === 40 || d === 64) {
        report(st, 'code-injection', 'php-tag', 1, 5, t.slice(k, k + 20));
        return;
      }
      if (isIdStart(d)) {
        // `<? echo …`, `<? php …`, `<? exec(…)`; not "<? should not trigger" in decoded prose.
        let e = j;
        while (e < rest.length && isIdPart(rest.charCodeAt(e))) e++;
        const word = rest.slice(j, e);
        const after = lower.charCodeAt(skipWsComments(lower, k + 2 + e, Math.min(lower.length, k + 64)));
        if (/^(php|echo|print|system|exec|passthru|eval|include|require|if|foreach|for|while|function|return)$/.test(word) ||
          after === 40 || after === 61 || after === 59) {
          report(st, 'code-injection', 'php-tag', 1, 5, t.slice(k, k + 20));
          return;
        }
      }
      continue;
    }
    if (rest.startsWith('xml')) {
      // XML/PHP polyglot: `<?xml :echo 1;` (a real declaration continues with attributes or `-`).
      let j = 3;
      while (j < rest.length && isWs(rest.charCodeAt(j))) j++;
      const d = rest.charCodeAt(j);
      if ((d === 58 && !rest.startsWith('namespace', j + 1)) || d === 40 || d === 59 || d === 36) {
        report(st, 'code-injection', 'php-tag', 1, 5, t.slice(k, k + 20));
        return;
      }
    }
  }
}

/** BBCode/Smarty style tags: `[php] … [/php]`, `{php} … {/php}`. */
function phpBlockTags(st: State, lower: string): void {
  for (const tag of ['[php]', '[/php]', '{php}', '{/php}', '[\\php]']) {
    const k = lower.indexOf(tag);
    if (k >= 0 && lower.charCodeAt(k + tag.length) !== 40) { // not a markdown link `[PHP](…)`
      report(st, 'code-injection', 'php-tag', 1, 5, tag);
      return;
    }
  }
}

/** PHP variable variables: `${'a'}`, `$ {$a}`, `$ {'_VAR'.'NAME'}`. */
function phpVarVar(st: State, t: string): void {
  let from = 0;
  for (let n = 0; n < 16; n++) {
    const k = t.indexOf('$', from);
    if (k < 0) return;
    from = k + 1;
    let i = k + 1;
    while (i < t.length && i - k < 32 && (t.charCodeAt(i) === 32 || t.charCodeAt(i) === 9)) i++;
    if (t.charCodeAt(i) !== 123) continue;
    const spaced = i > k + 1;
    i++;
    while (i < t.length && i - k < 48 && isWs(t.charCodeAt(i))) i++;
    const c = t.charCodeAt(i);
    const close = findIn(t, '}', i, i + 128);
    if (close < 0) continue;
    if (c === 39 || c === 34 || c === 36 || c === 64) {
      report(st, 'code-injection', 'php-variable-variable', 1, 5, t.slice(k, Math.min(close + 1, k + 24)));
      return;
    }
    if (spaced && isIdStart(c)) report(st, 'code-injection', 'php-variable-variable', 2, 5, t.slice(k, Math.min(close + 1, k + 24)));
  }
}

const PHP_WRAPPER_SCHEMES = new Set(PHP_WRAPPERS.map((w) => w.slice(0, w.indexOf(':'))));

function phpWrappers(st: State, lower: string): void {
  let from = 0;
  for (let n = 0; n < 8; n++) {
    const c = lower.indexOf('://', from);
    if (c < 0) return;
    from = c + 3;
    let k = c;
    while (k > 0 && c - k < 16) {
      const d = lower.charCodeAt(k - 1);
      if (isIdPart(d) || d === 46 || d === 50) k--;
      else break;
    }
    const scheme = lower.slice(k, c);
    if (!PHP_WRAPPER_SCHEMES.has(scheme)) continue;
    const w = scheme === 'data' ? 'data://text/' : `${scheme}://`;
    if (!lower.startsWith(w, k)) continue;
    if (w === 'data://text/' && !lower.includes(';base64', k)) continue;
    // `php://input`, `zip://a.zip#x`: a target must follow (docs say "`php://` wrappers").
    const nx = lower.charCodeAt(k + w.length);
    if (!(isIdPart(nx) || nx === 46 || nx === 47 || nx === 45 || nx === 126) && w !== 'data://text/') continue;
    report(st, 'code-injection', 'php-wrapper', 1, 5, lower.slice(k, k + 24));
    return;
  }
}

const SUPERGLOBAL_SET = new Set(SUPERGLOBALS);

function superglobals(st: State, t: string): void {
  // `$_S ERVER['x']`: a superglobal split by spaces before its subscript.
  let from = 0;
  for (let g = 0; g < 8; g++) {
    const k = t.indexOf('$', from);
    if (k < 0) break;
    from = k + 1;
    let name = '$';
    let spaced = false;
    let j = k + 1;
    for (; j < t.length && j - k < 32; j++) {
      const c = t.charCodeAt(j);
      if ((c >= 65 && c <= 90) || c === 95) name += t[j];
      else if (c === 32 || c === 9) spaced = true;
      else break;
    }
    if (spaced && t.charCodeAt(j) === 91 && SUPERGLOBAL_SET.has(name)) {
      report(st, 'code-injection', 'php-superglobal', 1, 5, t.slice(k, Math.min(j + 1, k + 24)));
      return;
    }
  }
  for (const g of SUPERGLOBALS) {
    const k = t.indexOf(g);
    if (k < 0) continue;
    if (isIdPart(t.charCodeAt(k + g.length))) continue;
    const after = t.charCodeAt(k + g.length);
    const before = k > 0 ? t.charCodeAt(k - 1) : 32;
    // `$_GET['x']`, `($_POST)`, `@$_REQUEST[…]`, or the whole value.
    const codey = after === 91 || after === 41 || after === 59 || after === 44 || after === 123 ||
      Number.isNaN(after) || before === 40 || before === 64 || before === 61 || before === 46;
    report(st, 'code-injection', 'php-superglobal', codey ? 1 : 2, 5, t.slice(k, k + 16));
    if (codey) return;
  }
}

function phpIni(st: State, lower: string): void {
  // `memory_limit = 512M`, `auto_prepend_file=php://input` as a whole value or a line.
  let k = 0;
  while (k < lower.length && k < 48) {
    const c = lower.charCodeAt(k);
    if (isIdPart(c) || c === 46 || c === 32 || c === 9) k++;
    else break;
  }
  if (lower.charCodeAt(k) !== 61 && !lower.includes('\n')) return;
  const lines = lower.length > 2000 ? [lower.slice(0, 2000)] : lower.split('\n', 16);
  for (const line0 of lines) {
    const line = line0.trim();
    const eq = line.indexOf('=');
    if (eq <= 0 || eq > 48) continue;
    const name = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (value === '' || value.includes(' ') && !value.startsWith('"')) continue;
    if (PHP_INI.has(name) || /^(opcache|mbstring|session|zend|pcre|phar|suhosin)\.[a-z_.]+$/.test(name)) {
      report(st, 'code-injection', 'php-ini', 1, 5, `${name}=`);
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Serialized PHP
// ---------------------------------------------------------------------------------------------

/** Parses `O:<len>:"<Class>":<n>:{` (or `C:`) at k; returns the class name or undefined. */
function phpObjectHeader(t: string, k: number): string | undefined {
  let i = k + 2;
  if (t.charCodeAt(i) === 43) i++; // O:+8: bypass
  const d0 = i;
  while (i < t.length && i - d0 < 6 && isDigit(t.charCodeAt(i))) i++;
  if (i === d0 || t.charCodeAt(i) !== 58 || t.charCodeAt(i + 1) !== 34) return undefined;
  i += 2;
  const n0 = i;
  while (i < t.length && i - n0 < 128 && (isIdPart(t.charCodeAt(i)) || t.charCodeAt(i) === 92)) i++;
  if (i === n0 || t.charCodeAt(i) !== 34 || t.charCodeAt(i + 1) !== 58) return undefined;
  const name = t.slice(n0, i);
  i += 2;
  if (t.charCodeAt(i) === 43) i++;
  const c0 = i;
  while (i < t.length && i - c0 < 8 && isDigit(t.charCodeAt(i))) i++;
  if (i === c0 || t.charCodeAt(i) !== 58 || t.charCodeAt(i + 1) !== 123) return undefined;
  return name;
}

/** `a:<n>:{i:0;s:1:"x";…}`: a serialized array header followed by a serialized key. */
function phpArrayHeader(t: string, k: number): boolean {
  let i = k + 2;
  const d0 = i;
  while (i < t.length && i - d0 < 6 && isDigit(t.charCodeAt(i))) i++;
  if (i === d0 || t.charCodeAt(i) !== 58 || t.charCodeAt(i + 1) !== 123) return false;
  i += 2;
  const c = t.charCodeAt(i);
  const n = t.charCodeAt(i + 1);
  return ((c === 105 || c === 115) && n === 58) || c === 125; // i: s: or }
}

function phpSerialized(st: State, t: string): void {
  let from = 0;
  for (let n = 0; n < 32; n++) {
    const k = t.indexOf(':', from);
    if (k < 1) {
      if (k < 0) return;
      from = k + 1;
      continue;
    }
    from = k + 1;
    const c = t.charCodeAt(k - 1);
    if (k >= 2 && isIdPart(t.charCodeAt(k - 2))) continue;
    if (c === 79 || c === 67) {
      const name = phpObjectHeader(t, k - 1);
      if (name !== undefined) {
        report(st, 'deserialization', 'php-object', 1, 5, t.slice(k - 1, k + 30));
        return;
      }
    } else if (c === 97 && phpArrayHeader(t, k - 1)) {
      // An array that holds an object is an object injection; a plain array is only suspicious.
      const body = t.slice(k, k + 4096);
      let hasObj = false;
      for (let j = body.indexOf('O:'); j >= 0 && j < body.length; j = body.indexOf('O:', j + 2)) {
        if (phpObjectHeader(body, j) !== undefined) {
          hasObj = true;
          break;
        }
      }
      report(st, 'deserialization', 'php-object', hasObj ? 1 : 2, 5, t.slice(k - 1, k + 30));
      if (hasObj) return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Callable strings and variable functions (PHP/JS obfuscation)
// ---------------------------------------------------------------------------------------------

const CAST_WORDS = new Set(['string', 'return', 'define', 'new', 'print', 'echo', 'array', 'window', 'this', 'self',
  'global', 'globalthis', 'var', 'let', 'const', 'object', 'int', 'bool', 'strval']);

function decodeEscapes(s: string): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (ch !== '\\' || i + 1 >= s.length) {
      out += ch;
      continue;
    }
    const n = s[i + 1] as string;
    if (n === 'x' || n === 'X') {
      const h = Number.parseInt(s.slice(i + 2, i + 4), 16);
      if (!Number.isNaN(h)) {
        out += String.fromCharCode(h);
        i += 3;
        continue;
      }
    }
    if (n >= '0' && n <= '7') {
      let j = i + 1;
      let v = 0;
      while (j < s.length && j < i + 4 && (s[j] as string) >= '0' && (s[j] as string) <= '7') v = v * 8 + Number(s[j++]);
      out += String.fromCharCode(v);
      i = j - 1;
      continue;
    }
    out += n;
    i++;
  }
  return out;
}

/**
 * Concatenates the string literals and bare names of a PHP/JS expression window
 * (`'sys'.'tem'`, `(sy.(st).em)`, `[system][0]`, `"\x73y\x73tem"`), resolving variables
 * and constants assigned earlier in the value.
 */
function concatExpr(s: string, vars: Map<string, string> | undefined): { text: string; literal: boolean; tokens: number } {
  let out = '';
  let literal = false;
  let tokens = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 39 || c === 34 || c === 96) {
      const e = s.indexOf(s[i] as string, i + 1);
      if (e < 0) break;
      out += decodeEscapes(s.slice(i + 1, e));
      literal = true;
      tokens++;
      i = e;
      continue;
    }
    if (c === 47 && s.charCodeAt(i + 1) === 42) {
      const e = s.indexOf('*/', i + 2);
      if (e < 0) break;
      i = e + 1;
      continue;
    }
    if (c === 36 || isIdStart(c)) {
      let j = i + 1;
      while (j < s.length && isIdPart(s.charCodeAt(j))) j++;
      const name = s.slice(i, j);
      i = j - 1;
      const lname = name.toLowerCase();
      if (CAST_WORDS.has(lname)) continue;
      const v = vars?.get(name);
      if (v !== undefined) {
        out += v;
        literal = true;
      } else if (c !== 36) out += name;
      tokens++;
    }
  }
  return { text: out.toLowerCase().replace(/\s+/g, ''), literal, tokens };
}

/** `$y = 'sys'.'tem';`, `define('x', 'sys'.'tem');`, `var f = 'ev'+'al';`: constant strings. */
function collectAssignments(t: string, lower: string): Map<string, string> | undefined {
  let vars: Map<string, string> | undefined;
  let from = 0;
  for (let n = 0; n < 16; n++) {
    const k = t.indexOf('=', from);
    if (k < 0) break;
    from = k + 1;
    if (t.charCodeAt(k + 1) === 61 || t.charCodeAt(k - 1) === 61 || t.charCodeAt(k - 1) === 33) continue;
    let j = k - 1;
    while (j >= 0 && isWs(t.charCodeAt(j))) j--;
    const e = j + 1;
    while (j >= 0 && isIdPart(t.charCodeAt(j))) j--;
    if (j >= 0 && t.charCodeAt(j) === 36) j--;
    const name = t.slice(j + 1, e);
    if (!name || name.length > 32) continue;
    let end = findIn(t, ';', k, k + 200);
    if (end < 0) end = Math.min(t.length, k + 200);
    const rhs = t.slice(k + 1, end);
    if (!/['"]/.test(rhs)) continue;
    const v = concatExpr(rhs, vars).text;
    if (!v || v.length > 64) continue;
    vars ??= new Map();
    vars.set(name, v);
  }
  from = 0;
  for (let n = 0; n < 8; n++) {
    const k = lower.indexOf('define', from);
    if (k < 0) break;
    from = k + 6;
    const open = findIn(t, '(', k, k + 9);
    if (open < 0) continue;
    let end = findIn(t, ')', open, open + 200);
    if (end < 0) continue;
    const inner = t.slice(open + 1, end);
    const comma = inner.indexOf(',');
    if (comma < 0) continue;
    const name = concatExpr(inner.slice(0, comma), vars).text;
    const v = concatExpr(inner.slice(comma + 1), vars).text;
    if (!name || !v) continue;
    vars ??= new Map();
    vars.set(name, v);
    end = 0;
  }
  return vars;
}

function dangerousName(s: string): string | undefined {
  if (EXEC_FUNCS.has(s) && !JS_COMMON.has(s)) return s;
  for (const f of ['system', 'passthru', 'shell_exec', 'exec', 'assert', 'eval', 'popen', 'proc_open', 'create_function',
    'call_user_func', 'base64_decode', 'file_get_contents', 'file_put_contents', 'phpinfo', 'include', 'require']) {
    if (s.endsWith(f) && s.length - f.length <= 8) return f;
  }
  return undefined;
}

/**
 * At an opening `(` preceded by `)`, `]`, `}` or a string literal: is the callee an expression
 * that evaluates to a dangerous function name?
 */
function calleeExpr(st: State, t: string, open: number, vars: Map<string, string> | undefined): boolean {
  let i = open - 1;
  const lo = Math.max(0, open - 120);
  while (i >= lo && isWs(t.charCodeAt(i))) i--;
  if (i < lo) return false;
  // Also skip a trailing comment: `(x)/* c */(`.
  if (t.charCodeAt(i) === 47 && t.charCodeAt(i - 1) === 42) {
    const s = findBackIn(t, '/*', i - 2, lo);
    if (s < 0) return false;
    i = s - 1;
    while (i >= lo && isWs(t.charCodeAt(i))) i--;
  }
  const c = t.charCodeAt(i);
  if (c !== 41 && c !== 93 && c !== 125 && c !== 39 && c !== 34) return false;
  // Walk back over the callee expression.
  let j = i;
  let depth = 0;
  while (j >= lo) {
    const d = t.charCodeAt(j);
    if (d === 41 || d === 93 || d === 125) depth++;
    else if (d === 40 || d === 91 || d === 123) {
      depth--;
      if (depth < 0) break;
    } else if (d === 39 || d === 34) {
      const s = findBackIn(t, t[j] as string, j - 1, lo);
      if (s < 0) return false;
      j = s;
    } else if (d === 10 || d === 13) {
      break;
    } else if (depth === 0 && !(isIdPart(d) || d === 32 || d === 9 || d === 46 || d === 43 || d === 36 || d === 64 || d === 92 || d === 42 || d === 47)) {
      break;
    }
    j--;
  }
  const expr = t.slice(j + 1, i + 1);
  if (expr.length < 3) return false;
  // `[text](url)` is a markdown link, `[system][0](…)` and `['sys'.'tem'](…)` are not.
  if (c === 93 && /^[\s*+-]*\[[^\]'"]*\]\s*$/.test(expr)) return false;
  // `execFile() (Rich Trott)`: a call followed by a parenthetical, not a call of a call.
  if (/[\w$]\s*\(/.test(expr)) return false;
  const r = concatExpr(expr, vars);
  const name = dangerousName(r.text);
  if (name === undefined) return false;
  // A plain `(system)` needs the callee shape; quoted or concatenated names are always deliberate.
  report(st, 'code-injection', 'callable-string', 1, 5, `${expr.trim().slice(0, 24)}(`);
  return true;
}

/** `$a(…)`, `$$b(…)`, `${'a'}(…)`, `$__[o](…)`, `$f->$g(…)`, `Foo::$bar(…)`: PHP variable functions. */
function variableCall(t: string, k: number): number {
  // k is the index of `$`; returns the index of `(` or -1.
  let i = k + 1;
  const lim = Math.min(t.length, k + 96);
  while (i < lim && t.charCodeAt(i) === 36) i++;
  if (t.charCodeAt(i) === 32 && t.charCodeAt(i + 1) === 123) i++;
  let sawName = false;
  if (t.charCodeAt(i) === 123) {
    const e = findIn(t, '}', i + 1, lim);
    if (e < 0 || e === i + 1) return -1;
    const inner = t.slice(i + 1, e).trim();
    // PHP `${'a'}`, `${@$b}`, `${$foo->bar}`, `${_.__}`; not bash `${X:+…}`.
    if (inner === '' || !/^[\w$@'".\->\s]+$/.test(inner)) return -1;
    i = e + 1;
    sawName = true;
  } else {
    const s0 = i;
    while (i < lim && isIdPart(t.charCodeAt(i))) i++;
    if (i === s0 || isDigit(t.charCodeAt(s0))) return -1;
    sawName = true;
  }
  // Subscripts, property chains, comments and whitespace.
  for (let guard = 0; guard < 16 && i < lim; guard++) {
    i = skipWsComments(t, i, lim);
    const c = t.charCodeAt(i);
    if (c === 91 || c === 123) {
      const close = c === 91 ? 93 : 125;
      let e = i + 1;
      let depth = 1;
      const sublim = Math.min(lim, i + 40);
      while (e < sublim && depth > 0 && depth < 4) {
        const d = t.charCodeAt(e);
        if (d === c) depth++;
        else if (d === close) depth--;
        e++;
      }
      if (depth !== 0 || e === i + 2) return -1; // unbalanced or empty `[]` / `{}`
      i = e;
      continue;
    }
    if (c === 45 && t.charCodeAt(i + 1) === 62) {
      i += 2;
      if (t.charCodeAt(i) === 36) i++;
      const s0 = i;
      while (i < lim && isIdPart(t.charCodeAt(i))) i++;
      if (i === s0) return -1;
      continue;
    }
    break;
  }
  return sawName && t.charCodeAt(i) === 40 ? i : -1;
}

// ---------------------------------------------------------------------------------------------
// Identifier scan: calls, dotted names, gadgets
// ---------------------------------------------------------------------------------------------

function isExceptionName(seg: string): boolean {
  return seg.endsWith('exception') || seg.endsWith('error') || seg.endsWith('warning');
}

/** A dotted name stands in a code position: the whole value, a quoted literal, a call, an annotation. */
function codePosition(t: string, s: number, e: number): boolean {
  const before = s > 0 ? t.charCodeAt(s - 1) : -1;
  const after = e < t.length ? t.charCodeAt(e) : -1;
  // The domain of an e-mail address (`alan@sun.com`), not an annotation (`@java.lang…`).
  if (before === 64 && s > 1) {
    const b2 = t.charCodeAt(s - 2);
    if (isIdPart(b2) || b2 === 46 || b2 === 45) return false;
  }
  let a = 0;
  let b = t.length;
  while (a < s && isWs(t.charCodeAt(a))) a++;
  while (b > e && isWs(t.charCodeAt(b - 1))) b--;
  if (a === s && b === e) return true;
  if (before === 34 || before === 39 || before === 40 || before === 64 || before === 33 || before === 91 || before === 60 || before === 62 || before === 61) return true;
  if (after === 40 || after === 34 || after === 39 || after === 64 || after === 41 || after === 93 || after === 59 || after === 44 && e - s > 12) return true;
  // `new java.io.File(`, `T(java.lang.Runtime)`
  return /(?:^|[^a-z])(new|t|class)\s*$/i.test(t.slice(Math.max(0, s - 6), s));
}

function chainCheck(st: State, t: string, lower: string, segs: string[], s: number, e: number): void {
  const root = segs[0] as string;
  const last = segs[segs.length - 1] as string;
  const joined = lower.slice(s, e);
  const next = lower.charCodeAt(e);
  // Node.js: process.mainModule, process.binding(, require.main.constructor._load(, x.constructor.constructor(
  if (root === 'process' && segs.length >= 2) {
    const s1 = segs[1] as string;
    const call = next === 40 && argShape(lower, e) !== 'empty' && argShape(lower, e) !== 'signature';
    if (s1 === 'mainmodule') {
      // `process.mainModule.require(…)`, `process.mainModule.constructor…`
      report(st, 'code-injection', 'node-process', segs.length > 2 || call ? 1 : 2, 5, joined);
      return;
    }
    if (s1 === 'binding' || s1 === 'dlopen' || s1 === 'kill' || s1 === 'exit' || s1 === 'reallyexit' || s1 === 'abort') {
      // `process.binding('spawn_sync').spawn(…)`: only the chained use executes anything.
      const chained = /^\([^)]{0,40}\)\s*\.\s*(spawn|exec|execfile|spawnsync)/.test(lower.slice(e, e + 80));
      report(st, 'code-injection', 'node-process', call && chained ? 1 : 2, 5, joined);
      return;
    }
    if (s1 === 'env') {
      report(st, 'code-injection', 'node-process', codePosition(t, s, e) ? 1 : 2, 5, joined);
      return;
    }
    if (s1 === 'execpath' || s1 === 'argv') {
      report(st, 'code-injection', 'node-process', 2, 5, joined);
      return;
    }
  }
  for (let k = 1; k < segs.length; k++) {
    const a = segs[k - 1];
    const b = segs[k];
    if (a === 'constructor' && (b === 'constructor' || b === '_load')) {
      report(st, 'code-injection', 'node-constructor', 1, 5, joined);
      return;
    }
    if (b === 'mainmodule' && k + 1 < segs.length) {
      report(st, 'code-injection', 'node-process', 1, 5, joined);
      return;
    }
  }
  if (root === 'child_process' && segs.length >= 2) {
    // `child_process.exec('id')` is a call; `child_process.exec()` and `child_process.md` are documentation.
    const call = next === 40 && (argShape(lower, e) === 'string' || argShape(lower, e) === 'other' && codeArgs(lower, e));
    report(st, 'code-injection', 'node-child-process', call ? 1 : 2, 5, joined);
    return;
  }
  // Python / Ruby process execution: os.system(, subprocess.Popen(, Process.spawn(, Kernel.exec(, IO.popen(
  if (next === 40 && segs.length === 2) {
    const s1 = segs[1] as string;
    if ((root === 'os' && /^(system|popen|exec[lv]?p?e?|spawn[lv]?p?e?|startfile|fork|kill)$/.test(s1)) ||
      (root === 'subprocess' && /^(popen|call|run|check_output|check_call|getoutput|getstatusoutput)$/.test(s1)) ||
      ((root === 'process' || root === 'kernel') && /^(spawn|exec|system|fork)$/.test(s1)) ||
      (root === 'io' && s1 === 'popen') || root === 'open3' || (root === 'pty' && s1 === 'spawn') ||
      (root === 'marshal' && s1 === 'load') || (root === 'pickle' && /^loads?$/.test(s1)) ||
      (root === 'runtime' && s1 === 'getruntime') || (root === 'class' && s1 === 'forname')) {
      report(st, 'code-injection', 'process-call', 1, 5, `${joined}(`);
      return;
    }
  }
  // Java and .NET class names.
  let java = JAVA_ROOTS.has(root) && segs.length >= 2;
  if (!java) {
    for (const p of JAVA_PACKAGES) {
      if (joined.startsWith(p) || (p.length === joined.length + 1 && p.startsWith(joined))) {
        java = true;
        break;
      }
    }
  }
  if (java) {
    if (isExceptionName(last)) return;
    let danger = false;
    for (const sg of segs) if (JAVA_DANGER.has(sg) || GADGETS.has(sg)) danger = true;
    if (danger) {
      report(st, 'code-injection', 'java-class', 1, 5, joined);
      return;
    }
    report(st, 'code-injection', 'java-class', codePosition(t, s, e) ? 1 : 2, 5, joined);
    return;
  }
  if (root === 'system' && segs.length >= 3) {
    for (const p of DOTNET_DANGER) {
      if (joined.startsWith(p)) {
        report(st, 'deserialization', 'dotnet-type', codePosition(t, s, e) ? 1 : 2, 5, joined);
        return;
      }
    }
  }
  // `runtime.getRuntime`, `ProcessBuilder.start`: a dangerous class used in a chain.
  for (const sg of segs) {
    if (sg === 'runtime' || sg === 'processbuilder') {
      if (segs.length >= 2 && (segs.includes('getruntime') || segs.includes('exec') || segs.includes('start') || next === 40)) {
        report(st, 'code-injection', 'java-class', 1, 5, joined);
        return;
      }
    }
  }
}

function identifierScan(st: State, t: string, lower: string, vars: Map<string, string> | undefined): void {
  const n = lower.length;
  let i = 0;
  while (i < n) {
    if (done(st)) return;
    const c = lower.charCodeAt(i);
    if (!isIdStart(c) && c !== 36) {
      if (c === 40 && i > 0 && st.calleeBudget > 0) {
        const b = lower.charCodeAt(i - 1);
        if (b === 41 || b === 93 || b === 125 || b === 39 || b === 34 || isWs(b) || b === 47) {
          st.calleeBudget--;
          calleeExpr(st, t, i, vars);
        }
      }
      i++;
      continue;
    }
    if (c === 36) {
      if (lower.charCodeAt(i + 1) === 36 && lower.charCodeAt(i + 2) === 36 && lower.charCodeAt(i + 3) === 36) {
        i++; // long runs of `$`: only the last few can start a variable
        continue;
      }
      // `$name(` variable function
      const p = variableCall(t, i);
      if (p > 0) {
        const s0 = t.slice(i, Math.min(p, i + 24));
        const spacedCall = isWs(t.charCodeAt(p - 1));
        const weak = (spacedCall && !codeArgs(lower, p)) || proseBefore(t, i) || texMath(t, i);
        report(st, 'code-injection', 'php-variable-function', weak ? 2 : 1, 5, `${s0}(`);
      }
      i++;
      continue;
    }
    if (i > 0 && (isIdPart(lower.charCodeAt(i - 1)) || lower.charCodeAt(i - 1) === 36)) {
      i++;
      continue;
    }
    // Read a dotted chain of identifiers.
    const s = i;
    const segs: string[] = [];
    let j = i;
    for (;;) {
      const a = j;
      while (j < n && isIdPart(lower.charCodeAt(j))) j++;
      segs.push(lower.slice(a, j));
      if (lower.charCodeAt(j) === 46 && isIdStart(lower.charCodeAt(j + 1)) && segs.length < 16) {
        j++;
        continue;
      }
      break;
    }
    const e = j;
    i = j;
    for (const sg of segs) {
      if (GADGETS.has(sg) && sg !== 'classloader' && sg !== 'spel' && sg !== 'memberaccess' && sg !== 'psobject' &&
        sg !== 'processbuilder' && sg !== 'getruntime' && sg !== 'urlclassloader' && sg !== 'scriptenginemanager') {
        report(st, 'deserialization', 'gadget', 1, 5, sg);
        return;
      }
    }
    if (segs.length > 1) chainCheck(st, t, lower, segs, s, e);
    if (done(st)) return;
    if (segs.length === 1 && (segs[0] === 'process' || segs[0] === 'require') && lower.charCodeAt(e) === 91) {
      const d = lower.charCodeAt(e + 1);
      const key = lower.slice(e + 1, e + 16);
      if (d === 39 || d === 34 || d === 96 || /^(req|request|ctx|mainmodule|env|binding|this|module|constructor)\b/.test(key)) {
        report(st, 'code-injection', 'node-process', 1, 5, lower.slice(s, e + 12));
        return;
      }
    }
    if (segs[0] === 'console' && (segs.length === 2 || lower.charCodeAt(e) === 91)) {
      const p2 = skipWsComments(lower, e, Math.min(n, e + 16));
      if (lower.charCodeAt(p2) === 40 || lower.charCodeAt(e) === 91) report(st, 'code-injection', 'js-console', 2, 5, lower.slice(s, e + 1));
    }
    // Calls: name (ws|comments)* (
    const name = segs[segs.length - 1] as string;
    const nameStart = e - name.length;
    const p = skipWsComments(lower, e, Math.min(n, e + 128));
    if (lower.charCodeAt(p) !== 40) {
      // Java names that are dangerous even without a call: `new ProcessBuilder`, `Runtime.getRuntime`
      continue;
    }
    callCheck(st, t, lower, name, nameStart, e, p, segs.length > 1 ? lower.charCodeAt(nameStart - 1) : -1);
  }
}

/**
 * Is `name(` … a call written as code rather than a function named in documentation
 * (`eval()`, `link(2)`, `assert(value[, message])`, "applications that chroot()")?
 */
function docCall(lower: string, s: number, open: number, shape: string, comment: boolean): boolean {
  if (shape !== 'empty' && shape !== 'manref' && shape !== 'signature') return false;
  const ctxBefore = lower.slice(Math.max(0, s - 3), s);
  const closeAt = findIn(lower, ')', open, open + 64);
  const ap = skipWsComments(lower, closeAt + 1, Math.min(lower.length, open + 64));
  const after = lower.charCodeAt(ap);
  const chained = (after === 46 && isIdStart(lower.charCodeAt(ap + 1))) || (after === 45 && lower.charCodeAt(ap + 1) === 62);
  const codeCtx = shape === 'empty' && (after === 59 || after === 91 || chained || comment ||
    /[;=@?{]\s*$|<\?(php)?\s*$/.test(ctxBefore) || onlyWs(lower, 0, s) && onlyWs(lower, closeAt + 1, lower.length));
  return !codeCtx;
}

function callCheck(st: State, t: string, lower: string, name: string, s: number, e: number, open: number, dotBefore: number): void {
  const glued = open === e;
  const comment = !glued && hasComment(lower, e, open);
  const before = s > 0 ? lower.charCodeAt(s - 1) : -1;
  // Method calls (`re.exec(`, `$obj->system(`) are not PHP global functions.
  const method = dotBefore === 46 || (before === 62 && lower.charCodeAt(s - 2) === 45) || (before === 58 && lower.charCodeAt(s - 2) === 58);
  const prev = lower.slice(Math.max(0, s - 10), s);
  if (/(function|def|fn|sub)\s+$/.test(prev)) return; // a definition
  if (name === 'getruntime' || name === 'forname' && prev.endsWith('class.') || name === 'processbuilder' ||
    name === 'scriptenginemanager' || name === 'getenginebyname' || name === 'defineclass') {
    report(st, 'code-injection', 'java-call', 1, 5, `${name}(`);
    return;
  }
  if (name === 'function' && t.slice(Math.max(0, s - 4), s) === 'new ') {
    if (t.slice(s, s + 8) === 'Function') report(st, 'code-injection', 'js-function-constructor', 1, 5, 'new Function(');
    return;
  }
  if (method) {
    // child_process.exec(, cp.execSync(: process execution through a module object.
    if ((name === 'exec' || name === 'execsync' || name === 'spawn' || name === 'spawnsync' || name === 'execfile' || name === 'fork') &&
      /child_process|require\s*\(|cp$|childprocess/.test(lower.slice(Math.max(0, s - 60), s - 1))) {
      const shape = argShape(lower, open);
      report(st, 'code-injection', 'node-child-process', shape === 'string' || shape === 'other' && codeArgs(lower, open) ? 1 : 2, 5, `.${name}(`);
    }
    return;
  }
  if (EXEC_FUNCS.has(name)) {
    const wordy = WORDY.has(name);
    const args = codeArgs(lower, open);
    const shape = argShape(lower, open);
    let lvl: Paranoia;
 if (JS_COMMON.has(name)) {
      lvl = glued && args && (shape === 'string' || lower.charCodeAt(skipWsComments(lower, open + 1, open + 16)) === 36) && (name !== 'require' || /^\(\s*['"`](child_process|vm|fs|net|os|http|dgram|cluster|worker_threads)/.test(lower.slice(open, open + 24))) ? 1 : 3;
      if (name === 'require' && lvl === 1 && !lower.slice(open, open + 24).includes('child_process')) lvl = 2;
    } else if (!wordy) {
      // `spawnSync (cjihrig)`: a spaced parenthetical holding one bare word is prose.
      const loneWord = !glued && !comment && !name.includes('_') && !/^(passthru|popen|phpinfo|fsockopen|pfsockopen|gzinflate|gzuncompress|gzdecode|bzdecompress|hex2bin)$/.test(name) &&
        /^\(\s*[a-z_][a-z0-9_]*\s*\)/.test(lower.slice(open, open + 40));
      lvl = (args || glued || comment) && !loneWord ? 1 : 2;
    } else if ((glued || comment) && args && !proseBefore(lower, s)) {
      lvl = 1;
    } else if (args && !proseBefore(lower, s) && skipWsComments(lower, open + 1, lower.length) < lower.length &&
      !/^\(\s*[a-z_][a-z0-9_]*\s*\)/.test(lower.slice(open, open + 40))) {
      lvl = 1;
    } else {
      lvl = 3;
    }
    // Documentation style: `eval()`, `link(2)`, `assert(value[, message])` name a function.
    if (lvl === 1 && docCall(lower, s, open, shape, comment)) lvl = 2;
    if ((name === 'settimeout' || name === 'setinterval') && shape !== 'string') lvl = 3;
    // preg_replace only executes with the /e modifier.
    if (name === 'preg_replace' || name === 'mb_ereg_replace') {
      const a = lower.slice(open + 1, open + 120);
      if (!/^\s*['"](.).*?\1[a-z]*e[a-z]*['"]/.test(a)) lvl = lvl === 1 ? 2 : lvl;
    }
    report(st, 'code-injection', 'php-function', lvl, 5, `${t.slice(s, e)}(`);
    return;
  }
  if (PHP_OTHER.has(name)) {
    const args = codeArgs(lower, open);
    const shape = argShape(lower, open);
    // `unpack (almost) everything`, `chroot (metapackage)`: a spaced parenthetical of one bare word is prose
    const loneWord = !glued && !comment && !name.includes('_') && /^\(\s*[a-z][a-z0-9]*\s*\)/.test(lower.slice(open, open + 40));
    const distinctive = !docCall(lower, s, open, shape, comment) && !loneWord && (name.includes('_') || /^(strrev|intval|unpack|gethostbyname|gethostbynamel|chroot|filegroup|fileowner|fileperms|phpversion|scandir|getcwd|bin2hex|hexdec|dechex|urldecode|rawurldecode|stripslashes|fputcsv|fgets|gzcompress|gzdeflate|gzencode|crypt)$/.test(name));
    report(st, 'code-injection', 'php-function', distinctive && args ? 1 : args ? 2 : 3, distinctive && args ? 5 : 4, `${name}(`);
  }
}

// ---------------------------------------------------------------------------------------------
// Deserialization magics and encoded payloads
// ---------------------------------------------------------------------------------------------

const B64 = new Int8Array(128).fill(-1);
{
  const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < 64; i++) B64[a.charCodeAt(i)] = i;
  B64[45] = 62; // url-safe
  B64[95] = 63;
}

/** Decodes base64 text starting `shift` sextets in (0..3 pad characters prepended), at most `max` bytes. */
function b64decode(t: string, s: number, e: number, shift: number, max: number): string {
  let out = '';
  let acc = 0;
  let bits = shift * 6;
  for (let i = s; i < e && out.length < max; i++) {
    const v = B64[t.charCodeAt(i)] ?? -1;
    if (v < 0) break;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((acc >> bits) & 0xff);
    }
  }
  return out;
}

const B64_KEYWORDS = ['_$$nd_func$$_', 'child_process', 'java.lang.runtime', 'getruntime', 'processbuilder',
  'invokertransformer', 'chainedtransformer', 'instantiatetransformer', 'constanttransformer', 'templatesimpl',
  'jdbcrowsetimpl', 'objectdataprovider', 'annotationinvocationhandler', 'clonetransformer', 'forclosure',
  'whileclosure', 'instantiatefactory', 'prototypeclonefactory', 'prototypeserializationfactory', '__import__',
  'require("child_process")', 'os.system', 'shell_exec', 'passthru'];

function binaryMagic(d: string): string | undefined {
  if (d.includes('\xac\xed\x00\x05')) return 'java-serialized';
  if (d.includes('\x00\x01\x00\x00\x00\xff\xff\xff\xff')) return 'dotnet-binaryformatter';
  return undefined;
}

/**
 * Connection properties that make a JDBC driver run code, read local files or deserialize what
 * a server sends (an application that connects to a URL it was given: data-source settings,
 * Jackson gadgets): H2 `INIT=RUNSCRIPT FROM 'http://…'`, MySQL `autoDeserialize=true` and
 * `allowLoadLocalInfile`, PostgreSQL `socketFactory`/`loggerFile`, DB2 JNDI reroute, interceptor
 * classes. A JDBC URL with none of them is a setting like any other.
 */
const JDBC_DANGER = [
  'init=', 'runscript', 'autodeserialize=true', 'allowloadlocalinfile=true', 'allowurlinlocalinfile=true', 'allowloadlocalinfileinpath=',
  'socketfactory=', 'socketfactoryarg=', 'sslfactory=', 'sslfactoryarg=', 'loggerfile=', 'sslhostnameverifier=',
  'clientrerouteserverlistjndiname=', 'queryinterceptors=', 'statementinterceptors=', 'exceptioninterceptors=',
  'connectionpropertiesfile=', 'authenticationpluginclassname=', 'create=true;',
];

function jdbcUrl(st: State, lower: string): void {
  let at = lower.indexOf('jdbc:');
  for (let tries = 0; at >= 0 && tries < 4; tries++) {
    // the properties of this URL: up to a blank or quote, at most 2 KiB
    let e = at + 5;
    const end = Math.min(lower.length, at + 2048);
    while (e < end) {
      const c = lower.charCodeAt(e);
      if (c === 0x22 || c === 0x27 || (c === 0x20 && !lower.startsWith('from', e + 1) && !lower.startsWith('runscript', e + 1))) break;
      e++;
    }
    const url = lower.slice(at, e);
    for (const d of JDBC_DANGER) {
      if (url.includes(d) && (d !== 'create=true;' || url.includes('derby:'))) {
        report(st, 'code-injection', 'jdbc-url', 1, 5, url.slice(0, 24) + '…' + d);
        return;
      }
    }
    at = lower.indexOf('jdbc:', e);
  }
}

/** Groovy runs a string as a command line (`'cat /etc/passwd'.execute()`, `"id".execute().text`): a string that opens with a command's name. */
function groovyExecute(st: State, lower: string): void {
  let from = 0;
  for (let tries = 0; tries < 4; tries++) {
    const k = lower.indexOf('.execute(', from);
    if (k < 1) return;
    from = k + 9;
    let q = lower.charCodeAt(k - 1);
    let end = k - 1;
    if (q === 93) {
      // a list, `['sh', '-c', 'id'].execute()`: its first element
      const lb = lower.lastIndexOf('[', k - 2);
      if (lb < 0 || k - lb > 256) continue;
      let a = lb + 1;
      while (lower.charCodeAt(a) === 32) a++;
      q = lower.charCodeAt(a);
      if (q !== 39 && q !== 34) continue;
      end = lower.indexOf(String.fromCharCode(q), a + 1);
      if (end < 0 || end > k) continue;
      const cmd = lower.slice(a + 1, end);
      if (isCommandName(cmd)) {
        report(st, 'code-injection', 'groovy-execute', 1, 5, `[${cmd.slice(0, 20)} …].execute(`);
        return;
      }
      continue;
    }
    if (q !== 39 && q !== 34) continue;
    const open = lower.lastIndexOf(String.fromCharCode(q), end - 1);
    if (open < 0 || k - 1 - open > 256) continue;
    const cmd = lower.slice(open + 1, k - 1);
    const sp = cmd.indexOf(' ');
    if (isCommandName(sp < 0 ? cmd : cmd.slice(0, sp))) {
      report(st, 'code-injection', 'groovy-execute', 1, 5, `'${cmd.slice(0, 20)}'.execute(`);
      return;
    }
  }
}

/**
 * `$P(A \mid B) = ?$`, `$f(x)=x^2$`: the `$` at `i` opens TeX math closed by a later `$` on
 * the same line, with a TeX command, `^` or `_` between, no `;`, and the closing `$` not
 * starting a variable (`$f($x)` is PHP).
 */
function texMath(t: string, i: number): boolean {
  let tex = false;
  for (let j = i + 1; j < t.length && j - i < 256; j++) {
    const c = t.charCodeAt(j);
    if (c === 59 || c === 10 || c === 13) return false;
    if (c === 92 && isAlpha(t.charCodeAt(j + 1))) tex = true;
    else if (c === 94 || c === 95 || c === 61) tex = true;
    else if (c === 36) {
      const n = t.charCodeAt(j + 1);
      return tex && !(isAlpha(n) || n === 95);
    }
  }
  return false;
}

function pickle(lower: string): string | undefined {
  if (lower.includes('\x8c')) {
    // protocol 4+: SHORT_BINUNICODE module [MEMOIZE] SHORT_BINUNICODE name [MEMOIZE] STACK_GLOBAL
    for (const m of PICKLE_MODULES) {
      const k = lower.indexOf('\x8c' + String.fromCharCode(m.length) + m);
      if (k < 0) continue;
      let j = k + 2 + m.length;
      if (lower.charCodeAt(j) === 0x94) j++;
      if (lower.charCodeAt(j) !== 0x8c) continue;
      const name = lower.slice(j + 2, j + 2 + lower.charCodeAt(j + 1));
      let after = j + 2 + name.length;
      if (lower.charCodeAt(after) === 0x94) after++;
      if (lower.charCodeAt(after) === 0x93 && PICKLE_NAMES.has(name)) return `${m}.${name}`;
    }
  }
  if (!lower.includes('\n')) return undefined;
  for (const m of PICKLE_MODULES) {
    let from = 0;
    for (let n = 0; n < 4; n++) {
      const k = lower.indexOf(m + '\n', from);
      if (k < 0) break;
      from = k + 1;
      const before = k > 0 ? lower.charCodeAt(k - 1) : -1;
      if (before !== 99 /* c */ && before !== 10 && before !== 0x8c && before !== 0x93) continue;
      const e = findIn(lower, '\n', k + m.length + 1, k + m.length + 40);
      const name = lower.slice(k + m.length + 1, e < 0 ? k + m.length + 1 : e);
      if (PICKLE_NAMES.has(name)) return `${m}.${name}`;
    }
  }
  return undefined;
}

function base64Runs(st: State, t: string): void {
  let budget = 16384;
  let runs = 0;
  const n = t.length;
  let i = 0;
  while (i < n && budget > 0 && runs < 8) {
    const c = t.charCodeAt(i);
    if (c >= 128 || (B64[c] ?? -1) < 0) {
      i++;
      continue;
    }
    const s = i;
    while (i < n && t.charCodeAt(i) < 128 && (B64[t.charCodeAt(i)] ?? -1) >= 0) i++;
    const e = i;
    while (i < n && t.charCodeAt(i) === 61) i++;
    const len = e - s;
    if (len < 6) continue;
    // Runs of plain words ("invokertransformer") are not base64 of anything interesting.
    let upper = 0;
    let digit = 0;
    for (let k = s; k < e; k++) {
      const d = t.charCodeAt(k);
      if (d >= 65 && d <= 90) upper++;
      else if (isDigit(d)) digit++;
    }
    if (upper === 0 && digit === 0) continue;
    runs++;
    const max = Math.min(4096, budget);
    for (let shift = 0; shift < 4; shift++) {
      const d = b64decode(t, s, e, shift, max);
      budget -= d.length;
      const magic = binaryMagic(d);
      if (magic) {
        report(st, 'deserialization', magic, 1, 5, t.slice(s, Math.min(e, s + 16)));
        return;
      }
      const dl = d.toLowerCase();
      // A short blob that decodes to a bare Java keyword (`cnVudGltZQ` = "runtime").
      if (d.length <= 24 && /^[^a-z]*.?(runtime|processbuilder)[^a-z]*$/.test(dl)) {
        report(st, 'deserialization', 'encoded-payload', 1, 5, 'base64:' + (dl.includes('runtime') ? 'runtime' : 'processbuilder'));
        return;
      }
      if (len < 12) continue;
      for (const kw of B64_KEYWORDS) {
        if (dl.includes(kw)) {
          report(st, kw === '_$$nd_func$$_' || kw.endsWith('transformer') || kw.endsWith('impl') || kw.endsWith('closure') ||
            kw.endsWith('factory') || kw === 'objectdataprovider' || kw === 'annotationinvocationhandler'
            ? 'deserialization' : 'code-injection', 'encoded-payload', 1, 5, `base64:${kw}`);
          return;
        }
      }
      const pk = pickle(dl);
      if (pk) {
        report(st, 'deserialization', 'python-pickle', 1, 5, `base64:${pk}`);
        return;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Whole-value statements: a value that is entirely one statement of code
// ---------------------------------------------------------------------------------------------

/** Words followed by `(` that are language constructs, not function calls. */
const KEYWORDS = new Set(['if', 'while', 'for', 'foreach', 'switch', 'catch', 'function', 'return', 'elseif', 'isset',
  'empty', 'list', 'array', 'echo', 'print', 'unset', 'die', 'exit', 'and', 'or', 'not', 'new', 'typeof', 'sizeof',
  'with', 'until', 'unless', 'elif', 'when', 'case']);

/** Index of the `)` matching the `(` at `open` (string literals skipped), or -1 before `lim`. */
function matchParen(t: string, open: number, lim: number): number {
  let depth = 0;
  for (let i = open; i < lim; i++) {
    const c = t.charCodeAt(i);
    if (c === 39 || c === 34 || c === 96) {
      const e = findIn(t, t[i] as string, i + 1, lim);
      if (e < 0) return -1;
      i = e;
      continue;
    }
    if (c === 40) depth++;
    else if (c === 41 && --depth === 0) return i;
  }
  return -1;
}

/** Only whitespace in [a, b) (stops at the first other character). */
function onlyWs(t: string, a: number, b: number): boolean {
  for (let i = a; i < b; i++) if (!isWs(t.charCodeAt(i))) return false;
  return true;
}

/** Only whitespace and `;` from i to the end. */
function statementEnd(t: string, i: number): boolean {
  for (; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (!isWs(c) && c !== 59) return false;
  }
  return true;
}

/** A distinctive PHP function name ends the identifier (`FOOcall_user_func`, `xgzinflate`). */
function dangerousSuffix(name: string): boolean {
  if (name.length <= 8) return false;
  for (let k = 1; k <= 8 && name.length - k >= 8; k++) {
    const sfx = name.slice(k);
    if (EXEC_FUNCS.has(sfx) && !WORDY.has(sfx) && !JS_COMMON.has(sfx)) return true;
  }
  return false;
}

/**
 * The whole value is one call `name <sep> ( args ) [;]`: a PHP library function called with
 * code-like arguments (`chr(123)`, `substr()`, `subSTR($x)`, `printf(foo)`), any name called
 * through a comment or a control character (`range \t/*x*\/()`, `pi\v()`, `FILE\r\n()`), or a
 * truncated probe (`pg_enter_pipeline_mode (`). Prose never is a single call expression.
 */
function wholeValueCall(st: State, t: string, lower: string, content: Paranoia): void {
  const n = lower.length;
  let a = 0;
  while (a < n && isWs(lower.charCodeAt(a))) a++;
  if (lower.charCodeAt(a) === 64) a++; // `@` error suppression
  if (!isIdStart(lower.charCodeAt(a))) return;
  let e = a;
  while (e < n && e - a <= 64 && isIdPart(lower.charCodeAt(e))) e++;
  if (e - a > 64 || e - a < 2) return;
  const name = lower.slice(a, e);
  if (KEYWORDS.has(name)) return;
  const p = skipWsComments(lower, e, Math.min(n, e + 128));
  if (lower.charCodeAt(p) !== 40) return;
  const sep = lower.slice(e, p);
  const ev = `${t.slice(a, Math.min(e, a + 38))}(`;
  let q = p + 1;
  while (q < n && isWs(lower.charCodeAt(q))) q++;
  if (q >= n) {
    // `pg_enter_pipeline_mode (`: a snake_case function name opening a call, nothing after.
    if (name.includes('_') && name.length >= 8 && sep.trim() === '') report(st, 'code-injection', 'php-function', 1, 5, ev);
    return;
  }
  const close = matchParen(lower, p, Math.min(n, p + 400));
  if (close < 0 || !statementEnd(lower, close + 1)) return;
  const args = lower.slice(p + 1, close);
  const commentSep = sep.includes('/*') || sep.includes('//') || sep.includes('#');
  let ctrlSep = false;
  for (let i = 0; i < sep.length; i++) {
    const c = sep.charCodeAt(i);
    if (c !== 32 && isWs(c)) ctrlSep = true;
  }
  const oddSep = commentSep || ctrlSep || sep.length >= 2;
  // PHP-typed argument: a variable (`$x`) or a string concatenation (`'a'.'b'`, `chr(1).chr(2)`).
  let phpTyped = false;
  for (let i = 0; i < args.length - 1 && !phpTyped; i++) {
    const c = args.charCodeAt(i);
    if (c === 36 && isIdStart(args.charCodeAt(i + 1))) phpTyped = true;
    else if (c === 46 && (args.charCodeAt(i - 1) === 39 || args.charCodeAt(i - 1) === 34 || args.charCodeAt(i - 1) === 41) &&
      (args.charCodeAt(i + 1) === 39 || args.charCodeAt(i + 1) === 34 || isIdStart(args.charCodeAt(i + 1)))) phpTyped = true;
  }
  const empty = args.trim() === '';
  const shape = argShape(lower, p);
  if (shape === 'manref' || shape === 'signature') return; // `popen(3)`, `assert(value[, message])`
  if (!(empty || phpTyped || codeArgs(lower, p))) return;
  const known = EXEC_FUNCS.has(name) || PHP_OTHER.has(name) || dangerousSuffix(name);
  if (known) {
    // Words (`system`, `copy`, `mail`) need a deliberate shape: glued, odd spacing, PHP arguments.
    if (JS_COMMON.has(name) && !phpTyped && !commentSep && !ctrlSep) return;
    if (WORDY.has(name) && sep !== '' && !oddSep && !phpTyped) return;
    // A harmless library call (`substr($s, 0, 5);`) may be a snippet in free-form content.
    const harmless = !EXEC_FUNCS.has(name) && !dangerousSuffix(name);
    report(st, 'code-injection', 'php-function', harmless && !commentSep && !ctrlSep ? content : 1, 5, ev);
    return;
  }
  if ((commentSep || ctrlSep) && (empty || phpTyped)) report(st, 'code-injection', 'php-function', 1, 5, ev);
}

const JS_TRUTHY_NAMES = new Set(['this', 'string', 'number', 'object', 'array', 'boolean', 'symbol', 'date', 'math', 'json',
  'function', 'window', 'globalthis', 'process', 'infinity', 'true']);
const JS_FALSY_NAMES = new Set(['false', 'null', 'undefined', 'nan']);

/** Truthiness of a constant JavaScript expression (`!0`, `!!{}`, `-Infinity`, `new Date`), or undefined. */
function constTruth(s: string, depth = 0): boolean | undefined {
  s = s.trim();
  if (s === '' || depth > 16) return undefined;
  const c = s.charCodeAt(0);
  if (c === 40) {
    if (matchParen(s, 0, s.length) !== s.length - 1) return undefined;
    return constTruth(s.slice(1, -1), depth + 1);
  }
  if (c === 33) {
    const v = constTruth(s.slice(1), depth + 1);
    return v === undefined ? undefined : !v;
  }
  if (c === 43 || c === 45) {
    const r = s.slice(1).trim();
    if (r === 'infinity') return true;
    if (/^[0-9]+(\.[0-9]+)?$/.test(r)) return Number(r) !== 0;
    return undefined;
  }
  if (c === 39 || c === 34 || c === 96) {
    if (s.length < 2 || s.charCodeAt(s.length - 1) !== c || s.indexOf(s[0] as string, 1) !== s.length - 1) return undefined;
    return s.length > 2;
  }
  if (s === '{}' || s === '[]') return true;
  if (/^[0-9]+(\.[0-9]+)?$/.test(s)) return Number(s) !== 0;
  if (s.startsWith('new ') && /^new\s+[a-z_$][\w$]*(\(\))?$/.test(s)) return true;
  if (JS_TRUTHY_NAMES.has(s)) return true;
  if (JS_FALSY_NAMES.has(s)) return false;
  return undefined;
}

/** `while(<constant truthy>)` or `for(;;)` with no body, at `i` (index of the keyword). */
function infiniteLoop(lower: string, i: number): boolean {
  const n = lower.length;
  let j: number;
  if (lower.startsWith('while', i)) {
    j = i + 5;
    while (j < n && isWs(lower.charCodeAt(j))) j++;
    if (lower.charCodeAt(j) !== 40) return false;
    const close = matchParen(lower, j, Math.min(n, j + 96));
    if (close < 0 || constTruth(lower.slice(j + 1, close)) !== true) return false;
    j = close + 1;
  } else if (lower.startsWith('for', i)) {
    j = i + 3;
    while (j < n && isWs(lower.charCodeAt(j))) j++;
    if (!/^\(\s*;\s*;\s*\)/.test(lower.slice(j, j + 16))) return false;
    j = lower.indexOf(')', j) + 1;
  } else return false;
  // No body: end, `;`, `{}` (or stray closing parentheses).
  while (j < n && (isWs(lower.charCodeAt(j)) || lower.charCodeAt(j) === 41)) j++;
  if (j >= n || lower.charCodeAt(j) === 59) return true;
  if (lower.charCodeAt(j) === 123) {
    j++;
    while (j < n && isWs(lower.charCodeAt(j))) j++;
    return lower.charCodeAt(j) === 125;
  }
  return false;
}

/**
 * JavaScript/Node.js statements that open the value: an anonymous function (`function() {`),
 * `module.exports =`, a lone `console.x(…)` call, an infinite loop (`while(!0);`, `for(;;);`)
 * at the start or after `;`.
 */
function jsStatements(st: State, t: string, lower: string, content: Paranoia): void {
  const n = lower.length;
  let a = 0;
  while (a < n && isWs(lower.charCodeAt(a))) a++;
  const c0 = lower.charCodeAt(a);
  if (c0 === 102 && lower.startsWith('function', a)) {
    let j = a + 8;
    while (j < n && isWs(lower.charCodeAt(j))) j++;
    if (lower.charCodeAt(j) === 40) {
      const close = findIn(lower, ')', j, j + 80);
      if (close > 0 && /^[\w$\s,]*$/.test(lower.slice(j + 1, close))) {
        let k = close + 1;
        while (k < n && isWs(lower.charCodeAt(k))) k++;
        if (lower.charCodeAt(k) === 123) {
          report(st, 'code-injection', 'js-function', content, 5, 'function() {');
          if (content === 1) return;
        }
      }
    }
  }
  if (c0 === 109 && lower.startsWith('module.exports', a)) {
    let j = a + 14;
    if (lower.charCodeAt(j) === 46) {
      j++;
      while (j < n && isIdPart(lower.charCodeAt(j))) j++;
    }
    while (j < n && isWs(lower.charCodeAt(j))) j++;
    if (lower.charCodeAt(j) === 61 && lower.charCodeAt(j + 1) !== 61) {
      report(st, 'code-injection', 'node-module-exports', content, 5, 'module.exports=');
      if (content === 1) return;
    }
  }
  if (c0 === 99 && lower.startsWith('console', a)) {
    // `console.info(1)`, `console["info"](1)`, `console.info.call(this,1)` as the whole value.
    let j = a + 7;
    let accessors = 0;
    for (; accessors < 4; accessors++) {
      const d = lower.charCodeAt(j);
      if (d === 46 && isIdStart(lower.charCodeAt(j + 1))) {
        j++;
        while (j < n && isIdPart(lower.charCodeAt(j))) j++;
      } else if (d === 91 && (lower.charCodeAt(j + 1) === 34 || lower.charCodeAt(j + 1) === 39)) {
        const e = findIn(lower, lower[j + 1] as string, j + 2, j + 40);
        if (e < 0 || lower.charCodeAt(e + 1) !== 93) break;
        j = e + 2;
      } else break;
    }
    if (accessors > 0) {
      const p = skipWsComments(lower, j, Math.min(n, j + 16));
      if (lower.charCodeAt(p) === 40) {
        const close = matchParen(lower, p, Math.min(n, p + 400));
        if (close > 0 && statementEnd(lower, close + 1)) {
          report(st, 'code-injection', 'js-console', content, 5, lower.slice(a, Math.min(p + 1, a + 40)));
          if (content === 1) return;
        }
      }
    }
  }
  // Infinite loops at statement starts.
  let i = a;
  for (let guard = 0; guard < 16 && i >= 0 && i < n; guard++) {
    const d = lower.charCodeAt(i);
    if ((d === 119 || d === 102) && infiniteLoop(lower, i)) {
      report(st, 'code-injection', 'js-infinite-loop', 1, 5, lower.slice(i, Math.min(n, i + 24)));
      return;
    }
    const semi = lower.indexOf(';', i);
    if (semi < 0) return;
    i = semi + 1;
    while (i < n && isWs(lower.charCodeAt(i))) i++;
  }
}

/** React Server Components (Flight) references walking the prototype chain: `"$7:Module:prototype"`. */
function flightReference(st: State, lower: string): void {
  for (const needle of [':prototype', ':__proto__', ':constructor']) {
    let from = 0;
    for (let g = 0; g < 8; g++) {
      const k = lower.indexOf(needle, from);
      if (k < 0) break;
      from = k + 1;
      let s = k;
      while (s > 0 && k - s < 64) {
        const c = lower.charCodeAt(s - 1);
        if (isIdPart(c) || c === 58) s--;
        else break;
      }
      if (s < 1 || lower.charCodeAt(s - 1) !== 36) continue;
      if (!/^[0-9a-f]+(:[a-z_$][\w$]*)*$/.test(lower.slice(s, k))) continue;
      report(st, 'code-injection', 'react-flight-reference', 1, 5, lower.slice(s - 1, Math.min(lower.length, k + needle.length)));
      return;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Detector
// ---------------------------------------------------------------------------------------------

/** Where a file name ends without the trailing dots and spaces Windows drops (`shell.php. `). */
function endBeforeDots(name: string): number {
  let end = name.length;
  while (end > 0 && (isWs(name.charCodeAt(end - 1)) || name.charCodeAt(end - 1) === 46)) end--;
  return end;
}

const SERVER_CONFIG_FILES = new Set(['.htaccess', '.htpasswd', 'web.config', '.user.ini', 'php.ini']);

function uploadName(st: State, ctx: DetectContext, lower: string): void {
  const nm = ctx.name.toLowerCase();
  if (!(nm.includes('filename') || nm.includes('file-name') || nm.includes('file_name') || nm === 'x-file')) return;
  // PHP session files (`sess_<id>`, session.save_handler=files): uploading one plants a session.
  const base = lower.slice(Math.max(lower.lastIndexOf('/'), lower.lastIndexOf('\\')) + 1);
  if (base.startsWith('sess_') && /^[a-z0-9,-]{16,128}$/.test(base.slice(5))) {
    report(st, 'code-injection', 'php-session-upload', 1, 5, base.slice(0, 24));
    return;
  }
  // Web server configuration read from the upload directory: `.htaccess` (AddType … php),
  // `web.config` (handlers), `.user.ini` (auto_prepend_file) make the next upload run.
  if (SERVER_CONFIG_FILES.has(base.slice(0, endBeforeDots(base)))) {
    report(st, 'code-injection', 'server-config-upload', 1, 5, base.slice(0, 24));
    return;
  }
  // `shell.php`, `shell.php.`, `shell. php `, `shell.php.jpg`, `a.jspx..`, `x.php907…`
  const end = endBeforeDots(lower);
  const parts = lower.slice(Math.max(0, end - 256), end).split('.');
  for (let k = parts.length - 1; k >= 1 && k >= parts.length - 2; k--) {
    const ext = (parts[k] as string).trim();
    if (SCRIPT_EXT.has(ext) || /^php[0-9]{1,4}$/.test(ext)) {
      report(st, 'code-injection', 'script-upload', 1, 5, `.${ext}`);
      return;
    }
  }
}

/** Bit per punctuation character seen in the value (one pass). */
const CH_BIT = new Uint32Array(128);
{
  const chars = '(<[{$:@!%#\\\n=._/\'"`;';
  for (let i = 0; i < chars.length; i++) CH_BIT[chars.charCodeAt(i)] = 1 << i;
}
const B_PAREN = CH_BIT[40] ?? 0;
const B_LT = CH_BIT[60] ?? 0;
const B_BRACKET = CH_BIT[91] ?? 0;
const B_BRACE = CH_BIT[123] ?? 0;
const B_DOLLAR = CH_BIT[36] ?? 0;
const B_COLON = CH_BIT[58] ?? 0;
const B_AT = CH_BIT[64] ?? 0;
const B_BANG = CH_BIT[33] ?? 0;
const B_PCT = CH_BIT[37] ?? 0;
const B_HASH = CH_BIT[35] ?? 0;
const B_NL = CH_BIT[10] ?? 0;
const B_EQ = CH_BIT[61] ?? 0;
const B_UNDER = CH_BIT[95] ?? 0;
const B_SLASH = CH_BIT[47] ?? 0;

function scan(t: string, lower: string, ctx: DetectContext): Hit | undefined {
  const st: State = { best: undefined, paranoia: ctx.paranoia, calleeBudget: 64 };
  if (ctx.name.length > 5 && /file/i.test(ctx.name)) uploadName(st, ctx, lower);
  const n = t.length;
  if (n < 4) return st.best;
  // One pass: which punctuation occurs (every check below needs some of it).
  let seen = 0;
  let dots = 0;
  let upper = false;
  for (let i = 0; i < n; i++) {
    const c = t.charCodeAt(i);
    if (c < 128) {
      seen |= CH_BIT[c] ?? 0;
      if (c === 46) dots++;
      else if (c >= 65 && c <= 90) upper = true;
    }
  }
  const has = (b: number): boolean => (seen & b) !== 0;
  // Serialization magics anywhere.
  if ((upper && (t.includes('rO0AB') || t.includes('AAEAAAD/////'))) || lower.includes('aced0005') || t.includes('\u00ac\u00ed')) {
    if (t.includes('AAEAAAD/////')) {
      report(st, 'deserialization', 'dotnet-binaryformatter', 1, 5, 'AAEAAAD/////');
      return st.best;
    }
    if (t.includes('rO0AB') || lower.includes('aced0005') || t.includes('\u00ac\u00ed\u0000\u0005') || t.includes('\u00ac\u00ed\u0005')) {
      report(st, 'deserialization', 'java-serialized', 1, 5, 'java serialization magic');
      return st.best;
    }
  }
  if (has(B_UNDER) && (lower.includes('_$$nd_func$$_') || lower.includes('__js_function'))) {
    report(st, 'deserialization', 'node-serialize', 1, 5, '_$$ND_FUNC$$_');
    return st.best;
  }
  if (has(B_EQ)) phpIni(st, lower);
  if (done(st)) return st.best;
  if (dots > 1 && (lower.includes('class.module.classloader') || lower.includes('class.classloader') ||
    lower.includes('.protectiondomain.'))) {
    report(st, 'code-injection', 'spring-classloader', 1, 5, 'class.module.classLoader');
    return st.best;
  }
  if (has(B_LT) && lower.includes('<?')) phpTags(st, t, lower);
  if (done(st)) return st.best;
  if ((has(B_BRACKET) || has(B_BRACE)) && (lower.includes('php]') || lower.includes('php}'))) phpBlockTags(st, lower);
  if (done(st)) return st.best;
  if (has(B_DOLLAR) && has(B_BRACE)) phpVarVar(st, t);
  if (done(st)) return st.best;
  if (has(B_COLON) && has(B_SLASH)) phpWrappers(st, lower);
  if (done(st)) return st.best;
  if (has(B_COLON) && has(B_EQ) && lower.includes('jdbc:')) jdbcUrl(st, lower);
  if (done(st)) return st.best;
  if (has(B_PAREN) && lower.includes('.execute(')) groovyExecute(st, lower);
  if (done(st)) return st.best;
  if (has(B_DOLLAR) && upper) superglobals(st, t);
  if (done(st)) return st.best;
  if (has(B_COLON) && has(B_BRACE) && t.includes(':{')) phpSerialized(st, t);
  if (done(st)) return st.best;
  if (has(B_AT) && has(B_BRACE)) {
    const at = lower.indexOf('@{');
    if (at >= 0) {
      let j = at + 2;
      while (j < lower.length && j - at < 64 && isWs(lower.charCodeAt(j))) j++;
      if (lower.charCodeAt(j) === 91) {
        report(st, 'code-injection', 'perl-interpolation', 1, 5, '@{[');
        return st.best;
      }
    }
  }
  if (has(B_COLON) && (lower.includes('constructor:constructor') || lower.includes(':constructor:prototype'))) {
    report(st, 'code-injection', 'node-constructor', 1, 5, 'constructor:constructor');
    return st.best;
  }
  if (has(B_BANG) && (lower.includes('!!') || lower.includes('!ruby/'))) yamlTags(st, lower);
  if (done(st)) return st.best;
  if ((has(B_HASH) || has(B_AT)) && (lower.includes('#_memberaccess') || lower.includes('@ognl.') || lower.includes('#context[') ||
    (has(B_PCT) && lower.includes('%{') && lower.includes('(#')))) {
    report(st, 'code-injection', 'ognl', 1, 5, lower.includes('#_memberaccess') ? '#_memberAccess' : '%{(#…)}');
    return st.best;
  }
  if (has(B_UNDER) && lower.includes('__') && (lower.includes('__import__') || lower.includes('__subclasses__') ||
    lower.includes('__builtins__') || lower.includes('__globals__'))) {
    report(st, 'code-injection', 'python-dunder', has(B_PAREN) || has(B_BRACKET) ? 1 : 2, 5,
      lower.includes('__import__') ? '__import__' : lower.includes('__subclasses__') ? '__subclasses__' : '__builtins__');
    if (done(st)) return st.best;
  }
  if (has(B_NL)) {
    const pk = pickle(lower);
    if (pk) {
      report(st, 'deserialization', 'python-pickle', 1, 5, pk);
      return st.best;
    }
  }
  if (has(B_PAREN) || has(B_DOLLAR) || dots > 0 || has(B_BRACKET)) {
    const vars = has(B_PAREN) && (has(B_EQ) || lower.includes('define')) ? collectAssignments(t, lower) : undefined;
    identifierScan(st, t, lower, vars);
    if (done(st)) return st.best;
  }
  // Free-form content (JSON string leaves, raw and multipart bodies) carries code snippets:
  // statements that are harmless by themselves count there from paranoia 2 only.
  const content: Paranoia = ctx.location === 'body' || ctx.location === 'multipart' ? 2 : 1;
  if (has(B_PAREN)) {
    wholeValueCall(st, t, lower, content);
    if (done(st)) return st.best;
  }
  if (has(B_PAREN) || has(B_EQ)) {
    jsStatements(st, t, lower, content);
    if (done(st)) return st.best;
  }
  if (has(B_DOLLAR) && has(B_COLON)) {
    flightReference(st, lower);
    if (done(st)) return st.best;
  }
  if (n >= 6 && (upper || has(B_SLASH) || dots === 0)) base64Runs(st, t);
  return st.best;
}

function yamlTags(st: State, lower: string): void {
  for (const tag of ['!!python/object', '!!python/name', '!!python/module', '!ruby/object', '!ruby/hash', '!ruby/struct',
    '!!javax.', '!!java.', '!!com.sun.', '!!org.springframework', '!!org.apache', '!!sun.']) {
    if (lower.includes(tag)) {
      report(st, 'deserialization', 'yaml-tag', 1, 5, tag);
      return;
    }
  }
}

/** Lower-cases ASCII only, keeping indexes aligned with the original text. */
function asciiLower(t: string): string {
  let out = '';
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    out += c >= 65 && c <= 90 ? String.fromCharCode(c + 32) : t[i];
  }
  return out;
}

export const detectCodeInjection: Detector = (text: string, lower: string, ctx: DetectContext): Hit | undefined => {
  try {
    return scan(text, lower.length === text.length ? lower : asciiLower(text), ctx);
  } catch {
    return undefined;
  }
};
