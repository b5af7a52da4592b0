import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectSqli, sqliFingerprint } from '../src/threats/detectors/sqli.js';
import type { DetectContext, Hit, Paranoia } from '../src/threats/types.js';
import { assertCheap, cpuNsPerCall } from './threats-timing.js';

function run(value: string, paranoia: Paranoia = 1): Hit | undefined {
  const ctx: DetectContext = { paranoia, location: 'query', name: 'q', isKey: false };
  return detectSqli(value, value.toLowerCase(), ctx);
}

/** Refused on its own at paranoia 1. */
function blocks(value: string): boolean {
  const h = run(value, 1);
  return h !== undefined && h.paranoia === 1 && h.severity >= 5;
}

// Attacks that must be refused at paranoia 1 (varied dialects, contexts and obfuscations).
const ATTACKS: readonly string[] = [
  // a catalog object named alone (each name of the catalog list reaches the lexer)
  'tempdb',
  'mysql.user',
  'MSysAccessObjects',
  'all_tables',
  'sqlite_master',
  'OPENROWSET',
  'load_file',
  // a clause written to follow the parameter's own value (left empty)
  ' ORDER BY 1-- ',
  ' ORDER BY 3#',
  ' AND 1=1',
  // string break + tautology / comment
  "' or 1=1--",
  "' OR '1'='1",
  "admin'--",
  "admin'#",
  "admin'/*",
  "') or ('a'='a",
  "\") or (\"a\"=\"a",
  "-1839' or '1'='1",
  "1' and 1=1 and 'a'='a",
  "x' or x=x -- ",
  "’ OR ’1’=’1’--",
  "admin@example.com' or 1=1;",
  "foo' oR/**/2>1#",
  "a'or'a",
  "' or true--",
  "z'or email notnull--",
  "x' or username like 'x';",
  "user'collate nocase--",
  "id'is not-id--",
  "x'-email--",
  "admin@juice-sh.op';",
  "admin@juice-sh.op`;",
  // UNION
  "-1 union select 1,2,3--",
  "1 UNION ALL SELECT NULL,NULL,NULL#",
  "' union select username, password from users--",
  "-1' UnIoN/**/SeLeCt/**/1,concat(user(),0x3a,version()),3-- -",
  "0/**/union/*!50000select*/table_name`foo`/**/",
  "1 /*!UNION*/ /*!SELECT*/ 1,2",
  "-8258\")) as swjp where 2681=2681 union all select 2681,2681--",
  "2020-03-01 UNION ALL SELECT CONCAT",
  // stacked queries
  "1; drop table users",
  "'; DROP TABLE users; --",
  "1;INSERT /*x*/INTO category(id) VALUES (3)-- -",
  "1);declare @q varchar(99);set @q='\\\\x.example\\a'; exec master.dbo.xp_dirtree @q;--",
  "'; exec master..xp_cmdshell 'ping 10.0.0.1'--",
  "1'));begin dbms_lock.sleep(5); end--",
  "DELETE FROM users;--",
  // time / boolean blind, error based
  "1 and sleep(5)",
  "1' and sleep(5)#",
  "1 AND (SELECT * FROM (SELECT(SLEEP(5)))a)",
  "1' and benchmark(5000000,md5(1))#",
  "1; waitfor delay '0:0:5'--",
  "';waitfor delay '0:0:5'--",
  "1' and pg_sleep(5)--",
  "1 or 2633=dbms_pipe.receive_message(chr(112)||chr(65),5)",
  "1' and extractvalue(1,concat(0x7e,version()))--",
  "1 and updatexml(1,concat(0x2e,(select user())),1)",
  "1 and row(1,1)>(select count(*),concat(version(),floor(rand(0)*2))x from information_schema.tables group by x)",
  "if(now()=sysdate(),sleep(12),0)",
  "(select load_file('/etc/passwd'))",
  "1' into outfile '/var/www/shell.php'--",
  "(case when 6398=6398 then 1 else null end)",
  "elt(5953=5953,1)",
  "(8266=8266)*9900",
  "1,iif(1440=1440,1,1/0)",
  "concat(0x223e3c62723e,version(),0x3c696d67207372633d22)",
  // numeric context
  "1 or 1=1",
  "1234 OR 1=1",
  "-1 or 2>1--",
  "9999 or /*+optimizer hint */ true",
  "1 and ascii(substring((select password from users limit 1),1,1))>64",
  // ordering by column position (column-count probing), JSON functions in a blind condition
  '1 ORDER BY 5',
  '1 group by 2,3',
  '-1 order by 1 desc',
  "1 AND JSON_LENGTH('[1]')=1",
  // a spreadsheet-formula look does not hide an injection
  '=if(1=1,sleep(5),0)',
  "=x' or 1=1--",
  // `+` for spaces (a URL pasted undecoded) with sqlmap's `-- -` trailer
  "1'+UNION+ALL+SELECT+NULL,concat(0x7176627a71,version(),0x71)-- -",
  // whole statements, PostgreSQL / MSSQL / Oracle / SQLite specifics
  "select * from users where id=1",
  "SELECT/*avoid-spaces*/password/**/FROM/**/Members",
  "SELECT load_file('/etc/passwd')",
  "OR '{\"b\":2}'::jsonb <@ '{\"a\":1, \"b\":2}'::jsonb",
  "OR json_extract('{\"id\": 14}', '$.id') = 14",
  "1' and unistr(password)::bool--",
  "' and 1 in (select min(name) from sysobjects where xtype = 'U') --",
  "x' or email~all(array[email]);analyze--",
  "admin@example.com' or sqlite_compileoption_used (id)--",
  "HAVING COUNT(CustomerID) > 5",
  "from information_schema.tables where 1=2 limit",
  "in ( select * from",
  "OR 1# ",
  ";INSERT INTO users (name) VALUES ('x')",
  "'||(select extractvalue(xmltype('<x/>'),'/l') from dual)||'",
];

