/**
 * The contract stages of a route compiled from an OpenAPI operation: the document is the list of
 * what may pass (positive security model).
 *
 * - `contract` (head): sunset, parameters, and whether a body may come at all (Content-Type is
 *   checked before a byte of the body is read).
 * - `contract` (body): the body against its media type's schema, after the JSON limits.
 * - `response-contract`: the leak guard, response validation, and removal of properties the
 *   response schema does not declare.
 *
 * Every refusal lists violations as location + name + pointer + rule + expected, never values.
 * What passed is handed on as `RequestContext.inputs` with its declared type, for threat
 * detection to skip values that proved to be integers, enum members, uuids, dates.
 */
import type { Decision, RequestContext, ResponseContext, Stage } from '../pipeline/types.js';
import { CONTINUE } from '../pipeline/types.js';
import { parseJsonBody } from '../access/properties.js';
import type { BodyValidator, BodyWants } from './body.js';
import { scanForLeaks } from './leaks.js';
import type { ParameterValidator } from './params.js';
import { ResponseLimitError, type ResponsePolicy } from './response.js';
import type { TypedInput, Violation } from './schema-compiler.js';

export interface Deprecation {
  readonly deprecated: boolean;
  /** Epoch ms after which calls are refused (410), from `x-portcullis-sunset`. */
  readonly sunset: number | undefined;
}

const NO_INPUTS: readonly TypedInput[] = Object.freeze([]);

function summary(violations: readonly Violation[]): string {
  return violations
    .slice(0, 5)
    .map((v) => `${v.location}${v.name === '' ? '' : ` ${v.name}`}${v.pointer} ${v.rule}`)
    .join('; ');
}

