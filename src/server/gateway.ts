/**
 * The request path, end to end: pre-route checks (limits, framing, TLS policy, path
 * normalization), route match, request stages, upstream exchange (streamed both ways), response
 * stages, and `onComplete` exactly once, whatever happens.
 *
 * Every refusal is a problem+json from the error registry; nothing internal reaches the client.
 */
import { randomUUID } from 'node:crypto';
import { IncomingMessage, type ServerResponse, type OutgoingHttpHeaders } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { PassThrough, Readable, Writable, finished } from 'node:stream';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Dispatcher } from 'undici';
import type { ErrorCode } from '../pipeline/errors.js';
import { ERRORS } from '../pipeline/errors.js';
import { PROBLEM_CONTENT_TYPE, problemBody, type ProblemError } from '../pipeline/problem.js';
import { runComplete, runRequest, runResponse, usSince, type RunResult } from '../pipeline/runner.js';
import type { ChainEntry, ClearanceVerifier, ClientCertificate, CompletedContext, Decision, Outcome, RequestContext, ResponseContext, RouteInfo, StageName } from '../pipeline/types.js';
import { CHALLENGE_PAGE_CSP, CHALLENGE_PATH, challengePage } from '../abuse/index.js';
import { clientResponseHeadersRaw, isSafeHost, upstreamRequestHeaders } from '../proxy/headers.js';
import type { DeadlineEntry, Deadlines } from '../proxy/deadlines.js';
import { BodyTooLargeError, TotalTimeoutError, classifyUpstreamError } from '../proxy/upstream.js';
import { readBoundedThen } from '../pipeline/read-body.js';
import { Limiter, type Ticket } from '../proxy/limiter.js';
import { checkPath } from '../routing/path.js';
import { normalizeIp } from './clientip.js';
import type { CompiledRoute, Runtime } from './runtime.js';

export type GatewayRequest = IncomingMessage | Http2ServerRequest;
export type GatewayResponse = ServerResponse | Http2ServerResponse;

export interface ListenerInfo {
  readonly name: string;
  readonly tls: boolean;
}

/** What the data plane reports to; implemented by telemetry. Must never throw. */
export interface GatewaySink {
  record(c: CompletedContext): void;
  upstreamError(upstream: string, kind: 'connect' | 'timeout' | 'bad-response'): void;
  inflight(delta: 1 | -1): void;
  hookError(stage: StageName, err: unknown): void;
  /** A bug in the gateway surfaced while serving a request (logged with the request id). */
  internalError(requestId: string, err: unknown): void;
}

/** The route info of requests that matched no route (404, 405 and pre-route refusals). */
export const NO_ROUTE: RouteInfo = Object.freeze({
  id: 'none',
  api: undefined,
  operationId: undefined,
  public: false,
  upstream: '',
  maxBodyBytes: 0,
});

/** The route info of the challenge verification endpoint. */
const CHALLENGE_ROUTE: RouteInfo = Object.freeze({
  id: 'challenge',
  api: undefined,
  operationId: undefined,
  public: true,
  upstream: '',
  maxBodyBytes: 4096,
});

const EMPTY_CHAIN: CompiledRoute['chain'] = [];
const EMPTY_BODY = Buffer.alloc(0);

/** A request context before routing: no route, no principal, no findings yet. */
export function newRequestContext(
  requestId: string,
  start: number,
  method: string,
  path: string,
  rawQuery: string,
  headers: RequestContext['headers'],
  client: RequestContext['client'],
  clearance?: ClearanceVerifier,
): RequestContext {
  return {
    requestId,
    start,
    method,
    path,
    rawQuery,
    headers,
    client,
    route: NO_ROUTE,
    params: {},
    principal: undefined,
    body: undefined,
    json: undefined,
    inputs: undefined,
    threats: undefined,
    clearance,
    cleared: undefined,
    findings: [],
    timings: [],
    responseHeaders: {},
  };
}

/** Request ids we keep from upstream hops: 1-128 of [A-Za-z0-9._:-]. */
function validRequestId(v: string): boolean {
  if (v.length === 0 || v.length > 128) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x3a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x2e || c === 0x5f)) return false;
  }
  return true;
}

const certCache = new WeakMap<object, ClientCertificate | null>();

/** The verified client certificate of a TLS connection (computed once per connection). */
function clientCertificate(socket: TLSSocket): ClientCertificate | undefined | 'invalid' {
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  const cached = certCache.get(socket);
  if (cached !== undefined) return cached ?? undefined;
  const cert = socket.getPeerCertificate();
  if (cert === null || Object.keys(cert).length === 0) {
    certCache.set(socket, null);
    return undefined;
  }
  if (!socket.authorized) return 'invalid';
  const subject = distinguishedName(cert.subject);
  const issuer = distinguishedName(cert.issuer);
  const info: ClientCertificate = Object.freeze({
    subject,
    issuer,
    subjectAltNames: (cert.subjectaltname ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
    fingerprint256: cert.fingerprint256,
    serialNumber: cert.serialNumber,
  });
  certCache.set(socket, info);
  return info;
}

/**
 * A certificate name as an RFC 4514 string, values escaped, so a CN such as `admin,O=x` cannot
 * pass for other attributes. Node gives repeated attributes as arrays.
 */
export function distinguishedName(name: Readonly<Record<string, string | string[] | undefined>> | undefined): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(name ?? {})) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) parts.push(`${k}=${escapeDnValue(String(one))}`);
  }
  return parts.join(',');
}

