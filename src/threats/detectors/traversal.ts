/**
 * Path traversal / local file inclusion detector (category `traversal`, think CRS 930).
 *
 * Not a regex list: the decoded value is split into path-like tokens, each token is parsed
 * component by component (separators `/` and `\`, Windows drive letters, UNC and device
 * prefixes, `file:`/`php://`/`jar:` … wrappers), and the decision is made from what the
 * parse found:
 *
 * - how far `..` components climb above the token's start (or above the root of an absolute
 *   path), and whether the climb is obfuscated (`....//`, `..;/`, `.. /`, `..\/`, `.../`,
 *   dot runs glued to names as left by `stripslashes`);
 * - whether the components reach a sensitive target, looked up in a vocabulary of well-known
 *   files and directories as (parent, name) pairs (`etc/passwd`, `proc/self/environ`,
 *   `.ssh/id_rsa`, `web-inf/web.xml`, `windows/win.ini` …), with prefix matching so that
 *   backup and null-byte residues (`passwd-`, `boot.ini.jpg`) still match;
 * - the context: absolute path, drive letter, parameter name that suggests a file, URL path.
 *
 * One pass over the value for the pre-filter, one for the optional de-obfuscation view, one
 * for the tokens; component look-ups are Set/Map probes on short slices. Never throws.
 */
import type { DetectContext, Detector, Hit, Paranoia } from '../types.js';
import { isDigit } from '../charclass.js';

/** Remote file inclusion (CRS 931) shares the URL parser of the SSRF detector; exported here too. */
export { detectRfi } from './ssrf.js';

type Strength = 0 | 1 | 2 | 3;

/** Children of well-known directories: 3 = sensitive wherever the pair appears, 2 = sensitive in an absolute path or after a climb. */
const ETC_FILES = new Set([
  'passwd', 'shadow', 'group', 'gshadow', 'master.passwd', 'sudoers', 'sudoers.d', 'hosts', 'hostname', 'issue', 'issue.net',
  'crontab', 'cron.d', 'fstab', 'mtab', 'subuid', 'subgid', 'motd', 'profile', 'bashrc', 'bash.bashrc', 'environment',
  'resolv.conf', 'inittab', 'security', 'ssh', 'ssl', 'pki', 'mysql', 'httpd', 'apache', 'apache2', 'nginx', 'php',
  'php5', 'php7', 'php8', 'redis', 'sysconfig', 'init.d', 'lighttpd', 'postfix', 'shells', 'aliases', 'login.defs',
  'pam.d', 'os-release', 'lsb-release', 'machine-id', 'exports', 'krb5.conf', 'krb5.keytab', 'named.conf', 'my.cnf',
  'vsftpd.conf', 'proftpd', 'samba', 'ldap', 'openldap', 'passwd.bak', 'shadow.bak', 'opasswd', 'ftpusers', 'netplan',
  'network', 'networks', 'hosts.allow', 'hosts.deny', 'knockd.conf', 'tomcat', 'tomcat7', 'tomcat8', 'tomcat9',
  'supervisor', 'supervisord.conf', 'docker', 'kubernetes', 'systemd', 'rc.local', 'ld.so.preload', 'apt', 'yum.conf',
  'chef', 'puppet', 'ansible', 'salt', 'vault', 'consul', 'wireguard', 'openvpn', 'letsencrypt', 'certs',
]);
const PROC_ENTRIES = new Set([
  'self', 'thread-self', 'version', 'cpuinfo', 'meminfo', 'mounts', 'net', 'interrupts', 'sched_debug', 'kcore',
  'config.gz', 'cmdline', 'environ', 'modules', 'partitions', 'stat', 'uptime', 'loadavg', 'devices', 'filesystems',
  'kallsyms', 'iomem', 'ioports', 'sys', 'swaps', 'kmsg', 'keys', 'crypto', 'diskstats', 'vmallocinfo', 'buddyinfo',
  'zoneinfo', 'slabinfo', 'timer_list', 'mdstat', 'fd', 'maps', 'status', 'cwd', 'root', 'exe',
]);
const SYS_ENTRIES = new Set([
  'class', 'kernel', 'devices', 'firmware', 'module', 'power', 'block', 'bus', 'dev', 'fs', 'hypervisor',
]);
const GIT_ENTRIES = new Set([
  'config', 'head', 'index', 'objects', 'refs', 'logs', 'packed-refs', 'fetch_head', 'orig_head', 'description',
  'hooks', 'info', 'modules', 'credentials',
]);
const WINDOWS_STRONG = new Set(['win.ini', 'system.ini', 'repair', 'panther', 'php.ini', 'my.ini', 'debug', 'boot.ini']);
const SYSTEM32_STRONG = new Set(['config', 'drivers', 'inetsrv', 'cmd.exe', 'wbem', 'logfiles', 'sam', 'tasks']);
const VAR_ENTRIES = new Set(['log', 'logs', 'lib', 'www', 'mail', 'spool', 'backups', 'run', 'db', 'opt']);

