/**
 * Compiles the contract of every operation of an API at load time: parameter, body and response
 * validators (ajv, once per schema), the operation's strictness, deprecation and sunset. Problems
 * (a schema ajv cannot compile, a bad `x-portcullis-*` value) are config diagnostics at the
 * operation, so `portcullis check` shows them and a reload with them keeps the old config.
 */
import { operationObject } from '../access/schema-resolve.js';
import { compileBody, type BodyValidator } from '../contract/body.js';
import { compileParameters, type ParameterValidator } from '../contract/params.js';
import { compileResponses, type ResponsePolicy } from '../contract/response.js';
import { SchemaCompiler } from '../contract/schema-compiler.js';
import type { LoadContext } from './normalize.js';
import type { ApiOperation, ContractConfig, LoadedSpec } from './types.js';

export interface OperationContract {
  readonly params: ParameterValidator | undefined;
  readonly body: BodyValidator | undefined;
  readonly responses: ResponsePolicy | undefined;
  readonly strict: boolean;
  readonly undeclared: ContractConfig['responses']['undeclaredProperties'];
  readonly deprecated: boolean;
  /** Epoch ms, from `x-portcullis-sunset`. */
  readonly sunset: number | undefined;
}

export function compileContracts(spec: LoadedSpec, cfg: ContractConfig, ctx: LoadContext): Map<string, OperationContract> {
  const out = new Map<string, OperationContract>();
  let compiler: SchemaCompiler;
  try {
    compiler = new SchemaCompiler(spec);
  } catch (err) {
    ctx.diagnostics.push({ severity: 'error', file: spec.file, line: 1, column: 1, path: '', message: `cannot compile the document's schemas: ${(err as Error).message}` });
    return out;
  }
  for (const op of spec.operations) {
    const report = (severity: 'error' | 'warning', message: string) =>
      ctx.diagnostics.push({ severity, file: spec.file, line: op.location.line, column: op.location.column, path: op.pointer, message });
    const o = operationObject(spec, op.pointer) ?? {};
    let strict = cfg.strict;
    const xs = o['x-portcullis-strict'];
    if (xs !== undefined) {
      if (typeof xs === 'boolean') strict = xs;
      else report('error', 'x-portcullis-strict: expected true or false');
    }
    let undeclared = cfg.responses.undeclaredProperties;
    const xf = o['x-portcullis-response-filter'];
    if (xf !== undefined) {
      if (xf === 'strip' || xf === 'report' || xf === 'off') undeclared = xf;
      else report('error', 'x-portcullis-response-filter: expected strip, report or off');
    }
    let sunset: number | undefined;
    const xsun = o['x-portcullis-sunset'];
    if (xsun !== undefined) {
      const t = typeof xsun === 'string' ? Date.parse(xsun) : typeof xsun === 'object' && xsun instanceof Date ? xsun.getTime() : NaN;
      if (Number.isNaN(t)) report('error', 'x-portcullis-sunset: expected a date or date-time such as 2027-01-31T00:00:00Z');
      else sunset = t;
      if (!op.deprecated) report('warning', 'x-portcullis-sunset on an operation that is not `deprecated: true`');
    }
    const safely = <T>(what: string, f: () => { problems: { severity: 'error' | 'warning'; message: string }[] } & T): T | undefined => {
      try {
        const r = f();
        for (const p of r.problems) report(p.severity, p.message);
        return r;
      } catch (err) {
        report('error', `cannot compile the ${what}: ${(err as Error).message}`);
        return undefined;
      }
    };
    const params = safely('parameters', () => compileParameters(spec, op as ApiOperation, compiler, { strictQuery: strict, maxQueryParams: cfg.limits.maxQueryParams }));
    const body = safely('request body', () => compileBody(spec, op, compiler, { strict, limits: cfg.limits }));
    const responses = safely('responses', () => compileResponses(spec, op, compiler, { validate: cfg.responses.validate, undeclared }));
    out.set(op.operationId, {
      params: params?.validator,
      body: body?.validator,
      responses: responses?.policy,
      strict,
      undeclared,
      deprecated: op.deprecated,
      sunset,
    });
  }
  return out;
}