function escapeDnValue(v: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    const special = c === ',' || c === '+' || c === '"' || c === '\\' || c === '<' || c === '>' || c === ';' || c === '=';
    const edge = (i === 0 && (c === ' ' || c === '#')) || (i === v.length - 1 && c === ' ');
    const code = c.charCodeAt(0);
    if (code < 0x20 || code === 0x7f) out += '\\' + code.toString(16).padStart(2, '0');
    else out += special || edge ? '\\' + c : c;
  }
  return out;
}

/**
 * One request in flight. Holds what the final record needs and guarantees it is written once.
 *
 * It is also the undici dispatch handler of its upstream exchange (the callback form:
 * onConnect, onHeaders, onData, onComplete, onError) and its total-timeout entry: no stream,
 * promise, abort signal or timer is created per request for the proxying itself.
 */
class Exchange implements DeadlineEntry {
  done = false;
  bytesIn = 0;
  bytesOut = 0;
  upstreamUs: number | undefined;
  route: CompiledRoute | undefined;
  /** True when the client body was (or will be) left unread: the connection must then close. */
  bodyUnread: boolean;
  /** undici's abort of the upstream exchange, once it is connected. */
  upstreamAbort: ((err?: Error) => void) | undefined;
  /** Why the gateway aborted the upstream exchange (total timeout, client gone), once it did. */
  abortReason: Error | undefined;
  /** The upstream body goes straight into the HTTP/1 response (no holding or filtering stream). */
  direct = false;
  /** Where the upstream body goes otherwise (HTTP/2 response, holding stream, collector). */
  target: Writable | undefined;
  /** undici's resume of a paused upstream body (back-pressure from the client). */
  resume: (() => void) | undefined;
  /** The upstream response ended (onComplete). */
  upstreamEnded = false;
  /** The streamed request body handed to undici (destroyed if the exchange fails). */
  reqBody: Readable | undefined;
  deadlineAt = 0;
  deadlinePrev: DeadlineEntry | undefined;
  deadlineNext: DeadlineEntry | undefined;
  deadlineList: Deadlines | undefined;
  /** Response status sent to the client (0 until headers are written). */
  status = 0;
  /** bytesWritten of the client socket when the response head was written, to count a body of unknown length. */
  wireStart = -1;
  /** Async response stages are deciding; the upstream body waits in a holding stream. */
  holding = false;
  /** The upstream finished while its body was held. */
  upstreamFinished = false;
  /** A client certificate was presented (optional mTLS) and did not verify. */
  certInvalid = false;
  /** Holds a slot of the gateway's concurrency limit (load shedding). */
  slot = false;
  /** Holds a slot of the upstream's limit. */
  upstreamSlot: Limiter | undefined;
  /** Waiting for a slot. */
  ticket: Ticket | undefined;
  /** The upstream body is being buffered for stages that rewrite it (see finishFiltered). */
  filtering: { readonly sink: BodyCollector; readonly rctx: ResponseContext; readonly entries: readonly ChainEntry[]; readonly decided: RunResult | Promise<RunResult> } | undefined;

  constructor(
    readonly gw: Gateway,
    readonly rt: Runtime,
    /** Node detaches `req.socket` once the request body is consumed; this reference stays. */
    readonly socket: Socket | TLSSocket,
    readonly req: GatewayRequest,
    readonly res: GatewayResponse,
    readonly ctx: RequestContext,
    readonly listener: ListenerInfo,
    readonly h2: boolean,
  ) {
    const h = req.headers;
    this.bodyUnread = h2
      ? !(req as Http2ServerRequest).stream.endAfterHeaders
      : h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
  }

  /** Writes the final record once: stage onComplete hooks, audit event, metrics. */
  complete(status: number, outcome: Outcome, code: ErrorCode | undefined, reason: string | undefined): void {
    if (this.done) return;
    this.done = true;
    this.deadlineList?.remove(this);
    // Slots go back when the record is written: exactly once, whatever ended the request.
    if (this.ticket !== undefined) {
      this.ticket.cancel();
      this.ticket = undefined;
    }
    if (this.slot) {
      this.slot = false;
      this.gw.limiter.release();
    }
    if (this.upstreamSlot !== undefined) {
      const l = this.upstreamSlot;
      this.upstreamSlot = undefined;
      l.release();
    }
    const c: CompletedContext = {
      request: this.ctx,
      status,
      outcome,
      code,
      reason,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      upstreamUs: this.upstreamUs,
      totalUs: usSince(this.ctx.start),
    };
    const sink = this.gw.sink;
    runComplete(this.route?.chain ?? EMPTY_CHAIN, c, sink.hookError);
    sink.record(c);
    sink.inflight(-1);
    this.gw.inflight--;
  }

  /** Ends the upstream exchange early (total timeout, client gone); undici then reports through onError. */
  abortUpstream(reason: Error): void {
    this.deadlineList?.remove(this);
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    const abort = this.upstreamAbort;
    this.upstreamAbort = undefined;
    abort?.(reason);
  }

  /** The total timeout passed (called by the upstream's deadline list). */
  onDeadline(): void {
    this.abortUpstream(new TotalTimeoutError('total timeout'));
  }

  // undici dispatch handler ---------------------------------------------------------------

