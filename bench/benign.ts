/**
 * Independent benign check: legitimate text that is NOT one of the shared corpora, fed through
 * the threat engine at the default paranoia, to count false positives. The detectors are tuned
 * with the shared corpora; this is the check that a new rule does not fire on ordinary API
 * traffic written by people (prose, product names, URLs, markdown, examples in API documents).
 *
 * Sources, all read from the installed dependencies (reproducible after `npm ci`, no network):
 *
 *   oas         every string value and member name of the OpenAPI example documents in
 *               node_modules/@readme/oas-examples (descriptions in markdown, examples, enums …)
 *   package     `description` and each of `keywords` of every node_modules package.json
 *   prose       README paragraphs of every node_modules package (markdown outside code fences;
 *               many mention SQL, shell, HTML or paths in ordinary text)
 *   messages    TypeScript's compiler messages in its 13 translations (typescript/lib/<lang>/
 *               diagnosticMessages.generated.json): short sentences in many languages and
 *               scripts, full of quoted names, options (--strict) and code fragments
 *   jsdoc       the documentation comments of TypeScript's lib.*.d.ts (prose about JavaScript
 *               APIs: eval, setTimeout, innerHTML, regular expressions, URLs …)
 *   code        the code blocks of those READMEs (fenced ``` blocks), reported apart: a code
 *               snippet in a comment field is legitimate traffic too, but some are real shell
 *               commands or HTML with script, which a detector is right to notice
 *
 * Each value is sent as a JSON string member (`{"text": value}`) and as a query parameter
 * (`?text=<percent-encoded value>`); a value counts as refused when either placement is.
 *
 * Usage (after `npm run build`, from the repository root):
 *
 *   node dist/bench/benign.js                 # summary per source
 *   node dist/bench/benign.js --list FILE     # also every refused value with its findings
 *   node dist/bench/benign.js --paranoia 2
 *   node dist/bench/benign.js --debian        # also Debian's package descriptions (apt-cache), apart
 *
 * Values shorter than 3 characters and duplicates are skipped; paragraphs are cut at 4 KiB.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ThreatEngine } from '../src/threats/engine.js';
import { DETECTORS } from '../src/threats/detectors/index.js';
import type { Paranoia, ThreatVerdict } from '../src/threats/types.js';
import { repoRoot } from './lib.js';

type Source = 'oas' | 'package' | 'prose' | 'messages' | 'jsdoc' | 'code' | 'debian';
const SOURCES: readonly Source[] = ['oas', 'package', 'prose', 'messages', 'jsdoc', 'code'];
const MAX_VALUE = 4096;

interface Sample {
  source: Source;
  where: string;
  value: string;
}

class Collector {
  readonly samples: Sample[] = [];
  private readonly seen = new Set<string>();
  add(source: Source, where: string, value: string): void {
    const v = value.length > MAX_VALUE ? value.slice(0, MAX_VALUE) : value;
    if (v.trim().length < 3) return;
    const key = source + '\0' + v;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.samples.push({ source, where, value: v });
  }
}

function walkJson(c: Collector, where: string, node: unknown, depth: number): void {
  if (depth > 64) return;
  if (typeof node === 'string') c.add('oas', where, node);
  else if (Array.isArray(node)) for (const x of node) walkJson(c, where, x, depth + 1);
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      c.add('oas', where, k);
      walkJson(c, where, v, depth + 1);
    }
  }
}

function listFiles(dir: string, accept: (name: string) => boolean, out: string[], depth = 0): void {
  if (depth > 12) return;
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e);
    let st;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    if (st.isDirectory()) listFiles(p, accept, out, depth + 1);
    else if (accept(e)) out.push(p);
  }
}

/** Package folders of node_modules (scoped ones included, nested node_modules included). */
function packageDirs(nm: string, out: string[], depth = 0): void {
  if (depth > 4 || !existsSync(nm)) return;
  for (const e of readdirSync(nm).sort()) {
    if (e.startsWith('.')) continue;
    const p = join(nm, e);
    if (e.startsWith('@')) {
      for (const s of readdirSync(p).sort()) {
        out.push(join(p, s));
        packageDirs(join(p, s, 'node_modules'), out, depth + 1);
      }
    } else {
      out.push(p);
      packageDirs(join(p, 'node_modules'), out, depth + 1);
    }
  }
}

