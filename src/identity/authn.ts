/**
 * The authentication stage: a route's security requirements, as OpenAPI defines them — a list
 * of alternatives (OR), each naming schemes that must all pass (AND) and the scopes each
 * credential must carry — evaluated against the request with the identity schemes' verifiers.
 *
 * The answer when nothing passes is chosen so the client learns what to fix and nothing more:
 * a credential that was presented and refused (its exact code) beats a missing scope (403
 * `insufficient_scope`), which beats a missing credential (401). `WWW-Authenticate` lists the
 * accepted schemes (RFC 6750 `error=` for bearer tokens). Reasons go to the audit event only
 * and never contain a credential.
 */
import type { ErrorCode } from '../pipeline/errors.js';
import type { Decision, Principal, RequestContext, Stage } from '../pipeline/types.js';
import { CONTINUE } from '../pipeline/types.js';
import type { AuthFailure, AuthResult } from './types.js';

/** A configured scheme, ready to check requests. */
export interface SchemeVerifier {
  readonly name: string;
  readonly type: 'apiKey' | 'jwt' | 'introspection' | 'mtls';
  /** Its `WWW-Authenticate` challenge (without `error=`), or undefined when it has none (mTLS). */
  readonly challenge: string | undefined;
  /** undefined: the request carries no credential for this scheme. */
  authenticate(ctx: RequestContext): AuthResult | Promise<AuthResult> | undefined;
}

export interface CompiledRequirement {
  readonly schemes: readonly { readonly verifier: SchemeVerifier; readonly scopes: readonly string[] }[];
}

type Outcome =
  | { readonly kind: 'ok'; readonly principal: Principal }
  | { readonly kind: 'missing'; readonly verifier: SchemeVerifier }
  | { readonly kind: 'refused'; readonly verifier: SchemeVerifier; readonly failure: AuthFailure }
  | { readonly kind: 'scope'; readonly verifier: SchemeVerifier; readonly missing: readonly string[] };

const BEARER_TYPES = new Set(['jwt', 'introspection']);

function missingScopes(granted: readonly string[], required: readonly string[]): string[] {
  const out: string[] = [];
  for (const s of required) if (!granted.includes(s)) out.push(s);
  return out;
}

/** Quotes a value for an auth-param (RFC 9110 quoted-string); scope names come from config, not from requests. */
function quoted(v: string): string {
  return '"' + v.replaceAll('\\', '\\\\').replaceAll('"', '\\"') + '"';
}

export class AuthnStage implements Stage {
  readonly name = 'authn' as const;
  private readonly challenges: string;
  private readonly bearerChallenge: string | undefined;
  private readonly single: SchemeVerifier | undefined;

  constructor(private readonly requirements: readonly CompiledRequirement[]) {
    const seen = new Set<string>();
    const list: string[] = [];
    let bearer: string | undefined;
    for (const r of requirements) {
      for (const { verifier } of r.schemes) {
        if (verifier.challenge === undefined || seen.has(verifier.challenge)) continue;
        seen.add(verifier.challenge);
        list.push(verifier.challenge);
        if (BEARER_TYPES.has(verifier.type)) bearer ??= verifier.challenge;
      }
    }
    this.challenges = list.join(', ');
    this.bearerChallenge = bearer;
    const only = requirements.length === 1 && requirements[0]!.schemes.length === 1 ? requirements[0]!.schemes[0]! : undefined;
    this.single = only?.scopes.length === 0 ? only.verifier : undefined;
  }

  onRequest(ctx: RequestContext): Decision | Promise<Decision> {
    // The common case, one scheme and no scopes, without the general machinery.
    if (this.single !== undefined) {
      const r = this.single.authenticate(ctx);
      if (r === undefined) return this.refuse([{ kind: 'missing', verifier: this.single }]);
      if (r instanceof Promise) return r.then((res) => this.settleSingle(ctx, res));
      return this.settleSingle(ctx, r);
    }
    return this.evaluate(ctx);
  }

  private settleSingle(ctx: RequestContext, r: AuthResult): Decision {
    if (r.ok) {
      ctx.principal = r.principal;
      return CONTINUE;
    }
    return this.refuse([{ kind: 'refused', verifier: this.single!, failure: r }]);
  }

