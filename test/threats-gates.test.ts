/**
 * The engine's fast paths change no verdict: the detector gates (detectors/index.ts select, a
 * mirror of each detector's first reject over the value's facts), the memory of clean header
 * values and paths (clean-values.ts), and the in-place inspection of JSON strings. An engine
 * with them and one without (gates off, no memory) must give the same findings for the shared
 * corpora, for ordinary requests, and for values generated from the detectors' own
 * vocabularies in the shapes of ordinary values (e-mails, dotted words, hosts, ids, commands as
 * first words, base64). A gate that is too tight fails here with the request and the lost
 * finding.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { loadCrs, loadCsic, loadHttpParams, toRawRequest, type CorpusRequest } from '../bench/corpora.js';
import { ORDINARY_REQUESTS } from '../bench/ordinary-requests.js';
import { VOCAB_NAMES } from '../src/threats/detectors/cmdi.js';
import { DOTNET_DANGER, GADGETS, JAVA_PACKAGES } from '../src/threats/detectors/code.js';
import { BARE_WORDS } from '../src/threats/detectors/sqli.js';
import { DOM_WORDS } from '../src/threats/detectors/xss.js';
import { prng } from './helpers.js';
import { skipKey, type SkipSet, type ThreatOptions } from '../src/threats/engine.js';
import { DETECTORS, ThreatEngine } from '../src/threats/index.js';
import type { RawRequest, ThreatVerdict } from '../src/threats/types.js';

const CORPORA = resolve('..', 'shared', 'corpora');

function show(v: ThreatVerdict): string {
  return `${v.score} ${v.block} ` + v.findings.map((f) => `${f.detector}@${f.location}:${f.name}=${f.excerpt}`).join(' ');
}

function findings(engine: ThreatEngine, r: RawRequest): string {
  return show(engine.inspect(r));
}

/** The engine as deployed, and the reference without any fast path. */
function engines(options: Partial<ThreatOptions> = {}): { fast: ThreatEngine; full: ThreatEngine } {
  const fast = new ThreatEngine({ ...options, detectors: DETECTORS, paranoia: 1 });
  const full = new ThreatEngine({ ...options, detectors: DETECTORS, paranoia: 1, gates: false, headerMemory: 0 });
  assert.ok(fast.gated && !full.gated);
  return { fast, full };
}

function compare(
  requests: Iterable<readonly [string, RawRequest]>,
  options: Partial<ThreatOptions> = {},
  skipOf: (r: RawRequest) => SkipSet | undefined = () => undefined,
): { differ: string[]; total: number; withFindings: number; detectors: Set<string> } {
  const { fast, full } = engines(options);
  const differ: string[] = [];
  const detectors = new Set<string>();
  let total = 0;
  let withFindings = 0;
  for (const [id, r] of requests) {
    total++;
    const skip = skipOf(r);
    const a = show(fast.inspect(r, skip));
    const v = full.inspect(r, skip);
    const b = show(v);
    if (a !== b) differ.push(`${id}: with fast paths [${a}] without [${b}]`);
    if (v.findings.length > 0) withFindings++;
    for (const f of v.findings) detectors.add(f.detector);
  }
  return { differ, total, withFindings, detectors };
}

