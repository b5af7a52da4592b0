/**
 * Loaders that turn the public detection corpora (`../shared/corpora`, see its README.md) into
 * labelled HTTP requests for the detection benchmark (bench/detection.ts) and for tests.
 *
 *   loadCrs(dir)            OWASP CRS regression tests (go-ftw YAML), one request per stage
 *   loadHttpParams(csv)     HttpParamsDataset values, each sent in 3 placements
 *   loadCsic(file)          CSIC 2010 raw HTTP requests
 *
 * Helpers for replaying them: `serializeRequest` (the bytes to write on a socket) and
 * `parseRawRequest` (the minimal parse of raw request bytes, as the gateway's parser would see
 * them: header values decoded as Latin-1, names lower-cased).
 *
 * Everything here is synchronous, reads whole files, and never touches the network.
 */
import type { RawRequest } from '../src/threats/types.js';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

export interface CorpusRequest {
  corpus: 'crs' | 'httpparams' | 'csic';
  /**
   * crs: the CRS folder family ('930'…'944', '913', '920', '921', '922', '999' …);
   * httpparams: `<attack_type>/<placement>` (attack_type sqli, xss, cmdi, path-traversal, norm;
   * placement query, form, json); csic: 'normal'.
   */
  category: string;
  /** crs: `<ruleid>-<test>-<stage>`; httpparams: `<row>-<placement>`; csic: `<index>` (1-based). */
  id: string;
  /**
   * crs: the stage expects a rule to fire (expect_ids / log_contains / match_regex, or an error
   * status / expect_error). A near miss (no_expect_ids / no_log_contains / no_match_regex only)
   * is attack=false with nearMiss; REQUEST-999 stages are attack=false, not near misses.
   * httpparams: label `anom`. csic: always false.
   */
  attack: boolean;
  nearMiss?: boolean;
  method: string;
  /** The request target, raw, with query, as sent on the wire. */
  path: string;
  headers: [string, string][];
  body?: Buffer;
  /** Bytes to send as they are (CRS stages: go-ftw's exact request, or `encoded_request`). */
  raw?: Buffer;
}

// ---------------------------------------------------------------------------------------------
// CRS (go-ftw YAML)

/** Folder families that are about the request (RESPONSE-* folders are skipped). */
const CRS_FOLDER = /^REQUEST-(\d{3})-/;

interface FtwInput {
  method?: unknown;
  uri?: unknown;
  version?: unknown;
  headers?: unknown;
  data?: unknown;
  encoded_request?: unknown;
  autocomplete_headers?: unknown;
}

interface FtwOutputChecks {
  expect_ids?: unknown;
  no_expect_ids?: unknown;
  log_contains?: unknown;
  no_log_contains?: unknown;
  match_regex?: unknown;
  no_match_regex?: unknown;
}

interface FtwOutput extends FtwOutputChecks {
  log?: FtwOutputChecks;
  status?: unknown;
  expect_error?: unknown;
}