  onConnect(abort: (err?: Error) => void): void {
    // Aborted while queued for a connection: undici learns it now.
    if (this.abortReason !== undefined) abort(this.abortReason);
    else this.upstreamAbort = abort;
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    // 1xx answers are not forwarded (the final response follows).
    if (statusCode < 200) return true;
    const target = this.onUpstreamResponse(statusCode, clientResponseHeadersRaw(raw, this.route!.banners));
    this.resume = resume;
    if (target === this.res && !this.h2) {
      // Completion is decided by the response's 'close' (see Gateway.handle): finished or cut.
      this.direct = true;
      return true;
    }
    this.target = target;
    finished(target, { readable: false }, (err) => {
      this.target = undefined;
      if (err) {
        if (!target.destroyed) target.destroy(err);
        settle(this, err);
        this.upstreamAbort?.(err);
      } else {
        settle(this, null);
      }
    });
    target.on('drain', resume);
    return !target.writableNeedDrain;
  }

  onData(chunk: Buffer): boolean {
    if (this.direct) {
      const res = this.res as ServerResponse;
      if (res.write(chunk)) return true;
      res.once('drain', this.resume!);
      return false;
    }
    const t = this.target;
    return t === undefined ? true : t.write(chunk);
  }

  onComplete(): void {
    this.upstreamEnded = true;
    this.deadlineList?.remove(this);
    if (this.direct) (this.res as ServerResponse).end();
    else this.target?.end();
  }

  onError(err: Error): void {
    const body = this.reqBody;
    if (body !== undefined) {
      this.reqBody = undefined;
      // As undici's own handlers do: the request (not its socket, which answers the client) goes.
      if (body instanceof IncomingMessage) (body as { socket: unknown }).socket = null;
      if (!body.destroyed) body.destroy(err);
    }
    if (this.direct) return settle(this, err);
    const t = this.target;
    if (t !== undefined) {
      // finished() above settles with the error.
      if (!t.destroyed) t.destroy(err);
      return;
    }
    // Possibly inside undici's dispatch call: settle off its stack.
    queueMicrotask(() => settle(this, err));
  }

