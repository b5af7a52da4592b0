/**
 * Shared fixtures for the telemetry and admin tests: `CompletedContext` and config builders.
 * (Named `*.test.ts` so it lives with the suites; its own test checks the defaults.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import type { IncomingHttpHeaders } from 'node:http';
import type { Config } from '../src/config/types.js';
import type { CompletedContext, Finding, Principal, RequestContext, RouteInfo, StageTiming } from '../src/pipeline/types.js';

export interface ContextInput {
  requestId?: string;
  method?: string;
  path?: string;
  rawQuery?: string;
  headers?: IncomingHttpHeaders;
  route?: Partial<RouteInfo>;
  principal?: Principal;
  certificateSubject?: string;
  findings?: Finding[];
  timings?: StageTiming[];
  status?: number;
  outcome?: CompletedContext['outcome'];
  code?: CompletedContext['code'];
  reason?: string;
  bytesIn?: number;
  bytesOut?: number;
  upstreamUs?: number;
  totalUs?: number;
  tls?: boolean;
}

/** A completed request with sensible defaults; override any field. */
export function completed(i: ContextInput = {}): CompletedContext {
  const route: RouteInfo = {
    id: 'petstore:getPet',
    api: 'petstore',
    operationId: 'getPet',
    public: false,
    upstream: 'pets',
    maxBodyBytes: 1_048_576,
    ...i.route,
  };
  const request: RequestContext = {
    requestId: i.requestId ?? 'req-1',
    start: performance.now(),
    method: i.method ?? 'GET',
    path: i.path ?? '/pets/42',
    rawQuery: i.rawQuery ?? '',
    headers: i.headers ?? { host: 'api.example', 'user-agent': 'test-agent/1.0' },
    client: {
      ip: '203.0.113.7',
      peerIp: '10.0.0.1',
      tls: i.tls ?? true,
      httpVersion: '1.1',
      certificate:
        i.certificateSubject === undefined
          ? undefined
          : { subject: i.certificateSubject, issuer: 'CN=ca', subjectAltNames: [], fingerprint256: 'AA:BB', serialNumber: '01' },
    },
    route,
    params: { id: '42' },
    principal: i.principal,
    body: undefined,
    json: undefined,
    inputs: undefined,
    threats: undefined,
    clearance: undefined,
    cleared: undefined,
    findings: i.findings ?? [],
    timings: i.timings ?? [{ stage: 'authn', us: 42 }],
    responseHeaders: {},
  };
  return {
    request,
    status: i.status ?? 200,
    outcome: i.outcome ?? 'allowed',
    code: i.code,
    reason: i.reason,
    bytesIn: i.bytesIn ?? 0,
    bytesOut: i.bytesOut ?? 123,
    upstreamUs: 'upstreamUs' in i ? i.upstreamUs : 1500,
    totalUs: i.totalUs ?? 2345.6789,
  };
}

/** `telemetry.audit` config with defaults. */
export function auditConfig(over: Partial<Config['telemetry']['audit']> = {}): Config['telemetry']['audit'] {
  return { enabled: true, destination: 'stdout', includeHeaders: false, redactHeaders: [], ...over };
}

/** A writable that keeps what is written, for capturing log lines. */
export class Capture extends Writable {
  chunks: string[] = [];
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(chunk.toString());
    cb();
  }
  get text(): string {
    return this.chunks.join('');
  }
  /** Parsed JSON lines. */
  lines(): Record<string, unknown>[] {
    return this.text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

// Register the self-test only when this file is the one being run, not when imported.
const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;

if (isMain) {
  test('fixtures: completed() builds a coherent context', () => {
    const c = completed();
    assert.equal(c.request.route.id, 'petstore:getPet');
    assert.equal(c.upstreamUs, 1500);
    assert.equal(completed({ upstreamUs: undefined }).upstreamUs, undefined);
  });
}
