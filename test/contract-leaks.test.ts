import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_SCAN_BYTES, scanForLeaks, type LeakFinding } from '../src/contract/leaks.js';
import { assertCheap } from './contract-timing.js';

const scan = (text: string, contentType = 'application/json', internalIps = false) => scanForLeaks(Buffer.from(text, 'utf8'), contentType, { internalIps });
const asJson = (message: string) => JSON.stringify({ error: 'internal', message });

// Secret-shaped test values are assembled at run time so the source holds no token-looking literal.
const ALNUM = 'A1b2C3d4E5f6G7h8J9k0L1m2N3p4Q5r6S7t8U9v0W1x2Y3z4';
const githubToken = ['gh', 'p_', ALNUM.slice(0, 36)].join('');
const githubPat = ['github', '_pat_', '11ABCDEFG0', 'x'.repeat(12), '_', ALNUM.slice(0, 48), 'y'.repeat(11)].join('');
const slackToken = ['xo', 'xb', '-', '2345678901', '-', '3456789012345', '-', ALNUM.slice(0, 24)].join('');
const stripeKey = ['sk', '_live_', ALNUM.slice(0, 24)].join('');
const awsKey = ['AK', 'IA', 'IOSFODNN7EXAMPLE'].join('');

const JAVA_TRACE = `java.lang.NullPointerException: Cannot invoke "String.length()" because "name" is null
\tat com.example.orders.OrderService.total(OrderService.java:42)
\tat com.example.orders.OrderController.get(OrderController.java:17)
\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)`;

const NODE_TRACE = `TypeError: Cannot read properties of undefined (reading 'id')
    at getUser (/app/src/routes/users.js:27:19)
    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)
    at next (/app/node_modules/express/lib/router/route.js:149:13)`;

const PYTHON_TRACE = `Traceback (most recent call last):
  File "/srv/app/shop/views.py", line 88, in get_order
    order = Order.objects.get(pk=pk)
  File "/usr/lib/python3.12/site-packages/django/db/models/manager.py", line 87, in manager_method
shop.models.Order.DoesNotExist: Order matching query does not exist.`;