/** Sensitive files by name, wherever they are: 3 = distinctive, 2 = sensitive but also a plausible word. */
const FILES = new Map<string, Strength>([
  ['boot.ini', 3], ['win.ini', 3], ['system.ini', 3], ['global.asa', 3], ['global.asax', 2], ['.htpasswd', 3],
  ['id_rsa', 3], ['id_dsa', 3], ['id_ecdsa', 3], ['id_ed25519', 3], ['authorized_keys', 3], ['master.passwd', 3],
  ['wp-config.php', 3], ['.git-credentials', 3], ['.bash_history', 3], ['.zsh_history', 3], ['.sh_history', 3],
  ['.mysql_history', 3], ['.psql_history', 3], ['.python_history', 3], ['.node_repl_history', 3], ['.netrc', 3],
  ['.pgpass', 3], ['ntuser.dat', 3], ['applicationhost.config', 3], ['unattend.xml', 2], ['web.config', 2],
  ['.htaccess', 2], ['php.ini', 2], ['httpd.conf', 2], ['apache2.conf', 2], ['nginx.conf', 2], ['my.cnf', 2],
  ['my.ini', 2], ['.env', 2], ['.history', 2], ['.ds_store', 2], ['.npmrc', 2], ['.pypirc', 2], ['.dockercfg', 2],
  ['.bashrc', 2], ['.bash_profile', 2], ['.profile', 2], ['.viminfo', 2], ['.lesshst', 2], ['.boto', 2],
  ['.s3cfg', 2], ['credentials.json', 2], ['known_hosts', 2], ['shadow', 1], ['passwd', 1], ['sam', 1],
  ['web.xml', 1], ['localsettings.php', 2], ['configuration.php', 1], ['config.php', 1], ['settings.py', 1],
  ['database.yml', 2], ['secrets.yml', 2], ['parameters.yml', 2], ['.env.local', 2], ['.env.production', 2],
  ['server.xml', 1], ['tomcat-users.xml', 3], ['context.xml', 1], ['docker-compose.yml', 1], ['.travis.yml', 1],
]);
/** Hidden directories whose children are secrets or repository internals. */
const HIDDEN_DIRS = new Map<string, Strength>([
  ['.ssh', 3], ['.aws', 3], ['.gnupg', 3], ['.kube', 3], ['.docker', 2], ['.azure', 3], ['.gcloud', 3],
  ['.config', 1], ['.svn', 2], ['.hg', 2], ['.bzr', 2], ['.cvs', 2], ['.idea', 1], ['.vscode', 1],
]);
/** Filenames matched as a suffix of a component glued to a dot run or a drive (`....etcpasswd`, `c:windowswin.ini`). */
const GLUED_SUFFIXES: readonly (readonly [string, Strength])[] = [
  ['passwd', 2], ['win.ini', 3], ['boot.ini', 3], ['system.ini', 3], ['global.asa', 3], ['web.xml', 1], ['.ini', 1],
  ['.htaccess', 2], ['.htpasswd', 3], ['id_rsa', 3], ['web.config', 2],
];
/** Stream wrappers of PHP and friends that read local files or run code when included. */
const WRAPPERS = new Set([
  'php', 'phar', 'zip', 'compress.zlib', 'compress.bzip2', 'zlib', 'bzip2', 'glob', 'expect', 'rar', 'ogg',
  'ssh2.shell', 'ssh2.exec', 'ssh2.tunnel', 'ssh2.sftp', 'ssh2.scp',
]);
const URL_SCHEMES = new Set(['http', 'https', 'ftp', 'ftps', 'ws', 'wss', 'sftp', 'smb', 'webdav', 'dav']);
/** Names of template placeholders that stand for the file a fuzzing template targets. */
const PLACEHOLDER_NAMES = new Set(['file', 'filename', 'filepath', 'path', 'dir', 'target', 'payload', 'name', 'fname']);
/** Words of a parameter name that say the value is a file or path. */
const FILE_WORDS = new Set([
  'file', 'files', 'filename', 'filepath', 'fname', 'path', 'paths', 'pathname', 'dir', 'directory', 'folder',
  'doc', 'document', 'page', 'template', 'tpl', 'tmpl', 'include', 'inc', 'require', 'load', 'read', 'download',
  'attachment', 'layout', 'theme', 'skin', 'module', 'conf', 'config', 'root', 'basedir', 'basepath', 'src', 'source',
  'lang', 'locale', 'view', 'filename*', 'logfile', 'upload', 'img', 'image', 'show', 'cat', 'content', 'location',
]);

function mk(rule: string, severity: number, paranoia: Paranoia, evidence: string): Hit {
  return {
    detector: `traversal.${rule}`,
    category: 'traversal',
    severity,
    paranoia,
    evidence: evidence.length > 40 ? evidence.slice(0, 40) : evidence,
  };
}

/** Stronger = lower paranoia, then higher severity. */
function better(a: Hit | undefined, b: Hit | undefined): Hit | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (b.paranoia !== a.paranoia) return b.paranoia < a.paranoia ? b : a;
  return b.severity > a.severity ? b : a;
}

function isStrong(h: Hit | undefined): boolean {
  return h !== undefined && h.paranoia === 1 && h.severity >= 5;
}

const isSep = (c: number): boolean => c === 47 || c === 92; // / \
const isAlpha = (c: number): boolean => c >= 97 && c <= 122;
const isHex = (c: number): boolean => isDigit(c) || (c >= 97 && c <= 102);
const isSchemeChar = (c: number): boolean =>
  isAlpha(c) || isDigit(c) || c === 43 || c === 45 || c === 46 || c === 95; // + - . _

