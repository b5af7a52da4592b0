/**
 * Shared vocabulary of the threat-detection engine (src/threats).
 *
 * The engine extracts every request input (path segments, query and form values, headers,
 * cookies, JSON/XML leaves and keys, multipart names and values), decodes each one (URL
 * encoding, escapes, HTML entities, overlongs … see normalize.ts) and hands the decoded text
 * to each detector. A detector is a tokenizer or grammar for one attack family: it answers
 * the strongest hit it found in one value, or undefined.
 */

export type ThreatCategory =
  | 'sqli'
  | 'xss'
  | 'cmdi'
  | 'traversal'
  | 'rfi'
  | 'ssrf'
  | 'xxe'
  | 'nosqli'
  | 'ldapi'
  | 'xpathi'
  | 'ssti'
  | 'jndi'
  | 'prototype-pollution'
  | 'deserialization'
  | 'code-injection'
  | 'crlf'
  | 'protocol';

export type Paranoia = 1 | 2 | 3 | 4;

/** Where a value came from. `name` in DetectContext says which one. */
export type InputLocation = 'path' | 'query' | 'form' | 'header' | 'cookie' | 'body' | 'multipart' | 'xml';

/** Severity points, added to the request's score (CRS-like scale). */
export const SEVERITY = Object.freeze({ critical: 5, error: 4, warning: 3, notice: 2 });

export interface Hit {
  /** Stable detector id, `<family>.<rule>`: `sqli.fingerprint`, `xss.event-handler` … */
  readonly detector: string;
  readonly category: ThreatCategory;
  /** Points added to the score: 5 critical, 4 error, 3 warning, 2 notice. */
  readonly severity: number;
  /** Lowest paranoia level at which this hit counts (1 = always). */
  readonly paranoia: Paranoia;
  /**
   * The few characters that made the decision (≤ 40, e.g. the SQL fingerprint `s&1c` or the
   * tag `<svg onload`). The engine truncates and redacts it again before it reaches an event.
   */
  readonly evidence: string;
}

export interface DetectContext {
  /** Requested paranoia level: detectors may skip work for hits that would not count. */
  readonly paranoia: Paranoia;
  readonly location: InputLocation;
  /** Parameter/header/cookie name, or JSON pointer of a body leaf. */
  readonly name: string;
  /** The value is a key (JSON member name, parameter name), not a value. */
  readonly isKey: boolean;
}

/**
 * One detector. `text` is the decoded value (never longer than the engine's per-value limit);
 * `lower` is `text.toLowerCase()` computed once by the engine. Must run in time linear in the
 * length of `text` (no backtracking regular expression over `text`) and must not throw.
 */
export type Detector = (text: string, lower: string, ctx: DetectContext) => Hit | undefined;

/** What the engine reports for one request. */
export interface ThreatFinding {
  readonly detector: string;
  readonly category: ThreatCategory;
  readonly severity: number;
  readonly location: InputLocation;
  /** Parameter/header/cookie name or JSON pointer (redacted names are never secret values). */
  readonly name: string;
  readonly isKey: boolean;
  /** Short, redacted excerpt (never the whole value). */
  readonly excerpt: string;
}

export interface ThreatVerdict {
  /** Sum of the severities of the findings that count at the configured paranoia level. */
  readonly score: number;
  /** score >= threshold, or the inspection budget was exceeded. */
  readonly block: boolean;
  /** Set when the request could not be inspected completely (budget, bad encoding …). */
  readonly incomplete: 'budget' | undefined;
  readonly findings: readonly ThreatFinding[];
}

/** The parts of an HTTP request the engine inspects (engine.ts `ThreatEngine.inspect`). */
export interface RawRequest {
  readonly method: string;
  /** The raw path as sent, without the query (still percent-encoded). */
  readonly rawPath: string;
  /** The raw query string without `?` ('' when absent). */
  readonly rawQuery: string;
  /** Lower-cased header names, as Node's IncomingHttpHeaders. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer | undefined;
}
