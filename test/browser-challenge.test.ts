/**
 * The proof-of-work round trip in a real browser: Debian's Chromium driven by playwright-core
 * opens a public route of a gateway with bots enabled. Headless Chromium announces itself
 * (`HeadlessChrome`), so it is challenged; the page must solve the puzzle, get the clearance
 * cookie, reload, and show the upstream's answer, with no human involved.
 *
 * Twice: on 127.0.0.1 (a secure context: WebCrypto) and on a name mapped to 127.0.0.1 (plain
 * HTTP on a non-local name: no WebCrypto, the page's own SHA-256).
 *
 * Skips with a message when /usr/bin/chromium is missing, and fails instead when CI is set
 * (.ci/run installs it).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext } from 'playwright-core';
import { startTestGateway, startUpstream, tempDir, type TestGateway, type Upstream } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP portcullis.test 127.0.0.1',
];

const present = existsSync(CHROMIUM);
if (!present && process.env.CI) throw new Error(`${CHROMIUM} is missing: CI must install Chromium (apt-get install -y chromium) for the browser test`);
if (!present) console.log(`# SKIP browser challenge test: ${CHROMIUM} not found (apt-get install -y chromium)`);

/** Ends the browser processes this test process started (by pid), if closing the context hangs. */
function killOwnChildren(): void {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  } catch {
    return;
  }
  for (const pid of out.split('\n').map((l) => Number(l.trim())).filter((p) => p > 0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

describe('proof-of-work challenge in a real browser', { skip: present ? false : `${CHROMIUM} not found`, timeout: 180_000 }, () => {
  let up: Upstream;
  let gw: TestGateway;
  let context: BrowserContext;

  before(async () => {
    up = await startUpstream();
    gw = await startTestGateway(`version: 1
listeners: [{ host: 127.0.0.1, port: 0 }]
admin: { enabled: false }
bots:
  enabled: true
  challenge: { difficulty: 12 }
routes:
  - { name: site, methods: [GET, POST], path: /site/*, upstream: ${up.url}, public: true }
`);
    const { chromium } = await import('playwright-core');
    context = await chromium.launchPersistentContext(tempDir('portcullis-chromium-'), { executablePath: CHROMIUM, headless: true, args: ARGS });
  });
  after(async () => {
    // A failed assertion must never leave the run waiting on the browser.
    const closed = await Promise.race([context?.close().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 15_000).unref())]);
    if (!closed) killOwnChildren();
    await gw?.close();
    await up?.close();
  });

  for (const [what, host] of [
    ['a secure context (WebCrypto)', '127.0.0.1'],
    ['a non-secure context (the page’s own SHA-256)', 'portcullis.test'],
  ] as const) {
    it(`the browser solves the challenge, gets the clearance and sees the page: ${what}`, async () => {
      const page = await context.newPage();
      try {
        const url = `http://${host}:${gw.port}/site/home?from=${host}`;
        const seen = up.seen.length;
        const first = await page.goto(url);
        assert.equal(first?.status(), 403, 'challenged first');
        // The page solves, posts, and reloads by itself. A locator waits from Playwright's own
        // isolated world and retries across the reload; a string predicate (waitForFunction) is
        // evaluated in the page, and the challenge page's CSP (no 'unsafe-eval') refuses it.
        await page.locator('body', { hasText: '"url":' }).waitFor({ timeout: 60_000 });
        const body = String(await page.evaluate('document.body.innerText'));
        // Same origin as the challenge page: which SHA-256 the page used.
        assert.equal(await page.evaluate('window.isSecureContext'), host === '127.0.0.1');
        assert.ok(body.includes(`/site/home?from=${host}`), body.slice(0, 200));
        assert.equal(up.seen.length, seen + 1, 'the upstream saw the request once, after the clearance');
        const cookies = await context.cookies(`http://${host}:${gw.port}`);
        const clearance = cookies.find((c) => c.name === 'portcullis_clearance');
        assert.ok(clearance, 'clearance cookie set');
        assert.equal(clearance.httpOnly, true);
        assert.equal(clearance.sameSite, 'Lax');
        // The next navigation goes straight through.
        const again = await page.goto(`http://${host}:${gw.port}/site/other`);
        assert.equal(again?.status(), 200);
        const events = await gw.waitEvents(1);
        const last = events.at(-1)!;
        assert.equal(last.outcome, 'allowed');
        assert.equal((last.findings as { cleared?: boolean }[])[0]?.cleared, true);
        assert.ok(String(last.userAgent).includes('HeadlessChrome'));
      } finally {
        await page.close();
      }
    });
  }
});
