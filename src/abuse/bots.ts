/**
 * Bot signals and the `bots` stage. Each signal adds its configured score; the stage refuses
 * at `denyAt`, asks for the proof-of-work challenge at `challengeAt`, and passes below.
 * Authenticated callers are never scored: the stage runs after authentication, and API clients
 * with valid credentials are expected to be scripts.
 *
 * Signals:
 * - no User-Agent at all;
 * - a scripted User-Agent: a substring from a maintained list of HTTP libraries, command-line
 *   tools, scanners and headless browsers, found with indexOf over the lower-cased first 512
 *   characters (no regular expression, linear in the input);
 * - header anomalies: a browser User-Agent (`Mozilla/`) without a header every browser sends
 *   (Accept, Accept-Language, Accept-Encoding), or over HTTP/1.0;
 * - an impossible rate: more than `rate.requests` requests within `rate.windowSeconds` from
 *   one client address, counted in a bounded in-process map (per worker).
 */
import type { BotsConfig } from '../config/types.js';
import type { Decision, RequestContext, Stage } from '../pipeline/types.js';
import { CONTINUE } from '../pipeline/types.js';

/**
 * User-Agent substrings (lower case) of clients that are not people with a browser. Matched
 * anywhere in the header. Keep entries specific enough not to hit browsers (`java/` and not
 * `java`; `python-` and not `python`).
 */
export const SCRIPTED_USER_AGENTS: readonly string[] = Object.freeze([
  // command-line tools
  'curl/',
  'wget/',
  'httpie/',
  'powershell/',
  'libcurl',
  // language runtimes and HTTP libraries
  'python-requests',
  'python-urllib',
  'python-httpx',
  'python/',
  'aiohttp/',
  'httpx/',
  'urllib3/',
  'go-http-client',
  'java/',
  'okhttp/',
  'apache-httpclient',
  'jakarta commons-httpclient',
  'libwww-perl',
  'lwp::simple',
  'perl/',
  'php/',
  'guzzlehttp',
  'ruby',
  'faraday',
  'rest-client',
  'http.rb/',
  'axios/',
  'node-fetch',
  'undici',
  'got (https://github.com/sindresorhus/got)',
  'reqwest/',
  'hyper/',
  'dart:io',
  'restsharp',
  'winhttp',
  'postmanruntime/',
  'insomnia/',
  // crawlers and scraping frameworks
  'scrapy/',
  'mechanize',
  'colly',
  'httpclient',
  // headless and automated browsers
  'headlesschrome',
  'phantomjs',
  'selenium',
  'puppeteer',
  'playwright',
  // scanners
  'sqlmap',
  'nikto',
  'nmap',
  'masscan',
  'zgrab',
  'nuclei',
  'wpscan',
  'dirbuster',
  'gobuster',
  'feroxbuster',
  'ffuf',
  'zmeu',
  'acunetix',
  'nessus',
  'openvas',
  'burp',
  'jndi:',
]);

/** Most User-Agent characters read. */
const MAX_UA = 512;

/** The first list entry found in `ua`, or undefined. */
export function scriptedAgent(ua: string, extra: readonly string[] = []): string | undefined {
  const s = (ua.length > MAX_UA ? ua.slice(0, MAX_UA) : ua).toLowerCase();
  for (const t of SCRIPTED_USER_AGENTS) if (s.includes(t)) return t;
  for (const t of extra) if (s.includes(t)) return t;
  return undefined;
}

/**
 * Requests per client address within a window. Bounded: past `maxClients` addresses the
 * least recently started window is dropped (Map insertion order; a new window re-inserts).
 */
export class RateTracker {
  private readonly clients = new Map<string, { start: number; count: number }>();

  constructor(
    readonly requests: number,
    readonly windowMs: number,
    readonly maxClients: number,
  ) {}

  get size(): number {
    return this.clients.size;
  }