/** Token boundaries: whitespace, quotes, brackets and the query/assignment punctuation. */
function isBoundary(c: number): boolean {
  switch (c) {
    case 9: case 10: case 11: case 12: case 13: case 32: // whitespace
    case 34: case 39: case 96: // " ' `
    case 60: case 62: case 124: case 44: // < > | ,
    case 40: case 41: case 91: case 93: // ( ) [ ]
    case 61: case 38: case 63: case 35: // = & ? #
    case 0:
      return true;
    default:
      return false;
  }
}

/** Words of a parameter name, split on punctuation and camelCase humps. */
export function nameWords(name: string): string[] {
  const out: string[] = [];
  let cur = '';
  const n = name.length > 80 ? 80 : name.length;
  for (let i = 0; i < n; i++) {
    const ch = name.charCodeAt(i);
    const upper = ch >= 65 && ch <= 90;
    const lowerOrDigit = (ch >= 97 && ch <= 122) || isDigit(ch);
    if (upper) {
      const prev = i > 0 ? name.charCodeAt(i - 1) : 0;
      if (cur !== '' && prev >= 97 && prev <= 122) {
        out.push(cur);
        cur = '';
      }
      cur += String.fromCharCode(ch + 32);
    } else if (lowerOrDigit) {
      cur += name[i];
    } else if (cur !== '') {
      out.push(cur);
      cur = '';
    }
  }
  if (cur !== '') out.push(cur);
  return out;
}

/** Does a parameter name say its value is a file, a path, a page or a template? */
export function nameSuggestsFile(name: string): boolean {
  if (name === '') return false;
  for (const w of nameWords(name)) if (FILE_WORDS.has(w)) return true;
  return false;
}

/** Any character the family needs? (`.`, `/`, `\`, `:`, `{`, `~`, `%`, lookalikes.) */
function prefilter(lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    const c = lower.charCodeAt(i);
    if (c === 46 || c === 47 || c === 92 || c === 58 || c === 123 || c === 126 || c === 37) return true;
    if (c === 48 && lower.charCodeAt(i + 1) === 120) return true; // 0x2e spelled out
    if (c > 0x2000 && lookalike(c) !== '') return true;
  }
  return false;
}

/** Unicode characters that path APIs (Windows best-fit, NFKC) turn into `.`, `/` or `\`. */
function lookalike(c: number): string {
  switch (c) {
    case 0x2215: case 0x2044: case 0xff0f: case 0x29f8:
      return '/';
    case 0x2216: case 0xff3c: case 0xfe68: case 0x29f5: case 0x29f9:
      return '\\';
    case 0xff0e: case 0x2024: case 0xfe52: case 0x3002: case 0xff61:
      return '.';
    default:
      return '';
  }
}

function hexVal(c: number): number {
  return isDigit(c) ? c - 48 : c - 87;
}

/**
 * Undo the few path-specific encodings that generic decoding leaves: `0x2e`/`0x2f`/`0x5c`
 * spelled out (dotdotpwn style), leftover `%2e`/`%2f`/`%5c`/`%00` and their overlong UTF-8
 * and `%uXXXX` forms, Unicode slash and dot lookalikes, and null bytes (dropped).
 * Returns the input itself when there is nothing to undo (no allocation).
 */
function pathView(lower: string): string {
  let need = false;
  for (let i = 0; i < lower.length; i++) {
    const c = lower.charCodeAt(i);
    if (c === 37 || c === 0 || (c === 48 && lower.charCodeAt(i + 1) === 120) || (c > 0x2000 && lookalike(c) !== '')) {
      need = true;
      break;
    }
  }
  if (!need) return lower;
  let out = '';
  let i = 0;
  const n = lower.length;
  while (i < n) {
    const c = lower.charCodeAt(i);
    if (c === 48 && lower.charCodeAt(i + 1) === 120 && i + 3 < n + 0 && isHex(lower.charCodeAt(i + 2)) && isHex(lower.charCodeAt(i + 3))) {
      const v = hexVal(lower.charCodeAt(i + 2)) * 16 + hexVal(lower.charCodeAt(i + 3));
      if (v === 0x2e || v === 0x2f || v === 0x5c) {
        out += String.fromCharCode(v);
        i += 4;
        continue;
      }
    } else if (c === 37) {
      const dec = percentPathChar(lower, i);
      if (dec !== undefined) {
        out += dec[0];
        i += dec[1];
        continue;
      }
    } else if (c === 0) {
      i++;
      continue;
    } else if (c > 0x2000) {
      const l = lookalike(c);
      if (l !== '') {
        out += l;
        i++;
        continue;
      }
    }
    out += lower[i];
    i++;
  }
  return out;
}