// Near-miss benign values that must not be refused.
const BENIGN: readonly string[] = [
  ' order by price',
  'mysql.com is down',
  // Google Analytics' tag_exp: `~` between numbers compares nothing
  '0~115938466~115938469~440131266',
  '1~2',
  'tempdb grows too large, how do I shrink it?',
  'sys.path',
  'use dblink to connect two Postgres databases',
  ' select a plan',
  ' and then we left',
  ' or 2 if you like',
  ' union station',
  "O'Brien",
  '1 order by 5pm',
  'Limit 1 order by 5 per customer',
  '2 group by 3 people',
  // spreadsheet formulas; a time function named without its argument
  '=IF(B2>100,"High","Low")',
  'C++ -- a+b+c',
  'a+b+c -- the sum',
  '=IF(A1>1,1,0)',
  "=VLOOKUP(A2,'Sheet 2'!A:B,2,FALSE)",
  "MySQL's SLEEP() function is handy for testing timeouts",
  'Fake version of time.sleep() for use in tests',
  'Never call BENCHMARK() or SLEEP() in production',
  "Mc'Donald's = fast food",
  'I would like to select a plan',
  'Union Station',
  "The workers' union select committee",
  'drop me a line',
  'Drop everything and run',
  '1 - 2',
  'and/or',
  "Rock 'n' Roll",
  "Don't stop; believe",
  "the students' and teachers' views",
  "bob's or alice's",
  "c/ ca n'alzina, 80, 6-b",
  "l'hospitalet de llobregat",
  "Avda. O'Donnell, 25 - 3º izq.",
  "john.o'reilly@example.com",
  'o.havingu@gmail.com',
  '555-1234-5678',
  '+34 (91) 123-45-67',
  '2024-01-15',
  '$1,299.99',
  'C:\\Users\\Admin\\Documents\\report.docx',
  'https://www.example.com/search?q=select+from&order=desc',
  '# Heading\n\n* item one\n* item two',
  '**bold** and _italic_ `code`',
  '[link](http://example.com) and ![img](a.png)',
  '{"name": "O\'Brien", "age": 30}',
  '{"query": "select", "limit": 10}',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'To select a value, use SELECT name FROM users WHERE id = 1 in your query.',
  'The DELETE statement removes rows: DELETE FROM orders WHERE id = 5.',
  'string sql = "SELECT * FROM Users WHERE Id = @id"; var cmd = new SqlCommand(sql, conn);',
  'var q = db.Users.Where(u => u.Name == "bob").OrderBy(u => u.Age).ToList();',
  'std::vector<int> v; v.push_back(1);',
  'if (x > 5 && y < 3) { return true; }',
  'Sleep (8 hours) is important',
  'sleep(5 hours a day)',
  'benchmark results (2023)',
  'Version (2.1) released',
  'Is 1 or 2 better?',
  'Between 1 and 5 days',
  'Order by phone',
  'Having fun in the sun',
  "I'm in; you're out",
  'He wrote -- quickly -- and left',
  '27" monitor #1 choice',
  "it's a 'test' -- really",
  "the 'select' button",
  "click 'Union' then 'Select'",
  'Q&A: how to drop a table?',
  'Die "Union von Europa" ist eine Gemeinschaft',
  "José María O'Neill García",
  'shutdown',
  'exec (blah)',
  "require(\"child_process\").exec('whoami')",
  'x";setTimeout(name, 1)//',
  'form-data; name="file"; filename="a.txt"',
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMe--KKF2QT4fwpMeJf36POk6yJV_adQssw-5c',
  'my--slugified-url',
  '/select-quote',
  "is this your parents' or yours?",
  "';htop'",
];

