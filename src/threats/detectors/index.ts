/**
 * The detectors, in the order they run. Each is a tokenizer or grammar for one attack family
 * (see the file of each); the engine hands each the decoded text of every input.
 */
import { CC, PUNCT } from '../charclass.js';
import type { NamedDetector } from '../engine.js';
import type { ValueFacts } from '../prefilter.js';
import { detectXxe } from '../xml.js';
import { detectCmdi } from './cmdi.js';
import { detectCodeInjection } from './code.js';
import { detectCrlf } from './crlf.js';
import { detectJndi } from './jndi.js';
import { detectLdap } from './ldap.js';
import { detectNosql } from './nosql.js';
import { detectPrototypePollution } from './proto.js';
import { detectSqli } from './sqli.js';
import { detectSsrf } from './ssrf.js';
import { detectSsti } from './ssti.js';
import { detectRfi, detectTraversal } from './traversal.js';
import { detectXpath } from './xpath.js';
import { detectXss } from './xss.js';

/** A member or parameter name made of letters, digits, `-` and `_` only (dotted names such as `java.lang.Runtime` are read). */
const IDENT = CC.ALPHA | CC.DIGIT | CC.DASH | CC.UNDERSCORE;
const identKey = (c: number, isKey: boolean): boolean => isKey && (c & ~IDENT) === 0;
const has = (want: number) => (f: ValueFacts): boolean => (f.classes & want) !== 0 && !identKey(f.classes, f.isKey);

/*
 * Gates (paranoia 1): the character classes without which a family cannot fire. Plain
 * identifier-like member and parameter names go to the NoSQL and prototype-pollution detectors
 * only. test/threats-gates.test.ts replays the corpora with and without gates: same verdicts.
 */
export const DETECTORS: readonly NamedDetector[] = Object.freeze([
  // A single word of letters and digits is no SQL injection; keyword sequences need a space.
  { id: 'sqli', category: 'sqli', detect: detectSqli, gate: has(PUNCT | CC.SPACE) },
  { id: 'xss', category: 'xss', detect: detectXss, gate: has(PUNCT & ~(CC.DASH | CC.UNDERSCORE)) },
  // Whole-value commands (`whoami`) are single words: every value is read, but not plain names.
  { id: 'cmdi', category: 'cmdi', detect: detectCmdi, gate: (f) => !identKey(f.classes, f.isKey) },
  // Serialized-object magics are plain base64 (`rO0AB…`), even in names: always read.
  { id: 'code', category: 'code-injection', detect: detectCodeInjection },
  { id: 'traversal', category: 'traversal', detect: detectTraversal, gate: has(CC.SLASH | CC.BSLASH | CC.DOT | CC.COLON | CC.BRACE | CC.PERCENT | CC.OTHER | CC.NONASCII | CC.CTRL) },
  { id: 'rfi', category: 'rfi', detect: detectRfi, gate: has(CC.COLON | CC.SLASH | CC.BSLASH | CC.OTHER) },
  { id: 'ssrf', category: 'ssrf', detect: detectSsrf, gate: has(CC.DIGIT | CC.COLON | CC.DOT | CC.SLASH | CC.BSLASH | CC.BRACKET | CC.AT | CC.NONASCII) },
  { id: 'jndi', category: 'jndi', detect: detectJndi, gate: has(CC.DOLLAR) },
  { id: 'ssti', category: 'ssti', detect: detectSsti, gate: has(CC.BRACE | CC.LT | CC.BRACKET | CC.AT | CC.HASH | CC.DOLLAR | CC.PERCENT | CC.STAR) },
  { id: 'nosql', category: 'nosqli', detect: detectNosql, gate: (f) => f.isKey || (f.classes & (CC.DOLLAR | CC.UNDERSCORE | CC.BRACKET | CC.SEMI | CC.QUOTE | CC.PAREN | CC.BRACE)) !== 0 },
  { id: 'ldap', category: 'ldapi', detect: detectLdap, gate: has(CC.PAREN) },
  { id: 'xpath', category: 'xpathi', detect: detectXpath, gate: has(CC.QUOTE | CC.SLASH | CC.PAREN | CC.BRACKET) },
  { id: 'proto', category: 'prototype-pollution', detect: detectPrototypePollution, gate: (f) => f.isKey || (f.classes & (CC.UNDERSCORE | CC.BRACKET | CC.DOT)) !== 0 },
  // A line break, or a request line pasted into a value (`GET http://… HTTP/1.1`).
  { id: 'crlf', category: 'crlf', detect: detectCrlf, gate: (f) => !identKey(f.classes, f.isKey) && ((f.classes & CC.NL) !== 0 || (f.classes & (CC.SPACE | CC.SLASH)) === (CC.SPACE | CC.SLASH)) },
  // `<!DOCTYPE`, `<!ENTITY`, and entity declarations without their `<` (`!ENTITY % x SYSTEM`).
  { id: 'xxe', category: 'xxe', detect: detectXxe, gate: has(CC.LT | CC.OTHER) },
]);
