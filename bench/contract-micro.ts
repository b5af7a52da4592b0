/**
 * `npm run bench:contract-micro`: CPU time of the contract request stages per request, in
 * process, on the ~400-byte JSON POST of the load benches (bench/lib.ts POST_BODY) against the
 * operation of bench/contract-spec.ts (strict mode, default limits): the head stage
 * (parameters, Content-Type) and the body stage (JSON limits, parse, schema, strict members,
 * typed inputs), as the gateway calls them, on a fresh request context each call: on a route
 * without threat detection or property rules (as in `npm run bench:contract`: no typed inputs
 * are built; the body is checked on its bytes, src/contract/json-direct.ts) and on one with
 * threat detection (the same, listing the typed values for detection to skip).
 *
 * Each case is timed in `--rounds` rounds of `--n` calls, rounds interleaved (drift of a shared
 * machine spreads over all cases); the median round is reported in CPU µs per call
 * (process.cpuUsage: time other processes take is not counted).
 *
 * `--baseline DIR` also times the stages of another build (DIR is its `dist`, e.g. a copy made
 * before a change) in the same rounds, and reports the ratio to the first case.
 *
 * Options: --n N (20000) --rounds N (7) --baseline DIR
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { SPEC } from './contract-spec.js';
import { median, POST_BODY, positiveInt } from './lib.js';

interface Stage {
  onRequest(ctx: Record<string, unknown>): { action: string };
}

/** The contract stages of `createOrder`, compiled by the build in `dist` (this one by default). */
async function stagesOf(dist: string, specFile: string, wantInputs: boolean): Promise<{ head: Stage; body: Stage }> {
  const mod = async <T>(rel: string) => (await import(pathToFileURL(resolve(dist, 'src', 'contract', rel)).href)) as T;
  const { loadOpenApi } = await mod<{ loadOpenApi(f: string): Promise<{ spec?: { operations: { operationId: string }[] } }> }>('index.js');
  const { SchemaCompiler } = await mod<{ SchemaCompiler: new (spec: unknown) => unknown }>('schema-compiler.js');
  const { compileBody, DEFAULT_BODY_LIMITS } = await mod<{ compileBody: (...a: unknown[]) => { validator: unknown }; DEFAULT_BODY_LIMITS: object }>('body.js');
  const { compileParameters } = await mod<{ compileParameters: (...a: unknown[]) => { validator: unknown } }>('params.js');
  const { ContractHeadStage, ContractBodyStage } = await mod<{
    ContractHeadStage: new (p: unknown, b: unknown, d: unknown) => Stage;
    ContractBodyStage: new (b: unknown, wantInputs: boolean, wantValue: boolean) => Stage;
  }>('stages.js');
  const { spec } = await loadOpenApi(specFile);
  const op = spec?.operations.find((o) => o.operationId === 'createOrder');
  if (!spec || !op) throw new Error(`${dist}: the bench spec does not load`);
  const compiler = new SchemaCompiler(spec);
  const params = compileParameters(spec, op, compiler, { strictQuery: true, maxQueryParams: 100 }).validator;
  const body = compileBody(spec, op, compiler, { strict: true, limits: { ...DEFAULT_BODY_LIMITS } }).validator;
  if (!body) throw new Error(`${dist}: no body validator`);
  return { head: new ContractHeadStage(params, body, { deprecated: false, sunset: undefined }), body: new ContractBodyStage(body, wantInputs, false) };
}

const BODY = Buffer.from(POST_BODY);
const HEADERS = { host: 'contract-request.bench', 'content-type': 'application/json', 'content-length': String(BODY.length), 'user-agent': 'bench' };

function request(): Record<string, unknown> {
  return { method: 'POST', path: '/post', rawQuery: '', headers: HEADERS, params: {}, body: BODY, inputs: undefined, json: undefined, responseHeaders: {}, findings: [] };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { n: { type: 'string' }, rounds: { type: 'string' }, baseline: { type: 'string' } } });
  const n = positiveInt('n', values.n, 20000);
  const rounds = positiveInt('rounds', values.rounds, 7);
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-contract-micro-'));
  const specFile = join(dir, 'orders.yaml');
  writeFileSync(specFile, SPEC);
  const here = resolve(import.meta.dirname, '..');
  const cases: { name: string; stages: { head: Stage; body: Stage } }[] = [
    { name: 'this build', stages: await stagesOf(here, specFile, false) },
    { name: 'this build, typed inputs built (threat detection on the route)', stages: await stagesOf(here, specFile, true) },
  ];
  if (values.baseline !== undefined) cases.push({ name: `baseline (${values.baseline})`, stages: await stagesOf(values.baseline, specFile, false) });
  rmSync(dir, { recursive: true, force: true });

  const once = (s: { head: Stage; body: Stage }) => {
    const ctx = request();
    if (s.head.onRequest(ctx).action !== 'continue' || s.body.onRequest(ctx).action !== 'continue') throw new Error('the bench POST was refused');
  };
  for (const c of cases) for (let i = 0; i < n; i++) once(c.stages);
  const us: number[][] = cases.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < cases.length; k++) {
      const idx = (k + r) % cases.length;
      const s = cases[idx]!.stages;
      const t0 = process.cpuUsage();
      for (let i = 0; i < n; i++) once(s);
      const t = process.cpuUsage(t0);
      us[idx]!.push((t.user + t.system) / n);
    }
  }
  console.log(`\n### Contract request stages (head + body), POST /post ~400-byte JSON, CPU µs per request (median of ${rounds} interleaved rounds of ${n}), Node.js ${process.version}\n`);
  console.log('| build | µs / request | min | max |\n|---|---:|---:|---:|');
  cases.forEach((c, i) => console.log(`| ${c.name} | ${median(us[i]!).toFixed(2)} | ${Math.min(...us[i]!).toFixed(2)} | ${Math.max(...us[i]!).toFixed(2)} |`));
  if (values.baseline !== undefined) {
    const after = median(us[0]!);
    const before = median(us[cases.length - 1]!);
    console.log(`\nthis build / baseline: ${(after / before).toFixed(3)} (×${(before / after).toFixed(2)} faster)`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