test('sqli: attacks are refused at paranoia 1', () => {
  const missed = ATTACKS.filter((v) => !blocks(v));
  assert.deepEqual(missed, []);
});

test('sqli: near-miss benign values are not refused', () => {
  const flagged = BENIGN.filter((v) => blocks(v));
  assert.deepEqual(flagged, []);
});

test('sqli: weaker shapes count only at higher paranoia', () => {
  for (const v of ["it is your parents' and yours", 'Group by category']) {
    assert.equal(run(v, 1), undefined, v);
    const h = run(v, 4);
    assert.ok(h !== undefined && h.paranoia >= 2, v);
  }
});

test('sqli: a whole value that is a query fragment is refused at paranoia 1', () => {
  // a constant comparison, a catalog name or a cut-off call as the entire value: no sentence
  // or API value has these shapes, while an arithmetic fact inside text does
  for (const v of ['1=1', '1 = 1', '42 like 42', '2>1', 'information_schema']) assert.ok(blocks(v), v);
  for (const v of ['x=1', '10-5=5', '1+1=2', 'the answer is 1=1']) assert.ok(!blocks(v), v);
});

test('sqli: breaks read the MySQL way, words split by comments, conditions left open', () => {
  const attacks = [
    // MySQL reads a backslash as an escape inside the application's string: `\'` stays in it
    "foo\\''or'oof",
    "\\'lol' or '1",
    // a comment that splits a word or a number only hides it from filters
    'UN/**/ION SEL/**/ECT 1,2',
    'BENChmARk(2999/**/999,Md5(NoW()',
    // a keyword split by comments, the rest separated by comments that stand for spaces
    'DR/**/OP/*bypass deny listing*/sampletable',
    's/**/el/**/ect/**/pass/**/fr/**/om/**/users',
    "1'/**/o/**/r/**/1=1-- ",
    // the break, OR/XOR and one operand; the application's query supplies the rest
    "' or abc!",
    "'  xor  abcdefg!",
    "'  or 3,4,2@!",
    '" or x!',
    // the break, a condition and a comment that cuts the query off
    "'or(glob 1)--",
    // the next item of the application's list is a SQL call
    ", FIND_IN_SET('22', Category )",
    // a statement after a leading `;`, its object left open in brackets
    ';truncate[xx',
  ];
  for (const v of attacks) assert.ok(blocks(v), v);
  const benign = [
    "it's O\\'Brien's",
    'src/**/test/*.ts',
    'a/**/b',
    '/* comment */ and more',
    "' or something else entirely",
    "'or' is a word",
    "' or maybe not",
    'Truncate [the list] later',
    'truncate [x',
    'foo/*comment*/bar/*note*/baz',
    'int/**/main() { return 0; }',
    'dr/**/ama/**/queen',
    'Use UN/**/ION in the docs? No: write union.',
  ];
  for (const v of benign.slice(0, 4)) assert.ok(!blocks(v), v);
  for (const v of benign.slice(6)) assert.ok(!blocks(v), v);
});

test('sqli: Markdown code spans in prose are not identifiers to break out of', () => {
  const prose = [
    'Can be overridden by the user with the flags `--color` and `--no-color`.',
    'You can use `--` to indicate the end of the options.',
    'Returns a `limit` function.',
    'You may optionally use `=` to separate option names from values, for example: `--count=2`.',
    'This is a special data type to render a `<textarea>` to be parsed as JSON',
    '- `--module`: Sets the parsing mode to `"module"`.',
    'Use ``a`b`` for a literal backtick, then `--x`.',
    // quoted command-line options in help text
    "$ cmd --halp\n    Invalid option '--halp' - perhaps you meant '--help'?",
    "Any arguments after `'--'` will not be parsed and will end up in `argv._`.",
    // nested generic types
    'array<array<object>>',
    'List<List<Integer>>',
    // quoted symbols, options and keywords in messages of many languages
    'Se esperaba \'=\' para el inicializador de propiedades.',
    'Für den Eigenschafteninitialisierer wurde "=" erwartet.',
    'プロパティ初期化子には \'=\' を期待しています。',
    'Die Compileroption "--{0}" darf nicht mit "--build" verwendet werden.',
    "Erfordert die Festlegung von '--moduleResolution bundler' und '--noEmit'",
    '仅当 ‘--module’ 标志设置为 ‘esnext’ 或 ‘preserve’ 时，才支持延迟导入。',
    "the history entry for the outgoing ('from') document in the navigation",
  ];
  for (const v of prose) assert.ok(!blocks(v), v);
  // a backtick that closes the application's identifier is still read as a break
  for (const v of ['id` or 1=1 -- ', 'name`,(select sleep(5)))#', 'x`-- ']) assert.ok(blocks(v), v);
  // the short-literal probes these resemble stay refused
  for (const v of ["admin'='", "x' = 'y", "'1'='1", "'or'1'='1", "admin'--", "x'-- -"]) assert.ok(blocks(v), v);
});

