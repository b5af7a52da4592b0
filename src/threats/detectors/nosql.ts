/**
 * NoSQL (MongoDB) operator injection and ORM lookup injection (category `nosqli`).
 *
 * - Keys: a member or parameter name that is, or contains as a bracket/dot segment, a MongoDB
 *   query/update/aggregation operator (`$ne`, `user[$ne]`, `filter.$where`) is an attack —
 *   except, at paranoia 1, an operator that narrows (`$gte`, `$in`, `$regex` …) inside a filter
 *   document (`filters[price][$gte]`, `where={"score":{"$lt":…}}`) on a field that is no
 *   secret: filter APIs take those by design. Code operators (`$where`, `$function`,
 *   `$lookup` …) and the widening ones (`$ne`, `$or`, `$exists` …) always count.
 *   JSON-Schema/OpenAPI keywords (`$ref`, `$schema`, `$id` …) and OData system options
 *   (`$filter`, `$top`, `$skip`, `$select` …) are not operators here.
 * - Keys that are Django-style ORM lookups (`user__password__startswith`) used to leak data
 *   through relation traversal or pattern lookups.
 * - Values: operator syntax carried inside a string (`[$ne]=`, `{"$gt": ""}`), and JavaScript
 *   for `$where`/`mapReduce` (`'; return true; var x='`, `this.password.match(`, `db.users.find(`,
 *   `'||'1'=='1`).
 * Prices (`$10`), shell variables (`$HOME`) and unknown `$words` are ignored.
 */
import type { DetectContext, Detector, Hit } from '../types.js';

/** MongoDB operators (lower-cased, without `$`). */
const OPERATORS: ReadonlySet<string> = new Set([
  // comparison / logical / element / evaluation / array
  'eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'nin', 'and', 'or', 'not', 'nor', 'exists', 'type', 'expr',
  'jsonschema', 'mod', 'regex', 'options', 'text', 'where', 'all', 'elemmatch', 'size', 'function',
  'accumulator', 'geowithin', 'geointersects', 'near', 'nearsphere', 'bitsallset', 'bitsanyset',
  'bitsallclear', 'bitsanyclear', 'rand', 'samplerate',
  // aggregation stages that reach other collections or run code
  'lookup', 'graphlookup', 'unionwith', 'out', 'merge', 'match', 'project', 'group', 'unwind', 'addfields',
  'replaceroot', 'replacewith', 'facet', 'redact', 'documents', 'densify', 'setwindowfields',
  // update operators
  'set', 'unset', 'inc', 'push', 'pull', 'pullall', 'addtoset', 'rename', 'currentdate', 'mul', 'min', 'max',
  'setoninsert', 'pop', 'bit', 'isolated', 'atomic',
]);

/** Operators whose mere presence means code execution or cross-collection access. */
const CODE_OPERATORS: ReadonlySet<string> = new Set(['where', 'function', 'accumulator', 'expr', 'lookup', 'graphlookup', 'unionwith', 'out', 'merge']);

/** Django/ORM field lookups. */
const ORM_LOOKUPS: ReadonlySet<string> = new Set([
  'exact', 'iexact', 'contains', 'icontains', 'in', 'gt', 'gte', 'lt', 'lte', 'startswith', 'istartswith',
  'endswith', 'iendswith', 'range', 'isnull', 'regex', 'iregex', 'has_key', 'has_keys', 'has_any_keys',
  'contained_by', 'overlap', 'search', 'trigram_similar', 'unaccent', 'year', 'month', 'day', 'date',
  'week_day', 'iso_year', 'hour', 'minute', 'second', 'time', 'len', 'keys', 'values',
]);
/** Lookups that leak a value character by character. */
const LEAK_LOOKUPS: ReadonlySet<string> = new Set([
  'startswith', 'istartswith', 'endswith', 'iendswith', 'regex', 'iregex', 'has_key', 'has_keys', 'has_any_keys',
  'contained_by',
]);
/** Lookups common in search/filter APIs: count a little at paranoia 1. */
const MATCH_LOOKUPS: ReadonlySet<string> = new Set(['contains', 'icontains', 'exact', 'iexact', 'isnull', 'search']);
const SENSITIVE_FIELDS = ['password', 'passwd', 'pwd', 'secret', 'token', 'hash', 'salt', 'apikey', 'api_key', 'otp', 'ssn', 'pin', 'private'];

