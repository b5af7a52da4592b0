import { ERRORS, type ErrorCode } from './errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const PROBLEM_TYPE_BASE = 'https://portcullis.dev/errors/';

/**
 * The RFC 9457 body for a refusal. Built only from the registry and the request id, so no
 * request data, upstream detail or stack can leak into it.
 */
export function problemBody(
  code: ErrorCode,
  requestId: string | undefined,
  status?: number,
  errors?: readonly ProblemError[],
  /** The parameters of a proof-of-work challenge (`challenge_required`): made by the gateway, never from request data. */
  challenge?: Readonly<Record<string, string | number>>,
): string {
  const spec = ERRORS[code];
  const body: Record<string, unknown> = {
    type: PROBLEM_TYPE_BASE + code,
    title: spec.title,
    status: status ?? spec.status,
    code,
  };
  if (requestId !== undefined) body.requestId = requestId;
  if (errors !== undefined && errors.length > 0) {
    // Only the fields below, so a stage cannot put request data in the body by accident.
    body.errors = errors.slice(0, MAX_PROBLEM_ERRORS).map((e) => ({ location: e.location, name: e.name, pointer: e.pointer, rule: e.rule, expected: e.expected }));
  }
  if (challenge !== undefined) body.challenge = challenge;
  return JSON.stringify(body);
}

/** Most entries listed in a problem's `errors`. */
export const MAX_PROBLEM_ERRORS = 20;

/**
 * One contract violation in a problem body: where (location, parameter name, JSON pointer) and
 * which rule, with what the contract expects in words. Never the offending value.
 */
export interface ProblemError {
  readonly location: string;
  readonly name: string;
  readonly pointer: string;
  readonly rule: string;
  readonly expected: string;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  410: 'Gone',
  415: 'Unsupported Media Type',
  413: 'Content Too Large',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/**
 * A complete HTTP/1.1 response for refusals that happen before Node has a request object
 * (parser errors, header overflow, header timeout): written straight to the socket, then closed.
 */
export function rawProblemResponse(code: ErrorCode): string {
  const status = ERRORS[code].status;
  const body = problemBody(code, undefined);
  return (
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\n` +
    `content-type: ${PROBLEM_CONTENT_TYPE}\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    'cache-control: no-store\r\n' +
    'x-content-type-options: nosniff\r\n' +
    'connection: close\r\n\r\n' +
    body
  );
}