/**
 * Loads every stage of every go-ftw YAML file under `dir` (the `coreruleset-tests` folder).
 *
 * Rules followed (they mirror go-ftw's request builder, ftwhttp/request.go, as of CRS 4.x):
 * - Folders `REQUEST-<nnn>-*` only; `RESPONSE-*` folders are skipped. `category` is `<nnn>`
 *   (911, 913, 920, 921, 922, 943, 949 are kept: the bench reports them apart from the bars).
 *   Files that parse to nothing (all comments, like 920539.yaml) contribute no stage.
 * - A stage is `tests[].stages[]` (the old `stages[].stage` wrapping is accepted too);
 *   `id` is `<rule_id>-<test_id>-<stage number from 1>`.
 * - Label: attack when `output` (or `output.log`) has a non-empty `expect_ids`, `log_contains`
 *   or `match_regex`, or `status` ≥ 400, or `expect_error: true`. Otherwise, a stage with
 *   `no_expect_ids` / `no_log_contains` / `no_match_regex` is a near miss (attack=false,
 *   nearMiss=true). REQUEST-999 stages are always plain benign requests (attack=false, no
 *   nearMiss), even the one that keeps `expect_ids` to document a known CRS false positive.
 * - Defaults: method GET, uri `/`, version HTTP/1.1 when the key is absent (an explicit empty
 *   string is kept empty, as go-ftw does). Headers: a YAML map (or a list of one-entry maps),
 *   values stringified (`null` → empty), order kept. go-ftw sorts them by name; order does not
 *   matter to the gateway's parser.
 * - `data`: a string, or a list of lines joined with CRLF. A go-ftw template `{{ "s" | repeat N }}`
 *   is expanded (the only template the corpus uses); any other `{{…}}` is left as is.
 * - Autocomplete (unless `autocomplete_headers: false`), as go-ftw: with a non-empty body,
 *   add `Content-Type: application/x-www-form-urlencoded` when there is none; when the
 *   Content-Type is exactly that and the body is not already escaped (Go's QueryUnescape leaves
 *   it unchanged), URL-encode each key and value (Go's QueryEscape: space → `+`); then add
 *   `Connection: close` when absent, and `Content-Length` (of the final body) when absent and
 *   the body is non-empty or the method matches go-ftw's `/^POST|PUT|PATCH|DELETE$/`.
 *   Header names are compared case-insensitively here (go-ftw compares them exactly, which
 *   would add a second Content-Type next to a lower-case one; the corpus has none).
 * - Multipart bodies (`Content-Type` starting with `multipart/form-data;`) get bare LF turned
 *   into CRLF, with or without autocomplete (go-ftw replaces every LF, doubling an existing
 *   CR; here only bare LFs are converted).
 * - `raw` is always set: the exact bytes go-ftw would write (request line
 *   `<method> <uri> <version>`, headers, blank line, body; strings encoded as UTF-8), or the
 *   base64-decoded `encoded_request` (newlines in the base64 ignored), which then overrides
 *   every other input field. `method`, `path`, `headers` and `body` are parsed back from
 *   `raw` (parseRawRequest), so they show what a server receives.
 */
export function loadCrs(dir: string): CorpusRequest[] {
  const out: CorpusRequest[] = [];
  for (const folder of readdirSync(dir).sort()) {
    const m = CRS_FOLDER.exec(folder);
    if (m?.[1] === undefined) continue;
    const family = m[1];
    const folderPath = join(dir, folder);
    if (!statSync(folderPath).isDirectory()) continue;
    for (const file of readdirSync(folderPath).sort()) {
      if (!/\.ya?ml$/.test(file)) continue;
      out.push(...crsStagesFromYaml(readFileSync(join(folderPath, file), 'utf8'), family, file.replace(/\.ya?ml$/, '')));
    }
  }
  return out;
}

/** The stages of one go-ftw YAML document (exported for tests). `family` is the folder family. */
export function crsStagesFromYaml(text: string, family: string, fallbackRuleId = 'unknown'): CorpusRequest[] {
  const doc = parseYaml(text) as unknown;
  if (!isRecord(doc)) return [];
  const ruleId = doc.rule_id !== undefined && doc.rule_id !== null ? String(doc.rule_id) : fallbackRuleId;
  const tests = Array.isArray(doc.tests) ? doc.tests : [];
  const out: CorpusRequest[] = [];
  tests.forEach((test: unknown, ti: number) => {
    if (!isRecord(test)) return;
    const testId = test.test_id !== undefined && test.test_id !== null ? String(test.test_id) : String(ti + 1);
    const stages = Array.isArray(test.stages) ? test.stages : [];
    stages.forEach((stageEntry: unknown, si: number) => {
      if (!isRecord(stageEntry)) return;
      const stage = isRecord(stageEntry.stage) ? stageEntry.stage : stageEntry;
      const input = (isRecord(stage.input) ? stage.input : {}) as FtwInput;
      const output = (isRecord(stage.output) ? stage.output : {}) as FtwOutput;
      const raw = buildFtwRequest(input);
      const parsed = parseRawRequest(raw);
      const label = ftwLabel(output, family);
      const req: CorpusRequest = {
        corpus: 'crs',
        category: family,
        id: `${ruleId}-${testId}-${si + 1}`,
        attack: label.attack,
        method: parsed.method,
        path: parsed.path,
        headers: parsed.headers,
        raw,
      };
      if (label.nearMiss) req.nearMiss = true;
      if (parsed.body.length > 0) req.body = parsed.body;
      out.push(req);
    });
  });
  return out;
}

