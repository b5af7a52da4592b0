import { ERRORS, type ErrorCode } from './errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const PROBLEM_TYPE_BASE = 'https://portcullis.dev/errors/';

/**
 * The RFC 9457 body for a refusal. Built only from the registry and the request id, so no
 * request data, upstream detail or stack can leak into it.
 */
export function problemBody(code: ErrorCode, requestId: string | undefined, status?: number): string {
  const spec = ERRORS[code];
  const body: Record<string, string | number> = {
    type: PROBLEM_TYPE_BASE + code,
    title: spec.title,
    status: status ?? spec.status,
    code,
  };
  if (requestId !== undefined) body.requestId = requestId;
  return JSON.stringify(body);
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
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
