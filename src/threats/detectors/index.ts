/**
 * The detectors, in the order they run. Each is a tokenizer or grammar for one attack family
 * (see the file of each); the engine hands each the decoded text of every input.
 */
import type { NamedDetector } from '../engine.js';
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

export const DETECTORS: readonly NamedDetector[] = Object.freeze([
  { id: 'sqli', category: 'sqli', detect: detectSqli },
  { id: 'xss', category: 'xss', detect: detectXss },
  { id: 'cmdi', category: 'cmdi', detect: detectCmdi },
  { id: 'code', category: 'code-injection', detect: detectCodeInjection },
  { id: 'traversal', category: 'traversal', detect: detectTraversal },
  { id: 'rfi', category: 'rfi', detect: detectRfi },
  { id: 'ssrf', category: 'ssrf', detect: detectSsrf },
  { id: 'jndi', category: 'jndi', detect: detectJndi },
  { id: 'ssti', category: 'ssti', detect: detectSsti },
  { id: 'nosql', category: 'nosqli', detect: detectNosql },
  { id: 'ldap', category: 'ldapi', detect: detectLdap },
  { id: 'xpath', category: 'xpathi', detect: detectXpath },
  { id: 'proto', category: 'prototype-pollution', detect: detectPrototypePollution },
  { id: 'crlf', category: 'crlf', detect: detectCrlf },
  { id: 'xxe', category: 'xxe', detect: detectXxe },
]);