function ftwLabel(output: FtwOutput, family: string): { attack: boolean; nearMiss: boolean } {
  const checks: FtwOutputChecks[] = [output, ...(isRecord(output.log) ? [output.log] : [])];
  let attack = false;
  let negative = false;
  for (const c of checks) {
    if (nonEmpty(c.expect_ids) || nonEmpty(c.log_contains) || nonEmpty(c.match_regex)) attack = true;
    if (nonEmpty(c.no_expect_ids) || nonEmpty(c.no_log_contains) || nonEmpty(c.no_match_regex)) negative = true;
  }
  const status = Array.isArray(output.status) ? output.status : [output.status];
  if (status.some((s) => typeof s === 'number' && s >= 400)) attack = true;
  if (output.expect_error === true) attack = true;
  // REQUEST-999 holds requests that must pass, whatever their output says (999999 test 36 keeps
  // `expect_ids` for a known CRS false positive on a Snapchat user agent).
  if (family === '999') return { attack: false, nearMiss: false };
  return { attack, nearMiss: !attack && negative };
}

function nonEmpty(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (Array.isArray(v)) return v.length > 0;
  return String(v) !== '';
}

/** go-ftw's request bytes for one stage input (see loadCrs for the rules). */
function buildFtwRequest(input: FtwInput): Buffer {
  if (typeof input.encoded_request === 'string' && input.encoded_request.trim() !== '') {
    return Buffer.from(input.encoded_request.replace(/\s+/g, ''), 'base64');
  }
  const method = input.method === undefined || input.method === null ? 'GET' : String(input.method);
  const uri = input.uri === undefined || input.uri === null ? '/' : String(input.uri);
  const version = input.version === undefined || input.version === null ? 'HTTP/1.1' : String(input.version);
  const autocomplete = input.autocomplete_headers !== false;
  const headers = ftwHeaders(input.headers);

  let data = '';
  if (typeof input.data === 'string') data = input.data;
  else if (Array.isArray(input.data)) data = input.data.map((l) => (l === null ? '' : String(l))).join('\r\n');
  else if (input.data !== undefined && input.data !== null) data = String(input.data);
  data = expandFtwTemplates(data);

  if (data !== '' && autocomplete) {
    if (headerIndex(headers, 'content-type') < 0) headers.push(['Content-Type', 'application/x-www-form-urlencoded']);
    const ct = headers[headerIndex(headers, 'content-type')]?.[1];
    if (ct === 'application/x-www-form-urlencoded' && goQueryUnescape(data) === data) data = formEncodePairs(data);
  }
  const ctValue = headers[headerIndex(headers, 'content-type')]?.[1] ?? '';
  if (ctValue.startsWith('multipart/form-data;')) data = data.replace(/\r?\n/g, '\r\n');
  const body = Buffer.from(data, 'utf8');
  if (autocomplete) {
    if (headerIndex(headers, 'connection') < 0) headers.push(['Connection', 'close']);
    if (headerIndex(headers, 'content-length') < 0 && (body.length > 0 || /^POST|PUT|PATCH|DELETE$/.test(method))) {
      headers.push(['Content-Length', String(body.length)]);
    }
  }
  let head = `${method} ${uri} ${version}\r\n`;
  for (const [name, value] of headers) head += `${name}: ${value}\r\n`;
  head += '\r\n';
  return Buffer.concat([Buffer.from(head, 'utf8'), body]);
}

function ftwHeaders(h: unknown): [string, string][] {
  const out: [string, string][] = [];
  const add = (k: string, v: unknown): void => {
    out.push([k, v === null || v === undefined ? '' : String(v)]);
  };
  if (Array.isArray(h)) {
    for (const entry of h) if (isRecord(entry)) for (const [k, v] of Object.entries(entry)) add(k, v);
  } else if (isRecord(h)) {
    for (const [k, v] of Object.entries(h)) add(k, v);
  }
  return out;
}