/** Splits a README into prose paragraphs and fenced code blocks. */
function readmeParts(text: string): { prose: string[]; code: string[] } {
  const prose: string[] = [];
  const code: string[] = [];
  let inFence = false;
  let buf: string[] = [];
  const flush = (into: string[]): void => {
    const t = buf.join('\n').trim();
    if (t !== '') into.push(t);
    buf = [];
  };
  for (const line of text.split(/\r?\n/)) {
    if (line.trimStart().startsWith('```')) {
      flush(inFence ? code : prose);
      inFence = !inFence;
      continue;
    }
    if (!inFence && line.trim() === '') {
      flush(prose);
      continue;
    }
    buf.push(line);
  }
  flush(inFence ? code : prose);
  return { prose, code };
}

/** The text of each `/** … *\/` comment, without the leading `*` of its lines. */
function docComments(text: string): string[] {
  const out: string[] = [];
  let k = text.indexOf('/**');
  while (k >= 0) {
    const e = text.indexOf('*/', k + 3);
    if (e < 0) break;
    const body = text
      .slice(k + 3, e)
      .split('\n')
      .map((l) => l.replace(/^\s*\* ?/, ''))
      .join('\n')
      .trim();
    if (body !== '') out.push(body);
    k = text.indexOf('/**', e + 2);
  }
  return out;
}

function collect(root: string): Collector {
  const c = new Collector();
  const nm = join(root, 'node_modules');
  const oasDir = join(nm, '@readme', 'oas-examples');
  const oasFiles: string[] = [];
  listFiles(oasDir, (n) => n.endsWith('.json'), oasFiles);
  for (const f of oasFiles) {
    if (f.endsWith('package.json')) continue;
    try {
      walkJson(c, f.slice(oasDir.length + 1), JSON.parse(readFileSync(f, 'utf8')), 0);
    } catch {
      // not JSON: skip
    }
  }
  const ts = join(nm, 'typescript', 'lib');
  const tsEntries = existsSync(ts) ? readdirSync(ts).sort() : [];
  for (const e of tsEntries) {
    const f = join(ts, e, 'diagnosticMessages.generated.json');
    if (!existsSync(f)) continue;
    try {
      for (const v of Object.values(JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>)) if (typeof v === 'string') c.add('messages', 'typescript/' + e, v);
    } catch {
      // not JSON: skip
    }
  }
  for (const e of tsEntries) {
    if (!e.startsWith('lib.') || !e.endsWith('.d.ts')) continue;
    for (const d of docComments(readFileSync(join(ts, e), 'utf8'))) c.add('jsdoc', 'typescript/' + e, d);
  }
  const dirs: string[] = [];
  packageDirs(nm, dirs);
  for (const d of dirs) {
    const rel = d.slice(nm.length + 1);
    try {
      const pkg = JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')) as { description?: unknown; keywords?: unknown };
      if (typeof pkg.description === 'string') c.add('package', rel, pkg.description);
      if (Array.isArray(pkg.keywords)) for (const k of pkg.keywords) if (typeof k === 'string') c.add('package', rel, k);
    } catch {
      // no package.json
    }
    let readme: string | undefined;
    try {
      readme = readdirSync(d).find((n) => /^readme(\.md|\.markdown)?$/i.test(n));
    } catch {
      readme = undefined;
    }
    if (readme === undefined) continue;
    const parts = readmeParts(readFileSync(join(d, readme), 'utf8'));
    for (const p of parts.prose) c.add('prose', rel, p);
    for (const p of parts.code) c.add('code', rel, p);
  }
  return c;
}

