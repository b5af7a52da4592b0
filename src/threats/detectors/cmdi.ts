/**
 * OS command injection detector (Unix sh/bash, Windows cmd.exe and PowerShell).
 *
 * A small shell-aware scanner, not a keyword list: it walks the value once, finds the places
 * where a shell would start a new simple command (value start, `;`, `|`, `||`, `&&`, `&`,
 * newline, `` `…` ``, `$(…)`, `<(…)`, `(`), and reads the word there the way a shell would,
 * undoing quoting and expansion tricks (`c''at`, `c\at`, `"w"hoami`, `c$@at`, `${IFS}`,
 * `$IFS$9`, `{cat,/etc/passwd}`, `/???/c?t`, `w^h^o^a^m^i`, `%COMSPEC%`, `%VAR:~a,b%`,
 * `a=cat;$a …`). The deobfuscated word is looked up in a vocabulary of commands attackers run;
 * the decision is made by the structure around it: which separator precedes it, whether the
 * word itself was obfuscated, and how "shell-like" its arguments are (options, absolute paths,
 * IPs/URLs, redirections, pipes into a shell, sensitive files). Plain words after `;` or `&`
 * in prose ("cat and dog; they ping me", "Tom & Jerry", "a | b" tables) therefore stay quiet.
 *
 * Also: reverse-shell shapes (`/dev/tcp/`), Shellshock (`() {`), SSI `<!--#exec`, cmd.exe
 * `FOR … IN (…) DO` / `IF … ==` grammar, fork bombs, PowerShell download cradles, and SMTP /
 * IMAP / POP3 commands injected after a line break.
 *
 * Every scan is bounded: each command position reads at most a fixed window, and reads stop
 * at the next separator, so the total cost is linear in the length of the value.
 */
import type { DetectContext, Detector, Hit, Paranoia } from '../types.js';

// ---------------------------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------------------------

/** Distinctive command name: rarely an ordinary word in prose. */
const A = 1;
/** Common word in English/Spanish prose (cat, find, time …): needs strong argument evidence. */
const EN = 2;
/** Shell or interpreter: `| sh`, `-c`, `-e` are strong evidence. */
const SHELL = 4;
/** Prefix command: the next word is a command too (time, nohup, sudo …). */
const PREFIX = 8;
/** Flagged even without arguments right after a strong separator (`;id`, `|ls|`). */
const TAIL = 16;
/** Windows command: `/x` switches, drive paths and `%VAR%` are typical arguments. */
const WIN = 32;
/** A lone number is a typical argument (`sleep 5`, `ping 3`). */
const NUM = 64;

const VOCAB = new Map<string, number>();
function add(flags: number, names: string): void {
  for (const n of names.split(' ')) if (n) VOCAB.set(n, (VOCAB.get(n) ?? 0) | flags);
}

// Shells and interpreters.
add(A | SHELL, 'zsh ksh tcsh csh ash rbash busybox python2 python3 pythonw perl5 php5 php7 php8 nodejs ' +
  'powershell pwsh tclsh jshell jrunscript osascript lua luajit irb rscript cscript wscript');
add(SHELL, 'bash sh dash python perl ruby php node deno cmd groovy expect');
add(SHELL | EN, 'fish java wish bun scala');
// Distinctive Unix commands.
add(A, 'whoami ifconfig ipconfig netstat nslookup wget ncat netcat socat uname chmod chown chgrp chattr ' +
  'useradd userdel usermod adduser deluser groupadd passwd crontab visudo iptables ip6tables tcpdump tshark ' +
  'nmap masscan traceroute tracert tracepath netsh getent lsof htop pkill killall pgrep xxd hexdump base64 base32 ' +
  'gunzip bunzip2 unxz zstdcat zcat bzcat xzcat lzcat unzip unrar printenv ifup ifdown hostname hostnamectl ' +
  'lsb_release dmesg lspci lsusb lsblk lsmod insmod modprobe rmmod sysctl systemctl journalctl chkconfig ' +
  'apt-get aptitude dpkg yum dnf rpm zypper pacman pip pip3 pipx npm npx composer gcc clang gdb ltrace objdump ' +
  'readelf gawk mawk nawk egrep fgrep grep sed awk setsid ionice chroot unshare nsenter docker kubectl podman ' +
  'scp sftp rsync telnet tftp smbclient rpcclient ldapsearch mysql mysqldump psql sqlite3 redis-cli msfvenom ' +
  'msfconsole openssl ssh-keygen ssh-copy-id shred mkfifo mknod losetup fdisk mkfs umount shutdown reboot ' +
  'poweroff telinit lastlog lastlogin finger env tac nl vim nvim emacs nano locate whereis pushd popd mkdir rmdir ' +
  'uniq wc cmp ping6 arping hping3 fping usleep cpulimit uconv iconv wall ansible ansible-playbook ' +
  'ansible-galaxy ansible-console ansible-config ansible-doc ansible-inventory ansible-pull ansible-vault ' +
  'chef-client chef-shell chef-run chef-vault cscli gcc7 zstd xz bzip2 ssh ftp curl rmt rmt-tar rmt-dump perf ' +
  'sudoedit pkexec doas runuser c89 c99 xterm ncftp lwp-download lwp-request fetch aa-disable ' +
  'bsdtar jjs ip6 wevtutil');
// Prefix commands.
add(A | PREFIX, 'nohup strace sudo xargs timeout stdbuf unbuffer');
add(PREFIX | EN, 'time nice watch exec command builtin');
add(PREFIX | TAIL, 'env');
// Short or word-like Unix commands.
add(TAIL, 'id ls pwd ps ll uptime who dir ver');
add(0, 'nc df du su ln rm mv cp dd od tr vi ex ed bc pr ar ip ss lp ssh rev tee diff chef gzip tar ' +
  'printf eval source alias export unset declare stat fmt mtr dig host logger strings cc make');
add(EN, 'cat more less head tail find which type file echo touch kill cut sort paste join split comm column ' +
  'fold date top free mount man last sleep ping cd set bridge flock yes true false test read script trap ' +
  'view print route arp at move start call copy exit open quit write');
add(NUM, 'sleep usleep ping ping6 timeout kill');
// Windows.
add(A | WIN, 'certutil bitsadmin mshta rundll32 regsvr32 regsvcs regasm installutil msbuild wmic regedit schtasks ' +
  'tasklist taskkill systeminfo net1 nbtstat findstr xcopy robocopy setx vssadmin bcdedit bcdboot diskpart icacls ' +
  'cacls takeown runas psexec msiexec forfiles pcalua mstsc qwinsta quser klist nltest dsquery wevtutil ' +
  'expand makecab extrac32 esentutl ntdsutil cmd powershell pwsh iwr iex irm icm iwmi saps gwmi gci sal');
add(WIN, 'dir type copy del erase ren rename md rd cd chdir echo set ver vol start call goto exit reg sc at move ' +
  'route arp whoami ipconfig ping tracert hostname shutdown timeout net cls');
add(WIN | EN, 'net');
add(TAIL, 'whoami ipconfig ifconfig uname hostname systeminfo netstat');
// PowerShell cmdlets (Verb-Noun).
add(A | WIN | SHELL, 'invoke-expression invoke-command');
add(A | WIN, 'invoke-webrequest invoke-restmethod invoke-item invoke-wmimethod start-process get-content ' +
  'set-content add-content out-file new-object get-childitem get-process stop-process get-wmiobject ' +
  'get-ciminstance get-service get-item remove-item copy-item move-item set-executionpolicy add-type ' +
  'start-bitstransfer get-localuser get-acl set-alias new-item expand-archive test-connection resolve-dnsname ' +
  'convertto-securestring start-job get-credential import-module new-service get-itemproperty set-itemproperty');

/** Vocabulary names by first character, for glob lookups (`c?t` only tries names starting with c). */
const VOCAB_BY_FIRST = new Map<string, string[]>();
for (const n of VOCAB.keys()) {
  const k = n[0] ?? '';
  let a = VOCAB_BY_FIRST.get(k);
  if (!a) VOCAB_BY_FIRST.set(k, (a = []));
  a.push(n);
}
/** Every command name (the engine's gate reads them too). */
export const VOCAB_NAMES: readonly string[] = [...VOCAB.keys()];

/** Interpreter switches that take code (`bash -c`, `perl -e`, `powershell -enc`). */
const CODE_SWITCHES = new Set([
  '-c', '-e', '-i', '-r', '-m', '-enc', '-en', '-ec', '-encodedcommand', '-command', '-nop', '-noprofile', '-w',
  '-windowstyle', '-exec', '-executionpolicy', '-ep', '-noni', '-noninteractive', '-sta', '-file', '-p', '-n', '-x',
  '/c', '/k', '/r', '/q',
]);

/** Top-level directories that make `/x/…` a filesystem path rather than a slash in prose. */
const ROOTS = new Set([
  'etc', 'bin', 'sbin', 'usr', 'var', 'tmp', 'dev', 'proc', 'sys', 'home', 'root', 'opt', 'lib', 'lib64', 'boot',
  'mnt', 'srv', 'run', 'private', 'users', 'windows', 'system32', 'inetpub', 'xampp', 'www', 'app', 'data',
]);

/** Files whose appearance as an argument makes the intent clear. */
const SENSITIVE = new Set([
  'passwd', 'shadow', 'gshadow', 'sudoers', 'id_rsa', 'id_dsa', 'id_ecdsa', 'id_ed25519',
  'authorized_keys', 'known_hosts', '.bash_history', '.bashrc', '.zsh_history', '.htpasswd',
  '.htaccess', 'win.ini', 'boot.ini', 'system.ini', 'web.config', 'wp-config.php',
  'php.ini', 'my.cnf', 'httpd.conf', 'nginx.conf', 'master.passwd', 'pwd.db', '.mysql_history', '.pgpass',
  'secrets.txt',
]);

/** Sensitive only as the last component of a path (`/etc/hosts`), not as a word in prose. */
const SENSITIVE_IN_PATH = new Set(['hosts', 'group', 'issue', 'crontab', 'environ', 'cmdline', 'sam', 'credentials', '.profile', '.netrc', 'mysql_history']);

/** Known Windows environment variables, for `%COMSPEC%` and `%VAR:~a,b%` tricks. */
const WIN_ENV = new Map<string, string>([
  ['comspec', 'c:\\windows\\system32\\cmd.exe'],
  ['systemroot', 'c:\\windows'],
  ['windir', 'c:\\windows'],
  ['programdata', 'c:\\programdata'],
  ['programfiles', 'c:\\program files'],
  ['commonprogramfiles', 'c:\\program files\\common files'],
  ['allusersprofile', 'c:\\programdata'],
  ['public', 'c:\\users\\public'],
  ['systemdrive', 'c:'],
  ['homedrive', 'c:'],
  ['os', 'windows_nt'],
  ['pathext', '.com;.exe;.bat;.cmd;.vbs;.vbe;.js;.jse;.wsf;.wsh;.msc'],
  ['psmodulepath', 'c:\\windows\\system32\\windowspowershell\\v1.0\\modules'],
  ['processor_architecture', 'amd64'],
]);