/** JavaScript keywords that follow a string breakout in `$where` injection. */
const JS_STATEMENT_WORDS: ReadonlySet<string> = new Set([
  'return', 'var', 'let', 'const', 'while', 'for', 'if', 'function', 'sleep', 'this', 'throw', 'db', 'emit', 'tojson',
]);

/** `db.<collection>.<method>(` / `db.<method>(` methods. */
const DB_METHODS: ReadonlySet<string> = new Set([
  'find', 'findone', 'insert', 'insertone', 'insertmany', 'remove', 'deleteone', 'deletemany', 'drop', 'update',
  'updateone', 'updatemany', 'aggregate', 'mapreduce', 'getcollection', 'getcollectionnames', 'dropdatabase',
  'eval', 'runcommand', 'admincommand', 'getsiblingdb', 'createuser', 'getusers', 'count', 'distinct',
]);

function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || (c >= 65 && c <= 90);
}
function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}

function hit(rule: string, severity: number, paranoia: 1 | 2 | 3, evidence: string): Hit {
  return { detector: rule, category: 'nosqli', severity, paranoia, evidence: evidence.slice(0, 40) };
}

/** Read a `$word` operator at `i` (pointing at `$`); returns the lower-cased word or ''. */
function operatorAt(lower: string, i: number): string {
  let j = i + 1;
  while (j < lower.length && j - i <= 20 && isWordChar(lower.charCodeAt(j))) j++;
  const w = lower.slice(i + 1, j);
  return OPERATORS.has(w) ? w : '';
}

/** Key analysis: `$ne`, `user[$ne]`, `a.b.$where`, `user__password__startswith`. */
/**
 * Names of query documents in filter APIs (Strapi `filters[title][$containsi]`, Parse
 * `where={"score":{"$gte":…}}`, the MongoDB Data API `filter`, segment `rules`): operators
 * under them are the API's own query language.
 */
const FILTER_CONTAINERS: ReadonlySet<string> = new Set(['filter', 'filters', 'where', 'rules', 'conditions', 'condition', 'criteria', 'selector']);

/**
 * The operator sits in a filter document (a container above it, see FILTER_CONTAINERS) and
 * constrains no secret (no segment names a password, token, hash …): filtering, not
 * injection. `name` is the key's bracket path or the JSON pointer.
 */
function inFilterDocument(name: string): boolean {
  let container = false;
  let start = 0;
  for (let i = 0; i <= name.length; i++) {
    const c = i < name.length ? name.charCodeAt(i) : 47;
    if (c !== 47 && c !== 91 && c !== 93 && c !== 46) continue;
    if (i > start) {
      const seg = name.slice(start, i);
      if (FILTER_CONTAINERS.has(seg)) container = true;
      for (const f of SENSITIVE_FIELDS) if (seg.includes(f)) return false;
    }
    start = i + 1;
  }
  return container;
}

/**
 * Operators that narrow a filter (comparisons, ranges, membership, patterns, combining with
 * AND). The ones that widen it to everything (`$ne`, `$nin`, `$not`, `$nor`, `$or`,
 * `$exists`) are the classic bypass and count wherever they are.
 */
const WIDENING_OPERATORS: ReadonlySet<string> = new Set(['ne', 'nin', 'not', 'nor', 'or', 'exists']);

function filterOperator(op: string): boolean {
  return !CODE_OPERATORS.has(op) && !WIDENING_OPERATORS.has(op);
}

function scanKey(lower: string, name: string): Hit | undefined {
  let p = lower.indexOf('$');
  while (p >= 0) {
    const prev = p === 0 ? -1 : lower.charCodeAt(p - 1);
    // Segment start: beginning, `[`, `.`, or a quote.
    if (prev === -1 || prev === 91 || prev === 46 || prev === 34 || prev === 39) {
      const op = operatorAt(lower, p);
      if (op !== '') {
        const end = p + 1 + op.length;
        const after = end < lower.length ? lower.charCodeAt(end) : -1;
        if (after === -1 || after === 93 || after === 46 || after === 34 || after === 39 || after === 91) {
          if (CODE_OPERATORS.has(op)) return hit('nosqli.code-operator', 5, 1, '$' + op);
          return filterOperator(op) && inFilterDocument(name) ? hit('nosqli.operator-key', 4, 2, '$' + op) : hit('nosqli.operator-key', 5, 1, '$' + op);
        }
      }
    }
    p = lower.indexOf('$', p + 1);
  }
  return scanOrmKey(lower);
}