/** A leftover percent-encoding of `.`, `/`, `\` or NUL at `i`: [replacement, length]. */
function percentPathChar(s: string, i: number): readonly [string, number] | undefined {
  const a = s.charCodeAt(i + 1);
  const b = s.charCodeAt(i + 2);
  if (!isHex(a) || !isHex(b)) {
    if (a === 117 && isHex(b)) {
      // %uXXXX
      let v = 0;
      for (let k = 2; k < 6; k++) {
        const h = s.charCodeAt(i + k);
        if (!isHex(h)) return undefined;
        v = v * 16 + hexVal(h);
      }
      const ch = v === 0x2e || v === 0x2f || v === 0x5c ? String.fromCharCode(v) : lookalike(v);
      return ch === '' ? undefined : [ch, 6];
    }
    return undefined;
  }
  const v = hexVal(a) * 16 + hexVal(b);
  if (v === 0x2e || v === 0x2f || v === 0x5c) return [String.fromCharCode(v), 3];
  if (v === 0) return ['', 3];
  if (v === 0x25 && isHex(s.charCodeAt(i + 3)) && isHex(s.charCodeAt(i + 4))) {
    // %252e: double encoding left by a single decode
    const w = hexVal(s.charCodeAt(i + 3)) * 16 + hexVal(s.charCodeAt(i + 4));
    if (w === 0x2e || w === 0x2f || w === 0x5c) return [String.fromCharCode(w), 5];
    return undefined;
  }
  if ((v === 0xc0 || v === 0xc1) && s.charCodeAt(i + 3) === 37 && isHex(s.charCodeAt(i + 4)) && isHex(s.charCodeAt(i + 5))) {
    // overlong two-byte UTF-8: %c0%ae = '.', %c0%af = '/', %c1%9c = '\'
    const w = ((v & 0x1f) << 6) | ((hexVal(s.charCodeAt(i + 4)) * 16 + hexVal(s.charCodeAt(i + 5))) & 0x3f);
    if (w === 0x2e || w === 0x2f || w === 0x5c) return [String.fromCharCode(w), 6];
  }
  return undefined;
}

/** Strength of a sensitive name, also matching backup / truncation residues (`passwd-`, `boot.ini.jpg`). */
function fileStrength(name: string): Strength {
  const exact = FILES.get(name);
  if (exact !== undefined) return exact;
  if (name.length > 64) return 0;
  for (let i = 2; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 46 || c === 45 || c === 126 || c === 95 || c === 36 || c === 59) {
      const s = FILES.get(name.slice(0, i));
      if (s !== undefined && s >= 2) return s;
    }
  }
  return 0;
}

/** Strips a residue suffix: `passwd-`, `passwd.bak`, `passwd~` → `passwd`, for set look-ups. */
function inSetWithResidue(set: ReadonlySet<string>, name: string): boolean {
  if (set.has(name)) return true;
  if (name.length > 64) return false;
  for (let i = 2; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if ((c === 46 || c === 45 || c === 126 || c === 59) && set.has(name.slice(0, i))) return true;
  }
  return false;
}