// ---------------------------------------------------------------------------------------------
// Character helpers
// ---------------------------------------------------------------------------------------------

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 11 || c === 12;
}
function isNl(c: number): boolean {
  return c === 10 || c === 13;
}
function isAlpha(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isAlnum(c: number): boolean {
  return isAlpha(c) || isDigit(c);
}
function isIdent(c: number): boolean {
  return isAlnum(c) || c === 95;
}
/** Characters that end a shell word. */
function isWordEnd(c: number): boolean {
  return isSpace(c) || isNl(c) || c === 59 /* ; */ || c === 124 /* | */ || c === 38 /* & */ ||
    c === 60 /* < */ || c === 62 /* > */ || c === 40 /* ( */ || c === 41 /* ) */;
}

// ---------------------------------------------------------------------------------------------
// Scan state and hits
// ---------------------------------------------------------------------------------------------

interface State {
  best: Hit | undefined;
  /** Shell variables assigned earlier in the value (`a=cat;$a …`). */
  vars: Map<string, string> | undefined;
  /** Remaining budget of glob matches against the vocabulary. */
  globBudget: number;
  /** Requested paranoia (cheap work only when it matters). */
  paranoia: Paranoia;
  /** The current command runs under a distinctive prefix (nohup, strace, sudo …). */
  strongPrefix: boolean;
  /** End of the value's leading run of separators and blanks (-1: not computed yet). */
  leadEnd: number;
  /** That run holds a separator. */
  leadSep: boolean;
}

function better(a: Hit, b: Hit | undefined, paranoia: Paranoia): boolean {
  if (!b) return true;
  const ac = a.paranoia <= paranoia;
  const bc = b.paranoia <= paranoia;
  if (ac !== bc) return ac;
  if (ac) {
    if (a.severity !== b.severity) return a.severity > b.severity;
    return a.paranoia < b.paranoia;
  }
  if (a.paranoia !== b.paranoia) return a.paranoia < b.paranoia;
  return a.severity > b.severity;
}

function report(st: State, rule: string, paranoia: Paranoia, severity: number, evidence: string): void {
  const hit: Hit = {
    detector: `cmdi.${rule}`,
    category: 'cmdi',
    severity,
    paranoia,
    evidence: evidence.length > 40 ? evidence.slice(0, 40) : evidence,
  };
  if (better(hit, st.best, st.paranoia)) st.best = hit;
}

function done(st: State): boolean {
  const b = st.best;
  return b !== undefined && b.paranoia === 1 && b.severity >= 5;
}

// ---------------------------------------------------------------------------------------------
// Glob matching (`?`, `*`, `[…]`), bounded inputs only
// ---------------------------------------------------------------------------------------------

function classEnd(p: string, i: number): number {
  // p[i] === '['; returns index of the closing ']' or -1.
  let j = i + 1;
  if (p[j] === '!' || p[j] === '^') j++;
  if (p[j] === ']') j++;
  const lim = Math.min(p.length, i + 24);
  for (; j < lim; j++) {
    const c = p.charCodeAt(j);
    if (c === 93) return j;
    if (c <= 32 || c === 91) return -1;
  }
  return -1;
}

function classMatch(p: string, i: number, end: number, ch: string): boolean {
  let j = i + 1;
  let neg = false;
  if (p[j] === '!' || p[j] === '^') {
    neg = true;
    j++;
  }
  let ok = false;
  for (; j < end; j++) {
    const a = p[j] as string;
    if (p[j + 1] === '-' && j + 2 < end) {
      const b = p[j + 2] as string;
      if (ch >= a && ch <= b) ok = true;
      j += 2;
    } else if (a === ch) ok = true;
  }
  return ok !== neg;
}

/** Shell glob match of a whole string (two-pointer with backtracking to the last `*`). */
function globMatch(p: string, s: string): boolean {
  let pi = 0;
  let si = 0;
  let starP = -1;
  let starS = 0;
  let steps = 0;
  while (si < s.length) {
    if (++steps > 4096) return false;
    const pc = p[pi];
    if (pc === '*') {
      starP = pi++;
      starS = si;
      continue;
    }
    if (pc === '?') {
      pi++;
      si++;
      continue;
    }
    if (pc === '[') {
      const e = classEnd(p, pi);
      if (e > 0) {
        if (classMatch(p, pi, e, s[si] as string)) {
          pi = e + 1;
          si++;
          continue;
        }
      } else if (s[si] === '[') {
        pi++;
        si++;
        continue;
      }
    } else if (pc !== undefined && pc === s[si]) {
      pi++;
      si++;
      continue;
    }
    if (starP < 0) return false;
    pi = starP + 1;
    si = ++starS;
  }
  while (p[pi] === '*') pi++;
  return pi === p.length;
}

/** Index of the last path separator (`/` or `\\`) outside a glob bracket expression. */
function lastSep(w: string): number {
  let last = -1;
  for (let i = 0; i < w.length; i++) {
    const c = w.charCodeAt(i);
    if (c === 91) {
      const e = classEnd(w, i);
      if (e > 0) {
        i = e;
        continue;
      }
    }
    if (c === 47 || c === 92) last = i;
  }
  return last;
}

/** First path segment after a leading `/`, bracket-aware. */
function firstSeg(w: string): string {
  for (let i = 1; i < w.length; i++) {
    const c = w.charCodeAt(i);
    if (c === 91) {
      const e = classEnd(w, i);
      if (e > 0) {
        i = e;
        continue;
      }
    }
    if (c === 47) return w.slice(1, i);
  }
  return w.slice(1);
}

function segCount(w: string): number {
  let n = 0;
  for (let i = 0; i < w.length; i++) {
    const c = w.charCodeAt(i);
    if (c === 91) {
      const e = classEnd(w, i);
      if (e > 0) {
        i = e;
        continue;
      }
    }
    if (c === 47 && i + 1 < w.length && w.charCodeAt(i + 1) !== 47) n++;
  }
  return n;
}

function hasGlob(w: string): boolean {
  for (let i = 0; i < w.length; i++) {
    const c = w.charCodeAt(i);
    if (c === 63 || c === 42) return true;
    if (c === 91 && classEnd(w, i) > 0) return true;
  }
  return false;
}

/** Pattern must carry real letters: `?` alone or trailing punctuation (`what?`) is not a command. */
function globWorthy(w: string, inPath: boolean): boolean {
  // Letters outside bracket expressions: `[p]asswd` yes, `[1.6rr]` (markdown link) no.
  let letters = 0;
  for (let i = 0; i < w.length; i++) {
    const c = w.charCodeAt(i);
    if (c === 91) {
      const e = classEnd(w, i);
      if (e > 0) {
        i = e;
        continue;
      }
    }
    if (isAlnum(c)) letters++;
  }
  if (letters < 2 && !inPath) return false;
  // `*word*` / `**word**` is markdown emphasis, not a glob.
  let core = w;
  while (core.startsWith('*')) core = core.slice(1);
  while (core.endsWith('*')) core = core.slice(0, -1);
  if (core !== w && !hasGlob(core) && !inPath) return false;
  // A single trailing `?`/`*` after a whole word is punctuation, not a glob.
  const last = w.charCodeAt(w.length - 1);
  if (!inPath && (last === 63 || last === 42 || last === 33) && !hasGlob(w.slice(0, -1)) && !w.includes('/')) return false;
  return true;
}

function globLookup(st: State, pat: string, inPath: boolean): string | undefined {
  if (st.globBudget <= 0 || pat.length > 40 || !/^[a-z0-9._+?*![\]^-]+$/.test(pat) || !globWorthy(pat, inPath)) return undefined;
  st.globBudget--;
  const c0 = pat[0] ?? '';
  const names = c0 === '?' || c0 === '*' || c0 === '[' ? VOCAB_NAMES : VOCAB_BY_FIRST.get(c0) ?? [];
  for (const n of names) {
    if (n.length < 2) continue;
    if (globMatch(pat, n)) return n;
  }
  return undefined;
}

function globSensitive(st: State, pat: string): boolean {
  if (st.globBudget <= 0 || pat.length > 40) return false;
  st.globBudget--;
  for (const n of SENSITIVE) if (globMatch(pat, n)) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Shell word reader
// ---------------------------------------------------------------------------------------------

interface Word {
  /** Deobfuscated word, lower-cased. */
  w: string;
  /** Raw text of the word. */
  raw: string;
  start: number;
  end: number;
  /** Quoting/escaping/expansion tricks inside the word (`c''at`, `c\at`, `c$@at`, `w^h^o`). */
  obf: boolean;
  /** Glob characters present. */
  glob: boolean;
  /** The whole word was one quoted string (`'id'`). */
  quoted: boolean;
  /** An expanded variable or `%VAR%` contributed to the word. */
  expanded: boolean;
  /** The word stopped at `+` because it already was a command (`dir+c:`, form-encoded spaces). */
  plus: boolean;
  /** The word ended at `${IFS}` / `$IFS` used as a space. */
  ifs: boolean;
  /** A quoted part contained whitespace (a phrase, not a command name). */
  spaced: boolean;
}

const MAX_WORD_SCAN = 160;
const MAX_WORD = 64;

/** indexOf of one character within [from, lim). */
function indexIn(t: string, ch: number, from: number, lim: number): number {
  const e = Math.min(t.length, lim);
  for (let j = from; j < e; j++) if (t.charCodeAt(j) === ch) return j;
  return -1;
}

function findClose(t: string, from: number, ch: number, lim: number): number {
  for (let j = from; j < lim; j++) {
    const c = t.charCodeAt(j);
    if (c === ch) return j;
    if (c === 10) return -1;
  }
  return -1;
}

function winEnvExpand(spec: string): string | undefined {
  // spec: NAME or NAME:~start,len or NAME:~start
  const colon = spec.indexOf(':~');
  const name = (colon < 0 ? spec : spec.slice(0, colon)).toLowerCase();
  const val = WIN_ENV.get(name);
  if (val === undefined) return undefined;
  if (colon < 0) return val;
  const rest = spec.slice(colon + 2);
  const comma = rest.indexOf(',');
  const a = Number.parseInt(comma < 0 ? rest : rest.slice(0, comma), 10);
  if (Number.isNaN(a)) return undefined;
  let start = a < 0 ? Math.max(0, val.length + a) : Math.min(a, val.length);
  let end = val.length;
  if (comma >= 0) {
    const b = Number.parseInt(rest.slice(comma + 1), 10);
    if (Number.isNaN(b)) return undefined;
    end = b < 0 ? Math.max(start, val.length + b) : Math.min(val.length, start + b);
  }
  if (start > end) start = end;
  return val.slice(start, end);
}

function ansiC(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== '\\' || i + 1 >= s.length) {
      out += c;
      continue;
    }
    const n = s[i + 1] as string;
    if (n === 'x') {
      const h = Number.parseInt(s.slice(i + 2, i + 4), 16);
      if (!Number.isNaN(h)) {
        out += String.fromCharCode(h);
        i += 3;
        continue;
      }
    } else if (n >= '0' && n <= '7') {
      let j = i + 1;
      let v = 0;
      while (j < s.length && j < i + 4 && (s[j] as string) >= '0' && (s[j] as string) <= '7') v = v * 8 + Number(s[j++]);
      out += String.fromCharCode(v);
      i = j - 1;
      continue;
    } else if (n === 'n') {
      out += '\n';
      i++;
      continue;
    } else if (n === 't') {
      out += '\t';
      i++;
      continue;
    }
    out += n;
    i++;
  }
  return out;
}

/** Characters the word reader copies verbatim. */
function plainChar(c: number): boolean {
  if (isWordEnd(c)) return false;
  switch (c) {
    case 39: case 34: case 92: case 36: case 96: case 94: case 63: case 42: case 91: case 37: case 43:
      return false;
    default:
      return true;
  }
}

function readWord(t: string, i: number, st: State): Word {
  const start = i;
  const max = Math.min(t.length, i + MAX_WORD_SCAN);
  let out = '';
  let obf = false;
  let glob = false;
  let expanded = false;
  let quotedParts = 0;
  let unquoted = 0;
  let plus = false;
  let ifs = false;
  let spaced = false;
  let glued = false;
  // `C:\Windows\…`, `\\host\share`: backslashes are path separators, not escapes.
  const winPath = (isAlpha(t.charCodeAt(i)) && t.charCodeAt(i + 1) === 58 && t.charCodeAt(i + 2) === 92) ||
    (t.charCodeAt(i) === 92 && t.charCodeAt(i + 1) === 92);
  while (i < max && out.length < MAX_WORD) {
    const c = t.charCodeAt(i);
    if (c === 60 || c === 62) {
      // Empty process substitution `<()` / `>()` inside a word is an evasion.
      if (t.charCodeAt(i + 1) === 40 && t.charCodeAt(i + 2) === 41) {
        obf = true;
        i += 3;
        continue;
      }
      break;
    }
    if (isWordEnd(c)) break;
    if (c === 39 /* ' */ || c === 34 /* " */) {
      const j = findClose(t, i + 1, c, max);
      let inner = j < 0 ? '' : t.slice(i + 1, j);
      if (j < 0 || (i > start && /\s/.test(inner))) {
        // Unbalanced (`'; cmd` closes the application's own quoting) or an apostrophe in
        // prose ("we're … doesn't"): not a quote of this word.
        i++;
        continue;
      }
      if (c === 34 && inner.includes('\\')) inner = inner.replace(/\\(.)/g, '$1');
      out += inner.toLowerCase();
      if (!/\s/.test(inner)) {
        quotedParts++;
        // Quotes splitting a word (`c'a't`, `'wh'oami`, `"w"get`) or empty quotes (`c''at`).
        if (inner === '' || (i > start && isAlnum(t.charCodeAt(i - 1))) || isAlnum(t.charCodeAt(j + 1))) glued = true;
      } else spaced = true;
      i = j + 1;
      continue;
    }
    if (c === 92 /* \ */ && winPath) {
      out += '\\';
      i++;
      continue;
    }
    if (c === 92 /* \ */) {
      const n = t.charCodeAt(i + 1);
      if (isNl(n)) {
        i += 2;
        obf = true;
        continue;
      }
      if (i + 1 >= t.length) {
        i++;
        continue;
      }
      // An escaped glob character is literal: keep it out of glob matching.
      out += n === 42 || n === 63 || n === 91 ? '\u0001' : t[i + 1]?.toLowerCase() ?? '';
      if (isAlpha(n)) obf = true;
      i += 2;
      continue;
    }
    if (c === 36 /* $ */) {
      const n = t.charCodeAt(i + 1);
      // Special parameters expand to nothing useful: `c$@at`, `c$*at`, `una$$me`.
      if (n === 64 || n === 42 || n === 35 || n === 63 || n === 33 || n === 45 || n === 36 || isDigit(n)) {
        if (n === 48 && out === '' && isWordEnd(t.charCodeAt(i + 2))) {
          out += 'sh'; // `$0` is the shell itself
          obf = true;
          i += 2;
          continue;
        }
        obf = true;
        i += 2;
        continue;
      }
      if (n === 95 /* _ */) {
        // `$_` (last argument) used as a spacer: `c$_at`.
        obf = true;
        i += 2;
        continue;
      }
      if (n === 123 /* { */) {
        const j = indexIn(t, 125, i + 2, i + 66);
        if (j < 0) {
          out += '$';
          i++;
          continue;
        }
        const spec = t.slice(i + 2, j);
        i = j + 1;
        if (spec.startsWith('IFS')) {
          ifs = true;
          break;
        }
        if (spec.includes('`') || spec.includes('$(')) {
          obf = true;
          continue;
        }
        const m = /^[A-Za-z_][A-Za-z0-9_]*$/.test(spec);
        if (m) {
          const v = st.vars?.get(spec);
          if (v !== undefined) {
            out += v;
            expanded = true;
            if (hasGlob(v)) glob = true;
          } else if (spec === 'SHELL' && out === '') out += 'sh';
          else obf = true;
        } else if (/^(PATH|HOME|PWD|SHELL):0:1$/.test(spec)) {
          out += '/';
          obf = true;
        } else obf = true;
        continue;
      }
      if (n === 40 /* ( */) {
        if (t.charCodeAt(i + 2) === 41) {
          obf = true;
          i += 3;
          continue;
        }
        break;
      }
      if (n === 91 /* [ */) {
        const j = indexIn(t, 93, i + 2, i + 48);
        if (j > 0) {
          obf = true;
          i = j + 1;
          continue;
        }
        out += '$';
        i++;
        continue;
      }
      if (n === 39 /* ' */ || n === 34 /* " */) {
        const j = findClose(t, i + 2, n, max);
        if (j > 0) {
          const inner = t.slice(i + 2, j);
          out += (n === 39 ? ansiC(inner) : inner).toLowerCase();
          obf = true;
          i = j + 1;
          continue;
        }
        i++;
        continue;
      }
      if (isAlpha(n) || n === 95) {
        let j = i + 1;
        while (j < max && isIdent(t.charCodeAt(j))) j++;
        const name = t.slice(i + 1, j);
        i = j;
        if (name.startsWith('IFS')) {
          ifs = true;
          // `$IFS$9`: the positional parameter after it is part of the spacer.
          if (t.charCodeAt(i) === 36 && isDigit(t.charCodeAt(i + 1))) i += 2;
          break;
        }
        const v = st.vars?.get(name);
        if (v !== undefined) {
          out += v;
          expanded = true;
          if (hasGlob(v)) glob = true;
        } else if (name === 'SHELL' && out === '') out += 'sh';
        else if (name === 'BASH' && out === '') out += 'bash';
        // An unset variable expands to nothing (`uname$u`): allowed, but not counted as
        // obfuscation on its own (Spanish words like "ar$a" exist in real data).
        continue;
      }
      out += '$';
      i++;
      continue;
    }
    if (c === 96 /* ` */) {
      if (t.charCodeAt(i + 1) === 96) {
        obf = true;
        i += 2;
        continue;
      }
      break;
    }
    if (c === 94 /* ^ */ && isAlnum(t.charCodeAt(i + 1))) {
      obf = true;
      i++;
      continue;
    }
    if (c === 63 || c === 42) {
      glob = true;
      out += t[i];
      unquoted++;
      i++;
      continue;
    }
    if (c === 91 /* [ */) {
      const e = classEnd(t, i);
      if (e > 0 && e < max) {
        glob = true;
        out += t.slice(i, e + 1).toLowerCase();
        i = e + 1;
        continue;
      }
    }
    if (c === 37 /* % */) {
      const j = indexIn(t, 37, i + 1, i + 49);
      if (j > i + 1) {
        const exp = winEnvExpand(t.slice(i + 1, j));
        if (exp !== undefined) {
          out += exp;
          expanded = true;
          if (t.slice(i + 1, j).includes(':~')) obf = true;
          i = j + 1;
          continue;
        }
      }
    }
    if (c === 43 /* + */ && out !== '' && lookup(out) !== 0) {
      plus = true;
      break;
    }
    // A run of ordinary characters.
    let j = i + 1;
    while (j < max && plainChar(t.charCodeAt(j))) j++;
    out += t.slice(i, j).toLowerCase();
    unquoted += j - i;
    i = j;
  }
  if (out.length > MAX_WORD) out = out.slice(0, MAX_WORD + 1);
  const raw = t.slice(start, i);
  const quoted = (quotedParts === 1 || spaced) && unquoted === 0 && !obf && (raw.startsWith("'") || raw.startsWith('"'));
  if (glued && !quoted && out !== '') obf = true;
  return { w: out, raw, start, end: i, obf, glob, quoted, expanded, plus, ifs, spaced };
}