  /**
   * Alternatives in order, schemes in order, each verifier asked at most once. Synchronous
   * until a verifier answers with a promise (a signature to check, an introspection call):
   * then it resumes at the same alternative once that answer is in.
   */
  private evaluate(ctx: RequestContext, memo = new Map<SchemeVerifier, AuthResult | undefined>(), from = 0, outcomes: Outcome[] = []): Decision | Promise<Decision> {
    for (let i = from; i < this.requirements.length; i++) {
      const req = this.requirements[i]!;
      let principal: Principal | undefined;
      let failed: Outcome | undefined;
      for (const { verifier, scopes } of req.schemes) {
        let r: AuthResult | undefined;
        if (memo.has(verifier)) r = memo.get(verifier);
        else {
          const got = verifier.authenticate(ctx);
          if (got instanceof Promise) {
            return got.then((res) => {
              memo.set(verifier, res);
              return this.evaluate(ctx, memo, i, outcomes);
            });
          }
          r = got;
          memo.set(verifier, r);
        }
        if (r === undefined) failed = { kind: 'missing', verifier };
        else if (!r.ok) failed = { kind: 'refused', verifier, failure: r };
        else {
          const missing = missingScopes(r.principal.scopes, scopes);
          if (missing.length > 0) failed = { kind: 'scope', verifier, missing };
          // With several schemes (e.g. mTLS and a token), the token's principal speaks for the caller.
          else if (principal === undefined || principal.type === 'mtls') principal = r.principal;
        }
        if (failed !== undefined) break;
      }
      if (failed === undefined && principal !== undefined) {
        ctx.principal = principal;
        return CONTINUE;
      }
      if (failed !== undefined) outcomes.push(failed);
    }
    return this.refuse(outcomes);
  }

  private refuse(outcomes: readonly Outcome[]): Decision {
    const refused = outcomes.find((o) => o.kind === 'refused') as Extract<Outcome, { kind: 'refused' }> | undefined;
    if (refused !== undefined) {
      const f = refused.failure;
      const headers: Record<string, string> = {};
      if (BEARER_TYPES.has(refused.verifier.type) && refused.verifier.challenge !== undefined && f.code !== 'identity_provider_unavailable') {
        headers['www-authenticate'] = `${refused.verifier.challenge}, error="invalid_token"`;
      } else if (this.challenges !== '' && f.code !== 'identity_provider_unavailable') {
        headers['www-authenticate'] = this.challenges;
      }
      if (f.code === 'identity_provider_unavailable') headers['retry-after'] = '5';
      return { action: 'deny', code: f.code, reason: `${refused.verifier.name}: ${f.reason}`, headers };
    }
    const scope = outcomes.find((o) => o.kind === 'scope') as Extract<Outcome, { kind: 'scope' }> | undefined;
    if (scope !== undefined) {
      const headers: Record<string, string> = {};
      const challenge = BEARER_TYPES.has(scope.verifier.type) ? scope.verifier.challenge : this.bearerChallenge;
      if (challenge !== undefined) headers['www-authenticate'] = `${challenge}, error="insufficient_scope", scope=${quoted(scope.missing.join(' '))}`;
      return { action: 'deny', code: 'insufficient_scope', reason: `${scope.verifier.name}: missing scope ${scope.missing.join(' ')}`, headers };
    }
    let code: ErrorCode = 'unauthenticated';
    const missing = outcomes.filter((o) => o.kind === 'missing');
    if (missing.length > 0 && missing.every((o) => o.verifier.type === 'mtls')) code = 'client_certificate_required';
    else if (missing.length > 0 && missing.every((o) => BEARER_TYPES.has(o.verifier.type))) code = 'token_missing';
    const headers = this.challenges === '' ? undefined : { 'www-authenticate': this.challenges };
    return { action: 'deny', code, reason: `no credential for ${[...new Set(missing.map((o) => o.verifier.name))].join(', ') || 'this route'}`, ...(headers ? { headers } : {}) };
  }
}

/** The token of `Authorization: Bearer <token>`, or undefined. */
export function bearerToken(ctx: RequestContext): string | undefined {
  const h = ctx.headers.authorization;
  if (typeof h !== 'string' || h.length < 8) return undefined;
  // Scheme names are case-insensitive (RFC 9110 §11.1).
  if (h.charCodeAt(6) !== 0x20 || h.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
  const token = h.slice(7).trim();
  return token === '' ? undefined : token;
}

/** The single value of query parameter `name` in a raw query, 'several' when repeated, undefined when absent. */
export function queryParam(rawQuery: string, name: string): string | 'several' | undefined {
  if (rawQuery === '') return undefined;
  let found: string | undefined;
  let start = 0;
  while (start <= rawQuery.length) {
    let end = rawQuery.indexOf('&', start);
    if (end < 0) end = rawQuery.length;
    const eq = rawQuery.indexOf('=', start);
    const keyEnd = eq >= 0 && eq < end ? eq : end;
    if (keyEnd - start === name.length && rawQuery.startsWith(name, start)) {
      if (found !== undefined) return 'several';
      const raw = keyEnd === end ? '' : rawQuery.slice(keyEnd + 1, end);
      try {
        found = decodeURIComponent(raw.replaceAll('+', ' '));
      } catch {
        found = '';
      }
    }
    start = end + 1;
  }
  return found;
}