/** Django-style lookups in a key: `a__b__startswith`. */
function scanOrmKey(lower: string): Hit | undefined {
  const first = lower.indexOf('__');
  if (first <= 0) return undefined;
  const last = lower.lastIndexOf('__');
  const lookup = lower.slice(last + 2);
  if (!ORM_LOOKUPS.has(lookup)) return undefined;
  // Every part must be an identifier (no `__proto__`-style empty parts).
  const parts = lower.slice(0, last).split('__');
  for (const part of parts) {
    if (part.length === 0) return undefined;
    for (let i = 0; i < part.length; i++) if (!isWordChar(part.charCodeAt(i))) return undefined;
  }
  const fields = lower.slice(0, last);
  for (const s of SENSITIVE_FIELDS) {
    if (fields.includes(s)) return hit('nosqli.orm-lookup', 5, 1, lower.slice(0, 40));
  }
  if (parts.length >= 2) return hit('nosqli.orm-traversal', 5, 1, lower.slice(0, 40));
  if (LEAK_LOOKUPS.has(lookup)) return hit('nosqli.orm-lookup', 5, 1, lower.slice(0, 40));
  if (MATCH_LOOKUPS.has(lookup)) return hit('nosqli.orm-lookup', 3, 1, lower.slice(0, 40));
  return hit('nosqli.orm-lookup', 3, 2, lower.slice(0, 40));
}

function prevNonSpace(lower: string, i: number): number {
  while (i >= 0 && isSpace(lower.charCodeAt(i))) i--;
  return i >= 0 ? lower.charCodeAt(i) : -1;
}
function nextNonSpaceIndex(lower: string, i: number): number {
  while (i < lower.length && isSpace(lower.charCodeAt(i))) i++;
  return i;
}

/**
 * Operators inside a value: `[$ne]`, `{"$gt": …}`, `{$where: …}`, `$regex=`. In a filter
 * document with no secret named in it (`where={"score":{"$gte":1000}}`), comparison
 * operators count at paranoia 2 only (filterOperator).
 */
function scanValueOperators(lower: string, name: string): Hit | undefined {
  const filterDoc = name !== '' && inFilterDocument(name) && !SENSITIVE_FIELDS.some((f) => lower.includes(f));
  let weak: Hit | undefined;
  const found = (op: string, evidence: string): Hit | undefined => {
    if (!filterDoc || !filterOperator(op)) return hit('nosqli.operator-in-value', 5, 1, evidence);
    weak ??= hit('nosqli.operator-in-value', 4, 2, evidence);
    return undefined;
  };
  let p = lower.indexOf('$');
  while (p >= 0) {
    const op = operatorAt(lower, p);
    if (op !== '') {
      const end = p + 1 + op.length;
      const before = p > 0 ? lower.charCodeAt(p - 1) : -1;
      const after = end < lower.length ? lower.charCodeAt(end) : -1;
      // `[$ne]` (query-string form)
      if (before === 91 && after === 93) {
        const h = found(op, '[$' + op + ']');
        if (h) return h;
      }
      // `"$gt":`, `'$gt' :`, `{$gt:` (JSON or JS object in a string)
      let k = end;
      if (after === 34 || after === 39) {
        if (before !== after) k = -1;
        else k = end + 1;
      } else if (!(before === 123 || before === 44 || before === 32 || before === 9 || before === 10)) {
        k = -1;
      }
      if (p === 0 && (op === 'where' || op === 'function' || op === 'accumulator') && lower.charCodeAt(nextNonSpaceIndex(lower, end)) === 58) {
        // `$where: '1 == 1'` as the whole value: a member written into the application's object
        // literal, its value a string, a function or an object (not prose: `$where: filters …`)
        const v = nextNonSpaceIndex(lower, nextNonSpaceIndex(lower, end) + 1);
        const c = lower.charCodeAt(v);
        if (c === 39 || c === 34 || c === 96 || c === 123 || lower.startsWith('function', v)) return hit('nosqli.operator-in-value', 5, 1, '$' + op + ':');
      }
      if (k >= 0) {
        const colon = nextNonSpaceIndex(lower, k);
        if (lower.charCodeAt(colon) === 58) {
          const opener = prevNonSpace(lower, (before === 34 || before === 39) ? p - 2 : p - 1);
          // a JSON/JS member (`{"$gt":`, `, $where:`) or a YAML mapping key at a line's start (`\n  $where: …`)
          if (opener === 123 || opener === 44 || yamlKeyStart(lower, (before === 34 || before === 39) ? p - 1 : p)) {
            const h = found(op, '{$' + op + ':');
            if (h) return h;
          }
        }
      }
    }
    p = lower.indexOf('$', p + 1);
  }
  return weak;
}