  /** The client response closed: with the upstream body complete and flushed, the exchange is done; otherwise it was cut. */
  responseClosed(): void {
    if (this.done) return;
    if (this.status === 0) {
      // Once the head is written the upstream exchange (or its stream) reports instead.
      this.complete(499, 'error', undefined, 'client closed the connection');
      this.abortUpstream(new Error('client closed the connection'));
      return;
    }
    if (!this.direct) return;
    if (this.upstreamEnded && (this.res as ServerResponse).writableFinished) return settle(this, null);
    settle(this, Object.assign(new Error('client closed the connection'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    this.abortUpstream(new Error('client closed the connection'));
  }

  /**
   * The upstream status and headers (hop-by-hop fields and banners already removed) arrived;
   * returns where the body goes: the client response itself, or a holding stream while
   * asynchronous response stages run, or a collector for stages that rewrite the body.
   */
  onUpstreamResponse(statusCode: number, out: OutgoingHttpHeaders): Writable {
    if (this.done) throw new Error('exchange already completed');
    const { rt, ctx } = this;
    const route = this.route!;
    this.upstreamUs = usSince(ctx.start);
    Object.assign(out, ctx.responseHeaders);
    out[rt.config.requestId.header] = ctx.requestId;
    if (this.listener.tls && rt.hsts !== undefined) out['strict-transport-security'] = rt.hsts;
    if (this.gw.draining && !this.h2) out.connection = 'close';
    const rctx: ResponseContext = { request: ctx, status: statusCode, headers: out };
    const result = runResponse(route.reversed, rctx);
    if (route.responseBodyChain.length > 0 && ctx.method !== 'HEAD') {
      const entries = route.responseBodyChain.filter((e) => e.stage.wantsResponseBody?.(rctx) === true);
      if (entries.length > 0) {
        const sink = new BodyCollector(rt.config.limits.maxFilteredResponseBytes);
        this.filtering = { sink, rctx, entries, decided: result };
        return sink;
      }
    }
    if (!(result instanceof Promise)) {
      if (!this.startResponse(result, rctx)) throw new Error('response refused');
      return this.res as ServerResponse;
    }
    // The upstream may finish into the holder before the stages decide: completion then waits
    // for the held body to reach the client (see upstreamSettled).
    const holder = new PassThrough();
    this.holding = true;
    holder.once('end', () => {
      this.holding = false;
      if (this.upstreamFinished) this.upstreamSettled(null);
    });
    result.then(
      (r) => (this.startResponse(r, rctx) ? holder.pipe(this.res as ServerResponse) : holder.destroy(new Error('response refused'))),
      (err: unknown) => {
        this.startResponse({ decision: { action: 'deny', code: 'internal_error', reason: String(err) }, stage: undefined }, rctx);
        holder.destroy(new Error('response refused'));
      },
    );
    return holder;
  }

  /** Writes the response head, or the refusal a response stage asked for. True when the body may follow. */
  private startResponse(r: RunResult, rctx: ResponseContext): boolean {
    const d = r.decision;
    if (this.done) return false;
    if (d.action !== 'continue') {
      if (d.action === 'deny') this.deny(d.code, d.reason, d.headers, d.status, d.code === 'stage_failed' || d.code === 'internal_error' ? 'error' : 'denied');
      else this.deny('internal_error', 'unexpected response decision', undefined, undefined, 'error');
      return false;
    }
    this.status = rctx.status;
    const cl = rctx.headers['content-length'];
    this.bytesOut = cl === undefined ? -1 : Number(cl);
    if (this.bytesOut < 0 && !this.h2) this.wireStart = this.socket.bytesWritten;
    this.res.writeHead(rctx.status, rctx.headers);
    return true;
  }

  /** The upstream exchange ended: the body reached the client, or something broke. */
  upstreamSettled(err: Error | null): void {
    if (this.done) return;
    if (this.filtering !== undefined) {
      const f = this.filtering;
      this.filtering = undefined;
      if (err === null) {
        if (f.decided instanceof Promise) {
          f.decided.then(
            (r) => this.finishFiltered(f, r),
            (e: unknown) => this.deny('internal_error', `response stage: ${String(e)}`, undefined, undefined, 'error'),
          );
        } else {
          this.finishFiltered(f, f.decided);
        }
        return;
      }
      if (f.sink.overflow) {
        this.deny('upstream_bad_response', 'response body over limits.maxFilteredResponseBytes on a route that filters responses', undefined, undefined, 'error');
        return;
      }
    }
    if (err === null && this.holding) {
      this.upstreamFinished = true;
      return;
    }
    if (this.bytesOut < 0) this.bytesOut = this.wireStart < 0 ? 0 : this.socket.bytesWritten - this.wireStart;
    if (err === null) {
      this.complete(this.status, 'allowed', undefined, undefined);
      return;
    }
    const reason = this.abortReason ?? err;
    if (this.status !== 0 && (err as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE' && this.abortReason === undefined) {
      this.complete(499, 'error', undefined, 'client closed the connection');
      return;
    }
    const c = classifyUpstreamError(reason);
    if (c.kind !== 'client' && c.kind !== 'internal') this.gw.sink.upstreamError(this.route!.info.upstream, c.kind);
    const code = (reason as { code?: string }).code ?? reason.name;
    if (this.status !== 0) {
      // Headers already sent: the client sees the connection cut, the record says why.
      this.complete(this.status, 'error', c.code, `upstream body: ${code}`);
      destroyResponse(this.res);
      return;
    }
    if (c.kind === 'client') this.bodyUnread = true;
    this.deny(c.code, `upstream exchange failed: ${code}`, undefined, undefined, c.kind === 'client' ? 'denied' : 'error');
    if (c.kind === 'internal') this.gw.sink.internalError(this.ctx.requestId, reason);
  }

  /** The buffered upstream body has arrived: run the rewriting stages, then answer with the result. */
  private finishFiltered(f: NonNullable<Exchange['filtering']>, decided: RunResult): void {
    if (this.done) return;
    if (decided.decision.action !== 'continue') {
      this.startResponse(decided, f.rctx);
      return;
    }
    const headers = f.rctx.headers;
    const encoding = headers['content-encoding'];
    let body = f.sink.body();
    if (encoding !== undefined && encoding !== 'identity') {
      this.deny('upstream_bad_response', `encoded (${String(encoding).slice(0, 20)}) response on a route that filters responses`, undefined, undefined, 'error');
      return;
    }
    for (const e of f.entries) {
      if (e.mode === 'off') continue;
      const t0 = performance.now();
      let out: Buffer | Decision;
      try {
        out = e.stage.onResponseBody!(f.rctx, body);
      } catch (err) {
        this.gw.sink.hookError(e.stage.name, err);
        if (e.onError === 'fail-open') continue;
        this.deny('stage_failed', `${e.stage.name} failed on the response body`, undefined, undefined, 'error');
        return;
      } finally {
        this.ctx.timings.push({ stage: e.stage.name, us: usSince(t0) });
      }
      if (Buffer.isBuffer(out)) {
        if (e.mode === 'enforce') body = out;
      } else if (out.action === 'deny') {
        this.ctx.findings.push({ stage: e.stage.name, code: out.code, reason: out.reason, monitored: e.mode === 'monitor' });
        if (e.mode === 'enforce') {
          this.deny(out.code, out.reason, out.headers, out.status);
          return;
        }
      }
    }
    if (body !== f.sink.body()) {
      // The representation changed: validators of the old one must not describe it.
      delete headers.etag;
      delete headers['content-md5'];
    }
    delete headers['transfer-encoding'];
    headers['content-length'] = body.length;
    if (!this.startResponse(decided, f.rctx)) return;
    this.bytesOut = body.length;
    (this.res as ServerResponse).end(body);
    this.complete(this.status, 'allowed', undefined, undefined);
  }

  /** Security headers every gateway-made answer carries. */
  baseHeaders(): OutgoingHttpHeaders {
    const h: OutgoingHttpHeaders = {
      'content-type': PROBLEM_CONTENT_TYPE,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      [this.rt.config.requestId.header]: this.ctx.requestId,
    };
    if (this.listener.tls && this.rt.hsts !== undefined) h['strict-transport-security'] = this.rt.hsts;
    Object.assign(h, this.ctx.responseHeaders);
    return h;
  }

  /** Refuses with a problem+json answer. */
  deny(
    code: ErrorCode,
    reason: string,
    extra?: Readonly<Record<string, string>>,
    status?: number,
    outcome: Outcome = 'denied',
    errors?: readonly ProblemError[],
    challenge?: Readonly<Record<string, string | number>>,
  ): void {
    const res = this.res;
    const st = status ?? ERRORS[code].status;
    if (res.headersSent) {
      // Too late for an answer (e.g. the upstream broke off mid-body): cut the connection.
      this.complete(st, outcome, code, reason);
      destroyResponse(res);
      return;
    }
    const h = this.baseHeaders();
    if (extra !== undefined) Object.assign(h, extra);
    this.sendLocal(st, h, problemBody(code, this.ctx.requestId, status, errors, challenge), outcome, code, reason);
  }

  /**
   * A stage asked for a proof-of-work challenge and the request has no clearance: browsers get
   * a page that solves it and retries, other clients a problem with the parameters.
   */
  challenge(stage: StageName | undefined, why: string | undefined): void {
    const params = this.rt.challenge.issue(this.ctx);
    const reason = `${stage ?? 'stage'}: ${why ?? 'challenge'}`;
    const header = `algorithm="${params.algorithm}", difficulty=${params.difficulty}, token="${params.token}", expires=${params.expiresAt}, verify="${params.verify}"`;
    const accept = this.req.headers.accept;
    if (typeof accept !== 'string' || !accept.includes('text/html')) {
      return this.deny('challenge_required', reason, { 'portcullis-challenge': header }, undefined, 'denied', undefined, params as unknown as Record<string, string | number>);
    }
    const h = this.baseHeaders();
    h['content-type'] = 'text/html; charset=utf-8';
    h['content-security-policy'] = CHALLENGE_PAGE_CSP;
    h['x-frame-options'] = 'DENY';
    h['referrer-policy'] = 'no-referrer';
    h['portcullis-challenge'] = header;
    this.sendLocal(ERRORS.challenge_required.status, h, challengePage(params, this.ctx.method), 'denied', 'challenge_required', reason);
  }

  /** Writes a complete local answer and the record. */
  private sendLocal(st: number, h: OutgoingHttpHeaders, body: string, outcome: Outcome, code: ErrorCode, reason: string): void {
    const res = this.res;
    h['content-length'] = Buffer.byteLength(body);
    // An unread body would be read and discarded by Node to reuse the connection: close instead.
    if (!this.h2 && (this.bodyUnread || this.gw.draining)) h.connection = 'close';
    this.bytesOut = h['content-length'];
    this.complete(st, outcome, code, reason);
    res.writeHead(st, h);
    (res as ServerResponse).end(this.ctx.method === 'HEAD' ? undefined : body);
    if (!this.h2 && this.bodyUnread) {
      (res as ServerResponse).once('finish', () => (this.socket as Socket).destroySoon());
    }
  }

  /** A local answer that is not an error (CORS preflight, HTTPS redirect). */
  respond(status: number, headers: Readonly<Record<string, string>>): void {
    const h = this.baseHeaders();
    delete h['content-type'];
    Object.assign(h, headers);
    h['content-length'] = 0;
    this.complete(status, 'responded', undefined, undefined);
    this.res.writeHead(status, h);
    this.res.end();
  }
}

const EXCHANGE = Symbol('portcullis.exchange');
type ExchangeOwner = GatewayResponse & { [EXCHANGE]?: Exchange };

/** 'close' of a client response (`this` is the response). */
function onResponseClose(this: ExchangeOwner): void {
  this[EXCHANGE]?.responseClosed();
}

function destroyResponse(res: GatewayResponse): void {
  const stream = (res as Http2ServerResponse).stream;
  if (stream !== undefined) stream.close(0x2 /* INTERNAL_ERROR */);
  else (res as ServerResponse).destroy();
}

/** Buffers an upstream response body up to a limit; past it, the exchange fails (and is refused). */
class BodyCollector extends Writable {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private joined: Buffer | undefined;
  overflow = false;

  constructor(private readonly limit: number) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.size += chunk.length;
    if (this.size > this.limit) {
      this.overflow = true;
      cb(new BodyTooLargeError('response body over limit'));
      return;
    }
    this.chunks.push(chunk);
    cb();
  }

  body(): Buffer {
    this.joined ??= this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    return this.joined;
  }
}

/** Counts body bytes and refuses past the limit. Used for bodies without a trusted length. */
async function* limitedBody(req: Readable, limit: number, ex: Exchange): AsyncGenerator<Buffer> {
  for await (const chunk of req as AsyncIterable<Buffer>) {
    ex.bytesIn += chunk.length;
    if (ex.bytesIn > limit) throw new BodyTooLargeError('request body over limit');
    yield chunk;
  }
}

/**
 * Reads the whole body (for stages that inspect it), up to the limit, then calls `then` with
 * the body or the failure: callbacks rather than promises, so a body costs no promise and no
 * extra tick. A bug in `then` costs the request (500), never the process.
 */
function readBody(req: Readable, limit: number, ex: Exchange, then: (err: Error | null, body: Buffer) => void): void {
  readBoundedThen(req, limit, true, (r) => {
    ex.bytesIn += r.size;
    let err: Error | null = null;
    if (r.kind === 'too-large') err = new BodyTooLargeError('request body over limit');
    // Closed before 'end': the client went away mid-body.
    else if (r.kind === 'aborted') err = Object.assign(new Error('request body aborted'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
    else ex.bodyUnread = false;
    try {
      then(err, r.kind === 'body' ? r.body : EMPTY_BODY);
    } catch (bug) {
      ex.gw.sink.internalError(ex.ctx.requestId, bug);
      if (!ex.done) ex.deny('internal_error', `gateway error: ${bug instanceof Error ? bug.message : String(bug)}`, undefined, undefined, 'error');
    }
  });
}

export class Gateway {
  /** The runtime new requests start on; swapped atomically by reload. */
  runtime: Runtime;
  draining = false;
  /** Requests between arrival and their final record; graceful drain waits for 0. */
  inflight = 0;
  /** The global concurrency limit (`loadShedding`); kept across reloads, settings follow the runtime. */
  readonly limiter: Limiter;

  constructor(
    runtime: Runtime,
    readonly sink: GatewaySink,
  ) {
    this.runtime = runtime;
    this.limiter = new Limiter(runtime.config.loadShedding);
  }

  /** The `request` listener for every listener (HTTP/1.1, HTTPS, HTTP/2 compat). */
  handle(req: GatewayRequest, res: GatewayResponse, listener: ListenerInfo): void {
    const start = performance.now();
    const rt = this.runtime;
    const cfg = rt.config;
    const headers = req.headers;
    const socket = req.socket;
    // A request line may claim `HTTP/2.0` on an HTTP/1 connection: only a real HTTP/2 stream is h2.
    const h2 = req.httpVersionMajor === 2 && (req as { stream?: unknown }).stream !== undefined;
    const peerIp = normalizeIp(socket.remoteAddress ?? '');
    const peerTrusted = rt.trusted.has(peerIp);

    const incomingId = headers[cfg.requestId.header];
    const trustId = cfg.requestId.trustIncoming === 'always' || (cfg.requestId.trustIncoming === 'trusted-proxies' && peerTrusted);
    const requestId = trustId && typeof incomingId === 'string' && validRequestId(incomingId) ? incomingId : randomUUID();

    const url = req.url ?? '';
    const q = url.indexOf('?');
    const rawPath = q < 0 ? url : url.slice(0, q);
    let cert: ClientCertificate | undefined;
    let certInvalid = false;
    if (listener.tls) {
      const c = clientCertificate(socket as TLSSocket);
      if (c === 'invalid') certInvalid = true;
      else cert = c;
    }
    const ctx = newRequestContext(requestId, start, req.method ?? 'GET', rawPath, q < 0 ? '' : url.slice(q + 1), headers, {
      ip: rt.trusted.clientIp(peerIp, headers['x-forwarded-for']),
      peerIp,
      tls: listener.tls,
      httpVersion: req.httpVersion,
      certificate: cert,
    }, rt.challenge);
    this.sink.inflight(1);
    this.inflight++;
    const ex = new Exchange(this, rt, socket, req, res, ctx, listener, h2);
    ex.certInvalid = certInvalid;
    // A static listener finds its exchange on the response: no closure or once-wrapper per request.
    (res as ExchangeOwner)[EXCHANGE] = ex;
    res.on('close', onResponseClose);

    // Load shedding first: beyond the limit a request costs a counter and a short answer.
    const limiter = this.limiter;
    if (limiter.settings !== cfg.loadShedding) limiter.settings = cfg.loadShedding;
    if (limiter.tryAcquire()) {
      ex.slot = true;
      this.start(ex, rawPath, peerTrusted);
      return;
    }
    this.wait(ex, limiter, 'gateway', () => {
      if (ex.done) return limiter.release();
      ex.slot = true;
      this.start(ex, rawPath, peerTrusted);
    });
  }

  private start(ex: Exchange, rawPath: string, peerTrusted: boolean): void {
    if (ex.done) return;
    try {
      this.dispatch(ex, rawPath, peerTrusted);
    } catch (err) {
      this.sink.internalError(ex.ctx.requestId, err);
      ex.deny('internal_error', `gateway error: ${err instanceof Error ? err.message : String(err)}`, undefined, undefined, 'error');
    }
  }

  /** Queues `ex` for a slot of `limiter`; refuses it (503 overloaded) when the queue is full or the wait too long. */
  private wait(ex: Exchange, limiter: Limiter, what: string, go: () => void): void {
    const retryAfter = { 'retry-after': String(ex.rt.config.loadShedding.retryAfterSeconds) };
    const ticket = limiter.enqueue(
      () => {
        ex.ticket = undefined;
        // Off the releasing request's stack.
        queueMicrotask(go);
      },
      () => {
        ex.ticket = undefined;
        ex.deny('overloaded', `${what} concurrency limit: no slot within ${limiter.settings.queueTimeoutMs} ms`, retryAfter);
      },
    );
    if (ticket === undefined) return ex.deny('overloaded', `${what} concurrency limit: ${limiter.settings.maxConcurrent} in flight and the queue is full`, retryAfter);
    ex.ticket = ticket;
  }

  private dispatch(ex: Exchange, rawPath: string, peerTrusted: boolean): void {
    const { rt, req, ctx } = ex;
    const cfg = rt.config;
    const limits = cfg.limits;
    const headers = req.headers;

    if (this.draining) return ex.deny('overloaded', 'draining for shutdown', { 'retry-after': '5' });
    if (req.rawHeaders.length / 2 > limits.maxHeaderCount) return ex.deny('headers_too_large', 'too many header fields');
    if (!ex.h2) {
      // HTTP/1 connections speak 1.0 or 1.1; anything else in the request line is not a version we frame.
      if (req.httpVersionMajor !== 1) return ex.deny('malformed_request', `unsupported HTTP version ${req.httpVersion.slice(0, 8)}`);
      // Node's parser already refuses Content-Length with Transfer-Encoding and bad chunking;
      // these are the remaining ways two servers could frame this message differently.
      const te = headers['transfer-encoding'];
      if (te !== undefined && te.toLowerCase() !== 'chunked') return ex.deny('ambiguous_framing', `transfer-encoding ${te.slice(0, 40)}`);
      let lengths = 0;
      const raw = req.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 14 && raw[i]!.toLowerCase() === 'content-length') lengths++;
      if (lengths > 1) return ex.deny('ambiguous_framing', 'several content-length fields');
    }
    if ((req.url ?? '').length > limits.maxUrlLength) return ex.deny('uri_too_long', 'request target over limit');

    if (ex.certInvalid) {
      return ex.deny('client_certificate_invalid', 'client certificate did not verify');
    } else if (!ex.listener.tls && cfg.tls.required) {
      const host = headers.host;
      const method = ctx.method;
      if (cfg.tls.redirectHttp && (method === 'GET' || method === 'HEAD') && typeof host === 'string' && isSafeHost(host) && rt.httpsPort !== undefined) {
        const hostname = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':', 1)[0]!;
        const port = rt.httpsPort === 443 ? '' : `:${rt.httpsPort}`;
        return ex.respond(308, { location: `https://${hostname}${port}${req.url ?? '/'}` });
      }
      return ex.deny('https_required', 'plain HTTP on a TLS-only gateway');
    }

    const verdict = checkPath(rawPath, limits.encodedSlashes === 'keep');
    if (verdict !== 'ok') {
      return ex.deny(verdict === 'malformed' ? 'malformed_request' : 'path_not_normalized', `path ${verdict}`);
    }
    // Reserved before routing: no API route can shadow the challenge verification.
    if (rawPath === CHALLENGE_PATH) return this.redeemChallenge(ex);

    // A CORS preflight is routed by the method it asks about.
    const preflight = ctx.method === 'OPTIONS' && typeof headers['access-control-request-method'] === 'string';
    const method = preflight ? (headers['access-control-request-method'] as string) : ctx.method;
    const host = ex.h2 ? (headers[':authority'] as string | undefined) : headers.host;
    const found = rt.table.lookup(method, rawPath, host);
    if (found.kind === 'not-found') return ex.deny('route_not_found', 'no route');
    if (found.kind === 'method-not-allowed') return ex.deny('method_not_allowed', 'method not declared', { allow: found.allow });

    const route = found.value;
    ex.route = route;
    (ctx as { route: RouteInfo }).route = route.info;
    (ctx as { params: RequestContext['params'] }).params = found.params;

    if (preflight) {
      if (route.preflight === undefined) return ex.deny('cors_origin_denied', 'preflight on a route without CORS');
      const r = runPreflight(route, ctx);
      // A preflight is never forwarded; in monitor mode a refused one is answered without CORS headers.
      if (r.decision.action === 'continue') return ex.respond(204, {});
      return this.afterRequestStages(ex, r, peerTrusted);
    }

    const cl = headers['content-length'];
    if (cl !== undefined && Number(cl) > route.info.maxBodyBytes) return ex.deny('body_too_large', 'content-length over limit');

    const result = runRequest(route.headChain, ctx);
    if (result instanceof Promise) {
      result.then(
        (r) => this.afterRequestStages(ex, r, peerTrusted),
        (err: unknown) => ex.deny('internal_error', `runner: ${String(err)}`, undefined, undefined, 'error'),
      );
    } else {
      this.afterRequestStages(ex, result, peerTrusted);
    }
  }

  private afterRequestStages(ex: Exchange, result: RunResult, peerTrusted: boolean): void {
    const d = result.decision;
    if (d.action === 'deny') return ex.deny(d.code, d.reason, d.headers, d.status, d.code === 'stage_failed' ? 'error' : 'denied', d.errors);
    if (d.action === 'respond') return ex.respond(d.status, d.headers);
    if (d.action === 'challenge') return ex.challenge(result.stage, d.reason);
    const route = ex.route!;
    if (route.bodyChain.length === 0 || ex.ctx.body !== undefined) return this.forward(ex, peerTrusted);
    // Body-inspecting stages run once, on the complete body (empty when the request has none).
    if (!ex.bodyUnread) {
      // No body: no read to wait for, so the body stages run synchronously.
      ex.ctx.body = EMPTY_BODY;
      const r = runRequest(route.bodyChain, ex.ctx);
      if (r instanceof Promise) {
        r.then(
          (res) => this.afterRequestStages(ex, res, peerTrusted),
          (err: unknown) => ex.deny('internal_error', String(err), undefined, undefined, 'error'),
        );
      } else {
        this.afterRequestStages(ex, r, peerTrusted);
      }
      return;
    }
    readBody(ex.req, route.info.maxBodyBytes, ex, (err, buf) => {
      if (err !== null) return ex.deny(classifyUpstreamError(err).code, 'request body: ' + String(err));
      ex.ctx.body = buf;
      const r = runRequest(route.bodyChain, ex.ctx);
      if (r instanceof Promise) {
        r.then(
          (res) => this.afterRequestStages(ex, res, peerTrusted),
          (e: unknown) => ex.deny('internal_error', String(e), undefined, undefined, 'error'),
        );
      } else {
        this.afterRequestStages(ex, r, peerTrusted);
      }
    });
  }

  /** `POST /.well-known/portcullis/challenge` with `{ token, solution }` (JSON or a form): sets the clearance cookie. */
  private redeemChallenge(ex: Exchange): void {
    const { ctx, req } = ex;
    (ctx as { route: RouteInfo }).route = CHALLENGE_ROUTE;
    if (ctx.method !== 'POST') return ex.deny('method_not_allowed', 'the challenge endpoint takes POST', { allow: 'POST' });
    const cl = req.headers['content-length'];
    if (cl !== undefined && Number(cl) > CHALLENGE_ROUTE.maxBodyBytes) return ex.deny('body_too_large', 'challenge solution over 4 KiB');
    readBody(req, CHALLENGE_ROUTE.maxBodyBytes, ex, (err, buf) => {
      if (err !== null) return ex.deny(classifyUpstreamError(err).code, 'challenge body: ' + String(err));
      const fields = solutionFields(buf, req.headers['content-type']);
      if (fields === undefined) return ex.deny('challenge_failed', 'body is not JSON or a form with string token and solution');
      const r = ex.rt.challenge.redeem(ctx, fields.token, fields.solution);
      if (!r.ok) return r.full ? ex.deny('overloaded', r.reason, { 'retry-after': '5' }) : ex.deny('challenge_failed', r.reason);
      ex.respond(204, { 'set-cookie': ex.rt.challenge.setCookie(r.cookie, ctx.client.tls) });
    });
  }

  private forward(ex: Exchange, peerTrusted: boolean): void {
    const { rt, req, ctx } = ex;
    const route = ex.route!;
    const limiter = route.upstream.limiter;
    if (limiter !== undefined && ex.upstreamSlot === undefined) {
      if (limiter.tryAcquire()) {
        ex.upstreamSlot = limiter;
      } else {
        return this.wait(ex, limiter, `upstream ${route.upstream.cfg.name}`, () => {
          if (ex.done) return limiter.release();
          ex.upstreamSlot = limiter;
          this.forward(ex, peerTrusted);
        });
      }
    }
    const upstreamCfg = route.upstream.cfg;
    let path = ctx.path;
    if (route.stripPrefix !== '') path = path.slice(route.stripPrefix.length) || '/';
    if (route.upstreamPrefix !== '') path = route.upstreamPrefix + path;
    if (ctx.rawQuery !== '') path += '?' + ctx.rawQuery;

    const headers = upstreamRequestHeaders(req.headers, {
      clientIp: ctx.client.ip,
      peerIp: ctx.client.peerIp,
      peerTrusted,
      proto: ex.listener.tls ? 'https' : 'http',
      host: ex.h2 ? (req.headers[':authority'] as string | undefined) : req.headers.host,
      requestIdHeader: rt.config.requestId.header,
      requestId: ctx.requestId,
    });

    // A body that stages rewrite must arrive as is: no compression to undo.
    if (route.responseBodyChain.length > 0) headers['accept-encoding'] = 'identity';
    let body: Dispatcher.DispatchOptions['body'];
    if (ctx.body !== undefined && ctx.body !== EMPTY_BODY) {
      body = ctx.body;
      headers['content-length'] = String(ctx.body.length);
    } else if (ex.bodyUnread) {
      const cl = req.headers['content-length'];
      if (cl !== undefined && !ex.h2) {
        // The parser guarantees exactly Content-Length bytes; it was checked against the limit.
        body = req as IncomingMessage;
        ex.bytesIn = Number(cl);
      } else {
        body = Readable.from(limitedBody(req as Readable, route.info.maxBodyBytes, ex), { objectMode: false });
      }
      ex.reqBody = body as Readable;
    }

    route.upstream.deadlines.add(ex);
    // The exchange is its own handler: nothing else is allocated per request for the proxying.
    route.upstream.pool.dispatch({ origin: upstreamCfg.origin, method: ctx.method as Dispatcher.HttpMethod, path, headers, body }, ex as unknown as Dispatcher.DispatchHandler);
  }
}

/** `token` and `solution` from a JSON object or a urlencoded form; undefined when absent or not strings. */
function solutionFields(body: Buffer, contentType: string | undefined): { token: string; solution: string } | undefined {
  const type = (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
  let token: unknown;
  let solution: unknown;
  if (type === 'application/x-www-form-urlencoded') {
    const form = new URLSearchParams(body.toString('utf8'));
    token = form.get('token') ?? undefined;
    solution = form.get('solution') ?? undefined;
  } else {
    let v: unknown;
    try {
      v = JSON.parse(body.toString('utf8'));
    } catch {
      return undefined;
    }
    if (typeof v !== 'object' || v === null) return undefined;
    token = (v as Record<string, unknown>).token;
    solution = (v as Record<string, unknown>).solution;
    if (typeof solution === 'number' && Number.isSafeInteger(solution) && solution >= 0) solution = String(solution);
  }
  return typeof token === 'string' && typeof solution === 'string' ? { token, solution } : undefined;
}

/** A bug here must cost one request, never the process. */
function settle(ex: Exchange, err: Error | null): void {
  try {
    ex.upstreamSettled(err);
  } catch (bug) {
    ex.gw.sink.internalError(ex.ctx.requestId, bug);
    if (!ex.done) ex.complete(500, 'error', 'internal_error', 'gateway error after the upstream exchange');
    destroyResponse(ex.res);
  }
}

function runPreflight(route: CompiledRoute, ctx: RequestContext): RunResult {
  const p = route.preflight!;
  // Runs through the runner so the stage's mode and failure policy apply to preflights too.
  const cors: ChainEntry = { stage: { name: 'cors', onRequest: (c: RequestContext) => p.stage.preflight(c) }, mode: p.entry.mode, onError: p.entry.onError };
  const result = runRequest(p.ipRules === undefined ? [cors] : [p.ipRules, cors], ctx);
  return result as RunResult;
}
