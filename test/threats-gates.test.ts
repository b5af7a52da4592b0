/**
 * The detector gates (detectors/index.ts) only skip calls that could not have fired: replaying
 * the shared corpora through an engine with gates and one without gives the same findings for
 * every request. A gate that is too tight fails here with the request and the lost finding.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { loadCrs, loadCsic, loadHttpParams, toRawRequest, type CorpusRequest } from '../bench/corpora.js';
import { DETECTORS, ThreatEngine } from '../src/threats/index.js';

const CORPORA = resolve('..', 'shared', 'corpora');

function findings(engine: ThreatEngine, r: CorpusRequest): string {
  const v = engine.inspect(toRawRequest(r));
  return v.findings
    .map((f) => `${f.detector}@${f.location}:${f.name}`)
    .sort()
    .join(' ');
}

test('gates change no finding on the shared corpora (paranoia 1)', (t) => {
  if (!existsSync(CORPORA)) {
    t.skip(`corpora not found at ${CORPORA}`);
    return;
  }
  const requests = [
    ...loadCrs(join(CORPORA, 'coreruleset-tests')),
    // Every HttpParams value once (the JSON placement reaches every detector as a body string)
    ...loadHttpParams(join(CORPORA, 'httpparams', 'payload_train.csv')).filter((r) => r.category.endsWith('/json')),
    // A third of CSIC: its requests are very alike
    ...loadCsic(join(CORPORA, 'csic2010', 'normalTrafficTraining.txt')).filter((_, i) => i % 3 === 0),
  ];
  const gated = new ThreatEngine({ detectors: DETECTORS, paranoia: 1 });
  const full = new ThreatEngine({ detectors: DETECTORS, paranoia: 1, gates: false });
  assert.ok(gated.gated && !full.gated);
  const lost: string[] = [];
  for (const r of requests) {
    const a = findings(gated, r);
    const b = findings(full, r);
    if (a !== b) lost.push(`${r.corpus} ${r.id}: with gates [${a}] without [${b}]`);
  }
  assert.deepEqual(lost.slice(0, 20), [], `${lost.length} requests differ`);
});