describe('fast paths change no verdict', () => {
  test('shared corpora (paranoia 1)', (t) => {
    if (!existsSync(CORPORA)) {
      t.skip(`corpora not found at ${CORPORA}`);
      return;
    }
    const requests: CorpusRequest[] = [
      ...loadCrs(join(CORPORA, 'coreruleset-tests')),
      // Every HttpParams value once (the JSON placement reaches every detector as a body string)
      ...loadHttpParams(join(CORPORA, 'httpparams', 'payload_train.csv')).filter((r) => r.category.endsWith('/json')),
      // A third of CSIC: its requests are very alike
      ...loadCsic(join(CORPORA, 'csic2010', 'normalTrafficTraining.txt')).filter((_, i) => i % 3 === 0),
    ];
    const r = compare(requests.map((q) => [`${q.corpus} ${q.id}`, toRawRequest(q)] as const));
    assert.deepEqual(r.differ.slice(0, 20), [], `${r.differ.length} requests differ`);
  });

  test('ordinary requests: nothing found, with or without fast paths', () => {
    const { fast, full } = engines();
    for (const [name, req] of Object.entries(ORDINARY_REQUESTS)) {
      // Twice: the second time header values and paths come from the memory.
      for (let i = 0; i < 2; i++) {
        assert.equal(findings(fast, req), '0 false ', name);
        assert.equal(findings(full, req), '0 false ', name);
      }
    }
  });

  test('values generated from the detectors vocabularies, in the shapes of ordinary values', (t) => {
    const r = compare(generated(2500, 20260101));
    assert.deepEqual(r.differ.slice(0, 10), [], `${r.differ.length} of ${r.total} requests differ`);
    // The generated values must reach the detectors: many findings, of many kinds.
    assert.ok(r.withFindings > r.total / 10, `only ${r.withFindings} of ${r.total} requests have findings`);
    assert.ok(r.detectors.size >= 25, `only ${r.detectors.size} detectors fired: ${[...r.detectors].join(' ')}`);
    t.diagnostic(`${r.total} generated requests, ${r.withFindings} with findings from ${r.detectors.size} detectors`);
  });

  test('with exclusions and type-aware skipping, which name inputs by JSON pointer', () => {
    // Half the members of each JSON body proven harmless, as the contract stage would record them.
    const skipOf = (r: RawRequest): SkipSet | undefined => {
      if (r.body === undefined || r.headers['content-type'] !== 'application/json') return undefined;
      const set = new Set<string>();
      let k = 0;
      const walk = (v: unknown, pointer: string): void => {
        if (v !== null && typeof v === 'object') for (const [key, x] of Object.entries(v)) walk(x, `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`);
        else if (k++ % 2 === 0) set.add(skipKey('body', pointer));
      };
      walk(JSON.parse(r.body.toString('utf8')), '');
      return set;
    };
    const exclusions = [{ detectors: ['xss'], locations: ['body:/note*', 'query:q'] }, { detectors: ['sqli.catalog'], locations: [] }];
    // Upload names read by the code detector through the pointer (`/upload/filename`).
    const uploads = ['{"upload":{"filename":"shell.php"}}', '{"filename":"avatar.phtml"}', '{"a":[{"file_name":"x.php5"}]}'].map(
      (b, i) => [`upload ${i}`, { method: 'POST', rawPath: '/u', rawQuery: '', headers: { 'content-type': 'application/json' }, body: Buffer.from(b) }] as const,
    );
    const u = compare(uploads, { exclusions });
    assert.deepEqual(u.differ, []);
    assert.ok(u.detectors.has('code.script-upload'), [...u.detectors].join(' '));
    const r = compare(generated(800, 7), { exclusions }, skipOf);
    assert.deepEqual(r.differ.slice(0, 10), [], `${r.differ.length} of ${r.total} requests differ`);
    assert.ok(r.withFindings > r.total / 10, `only ${r.withFindings} of ${r.total} requests have findings`);
  });
});

// ---------------------------------------------------------------------------------------------
// Generated requests


/** Literals the gates look for, from detectors/index.ts (the rest come from the detectors' exports). */
const GATE_WORDS = [
  'localhost', 'loopback', 'metadata', '__proto__', 'constructor', 'prototype', '<%', '[[', '[=', '@(', '__', 'getclass', 't(java',
  '.getruntime', '!doctype', '!entity', 'xi:include', 'xinclude', ' http/', 'this.', 'db.', 'ro0ab', 'aaeaaad/////', 'aced0005',
  '__js_function', 'class.module.classloader', '.protectiondomain.', '<?', 'php]', ':{', '@{', 'constructor:constructor', '!!',
  '!ruby/', '#_memberaccess', '@ognl.', '#context[', '%{', '__import__', 'process.', 'mainmodule', 'child_process.', 'java.lang.',
  'runtime', 'processbuilder', '0x2e', '0x2f', 'web-inf', '\\29', '::', 'sysobjects', 'union', 'select', 'whoami', 'id', 'ls',
];
const VOCABULARY = [...BARE_WORDS.map((w) => w.trim()), ...DOM_WORDS, ...VOCAB_NAMES, ...GADGETS, ...JAVA_PACKAGES, ...DOTNET_DANGER, ...GATE_WORDS];
const PROSE = 'the a of and to in is it at for on with as by from order update select group drop file date time users name note kettle London Ada Lovelace fragile desk'.split(' ');
/** Punctuation of ordinary values first (more often), then the rest. */
const SEPARATORS = [' ', ' ', ' ', '.', '.', '-', '_', '@', ',', '+', '!', '?', '~', '', '', ':', '/', '\\', ';', '(', ')', "'", '"', '=', '&', '|', '$', '{', '#', '*', '<', '[', '%', '\t'];
const PAYLOADS = [
  'python3.10', 'gcc10', 'whoami.exe', 'cmd.exe', '~+', '!-1', '+whoami', '.htaccess', '.env', 'web.config', 'passwd', '..', 'x.php', 'rO0ABXNy',
  '${jndi:ldap://x/a}', '${${lower:j}ndi:', '${env:HOME}', '$ne', '$gt', '$where', 'this.password', 'db.users.find', '1==1', 'sleep(5)',
  '..etc..passwd', '..windows..win.ini', 'WEB-INF.web.xml', 'shell.php', 'avatar.phtml',
];
/** Member names that are not plain identifiers (those reach every family, with or without gates). */
const NAMES = ['$ne', '$gt', '$where', '$regex', 'user[$ne]', 'a.$where', 'constructor.prototype', '__proto__.x', 'a[__proto__]', 'file name', 'q x', 'filename', 'profile'];

