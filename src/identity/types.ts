/**
 * Shared shapes of the identity capability. Every verifier (API keys, JWT, introspection,
 * mTLS) answers with an `AuthResult`: a Principal, or a refusal with a stable error code and
 * an audit-only reason. A reason never contains the credential itself.
 */
import type { ErrorCode } from '../pipeline/errors.js';
import type { Principal } from '../pipeline/types.js';

export interface AuthSuccess {
  readonly ok: true;
  readonly principal: Principal;
  /** Epoch ms after which this result must not be reused (token `exp`, key expiry). */
  readonly expiresAt: number | undefined;
}

export interface AuthFailure {
  readonly ok: false;
  readonly code: ErrorCode;
  /** Audit-only. Never the credential. */
  readonly reason: string;
}

export type AuthResult = AuthSuccess | AuthFailure;

export function fail(code: ErrorCode, reason: string): AuthFailure {
  return { ok: false, code, reason };
}