/** Each positive: a realistic leak and the finding expected. */
const POSITIVES: readonly [string, string, LeakFinding['kind'], string, string?][] = [
  // [name, body, kind, signature, content type]
  ['java trace, raw text', JAVA_TRACE, 'stack-trace', 'java-stack', 'text/plain'],
  ['java frames only, in a JSON string', asJson('\tat com.example.orders.OrderService.total(OrderService.java:42)\n\tat com.example.Main.main(Main.java:9)'), 'stack-trace', 'java-stack'],
  ['java trace in JSON', asJson(JAVA_TRACE), 'stack-trace', 'java-stack'],
  ['java module frame', 'Caused by: boom\n\tat java.base/java.lang.Thread.run(Thread.java:833)', 'stack-trace', 'java-stack', 'text/plain'],
  ['java native frame', asJson('\tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)'), 'stack-trace', 'java-stack'],
  ['java unknown source frame', asJson('\tat com.sun.proxy.$Proxy12.save(Unknown Source)'), 'stack-trace', 'java-stack'],
  ['java thread header', 'Exception in thread "main" com.example.BootError: cannot start', 'stack-trace', 'java-stack', 'text/plain'],
  ['java thread header in JSON', asJson('Exception in thread "pool-1-thread-3" java.util.concurrent.RejectionError'), 'stack-trace', 'java-stack'],
  ['spring exception text', asJson('org.springframework.dao.DataIntegrityViolationException: could not execute statement'), 'stack-trace', 'java-exception'],
  ['node trace in JSON', asJson(NODE_TRACE), 'stack-trace', 'node-stack'],
  ['node trace, raw', NODE_TRACE, 'stack-trace', 'node-stack', 'text/plain'],
  ['node anonymous frame', asJson('Error: boom\n    at Object.<anonymous> (/home/app/index.mjs:3:9)'), 'stack-trace', 'node-stack'],
  ['node bare-path frame', asJson('Error: boom\n    at /app/server.js:10:9'), 'stack-trace', 'node-stack'],
  ['node internal frame', asJson('Error: boom\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)'), 'stack-trace', 'node-stack'],
  ['express dev error page', '<!DOCTYPE html><html><body><pre>Error: boom<br> &nbsp; &nbsp;at /app/server.js:10:9<br> &nbsp; &nbsp;at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)</pre></body></html>', 'stack-trace', 'node-stack', 'text/html'],
  ['typescript source-mapped frame', asJson('Error: x\n    at UsersService.find (/app/src/users/users.service.ts:41:13)'), 'stack-trace', 'node-stack'],
  ['python traceback, raw', PYTHON_TRACE, 'stack-trace', 'python-traceback', 'text/plain'],
  ['python traceback in JSON', asJson(PYTHON_TRACE), 'stack-trace', 'python-traceback'],
  ['python frame without header', asJson('  File "/srv/app/tasks.py", line 12, in run'), 'stack-trace', 'python-traceback'],
  [
    '.NET trace',
    'System.NullReferenceException: Object reference not set to an instance of an object.\r\n   at Shop.Api.Controllers.OrdersController.Get(Int32 id) in C:\\src\\Shop.Api\\Controllers\\OrdersController.cs:line 42',
    'stack-trace',
    'dotnet-exception',
    'text/plain',
  ],
  ['.NET frame only', asJson('   at Shop.Api.Controllers.OrdersController.Get(Int32 id) in C:\\src\\Shop.Api\\Controllers\\OrdersController.cs:line 42'), 'stack-trace', 'dotnet-stack'],
  ['PHP fatal error', 'PHP Fatal error:  Uncaught Error: Call to undefined function foo() in /var/www/html/index.php:12\nStack trace:\n#0 {main}\n  thrown in /var/www/html/index.php on line 12', 'stack-trace', 'php-error', 'text/html'],
  ['PHP HTML warning', '<br />\n<b>Warning</b>:  mysqli_connect(): (HY000/2002): Connection refused in <b>/var/www/html/db.php</b> on line <b>5</b><br />', 'stack-trace', 'php-error', 'text/html'],
  ['PHP stack trace in JSON', asJson('Uncaught exception\nStack trace:\n#0 /var/www/src/Kernel.php(45): App\\Kernel->boot()'), 'stack-trace', 'php-error'],
  ['Ruby backtrace', asJson("app/controllers/users_controller.rb:12:in `show'\nactionpack (7.1.2) lib/action_controller/metal/basic_implicit_render.rb:6:in `send_action'"), 'stack-trace', 'ruby-stack'],
  ['Ruby 3.4 backtrace', asJson("app/models/user.rb:5:in 'User#name'"), 'stack-trace', 'ruby-stack'],
  ['Go goroutine dump', 'goroutine 1 [running]:\nmain.main()\n\t/app/main.go:12 +0x1d\nexit status 2', 'stack-trace', 'go-panic', 'text/plain'],
  ['Go panic', asJson('panic: runtime error: invalid memory address or nil pointer dereference'), 'stack-trace', 'go-panic'],
  ['Go frame', asJson('main.handler(0xc000123000)\n\t/src/app/handler.go:88 +0x2f'), 'stack-trace', 'go-panic'],
  // SQL and ORM
  ['MySQL syntax error', asJson("You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near ''1'' at line 1"), 'sql-error', 'mysql-error'],
  ['Postgres syntax error', 'ERROR:  syntax error at or near "FROM"\nLINE 1: SELECT * FROM FROM users', 'sql-error', 'postgres-error', 'text/plain'],
  ['Postgres in JSON', asJson('ERROR:  unterminated quoted string at or near "\'abc"'), 'sql-error', 'postgres-error'],
  ['pg gem', asJson('PG::UndefinedTable: ERROR:  relation "userz" does not exist'), 'sql-error', 'postgres-error'],
  ['PDO SQLSTATE', asJson("SQLSTATE[42S02]: Base table or view not found: 1146 Table 'shop.userz' doesn't exist"), 'sql-error', 'pdo-error'],
  ['SQL Server quote', asJson("Unclosed quotation mark after the character string ''."), 'sql-error', 'mssql-error'],
  ['SQL Server OLE DB', "Microsoft OLE DB Provider for ODBC Drivers error '80040e14'", 'sql-error', 'mssql-error', 'text/html'],
  ['Oracle', asJson('ORA-01756: quoted string not properly terminated'), 'sql-error', 'oracle-error'],
  ['SQLite code', asJson('SQLITE_ERROR: near "FROM": syntax error'), 'sql-error', 'sqlite-error'],
  ['SQLite Python', asJson('sqlite3.OperationalError: no such table: users'), 'sql-error', 'sqlite-error'],
  ['Hibernate', asJson('org.hibernate.exception.SQLGrammarException: could not extract ResultSet'), 'sql-error', 'hibernate-error'],
  ['Sequelize', JSON.stringify({ name: 'SequelizeDatabaseError', parent: { code: '42P01' } }), 'sql-error', 'sequelize-error'],
  ['Prisma', asJson('PrismaClientKnownRequestError: Unique constraint failed on the fields: (`email`)'), 'sql-error', 'prisma-error'],
  ['Prisma invocation', asJson('\nInvalid `prisma.user.findUnique()` invocation:\n\nThe column `users.email` does not exist'), 'sql-error', 'prisma-error'],
  // Debug pages
  ['Django', '<p>You’re seeing this error because you have <code>DEBUG = True</code> in your Django settings file.</p>', 'debug-page', 'django-debug', 'text/html'],
  ['Django, older wording', "You're seeing this error because you have DEBUG = True in your Django settings file.", 'debug-page', 'django-debug', 'text/html'],
  ['Rails', '<!DOCTYPE html><html><head><title>Action Controller: Exception caught</title></head>', 'debug-page', 'rails-debug', 'text/html'],
  ['Whoops', '<title>Whoops! There was an error.</title>', 'debug-page', 'whoops-debug', 'text/html'],
  ['Spring whitelabel', '<html><body><h1>Whitelabel Error Page</h1><p>This application has no explicit mapping for /error</p>', 'debug-page', 'spring-whitelabel', 'text/html'],
  ['ASP.NET', "<h1>Server Error in '/' Application.<hr width=100% size=1 color=silver></h1>", 'debug-page', 'aspnet-error', 'text/html'],
  ['Werkzeug', '<title>ZeroDivisionError: division by zero // Werkzeug Debugger</title>', 'debug-page', 'werkzeug-debugger', 'text/html'],
  // Private keys
  ['RSA key', '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1Zq\n-----END RSA PRIVATE KEY-----', 'private-key', 'rsa-private-key', 'text/plain'],
  ['PKCS#8 key in JSON', JSON.stringify({ key: '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n' }), 'private-key', 'pkcs8-private-key'],
  ['EC key', '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIrY', 'private-key', 'ec-private-key', 'text/plain'],
  ['OpenSSH key', asJson('-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA'), 'private-key', 'openssh-private-key'],
  ['PGP key', '-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF', 'private-key', 'pgp-private-key', 'text/plain'],
  ['encrypted key', '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBO', 'private-key', 'encrypted-private-key', 'text/plain'],
  // Secrets
  ['AWS access key id', JSON.stringify({ aws_access_key_id: awsKey, region: 'eu-west-1' }), 'secret', 'aws-access-key-id'],
  ['GitHub token', JSON.stringify({ token: githubToken }), 'secret', 'github-token'],
  ['GitHub fine-grained token', JSON.stringify({ token: githubPat }), 'secret', 'github-token'],
  ['Slack token', JSON.stringify({ slack: slackToken }), 'secret', 'slack-token'],
  ['Stripe live key', JSON.stringify({ stripe: stripeKey }), 'secret', 'stripe-secret-key'],
];