function isAllDigits(s: string): boolean {
  if (s === '') return false;
  for (let i = 0; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return true;
}

/** Strength of `name` under `parent` (both lower-case path components). `depth0` = first component of an absolute path. */
function pairStrength(parent: string, name: string, grand: string): Strength {
  switch (parent) {
    case 'etc':
      return inSetWithResidue(ETC_FILES, name) ? 3 : 1;
    case 'proc':
      return PROC_ENTRIES.has(name) || isAllDigits(name) ? 3 : 1;
    case 'self':
    case 'thread-self':
      return grand === 'proc' ? 3 : 0;
    case 'sys':
      return SYS_ENTRIES.has(name) ? 2 : 0;
    case '.git':
      return GIT_ENTRIES.has(name) ? 3 : 2;
    case 'web-inf':
      return 3;
    case 'meta-inf':
      return 1;
    case 'windows':
    case 'winnt':
      return WINDOWS_STRONG.has(name) ? 3 : name === 'system32' || name === 'syswow64' ? 1 : 0;
    case 'system32':
    case 'syswow64':
      return SYSTEM32_STRONG.has(name) ? 3 : 1;
    case 'inetpub':
      return 3;
    case 'var':
      return VAR_ENTRIES.has(name) ? 1 : 0;
    case 'run':
      // `/run/secrets/…` (Docker secrets), `/var/run/secrets/kubernetes.io/serviceaccount/token`
      return name === 'secrets' ? 3 : 0;
    case 'secrets':
      // a key file in a secrets directory (`/var/jenkins_home/secrets/master.key`)
      return name.endsWith('.key') || name.endsWith('.pem') ? 3 : 0;
    case 'usr':
      return name === 'local' ? 1 : 0;
    default: {
      const h = HIDDEN_DIRS.get(parent);
      if (h !== undefined) return h;
      return 0;
    }
  }
}

/** Top-level directories of an absolute Unix path that are never served by a web application. */
function rootDirStrength(name: string): Strength {
  switch (name) {
    case 'etc':
    case 'proc':
    case 'root':
      return 1;
    case 'sys':
    case 'boot':
    case 'dev':
      return 1;
    default:
      return 0;
  }
}

/** First index of char code `code` in [from, to), or -1 (bounded, unlike indexOf). */
function findCode(v: string, code: number, from: number, to: number): number {
  for (let i = from; i < to; i++) if (v.charCodeAt(i) === code) return i;
  return -1;
}

/** A `{name}` template placeholder inside the component [a, b): 0 none, 1 whole component, 2 glued to other characters. */
function placeholder(v: string, a: number, b: number): 0 | 1 | 2 {
  const open = findCode(v, 123, a, b);
  if (open < 0) return 0;
  const close = findCode(v, 125, open + 1, b);
  if (close < 0 || close - open < 2 || close - open > 20) return 0;
  // `${x}`, `#{x}`, `%{x}` are template expressions, not a placeholder for a file name
  const before = open > a ? v.charCodeAt(open - 1) : 0;
  if (before === 36 || before === 35 || before === 37 || before === 64) return 0;
  // only placeholders that stand for a file or a path (`{file}`, `{path}`, `{filename}` …)
  if (!PLACEHOLDER_NAMES.has(v.slice(open + 1, close))) return 0;
  return open === a && close === b - 1 ? 1 : 2;
}

/** The parse of one token: what it climbs, what it reaches, how it is spelled. */
function analyzeToken(v: string, s: number, e: number, ctx: DetectContext, fileish: boolean, alone: boolean): Hit | undefined {
  let p = s;
  let absolute = false;
  let drive = false;
  let urlPath = false;
  let scheme = '';
  let best: Hit | undefined;

  // --- scheme / wrapper / drive prefix (chains like `url:file:` and `jar:file:` are followed)
  for (let guard = 0; guard < 4 && p < e; guard++) {
    if (!isAlpha(v.charCodeAt(p))) break;
    let q = p + 1;
    while (q < e && q - p <= 20 && isSchemeChar(v.charCodeAt(q))) q++;
    if (q >= e || v.charCodeAt(q) !== 58) break;
    const sc = v.slice(p, q);
    const after = q + 1;
    const slash2 = v.charCodeAt(after) === 47 && v.charCodeAt(after + 1) === 47;
    if (sc.length === 1) {
      drive = true;
      absolute = true;
      p = after;
      break;
    }
    if (sc === 'file' || sc === 'local_file') {
      const n1 = v.charCodeAt(after);
      if (after < e && (isSep(n1) || n1 === 126 || (isAlpha(n1) && v.charCodeAt(after + 1) === 58))) {
        return mk('file-url', 5, 1, v.slice(s, Math.min(e, s + 40)));
      }
      if (after < e) best = better(best, mk('file-url', 3, 2, v.slice(s, Math.min(e, s + 40))));
      scheme = sc;
      p = after;
      absolute = true;
      break;
    }
    if (WRAPPERS.has(sc) && slash2) {
      return mk('wrapper', 5, 1, v.slice(s, Math.min(e, s + 40)));
    }
    if ((sc === 'jar' || sc === 'zip' || sc === 'phar' || sc === 'netdoc') && after < e) {
      // jar:file:/x.jar!/…, jar:http://…, netdoc:/etc/passwd
      let r = after;
      while (r < e && r - after <= 12 && isSchemeChar(v.charCodeAt(r))) r++;
      if (sc === 'netdoc' || (r < e && r > after && v.charCodeAt(r) === 58)) {
        return mk('wrapper', 5, 1, v.slice(s, Math.min(e, s + 40)));
      }
      break;
    }
    if (sc === 'data') {
      const h = dataWrapper(v, after, e);
      if (h !== undefined) return h;
      return best;
    }
    if (sc === 'url') {
      p = after;
      continue;
    }
    if (URL_SCHEMES.has(sc)) {
      // skip the authority: the path of a URL is absolute
      let r = after;
      while (r < e && isSep(v.charCodeAt(r))) r++;
      while (r < e && !isSep(v.charCodeAt(r))) r++;
      scheme = sc;
      urlPath = true;
      absolute = true;
      p = r;
      break;
    }
    break;
  }

  // --- leading separators, UNC and device paths
  let lead = 0;
  let leadBackslashes = 0;
  while (p + lead < e && isSep(v.charCodeAt(p + lead))) {
    if (v.charCodeAt(p + lead) === 92) leadBackslashes++;
    lead++;
  }
  if (lead > 0) absolute = true;
  if (v.charCodeAt(p) === 126) absolute = true; // ~/.ssh, ~root/

  const hasSepAnywhere = lead > 0 || hasSeparator(v, p, e);
  const uncCandidate = !urlPath && !drive && lead === 2 && leadBackslashes >= 1;

  let depth = 0;
  let minDepth = 0;
  let climbs = 0;
  let dotSelf = 0;
  let dotSelfMid = 0;
  let singleRuns = 0;
  let repeatedRuns = 0;
  let doubledBackslashRuns = 0;
  let runObf = false;
  let tripleClimbs = 0;
  let obfuscated = false;
  let bsClimb = false;
  let gluedDots = 0;
  let placeholderGlued = false;
  let residue = false;
  let placeholderOnly = false;
  let target: Strength = 0;
  let targetName = '';
  let prev1 = '';
  let prev2 = '';
  let compIndex = 0;
  let nameIndex = 0;
  let sepRunBefore = lead;
  let sepRunMixed = false;
  let lastSep = lead > 0 ? v.charCodeAt(p + lead - 1) : 0;
  let prevWasClimb = false;

  let a = p + lead;
  for (let i = a; i <= e; i++) {
    const c = i < e ? v.charCodeAt(i) : -1;
    if (c !== -1 && !isSep(c)) continue;
    // component [a, i)
    const b = i;
    const len = b - a;
    // separator run after this component
    let run = 0;
    let runMixed = false;
    if (c !== -1) {
      let j = i;
      let kind = 0;
      while (j < e && isSep(v.charCodeAt(j))) {
        const k = v.charCodeAt(j);
        if (kind !== 0 && k !== kind) runMixed = true;
        kind = k;
        j++;
      }
      run = j - i;
      i = j - 1; // loop increments
      if (j < e) {
        if (run === 1) singleRuns++;
        else {
          repeatedRuns++;
          if (run === 2 && !runMixed && kind === 92) doubledBackslashRuns++;
        }
      }
    }
    if (len > 0) {
      // leading dots, then what follows them
      let d = 0;
      while (a + d < b && v.charCodeAt(a + d) === 46) d++;
      const restStart = a + d;
      // trailing spaces / dots and `;params` after a dot run are ignored by Windows and Tomcat
      let pureDots = d === len;
      let decorated = false;
      if (!pureDots && d >= 1) {
        let k = restStart;
        while (k < b) {
          const ch = v.charCodeAt(k);
          if (ch === 59) { k = b; break; } // ;param
          if (ch !== 32 && ch !== 46) break;
          k++;
        }
        if (k >= b) {
          pureDots = true;
          decorated = true;
        }
      }
      if (pureDots && d === 1 && !decorated) {
        dotSelf++;
        if (c !== -1) dotSelfMid++;
        prevWasClimb = false;
      } else if (pureDots && (d === 2 || decorated || (d >= 3 && (c !== -1 || d >= 4))) && hasSepAnywhere) {
        // `...` counts as a climb (Windows) when a separator follows it; at the end it is an ellipsis
        climbs++;
        depth--;
        if (depth < minDepth) minDepth = depth;
        if (d >= 4 || decorated) obfuscated = true;
        if (d === 3 && prevWasClimb) obfuscated = true;
        if (runMixed || (sepRunMixed && compIndex > 0)) obfuscated = true;
        if (run >= 2 || (sepRunBefore >= 2 && compIndex > 0)) runObf = true;
        if (d === 3 && !decorated) tripleClimbs++;
        if (lastSep === 92 || c === 92) bsClimb = true;
        prevWasClimb = true;
      } else if (!pureDots) {
        prevWasClimb = false;
        if (d >= 2) {
          // dots glued to a name: `..{file}`, `....etcpasswd`, `......web-infweb.xml`
          if (d > gluedDots) gluedDots = d;
          const g = gluedSuffix(v, restStart, b);
          if (g > target) { target = g; targetName = v.slice(restStart, b); }
        }
        const ph = placeholder(v, a, b);
        if (ph !== 0) {
          if (target < 1) {
            target = 1;
            targetName = v.slice(a, b);
            placeholderOnly = true;
          }
          if (ph === 2) {
            placeholderGlued = true;
            // `aaaa..{file}`: a climb glued in front of the placeholder
            const open = findCode(v, 123, a, b);
            if (open - a >= 2 && v.charCodeAt(open - 1) === 46 && v.charCodeAt(open - 2) === 46 && gluedDots < 2) gluedDots = 2;
          }
        }
        if (len <= 64) {
          const name = v.slice(d >= 2 ? restStart : a, b);
          // UNC \\host\share$ and device paths \\?\ \\.\
          if (uncCandidate && compIndex === 0 && (name === '?' || name === '.')) {
            return mk('device-path', 5, 1, v.slice(s, Math.min(e, s + 40)));
          }
          if (uncCandidate && compIndex === 1 && name.length >= 2 && name.charCodeAt(name.length - 1) === 36) {
            return mk('unc-admin-share', 5, 1, v.slice(s, Math.min(e, s + 40)));
          }
          let t: Strength = 0;
          let tName = name;
          if (nameIndex > 0) {
            t = pairStrength(prev1, name, prev2);
            if (t > 0) tName = prev1 + '/' + name;
          } else if (absolute && !drive && !urlPath && lead > 0) t = rootDirStrength(name);
          const f = fileStrength(name);
          if (f > t) {
            t = f;
            tName = name;
          }
          if (d === 0 && name.length > 8 && name.indexOf('web-inf') >= 0 && gluedSuffix(v, restStart, b) >= 1) {
            // `web-infweb.xml`: the Java private directory glued to its descriptor
            t = 3;
            residue = true;
          }
          if (d === 0 && nameIndex === 0 && drive && lead === 0) {
            // `c:windowswin.ini`: a drive glued to the rest (separators lost)
            const g = gluedSuffix(v, restStart, b);
            if (g > t) t = g;
          }
          if (t > target || (t === target && t > 0 && targetName === '')) {
            target = t;
            targetName = tName;
            placeholderOnly = false;
          }
          prev2 = prev1;
          prev1 = name;
        } else {
          prev2 = prev1;
          prev1 = '';
        }
        nameIndex++;
        depth++;
      } else {
        // a lone dot run without any separator in the token (an ellipsis): not a path
        prevWasClimb = false;
      }
      compIndex++;
    }
    sepRunBefore = run;
    sepRunMixed = runMixed;
    if (run > 0) lastSep = v.charCodeAt(i);
    a = i + 1;
  }

  const escape = -minDepth;
  const ev = (): string => v.slice(s, Math.min(e, s + 40));
  // `C:\\\\temp\\\\x` (a string-escaped path) doubles every backslash: not an evasion
  const escapedStyle = singleRuns === 0 && repeatedRuns > 0 && repeatedRuns === doubledBackslashRuns;
  if (runObf && !escapedStyle) obfuscated = true;
  const nonCanonical = (repeatedRuns > 0 && !escapedStyle) || lead >= 2 || (placeholderGlued && hasSepAnywhere) || (absolute && dotSelf > 0);
  // a lone `...` is as often an ellipsis as a Windows climb
  const realClimb = climbs - tripleClimbs > 0 || tripleClimbs >= 2 || obfuscated;

  // "Puppet module for managing /etc/hosts file": a system file named in running text, not a
  // path the application opens (no climb, no scheme, not the whole value): a notice
  const mention = !alone && climbs === 0 && scheme === '' && !drive && gluedDots < 2 && !residue && ctx.location !== 'path' && !fileish && wordCount(v, 3) >= 3;
  if (target >= 3 && (hasSepAnywhere || drive || scheme !== '' || gluedDots >= 2 || residue)) return mk('sensitive-file', 5, mention ? 2 : 1, targetName !== '' ? targetName : ev());
  if (absolute && escape >= 1 && realClimb) return mk('above-root', 5, 1, ev());
  if (obfuscated && climbs > 0) return mk('obfuscated-dot-dot', 5, 1, ev());
  if (target >= 2 && (absolute || climbs > 0 || gluedDots >= 2)) return mk('sensitive-file', 5, mention && climbs === 0 ? 2 : 1, targetName !== '' ? targetName : ev());
  if (target >= 1 && (climbs > 0 || gluedDots >= 2 || (nonCanonical && placeholderOnly)) && (hasSepAnywhere || gluedDots >= 2)) return mk('traversal-target', 5, 1, ev());
  if (escape >= 3) return mk('dot-dot', 5, 1, ev());
  // one level up inside running text (`See [../setup/README.md](../setup/README.md) for …`) is
  // a relative link; as the whole value of a file parameter it is the path the application opens
  if (escape >= 1 && nameIndex > 0 && (bsClimb || (fileish && (alone || escape >= 2)))) return mk('dot-dot', 5, 1, ev());
  if (absolute && dotSelfMid > 0 && !urlPath && nameIndex === 0) return mk('non-canonical', 5, 1, ev());

  if (escape === 2) best = better(best, mk('dot-dot', 5, 2, ev()));
  if (target >= 2) best = better(best, mk('sensitive-file', 4, 2, targetName));
  if (target >= 3) best = better(best, mk('sensitive-file', 5, 2, targetName));
  if (escape > 0) best = better(best, mk('dot-dot', 3, 3, ev()));
  if (target >= 1 && absolute && !placeholderOnly) best = better(best, mk('sensitive-path', 3, 2, ev()));
  if (absolute && dotSelf > 0) best = better(best, mk('non-canonical', 3, 2, ev()));
  if (uncCandidate && compIndex >= 2) best = better(best, mk('unc-path', 3, 2, ev()));
  if (gluedDots >= 3 && target >= 1) best = better(best, mk('obfuscated-dot-dot', 3, 2, ev()));

  // request path: hidden files and well-known leaked files (CRS 930130/930140 territory)
  if (ctx.location === 'path' && !isStrong(best)) {
    const r = restrictedPathFile(v, p, e);
    if (r !== undefined) best = better(best, r);
  }
  return best;
}

/** Whitespace-separated words of `v`, counted up to `max`. */
function wordCount(v: string, max: number): number {
  let n = 0;
  let inWord = false;
  for (let i = 0; i < v.length && n < max; i++) {
    const space = v.charCodeAt(i) <= 32;
    if (!space && !inWord) n++;
    inWord = !space;
  }
  return n;
}

function devicePrefix(v: string): number {
  let from = 0;
  for (;;) {
    const i = v.indexOf('\\\\', from);
    if (i < 0) return -1;
    const c = v.charCodeAt(i + 2);
    if ((c === 63 || c === 46) && isSep(v.charCodeAt(i + 3)) && (i === 0 || !isSep(v.charCodeAt(i - 1)))) return i;
    from = i + 2;
  }
}

function hasSeparator(v: string, a: number, b: number): boolean {
  for (let i = a; i < b; i++) if (isSep(v.charCodeAt(i))) return true;
  return false;
}

/** Suffix match of a component glued to a dot run or a drive letter. */
function gluedSuffix(v: string, a: number, b: number): Strength {
  if (b - a > 200) return 0;
  let best: Strength = 0;
  for (const [suffix, strength] of GLUED_SUFFIXES) {
    if (b - a >= suffix.length && v.startsWith(suffix, b - suffix.length) && strength > best) {
      // web.xml only counts next to web-inf
      if (suffix === 'web.xml' && v.slice(a, b).indexOf('web-inf') < 0) continue;
      best = strength;
    }
  }
  if (placeholder(v, a, b) !== 0 && best < 1) best = 1;
  return best;
}

/** `data:` URIs that PHP includes as code (`data:text/plain;base64,…`, `data://text/plain,<?php …`). */
function dataWrapper(v: string, after: number, e: number): Hit | undefined {
  let p = after;
  if (v.charCodeAt(p) === 47 && v.charCodeAt(p + 1) === 47) p += 2;
  const mimeEnd = Math.min(e, p + 40);
  let q = p;
  while (q < mimeEnd) {
    const c = v.charCodeAt(q);
    if (c === 59 || c === 44) break;
    q++;
  }
  const mime = v.slice(p, q);
  if (
    mime === 'text/plain' ||
    mime === 'text/x-php' ||
    mime === 'application/x-php' ||
    mime === 'application/x-httpd-php' ||
    mime === 'text/php'
  ) {
    return mk('data-wrapper', 5, 1, v.slice(after - 5, Math.min(e, after + 35)));
  }
  return undefined;
}

/** Extensions of dumps and backups, and log file names, that a request path should never reach. */
const LOG_NAMES = new Set(['debug.log', 'error.log', 'errors.log', 'access.log', 'access_log', 'error_log', 'php_errors.log', 'laravel.log', 'npm-debug.log', 'yarn-error.log']);
const DUMP_EXTS = new Set(['sql', 'dump', 'mdb', 'sqlite', 'sqlite3', 'db3']);
const BACKUP_EXTS = new Set(['bak', 'old', 'orig', 'swp', 'swo', 'save', 'backup', 'tmp', 'bkp']);
const ARCHIVE_EXTS = new Set(['zip', 'gz', 'tgz', 'bz2', 'xz', '7z', 'rar', 'tar']);

function restrictedPathFile(v: string, a: number, b: number): Hit | undefined {
  let best: Hit | undefined;
  let start = a;
  for (let i = a; i <= b; i++) {
    if (i < b && !isSep(v.charCodeAt(i))) continue;
    const len = i - start;
    if (len >= 2 && len <= 100) {
      const comp = v.slice(start, i);
      if (comp.charCodeAt(0) === 46 && comp.charCodeAt(1) !== 46) {
        // hidden file or directory other than /.well-known
        if (comp !== '.well-known') best = better(best, mk('hidden-file', 5, 1, comp));
      } else if (LOG_NAMES.has(comp)) {
        best = better(best, mk('restricted-file', 5, 1, comp));
      } else {
        const dot1 = comp.lastIndexOf('.');
        if (dot1 > 0) {
          const ext = comp.slice(dot1 + 1);
          const dot2 = comp.lastIndexOf('.', dot1 - 1);
          const ext2 = dot2 > 0 ? comp.slice(dot2 + 1, dot1) : '';
          if (DUMP_EXTS.has(ext) || (ARCHIVE_EXTS.has(ext) && DUMP_EXTS.has(ext2))) {
            best = better(best, mk('restricted-file', 5, 1, comp));
          } else if (BACKUP_EXTS.has(ext) || comp.charCodeAt(comp.length - 1) === 126) {
            best = better(best, mk('restricted-file', 4, 2, comp));
          }
        } else if (comp.charCodeAt(comp.length - 1) === 126) {
          best = better(best, mk('restricted-file', 4, 2, comp));
        }
      }
      if (isStrong(best)) return best;
    }
    start = i + 1;
  }
  return best;
}

export const detectTraversal: Detector = (_text, lower, ctx) => {
  if (lower.length < 2 || !prefilter(lower)) return undefined;
  const v = pathView(lower);
  // Windows device paths `\\?\c:\…`, `\\.\pipe\…` (the `?` would otherwise split the token)
  const dev = devicePrefix(v);
  if (dev >= 0) return mk('device-path', 5, 1, v.slice(dev, dev + 40));
  const fileish =
    ctx.isKey === false &&
    (nameSuggestsFile(ctx.name) || (ctx.location === 'multipart' && ctx.name.toLowerCase().indexOf('filename') >= 0));
  let best: Hit | undefined;
  let s = 0;
  const n = v.length;
  const isPath = ctx.location === 'path';
  // the value's first and last characters other than white space (is a token the whole value?)
  let first = 0;
  let last = n;
  while (first < n && v.charCodeAt(first) <= 32) first++;
  while (last > first && v.charCodeAt(last - 1) <= 32) last--;
  while (s < n) {
    while (s < n && isBoundary(v.charCodeAt(s))) s++;
    if (s >= n) break;
    let e = s;
    let dots = false;
    let pathy = v.charCodeAt(s) === 46 || isPath;
    while (e < n) {
      const c = v.charCodeAt(e);
      if (isBoundary(c)) break;
      if (c === 46) dots = true;
      else if (c === 47 || c === 92 || c === 58 || c === 123 || c === 126) pathy = true;
      e++;
    }
    if (!pathy && dots && e - s >= 7 && e - s <= 64) {
      // a dotted word (`john.doe@example.com`, `3.14`): only a bare sensitive file name matters
      const name = v.slice(s, e);
      if (name.indexOf('web-inf') >= 0) pathy = true;
      else {
        const f = fileStrength(name);
        if (f >= 2) best = better(best, mk('sensitive-file', f === 3 ? 5 : 4, 2, name));
      }
    }
    if (pathy && e - s >= 2) {
      const h = analyzeToken(v, s, e, ctx, fileish, s === first && e >= last);
      best = better(best, h);
      if (isStrong(best)) return best;
    }
    s = e;
  }
  return best;
};
