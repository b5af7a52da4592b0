/**
 * Probe sets written apart from the shared corpora (bench/probes/), replayed through the threat
 * engine at the default paranoia: payloads in the styles of public tooling and cheat sheets,
 * evasion techniques, tricky legitimate API values, and whole requests with attacks where API
 * attacks arrive (path, JSON members, GraphQL documents, headers, uploads) and realistic API
 * traffic.
 *
 * Each round was written (2026-12-07) by helper sessions without access to the engine, to find
 * what the corpora do not show; the misses each round found were then fixed by technique (see
 * the commit messages and BENCHMARKS.md), so they are regression sets now, no longer unseen.
 *
 *   round 1
 *   values-attacks.tsv       417 payloads (sqli, xss, cmdi, traversal, ssrf, ssti, nosql, ldap,
 *                            xpath, jndi, crlf, xxe, proto)
 *   values-evasion.tsv       350 payloads using WAF-evasion techniques (sqlmap tampers, XSS filter
 *                            evasion, shell obfuscation, IP encodings …)
 *   values-benign.tsv        415 legitimate values naive WAFs flag (names, prose about code,
 *                            passwords, formulas, paths …)
 *   values-benign-api.tsv    350 legitimate values of JSON/REST traffic (tickets, Q&A titles,
 *                            JQL/SOQL/OData/Lucene filters, logs, recipes, many languages)
 *   requests.jsonl           255 whole requests: 154 attacks, 101 legitimate (87 ordinary, 14
 *                            code pasted into a code-sharing API, `benign-code`)
 *   round 2
 *   values-attacks-2.tsv     450 payloads, a third with evasions (DB-specific SQL, XSS contexts,
 *                            PowerShell/cmd.exe, SSTI for ten engines, Log4j lookups, EL/OGNL …)
 *   values-benign-2.tsv      400 legitimate values (40 languages and scripts, prose about code,
 *                            URLs, paths, formulas)
 *   requests-attacks-2.jsonl 260 attack requests after published CVE exploits, in GraphQL
 *                            documents and variables, JSON Patch, headers, cookies, uploads
 *   requests-benign-2.jsonl  300 legitimate requests of real API shapes (webhooks, search DSLs,
 *                            GraphQL, tickets, CI, FHIR …): 266 ordinary, 34 `benign-code`
 *   round 3
 *   requests-attacks-3.jsonl 220 attack requests in less common placements and formats (SOAP,
 *                            XML, multipart parts, matrix parameters, proxy headers, YAML …)
 *   requests-benign-3.jsonl  300 legitimate requests of verticals and formats (ISO 20022, SOAP
 *                            MTOM, FHIR, HL7, DICOMweb, batch APIs, inbound mail …): 256
 *                            ordinary, 44 `benign-code`
 *   round 4
 *   requests-attacks-4.jsonl 160 attack requests using published WAF-bypass techniques (JSON
 *                            parser differentials, UTF-16/EBCDIC charsets, content-type
 *                            confusion, parameter pollution, encoding layers)
 *   requests-benign-4.jsonl  260 legitimate requests to AI/LLM APIs and developer platforms
 *                            (prompts, tool calls, issues, reviews, alerts): 198 ordinary, 62
 *                            `benign-code`
 *   round 5
 *   requests-benign-5.jsonl  300 legitimate requests as browsers and web front-ends send them to
 *                            ordinary sites (shops, WordPress and other CMS saves, GA4 and other
 *                            analytics beacons, error trackers and CSP reports, logins, SPA
 *                            APIs, uploads, support chats, consent and payment calls, header-
 *                            and cookie-heavy page loads): 284 ordinary, 16 `benign-code`
 *   round 6
 *   requests-attacks-6.jsonl 180 attack requests in the same shapes (payloads in analytics
 *                            beacons, error reports, CSP reports, raw-body uploads, WordPress
 *                            plugin and Drupal exploits, SAML, OAuth, GraphQL, headers, cookies)
 *
 * A request line may carry `x-probe-body-encoding: latin1`: its body is bytes written one
 * Latin-1 character per byte (a UTF-16 or EBCDIC body), and the header is not sent.
 *
 * A `.tsv` line is `category<TAB>value`; a category ending in `[nl]` has `\n`/`\r` written as
 * two characters. Each value is sent as a query parameter, a JSON string member and a form
 * field; an attack counts as refused when all three placements are, a legitimate value as
 * refused when any is. A whole request counts as refused when the engine refuses it or when
 * the gateway refuses its path before any stage (routing/path.ts: dot-segments, encoded
 * slashes), as the product does.
 *
 * Every `values-*.tsv` and `requests*.jsonl` of the folder is read (`--dir` for another folder).
 *
 * Usage (after `npm run build`): node dist/bench/probes.js [--paranoia N] [--list] [--dir D]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ThreatEngine } from '../src/threats/engine.js';
import { DETECTORS } from '../src/threats/detectors/index.js';
import { checkPath } from '../src/routing/path.js';
import type { Paranoia, RawRequest } from '../src/threats/types.js';
import { repoRoot } from './lib.js';

const DIR = join(repoRoot, 'bench', 'probes');

interface ProbeRequest {
  label: 'attack' | 'benign';
  category: string;
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body: string;
}

interface Tally {
  n: number;
  refused: number;
}

function main(): void {
  const { values } = parseArgs({ options: { paranoia: { type: 'string', default: '1' }, list: { type: 'boolean', default: false }, dir: { type: 'string', default: DIR } } });
  const dir = values.dir;
  const files = readdirSync(dir).sort();
  const valueFiles = files.filter((f) => f.startsWith('values-') && f.endsWith('.tsv'));
  const requestFiles = files.filter((f) => f.startsWith('requests') && f.endsWith('.jsonl'));
  const perFile = new Map<string, { attacks: Tally; benign: Tally }>();
  const count = (file: string, benign: boolean, refused: boolean) => {
    const f = perFile.get(file) ?? { attacks: { n: 0, refused: 0 }, benign: { n: 0, refused: 0 } };
    perFile.set(file, f);
    const t = benign ? f.benign : f.attacks;
    t.n++;
    if (refused) t.refused++;
  };
  const paranoia = Number(values.paranoia) as Paranoia;
  const engine = new ThreatEngine({ detectors: DETECTORS, paranoia });
  const wrong: string[] = [];
  const rows: string[] = [];
  const totals = { attacks: { n: 0, refused: 0 }, benign: { n: 0, refused: 0 } };

  for (const file of valueFiles) {
    const per = new Map<string, Tally>();
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      const tab = line.indexOf('\t');
      if (tab < 0) continue;
      let category = line.slice(0, tab);
      let value = line.slice(tab + 1);
      if (category.endsWith('[nl]')) {
        category = category.slice(0, -4);
        value = value.replaceAll('\\n', '\n').replaceAll('\\r', '\r');
      }
      const benign = category === 'benign';
      const placements: RawRequest[] = [
        { method: 'GET', rawPath: '/search', rawQuery: 'q=' + encodeURIComponent(value), headers: { host: 'api.example.com' }, body: undefined },
        { method: 'POST', rawPath: '/items', rawQuery: '', headers: { host: 'api.example.com', 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ q: value })) },
        { method: 'POST', rawPath: '/items', rawQuery: '', headers: { host: 'api.example.com', 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from('q=' + encodeURIComponent(value)) },
      ];
      const blocked = placements.map((r) => engine.inspect(r).block);
      const refused = benign ? blocked.some(Boolean) : blocked.every(Boolean);
      const t = per.get(category) ?? { n: 0, refused: 0 };
      t.n++;
      if (refused) t.refused++;
      per.set(category, t);
      const total = benign ? totals.benign : totals.attacks;
      total.n++;
      if (refused) total.refused++;
      count(file, benign, refused);
      if (benign === refused) wrong.push(`${file}\t${category}\t${blocked.map((b) => (b ? 'R' : '-')).join('')}\t${JSON.stringify(value)}`);
    }
    for (const [category, t] of per) rows.push(`| ${file} | ${category} | ${t.n} | ${t.refused} | ${pct(t)} |`);
  }

  for (const file of requestFiles) {
  const per = new Map<string, Tally>();
  for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const p = JSON.parse(line) as ProbeRequest;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(p.headers)) headers[k.toLowerCase()] = v;
    // bytes that are no UTF-8 text (UTF-16, EBCDIC bodies) are written one Latin-1 character per byte
    const encoding = headers['x-probe-body-encoding'] === 'latin1' ? 'latin1' : 'utf8';
    delete headers['x-probe-body-encoding'];
    const inspected = engine.inspect({ method: p.method, rawPath: p.path, rawQuery: p.query, headers, body: p.body === '' ? undefined : Buffer.from(p.body, encoding) });
    const pathVerdict = checkPath(p.path);
    const v = pathVerdict === 'ok' ? inspected : { block: true, findings: [{ detector: `gateway.path-${pathVerdict}`, location: 'path', name: '' }, ...inspected.findings] };
    const key = `${p.label}/${p.category}`;
    const t = per.get(key) ?? { n: 0, refused: 0 };
    t.n++;
    if (v.block) t.refused++;
    per.set(key, t);
    if (p.label !== 'benign' || p.category === 'benign') {
      const total = p.label === 'benign' ? totals.benign : totals.attacks;
      total.n++;
      if (v.block) total.refused++;
      count(file, p.label === 'benign', v.block);
    }
    if ((p.label === 'attack') !== v.block) {
      wrong.push(`${file}\t${key}\t${v.block ? 'R' : '-'}\t${p.method} ${p.path}${p.query === '' ? '' : '?' + p.query}\t${v.findings.map((f) => `${f.detector}@${f.location}:${f.name}`).join(',')}`);
    }
  }
  for (const [key, t] of [...per].sort()) rows.push(`| ${file} | ${key} | ${t.n} | ${t.refused} | ${pct(t)} |`);
  }

  console.log(`probe sets (bench/probes), paranoia ${paranoia}`);
  console.log('| file | category | values | refused | refused % |');
  console.log('|---|---|---:|---:|---:|');
  for (const r of rows) console.log(r);
  for (const [file, t] of perFile) {
    const parts = [t.attacks.n > 0 ? `attacks refused ${t.attacks.refused} of ${t.attacks.n} (${pct(t.attacks)})` : '', t.benign.n > 0 ? `legitimate refused ${t.benign.refused} of ${t.benign.n} (${pct(t.benign)})` : ''];
    console.log(`${file}: ${parts.filter((x) => x !== '').join('; ')}`);
  }
  console.log(`attacks refused: ${totals.attacks.refused} of ${totals.attacks.n} (${pct(totals.attacks)}); legitimate refused: ${totals.benign.refused} of ${totals.benign.n} (${pct(totals.benign)}), code pasted into a code-sharing API not counted`);
  if (values.list) for (const w of wrong) console.log(w);
}

function pct(t: Tally): string {
  return t.n === 0 ? '–' : `${((100 * t.refused) / t.n).toFixed(1)}%`;
}

main();