const INTERNAL_IPS: readonly [string, string][] = [
  [JSON.stringify({ upstream: '10.0.3.17:8080' }), 'private-ipv4'],
  [JSON.stringify({ node: 'ip-172-20-1-5', addr: '172.20.1.5' }), 'private-ipv4'],
  [JSON.stringify({ via: 'http://192.168.1.10/api' }), 'private-ipv4'],
  [asJson('connect ECONNREFUSED 127.0.0.1:5432'), 'loopback-ipv4'],
  [JSON.stringify({ iface: 'fe80::1ff:fe23:4567:890a%eth0' }), 'link-local-ipv6'],
];

/** Ordinary API bodies: none may be reported (with internal IPs on too). */
const BENIGN: readonly unknown[] = [
  { id: 1842, name: 'Ada Lovelace', email: 'ada@example.com', address: { street: '12 Analytical Row', city: 'London', postcode: 'NW1 6XE', country: 'GB' } },
  { id: 'u_93jd', firstName: 'José', lastName: 'Núñez', phone: '+34 600 123 456', addresses: [{ type: 'home', line1: 'Calle Mayor 1', city: 'Madrid' }, { type: 'work', line1: 'Paseo de la Castellana 259', city: 'Madrid' }] },
  { products: [{ sku: 'TSH-001-BLK-M', title: 'T-shirt, black, M', price: 19.99, currency: 'EUR', stock: 120 }, { sku: 'MUG-11OZ', title: 'Mug 11oz', price: 9.5, currency: 'EUR', stock: 0 }], page: 1, pageSize: 2, total: 318 },
  { level: 'error', message: 'Payment failed at checkout: card declined by issuer', at: '2024-05-01T10:00:00Z', requestId: 'req_8fj2k' },
  { level: 'warn', msg: 'Retrying at 10:30 after error in upstream response', attempt: 2 },
  { text: 'Please select a plan from the options below, then select your billing period.' },
  { faq: 'How do I select from multiple accounts? Go to Settings and select "Switch account".' },
  { message: 'Syntax error in your search query near the word AND; try quoting phrases.' },
  { title: 'Exception handling in practice', body: 'The exception: customers over 65 get free delivery at any time.' },
  { commit: 'fix: handle NullPointerException in the CSV parser', author: 'dev@example.com', sha: '9fceb02d0ae598e95dc970b74767f19372d61af8' },
  { dependencies: { sequelize: '^6.35.0', prisma: '^5.7.0', '@prisma/client': '^5.7.0', express: '^4.19.2' } },
  { artifact: 'org.hibernate.orm:hibernate-core:6.4.1.Final', scope: 'compile' },
  { attachments: [{ name: 'report.py', size: 1200 }, { name: 'notes.rb', size: 88 }, { name: 'Main.java', size: 4096 }, { name: 'index.js', size: 512 }] },
  { review: 'See Main.java:12 and app.js:10 for the details; the fix is at line 40.' },
  { script: 'manage.py', args: ['migrate', '--noinput'], cwd: '/srv/app' },
  { url: 'https://example.com/index.php?id=3&lang=en', referrer: 'https://example.org/blog/post.php' },
  { snippet: 'System.out.println(total);', language: 'java' },
  { path: 'C:\\Users\\me\\Documents\\invoice-2024.pdf', size: 20480 },
  { type: 'https://example.com/probs/out-of-credit', title: 'You do not have enough credit.', detail: 'Your current balance is 30, but that costs 50.', instance: '/account/12345/msgs/abc' },
  { errors: [{ message: 'Cannot query field "foo" on type "Query".', locations: [{ line: 1, column: 9 }] }] },
  { error: 'ValidationError', details: [{ path: 'email', message: 'must be a valid email' }, { path: 'age', message: 'must be at least 18' }] },
  { greeting: 'xoxo, see you at the party!', emoji: '🎉' },
  { runtime: 'go1.22.1', goroutines: 42, status: "Don't panic: your data is safe" },
  { order: { id: 'ORD-2024-000123', items: [{ sku: 'ORA-12345-XL', qty: 2 }], status: 'shipped', carrier: 'DHL' } },
  { helpdesk: 'Stack trace: please attach it to the ticket when you report a crash.' },
  { jwt: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c' },
  { certificate: '-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBa\n-----END CERTIFICATE-----' },
  { publicKey: '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----' },
  { ssh: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host' },
  { ip: '203.0.113.7', forwarded: '198.51.100.2', dns: ['8.8.8.8', '1.1.1.1'], notPrivate: '172.15.0.1', alsoPublic: '172.32.4.4', notAnIp: '10.0.0.256' },
  { version: 'v10.0.1', build: '2024.05.01.1432', semver: '1.10.0', ancient: '1.10.0.0.1' },
  { uuid: '3f2504e0-4f89-11d3-9a0c-0305e82c3301', sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
  { weather: { city: 'Oslo', temperature: -3.5, conditions: 'snow', updatedAt: '2024-01-12T07:00:00+01:00' } },
  { flights: [{ number: 'SK1465', from: 'OSL', to: 'CPH', departs: '10:05', gate: 'C12' }, { number: 'LH860', from: 'FRA', to: 'OSL', departs: '12:40', gate: 'A22' }] },
  { recipe: 'Bake at 180°C for 25 minutes; stir at least twice (not more).', servings: 4 },
  { article: 'The goroutine scheduler in Go multiplexes goroutines onto threads; a panic unwinds the stack.' },
  { docs: 'Set DEBUG to false in production. Debug pages show settings.' },
  { message: 'Whoops! Looks like you forgot something in your cart.' },
  { html: '<pre>Cannot GET /api/unknown</pre>' },
  { notice: 'Server error in processing; please retry later.', code: 'E_RETRY' },
  { log: ['GET /health 200 3ms', 'POST /login 401 12ms', 'GET /orders?page=2 200 45ms'] },
  { sql: { tip: 'Use SELECT ... FROM ... WHERE with parameters, never string concatenation.' } },
  { tokens: { ghp: 'ghp_short', sk: 'sk_test_abc', aws: 'AKIA-not-a-key', akiaWord: 'AKIAIOSFODNN7EXAMPLEXX' } },
  { storage: { bucket: 'my-bucket', region: 'us-east-1', key: 'uploads/2024/05/photo.jpg' } },
  { markdown: '## Usage\n\nRun `node server.js` and open http://localhost:3000 in your browser.' },
  { stats: { p50: 10.5, p95: 172.3, p99: 192.8, count: 127 } },
  { coords: { lat: 59.9139, lon: 10.7522 }, bbox: [10.1, 59.8, 10.9, 60.1] },
  { answer: 'Look at the table (rows 1-3) to see what changed.' },
  { quote: 'He said "at last" and left.', path: '/usr/share/doc/readme.txt' },
  { support: 'Call us at (555) 010-0199 or write to help@example.com.' },
  { timeline: [{ at: '09:00', what: 'doors open' }, { at: '10:30', what: 'keynote' }] },
  { schema: { type: 'object', properties: { id: { type: 'integer' } } } },
  { features: ['SSO', 'SCIM', 'Audit log'], plan: 'enterprise', seats: 250 },
  { reply: 'Error: invalid date. Use the format YYYY-MM-DD.' },
  { notes: 'Traceback and stack traces are hidden in production.' },
  { ruby: 'gem install rails; see config/routes.rb for routes' },
  { node: 'Node.js v20.11.1 at https://nodejs.org/dist/v20.11.1/node-v20.11.1.tar.gz' },
];

describe('leak signatures', () => {
  for (const [name, body, kind, signature, ct] of POSITIVES) {
    test(`${name} → ${kind} (${signature})`, () => {
      assert.deepEqual(scan(body, ct ?? 'application/json'), { kind, signature });
    });
  }

  test('internal addresses only when asked for', () => {
    for (const [body, signature] of INTERNAL_IPS) {
      assert.equal(scan(body), undefined, body);
      assert.deepEqual(scan(body, 'application/json', true), { kind: 'internal-ip', signature }, body);
    }
  });

  test('a four-part version string is a dotted quad: reported when internal IPs are on (the documented trade-off)', () => {
    const body = JSON.stringify({ firmware: '10.0.1.2' });
    assert.equal(scan(body), undefined);
    assert.deepEqual(scan(body, 'application/json', true), { kind: 'internal-ip', signature: 'private-ipv4' });
  });

  test('secrets need their exact shape', () => {
    assert.equal(scan(JSON.stringify({ t: githubToken.slice(0, 39) })), undefined, 'too short');
    assert.equal(scan(JSON.stringify({ t: `${githubToken}x` })), undefined, 'too long');
    assert.equal(scan(JSON.stringify({ t: `x${awsKey}` })), undefined, 'inside a word');
    assert.equal(scan(JSON.stringify({ t: awsKey.toLowerCase() })), undefined);
    assert.equal(scan(JSON.stringify({ t: stripeKey.replace('live', 'test') })), undefined, 'test keys are not secrets worth blocking');
  });

  test('binary media types are not scanned; text and unknown types are', () => {
    const key = '-----BEGIN RSA PRIVATE KEY-----\nMIIE';
    assert.equal(scan(key, 'image/png'), undefined);
    assert.equal(scan(key, 'application/zip'), undefined);
    assert.deepEqual(scan(key, undefined), { kind: 'private-key', signature: 'rsa-private-key' });
    assert.deepEqual(scan(key, 'application/octet-stream'), { kind: 'private-key', signature: 'rsa-private-key' });
    assert.equal(scanForLeaks(Buffer.alloc(0), 'text/plain', { internalIps: true }), undefined);
  });

  test('only the first 256 KiB are scanned', () => {
    const pad = ' '.repeat(MAX_SCAN_BYTES);
    assert.equal(scan(`${pad}${JAVA_TRACE}`, 'text/plain'), undefined);
    assert.ok(scan(`${pad.slice(1000)}${JAVA_TRACE}`, 'text/plain'));
  });
});

describe('benign bodies', () => {
  test(`a corpus of ${BENIGN.length} ordinary JSON bodies: nothing found`, () => {
    assert.ok(BENIGN.length >= 50);
    for (const value of BENIGN) {
      const body = JSON.stringify(value);
      assert.equal(scan(body, 'application/json', true), undefined, body);
      assert.equal(scan(JSON.stringify(value, null, 2), 'application/json', true), undefined, body);
    }
  });

  test('scanning 256 KiB of benign JSON costs about what parsing it does (under 20 ms of CPU)', () => {
    const parts: string[] = [];
    let size = 0;
    for (let i = 0; size < MAX_SCAN_BYTES; i++) {
      const s = JSON.stringify(BENIGN[i % BENIGN.length]);
      parts.push(s);
      size += s.length + 1;
    }
    const buf = Buffer.from(`[${parts.join(',')}]`, 'utf8');
    assert.ok(buf.length >= MAX_SCAN_BYTES);
    assert.equal(scanForLeaks(buf, 'application/json', { internalIps: true }), undefined);
    // The baseline: JSON.parse of the same bytes, which the response contract pays anyway.
    const text = buf.toString('utf8');
    assertCheap(() => scanForLeaks(buf, 'application/json', { internalIps: true }), () => JSON.parse(text), { what: '256 KiB benign JSON', ratio: 6, ceilingMs: 20, runs: 7 });
  });
});

describe('pathological input', () => {
  // Each body is 256 KiB of repeated near-misses for one check; all must stay linear.
  const cases: [string, string][] = [
    ['node frames without "at"', '/x.js:1:1'],
    ['java frames without "at"', 'a.b(C.java:1)'],
    ['ruby-ish', '/a.rb:1:in `'],
    ['exception names', 'aaaaaaaaaaException: '],
    ['repeated literals', '-----BEGIN AKIAghp_xoxb-10.172.'],
    ['dotted digits', '10.10.10.10.10.10.'],
    ['php', 'Fatal error .php on line x'],
    ['dotnet', ') in x:line 1'],
    ['python', 'Traceback (most recent call last):File '],
    ['long identifiers', 'a'.repeat(1000)],
  ];
  for (const [name, unit] of cases) {
    test(name, () => {
      const buf = Buffer.from(unit.repeat(Math.ceil(MAX_SCAN_BYTES / unit.length)), 'latin1');
      // The baseline: ordinary prose of the same size.
      const prose = Buffer.from('The order was shipped on time and the customer is happy. '.repeat(Math.ceil(MAX_SCAN_BYTES / 58)), 'latin1');
      assertCheap(() => scanForLeaks(buf, 'text/plain', { internalIps: true }), () => scanForLeaks(prose, 'text/plain', { internalIps: true }), { what: name, ratio: 10, ceilingMs: 100, runs: 3 });
    });
  }
});
