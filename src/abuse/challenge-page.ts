/**
 * The HTML page a browser gets when challenged: it solves the proof-of-work with WebCrypto (or,
 * where WebCrypto is unavailable because the page is not a secure context, a small SHA-256 in
 * plain JavaScript), posts the solution, and reloads (GET/HEAD) or goes back (other methods,
 * whose body the gateway did not keep).
 *
 * The script and style are static, so the page's Content-Security-Policy allows exactly them by
 * hash: no 'unsafe-inline', no external resource, `connect-src 'self'` for the one POST. The
 * per-request values (token, difficulty, method) sit in data attributes and are restricted to
 * characters that need no HTML escaping.
 */
import { createHash } from 'node:crypto';
import type { ChallengeParams } from './challenge.js';

/** SHA-256 of a Uint8Array in plain JavaScript (FIPS 180-4). Exported for the test that checks it against node:crypto. */
export const JS_SHA256 = `function sha256(bytes) {
  var K = [0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2];
  var H = [0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19];
  var len = bytes.length, n = ((len + 9 + 63) >> 6) << 6;
  var m = new Uint8Array(n); m.set(bytes); m[len] = 0x80;
  var dv = new DataView(m.buffer);
  dv.setUint32(n - 4, (len * 8) >>> 0); dv.setUint32(n - 8, Math.floor(len / 0x20000000));
  var w = new Int32Array(64);
  for (var off = 0; off < n; off += 64) {
    for (var i = 0; i < 16; i++) w[i] = dv.getUint32(off + i * 4);
    for (i = 16; i < 64; i++) {
      var x = w[i - 15], y = w[i - 2];
      var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    var a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
    for (i = 0; i < 64; i++) {
      var t1 = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
      var t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    H[0] = (H[0] + a) | 0; H[1] = (H[1] + b) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0;
    H[4] = (H[4] + e) | 0; H[5] = (H[5] + f) | 0; H[6] = (H[6] + g) | 0; H[7] = (H[7] + h) | 0;
  }
  var out = new Uint8Array(32), ov = new DataView(out.buffer);
  for (i = 0; i < 8; i++) ov.setUint32(i * 4, H[i] >>> 0);
  return out;
}`;

const SCRIPT = `(function () {
  'use strict';
  ${JS_SHA256}
  var el = document.getElementById('pc');
  var status = document.getElementById('st');
  var token = el.getAttribute('data-token');
  var bits = Number(el.getAttribute('data-difficulty'));
  var verify = el.getAttribute('data-verify');
  var method = el.getAttribute('data-method');
  var enc = new TextEncoder();
  var subtle = window.isSecureContext && window.crypto && window.crypto.subtle;
  function zeros(h) {
    var n = 0;
    for (var i = 0; i < h.length; i++) {
      if (h[i] === 0) { n += 8; continue; }
      return n + Math.clz32(h[i]) - 24;
    }
    return n;
  }
  function batchSubtle(base, size) {
    var jobs = [];
    for (var k = 0; k < size; k++) jobs.push(subtle.digest('SHA-256', enc.encode(token + ':' + (base + k))));
    return Promise.all(jobs).then(function (hashes) {
      for (var k = 0; k < hashes.length; k++) if (zeros(new Uint8Array(hashes[k])) >= bits) return base + k;
      return -1;
    });
  }
  function batchPlain(base, size) {
    for (var k = 0; k < size; k++) if (zeros(sha256(enc.encode(token + ':' + (base + k)))) >= bits) return Promise.resolve(base + k);
    return Promise.resolve(-1);
  }
  var batch = subtle ? batchSubtle : batchPlain;
  var size = subtle ? 512 : 2048;
  var started = Date.now();
  function step(base) {
    return batch(base, size).then(function (found) {
      if (found >= 0) return found;
      status.textContent = 'Checking your browser\\u2026 ' + Math.round((Date.now() - started) / 100) / 10 + ' s';
      // Yield to the page between batches so it stays responsive.
      return new Promise(function (r) { setTimeout(r, 0); }).then(function () { return step(base + size); });
    });
  }
  step(0).then(function (solution) {
    return fetch(verify, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: token, solution: String(solution) })
    });
  }).then(function (res) {
    if (!res.ok) throw new Error('verification refused (' + res.status + ')');
    document.documentElement.setAttribute('data-state', 'verified');
    if (method === 'GET' || method === 'HEAD') {
      status.textContent = 'Verified. Loading\\u2026';
      location.reload();
    } else {
      status.textContent = 'Verified. Going back: please send the form again.';
      setTimeout(function () { history.back(); }, 1500);
    }
  }).catch(function (err) {
    document.documentElement.setAttribute('data-state', 'failed');
    status.textContent = 'The check failed: ' + err.message + '. Reload the page to try again.';
  });
})();`;

const STYLE = 'body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:15vh auto;padding:0 1em;color:#222}small{color:#666}';

const hash = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

/** The page's Content-Security-Policy: exactly this script and style, one same-origin POST. */
export const CHALLENGE_PAGE_CSP = `default-src 'none'; script-src ${hash(SCRIPT)}; style-src ${hash(STYLE)}; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Only characters that need no escaping inside a double-quoted attribute. */
function attr(v: string): string {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 46 || c === 95 || c === 47;
    out += ok ? v[i] : '';
  }
  return out;
}

/** The challenge page for a request with `method`. */
export function challengePage(p: ChallengeParams, method: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex,nofollow">
<title>Checking your browser</title><style>${STYLE}</style></head>
<body><main id="pc" data-token="${attr(p.token)}" data-difficulty="${p.difficulty}" data-verify="${attr(p.verify)}" data-method="${METHODS.has(method) ? method : 'OTHER'}">
<h1>Checking your browser</h1>
<p id="st">Checking your browser&hellip;</p>
<noscript><p>This check needs JavaScript. API clients: the <code>Portcullis-Challenge</code> response header says how to pass it.</p></noscript>
<p><small>A short computation proves this is not an automated flood. Nothing is sent to third parties.</small></p>
</main><script>${SCRIPT}</script></body></html>
`;
}