/** Only blanks (and a YAML list dash) between the line's start and `i`, on a line after the first. */
function yamlKeyStart(lower: string, i: number): boolean {
  let j = i - 1;
  while (j >= 0 && (lower.charCodeAt(j) === 32 || lower.charCodeAt(j) === 9)) j--;
  if (j >= 0 && lower.charCodeAt(j) === 45 && (j === 0 || lower.charCodeAt(j - 1) === 32 || lower.charCodeAt(j - 1) === 10)) {
    j--;
    while (j >= 0 && lower.charCodeAt(j) === 32) j--;
  }
  return j >= 0 && lower.charCodeAt(j) === 10;
}

/** JavaScript for `$where` / mapReduce. */
function scanJavascript(lower: string): Hit | undefined {
  // this.<field>.match( / this.<field> == / this.<field>.length
  let p = lower.indexOf('this.');
  while (p >= 0) {
    if (p === 0 || !isWordChar(lower.charCodeAt(p - 1))) {
      let j = p + 5;
      const s = j;
      while (j < lower.length && isWordChar(lower.charCodeAt(j))) j++;
      if (j > s) {
        const k = nextNonSpaceIndex(lower, j);
        const c = lower.charCodeAt(k);
        const c2 = lower.charCodeAt(k + 1);
        const c3 = lower.charCodeAt(nextNonSpaceIndex(lower, k + (lower.charCodeAt(k + 2) === 61 ? 3 : 2)));
        // `this.password.match(/…/)`, `this.role == 'admin'`, `this.x.test(` — a $where predicate
        const literal = c3 === 39 || c3 === 34 || (c3 >= 48 && c3 <= 57) || c3 === 47;
        const m = lower.charCodeAt(k + 7);
        if (((c === 61 || c === 33) && c2 === 61 && literal) || (lower.startsWith('.match(', k) && (m === 47 || m === 39 || m === 34))) {
          return hit('nosqli.where-js', 5, 1, lower.slice(p, Math.min(lower.length, k + 8)));
        }
      }
    }
    p = lower.indexOf('this.', p + 5);
  }
  // db.collection.find( / db.getCollection(
  p = lower.indexOf('db.');
  while (p >= 0) {
    if (p === 0 || !isWordChar(lower.charCodeAt(p - 1))) {
      let j = p + 3;
      let s = j;
      while (j < lower.length && isWordChar(lower.charCodeAt(j))) j++;
      let w = lower.slice(s, j);
      if (lower.charCodeAt(j) === 40 && DB_METHODS.has(w)) return hit('nosqli.shell', 5, 1, lower.slice(p, j + 1));
      if (lower.charCodeAt(j) === 46) {
        s = ++j;
        while (j < lower.length && isWordChar(lower.charCodeAt(j))) j++;
        w = lower.slice(s, j);
        if (lower.charCodeAt(j) === 40 && DB_METHODS.has(w)) return hit('nosqli.shell', 5, 1, lower.slice(p, j + 1));
      }
    }
    p = lower.indexOf('db.', p + 3);
  }
  // String breakout followed by a JS statement: `'; return true; var x='`, `"; sleep(5000); "`
  // A breakout quote closes a string opened outside the value: an even number of the same
  // quote precedes it (`'; return …`), unlike code that closes its own literal (`x = 'a';`).
  let singles = 0;
  let doubles = 0;
  for (let q = 0; q < lower.length; q++) {
    const c = lower.charCodeAt(q);
    if (c !== 39 && c !== 34) continue;
    const before = c === 39 ? singles++ : doubles++;
    if (before % 2 === 1) continue;
    let k = nextNonSpaceIndex(lower, q + 1);
    const op = lower.charCodeAt(k);
    if (op === 59 /* ; */) {
      k = nextNonSpaceIndex(lower, k + 1);
      const s = k;
      while (k < lower.length && isWordChar(lower.charCodeAt(k))) k++;
      const w = lower.slice(s, k);
      if (JS_STATEMENT_WORDS.has(w) && jsStatementFollows(lower, w, k)) {
        return hit('nosqli.where-js', 5, 1, lower.slice(q, Math.min(lower.length, k + 6)));
      }
    } else if ((op === 124 && lower.charCodeAt(k + 1) === 124) || (op === 38 && lower.charCodeAt(k + 1) === 38)) {
      // `' || '1'=='1`, `' && this.x`: JS equality after a breakout.
      const eq = indexWithin(lower, '==', k + 2, 40);
      if (eq >= 0) return hit('nosqli.where-js', 5, 1, lower.slice(q, Math.min(lower.length, eq + 4)));
    }
  }
  return undefined;
}