/** `{{ "s" | repeat N }}` → s repeated N times; other templates stay. */
function expandFtwTemplates(data: string): string {
  if (!data.includes('{{')) return data;
  return data.replace(/\{\{\s*"([^"]*)"\s*\|\s*repeat\s+(\d{1,7})\s*\}\}/g, (_all, s: string, n: string) => s.repeat(Number(n)));
}

/** Go's url.QueryUnescape; undefined where Go returns an error (bad `%` escape). */
function goQueryUnescape(s: string): string | undefined {
  if (!s.includes('%') && !s.includes('+')) return s;
  const bytes: number[] = [];
  const src = Buffer.from(s, 'utf8');
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === 0x25) {
      const hi = hexValue(src[i + 1]);
      const lo = hexValue(src[i + 2]);
      if (hi < 0 || lo < 0) return undefined;
      bytes.push(hi * 16 + lo);
      i += 2;
    } else if (c === 0x2b) {
      bytes.push(0x20);
    } else {
      bytes.push(c);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function hexValue(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/** Go's url.QueryEscape: unreserved bytes kept, space → `+`, everything else `%XX` (upper case). */
export function goQueryEscape(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    if ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x5f || b === 0x2e || b === 0x7e) {
      out += String.fromCharCode(b);
    } else if (b === 0x20) {
      out += '+';
    } else {
      out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

/** go-ftw's encodeDataParameters: split on `&`, then on the first `=`, escape each side. */
function formEncodePairs(data: string): string {
  return data
    .split('&')
    .map((token) => {
      const eq = token.indexOf('=');
      return eq < 0 ? goQueryEscape(token) : `${goQueryEscape(token.slice(0, eq))}=${goQueryEscape(token.slice(eq + 1))}`;
    })
    .join('&');
}

// ---------------------------------------------------------------------------------------------
// HttpParams (CSV)

/** The three placements of an HttpParams value. */
export const HTTPPARAMS_PLACEMENTS = ['query', 'form', 'json'] as const;
export type Placement = (typeof HTTPPARAMS_PLACEMENTS)[number];

const BENCH_HEADERS: readonly [string, string][] = [
  ['Host', 'localhost'],
  ['User-Agent', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'],
  ['Accept', 'application/json'],
];

/**
 * Loads `payload_train.csv` (header row `payload,length,attack_type,label`; RFC 4180 quoting:
 * fields in double quotes, `""` for a quote, commas and line breaks allowed inside quotes).
 * Each value becomes three requests, in this order:
 *   query  `GET /search?q=<encodeURIComponent(value)>`
 *   form   `POST /search`, `application/x-www-form-urlencoded`, body `q=<encodeURIComponent(value)>`
 *   json   `POST /search`, `application/json`, body `{"q":<JSON string of value>}`
 * with Host, a browser User-Agent and `Accept: application/json`. `attack` is `label === 'anom'`;
 * `category` is `<attack_type>/<placement>`; `id` is `<data row from 1>-<placement>`. Values are
 * used as they are (lower-cased by the data set's authors, `{file}` placeholders kept).
 */
export function loadHttpParams(csvFile: string): CorpusRequest[] {
  return httpParamsFromCsv(readFileSync(csvFile, 'utf8'));
}

/** The requests of an HttpParams CSV text (exported for tests). */
export function httpParamsFromCsv(text: string): CorpusRequest[] {
  const rows = parseCsv(text);
  const header = rows.shift();
  if (header === undefined) return [];
  const col = (name: string): number => header.findIndex((h) => h.trim().toLowerCase() === name);
  const iPayload = col('payload');
  const iType = col('attack_type');
  const iLabel = col('label');
  if (iPayload < 0 || iType < 0 || iLabel < 0) throw new Error('HttpParams CSV: expected columns payload, attack_type, label');
  const out: CorpusRequest[] = [];
  rows.forEach((row, i) => {
    if (row.length === 1 && row[0] === '') return; // blank line
    const value = row[iPayload] ?? '';
    const type = (row[iType] ?? '').trim();
    const attack = (row[iLabel] ?? '').trim() === 'anom';
    for (const placement of HTTPPARAMS_PLACEMENTS) {
      const base = { corpus: 'httpparams' as const, category: `${type}/${placement}`, id: `${i + 1}-${placement}`, attack };
      if (placement === 'query') {
        out.push({ ...base, method: 'GET', path: `/search?q=${encodeURIComponent(value)}`, headers: [...BENCH_HEADERS] });
      } else {
        const body = Buffer.from(placement === 'form' ? `q=${encodeURIComponent(value)}` : JSON.stringify({ q: value }), 'utf8');
        const contentType = placement === 'form' ? 'application/x-www-form-urlencoded' : 'application/json';
        out.push({
          ...base,
          method: 'POST',
          path: '/search',
          headers: [...BENCH_HEADERS, ['Content-Type', contentType], ['Content-Length', String(body.length)]],
          body,
        });
      }
    }
  });
  return out;
}

/** RFC 4180 CSV: rows of fields. Quoted fields may hold `,`, `""` and line breaks; CRLF or LF rows. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
      i++;
    } else if (c === ',') {
      row.push(field);
      field = '';
      i++;
    } else if (c === '\r' || c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
    } else {
      field += c;
      i++;
    }
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// CSIC 2010

/**
 * Loads the CSIC 2010 normal-traffic file: raw HTTP/1.1 requests, CRLF lines. Rules:
 * - A request starts at a request line (`METHOD target HTTP/x.y`) after any number of blank
 *   lines; headers run to the first empty line.
 * - With a `Content-Length`, that many bytes after the empty line are the body (POST); a body
 *   cut short by the end of the file is taken as it is and Content-Length set to its length.
 *   Without one, there is no body.
 * - The absolute-form target `http://localhost:8080/path?query` is rewritten to origin form
 *   `/path?query` (the Host header already says `localhost:8080`). Everything else is kept
 *   byte for byte (the file is read as Latin-1, so `%F1`-style escapes and any 8-bit byte
 *   survive), including Accept-Charset, Cookie and `Connection: close`.
 * - `id` is the request's index from 1, `category` 'normal', `attack` false.
 */
export function loadCsic(file: string): CorpusRequest[] {
  return csicFromText(readFileSync(file).toString('latin1'));
}

/** The requests of a CSIC text, read as Latin-1 (exported for tests). */
export function csicFromText(text: string): CorpusRequest[] {
  const out: CorpusRequest[] = [];
  let pos = 0;
  const n = text.length;
  const nextLine = (): string | undefined => {
    if (pos >= n) return undefined;
    let end = text.indexOf('\n', pos);
    if (end < 0) end = n;
    let line = text.slice(pos, end);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    pos = end + 1;
    return line;
  };
  for (;;) {
    let line = nextLine();
    while (line !== undefined && line.trim() === '') line = nextLine();
    if (line === undefined) break;
    const sp1 = line.indexOf(' ');
    const sp2 = line.lastIndexOf(' ');
    if (sp1 <= 0) continue; // not a request line: skip it
    const method = line.slice(0, sp1);
    let target = sp2 > sp1 ? line.slice(sp1 + 1, sp2) : line.slice(sp1 + 1);
    target = toOriginForm(target);
    const headers: [string, string][] = [];
    for (let h = nextLine(); h !== undefined && h !== ''; h = nextLine()) {
      const colon = h.indexOf(':');
      if (colon <= 0) continue;
      headers.push([h.slice(0, colon), h.slice(colon + 1).trim()]);
    }
    const clIndex = headerIndex(headers, 'content-length');
    const req: CorpusRequest = { corpus: 'csic', category: 'normal', id: String(out.length + 1), attack: false, method, path: target, headers };
    if (clIndex >= 0) {
      const declared = Number(headers[clIndex]![1]);
      const length = Number.isInteger(declared) && declared >= 0 ? declared : 0;
      const bodyText = text.slice(pos, Math.min(n, pos + length));
      pos += bodyText.length;
      if (bodyText.length !== length) headers[clIndex] = [headers[clIndex]![0], String(bodyText.length)];
      if (bodyText.length > 0) req.body = Buffer.from(bodyText, 'latin1');
    }
    out.push(req);
  }
  return out;
}

function toOriginForm(target: string): string {
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/.exec(target);
  if (m === null) return target;
  const rest = target.slice(m[0].length);
  return rest === '' ? '/' : rest.startsWith('/') ? rest : `/${rest}`;
}

// ---------------------------------------------------------------------------------------------
// Wire helpers

/**
 * The bytes to send for a request: `raw` when set; otherwise `<method> <path> HTTP/1.1`, the
 * headers in order (Latin-1, as they came), `Connection: close` (replacing any Connection
 * header: one request per connection), `Content-Length` when there is a body and neither
 * Content-Length nor Transfer-Encoding, a blank line, the body.
 */
export function serializeRequest(r: CorpusRequest): Buffer {
  if (r.raw !== undefined) return r.raw;
  let head = `${r.method} ${r.path} HTTP/1.1\r\n`;
  let hasLength = false;
  for (const [name, value] of r.headers) {
    const lower = name.toLowerCase();
    if (lower === 'connection') continue;
    if (lower === 'content-length' || lower === 'transfer-encoding') hasLength = true;
    head += `${name}: ${value}\r\n`;
  }
  head += 'Connection: close\r\n';
  if (!hasLength && r.body !== undefined && r.body.length > 0) head += `Content-Length: ${r.body.length}\r\n`;
  head += '\r\n';
  const headBuf = Buffer.from(head, 'latin1');
  return r.body !== undefined && r.body.length > 0 ? Buffer.concat([headBuf, r.body]) : headBuf;
}

/** What `parseRawRequest` returns. */
export interface ParsedRawRequest {
  method: string;
  /** The request target as sent (query included). */
  path: string;
  version: string;
  /** Header lines in order, names as sent, values trimmed (Latin-1). */
  headers: [string, string][];
  /** The body: de-chunked when `Transfer-Encoding: chunked` parses, else the bytes after the head (cut to Content-Length when given). */
  body: Buffer;
}

/**
 * Minimal parse of raw request bytes: request line split on spaces (method, target, version),
 * header lines up to the first empty line (CRLF or LF), the rest as body. Never throws; a
 * request without an empty line is all head and no body. Obsolete line folding is not joined.
 */
export function parseRawRequest(raw: Buffer): ParsedRawRequest {
  const text = raw.toString('latin1');
  let headEnd = text.indexOf('\r\n\r\n');
  let sepLen = 4;
  const lfEnd = text.indexOf('\n\n');
  if (lfEnd >= 0 && (headEnd < 0 || lfEnd < headEnd)) {
    headEnd = lfEnd;
    sepLen = 2;
  }
  const head = headEnd < 0 ? text : text.slice(0, headEnd);
  const rest = headEnd < 0 ? Buffer.alloc(0) : raw.subarray(headEnd + sepLen);
  const lines = head.split(/\r?\n/);
  const requestLine = (lines.shift() ?? '').trim();
  const parts = requestLine.split(/ +/);
  const method = parts[0] ?? '';
  const version = parts.length >= 3 ? parts[parts.length - 1]! : '';
  const path = parts.length >= 3 ? parts.slice(1, -1).join(' ') : (parts[1] ?? '');
  const headers: [string, string][] = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  let body: Buffer = rest;
  const te = headers[headerIndex(headers, 'transfer-encoding')]?.[1].toLowerCase();
  if (te !== undefined && te.includes('chunked')) {
    body = dechunk(rest) ?? rest;
  } else {
    const cl = Number(headers[headerIndex(headers, 'content-length')]?.[1]);
    if (Number.isInteger(cl) && cl >= 0 && cl < body.length) body = body.subarray(0, cl);
  }
  return { method, path, version, headers, body };
}

function dechunk(buf: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const lineEnd = buf.indexOf('\r\n', pos, 'latin1');
    if (lineEnd < 0) return undefined;
    const size = parseInt(buf.subarray(pos, lineEnd).toString('latin1').split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size) || size < 0) return undefined;
    pos = lineEnd + 2;
    if (size === 0) return Buffer.concat(parts);
    if (pos + size > buf.length) return undefined;
    parts.push(buf.subarray(pos, pos + size));
    pos += size + 2;
  }
}

/** Index of the first header named `lowerName` (case-insensitive), or -1. */
export function headerIndex(headers: readonly (readonly [string, string])[], lowerName: string): number {
  for (let i = 0; i < headers.length; i++) if (headers[i]![0].toLowerCase() === lowerName) return i;
  return -1;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Node-style header object: lower-case names; set-cookie a list, cookie joined by `; `, others by `, `. */
function nodeHeaders(headers: readonly (readonly [string, string])[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [n, v] of headers) {
    const name = n.toLowerCase();
    const prev = out[name];
    if (name === 'set-cookie') out[name] = [...(Array.isArray(prev) ? prev : prev === undefined ? [] : [prev]), v];
    else if (prev === undefined) out[name] = v;
    else if (name === 'cookie') out[name] = `${String(prev)}; ${v}`;
    else out[name] = `${String(prev)}, ${v}`;
  }
  return out;
}

/** A corpus request as the engine's RawRequest (Node's header shape: lower-case names, joined repeats). */
export function toRawRequest(r: CorpusRequest): RawRequest {
  const p = r.raw !== undefined ? parseRawRequest(r.raw) : { method: r.method, path: r.path, headers: r.headers, body: r.body ?? Buffer.alloc(0) };
  const q = p.path.indexOf('?');
  return {
    method: p.method,
    rawPath: q < 0 ? p.path : p.path.slice(0, q),
    rawQuery: q < 0 ? '' : p.path.slice(q + 1),
    headers: nodeHeaders(p.headers),
    body: p.body.length > 0 ? p.body : undefined,
  };
}
