/**
 * The corpus loaders of the detection benchmark (bench/corpora.ts): small inline fixtures for
 * each format's quirks, and one check of the real corpora in ../shared/corpora when present.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  crsStagesFromYaml,
  csicFromText,
  goQueryEscape,
  httpParamsFromCsv,
  loadCrs,
  loadCsic,
  loadHttpParams,
  parseCsv,
  parseRawRequest,
  serializeRequest,
} from '../bench/corpora.js';
import type { CorpusRequest } from '../bench/corpora.js';

const header = (r: CorpusRequest, name: string): string | undefined => r.headers.find(([n]) => n.toLowerCase() === name)?.[1];

const FTW_YAML = `---
meta:
  author: "test"
rule_id: 942100
tests:
  - test_id: 1
    desc: form body, autocompleted
    stages:
      - input:
          dest_addr: 127.0.0.1
          headers:
            Host: localhost
            User-Agent: "OWASP CRS test agent"
          method: POST
          port: 80
          uri: "/post"
          data: "var=1234 OR 1=1"
          version: HTTP/1.1
        output:
          log:
            expect_ids: [942100]
  - test_id: 2
    desc: near miss
    stages:
      - input:
          headers:
            Host: localhost
          uri: "/get?x=select%20a%20plan"
        output:
          log:
            no_expect_ids: [942100]
  - test_id: 3
    desc: encoded request wins over everything else
    stages:
      - input:
          uri: "/ignored"
          encoded_request: "R0VUIC8gSFRUUC8xLjANCkhvc3Q6DQoN\\nCg=="
        output:
          log:
            expect_ids: [920290]
  - test_id: 4
    desc: data as a list of lines, autocomplete off, old version
    stages:
      - input:
          method: PUT
          version: HTTP/1.0
          autocomplete_headers: false
          headers:
            Host: localhost
            Content-Type: text/plain
          data:
            - first line
            - second line
        output:
          status: 403
  - test_id: 5
    desc: two stages, the second multipart with a repeat template
    stages:
      - input:
          uri: /a
        output:
          status: 200
      - input:
          method: POST
          uri: /upload
          headers:
            Host: localhost
            Content-Type: "multipart/form-data; boundary=XX"
          data: |
            --XX
            Content-Disposition: form-data; name="f"

            {{ "ab" | repeat 3 }}
            --XX--
        output:
          log:
            match_regex: 'id "922'
`;

test('loadCrs rules on a go-ftw YAML fixture', () => {
  const stages = crsStagesFromYaml(FTW_YAML, '942');
  assert.deepEqual(
    stages.map((s) => s.id),
    ['942100-1-1', '942100-2-1', '942100-3-1', '942100-4-1', '942100-5-1', '942100-5-2'],
  );
  assert.ok(stages.every((s) => s.corpus === 'crs' && s.category === '942' && s.raw !== undefined));
  const [form, near, encoded, list, plain, multipart] = stages as [CorpusRequest, CorpusRequest, CorpusRequest, CorpusRequest, CorpusRequest, CorpusRequest];

  // expect_ids: an attack; the form body is URL-encoded as go-ftw does, and headers completed.
  assert.equal(form.attack, true);
  assert.equal(form.nearMiss, undefined);
  assert.equal(form.method, 'POST');
  assert.equal(form.path, '/post');
  assert.equal(form.body?.toString(), 'var=1234+OR+1%3D1');
  assert.equal(header(form, 'content-type'), 'application/x-www-form-urlencoded');
  assert.equal(header(form, 'content-length'), String('var=1234+OR+1%3D1'.length));
  assert.equal(header(form, 'connection'), 'close');
  assert.ok(form.raw!.toString('latin1').startsWith('POST /post HTTP/1.1\r\nHost: localhost\r\n'));
  assert.ok(form.raw!.toString('latin1').endsWith('\r\n\r\nvar=1234+OR+1%3D1'));

  // no_expect_ids only: a near miss, not an attack; defaults GET and no body, no Content-Length.
  assert.equal(near.attack, false);
  assert.equal(near.nearMiss, true);
  assert.equal(near.method, 'GET');
  assert.equal(near.path, '/get?x=select%20a%20plan');
  assert.equal(near.body, undefined);
  assert.equal(header(near, 'content-length'), undefined);

  // encoded_request: the decoded bytes exactly (base64 with a newline in it), other fields ignored.
  assert.equal(encoded.raw!.toString('latin1'), 'GET / HTTP/1.0\r\nHost:\r\n\r\n');
  assert.equal(encoded.path, '/');
  assert.deepEqual(encoded.headers, [['Host', '']]);
  assert.equal(encoded.attack, true);

  // data as a list: lines joined with CRLF; autocomplete off: no Content-Length, no Connection,
  // no encoding; the version is kept; an error status makes it an attack.
  assert.equal(list.raw!.toString('latin1'), 'PUT / HTTP/1.0\r\nHost: localhost\r\nContent-Type: text/plain\r\n\r\nfirst line\r\nsecond line');
  assert.equal(header(list, 'content-length'), undefined);
  assert.equal(list.attack, true);

  // status 200 only: benign, not a near miss.
  assert.equal(plain.attack, false);
  assert.equal(plain.nearMiss, undefined);

  // multipart: LF → CRLF, the repeat template expanded, Content-Length computed; match_regex is an attack.
  const expected = '--XX\r\nContent-Disposition: form-data; name="f"\r\n\r\nababab\r\n--XX--\r\n';
  assert.equal(multipart.body?.toString('latin1'), expected);
  assert.equal(header(multipart, 'content-length'), String(expected.length));
  assert.equal(multipart.attack, true);
});

test('loadCrs reads REQUEST folders only, 999 stages are benign, empty files are skipped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-corpora-'));
  writeFileSync(join(dir, 'LICENSE'), 'x');
  for (const folder of ['REQUEST-942-APPLICATION-ATTACK-SQLI', 'REQUEST-999-COMMON-EXCEPTIONS-AFTER', 'RESPONSE-951-DATA-LEAKAGES-SQL']) mkdirSync(join(dir, folder));
  writeFileSync(join(dir, 'REQUEST-942-APPLICATION-ATTACK-SQLI', '942100.yaml'), FTW_YAML);
  writeFileSync(join(dir, 'REQUEST-942-APPLICATION-ATTACK-SQLI', '942999.yaml'), '# only a comment\n');
  writeFileSync(
    join(dir, 'REQUEST-999-COMMON-EXCEPTIONS-AFTER', '999999.yml'),
    'rule_id: 999999\ntests:\n  - test_id: 1\n    stages:\n      - input: { uri: "/", headers: { Host: localhost } }\n        output: { log: { no_match_regex: "x" } }\n',
  );
  writeFileSync(join(dir, 'RESPONSE-951-DATA-LEAKAGES-SQL', '951100.yaml'), FTW_YAML);
  const all = loadCrs(dir);
  assert.equal(all.length, 7);
  assert.deepEqual([...new Set(all.map((r) => r.category))], ['942', '999']);
  const benign = all.find((r) => r.category === '999')!;
  assert.equal(benign.id, '999999-1-1');
  assert.equal(benign.attack, false);
  assert.equal(benign.nearMiss, undefined);
});

test('goQueryEscape matches Go url.QueryEscape', () => {
  assert.equal(goQueryEscape("a b&c=d/é'~-_."), "a+b%26c%3Dd%2F%C3%A9%27~-_.");
});

test('loadHttpParams: quoted commas and quotes, three placements each', () => {
  const csv =
    '"payload","length","attack_type","label"\r\n' +
    '"campello, el","12","norm","norm"\r\n' +
    '"<script a="">"" id=xss>","25","xss","anom"\r\n' +
    '"1\' or \'1\'=\'1","11","sqli","anom"\r\n';
  assert.deepEqual(parseCsv(csv)[2], ['<script a=">" id=xss>', '25', 'xss', 'anom']);
  const reqs = httpParamsFromCsv(csv);
  assert.equal(reqs.length, 9);
  assert.deepEqual(
    reqs.map((r) => `${r.id} ${r.category} ${r.attack}`),
    [
      '1-query norm/query false',
      '1-form norm/form false',
      '1-json norm/json false',
      '2-query xss/query true',
      '2-form xss/form true',
      '2-json xss/json true',
      '3-query sqli/query true',
      '3-form sqli/form true',
      '3-json sqli/json true',
    ],
  );
  const [q, f, j] = reqs as [CorpusRequest, CorpusRequest, CorpusRequest];
  assert.equal(q.method, 'GET');
  assert.equal(q.path, '/search?q=campello%2C%20el');
  assert.equal(q.body, undefined);
  assert.equal(f.method, 'POST');
  assert.equal(f.path, '/search');
  assert.equal(header(f, 'content-type'), 'application/x-www-form-urlencoded');
  assert.equal(f.body?.toString(), 'q=campello%2C%20el');
  assert.equal(header(j, 'content-type'), 'application/json');
  assert.deepEqual(JSON.parse(reqs[5]!.body!.toString()), { q: '<script a=">" id=xss>' });
  assert.equal(header(j, 'content-length'), String(j.body!.length));
});

test('parseCsv: line breaks inside quotes, LF rows, no final newline', () => {
  assert.deepEqual(parseCsv('a,"b\nc",d\n"x""y",,z'), [
    ['a', 'b\nc', 'd'],
    ['x"y', '', 'z'],
  ]);
});

const CSIC =
  'GET http://localhost:8080/tienda1/publico/anadir.jsp?id=3&B1=A%F1adir+al+carrito HTTP/1.1\r\n' +
  'User-Agent: Mozilla/5.0 (compatible; Konqueror/3.5; Linux) KHTML/3.5.8 (like Gecko)\r\n' +
  'Accept-Charset: utf-8, utf-8;q=0.5, *;q=0.5\r\n' +
  'Host: localhost:8080\r\n' +
  'Cookie: JSESSIONID=1F767F17239C9B670A39E9B10C3825F4\r\n' +
  'Connection: close\r\n' +
  '\r\n' +
  '\r\n' +
  'POST http://localhost:8080/tienda1/publico/autenticar.jsp HTTP/1.1\r\n' +
  'Host: localhost:8080\r\n' +
  'Cookie: JSESSIONID=933185092E0B668B90676E0A2B0767AF\r\n' +
  'Content-Type: application/x-www-form-urlencoded\r\n' +
  'Connection: close\r\n' +
  'Content-Length: 39\r\n' +
  '\r\n' +
  'modo=entrar&login=choong&pwd=d1se3ci%F3\r\n' +
  '\r\n';

test('loadCsic: requests split on blank lines, POST bodies by Content-Length, origin form', () => {
  const reqs = csicFromText(CSIC);
  assert.equal(reqs.length, 2);
  const [get, post] = reqs as [CorpusRequest, CorpusRequest];
  assert.equal(get.id, '1');
  assert.equal(get.category, 'normal');
  assert.equal(get.attack, false);
  assert.equal(get.method, 'GET');
  assert.equal(get.path, '/tienda1/publico/anadir.jsp?id=3&B1=A%F1adir+al+carrito');
  assert.equal(header(get, 'accept-charset'), 'utf-8, utf-8;q=0.5, *;q=0.5');
  assert.equal(header(get, 'cookie'), 'JSESSIONID=1F767F17239C9B670A39E9B10C3825F4');
  assert.equal(get.body, undefined);
  assert.equal(post.id, '2');
  assert.equal(post.method, 'POST');
  assert.equal(post.path, '/tienda1/publico/autenticar.jsp');
  assert.equal(post.body?.toString('latin1'), 'modo=entrar&login=choong&pwd=d1se3ci%F3');
  assert.equal(header(post, 'content-length'), '39');
  // On the wire: one request per connection, the body after the head.
  const wire = serializeRequest(post).toString('latin1');
  assert.ok(wire.startsWith('POST /tienda1/publico/autenticar.jsp HTTP/1.1\r\nHost: localhost:8080\r\n'));
  assert.ok(wire.endsWith('Connection: close\r\n\r\nmodo=entrar&login=choong&pwd=d1se3ci%F3'));
  assert.equal(wire.match(/connection:/gi)?.length, 1);
  const back = parseRawRequest(serializeRequest(post));
  assert.equal(back.body.toString('latin1'), post.body!.toString('latin1'));
});

test('parseRawRequest: chunked bodies, LF-only heads, garbage', () => {
  const chunked = parseRawRequest(Buffer.from('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nHi \r\n3\r\nCRS\r\n0\r\n\r\n'));
  assert.equal(chunked.body.toString(), 'Hi CRS');
  const lf = parseRawRequest(Buffer.from('GET /x?y=1 HTTP/1.0\nHost: a\n\nbody'));
  assert.deepEqual([lf.method, lf.path, lf.version, lf.headers, lf.body.toString()], ['GET', '/x?y=1', 'HTTP/1.0', [['Host', 'a']], 'body']);
  const junk = parseRawRequest(Buffer.from('\x00\x01'));
  assert.equal(junk.body.length, 0);
});

/** The repository root (a checkout holds package.json and bench/), or the cwd. */
function corporaDir(): string | undefined {
  const candidates: string[] = [];
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bench'))) candidates.push(dir);
    if (dirname(dir) === dir) break;
  }
  candidates.push(process.cwd());
  for (const root of candidates) {
    const dir = join(root, '..', 'shared', 'corpora');
    if (existsSync(join(dir, 'coreruleset-tests'))) return dir;
  }
  return undefined;
}