/**
 * `--debian`: the short descriptions of every package the machine's apt lists know
 * (`apt-cache dumpavail`, about 60 000 on Debian bookworm): one-line technical prose naming
 * tools, protocols, files and languages. Counted apart from `all` (the lists differ between
 * machines and days); absent without apt.
 */
function debianDescriptions(c: Collector): boolean {
  let out: string;
  try {
    out = execFileSync('apt-cache', ['dumpavail'], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return false;
  }
  for (const line of out.split('\n')) if (line.startsWith('Description: ')) c.add('debian', 'apt', line.slice(13).trim());
  return true;
}

function main(): void {
  const { values } = parseArgs({ options: { list: { type: 'string' }, paranoia: { type: 'string' }, debian: { type: 'boolean', default: false } } });
  const paranoia = Number(values.paranoia ?? '1') as Paranoia;
  const engine = new ThreatEngine({ detectors: DETECTORS, paranoia });
  const c = collect(repoRoot);
  const debian = values.debian === true && debianDescriptions(c);
  if (values.debian === true && !debian) console.log('# --debian: apt-cache dumpavail is not available here; the source is left out');
  const stats = new Map<Source, { n: number; refused: number }>([...SOURCES, ...(debian ? (['debian'] as const) : [])].map((s) => [s, { n: 0, refused: 0 }]));
  const lines: string[] = [];
  const headers = { host: 'api.example.com', 'content-type': 'application/json' };
  const t0 = process.hrtime.bigint();
  for (const s of c.samples) {
    const json = engine.inspect({ method: 'POST', rawPath: '/notes', rawQuery: '', headers, body: Buffer.from(JSON.stringify({ text: s.value })) });
    const query = engine.inspect({ method: 'GET', rawPath: '/search', rawQuery: 'text=' + encodeURIComponent(s.value), headers: { host: 'api.example.com' }, body: undefined });
    const st = stats.get(s.source);
    if (st === undefined) continue;
    st.n++;
    if (json.block || query.block) {
      st.refused++;
      const v: ThreatVerdict = json.block ? json : query;
      const fs = v.findings.map((f) => `${f.detector}(${f.severity}) ${JSON.stringify(f.excerpt)}`).join(', ');
      lines.push(`${s.source}\t${s.where}\t${json.block ? 'json' : ''}${json.block && query.block ? '+' : ''}${query.block ? 'query' : ''}\t${fs}\t${JSON.stringify(s.value.length > 300 ? s.value.slice(0, 300) + '…' : s.value)}`);
    }
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  console.log(`benign check (paranoia ${paranoia}): legitimate values from node_modules, each as a JSON member and a query parameter`);
  console.log('| source | values | refused | refused % |');
  console.log('|---|---:|---:|---:|');
  let tn = 0;
  let tr = 0;
  for (const s of SOURCES) {
    const st = stats.get(s);
    if (st === undefined) continue;
    tn += st.n;
    tr += st.refused;
    console.log(`| ${s} | ${st.n} | ${st.refused} | ${st.n === 0 ? '–' : ((100 * st.refused) / st.n).toFixed(2) + '%'} |`);
  }
  console.log(`| all | ${tn} | ${tr} | ${tn === 0 ? '–' : ((100 * tr) / tn).toFixed(2) + '%'} |`);
  const deb = stats.get('debian');
  if (deb !== undefined) console.log(`| debian (apart) | ${deb.n} | ${deb.refused} | ${deb.n === 0 ? '–' : ((100 * deb.refused) / deb.n).toFixed(2) + '%'} |`);
  console.log(`${(ms / 1000).toFixed(1)} s`);
  if (values.list !== undefined) {
    writeFileSync(values.list, lines.join('\n') + '\n');
    console.log(`refused values written to ${values.list}`);
  }
}

main();
