/**
 * Path normalization check, run on the raw request target before routing.
 *
 * The gateway authorizes one path; the upstream must not be able to read another one from the
 * same bytes. So instead of normalizing (and guessing how each upstream would normalize), any
 * path that a server could read in two ways is refused:
 *  - dot-segments `.` and `..`, also percent-encoded (`%2e`), also with a `;` suffix (`..;/`, the
 *    Tomcat trick), also as UTF-8 overlongs (`%c0%ae`), which decode as invalid UTF-8; each run
 *    of percent-encoded bytes above 0x7f must be whole, valid UTF-8 characters (`%C3%A9x` is
 *    `éx`; `%C3x` and `%C0%AE` are refused);
 *  - encoded `/` or `\` (`%2f`, `%5c`), a raw `\`, empty segments (`//`);
 *  - control characters and NUL, raw or encoded; raw bytes above 0x7e;
 *  - malformed percent-encoding (`%zz`, `%4`).
 *
 * One pass over the string, no regular expressions: linear in the path length.
 */
export type PathVerdict = 'ok' | 'malformed' | 'not-normalized';

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function validUtf8(bytes: number[]): boolean {
  try {
    utf8.decode(Uint8Array.from(bytes));
    return true;
  } catch {
    return false;
  }
}

/**
 * `keepEncodedSlashes` (config `limits.encodedSlashes: keep`): `%2F` and `%5C` are data inside a
 * segment (GitLab's `/projects/group%2Fproject`, npm's `/@scope%2Fname`), routed and forwarded
 * as they are. What an upstream that decodes them would read as dot-segments or empty segments
 * (`..%2F`, `%2F%2F`) is refused all the same.
 */
export function checkPath(raw: string, keepEncodedSlashes = false): PathVerdict {
  const n = raw.length;
  if (n === 0 || raw.charCodeAt(0) !== 0x2f) return 'malformed';
  // Per segment: how many characters before any `;`, and whether all of them are dots.
  let segLen = 0;
  let dots = 0;
  let inParams = false;
  let highBytes: number[] | undefined;
  for (let i = 1; i <= n; i++) {
    let c = i < n ? raw.charCodeAt(i) : 0x2f; // a virtual `/` closes the last segment
    if (c === 0x2f) {
      if (segLen === 0 && i < n) return 'not-normalized'; // `//`
      if (segLen > 0 && dots === segLen && dots <= 2) return 'not-normalized'; // `.` or `..`
      if (highBytes !== undefined) {
        if (!validUtf8(highBytes)) return 'not-normalized'; // overlong or invalid UTF-8
        highBytes = undefined;
      }
      segLen = 0;
      dots = 0;
      inParams = false;
      continue;
    }
    if (c === 0x25) {
      if (i + 2 >= n) return 'malformed';
      const hi = hexValue(raw.charCodeAt(i + 1));
      const lo = hexValue(raw.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return 'malformed';
      c = hi * 16 + lo;
      i += 2;
      if ((c === 0x2f || c === 0x5c) && keepEncodedSlashes) {
        // a segment boundary for an upstream that decodes it: the piece before must not be
        // empty, `.` or `..`
        if (segLen === 0 || (dots === segLen && dots <= 2)) return 'not-normalized';
        if (highBytes !== undefined) {
          if (!validUtf8(highBytes)) return 'not-normalized';
          highBytes = undefined;
        }
        segLen = 0;
        dots = 0;
        continue;
      }
      if (c === 0x2f || c === 0x5c || c < 0x20 || c === 0x7f) return 'not-normalized';
      if (c >= 0x80) (highBytes ??= []).push(c);
      else if (highBytes !== undefined && !validUtf8(highBytes)) return 'not-normalized'; // truncated multi-byte sequence
      else highBytes = undefined;
    } else if (c <= 0x20 || c >= 0x7f) {
      return c >= 0x7f && c !== 0x7f ? 'malformed' : 'not-normalized';
    } else if (c === 0x5c) {
      return 'not-normalized';
    } else if (highBytes !== undefined) {
      // an ASCII character after encoded bytes (`%C3%A9x`): those bytes must be whole characters
      if (!validUtf8(highBytes)) return 'not-normalized';
      highBytes = undefined;
    }
    if (c === 0x3b) inParams = true;
    if (!inParams) {
      segLen++;
      if (c === 0x2e) dots++;
    }
  }
  return 'ok';
}