/** `needle` in `lower` between `from` and `from + span`. */
function indexWithin(lower: string, needle: string, from: number, span: number): number {
  const end = Math.min(lower.length, from + span + needle.length);
  const i = lower.slice(from, end).indexOf(needle);
  return i < 0 ? -1 : from + i;
}

/** Does JavaScript syntax follow the statement word `w` ending at `k`? */
function jsStatementFollows(lower: string, w: string, k: number): boolean {
  const n = nextNonSpaceIndex(lower, k);
  const c = lower.charCodeAt(n);
  switch (w) {
    case 'return': {
      if (n === k && c !== 40) return false;
      return (
        lower.startsWith('true', n) || lower.startsWith('false', n) || lower.startsWith('this', n) ||
        lower.startsWith('db.', n) || c === 40 || c === 39 || c === 34 || c === 47 || (c >= 48 && c <= 57) || c === 33
      );
    }
    case 'var':
    case 'let':
    case 'const': {
      if (n === k) return false;
      let j = n;
      while (j < lower.length && isWordChar(lower.charCodeAt(j))) j++;
      return j > n && lower.charCodeAt(nextNonSpaceIndex(lower, j)) === 61;
    }
    case 'while':
    case 'for':
    case 'if':
    case 'function':
    case 'sleep':
    case 'emit':
    case 'tojson':
      return c === 40;
    case 'this':
    case 'db':
      return n === k && c === 46;
    case 'throw':
      return n > k && (c === 39 || c === 34 || lower.startsWith('new', n));
    default:
      return false;
  }
}

function scanNosql(lower: string, ctx: DetectContext): Hit | undefined {
  const hasDollar = lower.indexOf('$') >= 0;
  if (ctx.isKey) {
    const h = hasDollar || lower.indexOf('__') > 0 ? scanKey(lower, hasDollar ? ctx.name.toLowerCase() : '') : undefined;
    if (h) return h;
  } else if (hasDollar) {
    const h = scanValueOperators(lower, ctx.name.toLowerCase());
    if (h) return h;
  }
  if (lower.indexOf('this.') >= 0 || lower.indexOf('db.') >= 0 || lower.indexOf("'") >= 0 || lower.indexOf('"') >= 0) {
    const h = scanJavascript(lower);
    if (h) return h;
  }
  return ctx.isKey ? undefined : numericBreakout(lower);
}

/**
 * `0;return true`, `1; sleep(5000)`: a number, then a JavaScript statement: the value ends a
 * numeric expression of a `$where` (`"this.age > " + input`) and adds a statement of its own.
 */
function numericBreakout(lower: string): Hit | undefined {
  let k = nextNonSpaceIndex(lower, 0);
  if (lower.charCodeAt(k) === 45) k++;
  const s = k;
  while (k < lower.length && lower.charCodeAt(k) >= 48 && lower.charCodeAt(k) <= 57) k++;
  if (k === s) return undefined;
  k = nextNonSpaceIndex(lower, k);
  if (lower.charCodeAt(k) !== 59) return undefined;
  k = nextNonSpaceIndex(lower, k + 1);
  const w0 = k;
  while (k < lower.length && isWordChar(lower.charCodeAt(k))) k++;
  const w = lower.slice(w0, k);
  return JS_STATEMENT_WORDS.has(w) && jsStatementFollows(lower, w, k) ? hit('nosqli.where-js', 5, 1, lower.slice(0, Math.min(lower.length, k + 6))) : undefined;
}

export const detectNosql: Detector = (_text, lower, ctx) => {
  try {
    return scanNosql(lower, ctx);
  } catch {
    return undefined;
  }
};