/** Media type of a Content-Type value, lower-cased, without parameters. */
export function mediaTypeOf(ct: string | undefined): string {
  if (ct === undefined) return '';
  const semi = ct.indexOf(';');
  return (semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase();
}

/** Whether `mediaType` is accepted by one of the declared media ranges (`application/json`, `image/*`, `*\/*`). */
export function acceptsMediaType(declared: readonly string[], mediaType: string): boolean {
  if (mediaType === '') return false;
  const slash = mediaType.indexOf('/');
  const major = slash < 0 ? mediaType : mediaType.slice(0, slash);
  for (const d of declared) {
    const m = mediaTypeOf(d);
    if (m === mediaType || m === '*/*' || (m.endsWith('/*') && m.slice(0, -2) === major)) return true;
  }
  return false;
}

function hasBody(ctx: RequestContext): boolean {
  const h = ctx.headers;
  if (h['transfer-encoding'] !== undefined) return true;
  const cl = h['content-length'];
  return cl !== undefined && cl !== '0';
}

export class ContractHeadStage implements Stage {
  readonly name = 'contract' as const;
  private readonly headers: Readonly<Record<string, string>> | undefined;
  private readonly accept: Readonly<Record<string, string>> | undefined;
  /** Whether a Content-Type value is declared, per value seen (few distinct ones; bounded). */
  private readonly accepted = new Map<string, boolean>();

  constructor(
    private readonly params: ParameterValidator | undefined,
    private readonly body: BodyValidator | undefined,
    private readonly deprecation: Deprecation,
    private readonly now: () => number = Date.now,
  ) {
    if (deprecation.deprecated) {
      const h: Record<string, string> = { deprecation: 'true' };
      if (deprecation.sunset !== undefined) h.sunset = new Date(deprecation.sunset).toUTCString();
      this.headers = h;
    }
    this.accept = body !== undefined && body.mediaTypes.length > 0 ? { accept: body.mediaTypes.join(', ') } : undefined;
  }

  onRequest(ctx: RequestContext): Decision {
    if (this.headers !== undefined) {
      Object.assign(ctx.responseHeaders, this.headers);
      if (this.deprecation.sunset !== undefined && this.now() >= this.deprecation.sunset) {
        return { action: 'deny', code: 'operation_sunset', reason: 'called after its sunset date' };
      }
    }
    if (this.params !== undefined) {
      const violations: Violation[] = [];
      const inputs: TypedInput[] = this.params.validate({ params: ctx.params, rawQuery: ctx.rawQuery, headers: ctx.headers }, violations);
      if (violations.length > 0) return { action: 'deny', code: 'request_invalid', reason: summary(violations), errors: violations };
      ctx.inputs = inputs;
    } else {
      ctx.inputs = NO_INPUTS;
    }
    if (hasBody(ctx)) {
      if (this.body === undefined) return { action: 'deny', code: 'unsupported_media_type', reason: 'the operation declares no request body' };
      // A body without Content-Type is application/octet-stream (RFC 9110 §8.3).
      const ct = ctx.headers['content-type'];
      let ok = ct === undefined ? undefined : this.accepted.get(ct);
      const media = ok === true ? '' : mediaTypeOf(ct) || 'application/octet-stream';
      if (ok === undefined) {
        ok = acceptsMediaType(this.body.mediaTypes, media);
        // Multipart values carry a new boundary each time: not kept.
        if (ct !== undefined && this.accepted.size < 64 && ct.length <= 256 && !media.startsWith('multipart/')) this.accepted.set(ct, ok);
      }
      if (!ok) {
        return { action: 'deny', code: 'unsupported_media_type', reason: `content type ${media.slice(0, 60)} not declared`, ...(this.accept ? { headers: this.accept } : {}) };
      }
    }
    return CONTINUE;
  }
}

export class ContractBodyStage implements Stage {
  readonly name = 'contract' as const;
  readonly needsBody = true;

  /**
   * `want.inputs`: whether a later stage of the route reads the body's typed inputs (threat
   * detection); without one, a valid body is not walked to build them. `want.value`: whether a
   * later stage reads the parsed JSON (`RequestContext.json`): property rules.
   */
  constructor(
    private readonly body: BodyValidator,
    private readonly want: BodyWants = {},
  ) {}

  onRequest(ctx: RequestContext): Decision {
    const buf = ctx.body;
    if (buf === undefined) return CONTINUE;
    const ct = ctx.headers['content-type'];
    const r = this.body.validate(typeof ct === 'string' ? ct : undefined, buf, this.want);
    if (!r.ok) return { action: 'deny', code: r.code, reason: r.reason || summary(r.violations), errors: r.violations };
    if (r.inputs.length > 0) ctx.inputs = ctx.inputs === undefined || ctx.inputs.length === 0 ? r.inputs : [...ctx.inputs, ...r.inputs];
    // Later stages (property rules) read the same parsed JSON instead of parsing again.
    if (this.want.value !== false && ctx.json === undefined && buf.length > 0) {
      const media = mediaTypeOf(typeof ct === 'string' ? ct : undefined);
      if (media === 'application/json' || media.endsWith('+json')) ctx.json = { ok: true, value: r.value };
    }
    return CONTINUE;
  }
}

/** Response media types worth reading for leaks: text, JSON, XML, HTML. Never streams of bytes. */
function textual(ct: unknown): boolean {
  const m = mediaTypeOf(typeof ct === 'string' ? ct : undefined);
  return m.startsWith('text/') && m !== 'text/event-stream' ? true : m === 'application/json' || m.endsWith('+json') || m.endsWith('/xml') || m.endsWith('+xml') || m === 'application/problem+json';
}

export interface ResponseContractOptions {
  readonly validate: 'off' | 'monitor' | 'enforce';
  readonly undeclared: 'strip' | 'report' | 'off';
  readonly leakGuard: 'off' | 'monitor' | 'enforce';
  readonly internalIps: boolean;
}

export class ResponseContractStage implements Stage {
  readonly name = 'response-contract' as const;

  constructor(
    private readonly policy: ResponsePolicy | undefined,
    private readonly opts: ResponseContractOptions,
  ) {}

  wantsResponseBody(ctx: ResponseContext): boolean {
    if (ctx.status === 204 || ctx.status === 304 || ctx.request.method === 'HEAD') return false;
    const ct = ctx.headers['content-type'];
    if (this.opts.leakGuard !== 'off' && textual(ct)) return true;
    return this.policy !== undefined && (this.opts.validate !== 'off' || this.opts.undeclared !== 'off') && this.policy.applies(ctx.status, typeof ct === 'string' ? ct : undefined);
  }

  onResponseBody(ctx: ResponseContext, body: Buffer): Buffer | Decision {
    const ct = ctx.headers['content-type'];
    const contentType = typeof ct === 'string' ? ct : undefined;
    if (this.opts.leakGuard !== 'off' && body.length > 0) {
      const leak = scanForLeaks(body, contentType, { internalIps: this.opts.internalIps });
      if (leak !== undefined) {
        const reason = `response carries a ${leak.kind} (${leak.signature})`;
        if (this.opts.leakGuard === 'enforce') return { action: 'deny', code: 'response_leak_blocked', reason };
        ctx.request.findings.push({ stage: 'response-contract', code: 'response_leak_blocked', reason, monitored: true });
      }
    }
    const policy = this.policy;
    if (policy === undefined || (this.opts.validate === 'off' && this.opts.undeclared === 'off') || !policy.applies(ctx.status, contentType)) return body;
    if (this.opts.validate !== 'off') {
      // An undeclared status or media type is a violation whatever the body holds.
      const head = policy.checkHead(ctx.status, contentType);
      if (head.length > 0) {
        const reason = `response violates the contract: ${summary(head)}`;
        if (this.opts.validate === 'enforce') return { action: 'deny', code: 'response_invalid', reason };
        ctx.request.findings.push({ stage: 'response-contract', code: 'response_invalid', reason, monitored: true });
        return body;
      }
    }
    const media = mediaTypeOf(contentType);
    if (!(media === 'application/json' || media.endsWith('+json'))) return body;
    let value: unknown;
    if (body.length > 0) {
      const parsed = parseJsonBody(body, contentType);
      if (!parsed.ok) {
        const reason = `response body is not acceptable JSON: ${parsed.reason}`;
        if (this.opts.validate === 'enforce') return { action: 'deny', code: 'response_invalid', reason };
        ctx.request.findings.push({ stage: 'response-contract', code: 'response_invalid', reason, monitored: true });
        return body;
      }
      value = parsed.value;
    }
    let r: ReturnType<ResponsePolicy['check']>;
    try {
      r = policy.check(ctx.status, contentType, value);
    } catch (err) {
      if (!(err instanceof ResponseLimitError)) throw err;
      // Too deep or too large to check: not sent unchecked.
      return { action: 'deny', code: 'response_invalid', reason: `response too complex to check: ${err.message}` };
    }
    if (r.violations.length > 0) {
      const reason = `response violates the contract: ${summary(r.violations)}`;
      if (this.opts.validate === 'enforce') return { action: 'deny', code: 'response_invalid', reason };
      ctx.request.findings.push({ stage: 'response-contract', code: 'response_invalid', reason, monitored: true });
    }
    if (r.removed.length > 0 && this.opts.undeclared === 'report') {
      ctx.request.findings.push({ stage: 'response-contract', code: 'response_invalid', reason: `undeclared response properties: ${r.removed.slice(0, 10).join(', ')}`, monitored: true });
    }
    if (r.removed.length > 0 && this.opts.undeclared === 'strip') return Buffer.from(JSON.stringify(r.body), 'utf8');
    return body;
  }
}
