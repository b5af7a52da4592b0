/**
 * Attack tooling (family `scanner`, category `protocol`): what a request says about who sent
 * it, not what its payload would do.
 *
 * - `scanner.oast-host`: a host name under a domain that exists only to receive out-of-band
 *   callbacks from security testing (Burp Collaborator, ProjectDiscovery interactsh, public
 *   DNS-log services, blind-XSS collectors). A payload that makes a server resolve or fetch
 *   such a name (blind SSRF, XXE, command injection, Log4Shell) is a probe whatever the rest of
 *   the value says, and a name such as `x.oast.fun` has no other use. Matched as a whole
 *   label suffix (`.oast.fun`, `@oast.fun`, `//oast.fun`), so `boast.fun` is nothing.
 * - `scanner.user-agent`: a `User-Agent` naming an attack tool by its own product token
 *   (sqlmap, Nikto, Nuclei, ffuf, OpenVAS/Nessus plug-ins …), as the CRS scanner rule does.
 *   The token is matched at a word start, case-insensitively, and not followed by a lower-case
 *   letter (`nucleic` is no tool, `OpenVASVT` is one); a tool that hides behind a
 *   browser's string is left to the payload detectors.
 *
 * Both are lists of names, kept short on purpose: services and tools that exist for testing
 * attacks only. Webhook inspectors and canary-token services used by defenders are not in them.
 */
import { isAlpha, isDigit } from '../charclass.js';
import type { Detector, Hit } from '../types.js';

/** Out-of-band interaction domains (a host is one of these or a sub-domain of one). */
export const OAST_DOMAINS: readonly string[] = Object.freeze([
  'burpcollaborator.net',
  'oastify.com',
  'interact.sh',
  'oast.pro',
  'oast.live',
  'oast.site',
  'oast.online',
  'oast.fun',
  'oast.me',
  'dnslog.cn',
  'ceye.io',
  'bxss.me',
  'xss.ht',
]);

/** Product tokens of attack tools in `User-Agent` (lower case; matched at a word start). */
export const SCANNER_AGENTS: readonly string[] = Object.freeze([
  'sqlmap',
  'nikto',
  'nuclei',
  'fuzz faster u fool',
  'gobuster',
  'dirbuster',
  'feroxbuster',
  'dirsearch',
  'wfuzz',
  'wpscan',
  'masscan',
  'zgrab',
  'openvas',
  'nessus',
  '.nasl',
  'acunetix',
  'netsparker',
  'nmap scripting engine',
  'w3af',
  'arachni',
  'havij',
  'commix',
  'jaeles',
  'sqlninja',
  'xsser',
  'skipfish',
  'zmeu',
]);

const isAlnum = (c: number): boolean => isDigit(c) || isAlpha(c);
/** A host-name character (letters, digits, `-`, `_`): what may not come right before a domain or after it. */
const isHostChar = (c: number): boolean => isAlnum(c) || c === 0x2d || c === 0x5f;

/** Is `domain` at `i` of `lower` a whole label suffix: not glued to a longer label, not followed by more of a name? */
function hostAt(lower: string, i: number, domain: string): boolean {
  if (i > 0) {
    const b = lower.charCodeAt(i - 1);
    if (isHostChar(b)) return false;
  }
  const e = i + domain.length;
  if (e < lower.length) {
    const a = lower.charCodeAt(e);
    if (isHostChar(a)) return false;
    // `interact.sh.example.com` is another domain
    if (a === 0x2e && e + 1 < lower.length && isAlnum(lower.charCodeAt(e + 1))) return false;
  }
  return true;
}

function oastHost(lower: string): Hit | undefined {
  for (const d of OAST_DOMAINS) {
    let i = lower.indexOf(d);
    while (i >= 0) {
      if (hostAt(lower, i, d)) {
        return { detector: 'scanner.oast-host', category: 'protocol', severity: 5, paranoia: 1, evidence: d };
      }
      i = lower.indexOf(d, i + 1);
    }
  }
  return undefined;
}

function scannerAgent(text: string, lower: string): Hit | undefined {
  for (const t of SCANNER_AGENTS) {
    let i = lower.indexOf(t);
    while (i >= 0) {
      const after = text.charCodeAt(i + t.length);
      // a word start, and no lower-case letter after (`nucleic` is no tool; `OpenVASVT` is one)
      if ((i === 0 || !isAlnum(lower.charCodeAt(i - 1)) || !isAlnum(t.charCodeAt(0))) && !(after >= 0x61 && after <= 0x7a)) {
        return { detector: 'scanner.user-agent', category: 'protocol', severity: 5, paranoia: 1, evidence: t };
      }
      i = lower.indexOf(t, i + 1);
    }
  }
  return undefined;
}

export const detectScanner: Detector = (text, lower, ctx) => {
  if (ctx.location === 'header' && ctx.name === 'user-agent' && !ctx.isKey) {
    const h = scannerAgent(text, lower);
    if (h) return h;
  }
  return oastHost(lower);
};