test('sqli: hits are well-formed, evidence is short and shows the fingerprint', () => {
  const h = run("admin' or 1=1--");
  assert.ok(h);
  assert.equal(h.category, 'sqli');
  assert.ok(h.detector.startsWith('sqli.'));
  assert.ok(h.evidence.length <= 40);
  assert.match(h.evidence, /^s&1o1/);
});

test('sqli: fingerprints of the lexer', () => {
  assert.equal(sqliFingerprint("1' or '1'='1", 'single'), 's&sos');
  assert.equal(sqliFingerprint('-1 union all select 1,2--'), 'o1UkE1,1c');
  assert.equal(sqliFingerprint('/*!50000select*/ @@version'), 'Ev');
  assert.equal(sqliFingerprint("'a'::jsonb <@ 'b'"), 'sonos');
  assert.equal(sqliFingerprint('`a`.`b` [c] 0x1f 1e5 $$x$$'), 'nn11s');
  assert.equal(sqliFingerprint("O'Brien", 'single'), 'sn');
  assert.equal(sqliFingerprint('x', 'single'), undefined);
});

test('sqli: paranoia below the hit suppresses it', () => {
  assert.equal(run("it is your parents' and yours", 1), undefined);
  assert.ok(run("it is your parents' and yours", 2));
});

test('sqli: never throws on odd input', () => {
  const odd = ['', "'", '"', '`', '\\', '/*', '/*!', '--', '#', '$$', '@@', '[', '{', '::', '\u0000', '\ud800', "'\ud800'--", '((((', '))))', 'select', 'union', ';'];
  for (const v of odd) assert.doesNotThrow(() => run(v, 4));
});

test('sqli: pathological inputs run in linear time', () => {
  const inputs = [
    'a'.repeat(100_000),
    "'".repeat(100_000),
    '('.repeat(100_000),
    "'((((".repeat(20_000),
    ')'.repeat(100_000),
    '"\''.repeat(50_000),
    '`'.repeat(100_000),
    '[a'.repeat(50_000),
    'a/*'.repeat(33_000),
    '/*!'.repeat(33_000),
    'select '.repeat(15_000),
    'union select '.repeat(8_000),
    ' or 1=1'.repeat(14_000),
    'sleep('.repeat(16_000),
    'case when '.repeat(10_000),
    'concat('.repeat(14_000) + ')'.repeat(14_000),
    ';select 1'.repeat(11_000),
    "1' or (select 1 from t where a=b and c in (".repeat(2_000),
    '$$'.repeat(50_000),
    '@'.repeat(100_000),
    "\\'".repeat(50_000),
    "a\\''".repeat(25_000),
    'a/**/'.repeat(20_000),
    ';truncate['.repeat(10_000) + 'x',
    'a `--b` '.repeat(12_000),
    "se esperaba '=' para el inicializador ".repeat(2_500),
    "'--build x' ".repeat(8_000),
    '`'.repeat(50_000) + ' x',
  ];
  const detect = (v: string): unknown => run(v, 4);
  for (const v of inputs) {
    // one engine window (8 KB) costs a few milliseconds at most; 100 KB stays linear
    assertCheap(`${v.slice(0, 12)}… 8 KB`, detect, v.slice(0, 8_192), { ceilingMs: 50, runs: 3 });
    assertCheap(`${v.slice(0, 12)}… 100 KB`, detect, v, { ceilingMs: 500, runs: 3 });
  }
});

test('sqli: typical benign values are cheap', () => {
  const values = ['hello', '12345', 'john.doe@example.com', 'The quick brown fox jumps over the lazy dog today.'];
  // CPU time, best of three batches (after a warm-up batch)
  const perCall = cpuNsPerCall((i) => run(values[i % values.length]!), 80_000) / 1000;
  assert.ok(perCall < 20, `${perCall.toFixed(2)} µs per call`);
});