// ---------------------------------------------------------------------------------------------
// Command lookup
// ---------------------------------------------------------------------------------------------

function stripExe(w: string): string {
  const d = w.lastIndexOf('.');
  if (d > 0) {
    const ext = w.slice(d + 1);
    if (ext === 'exe' || ext === 'com' || ext === 'bat' || ext === 'cmd') return w.slice(0, d);
  }
  return w;
}

/** A command or cmdlet name of the vocabulary (lower case). */
export function isCommandName(w: string): boolean {
  return VOCAB.has(w);
}

function lookup(w: string): number {
  const f = VOCAB.get(w);
  if (f !== undefined) return f | (f === 0 ? 256 : 0);
  const s = stripExe(w);
  if (s !== w) {
    const g = VOCAB.get(s);
    if (g !== undefined) return g | 256;
  }
  // Versioned interpreters: python3.10, php7.4, gcc10.1, perl5.36.
  let k = w.length;
  while (k > 0) {
    const c = w.charCodeAt(k - 1);
    if (isDigit(c) || c === 46) k--;
    else break;
  }
  if (k > 1 && k < w.length && isDigit(w.charCodeAt(k))) {
    const g = VOCAB.get(w.slice(0, k));
    // `python3.10`, `php7.4`: a dotted version makes an interpreter name distinctive.
    if (g !== undefined && (g & (SHELL | A)) !== 0) return g | 256 | ((g & SHELL) !== 0 && w.includes('.', k) ? A : 0);
  }
  return 0;
}
/** Bit set by lookup() for known names, so that flags 0 still means "known". */
const KNOWN = 256;

const BIN_DIRS = new Set([
  '/bin', '/sbin', '/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin', 'bin', 'usr/bin', 'sbin',
  'usr/sbin', '/system/bin', '/opt/bin', '/usr/games', 'c:/windows/system32', 'c:/windows/syswow64',
  'c:/windows', '/windows/system32', 'system32', 'c:/windows/system32/windowspowershell/v1.0',
]);

interface Resolved {
  name: string;
  flags: number;
  /** Path-qualified (`/bin/cat`, `C:\Windows\System32\cmd.exe`, `/???/c?t`). */
  path: boolean;
  /** Name found through a glob (`c?t`). */
  globbed: boolean;
}

function resolve(st: State, word: Word): Resolved | undefined {
  let w = word.w;
  if (w === '' || w.length > MAX_WORD || word.spaced) return undefined;
  // The word may carry a space after expansion (`$c1$c2…` → "cat /etc/passwd").
  const sp = w.indexOf(' ');
  if (sp > 0) w = w.slice(0, sp);
  let dir = '';
  let base = w;
  const norm = w.includes('\\') ? w.replace(/\\+/g, '/') : w;
  const slash = lastSep(norm);
  if (slash >= 0) {
    dir = norm.slice(0, slash);
    base = norm.slice(slash + 1);
    if (base === '') return undefined;
  }
  let flags = lookup(base);
  // Windows switch glued to the command: `bcdboot/r`, `dir/s`.
  if (flags === 0 && slash > 0 && !dir.includes('/')) {
    const f = lookup(dir);
    if ((f & WIN) !== 0 && /^[a-z?]{1,3}$/.test(base)) return { name: dir, flags: f, path: false, globbed: false };
  }
  let globbed = false;
  if (flags === 0 && (word.glob || hasGlob(base)) && hasGlob(base)) {
    const g = globLookup(st, base, slash >= 0);
    if (g !== undefined) {
      flags = lookup(g);
      base = g;
      globbed = true;
    }
  }
  if (flags === 0) {
    if (slash >= 0 && (BIN_DIRS.has(dir) || (hasGlob(dir) && dir.startsWith('/'))) && /^[a-z][a-z0-9_.+-]*$/.test(base)) {
      // Windows directories hold directories and data as well (`C:\Windows\System32`,
      // `C:\Windows\Fonts`): an unknown name there is a program only with a program's extension
      if (dir.indexOf('/') !== 0 && !dir.startsWith('bin') && !dir.startsWith('sbin') && !dir.startsWith('usr/') && !/\.(?:exe|com|bat|cmd|ps1|vbs|js|scr|msc|cpl|hta)$/.test(base)) return undefined;
      return { name: base, flags: KNOWN, path: true, globbed };
    }
    return undefined;
  }
  let path = false;
  if (slash >= 0) {
    if (BIN_DIRS.has(dir) || dir.endsWith('/bin') || dir.endsWith('/sbin') || dir.endsWith('/system32') ||
      dir.endsWith('/v1.0') || (hasGlob(dir) && dir.startsWith('/'))) path = true;
    else return undefined; // `foo/cat` is a path, not a command
  }
  return { name: base, flags, path, globbed };
}

// ---------------------------------------------------------------------------------------------
// Argument analysis
// ---------------------------------------------------------------------------------------------

function isIPv4(w: string): boolean {
  let parts = 0;
  let digits = 0;
  for (let i = 0; i < w.length; i++) {
    const c = w.charCodeAt(i);
    if (isDigit(c)) {
      if (++digits > 3) return false;
    } else if (c === 46) {
      if (digits === 0) return false;
      parts++;
      digits = 0;
    } else if (c === 58 || c === 47) {
      break; // port or path
    } else return false;
  }
  return parts === 3 && digits > 0;
}

function sensitivePath(st: State, w: string): boolean {
  if (w.startsWith('/dev/tcp') || w.startsWith('/dev/udp') || w.startsWith('/proc/self') ||
    w.startsWith('/etc/') && (w.includes('passwd') || w.includes('shadow') || w.includes('sudoers')) ||
    w.includes('/.ssh') || w.includes('system32/config')) return true;
  const sep = lastSep(w);
  const base = w.slice(sep + 1);
  if (SENSITIVE.has(base) || (sep >= 0 && SENSITIVE_IN_PATH.has(base))) return true;
  if (hasGlob(base) && base.length >= 4 && globWorthy(base, sep >= 0)) return globSensitive(st, base);
  return false;
}

interface ArgInfo {
  /** 0 none, 1 plain words/numbers, 2 shell-like, 3 unmistakable. */
  strength: number;
  /**
   * The same, counting only evidence that prose cannot produce by accident: options
   * (`-x`), sensitive files, redirections to files, pipes into commands, substitutions,
   * obfuscated tokens. URLs, IPs and ordinary paths do not count ("read https://…",
   * "(set by /Users/…)").
   */
  strict: number;
  /** Only numbers follow the command. */
  numericOnly: boolean;
  /** An argument expands a known Windows environment variable (`%SystemDrive%\x`). */
  winEnv: boolean;
  evidence: string;
  /** An absolute path with several components was an argument. */
  path: boolean;
}

const MAX_ARG_SCAN = 200;

/** Commands whose argument is itself a command line. */
const CMD_STRING = new Set(['trap', 'eval', 'at', 'watch', 'su', 'runas', 'schtasks', 'xargs', 'find', 'cmd', 'start', 'wmic']);

/** Editors whose `!` command line argument runs a shell command. */
const EDITORS = new Set(['vi', 'vim', 'nvim', 'ex', 'view', 'vimdiff', 'rvim', 'rview', 'gvim', 'evim']);

/** sqlite3 shell dot-commands (`;\n.databases`, `.shell`, `.output /tmp/x`). */
const SQLITE_DOT = new Set(['backup', 'bail', 'cd', 'clone', 'databases', 'dbconfig', 'dbinfo', 'dump', 'excel', 'import',
  'indexes', 'load', 'log', 'once', 'open', 'output', 'read', 'restore', 'save', 'schema', 'fullschema', 'shell', 'system',
  'tables', 'sha3sum']);

/** Filesystem commands for which a bare `/` is a meaningful argument. */
const FS_CMDS = new Set(['cd', 'ls', 'll', 'rm', 'find', 'chmod', 'chown', 'du', 'df', 'dir', 'tree', 'mount', 'flock']);

/** Words that make "cmd word …" read as a sentence ("curl is great", "docker for beginners"). */
const STOPWORDS = new Set([
  'is', 'are', 'was', 'were', 'be', 'been', 'the', 'a', 'an', 'to', 'for', 'of', 'and', 'or', 'not', 'in', 'on',
  'with', 'at', 'by', 'from', 'as', 'it', 'this', 'that', 'my', 'your', 'our', 'his', 'her', 'their', 'does', 'do',
  'did', "doesn't", "don't", "isn't", 'can', "can't", 'will', "won't", 'should', 'would', 'has', 'have', 'had', 'me',
  'you', 'we', 'they', 'he', 'she', 'i', 'so', 'but', 'if', 'then', 'than', 'vs', 'y', 'el', 'la', 'los', 'las', 'de',
  'del', 'en', 'es', 'un', 'una', 'que', 'por', 'para', 'con', 'no', 'se', 'su', 'le', 'et', 'der', 'die', 'das', 'und',
]);

/** Words that name software in a description, never an argument a command takes. */
// (not the nouns CLIs take as subcommands: `ansible-doc plugin ping`, `npm docs`, `pip … package`)
const SOFTWARE_NOUNS = new Set([
  'client', 'clients', 'server', 'servers', 'library', 'libraries', 'bindings', 'binding', 'wrapper', 'implementation',
  'documentation', 'tutorial', 'alternative', 'alternatives', 'replacement', 'frontend', 'backend', 'gui', 'daemon',
  'utility', 'utilities', 'toolkit', 'support', 'integration', 'compression', 'decompression', 'encryption', 'algorithm',
  'partitioning',
]);

/** A short single-line value that reads like a command invocation rather than a sentence. */
function commandLineShape(t: string, from: number): boolean {
  const rest = t.slice(from).trim();
  if (t.length > 120 || rest.includes('\n')) return false;
  if (rest === '') return false;
  const toks = rest.split(/\s+/);
  if (toks.length > 3) return false;
  if (STOPWORDS.has((toks[0] ?? '').toLowerCase())) return false;
  // `telnet client`, `rsync friendly encryption`, `zstd bindings for guile`: a command's name
  // heading a noun phrase (a product, a package, a search) rather than invoking it
  for (const tok of toks) {
    const w = tok.toLowerCase();
    if (SOFTWARE_NOUNS.has(w) || (toks.length > 1 && STOPWORDS.has(w))) return false;
  }
  const lastc = rest.charCodeAt(rest.length - 1);
  if ((lastc === 46 || lastc === 33 || lastc === 63 || lastc === 44 || lastc === 58) && (isAlpha(rest.charCodeAt(rest.length - 2)) || rest.charCodeAt(rest.length - 2) >= 0xc0)) return false;
  return rest === rest.toLowerCase();
}

/** `%NAME%` of a known Windows environment variable in a raw word. */
function winEnvRef(raw: string): boolean {
  const a = raw.indexOf('%');
  if (a < 0) return false;
  const b = raw.indexOf('%', a + 1);
  if (b < 0) return false;
  const name = raw.slice(a + 1, b).toLowerCase();
  const colon = name.indexOf(':');
  return WIN_ENV.has(colon < 0 ? name : name.slice(0, colon));
}

function fileLike(w: string): boolean {
  return w.includes('/') || w.includes('\\') || /\.[a-z0-9]{1,5}$/.test(w) || w.startsWith('$');
}