function generated(count: number, seed: number): Iterable<readonly [string, RawRequest]> {
  const rnd = prng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const word = (): string => {
    const r = rnd();
    let w = r < 0.45 ? pick(VOCABULARY) : r < 0.75 ? pick(PROSE) : r < 0.85 ? String(Math.floor(rnd() * 1e6)) : r < 0.93 ? pick(PAYLOADS) : Buffer.from(pick(VOCABULARY) + pick(SEPARATORS) + pick(VOCABULARY)).toString(rnd() < 0.5 ? 'base64' : 'base64url');
    const c = rnd();
    if (c < 0.15) w = w.toUpperCase();
    else if (c < 0.3) w = w.charAt(0).toUpperCase() + w.slice(1);
    return w;
  };
  const value = (mild: boolean): string => {
    const k = 1 + Math.floor(rnd() * 4);
    let v = rnd() < 0.1 ? pick(SEPARATORS) : '';
    for (let i = 0; i < k; i++) v += (i > 0 ? (mild ? pick(SEPARATORS.slice(0, 13)) : pick(SEPARATORS)) : '') + word();
    return v;
  };
  const out: (readonly [string, RawRequest])[] = [];
  for (let i = 0; i < count; i++) {
    // Half the values only use the punctuation of ordinary values (letters, digits, space . - _ @ , + ! ? ~).
    const mild = rnd() < 0.5;
    const body: Record<string, unknown> = {};
    // Plain identifier names reach only code, NoSQL and prototype pollution (a policy, not a gate): names here are prose.
    for (let j = 0; j < 3; j++) body[rnd() < 0.2 ? pick(NAMES) : pick(PROSE) + ' ' + j] = rnd() < 0.2 ? [value(mild), { [pick(NAMES)]: value(mild) }] : value(mild);
    // Members below prototype-ish members: the pointer names them (`/__proto__/isAdmin`).
    if (rnd() < 0.1) {
      // defineProperty: an assignment to `__proto__` would set the prototype instead of a member.
      Object.defineProperty(body, pick(['__proto__', 'constructor', 'prototype']), { value: { [pick(['isAdmin', 'polluted', 'prototype', 'x'])]: value(true) }, enumerable: true });
    }
    const headers: Record<string, string> = {
      // A few header values repeat: the memory of clean values answers for them.
      'user-agent': rnd() < 0.5 ? pick(['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36', 'curl/8.5.0', 'okhttp/4.12']) : value(mild),
      'x-note': value(mild).replace(/[\r\n]/g, ' '),
    };
    const kind = rnd();
    let payload: Buffer | undefined;
    if (kind < 0.6) {
      headers['content-type'] = 'application/json';
      payload = Buffer.from(JSON.stringify(body));
    } else if (kind < 0.85) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      payload = Buffer.from(Object.entries(body).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&'));
    }
    const segment = encodeURIComponent(value(mild)).replace(/%2F/g, '/');
    const query = `q=${encodeURIComponent(value(mild))}&page=${i}`;
    out.push([`generated ${i}`, { method: 'POST', rawPath: `/api/${rnd() < 0.5 ? 'items' : segment}`, rawQuery: query, headers, body: payload }]);
  }
  return out;
}