test('the real corpora load with plausible counts', (t) => {
  const dir = corporaDir();
  if (dir === undefined) {
    t.skip(`corpora not found at ../shared/corpora (relative to the repository root or ${process.cwd()})`);
    return;
  }
  const crs = loadCrs(join(dir, 'coreruleset-tests'));
  assert.ok(crs.length >= 4000, `CRS stages: ${crs.length}`);
  assert.ok(crs.every((r) => r.raw !== undefined && /^\d{3}$/.test(r.category)));
  const families = new Set(crs.map((r) => r.category));
  for (const f of ['930', '931', '932', '933', '934', '941', '942', '944', '999']) assert.ok(families.has(f), `family ${f}`);
  const barAttacks = crs.filter((r) => r.attack && ['930', '931', '932', '933', '934', '941', '942', '944'].includes(r.category));
  assert.ok(barAttacks.length >= 2500, `CRS bar attack stages: ${barAttacks.length}`);
  assert.ok(crs.some((r) => r.nearMiss === true));
  assert.ok(crs.filter((r) => r.category === '999').every((r) => !r.attack && r.nearMiss === undefined));
  assert.equal(new Set(crs.map((r) => r.id)).size, crs.length, 'CRS ids are unique');

  const csvFile = join(dir, 'httpparams', 'payload_train.csv');
  const rows = readFileSync(csvFile, 'utf8').split(/\r?\n/).filter((l) => l !== '').length - 1;
  const hp = loadHttpParams(csvFile);
  assert.equal(hp.length, rows * 3);
  assert.ok(rows >= 20000, `HttpParams rows: ${rows}`);
  assert.ok(hp.some((r) => r.attack) && hp.some((r) => !r.attack));

  const csic = loadCsic(join(dir, 'csic2010', 'normalTrafficTraining.txt'));
  assert.equal(csic.length, 36000);
  assert.ok(csic.every((r) => r.path.startsWith('/') && !r.attack));
  const posts = csic.filter((r) => r.method === 'POST');
  assert.ok(posts.length > 0 && posts.every((r) => r.body !== undefined && String(r.body.length) === header(r, 'content-length')));
});