function scanArgs(t: string, i: number, flags: number, name: string, st: State): ArgInfo {
  const lim = Math.min(t.length, i + MAX_ARG_SCAN);
  let strength = 0;
  let strict = 0;
  let numericOnly = true;
  let tokens = 0;
  let evidence = '';
  let path = false;
  let winEnv = false;
  const en = (flags & EN) !== 0;
  const win = (flags & WIN) !== 0;
  const shell = (flags & SHELL) !== 0;
  const num = (flags & NUM) !== 0;
  const takesCommand = shell || (flags & PREFIX) !== 0 || CMD_STRING.has(name);
  const bump = (s: number, ev: string, isStrict: boolean): void => {
    if (s > strength) {
      strength = s;
      evidence = ev;
    }
    if (isStrict && s > strict) {
      strict = s;
      evidence = ev;
    }
  };
  while (i < lim && tokens < 10) {
    let c = t.charCodeAt(i);
    while (i < lim && (isSpace(c) || c === 43 /* + */)) c = t.charCodeAt(++i);
    if (i >= lim) break;
    if (c === 59 || isNl(c) || c === 41 || c === 35 || c === 40) break; // ; newline ) # (
    if (c === 96 /* ` */) {
      if (t.charCodeAt(i + 1) === 96) {
        bump(2, '``', true);
        i += 2;
        continue;
      }
      break;
    }
    if (c === 124 /* | */) {
      if (t.charCodeAt(i + 1) === 124) break;
      // Pipe: what does it feed?
      let j = i + 1;
      while (j < lim && (isSpace(t.charCodeAt(j)) || t.charCodeAt(j) === 43)) j++;
      const nw = readWord(t, j, st);
      const r = resolve(st, nw);
      if (r && nw.raw === nw.raw.toLowerCase()) {
        bump(r.flags & SHELL ? 3 : 2, `| ${r.name}`, (r.flags & EN) === 0 || !en);
      }
      break;
    }
    if (c === 38 /* & */) {
      if (t.charCodeAt(i + 1) === 62 /* &> */) {
        bump(2, '&>', true);
        i += 2;
        continue;
      }
      break;
    }
    let fd = -1;
    if (isDigit(c) && (t.charCodeAt(i + 1) === 62 || t.charCodeAt(i + 1) === 60)) {
      fd = c - 48;
      c = t.charCodeAt(++i);
    }
    if (c === 60 || c === 62) {
      // Redirection: `>`, `>>`, `<`, `<<<`, `2>&1`, `0>&1`, `>&`.
      let j = i;
      while (j < lim && (t.charCodeAt(j) === 60 || t.charCodeAt(j) === 62 || t.charCodeAt(j) === 38)) j++;
      const op = t.slice(i, j);
      if (t.charCodeAt(j) === 40) {
        bump(2, op + '(', true); // `<(…)` as an argument
        break;
      }
      if (op === '<' || op === '>') {
        // `<placeholder>`, `<https://…>`, `<kbd>`: markup, not a redirection.
        const close = indexIn(t, 62, j, j + 80);
        if (op === '<' && close > j && !/\s/.test(t.slice(j, close))) {
          bump(1, op, false);
          i = close + 1;
          tokens++;
          continue;
        }
      }
      while (j < lim && isSpace(t.charCodeAt(j))) j++;
      const target = readWord(t, j, st);
      numericOnly = false;
      tokens++;
      if (op.endsWith('&') && /^[0-9]$/.test(target.w)) {
        // `0>&1`, `>&2`: descriptor duplication; with stdin it is a reverse-shell idiom.
        bump(fd === 0 || target.w === '0' ? 3 : 2, `${fd >= 0 ? fd : ''}${op}${target.w}`, true);
      } else if (op === '<<<' || op === '<<') {
        bump(2, op, true);
      } else if (sensitivePath(st, target.w)) {
        bump(3, op + ' ' + target.w, true);
      } else {
        bump(2, op + (target.w ? ' ' + target.w : ''), fileLike(target.w) || op === '>>');
      }
      i = target.end > j ? target.end : j;
      continue;
    }
    if (c === 36 /* $ */ && t.charCodeAt(i + 1) === 40) {
      bump(2, '$(', true);
      break;
    }
    const tok = readWord(t, i, st);
    if (tok.end <= i) {
      i++;
      continue;
    }
    i = tok.end;
    tokens++;
    let w = tok.w;
    // A trailing `+` is a form-encoded space (`dir+c:+|`), not part of the word.
    while (w.length > 1 && w.charCodeAt(w.length - 1) === 43 && tok.raw.charCodeAt(tok.raw.length - 1) === 43) w = w.slice(0, -1);
    if (w === '') {
      if (tok.obf) bump(2, tok.raw, true);
      continue;
    }
    const c0 = w.charCodeAt(0);
    if (EDITORS.has(name)) {
      // vi/ex commands run a shell with `!`: `+silent\ \!whoami`, `-c:\!pwd`.
      const bang = w.indexOf('!');
      if (bang >= 0 && bang + 1 < w.length) {
        const inner = readWord(w, bang + 1, st);
        const ir = inner.w ? resolve(st, inner) : undefined;
        if (ir) {
          bump(3, `${name} !${ir.name}`, true);
          continue;
        }
      }
    }
    if (name === 'alias') {
      // `alias ..='cd ..'`: an alias that stands for a command line.
      const eq = w.indexOf('=');
      if (eq > 0 && eq + 1 < w.length) {
        const inner = readWord(w, eq + 1, st);
        if (inner.w && resolve(st, inner)) {
          bump(3, `alias ${w}`, true);
          continue;
        }
      }
    }
    const isNum = /^[0-9]+(\.[0-9]+)?[smhd]?$/.test(w);
    if (!isNum) numericOnly = false;
    if (c0 === 45 /* - */ && w.length >= 2 && (isAlnum(w.charCodeAt(1)) || w.charCodeAt(1) === 45)) {
      if (isDigit(w.charCodeAt(1))) {
        bump(num ? 2 : 1, w, num);
        continue;
      }
      if (w === '--' || !/^--?[a-z0-9][a-z0-9_.:=,/-]*$/.test(w)) {
        bump(1, w, false);
        continue;
      }
      bump(shell && CODE_SWITCHES.has(w) ? 3 : 2, `${name} ${w}`, true);
      continue;
    }
    if (c0 === 47 /* / */) {
      if (win && /^\/[a-z?]{1,3}(:.*)?$/.test(w)) {
        bump(shell && CODE_SWITCHES.has(w) ? 3 : 2, `${name} ${w}`, true);
        continue;
      }
      if (sensitivePath(st, w)) {
        bump(3, `${name} ${w}`, true);
        continue;
      }
      if (tok.obf && !tok.quoted && /\\[a-z]/i.test(tok.raw)) {
        // Escaped letters inside a path (`/e\t\*/pa\?s\wd`): quoting tricks, not a file name.
        bump(2, `${name} ${tok.raw}`, true);
        continue;
      }
      if (w === '/') {
        bump(FS_CMDS.has(name) ? 2 : 1, `${name} /`, FS_CMDS.has(name));
        continue;
      }
      const seg = firstSeg(w);
      const segs = segCount(w);
      if (ROOTS.has(seg) || hasGlob(seg) || segs >= 3 || (segs === 2 && /\.[a-z0-9]{1,5}$/.test(w))) {
        bump(2, `${name} ${w}`, tok.glob);
        if (segs >= 2) path = true;
      } else bump(1, w, false);
      continue;
    }
    if (w.startsWith('~/') || w.startsWith('./') || w.startsWith('../')) {
      const sens = sensitivePath(st, w);
      bump(sens ? 3 : 2, `${name} ${w}`, sens);
      continue;
    }
    if (tok.expanded && winEnvRef(tok.raw)) {
      // `| type %SystemDrive%\config.ini`: a Windows environment variable expanded in an
      // argument is cmd.exe syntax (after a separator it decides; see decide())
      winEnv = true;
      bump(2, `${name} ${w}`, false);
      continue;
    }
    if (/^[a-z]:([\\/,;"']|$)/.test(w)) {
      if (sensitivePath(st, w)) bump(3, `${name} ${w}`, true);
      else bump(en ? 1 : 2, `${name} ${w}`, false);
      continue;
    }
    if (w.startsWith('\\\\') || (tok.expanded && w.includes(':\\'))) {
      bump(en ? 1 : 2, `${name} ${w}`, false);
      continue;
    }
    if (w.includes('://')) {
      bump(en && !num ? 1 : 2, `${name} ${w}`, false);
      continue;
    }
    if (isIPv4(w)) {
      bump(en && !num ? 1 : 2, `${name} ${w}`, num);
      continue;
    }
    if (sensitivePath(st, w)) {
      bump(3, `${name} ${w}`, true);
      continue;
    }
    const eq = w.indexOf('=');
    if (eq > 0 && /^[a-z_][a-z0-9_.-]*$/.test(w.slice(0, eq)) &&
      (name === 'alias' || name === 'export' || name === 'set' || name === 'setx' || name === 'env' ||
        name === 'declare' || name === 'dd')) {
      bump(2, `${name} ${w}`, true);
      continue;
    }
    if (tok.obf && !tok.quoted) {
      bump(2, `${name} ${tok.raw}`, true);
      continue;
    }
    if (takesCommand && w.includes(' ') && (tok.raw.startsWith("'") || tok.raw.startsWith('"'))) {
      // `trap 'rm -rf x' EXIT`, `at 2:00 "echo x"`, `sh -c "curl …"`: a quoted command line.
      const inner = readWord(w, 0, st);
      if (resolve(st, inner) !== undefined) {
        bump(3, `${name} ${tok.raw}`, true);
        continue;
      }
    }
    if (tok.glob && (c0 === 47 || c0 === 126 || c0 === 46) && w.includes('/') && hasGlob(w)) {
      bump(2, `${name} ${w}`, true);
      continue;
    }
    if (shell && /\.(sh|py|pl|ps1|rb|php|js)$/.test(w)) {
      bump(2, `${name} ${w}`, false);
      continue;
    }
    bump(1, w, false);
  }
  if (strength === 0) numericOnly = false;
  return { strength, strict, numericOnly: numericOnly && strength === 1, winEnv, evidence, path };
}

// ---------------------------------------------------------------------------------------------
// Command positions
// ---------------------------------------------------------------------------------------------

/** How the command position was reached. */
const START = 0; // beginning of the value
const SEP = 1; // ; && || unspaced |, & outside URLs
const SEPW = 2; // spaced | (tables), & inside URLs
const SUBST = 3; // closed `…`, $(…), <(…), >(…)
const SUBST_MD = 4; // `…` that reads like a markdown code span inside prose
const NEWLINE = 5; // start of a line: prose lines start with words too
const GROUP = 6; // ( and { : subshells, but also ordinary parentheses in prose
const AMP = 7; // ` & ` with spaces: backgrounding, or a conjunction in prose ("mkdir & rmdir")

function ctxName(k: number): string {
  return k === START || k === NEWLINE || k === GROUP ? 'command' : k === SUBST || k === SUBST_MD ? 'substitution' : 'chained-command';
}

/** The text before a newline is a single short token (`127.0.0.1\nid`), not prose. */
function tokenBefore(t: string, nl: number): boolean {
  let j = nl - 1;
  while (j >= 0 && (t.charCodeAt(j) === 13 || t.charCodeAt(j) === 10)) j--;
  let n = 0;
  while (j >= 0 && !isNl(t.charCodeAt(j))) {
    if (isSpace(t.charCodeAt(j)) || ++n > 64) return false;
    j--;
  }
  return true;
}

/** What follows the command: end of value, or a separator followed by end/separator/command. */
function cleanTail(t: string, i: number, st: State): boolean {
  while (i < t.length && isSpace(t.charCodeAt(i))) i++;
  if (i >= t.length) return true;
  const c = t.charCodeAt(i);
  if (c === 41 || c === 96) return true; // ) `
  if (c !== 59 && c !== 124 && c !== 38 && !isNl(c)) return false;
  while (i < t.length && (t.charCodeAt(i) === 59 || t.charCodeAt(i) === 124 || t.charCodeAt(i) === 38 ||
    isNl(t.charCodeAt(i)) || isSpace(t.charCodeAt(i)) || t.charCodeAt(i) === 39 || t.charCodeAt(i) === 34)) i++;
  if (i >= t.length) return true;
  const w = readWord(t, i, st);
  return resolve(st, w) !== undefined;
}

/** The pipe target is the end of the command line (`| sh`, `| sh #`, `| sh;`). */
function pipeEnd(t: string, i: number): boolean {
  while (i < t.length && (isSpace(t.charCodeAt(i)) || t.charCodeAt(i) === 43)) i++;
  if (i >= t.length) return true;
  const c = t.charCodeAt(i);
  return c === 35 || c === 59 || isNl(c) || c === 96 || c === 41 || c === 38;
}

/** A separator immediately follows the command (`whoami;…`, `id|…`). */
function sepFollows(t: string, i: number): boolean {
  const c = t.charCodeAt(i);
  return c === 59 || c === 124 || c === 38 || c === 96;
}

/** Reconnaissance commands that are not plausible as a whole form value on their own. */
const RECON = new Set(['whoami', 'ifconfig', 'ipconfig', 'systeminfo', 'printenv', 'visudo', 'lsb_release']);

function onlyWhitespaceAfter(t: string, i: number): boolean {
  for (; i < t.length; i++) if (!isSpace(t.charCodeAt(i)) && !isNl(t.charCodeAt(i))) return false;
  return true;
}

function skipBlank(t: string, i: number): number {
  while (i < t.length) {
    const c = t.charCodeAt(i);
    if (isSpace(c) || c === 43) i++;
    else break;
  }
  return i;
}

function recordAssignment(st: State, w: Word): boolean {
  const eq = w.raw.indexOf('=');
  if (eq <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(w.raw.slice(0, eq))) return false;
  const name = w.raw.slice(0, eq);
  const val = w.w.slice(w.w.indexOf('=') + 1);
  if (!st.vars) st.vars = new Map();
  if (st.vars.size < 32) st.vars.set(name, val);
  // `cmd=garb=adduse[r]`: the value is itself an assignment (a parameter name glued in front).
  const eq2 = val.indexOf('=');
  if (eq2 > 0 && /^[a-z_][a-z0-9_]*$/.test(val.slice(0, eq2))) {
    const rawName = w.raw.slice(eq + 1, eq + 1 + eq2);
    if (rawName.toLowerCase() === val.slice(0, eq2) && st.vars.size < 32) st.vars.set(rawName, val.slice(eq2 + 1));
  }
  return true;
}

/** cmd.exe `FOR [/D|/R|/L|/F ["opts"]] %x IN (…) DO …` */
function cmdFor(t: string, i: number): boolean {
  const lim = Math.min(t.length, i + 200);
  let j = i;
  for (let guard = 0; guard < 8; guard++) {
    while (j < lim && isSpace(t.charCodeAt(j))) j++;
    if (t.charCodeAt(j) === 47 /* / */ && /[dDfFlLrR]/.test(t[j + 1] ?? '')) {
      j += 2;
      while (j < lim && isSpace(t.charCodeAt(j))) j++;
      const c = t.charCodeAt(j);
      if (c === 34) {
        const k = findClose(t, j + 1, 34, lim);
        if (k < 0) return false;
        j = k + 1;
      } else if (c !== 37 && c !== 47) {
        // /R takes a path
        while (j < lim && !isSpace(t.charCodeAt(j))) j++;
      }
      continue;
    }
    break;
  }
  if (t.charCodeAt(j) !== 37) return false;
  j++;
  if (t.charCodeAt(j) === 37) j++;
  if (j >= lim) return false;
  if (!isSpace(t.charCodeAt(j))) {
    // %x, %%x, %variable (one char in cmd.exe, but tolerate names)
    const s0 = j;
    while (j < lim && !isSpace(t.charCodeAt(j)) && j - s0 < 32) j++;
  }
  if (!isSpace(t.charCodeAt(j))) return false;
  while (j < lim && isSpace(t.charCodeAt(j))) j++;
  if ((t[j] ?? '').toLowerCase() !== 'i' || (t[j + 1] ?? '').toLowerCase() !== 'n') return false;
  j += 2;
  while (j < lim && isSpace(t.charCodeAt(j))) j++;
  return t.charCodeAt(j) === 40;
}

const CMD_CMP = new Set(['equ', 'neq', 'lss', 'leq', 'gtr', 'geq']);
const CMD_IF_KW = new Set(['exist', 'defined', 'errorlevel', 'cmdextversion']);

function balancedToken(tok: string): boolean {
  let d = 0;
  for (let i = 0; i < tok.length; i++) {
    const c = tok.charCodeAt(i);
    if (c === 40) d++;
    else if (c === 41 && --d < 0) return false;
  }
  return d === 0;
}

/** cmd.exe `IF [/I] [NOT] EXIST x cmd`, `IF a==b cmd`, `IF %x% GEQ 2 cmd`. */
function cmdIf(t: string, i: number): boolean {
  const lim = Math.min(t.length, i + 200);
  const toks: string[] = [];
  let j = i;
  while (j < lim && toks.length < 8) {
    while (j < lim && isSpace(t.charCodeAt(j))) j++;
    if (j >= lim) break;
    const c = t.charCodeAt(j);
    if (isNl(c) || c === 59 || c === 124 || c === 38) break;
    let k = j;
    if (c === 40) {
      const e = indexIn(t, 41, j + 1, lim);
      k = e < 0 ? lim : e + 1;
    } else if (c === 34) {
      const e = findClose(t, j + 1, 34, lim);
      k = e < 0 ? lim : e + 1;
      while (k < lim && !isSpace(t.charCodeAt(k)) && t.charCodeAt(k) !== 61) k++;
    } else if (c === 61 && t.charCodeAt(j + 1) === 61) {
      k = j + 2;
      while (k < lim && t.charCodeAt(k) === 61) k++;
    } else {
      while (k < lim && !isSpace(t.charCodeAt(k)) && !(t.charCodeAt(k) === 61 && t.charCodeAt(k + 1) === 61)) k++;
    }
    toks.push(t.slice(j, k));
    j = k;
  }
  let p = 0;
  if (toks[p]?.toLowerCase() === '/i') p++;
  if (toks[p]?.toLowerCase() === 'not') p++;
  const t0 = toks[p]?.toLowerCase();
  if (t0 === undefined) return false;
  if (CMD_IF_KW.has(t0)) {
    const operand = toks[p + 1];
    const cmd = toks[p + 2];
    if (operand === undefined || cmd === undefined || operand.endsWith(',') || operand.endsWith(':')) return false;
    const lc = cmd.toLowerCase().replace(/^@/, '');
    return cmd.startsWith('(') || cmd === '...' || lookup(lc) !== 0 || lc === 'goto' || lc === 'cmd' || lc === 'if';
  }
  // (2 GEQ 15) cmd
  if (t0.startsWith('(') && t0.endsWith(')')) {
    const inner = t0.slice(1, -1).trim().split(/\s+/);
    if (inner.length === 3 && CMD_CMP.has((inner[1] ?? '').toLowerCase()) && toks[p + 1] !== undefined) return true;
  }
  // a==b cmd  /  a == b cmd
  const a = toks[p];
  const op = toks[p + 1];
  const b = toks[p + 2];
  const cmd = toks[p + 3];
  if (a === undefined || op === undefined || b === undefined) return false;
  if (cmd === undefined && !(op.startsWith('==') && a.includes('%'))) return false;
  if (!balancedToken(a) || !balancedToken(b) || b.endsWith(':') || a.endsWith(':')) return false;
  if ((a.includes('(') && !a.startsWith('(')) || (b.includes('(') && !b.startsWith('('))) return false;
  if (cmd !== undefined && !/^[A-Za-z@(.]/.test(cmd)) return false;
  if (op.startsWith('==') || CMD_CMP.has(op.toLowerCase())) return true;
  return false;
}

/** Evaluate the command that starts at `i`, reached through context `kind`. */
/** `qx{id}`, `%x(id)`: the text after the opening bracket in command position (at most 8 of them). */
function quotedCommands(t: string, st: State): void {
  let from = 0;
  for (let k = 0; k < 8 && !done(st); k++) {
    const q = t.indexOf('qx', from);
    const p = t.indexOf('%x', from);
    const at = q < 0 ? p : p < 0 ? q : Math.min(p, q);
    if (at < 0) return;
    from = at + 2;
    const open = t.charCodeAt(at + 2);
    if (open !== 40 && open !== 123 && open !== 91 && open !== 60 && open !== 124 && open !== 47) continue;
    // `qx` as a word of its own (not `faqx{`); `%x` anywhere (it is no word)
    if (t.charCodeAt(at) === 113 && at > 0 && (isAlnum(t.charCodeAt(at - 1)) || t.charCodeAt(at - 1) === 95)) continue;
    // the command is the text up to the closing delimiter (the first one: no nesting is read)
    const closer = open === 40 ? 41 : open === 123 ? 125 : open === 91 ? 93 : open === 60 ? 62 : open;
    let close = at + 3;
    while (close < t.length && t.charCodeAt(close) !== closer) close++;
    evalAt(t.slice(at + 3, close), 0, SUBST, st, t.slice(at, at + 3));
  }
}

function evalAt(t: string, i: number, kind: number, st: State, sepRaw: string, sepAt = 0): void {
  i = skipBlank(t, i);
  if (i >= t.length) return;
  {
    const c = t.charCodeAt(i);
    // Nothing can start here: another separator, a closing bracket, punctuation.
    if (c === 59 || c === 124 || c === 38 || isNl(c) || c === 41 || c === 40 || c === 93 || c === 44 || c === 46 && !isAlpha(t.charCodeAt(i + 1)) && t.charCodeAt(i + 1) !== 32 && t.charCodeAt(i + 1) !== 92) return;
    // A plain word that is not a command (the common case in prose): no need to read it.
    if (isAlnum(c)) {
      let j = i + 1;
      while (j < t.length && j - i < 40) {
        const d = t.charCodeAt(j);
        if (isAlnum(d) || d === 45 || d === 95 || d === 64 || (d === 46 && isAlnum(t.charCodeAt(j + 1)))) j++;
        else break;
      }
      const d = j < t.length ? t.charCodeAt(j) : 32;
      if ((isSpace(d) || isNl(d) || d === 59 || d === 124 || d === 38 || d === 44 || d === 41 || d === 46 && !isAlnum(t.charCodeAt(j + 1))) && j - i < 40) {
        const word = t.slice(i, j).toLowerCase();
        if (word !== 'if' && word !== 'for' && lookup(word) === 0) return;
      }
    }
  }
  let obfCarry = false;
  let prefix = '';
  st.strongPrefix = false;
  for (let hop = 0; hop < 4; hop++) {
    if (i >= t.length) return;
    const c0 = t.charCodeAt(i);
    // Brace expansion as the command: `{cat,/etc/passwd}`, `{,ip,a}`.
    if (c0 === 123 /* { */) {
      const close = indexIn(t, 125, i + 1, i + 96);
      if (close > i) {
        const inner = t.slice(i + 1, close);
        if (close + 1 < t.length && !isWordEnd(t.charCodeAt(close + 1)) && t.charCodeAt(close + 1) !== 44) {
          // `{l,-lh}s`: letters glued after the braces belong to every alternative.
          const w0 = readWord(t, i, st);
          if (kind === START || kind === SEP || kind === SUBST) gluedBraces(t, w0.raw, kind, st);
          return;
        }
        if (inner.includes(',') && !/\s/.test(inner) && !inner.includes('"') && !inner.includes(':')) {
          braceCommand(t, inner, kind, st);
          return;
        }
        if (inner.includes(',') && !/\s/.test(inner)) {
          // `{,$"whoami",}`: quoted parts inside braces
          braceCommand(t, inner, kind, st);
          return;
        }
      }
      if (isSpace(t.charCodeAt(i + 1))) {
        i = skipBlank(t, i + 1);
        if (kind === START) kind = GROUP;
        continue;
      }
      const w0 = readWord(t, i, st);
      if (kind === START || kind === SEP || kind === SUBST) gluedBraces(t, w0.raw, kind, st);
      return;
    }
    // A literal `\n` / `\r` (double-escaped newline) before the command.
    if (c0 === 92 && (t.charCodeAt(i + 1) === 110 || t.charCodeAt(i + 1) === 114) && !isAlpha(t.charCodeAt(i + 2))) {
      i = skipBlank(t, i + 2);
      continue;
    }
    // A leading backslash defeats aliases: `\ls`.
    const w = readWord(t, i, st);
    if (w.end <= i) return;
    if (w.w === '' && (w.obf || w.ifs || w.raw.startsWith('$'))) {
      // `;$a cat …`, `${IFS}cat`: spacers before the command.
      obfCarry = obfCarry || w.obf || w.ifs || w.raw.startsWith('$');
      i = skipBlank(t, w.end);
      if (w.ifs) continue;
      if (i < t.length && isSpace(t.charCodeAt(i - 1))) continue;
      continue;
    }
    if (w.w === '') return;
    if (w.raw.includes('=') && recordAssignment(st, w)) {
      // `a=b cmd`, `a=/dev&&…`: the assignment is not the command.
      i = skipBlank(t, w.end);
      if (i >= t.length || !isSpace(t.charCodeAt(i - 1))) return;
      continue;
    }
    const lw = w.w;
    if (lw === 'for' && kind !== SUBST_MD && cmdFor(t, w.end)) {
      report(st, 'cmd-for', 1, 5, `for … in (…) do`);
      return;
    }
    if ((lw === 'if' || lw.startsWith('if/')) && kind !== SUBST_MD && cmdIf(t, lw === 'if' ? w.end : w.start + 2)) {
      report(st, 'cmd-if', 1, 5, `if ${t.slice(w.end, w.end + 30).trim()}`);
      return;
    }
    // `name(` is a function call or definition, not a command (`test([name])`, `system('id')`).
    if (t.charCodeAt(w.end) === 40 && !w.obf) return;
    // `. file` (source) and SQLite's `.shell` / `.system` run what follows.
    const dw = lw.charCodeAt(0) === 46 ? lw.replace(/["'\\]/g, '') : '';
    if (dw === '.' || (dw.length >= 3 && ('.shell'.startsWith(dw) || '.system'.startsWith(dw)))) {
      let j = skipBlank(t, w.end);
      if (dw === '.') {
        // `. shell cmd` (SQLite with a space) or `. file` (source)
        const nx = readWord(t, j, st);
        if (nx.w === 'shell' || nx.w === 'system') {
          j = skipBlank(t, nx.end);
          prefix = prefix || '.' + nx.w;
          obfCarry = true;
        }
      } else {
        prefix = prefix || dw;
        obfCarry = true;
      }
      if (j > w.end) {
        i = j;
        continue;
      }
    }
    if (dw.length > 2 && (kind === SEP || (kind === NEWLINE && charBeforeLine(t, sepAt) === 59)) &&
      SQLITE_DOT.has(dw.slice(1)) && (w.end >= t.length || isWordEnd(t.charCodeAt(w.end)))) {
      // `;\n.databases`: a sqlite3 shell meta-command after the statement was closed.
      report(st, 'sqlite-command', 1, 5, sepRaw + dw);
      return;
    }
    const r = resolve(st, w);
    if (!r) {
      // `/etc/pa[s]swd`, `/e??/p?sswd`: a globbed path to a sensitive file.
      if (w.glob && (lw.startsWith('/') || lw.startsWith('~')) && sensitivePath(st, lw)) {
        report(st, 'glob-path', 1, 5, lw);
      } else if (w.glob && lw.startsWith('/') && globRoot(lw)) {
        // `/[e///]tc`: a bracket expression spelling a top-level directory.
        report(st, 'glob-path', kind === SUBST_MD ? 2 : 1, 5, lw);
      } else if (!w.quoted && (kind === START || kind === SEP || kind === SUBST)) {
        // `c{a,ou}t`, `{l,-lh}s`: brace expansion glued to letters spells the command.
        gluedBraces(t, w.raw, kind, st);
      }
      return;
    }
    let flags = r.flags;
    const obf = (w.obf && !w.quoted) || obfCarry || r.globbed || (w.raw.startsWith('\\') && !w.raw.startsWith('\\\\')) ||
      (w.expanded && w.raw.startsWith('$'));
    // Split expansion ("cat /etc/passwd" from variables) carries its own argument.
    let inlineArg = '';
    const sp = w.w.indexOf(' ');
    if (sp > 0) inlineArg = w.w.slice(sp + 1);
    if ((flags & PREFIX) !== 0 && hop < 3) {
      // time/nohup/sudo …: evaluate what they run. Options of the prefix are skipped.
      let j = skipBlank(t, w.end);
      let guard = 0;
      while (j < t.length && t.charCodeAt(j) === 45 && guard++ < 4) {
        const o = readWord(t, j, st);
        j = skipBlank(t, o.end);
      }
      if (r.name === 'timeout' || r.name === 'nice') {
        const n = readWord(t, j, st);
        if (/^[0-9]+[smhd]?$/.test(n.w)) j = skipBlank(t, n.end);
      }
      const next = readWord(t, j, st);
      const nr = next.w ? resolve(st, next) : undefined;
      if (nr && j > w.end) {
        prefix = prefix || r.name;
        st.strongPrefix = (flags & A) !== 0;
        i = j;
        // `TiMe Sh -c …`: case randomised inside a word (case-insensitive file systems run it).
        if (obf || (mixedCase(w.raw) && (kind === START || kind === SEP || kind === SUBST))) obfCarry = true;
        continue;
      }
    }
    const args = scanArgs(t, w.end, flags, r.name, st);
    let inlineStrength = 0;
    if (inlineArg) inlineStrength = scanArgs(inlineArg, 0, flags, r.name, st).strength;
    const obf2 = obf || (mixedCase(w.raw) && args.strength >= 2 && (kind === START || kind === SEP || kind === SUBST));
    if (r.path) flags = (flags | A) & ~EN;
    if (obf2) flags = (flags | A) & ~EN;
    const ev = (sepRaw + (prefix ? prefix + ' ' : '') + r.name + (args.evidence && args.evidence !== r.name ? ' ' + args.evidence : '')).trim();
    decide(st, t, w, r, flags, kind, args, inlineStrength, obf2, prefix !== '', ev, sepRaw, sepAt);
    return;
  }
}

/** `e^x`, `x^2`: one caret between single letters or digits, as in a power. */
function mathCaret(raw: string): boolean {
  return raw.length === 3 && raw.charCodeAt(1) === 94 && isAlnum(raw.charCodeAt(0)) && isAlnum(raw.charCodeAt(2));
}

/**
 * After `word; ` (a semicolon between a word and a space, as in a sentence) the command word
 * starts a clause of prose: at least four more words, of letters only, and the last one ends
 * the line or the sentence.
 */
function proseClause(t: string, w: Word): boolean {
  let k = w.start - 1;
  if (k < 1 || !isSpace(t.charCodeAt(k))) return false;
  while (k > 0 && isSpace(t.charCodeAt(k))) k--;
  if (t.charCodeAt(k) !== 59 || !isAlpha(t.charCodeAt(k - 1))) return false;
  let words = 0;
  let i = w.end;
  const lim = Math.min(t.length, w.end + 200);
  while (i < lim && words < 4) {
    while (i < lim && t.charCodeAt(i) === 32) i++;
    const a = i;
    while (i < lim && (isAlpha(t.charCodeAt(i)) || t.charCodeAt(i) >= 0xc0 || t.charCodeAt(i) === 39)) i++;
    if (i === a) return false;
    const c = i < t.length ? t.charCodeAt(i) : 32;
    if (c !== 32 && c !== 46 && c !== 44 && c !== 10 && c !== 33 && c !== 63) return false;
    words++;
    if (c !== 32) break;
  }
  return words >= 4;
}

/** t[0, end) holds separators (`;`, `|`, `&`) and blanks only, and at least one separator. */
function sepOnlyBefore(st: State, t: string, end: number): boolean {
  if (st.leadEnd < 0) {
    // computed once per value: later calls must not rescan a long leading run
    let k = 0;
    while (k < t.length) {
      const c = t.charCodeAt(k);
      if (c === 59 || c === 124 || c === 38) st.leadSep = true;
      else if (!isSpace(c)) break;
      k++;
    }
    st.leadEnd = k;
  }
  return end <= st.leadEnd && st.leadSep;
}

/**
 * `>/tmp/x`, `>> /etc/cron.d/x`: the value opens with an output redirection into a file under a
 * system directory (a markdown quote has a space and prose after `>`, not an absolute path).
 */
function leadingRedirect(st: State, t: string): void {
  let i = 1;
  if (t.charCodeAt(i) === 62 || t.charCodeAt(i) === 124) i++;
  while (i < t.length && i < 5 && t.charCodeAt(i) === 32) i++;
  if (t.charCodeAt(i) !== 47) return;
  const e = t.indexOf('/', i + 1);
  if (e < 0 || e + 1 >= t.length || !ROOTS.has(t.slice(i + 1, e)) || isSpace(t.charCodeAt(e + 1))) return;
  let k = e + 1;
  while (k < t.length && !isSpace(t.charCodeAt(k))) k++;
  report(st, 'redirect', 1, 5, t.slice(0, Math.min(k, 40)));
}

/** Last character before the line that starts after `nl` (skipping blanks), or -1. */
function charBeforeLine(t: string, nl: number): number {
  let j = nl - 1;
  while (j >= 0 && (isSpace(t.charCodeAt(j)) || t.charCodeAt(j) === 13)) j--;
  return j >= 0 ? t.charCodeAt(j) : -1;
}

/** Letters of both cases alternate inside the word (`TiMe`, `ZsTdcaT`), not `Time` or `TIME`. */
function mixedCase(raw: string): boolean {
  for (let i = 1; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c >= 65 && c <= 90) {
      const b = raw.charCodeAt(i - 1);
      if (b >= 97 && b <= 122) return true;
    }
  }
  return false;
}

/** A path whose first component is a bracket glob matching a top-level directory (`/[e///]tc`). */
function globRoot(w: string): boolean {
  const seg = firstSeg(w);
  if (!seg.includes('[') || seg.length > 24) return false;
  for (const r of ROOTS) if (r.length >= 3 && globMatch(seg, r)) return true;
  return false;
}

/** `pre{a,b}post` inside one word: the alternatives become words; the first one is the command. */
function gluedBraces(t: string, raw: string, kind: number, st: State): void {
  const o = raw.indexOf('{');
  const c = raw.indexOf('}', o + 1);
  if (o < 0 || c < 0 || raw.indexOf('{', o + 1) >= 0 && raw.indexOf('{', o + 1) < c) return;
  const pre = raw.slice(0, o);
  const post = raw.slice(c + 1);
  const inner = raw.slice(o + 1, c);
  if ((pre === '' && post === '') || !inner.includes(',') || /[\s{}$`'"]/.test(inner) || /[{}]/.test(post)) return;
  const words = inner.split(',').map((x) => (pre + x + post).toLowerCase()).filter((x) => x !== '');
  const first = words[0];
  if (first === undefined || words.length < 2 || !/^[a-z][a-z0-9_.-]*$/.test(first)) return;
  const r = resolve(st, readWord(first, 0, st));
  if (!r) return;
  report(st, 'brace-expansion', 1, 5, raw.slice(0, 40));
  void t;
  void kind;
}

function braceCommand(t: string, inner: string, kind: number, st: State): void {
  const parts = inner.split(',');
  let k = 0;
  while (k < parts.length && parts[k] === '') k++;
  const first = parts[k];
  if (first === undefined) return;
  const w = readWord(first, 0, st);
  const r = resolve(st, w);
  if (!r) return;
  const rest = parts.slice(k + 1).join(' ');
  const args = scanArgs(rest, 0, r.flags, r.name, st);
  const strong = kind === START || kind === SEP || kind === SUBST;
  report(st, 'brace-expansion', strong ? 1 : 3, 5, `{${r.name},${rest.slice(0, 24)}}`);
  void args;
  void t;
}

function decide(st: State, t: string, w: Word, r: Resolved, flags: number, kind: number, args: ArgInfo,
  inlineStrength: number, obf: boolean, prefixed: boolean, ev: string, sep: string, sepAt: number): void {
  const a = (flags & A) !== 0;
  const en = (flags & EN) !== 0;
  const strength = Math.max(args.strength, inlineStrength);
  const strict = Math.max(args.strict, inlineStrength);
  const rule = obf ? 'obfuscated-command' : ctxName(kind);
  const rawLetters = w.raw.includes('$') ? w.raw.replace(/\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*/g, '') : w.raw;
  const lowerRaw = rawLetters === rawLetters.toLowerCase();
  const numArg = args.numericOnly && (flags & NUM) !== 0;
  if (r.path && (r.flags & ~KNOWN) === 0 && !r.globbed) {
    // Unknown binary under a bin directory (`/bin/ab`).
    report(st, 'binary-path', kind === SUBST_MD || kind === GROUP ? 2 : 1, 5, ev);
    return;
  }
  if (sep === '|' && (flags & SHELL) !== 0 && strength === 0 && lowerRaw && pipeEnd(t, w.end)) {
    // `… | sh`, `… | bash #`: output piped into a shell.
    report(st, 'pipe-to-shell', 1, 5, ev);
    return;
  }
  // The value opens with a separator and the command glued after it (`;top`, `; ;id`, `|ls`):
  // nothing in the value comes before the injected command.
  const leading = kind === SEP && sepOnlyBefore(st, t, w.start);
  if (!lowerRaw && (flags & WIN) === 0 && !obf && !r.path) {
    // Unix commands are case-sensitive: "More details", "Read", "GCC" are prose. A distinctive
    // command in capitals right after a leading separator, with arguments, is not (`;CHMOD +X
    // EVIL.PHP`: case-insensitive file systems run it).
    const upper = w.raw === w.raw.toUpperCase();
    report(st, rule, leading && upper && a && !en && strength >= 1 ? 1 : 3, 5, ev);
    return;
  }
  if (r.path || obf) {
    // `/bin/cat`, `/???/c?t`, `c''at`, `w^h^o^a^m^i`: deliberate shapes.
    if (kind === SUBST_MD && strength < 3) report(st, rule, 2, 5, ev);
    // `(e^x - 1)`: a power in a parenthesis of prose, not a caret-escaped command
    else if (kind === GROUP && !r.path && mathCaret(w.raw)) report(st, rule, 2, 5, ev);
    else if (w.quoted && strength < 2 && kind === START) report(st, rule, 3, 5, ev);
    else report(st, r.path ? 'binary-path' : rule, 1, 5, ev);
    return;
  }
  const tailOk = (flags & TAIL) !== 0 && lowerRaw && cleanTail(t, w.end, st);
  switch (kind) {
    case SUBST:
      // A closed `$(…)`, `` `…` ``, `<(…)` around a known command.
      report(st, 'substitution', lowerRaw ? 1 : 2, 5, ev);
      return;
    case SUBST_MD:
      report(st, rule, strength >= 3 ? 1 : 2, 5, ev);
      return;
    case SEP:
      if (sep === ';' && strength <= 1 && !obf && proseClause(t, w)) {
        // "It failed; curl returned an error page": a clause of prose after a semicolon that
        // starts with a tool's name (a command would have options, paths, URLs …)
        report(st, rule, 2, 5, ev);
        return;
      }
      if ((a && !en) || strict >= 2 || (!en && strength >= 2) || numArg || (strength === 0 && tailOk) || args.path ||
        (args.winEnv && (flags & WIN) !== 0) ||
        // `;top`, `; ;top`: a leading separator and a bare command, the whole value
        (leading && strength === 0 && lowerRaw && (onlyWhitespaceAfter(t, w.end) || sepFollows(t, w.end)))) {
        report(st, rule, 1, 5, ev);
      } else if (strength >= 2) report(st, rule, 2, 5, ev);
      else report(st, rule, en || strength === 0 ? 3 : 2, 5, ev);
      return;
    case AMP:
      if ((a && !en && (strength >= 1 || tailOk || cleanTail(t, w.end, st))) || strict >= 2 || (!en && strength >= 2) ||
        numArg || (strength === 0 && tailOk)) {
        report(st, rule, 1, 5, ev);
      } else report(st, rule, a && !en ? 2 : 3, 5, ev);
      return;
    case SEPW:
      if ((a && !en && strength >= 1) || strict >= 2 || (!en && strength >= 2) || (args.winEnv && (flags & WIN) !== 0)) report(st, rule, 1, 5, ev);
      else if (a && !en) report(st, rule, 2, 5, ev);
      else report(st, rule, 3, 5, ev);
      return;
    default: {
      // START, NEWLINE, GROUP: the position alone proves nothing; the arguments must.
      if (prefixed) {
        if (a || strict >= 2 || st.strongPrefix) report(st, rule, 1, 5, ev);
        // `time who`: the whole value is a prefix command running a bare command.
        else if (kind === START && (flags & TAIL) !== 0 && strength === 0 && lowerRaw && t.length <= 48 &&
          onlyWhitespaceAfter(t, w.end)) report(st, rule, 1, 5, ev);
        else report(st, rule, 2, 5, ev);
        return;
      }
      if (w.quoted) {
        // `'cscli' alerts list`, `"ll" /var/www/`: a quoted command word leading a command line.
        const line = kind === START && lowerRaw && ((a && !en && strength >= 1) || args.path) && commandLineShape(t, w.end);
        report(st, rule, strict >= 3 || line ? 1 : 3, 5, ev);
        return;
      }
      if (strict >= 2 || (kind === START && !en && strength >= 2) || (a && !en && strength >= 2)) {
        report(st, rule, 1, 5, ev);
        return;
      }
      if (kind === START && lowerRaw && args.path && commandLineShape(t, w.end)) {
        report(st, rule, 1, 5, ev); // `cat /path/file.gz`: the value is a command and a file path
        return;
      }
      if (kind === START && a && !en && lowerRaw) {
        if (strength === 1 ? (flags & PREFIX) === 0 && commandLineShape(t, w.end) : sepFollows(t, w.end)) {
          report(st, rule, 1, 5, ev);
          return;
        }
        if (strength === 0 && RECON.has(r.name) && onlyWhitespaceAfter(t, w.end)) {
          report(st, rule, 1, 5, ev);
          return;
        }
      }
      if (kind === START && tailOk && t.length - w.end > 0 && sepFollows(t, w.end)) {
        report(st, rule, 1, 5, ev); // `id;`, `ls|…`
        return;
      }
      if (kind === NEWLINE && strength === 0 && tailOk && tokenBefore(t, sepAt)) {
        report(st, rule, 1, 5, ev); // `127.0.0.1\nid`
        return;
      }
      if (kind === NEWLINE && numArg && tokenBefore(t, sepAt) && commandLineShape(t, w.end)) {
        report(st, rule, 1, 5, ev); // `127.0.0.1\nsleep 5`: one token, a line break, a command
        return;
      }
      if (kind === START && numArg && commandLineShape(t, w.end)) {
        report(st, rule, 2, 5, ev); // `sleep 5`
        return;
      }
      if (a && !en && (flags & PREFIX) === 0) report(st, rule, 2, 5, ev);
      else if (kind !== START && (strength >= 1 || (flags & TAIL) !== 0)) report(st, rule, 3, 5, ev);
      else if (strength >= 1 || (flags & TAIL) !== 0) report(st, rule, 4, 5, ev);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Whole-value shapes
// ---------------------------------------------------------------------------------------------

/** A host name's labels at k: a label, a dot and a letter or digit (`attacker.example`, not `json` or `toString()`). */
function hostLabels(t: string, k: number): boolean {
  const start = k;
  while (k < t.length && k - start < 64 && (isAlnum(t.charCodeAt(k)) || t.charCodeAt(k) === 45)) k++;
  return k > start && t.charCodeAt(k) === 46 && isAlnum(t.charCodeAt(k + 1));
}

/** Markdown-style code span: not glued to a word on either side, and prose outside it. */
function markdownSpan(t: string, open: number, close: number): boolean {
  const before = open === 0 ? 32 : t.charCodeAt(open - 1);
  let after = close + 1 >= t.length ? 32 : t.charCodeAt(close + 1);
  // `whoami`.attacker.example, http://x/`id`: glued to a host name or a path, the span is a
  // substitution whose output goes somewhere (DNS exfiltration). (`Default=` stays prose: docs.)
  if ((after === 46 && hostLabels(t, close + 2)) || (after === 47 && isAlnum(t.charCodeAt(close + 2)))) return false;
  if (before === 47 && open >= 2 && isAlnum(t.charCodeAt(open - 2))) return false;
  // `--exec=`id`--remote`: an option's value glued on both sides (argument injection), not a span in prose
  if (before === 61 && after === 45) return false;
  // "a list of elements' `id`s": a plural glued to the span
  if (after === 115 && !isAlnum(t.charCodeAt(close + 2))) after = 32;
  if (isAlnum(before) || isAlnum(after) || before === 96 || after === 96) return false;
  // Headings and list items: `## \`type\``, `* \`npm pkg fix\``.
  let ls = open;
  while (ls > 0 && open - ls < 16 && !isNl(t.charCodeAt(ls - 1))) ls--;
  if ((ls === 0 || isNl(t.charCodeAt(ls - 1))) && /^\s*(#{1,6}|[*+-]|[0-9]{1,3}\.)\s/.test(t.slice(ls, open))) return true;
  let letters = 0;
  const lo = Math.max(0, open - 200);
  const hi = Math.min(t.length, close + 200);
  for (let k = lo; k < hi && letters < 4; k++) {
    if (k >= open && k <= close) {
      k = close;
      continue;
    }
    const c = t.charCodeAt(k);
    // letters of any script: Russian, Japanese or Chinese prose around a code span counts too
    if (isAlpha(c) || (c >= 0xc0 && !isSpace(c) && !(c >= 0x2000 && c <= 0x206f) && !(c >= 0x3000 && c <= 0x303f) && !(c >= 0xff00 && c <= 0xff0f))) letters++;
  }
  return letters >= 4;
}

function isUrlQueryAmp(t: string, i: number): boolean {
  // `&` inside a URL-ish token: `?a=1&b=2`, `x.php?id=1&cat=2`.
  let j = i - 1;
  let sawEq = false;
  let sawQ = false;
  while (j >= 0 && i - j < 256) {
    const c = t.charCodeAt(j);
    if (isSpace(c) || isNl(c)) break;
    if (c === 61) sawEq = true;
    if (c === 63) sawQ = true;
    j--;
  }
  return sawQ || sawEq;
}

function isHtmlEntity(t: string, i: number): boolean {
  // &amp; &#59; &#x3b; &lt;
  let j = i + 1;
  if (t.charCodeAt(j) === 35) return true;
  const lim = Math.min(t.length, i + 12);
  while (j < lim && isAlnum(t.charCodeAt(j))) j++;
  return j > i + 1 && t.charCodeAt(j) === 59;
}

/**
 * Argument injection: a value that is an option of the program it is passed to, whose own value
 * is a command line the program runs (`-oProxyCommand=sh -c id` for ssh, `--upload-pack=touch
 * /tmp/x` for git, `--checkpoint-action=exec=sh x.sh` for tar). What follows each `=` of the
 * option word is read as a value of its own.
 */
function optionCommand(t: string, st: State): void {
  // each of the first option words (`--checkpoint=1 --checkpoint-action=exec=id`)
  let start = 0;
  for (let words = 0; words < 4 && start < t.length && t.charCodeAt(start) === 45; words++) {
    let end = start;
    while (end < t.length && end - start < 64 && !isSpace(t.charCodeAt(end))) end++;
    for (let k = t.indexOf('=', start + 1), hops = 0; k > 0 && k < end && hops < 3; k = t.indexOf('=', k + 1), hops++) {
      evalAt(t, k + 1, START, st, '');
      if (done(st)) return;
    }
    start = end;
    while (start < t.length && isSpace(t.charCodeAt(start))) start++;
  }
}

/** A pipe that reads as a table cell border rather than a shell pipe. */
function spacedPipe(t: string, i: number, table: boolean): boolean {
  const b = i > 0 ? t.charCodeAt(i - 1) : 10;
  const a = t.charCodeAt(i + 1);
  const bs = isSpace(b) || isNl(b) || b === 43;
  const as = isSpace(a) || isNl(a) || a === 43 || Number.isNaN(a);
  if (table) return bs || as;
  // `| whoami` opening the value, with no second `|` to close a cell: what follows the command
  // line the value is appended to, not a table border.
  if (bs && as && t.indexOf('|', i + 1) < 0 && onlySpaceBefore(t, i)) return false;
  return bs && as;
}

function onlySpaceBefore(t: string, i: number): boolean {
  for (let j = 0; j < i; j++) if (!isSpace(t.charCodeAt(j)) && t.charCodeAt(j) !== 43) return false;
  return true;
}

function forkBomb(t: string): boolean {
  let from = 0;
  for (let n = 0; n < 16; n++) {
    const k = t.indexOf('()', from);
    if (k < 0) return false;
    from = k + 2;
    let j = k + 2;
    while (j < t.length && isSpace(t.charCodeAt(j))) j++;
    if (t.charCodeAt(j) !== 123) continue;
    let s = k;
    while (s > 0 && !isSpace(t.charCodeAt(s - 1)) && t.charCodeAt(s - 1) !== 59 && k - s < 32) s--;
    const name = t.slice(s, k);
    if (!name) continue;
    const close = indexIn(t, 125, j, j + 128);
    const body = t.slice(j + 1, close < 0 ? Math.min(t.length, j + 128) : close);
    const at = body.indexOf(name);
    if (at < 0) continue;
    const rest = body.slice(at + name.length, at + name.length + 8);
    if (/^(\(\))?\s*[|&]/.test(rest)) return true;
  }
  return false;
}

/** `$d/tcp/1.2.3.4/80`, `/d?v/tcp/host/port`: bash network redirection with an obfuscated `/dev`. */
function devTcp(st: State, lower: string): void {
  let from = 0;
  for (let n = 0; n < 8; n++) {
    let k = lower.indexOf('/tcp/', from);
    if (k < 0) k = lower.indexOf('/udp/', from);
    if (k < 0) return;
    from = k + 5;
    const before = lower.slice(Math.max(0, k - 12), k);
    if (!/(\$\{?[a-z_][a-z0-9_]*\}?|\/d[^/]{2}|\$\{?[a-z_]+\}?\/dev)$/.test(before) && !before.endsWith('dev')) continue;
    if (/^[a-z0-9.-]+\/[0-9]{1,5}/.test(lower.slice(k + 5, k + 80))) {
      report(st, 'reverse-shell', 1, 5, lower.slice(Math.max(0, k - 4), k + 20));
      return;
    }
  }
}

const SSI = ['exec', 'include', 'printenv', 'echo', 'config', 'set', 'fsize', 'flastmod', 'if'];

function ssi(st: State, lower: string): void {
  let from = 0;
  for (let n = 0; n < 8; n++) {
    const k = lower.indexOf('<!--#', from);
    if (k < 0) return;
    from = k + 5;
    let j = k + 5;
    while (j < lower.length && isSpace(lower.charCodeAt(j))) j++;
    for (const d of SSI) {
      if (lower.startsWith(d, j) && !isAlnum(lower.charCodeAt(j + d.length))) {
        const strong = d === 'exec' || d === 'include' || d === 'printenv';
        report(st, 'ssi', strong ? 1 : 2, 5, lower.slice(k, k + 30));
        return;
      }
    }
  }
}

/** PowerShell download cradles and loaders, anywhere in the value. */
const PS_MARKERS = [
  'downloadstring(', 'downloadfile(', 'downloaddata(', 'net.webclient', 'frombase64string(',
  '[reflection.assembly]::load', 'invoke-expression', 'invoke-webrequest', 'start-bitstransfer',
  '-encodedcommand ', 'iex(', 'iex (', 'invoke-shellcode', 'invoke-mimikatz', 'system.net.sockets.tcpclient',
];

/**
 * PowerShell's call operator on a name built from strings: `&('i'+'ex')`, `.("who"+'ami')`.
 * The strings are joined; a command or cmdlet name is an attack.
 */
function psComputedCommand(st: State, lower: string): void {
  let from = 0;
  for (let tries = 0; tries < 8; tries++) {
    const p = lower.indexOf('(', from);
    if (p < 0) return;
    from = p + 1;
    let b = p - 1;
    while (b >= 0 && lower.charCodeAt(b) === 32) b--;
    if (b < 0 || (lower.charCodeAt(b) !== 38 && lower.charCodeAt(b) !== 46)) continue;
    // '…' + "…" + '…' )
    let name = '';
    let i = p + 1;
    let parts = 0;
    for (;;) {
      while (lower.charCodeAt(i) === 32) i++;
      const q = lower.charCodeAt(i);
      if (q !== 39 && q !== 34) break;
      const e = lower.indexOf(String.fromCharCode(q), i + 1);
      if (e < 0 || e - i > 40) break;
      name += lower.slice(i + 1, e);
      parts++;
      i = e + 1;
      while (lower.charCodeAt(i) === 32) i++;
      if (lower.charCodeAt(i) !== 43) break;
      i++;
    }
    if (parts >= 1 && lower.charCodeAt(i) === 41 && name.length >= 2 && lookup(name) !== 0) {
      report(st, 'powershell', 1, 5, lower.slice(b, Math.min(lower.length, i + 1)));
      return;
    }
  }
}

const SMTP_LINE = new Set(['helo', 'ehlo', 'vrfy', 'expn', 'auth', 'starttls']);
const POP3 = new Set(['retr', 'dele', 'top', 'list', 'apop', 'uidl', 'user', 'pass']);
const IMAP = new Set([
  'login', 'select', 'examine', 'create', 'delete', 'rename', 'subscribe', 'unsubscribe', 'list', 'lsub',
  'status', 'append', 'check', 'close', 'expunge', 'search', 'fetch', 'store', 'copy', 'uid', 'authenticate',
  'logout', 'capability', 'noop', 'starttls', 'move',
]);
const BARE_MAIL = new Set(['data', 'quit', 'rset', 'noop', 'stat', 'capa', 'help']);

/** SMTP/IMAP/POP3 commands injected on a new line. */
function mailCommands(st: State, t: string): void {
  let from = 0;
  for (let n = 0; n < 64; n++) {
    const nl = t.indexOf('\n', from);
    if (nl < 0) return;
    from = nl + 1;
    let s = nl + 1;
    while (s < t.length && (t.charCodeAt(s) === 13 || t.charCodeAt(s) === 10)) s++;
    from = s;
    let e = t.indexOf('\n', s);
    if (e < 0 || e > s + 200) e = Math.min(t.length, s + 200);
    let line = t.slice(s, Math.min(e, s + 200));
    if (line.endsWith('\r')) line = line.slice(0, -1);
    const lower = line.toLowerCase();
    if (/^mail from: ?<[^<>\s]*>/.test(lower) || /^rcpt to: ?<[^<>\s]*>/.test(lower)) {
      report(st, 'smtp', 1, 5, line.slice(0, 30));
      return;
    }
    // the same without angle brackets (servers accept it): the line is the command and one address
    if (/^(?:mail from|rcpt to): ?[^<>\s@]+@[^<>\s@]+$/.test(lower)) {
      report(st, 'smtp', t.slice(0, nl).trim() === '' ? 1 : 2, 5, line.slice(0, 30));
      return;
    }
    const parts = line.trim().split(/\s+/);
    const w0 = (parts[0] ?? '').toLowerCase();
    const w1 = (parts[1] ?? '').toLowerCase();
    // A value that *starts* with a line break followed by a protocol command is an injection;
    // the same line in the middle of a text is more likely prose.
    const atStart = t.slice(0, nl).trim() === '';
    const lvl: Paranoia = atStart ? 1 : 2;
    const upper = line === line.toUpperCase() || (atStart && parts.length <= 3 && e >= t.length - 2);
    if (SMTP_LINE.has(w0) && parts.length === 2 && /^[a-z0-9.-]+\.[a-z]{2,}$|^[a-z0-9-]+$/.test(w1) && line === line.trim()) {
      report(st, 'smtp', lvl, 5, line.slice(0, 30));
      continue;
    }
    if (atStart && parts.length === 2 && /^[a-z]{0,4}[0-9]{1,6}$/i.test(parts[0] ?? '') && BARE_MAIL.has(w1) && upper) {
      report(st, 'imap', 1, 5, line.slice(0, 30)); // `A1 QUIT`: a tagged command
      return;
    }
    if (BARE_MAIL.has(w0) && parts.length <= 2 && upper && (parts.length === 1 || w0 === 'help')) {
      report(st, 'mail-command', lvl, 5, line.slice(0, 30));
      continue;
    }
    if (POP3.has(w0) && parts.length >= 2 && parts.length <= 3 && /^[0-9]+$/.test(w1) && upper) {
      report(st, 'pop3', lvl, 5, line.slice(0, 30));
      continue;
    }
    if (w0 === 'auth' && parts.length >= 2 && parts.length <= 3 && upper && atStart) {
      report(st, 'smtp', 1, 5, line.slice(0, 30));
      continue;
    }
    if (w0 === 'apop' && parts.length === 3 && /^[0-9a-f]{32}$/.test(parts[2] ?? '')) {
      report(st, 'pop3', 1, 5, line.slice(0, 30));
      return;
    }
    // IMAP: tag command args, tag with a digit (A001) or IMAP-only argument syntax.
    if (IMAP.has(w1) && /^[a-z0-9]{1,8}$/i.test(parts[0] ?? '')) {
      const tagDigit = /[0-9]/.test(parts[0] ?? '');
      const imapSyntax = /\\(seen|deleted|flagged|answered|draft)|\bflags\b|\binbox\b|\{[0-9]+\}|\b[0-9]+:[0-9*]+\b/i.test(line);
      if (tagDigit && (parts.length >= 3 || line.slice((parts[0] ?? '').length + 1) === line.slice((parts[0] ?? '').length + 1).toUpperCase())) {
        report(st, 'imap', 1, 5, line.slice(0, 30));
        return;
      }
      if (imapSyntax) {
        report(st, 'imap', 1, 5, line.slice(0, 30));
        return;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Main scan
// ---------------------------------------------------------------------------------------------

/** Cheap pre-filter: characters that can start or carry a command injection. */
const INTERESTING = new Uint8Array(128);
for (const ch of ';|&\n\r`$<>({%^\\\'"/') INTERESTING[ch.charCodeAt(0)] = 1;
/** Characters the main scan dispatches on. */
const DISPATCH = new Uint8Array(128);
for (const ch of ';|&\n\r`$<>({') DISPATCH[ch.charCodeAt(0)] = 1;

export const detectCmdi: Detector = (text: string, lower: string, ctx: DetectContext): Hit | undefined => {
  try {
    return scan(text, lower, ctx);
  } catch {
    return undefined;
  }
};

/**
 * A spreadsheet formula that starts another program through DDE, stored to be opened from a CSV
 * export (`=cmd|' /C calc'!A0`, `@SUM(1+1)*cmd|' /C calc'!A0`, `=MSEXCEL|'\..\cmd.exe'!''`,
 * `=DDE("cmd";"/C calc";"__DdeLink")`): a formula start, then an application name, `|`, a
 * quoted topic and `!`. Ordinary formulas (`=SUM(A1:A3)`, `=A1|B1` in no spreadsheet) pass.
 */
function ddeFormula(t: string, lower: string): Hit | undefined {
  let s = 0;
  while (s < t.length && s < 8 && (t.charCodeAt(s) === 32 || t.charCodeAt(s) === 9 || t.charCodeAt(s) === 34 || t.charCodeAt(s) === 39)) s++;
  const f = t.charCodeAt(s);
  if (f !== 61 && f !== 43 && f !== 45 && f !== 64) return undefined;
  const hit = (ev: string): Hit => ({ detector: 'cmdi.dde-formula', category: 'cmdi', severity: 5, paranoia: 1, evidence: ev.slice(0, 40) });
  const d = lower.indexOf('dde');
  if (d > s && (lower.startsWith('dde(', d) || lower.startsWith('ddeauto', d))) return hit(t.slice(d, d + 24));
  let bar = t.indexOf('|', s);
  for (let k = 0; bar > s && k < 8; k++) {
    let a = bar;
    while (a > s && bar - a < 32 && isAlpha(t.charCodeAt(a - 1))) a--;
    const q = t.charCodeAt(bar + 1);
    if (a < bar && (q === 39 || q === 34)) {
      const close = t.indexOf(String.fromCharCode(q), bar + 2);
      if (close > 0 && close - bar < 512 && t.charCodeAt(close + 1) === 33) return hit(t.slice(a, Math.min(close + 2, a + 40)));
    }
    bar = t.indexOf('|', bar + 1);
  }
  return undefined;
}

function scan(t: string, lower: string, ctx: DetectContext): Hit | undefined {
  const n = t.length;
  if (n < 2) return undefined;
  const dde = ddeFormula(t, lower);
  if (dde) return dde;
  const st: State = { best: undefined, vars: undefined, globBudget: 24, paranoia: ctx.paranoia, strongPrefix: false, leadEnd: -1, leadSep: false };
  let special = false;
  for (let i = 0; i < n; i++) {
    const c = t.charCodeAt(i);
    if (c < 128 && INTERESTING[c] === 1) {
      special = true;
      break;
    }
  }
  // The value itself may be a command line. Fast path: a plain first word that is no command.
  let k = 0;
  while (k < n && k < 48) {
    const c = t.charCodeAt(k);
    if (isAlnum(c) || c === 45 || c === 95) k++;
    else break;
  }
  const c = t.charCodeAt(k);
  const plainFirst = k > 0 && (k === n || isSpace(c)) && !special;
  const first = plainFirst ? t.slice(0, k).toLowerCase() : '';
  if (!plainFirst || first === 'if' || first === 'for' || lookup(first) !== 0) evalAt(t, 0, START, st, '');
  const c0 = t.charCodeAt(0);
  if (c0 === 45 && !done(st)) optionCommand(t, st);
  if ((c0 === 126 || c0 === 33) && n <= 64) tildeHistory(st, t);
  if (!special) return st.best;
  if (done(st)) return st.best;

  // Whole-value shapes.
  if (lower.includes('/dev/tcp/') || lower.includes('/dev/udp/')) report(st, 'reverse-shell', 1, 5, '/dev/tcp/');
  else if (lower.includes('/tcp/') || lower.includes('/udp/')) devTcp(st, lower);
  const trimmed = lower.trimStart();
  if (trimmed.startsWith('() {') || trimmed.startsWith('(){') || lower.includes('() { :;') || lower.includes('(){ :;') ||
    lower.includes('() { :; }')) {
    report(st, 'shellshock', 1, 5, '() {');
  }
  if (trimmed.charCodeAt(0) === 62) leadingRedirect(st, trimmed);
  if (lower.includes('<!--#')) ssi(st, lower);
  if (lower.includes('(')) {
    for (const m of PS_MARKERS) {
      if (lower.includes(m)) {
        report(st, 'powershell', 1, 5, m);
        break;
      }
    }
    if (lower.includes('()') && forkBomb(t)) report(st, 'fork-bomb', 1, 5, 'f(){ f|f& };f');
    if (!done(st) && (lower.includes('&(') || lower.includes('.(') || lower.includes('& ('))) psComputedCommand(st, lower);
  } else if (lower.includes('invoke-') || lower.includes('-encodedcommand')) {
    for (const m of PS_MARKERS) {
      if (lower.includes(m)) {
        report(st, 'powershell', 1, 5, m);
        break;
      }
    }
  }
  if (done(st)) return st.best;
  if (t.includes('\n')) mailCommands(st, t);

  // Perl and Ruby command literals: `qx{…}`, `qx(…)`, `%x(…)`, `%x{…}` run their text in a shell.
  if (t.includes('qx') || t.includes('%x')) quotedCommands(t, st);
  if (done(st)) return st.best;

  // Command positions after separators and inside substitutions.
  const table = t.includes('|') && (t.includes('|---') || t.includes('| ---') || t.includes('|:--') || t.includes('| :--'));
  const lastParen = t.lastIndexOf(')');
  let tick = false; // inside a backtick substitution
  let evals = 0;
  for (let i = 0; i < n; i++) {
    const c = t.charCodeAt(i);
    if (c >= 128 || DISPATCH[c] === 0) continue;
    if (done(st)) break;
    switch (c) {
      case 59: /* ; */ {
        evalAt(t, i + 1, SEP, st, ';');
        evals++;
        break;
      }
      case 10:
      case 13: {
        if (c === 13 && t.charCodeAt(i + 1) === 10) break;
        evalAt(t, i + 1, NEWLINE, st, '\\n', i);
        evals++;
        break;
      }
      case 124: /* | */ {
        if (t.charCodeAt(i + 1) === 124) {
          evalAt(t, i + 2, SEP, st, '||');
          i++;
        } else {
          evalAt(t, i + 1, spacedPipe(t, i, table) ? SEPW : SEP, st, '|');
        }
        evals++;
        break;
      }
      case 38: /* & */ {
        if (t.charCodeAt(i + 1) === 38) {
          evalAt(t, i + 2, SEP, st, '&&');
          i++;
        } else if (t.charCodeAt(i - 1) === 62 || t.charCodeAt(i + 1) === 62) {
          // >& or &> redirection
        } else if (!isHtmlEntity(t, i)) {
          const spaced = isSpace(t.charCodeAt(i - 1)) && isSpace(t.charCodeAt(i + 1));
          evalAt(t, i + 1, isUrlQueryAmp(t, i) ? SEPW : spaced ? AMP : SEP, st, '&');
        }
        evals++;
        break;
      }
      case 96: /* ` */ {
        if (t.charCodeAt(i + 1) === 96) {
          // `` (empty substitution, handled in words) or a ``` fence: skip the run.
          while (t.charCodeAt(i + 1) === 96) i++;
          break;
        }
        if (!tick) {
          const close = t.indexOf('`', i + 1);
          if (close === i + 1) {
            i++;
            break;
          }
          const md = close > 0 && (markdownSpan(t, i, close) || t.slice(i, close).includes('\n'));
          evalAt(t, i + 1, md ? SUBST_MD : close > 0 ? SUBST : GROUP, st, '`');
          evals++;
          tick = close > 0;
        } else tick = false;
        break;
      }
      case 36: /* $ */ {
        if (t.charCodeAt(i + 1) === 40 && t.charCodeAt(i + 2) !== 40) {
          evalAt(t, i + 2, lastParen > i ? SUBST : GROUP, st, '$(');
          evals++;
        }
        break;
      }
      case 60: /* < */
      case 62: /* > */ {
        if (t.charCodeAt(i + 1) === 40) {
          evalAt(t, i + 2, lastParen > i ? SUBST : GROUP, st, c === 60 ? '<(' : '>(');
          evals++;
        }
        break;
      }
      case 40: /* ( */ {
        if (i > 0 && (t.charCodeAt(i - 1) === 36 || t.charCodeAt(i - 1) === 60 || t.charCodeAt(i - 1) === 62)) break;
        evalAt(t, i + 1, GROUP, st, '(');
        evals++;
        break;
      }
      case 123: /* { */ {
        if (i > 0 && t.charCodeAt(i - 1) === 36) break; // ${…}
        if (isSpace(t.charCodeAt(i + 1))) {
          evalAt(t, i + 1, GROUP, st, '{');
          evals++;
        }
        break;
      }
      default:
        break;
    }
    if (evals > 4096) break;
  }
  if (st.best === undefined && (t.includes('${IFS') || t.includes('$IFS'))) report(st, 'ifs', 2, 5, '${IFS}');
  if (st.best === undefined) shellSyntax(st, t);
  return st.best;
}

/**
 * The whole value is a bash tilde prefix (`~+`, `~-`, `~-1`: directory-stack expansion) or a
 * history designator (`!-1`, `!!`, `!1`). Nothing else writes `~-` or `!-2!-1` as a value.
 */
function tildeHistory(st: State, t: string): void {
  const v = t.trim();
  if (v.charCodeAt(0) === 126) {
    const sign = v.charCodeAt(1);
    let j = sign === 43 || sign === 45 ? 2 : 1;
    const d0 = j;
    while (j < v.length && isDigit(v.charCodeAt(j))) j++;
    if (j !== v.length || v.length < 2) return;
    if (d0 === 2) report(st, 'tilde-expansion', 1, 5, v);
    else if (j > d0) report(st, 'tilde-expansion', 2, 5, v);
    return;
  }
  // One or more history designators and nothing else.
  let j = 0;
  let relative = false;
  let count = 0;
  while (j < v.length && count < 16) {
    if (v.charCodeAt(j) !== 33) return;
    j++;
    if (v.charCodeAt(j) === 33) {
      j++;
    } else {
      if (v.charCodeAt(j) === 45) {
        relative = true;
        j++;
      }
      const d = j;
      while (j < v.length && isDigit(v.charCodeAt(j))) j++;
      if (j === d) return;
    }
    count++;
  }
  if (j !== v.length || count === 0) return;
  report(st, 'history-expansion', relative ? 1 : 3, 5, v.slice(0, 16));
}

/** Shell expansion syntax without a recognisable command: weaker, higher paranoia. */
function shellSyntax(st: State, t: string): void {
  let budget = 32;
  for (let i = t.indexOf('$'); i >= 0 && i < t.length - 1 && budget-- > 0; i = t.indexOf('$', i + 1)) {
    const n = t.charCodeAt(i + 1);
    if (n === 40 /* $( */) {
      if (t.charCodeAt(i + 2) === 40) {
        // $(( … $( … )) : arithmetic hiding a substitution
        const e = indexIn(t, 41, i + 3, i + 200);
        const inner = e > 0 ? t.slice(i + 3, e) : '';
        if (inner.includes('$(') || inner.includes('`')) {
          report(st, 'substitution', 1, 5, t.slice(i, i + 20));
          return;
        }
        continue;
      }
      const e = indexIn(t, 41, i + 2, i + 200);
      const c2 = t.charCodeAt(i + 2);
      if (e > i + 2 && c2 !== 46 && c2 !== 34 && c2 !== 39 && c2 !== 35) report(st, 'substitution', 2, 5, t.slice(i, i + 20));
    } else if (n === 123 /* ${ */) {
      const e = indexIn(t, 125, i + 2, i + 80);
      const inner = e > i + 2 ? t.slice(i + 2, e) : '';
      // ${x#pat}, ${x%pat}, ${x/a/b}, ${x^^}: bash-only operators (not `${a:-b}` defaults).
      // `#`, `%%`, `^^` and `,,` mean nothing in template languages (`${a%b}` and `${a/b}` do).
      // As a single shell word (no blank outside the braces) they count at once.
      if (/^[A-Za-z_][A-Za-z0-9_]*(#|%%|\^\^|,,)/.test(inner) && !/\s/.test(t.slice(0, i) + t.slice(e + 1))) {
        report(st, 'parameter-expansion', 1, 5, t.slice(i, Math.min(e + 1, i + 20)));
      } else if (/^[A-Za-z_][A-Za-z0-9_]*(#|%|\/|\^|,)/.test(inner)) report(st, 'parameter-expansion', 2, 5, t.slice(i, Math.min(e + 1, i + 20)));
    } else if (n === 91 /* $[ */) {
      const e = indexIn(t, 93, i + 2, i + 80);
      const inner = e > i ? t.slice(i + 2, e) : '';
      if (e > i && (inner === '' || (/[+*/%-]/.test(inner) && /^[0-9a-z_$ +*/%()-]+$/i.test(inner)))) {
        // `$[]`, `$[2+2]`: bash arithmetic with a binary operator (JSONPath's `$[-1]` is unary).
        const binary = inner === '' || /^\s*\(*\s*[0-9a-z_$]+\s*\)*\s*[+*/%-]\s*\(*\s*[0-9a-z_$]/i.test(inner);
        report(st, 'arithmetic', binary ? 1 : 2, 5, t.slice(i, i + 12));
      }
    }
    if (st.best !== undefined) return;
  }
}
