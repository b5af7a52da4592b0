/**
 * Ordinary requests (no attack) for the threat engine's micro benchmark (threats-micro.ts) and
 * for the tests that check that fast paths change no verdict: the ~400-byte JSON POST of the
 * load benches with its head, a JSON body with prose fields, a form body, a GET with five query
 * parameters and browser headers, and a bare GET.
 */
import type { RawRequest } from '../src/threats/types.js';
import { POST_BODY } from './lib.js';

const benchHeaders = { host: 'threats.local', 'content-type': 'application/json', 'content-length': '400', 'user-agent': 'autocannon', 'x-request-id': 'abc' };

const browserHeaders = {
  host: 'shop.example.com',
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  accept: 'application/json, text/plain, */*',
  'accept-language': 'en-GB,en;q=0.9,fr;q=0.8',
  referer: 'https://shop.example.com/catalog?page=2',
  cookie: 'session=3q2+7wAAAAFZ9xQ; theme=dark',
  'x-request-id': '0f3c2a9e-5b8d-4c1e-9a7f-2d6b8e1c4a90',
};

const PROSE_BODY = JSON.stringify({
  title: 'Great kettle, slow delivery',
  rating: 4,
  author: { name: "Brendan O'Brien", city: 'Cork' },
  body:
    'The kettle boils quickly and the handle stays cool. Delivery took 9 days (not 3 as promised), ' +
    'and the box was dented - but the kettle itself was fine. Would I buy it again? Probably: ' +
    "it's quiet, it's 1.7 l, and it switches off on its own. See https://example.com/review/123 for photos.",
  tags: ['kitchen', 'electric', 'value-for-money'],
  verified: true,
});

const FORM_BODY =
  'name=Ada+Lovelace&email=ada%40example.com&subject=Order+question&message=Hello%2C+my+order+ord-7f3a9c21+' +
  'has+not+arrived+yet.+Could+you+check%3F+Thanks%21&newsletter=on';

export const ORDINARY_REQUESTS: Record<string, RawRequest> = {
  'POST json (bench body)': { method: 'POST', rawPath: '/post', rawQuery: '', headers: benchHeaders, body: Buffer.from(POST_BODY) },
  'POST json prose': {
    method: 'POST',
    rawPath: '/api/products/4711/reviews',
    rawQuery: '',
    headers: { ...browserHeaders, 'content-type': 'application/json', 'content-length': String(PROSE_BODY.length) },
    body: Buffer.from(PROSE_BODY),
  },
  'POST form': {
    method: 'POST',
    rawPath: '/contact',
    rawQuery: '',
    headers: { ...browserHeaders, 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(FORM_BODY.length) },
    body: Buffer.from(FORM_BODY),
  },
  'GET 5 query params': {
    method: 'GET',
    rawPath: '/api/v2/products',
    rawQuery: 'category=garden-tools&sort=price_asc&page=3&per_page=25&q=cordless+hedge+trimmer',
    headers: browserHeaders,
    body: undefined,
  },
  'GET bare (bench head)': { method: 'GET', rawPath: '/get', rawQuery: '', headers: { host: 'threats.local', 'user-agent': 'autocannon' }, body: undefined },
};
