import { ERRORS, ERROR_CODES } from './errors.js';
import { PROBLEM_TYPE_BASE } from './problem.js';

/** docs/errors.md, generated from the registry (test/errors-doc.test.ts keeps the file in sync). */
export function errorsMarkdown(): string {
  const lines = [
    '# Error codes',
    '',
    '<!-- Generated from src/pipeline/errors.ts by `npm run docs`; a test fails when this file is out of date. -->',
    '',
    'Every refusal is an [RFC 9457](https://www.rfc-editor.org/rfc/rfc9457) problem with',
    '`Content-Type: application/problem+json`, a stable `code`, and the request id:',
    '',
    '```json',
    JSON.stringify({ type: `${PROBLEM_TYPE_BASE}unauthenticated`, title: ERRORS.unauthenticated.title, status: 401, code: 'unauthenticated', requestId: '0b6f1c1e-4d0e-4a55-9a43-3f1f2f5b8c11' }, null, 2),
    '```',
    '',
    'The body never carries request data, upstream addresses, stack traces or rule text; the',
    'reason behind a refusal is in the audit event with the same `requestId`.',
    '',
    '| code | status | title |',
    '|---|---|---|',
    ...ERROR_CODES.map((c) => `| [\`${c}\`](#${c}) | ${ERRORS[c].status} | ${ERRORS[c].title} |`),
    '',
  ];
  for (const c of ERROR_CODES) {
    lines.push(`## ${c}`, '', `**${ERRORS[c].status}**: ${ERRORS[c].title}`, '', ERRORS[c].doc, '');
  }
  return lines.join('\n');
}