  /** Counts one request; true when this client is over the limit in its current window. */
  hit(key: string, now: number): boolean {
    const c = this.clients.get(key);
    if (c !== undefined) {
      if (now - c.start < this.windowMs) return ++c.count > this.requests;
      // A new window: move the entry to the end, so eviction takes idle clients first.
      this.clients.delete(key);
      c.start = now;
      c.count = 1;
      this.clients.set(key, c);
      return c.count > this.requests;
    }
    if (this.clients.size >= this.maxClients) {
      const oldest = this.clients.keys().next();
      if (oldest.done !== true) this.clients.delete(oldest.value);
    }
    this.clients.set(key, { start: now, count: 1 });
    return 1 > this.requests;
  }

  /** Same settings: a reload keeps the counts. */
  sameAs(cfg: BotsConfig['rate']): boolean {
    return this.requests === cfg.requests && this.windowMs === cfg.windowSeconds * 1000 && this.maxClients === cfg.maxClients;
  }
}

/** User-Agents remembered with their verdict (they repeat: one browser sends the same one all day). */
const UA_CACHE_ENTRIES = 2048;

/** What every bots stage of one runtime shares: settings and the rate counter. */
export class BotSignals {
  readonly rate: RateTracker;
  /** User-Agent → the list entry it contains ('' for none). Bounded: cleared when full. */
  private readonly agents = new Map<string, string>();

  constructor(
    readonly cfg: BotsConfig,
    previous?: BotSignals,
  ) {
    this.rate = previous !== undefined && previous.rate.sameAs(cfg.rate) ? previous.rate : new RateTracker(cfg.rate.requests, cfg.rate.windowSeconds * 1000, cfg.rate.maxClients);
  }

  /** The score of a request and the signals that made it ('' when none). */
  score(ctx: RequestContext, now: number): { score: number; signals: string } {
    const s = this.cfg.scores;
    let score = 0;
    let signals = '';
    const h = ctx.headers;
    const ua = h['user-agent'];
    if (ua === undefined || ua === '') {
      score += s.missingUserAgent;
      signals = 'no user-agent';
    } else {
      let scripted = this.agents.get(ua);
      if (scripted === undefined) {
        scripted = scriptedAgent(ua, this.cfg.scriptedUserAgents) ?? '';
        // Rotating User-Agents only cost misses: the map never holds more than its bound.
        if (this.agents.size >= UA_CACHE_ENTRIES) this.agents.clear();
        if (ua.length <= 512) this.agents.set(ua, scripted);
      }
      if (scripted !== '') {
        score += s.scriptedUserAgent;
        signals = `scripted user-agent (${scripted})`;
      } else if (ua.startsWith('Mozilla/')) {
        const missing = (h.accept === undefined ? ' accept' : '') + (h['accept-language'] === undefined ? ' accept-language' : '') + (h['accept-encoding'] === undefined ? ' accept-encoding' : '');
        const old = ctx.client.httpVersion === '1.0';
        if (missing !== '' || old) {
          score += s.headerAnomaly;
          signals = `browser user-agent ${old ? 'over HTTP/1.0' : `without${missing}`}`;
        }
      }
    }
    if (this.rate.hit(ctx.client.ip, now)) {
      score += s.impossibleRate;
      signals += `${signals === '' ? '' : ', '}over ${this.cfg.rate.requests} requests in ${this.cfg.rate.windowSeconds} s`;
    }
    return { score, signals };
  }
}

export class BotsStage implements Stage {
  readonly name = 'bots' as const;

  constructor(
    private readonly signals: BotSignals,
    private readonly challengeAt: number,
    private readonly denyAt: number,
  ) {}

  onRequest(ctx: RequestContext): Decision {
    // Valid credentials: an API client, expected to be a script. Never scored.
    if (ctx.principal !== undefined) return CONTINUE;
    const { score, signals } = this.signals.score(ctx, Date.now());
    if (score >= this.denyAt) return { action: 'deny', code: 'bot_detected', reason: `bot score ${score}: ${signals}` };
    if (score >= this.challengeAt) return { action: 'challenge', kind: 'pow', reason: `bot score ${score}: ${signals}` };
    return CONTINUE;
  }
}
