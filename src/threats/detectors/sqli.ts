/**
 * SQL injection detector: a SQL lexer, a small permissive SQL grammar and structural decisions.
 *
 * The value is tokenized as SQL in up to three starting contexts: as-is (numeric context or a
 * whole statement), and as if it were inside a single-quoted or a double-quoted string literal
 * of the application's query (the value then first has to close that string: the "break").
 * The lexer covers MySQL, PostgreSQL, MSSQL, Oracle and SQLite syntax: strings in both quote
 * styles (doubled quotes, backslash escapes, x''/b''/n''/e''/_charset'' prefixes, $$dollar$$
 * strings), `backtick` and [bracket] identifiers, hex/binary/scientific numbers, multi-character
 * operators (|| && :: <=> -> ...), comments (-- # and block comments, which act as spaces) and
 * MySQL executable comments, whose content is code. Each token gets a class letter (the
 * fingerprint alphabet below); the decision is taken by a recursive-descent parser over the
 * token classes that recognizes expressions, function calls, subqueries, clauses and
 * statements, and records evidence flags as it goes. Prose fails that grammar within a token or
 * two (two bare words in a row are not SQL), which keeps O'Brien, "select a plan" or
 * "1 - 2" quiet, while a break followed by a tautology, a comment, UNION SELECT, a stacked
 * statement or a time/error function is recognized whatever the spacing, case or comments.
 *
 * Fingerprint letters: s string, 1 number/literal, n name, k keyword, U union-like set
 * operator, E statement keyword, B order/group by, having, limit, f function, o operator,
 * & logical operator, v variable, c comment, ? placeholder, ( ) , ; punctuation, X other.
 *
 * Linear: one pass of lexing per context; the parser is bounded by a step budget proportional
 * to the number of tokens and by a nesting limit; no regular expressions.
 */
import type { DetectContext, Detector, Hit, Paranoia } from '../types.js';
import { isDigit } from '../charclass.js';

// ---------------------------------------------------------------------------------------------
// Token classes (char codes of the fingerprint letters)
// ---------------------------------------------------------------------------------------------
const T_END = 0;
const T_STR = 0x73; // s
const T_NUM = 0x31; // 1
const T_NAME = 0x6e; // n
const T_KW = 0x6b; // k
const T_UNION = 0x55; // U
const T_STMT = 0x45; // E
const T_CLAUSE = 0x42; // B
const T_FUNC = 0x66; // f
const T_OP = 0x6f; // o
const T_LOGIC = 0x26; // &
const T_VAR = 0x76; // v
const T_COMMENT = 0x63; // c
const T_PH = 0x3f; // ?
const T_LP = 0x28; // (
const T_RP = 0x29; // )
const T_COMMA = 0x2c; // ,
const T_SEMI = 0x3b; // ;
const T_OTHER = 0x58; // X

// Token flags
const TF_UNTERM = 1; // string/comment/identifier not closed before the end of the value
const TF_CMP = 2; // comparison operator
const TF_UNARY = 4; // operator usable as a prefix (- + ~ !)
const TF_CAST = 8; // ::
const TF_SYSVAR = 16; // @@name
const TF_HASH = 32; // # comment
const TF_META = 64; // name of a database catalog object (information_schema, sysobjects …)
const TF_FN_STRONG = 128; // time, file, error-based or command function
const TF_FN_SQL = 256; // known SQL function
const TF_FN_INFO = 512; // version(), user(), database() … (strong only with empty arguments)
const TF_QUOTED_ID = 1024; // `name` or [name]
const TF_PROC = 2048; // xp_/sp_/dbms_/utl_ procedures and packages
const TF_STAR = 4096; // the * operator
const TF_BINARY_ONLY = 8192;
const TF_SCI_BARE = 16384; // MySQL number with a bare exponent glued to code: 1.e( 1.e.tables
const TF_GLUED = 32768; // token that follows a block comment glued to the previous token: drop/*x*/t

interface Tok {
  t: number;
  a: number;
  b: number;
  /** Lower-cased word for words and keywords, operator text for operators, '' otherwise. */
  w: string;
  f: number;
}

// ---------------------------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------------------------
/** Keyword classes. `fn` true: followed by `(` the word is a function instead. */
interface Kw {
  readonly t: number;
  readonly fn: boolean;
}
const KW = new Map<string, Kw>();
function kw(t: number, fn: boolean, words: string): void {
  for (const w of words.split(' ')) if (w) KW.set(w, { t, fn });
}
kw(T_STMT, false, 'select insert update delete drop create alter truncate exec execute declare shutdown grant revoke merge call handler prepare deallocate rename waitfor backup restore dbcc reconfigure pragma attach detach vacuum analyze describe show use begin print load lock unlock copy set with do');
kw(T_STMT, true, 'replace values');
kw(T_UNION, false, 'union intersect except minus');
kw(T_CLAUSE, false, 'order group having limit offset');
kw(T_LOGIC, false, 'and or xor');
kw(T_NUM, false, 'null true false unknown');
kw(T_NUM, true, 'current_user current_date current_time current_timestamp localtime localtimestamp sysdate session_user system_user');
kw(T_KW, false, 'from where as on join inner outer cross natural using into table database schema function procedure view index trigger distinct all any some top exists case when then else end asc desc by for while loop returns return language strict cascade outfile dumpfile infile mode boolean delay into not like rlike regexp glob ilike similar sounds is in between div mod escape collate notnull isnull match against interval binary rollup elsif immediate nowait precision temporary temp column tables databases columns dual');
kw(T_KW, true, 'if left right in interval isnull mod match binary database schema glob like regexp rlike');

/** Keywords that behave as binary comparison-like operators. */
const WORD_OPS = new Set(['like', 'rlike', 'regexp', 'glob', 'ilike', 'similar', 'sounds', 'is', 'in', 'between', 'div', 'mod', 'escape', 'collate', 'notnull', 'isnull', 'not', 'match']);

const STRONG_FN = new Set(
  ('sleep sleepeachrow benchmark pg_sleep pg_sleep_for pg_sleep_until load_file extractvalue updatexml xmltype name_const randomblob ' +
    'xp_cmdshell xp_dirtree xp_regread xp_fileexist xp_servicecontrol sp_executesql sp_oacreate sp_makewebtask openrowset opendatasource openquery ' +
    'lo_import lo_export lo_get lo_from_bytea pg_read_file pg_read_binary_file pg_ls_dir sys_eval sys_exec group_concat ' +
    'sqlite_version sqlite_compileoption_used sqlite_compileoption_get load_extension gtid_subset geometrycollection multipoint polygon ' +
    'linestring multilinestring multipolygon st_latfromgeohash st_longfromgeohash st_pointfromgeohash exp_random regexp_substring ' +
    'crypt_key json_keys utl_inaddr.get_host_address utl_inaddr.get_host_name utl_http.request dbms_pipe.receive_message dbms_lock.sleep ' +
    'dbms_utility.sqlid_to_sqlhash dbms_xmlgen.getxml ctxsys.drithsx.sn sys.dbms_ldap.init dbms_ldap.init sys.fn_sqlvarbasetostr ' +
    'pg_catalog.pg_sleep has_database_privilege pg_typeof current_setting dblink dblink_exec lo_create')
    .split(' '),
);
/** Strong functions that do nothing (or fail) without an argument. */
const NEEDS_ARGS = new Set(
  'sleep sleepeachrow benchmark pg_sleep pg_sleep_for pg_sleep_until load_file extractvalue updatexml name_const randomblob dbms_lock.sleep dbms_pipe.receive_message pg_read_file pg_ls_dir lo_import'.split(' '),
);
const INFO_FN = new Set('version user database schema current_user system_user session_user db_name user_name current_database current_schema connection_id last_insert_id @@version suser_name suser_sname host_name'.split(' '));
const SQL_FN = new Set(
  ('char chr nchar concat concat_ws substring substr mid ascii ord hex unhex cast convert count length len lower upper left right if iif ' +
    'ifnull isnull nullif coalesce elt make_set md5 sha1 sha2 rand random floor ceil ceiling abs exp pow power sin cos tan instr locate ' +
    'position replace reverse repeat space trim ltrim rtrim lpad rpad now sysdate curdate curtime strcmp find_in_set field greatest least ' +
    'bin oct conv compress uncompress encode decode aes_encrypt aes_decrypt to_base64 from_base64 json_extract json_array json_object ' +
    'json_valid json_search json jsonb_pretty json_build_object regexp_like regexp_replace unistr starts_with overlay dump to_char to_number ' +
    'nvl nvl2 bitand char_length character_length octet_length bit_length unicode soundex difference quotename stuff ln log log10 sqrt ' +
    'round sign typeof zeroblob printf format generate_series string_agg array_agg listagg xmlagg row extract likely unlikely likelihood ' +
    'glob like analyse procedure_analyse substring_index export_set char_length mid cot degrees radians uuid sha md4 crc32 ' +
    'convert_from convert_to pg_read_file array_to_string query_to_xml database_to_xml table_to_xml xmlelement xmlforest ' +
    'utl_raw.cast_to_varchar2 rawtohex hextoraw asciistr translate wm_concat ' +
    'json_length json_contains json_contains_path json_type json_depth json_unquote json_quote json_array_length ' +
    'jsonb_array_length json_extract_path_text jsonb_extract_path_text json_value json_query isjson')
    .split(' '),
);
const META_NAMES = new Set(
  ('information_schema sysobjects syscolumns sysdatabases sysusers sys.objects sys.tables sys.columns sys.databases sys.sql_logins ' +
    'pg_catalog pg_shadow pg_user pg_tables pg_database pg_namespace pg_class pg_proc mysql.user mysql.db mysql.tables_priv ' +
    'all_tables all_users all_tab_columns user_tables user_tab_columns dba_users dba_tables v$version sqlite_master sqlite_schema ' +
    'sqlite_temp_master msysobjects msysaccessobjects master..sysdatabases master.dbo.sysdatabases master..sysobjects ' +
    'information_schema.tables information_schema.columns information_schema.schemata information_schema.plugins ' +
    'information_schema.character_sets information_schema.processlist performance_schema sys.user_summary tempdb msdb')
    .split(' '),
);

/** Object kinds after DROP/CREATE/ALTER/TRUNCATE. */
const DDL_OBJ = new Set('table database schema function procedure view index trigger user login column event sequence type role tablespace temporary temp or unique'.split(' '));

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------
function isSpace(c: number): boolean {
  return c <= 32 || c === 0xa0 || c === 0x85 || c === 0x1680 || (c >= 0x2000 && c <= 0x200b) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff || c === 0x7f;
}
/** Single-quote class: ' and typographic quotes that some database collations fold to it. */
function isSq(c: number): boolean {
  return c === 39 || c === 0x2018 || c === 0x2019 || c === 0xb4 || c === 0x2032;
}
function isIdStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || (c >= 0xc0 && c !== 0xd7 && c !== 0xf7 && !isSpace(c) && !isSq(c) && c !== 0x201c && c !== 0x201d && c !== 0x2026 && c !== 0x2013 && c !== 0x2014);
}
function isIdPart(c: number): boolean {
  return isIdStart(c) || (c >= 48 && c <= 57) || c === 36;
}
function isHex(c: number): boolean {
  return isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

/**
 * Tokenizes `s` (lower-cased) as SQL. `quote` 0: as-is; otherwise the value starts inside a
 * string delimited by that quote (39 for the single-quote class, 34 for ") and the first
 * token is that string; returns undefined when the value never closes it.
 */
function lex(s: string, context: number, out: Tok[]): boolean {
  const n = s.length;
  let i = 0;
  let execDepth = 0;
  const quote = context & 0xff;
  if (quote !== 0) {
    // Inside the application's string: doubled quotes are escapes, backslash is literal
    // (standard SQL), so `\'` also breaks out, as it does where the application escapes
    // quotes by doubling a backslash. With CTX_BACKSLASH, MySQL's reading: a backslash
    // escapes the next character, so `\''` is an escaped quote and then the break.
    const bs = (context & CTX_BACKSLASH) !== 0;
    let j = 0;
    for (;;) {
      while (j < n && !(quote === 39 ? isSq(s.charCodeAt(j)) : s.charCodeAt(j) === quote)) j += bs && s.charCodeAt(j) === 92 ? 2 : 1;
      if (j >= n) return false;
      const d = s.charCodeAt(j + 1);
      if (j + 1 < n && (quote === 39 ? isSq(d) : d === quote)) {
        j += 2;
        continue;
      }
      break;
    }
    out.push({ t: T_STR, a: 0, b: j + 1, w: '', f: 0 });
    i = j + 1;
  }
  while (i < n) {
    const c = s.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    const start = i;
    if (isSq(c) || c === 34) {
      i = scanString(s, i + 1, c === 34 ? 34 : 39);
      out.push({ t: T_STR, a: start, b: i < 0 ? n : i, w: '', f: i < 0 ? TF_UNTERM : 0 });
      if (i < 0) i = n;
      continue;
    }
    if (c === 96) {
      // `identifier`
      const e = s.indexOf('`', i + 1);
      i = e < 0 ? n : e + 1;
      pushName(out, s, start, i, TF_QUOTED_ID | (e < 0 ? TF_UNTERM : 0));
      i = extendQualified(s, i, out);
      continue;
    }
    if (c === 91) {
      // [identifier] (MSSQL) or a subscript after a name (PostgreSQL arrays): both are names.
      const e = indexWithin(s, 93, i + 1, 128);
      const prev = out[out.length - 1];
      if (prev !== undefined && prev.t === T_NAME && prev.b === i && e >= 0) {
        prev.b = e + 1;
        i = e + 1;
        continue;
      }
      if (e >= 0) {
        i = e + 1;
        pushName(out, s, start, i, TF_QUOTED_ID);
        i = extendQualified(s, i, out);
        continue;
      }
      if (e < 0 && isIdStart(s.charCodeAt(i + 1))) {
        // `[name` left open at the end of the value: the application's query closes it
        let j = i + 2;
        while (j < n && isIdPart(s.charCodeAt(j))) j++;
        if (j === n) {
          pushName(out, s, start, n, TF_QUOTED_ID | TF_UNTERM);
          i = n;
          continue;
        }
      }
      out.push({ t: T_OTHER, a: i, b: i + 1, w: '[', f: 0 });
      i++;
      continue;
    }
    if (isDigit(c) || (c === 46 && isDigit(s.charCodeAt(i + 1)))) {
      i = scanNumber(s, i);
      let f = 0;
      // MySQL reads `1.e` as a number and lets code follow it without a space (1.e(ascii …),
      // 1.e.tables): a filter-evasion idiom
      if (s.charCodeAt(i - 1) === 46 && s.charCodeAt(i) === 101 && (s.charCodeAt(i + 1) === 40 || (s.charCodeAt(i + 1) === 46 && isIdStart(s.charCodeAt(i + 2))))) {
        i++;
        f = TF_SCI_BARE;
      }
      out.push({ t: T_NUM, a: start, b: i, w: '', f });
      continue;
    }
    if (isIdStart(c)) {
      let j = i + 1;
      while (j < n && isIdPart(s.charCodeAt(j))) j++;
      const len = j - i;
      const nc = s.charCodeAt(j);
      // String prefixes: x'..' b'..' n'..' e'..' q'..' _charset'..' u&'..'
      if ((isSq(nc) || (nc === 34 && c === 95)) && (len === 1 ? c === 120 || c === 98 || c === 110 || c === 101 || c === 113 : c === 95)) {
        const e = scanString(s, j + 1, nc === 34 ? 34 : 39);
        out.push({ t: T_STR, a: start, b: e < 0 ? n : e, w: '', f: e < 0 ? TF_UNTERM : 0 });
        i = e < 0 ? n : e;
        continue;
      }
      i = j;
      // qualified names: a.b, a..b, a.*, a.`b`
      let qual = false;
      while (i < n && s.charCodeAt(i) === 46) {
        let k = i + 1;
        if (s.charCodeAt(k) === 46) k++;
        const d = s.charCodeAt(k);
        if (isIdStart(d) || d === 36) {
          k++;
          while (k < n && isIdPart(s.charCodeAt(k))) k++;
          i = k;
          qual = true;
        } else if (d === 96) {
          const e = s.indexOf('`', k + 1);
          i = e < 0 ? n : e + 1;
          qual = true;
        } else if (d === 42) {
          i = k + 1;
          qual = true;
        } else {
          // a dangling dot (`information_schema.`) belongs to the name
          if (k === i + 1 && !isDigit(d)) i = k;
          break;
        }
      }
      const wEnd = s.charCodeAt(i - 1) === 46 ? i - 1 : i;
      const word = wEnd - start <= 48 ? s.slice(start, wEnd) : '';
      classifyWord(s, word, start, i, qual, out);
      continue;
    }
    switch (c) {
      case 45: // -
        if (s.charCodeAt(i + 1) === 45) {
          const e = s.indexOf('\n', i + 2);
          i = e < 0 ? n : e + 1;
          out.push({ t: T_COMMENT, a: start, b: i, w: '--', f: 0 });
          continue;
        }
        if (s.charCodeAt(i + 1) === 62) {
          i += s.charCodeAt(i + 2) === 62 ? 3 : 2;
          pushOp(out, start, i, '->', TF_BINARY_ONLY);
          continue;
        }
        pushOp(out, start, ++i, '-', TF_UNARY);
        continue;
      case 35: {
        // #> #>> (PostgreSQL JSON path operators), otherwise a # comment (MySQL)
        if (s.charCodeAt(i + 1) === 62) {
          i += s.charCodeAt(i + 2) === 62 ? 3 : 2;
          pushOp(out, start, i, '#>', TF_BINARY_ONLY);
          continue;
        }
        if (s.charCodeAt(i + 1) === 45 && s.charCodeAt(i + 2) !== 45) {
          // #- '{path}' (PostgreSQL jsonb delete-path operator) when a literal follows
          let j = i + 2;
          while (j < n && j < i + 6 && isSpace(s.charCodeAt(j))) j++;
          if (isSq(s.charCodeAt(j))) {
            pushOp(out, start, (i += 2), '#-', TF_BINARY_ONLY);
            continue;
          }
        }
        const e = s.indexOf('\n', i + 1);
        i = e < 0 ? n : e + 1;
        out.push({ t: T_COMMENT, a: start, b: i, w: '#', f: TF_HASH });
        continue;
      }
      case 47: // /
        if (s.charCodeAt(i + 1) === 42) {
          // `/* !50000select`: spaces before the `!` make it a plain comment for MySQL, but the
          // intent (hiding code from filters) is the same, so its content is read as code too
          let bang = i + 2;
          while (bang < i + 5 && isSpace(s.charCodeAt(bang))) bang++;
          if (s.charCodeAt(bang) === 33) {
            // /*!50000 executable comment: its content is code
            i = bang + 1;
            let d = 0;
            while (d < 6 && isDigit(s.charCodeAt(i))) {
              i++;
              d++;
            }
            execDepth++;
            continue;
          }
          const e = s.indexOf('*/', i + 2);
          i = e < 0 ? n : e + 2;
          out.push({ t: T_COMMENT, a: start, b: i, w: '/*', f: e < 0 ? TF_UNTERM : 0 });
          continue;
        }
        pushOp(out, start, ++i, '/', TF_BINARY_ONLY);
        continue;
      case 42: // *
        if (s.charCodeAt(i + 1) === 47 && execDepth > 0) {
          execDepth--;
          i += 2;
          continue;
        }
        pushOp(out, start, ++i, '*', TF_STAR | TF_BINARY_ONLY);
        continue;
      case 40:
        out.push({ t: T_LP, a: i, b: ++i, w: '', f: 0 });
        continue;
      case 41:
        out.push({ t: T_RP, a: i, b: ++i, w: '', f: 0 });
        continue;
      case 123: {
        // ODBC escape {fn …} {if …} {d '…'}: an opening parenthesis; its keyword is dropped
        i++;
        while (i < n && isSpace(s.charCodeAt(i))) i++;
        if (isIdStart(s.charCodeAt(i))) {
          let j = i;
          while (j < n && isIdPart(s.charCodeAt(j))) j++;
          if (j - i <= 6) i = j;
        }
        out.push({ t: T_LP, a: start, b: i, w: '{', f: 0 });
        continue;
      }
      case 125:
        out.push({ t: T_RP, a: i, b: ++i, w: '}', f: 0 });
        continue;
      case 44:
        out.push({ t: T_COMMA, a: i, b: ++i, w: '', f: 0 });
        continue;
      case 59:
        out.push({ t: T_SEMI, a: i, b: ++i, w: '', f: 0 });
        continue;
      case 63: {
        // ? placeholder; ?| ?& are PostgreSQL JSON key operators
        const d = s.charCodeAt(i + 1);
        if (d === 124 || d === 38) {
          pushOp(out, start, (i += 2), '?|', TF_CMP | TF_BINARY_ONLY);
          continue;
        }
        out.push({ t: T_PH, a: i, b: ++i, w: '', f: 0 });
        continue;
      }
      case 64: {
        // @var, @@sysvar, @'quoted'
        let j = i + 1;
        let f = 0;
        const d0 = s.charCodeAt(j);
        if (d0 === 62 || d0 === 63 || (d0 === 64 && !isIdPart(s.charCodeAt(j + 1)))) {
          // @> @? @@ (PostgreSQL containment / JSON path / text search operators)
          pushOp(out, start, (i += 2), '@>', TF_CMP | TF_BINARY_ONLY);
          continue;
        }
        if (isSpace(d0)) {
          // a lone @ between operands (PostgreSQL operators written with a space, @ absolute value)
          pushOp(out, start, ++i, '@', TF_CMP | TF_BINARY_ONLY);
          continue;
        }
        if (s.charCodeAt(j) === 64) {
          j++;
          f = TF_SYSVAR;
        }
        const d = s.charCodeAt(j);
        if (isSq(d) || d === 34 || d === 96) {
          const e = scanString(s, j + 1, d === 34 ? 34 : d === 96 ? 96 : 39);
          j = e < 0 ? n : e;
        } else while (j < n && (isIdPart(s.charCodeAt(j)) || s.charCodeAt(j) === 46)) j++;
        out.push({ t: T_VAR, a: start, b: j, w: j - start <= 48 ? s.slice(start, j) : '', f });
        i = j;
        continue;
      }
      case 36: {
        // $$dollar$$ / $tag$ strings, $1 parameters, $name
        let j = i + 1;
        while (j < n && (isIdPart(s.charCodeAt(j)) && s.charCodeAt(j) !== 36)) j++;
        if (s.charCodeAt(j) === 36 && (j === i + 1 || !isDigit(s.charCodeAt(i + 1)))) {
          const tag = s.slice(i, j + 1);
          const e = s.indexOf(tag, j + 1);
          i = e < 0 ? n : e + tag.length;
          out.push({ t: T_STR, a: start, b: i, w: '', f: e < 0 ? TF_UNTERM : 0 });
          continue;
        }
        if (isDigit(s.charCodeAt(i + 1))) {
          out.push({ t: T_VAR, a: start, b: j, w: '', f: 0 });
        } else if (j > i + 1) {
          out.push({ t: T_NAME, a: start, b: j, w: s.slice(start, j), f: 0 });
        } else {
          out.push({ t: T_OTHER, a: start, b: j, w: '$', f: 0 });
        }
        i = j;
        continue;
      }
      case 58: // :
        if (s.charCodeAt(i + 1) === 58) {
          pushOp(out, start, (i += 2), '::', TF_CAST | TF_BINARY_ONLY);
          continue;
        }
        if (s.charCodeAt(i + 1) === 61) {
          pushOp(out, start, (i += 2), ':=', TF_BINARY_ONLY);
          continue;
        }
        if (isIdStart(s.charCodeAt(i + 1))) {
          let j = i + 1;
          while (j < n && isIdPart(s.charCodeAt(j))) j++;
          out.push({ t: T_VAR, a: start, b: j, w: '', f: 0 });
          i = j;
          continue;
        }
        out.push({ t: T_OTHER, a: i, b: ++i, w: ':', f: 0 });
        continue;
      case 124: // |
        if (s.charCodeAt(i + 1) === 124) {
          out.push({ t: T_LOGIC, a: start, b: (i += 2), w: '||', f: 0 });
          continue;
        }
        pushOp(out, start, ++i, '|', TF_BINARY_ONLY);
        continue;
      case 38: // &
        if (s.charCodeAt(i + 1) === 38) {
          out.push({ t: T_LOGIC, a: start, b: (i += 2), w: '&&', f: 0 });
          continue;
        }
        pushOp(out, start, ++i, '&', TF_BINARY_ONLY);
        continue;
      case 33: {
        // ! != !< !> !~
        const d = s.charCodeAt(i + 1);
        if (d === 61 || d === 60 || d === 62) {
          pushOp(out, start, (i += s.charCodeAt(i + 2) === 61 ? 3 : 2), '!=', TF_CMP | TF_BINARY_ONLY);
          continue;
        }
        if (d === 126) {
          pushOp(out, start, (i += 2), '!~', TF_CMP | TF_BINARY_ONLY);
          continue;
        }
        pushOp(out, start, ++i, '!', TF_UNARY);
        continue;
      }
      case 60: {
        // < <= <> <=> << <@
        const d = s.charCodeAt(i + 1);
        if (d === 61) {
          i += s.charCodeAt(i + 2) === 62 ? 3 : 2;
          pushOp(out, start, i, '<=', TF_CMP | TF_BINARY_ONLY);
        } else if (d === 62) pushOp(out, start, (i += 2), '<>', TF_CMP | TF_BINARY_ONLY);
        else if (d === 64) pushOp(out, start, (i += 2), '<@', TF_CMP | TF_BINARY_ONLY);
        else if (d === 60) pushOp(out, start, (i += 2), '<<', TF_BINARY_ONLY);
        else pushOp(out, start, ++i, '<', TF_CMP | TF_BINARY_ONLY);
        continue;
      }
      case 62: {
        const d = s.charCodeAt(i + 1);
        if (d === 61) pushOp(out, start, (i += 2), '>=', TF_CMP | TF_BINARY_ONLY);
        else if (d === 62) pushOp(out, start, (i += 2), '>>', TF_BINARY_ONLY);
        else pushOp(out, start, ++i, '>', TF_CMP | TF_BINARY_ONLY);
        continue;
      }
      case 61:
        i += s.charCodeAt(i + 1) === 61 ? (s.charCodeAt(i + 2) === 61 ? 3 : 2) : 1;
        pushOp(out, start, i, '=', TF_CMP | TF_BINARY_ONLY);
        continue;
      case 126: // ~ (bitwise not; PostgreSQL regex match)
        i += s.charCodeAt(i + 1) === 42 ? 2 : 1;
        pushOp(out, start, i, '~', TF_UNARY | TF_CMP);
        continue;
      case 43:
        pushOp(out, start, ++i, '+', TF_UNARY);
        continue;
      case 37:
        pushOp(out, start, ++i, '%', TF_BINARY_ONLY);
        continue;
      case 94:
        pushOp(out, start, ++i, '^', TF_BINARY_ONLY);
        continue;
      case 92: // backslash: \N is NULL in MySQL; otherwise noise
        if (s.charCodeAt(i + 1) === 110 && !isIdPart(s.charCodeAt(i + 2))) {
          out.push({ t: T_NUM, a: i, b: (i += 2), w: 'null', f: 0 });
          continue;
        }
        out.push({ t: T_OTHER, a: i, b: ++i, w: '\\', f: 0 });
        continue;
      default:
        out.push({ t: T_OTHER, a: i, b: ++i, w: '', f: 0 });
    }
  }
  return true;
}

/** `+` or `||` between string pieces. */
function isConcat(x: Tok | undefined): boolean {
  return x !== undefined && ((x.t === T_OP && x.w === '+') || (x.t === T_LOGIC && x.w === '||'));
}

/** Index of char `c` in s[from, from+max), or -1: a bounded indexOf. */
function indexWithin(s: string, c: number, from: number, max: number): number {
  const end = Math.min(s.length, from + max);
  for (let k = from; k < end; k++) if (s.charCodeAt(k) === c) return k;
  return -1;
}

function pushOp(out: Tok[], a: number, b: number, w: string, f: number): void {
  out.push({ t: T_OP, a, b, w, f });
}

function pushName(out: Tok[], s: string, a: number, b: number, f: number): void {
  let w = '';
  if (b - a <= 50) {
    w = s.slice(a + 1, b - ((f & TF_UNTERM) !== 0 ? 0 : 1));
  }
  out.push({ t: T_NAME, a, b, w, f: f | (META_NAMES.has(w) ? TF_META : 0) });
}

/** `a`.b, [a].[b] and `a`.* : absorb the qualification into the previous name token. */
function extendQualified(s: string, i: number, out: Tok[]): number {
  const prev = out[out.length - 1];
  if (prev === undefined) return i;
  let qualified = false;
  while (s.charCodeAt(i) === 46) {
    const d = s.charCodeAt(i + 1);
    let j = i + 1;
    if (d === 96) {
      const e = s.indexOf('`', j + 1);
      j = e < 0 ? s.length : e + 1;
    } else if (d === 91) {
      const e = indexWithin(s, 93, j + 1, 128);
      if (e < 0) break;
      j = e + 1;
    } else if (isIdStart(d) || d === 42) {
      j++;
      while (j < s.length && isIdPart(s.charCodeAt(j))) j++;
    } else break;
    i = j;
    qualified = true;
  }
  if (qualified) {
    prev.b = i;
    const full = i - prev.a <= 60 ? s.slice(prev.a, i).replaceAll('`', '').replaceAll('[', '').replaceAll(']', '') : '';
    if (META_NAMES.has(full) || META_NAMES.has(full.slice(0, full.indexOf('.')))) prev.f |= TF_META;
    prev.w = full;
  }
  return i;
}

function scanString(s: string, i: number, q: number): number {
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 92 && q !== 96) {
      i += 2;
      continue;
    }
    if (q === 39 ? isSq(c) : c === q) {
      const d = s.charCodeAt(i + 1);
      if (q === 39 ? isSq(d) : d === q) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return -1;
}

function scanNumber(s: string, i: number): number {
  const n = s.length;
  const c1 = s.charCodeAt(i + 1);
  if (s.charCodeAt(i) === 48 && (c1 === 120 || c1 === 88) && isHex(s.charCodeAt(i + 2))) {
    i += 2;
    while (i < n && isHex(s.charCodeAt(i))) i++;
    return i;
  }
  if (s.charCodeAt(i) === 48 && (c1 === 98 || c1 === 66) && (s.charCodeAt(i + 2) === 48 || s.charCodeAt(i + 2) === 49)) {
    i += 2;
    while (i < n && (s.charCodeAt(i) === 48 || s.charCodeAt(i) === 49)) i++;
    return i;
  }
  while (i < n && isDigit(s.charCodeAt(i))) i++;
  if (s.charCodeAt(i) === 46 && s.charCodeAt(i + 1) !== 46) {
    i++;
    while (i < n && isDigit(s.charCodeAt(i))) i++;
  }
  const e = s.charCodeAt(i);
  if (e === 101 || e === 69) {
    let j = i + 1;
    const sg = s.charCodeAt(j);
    if (sg === 43 || sg === 45) j++;
    if (isDigit(s.charCodeAt(j))) {
      while (j < n && isDigit(s.charCodeAt(j))) j++;
      i = j;
    }
  }
  return i;
}

/** Is the next significant character (skipping spaces and block comments) an opening parenthesis? */
function nextIsParen(s: string, i: number): boolean {
  const n = s.length;
  let guard = 0;
  while (i < n && guard++ < 64) {
    const c = s.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (c === 47 && s.charCodeAt(i + 1) === 42 && s.charCodeAt(i + 2) !== 33) {
      // a short block comment between a name and '(' (sleep/**/(5)); bounded look-ahead
      let e = i + 2;
      const lim = Math.min(n - 1, i + 256);
      while (e < lim && !(s.charCodeAt(e) === 42 && s.charCodeAt(e + 1) === 47)) e++;
      if (e >= lim) return false;
      i = e + 2;
      continue;
    }
    return c === 40;
  }
  return false;
}

function classifyWord(s: string, word: string, a: number, b: number, qualified: boolean, out: Tok[]): void {
  const k = word === '' ? undefined : KW.get(word);
  const paren = nextIsParen(s, b);
  if (paren && (k === undefined || k.fn)) {
    let f = 0;
    if (STRONG_FN.has(word) || (qualified && STRONG_FN.has(word.slice(word.lastIndexOf('.') + 1)))) f |= TF_FN_STRONG | TF_FN_SQL;
    else if (INFO_FN.has(word)) f |= TF_FN_INFO | TF_FN_SQL;
    else if (SQL_FN.has(word)) f |= TF_FN_SQL;
    else if (isProcName(word)) f |= TF_FN_STRONG | TF_FN_SQL | TF_PROC;
    out.push({ t: T_FUNC, a, b, w: word, f });
    return;
  }
  if (k !== undefined && !qualified) {
    out.push({ t: k.t, a, b, w: word, f: k.t === T_NUM ? 0 : 0 });
    return;
  }
  let f = 0;
  if (META_NAMES.has(word)) f |= TF_META;
  else if (qualified) {
    const dot = word.indexOf('.');
    if (META_NAMES.has(word.slice(0, dot))) f |= TF_META;
  }
  if (isProcName(word) || (STRONG_FN.has(word) && isUniqueName(word))) f |= TF_PROC;
  out.push({ t: T_NAME, a, b, w: word, f });
}

/** Function names that occur in nothing but SQL (no English word, no common API name). */
function isUniqueName(w: string): boolean {
  return w.includes('_') || w.includes('.') || w === 'extractvalue' || w === 'updatexml' || w === 'xmltype' || w === 'openrowset' || w === 'opendatasource' || w === 'openquery' || w === 'randomblob' || w === 'dblink';
}

/** MSSQL extended/system procedures and Oracle packages used for out-of-band access. */
function isProcName(w: string): boolean {
  let x = w;
  const dot = x.lastIndexOf('.');
  if (dot >= 0) x = x.slice(dot + 1);
  if (x.startsWith('xp_') && x.length > 4) return true;
  if (x.startsWith('sp_') && (x === 'sp_executesql' || x === 'sp_password' || x === 'sp_oacreate' || x === 'sp_oamethod' || x === 'sp_makewebtask' || x === 'sp_addlogin' || x === 'sp_addsrvrolemember' || x === 'sp_configure' || x === 'sp_execute' || x === 'sp_prepare')) return true;
  return w.startsWith('dbms_') || w.startsWith('utl_') || w.startsWith('sys.dbms_') || w.startsWith('ctxsys.') || w.startsWith('master..') || w.startsWith('master.dbo.');
}

// ---------------------------------------------------------------------------------------------
// Parser: permissive SQL grammar that records evidence
// ---------------------------------------------------------------------------------------------
const F_CMP = 1; // comparison between two operands
const F_CONSTCMP = 2; // comparison between two literals or an identical name on both sides
const F_LOGIC = 4; // AND/OR/XOR/&&/|| between operands
const F_FN = 8; // known SQL function call with well-formed arguments
const F_FNSTRONG = 16; // time, file, error-based or command function
const F_SUBQ = 32; // (SELECT …)
const F_UNION = 64; // UNION [ALL] SELECT
const F_STACK = 128; // ; followed by a statement
const F_CLAUSE = 256; // ORDER BY / GROUP BY / HAVING / LIMIT / WHERE after a value
const F_STMT = 512; // a statement parsed
const F_STMT_STRONG = 1024; // a statement that is unambiguous (DDL, EXEC xp_, DECLARE @, SELECT … FROM …)
const F_META = 2048; // catalog objects
const F_OPWORD = 4096; // LIKE, IS NULL, IN (…), BETWEEN, COLLATE …
const F_CAST = 8192; // ::type
const F_CASE = 16384; // CASE WHEN
const F_SYSVAR = 32768; // @@version
const F_FILE = 65536; // INTO OUTFILE/DUMPFILE
const F_ARITH = 131072; // arithmetic between operands
const F_SELECT_SQLISH = 262144; // SELECT whose list holds literals, *, functions, commas or FROM
const F_SEMI_END = 524288; // ; at the end
const F_PROC = 1048576; // xp_cmdshell & co. referenced
const F_FNINFO = 2097152; // version(), user() …
const F_LITERAL_AFTER_LOGIC = 4194304; // OR 1, OR 'x', OR f(…), OR (…)
const F_TRUNC = 8388608; // the value ends inside a construct (after '(' , FROM, SELECT …)
const F_UNION_WEAK = 16777216; // UNION SELECT with a bare or truncated list
const F_CAST_SQL = 33554432; // ::int, ::text … (PostgreSQL casts to SQL types)
const F_HEX = 67108864; // 0x… literal of some length
const F_TRUNC_CALL = 134217728; // strong function name called with truncated arguments
const F_CAST_LIT = 268435456; // a literal cast to a SQL type: '…'::jsonb, '1'::int
const F_OPEN_END = 536870912; // the value stops where the query goes on: after an operator or inside a string it opened
const F_CLOSE_PAREN = 1073741824; // a ')' closing a parenthesis the value did not open

const SQL_TYPES = new Set('int integer int2 int4 int8 smallint bigint text bool boolean json jsonb varchar char character numeric decimal real float float4 float8 double bytea regclass oid date timestamp timestamptz time inet xml uuid money interval signed unsigned nvarchar nchar binary'.split(' '));

/** Context flag (beside the quote's char code): backslash escapes inside the application's string. */
const CTX_BACKSLASH = 0x100;

const K_LIT = 1;
const K_NAME = 2;
const K_OTHER = 3;

class Parser {
  tk: Tok[] = [];
  n = 0;
  i = 0;
  fl = 0;
  steps = 0;
  budget = 0;
  depth = 0;
  kind = 0;
  text = '';
  s = '';

  reset(tk: Tok[], s: string): void {
    this.tk = tk;
    this.n = tk.length;
    this.s = s;
    this.budget = tk.length * 12 + 200;
    this.steps = 0;
  }

  private t(k = 0): number {
    const x = this.tk[this.i + k];
    return x === undefined ? T_END : x.t;
  }
  private w(k = 0): string {
    const x = this.tk[this.i + k];
    return x === undefined ? '' : x.w;
  }
  private f(k = 0): number {
    const x = this.tk[this.i + k];
    return x === undefined ? 0 : x.f;
  }
  private tick(): boolean {
    return ++this.steps <= this.budget;
  }
  get atEnd(): boolean {
    return this.i >= this.n;
  }

  /** Operand, with prefix operators. Sets kind/text of the operand. */
  primary(): boolean {
    if (!this.tick() || this.depth > 40) return false;
    const t = this.t();
    if (t === T_END) {
      // the value ends where an operand is due: acceptable after an opening parenthesis,
      // a comma or a keyword (a truncated payload), never after an operator
      const pt = this.t(-1);
      if (pt === T_LP || pt === T_COMMA || pt === T_KW || pt === T_STMT || pt === T_CLAUSE) {
        this.fl |= F_TRUNC | F_OPEN_END;
        this.kind = K_OTHER;
        return true;
      }
      return false;
    }
    switch (t) {
      case T_STR:
      case T_NUM: {
        const x = this.tk[this.i];
        if (t === T_NUM && x !== undefined && x.b - x.a >= 6 && this.s.charCodeAt(x.a + 1) === 120) this.fl |= F_HEX;
        this.i++;
        // adjacent string literals concatenate (MySQL)
        while (this.t() === T_STR && t === T_STR) this.i++;
        // a string left open at the end of the value: the application's own quote closes it
        if (t === T_STR && this.atEnd && ((this.tk[this.i - 1]?.f ?? 0) & TF_UNTERM) !== 0) this.fl |= F_OPEN_END;
        // a string of running prose ("expected '=' for the property initializer") is text
        // around a quoted symbol, not a constant an injection compares
        this.kind = t === T_STR && x !== undefined && proseText(this.s, x.a, this.tk[this.i - 1]?.b ?? x.b) ? K_OTHER : K_LIT;
        return true;
      }
      case T_VAR:
        if ((this.f() & TF_SYSVAR) !== 0) this.fl |= F_SYSVAR;
        this.i++;
        this.kind = K_OTHER;
        return true;
      case T_PH:
        this.i++;
        this.kind = K_OTHER;
        return true;
      case T_NAME: {
        const x = this.tk[this.i];
        if (x !== undefined) {
          if ((x.f & TF_META) !== 0) this.fl |= F_META;
          if ((x.f & TF_PROC) !== 0) this.fl |= F_PROC;
          this.text = x.w;
        }
        this.i++;
        this.kind = K_NAME;
        return true;
      }
      case T_FUNC:
        this.kind = K_OTHER;
        return this.call();
      case T_LP:
        return this.paren();
      case T_OP:
        if ((this.f() & TF_UNARY) !== 0) {
          this.i++;
          const ok = this.primary();
          if (this.kind === K_NAME) this.kind = K_OTHER;
          return ok;
        }
        if ((this.f() & TF_STAR) !== 0 && this.starOk) {
          this.i++;
          this.kind = K_OTHER;
          return true;
        }
        return false;
      case T_KW: {
        const w = this.w();
        if (w === 'not' || w === 'binary' || w === 'distinct') {
          this.i++;
          const ok = this.primary();
          this.kind = K_OTHER;
          return ok;
        }
        if (w === 'case') return this.caseExpr();
        if (w === 'exists' && this.t(1) === T_LP) {
          this.i++;
          return this.paren();
        }
        if (w === 'interval') {
          this.i++;
          if (!this.primary()) return false;
          if (this.t() === T_NAME) this.i++;
          this.kind = K_OTHER;
          return true;
        }
        if (w === 'all' || w === 'any' || w === 'some') {
          if (this.t(1) === T_LP) {
            this.i++;
            return this.paren();
          }
        }
        return false;
      }
      default:
        return false;
    }
  }

  starOk = false;

  private paren(): boolean {
    // at '('
    this.i++;
    this.depth++;
    try {
      if (this.t() === T_STMT && this.w() === 'select') {
        this.i++;
        if (!this.selectBody()) return false;
        this.fl |= F_SUBQ;
      } else if (this.t() === T_STMT && (this.w() === 'values')) {
        this.i++;
        if (!this.exprList()) return false;
      } else {
        if (this.t() === T_RP) {
          this.i++;
          this.kind = K_OTHER;
          return true;
        }
        if (!this.exprList()) return false;
        // (x) can end with UNION SELECT inside: (select 1 union select 2) handled in selectBody
      }
      if (this.t() === T_RP) {
        this.i++;
      } else if (!this.atEnd) return false;
      this.kind = K_OTHER;
      return true;
    } finally {
      this.depth--;
    }
  }

  /** f(...) */
  private call(): boolean {
    const at = this.i;
    const ft = this.tk[at];
    if (ft === undefined) return false;
    this.i++;
    if (this.t() !== T_LP) return false;
    this.i++;
    this.depth++;
    let wellFormed = true;
    let empty = false;
    let firstNum = false;
    try {
      if (this.t() === T_RP) {
        empty = true;
        this.i++;
      } else if (this.t() === T_STMT && this.w() === 'select') {
        this.i++;
        wellFormed = this.selectBody();
        if (wellFormed) this.fl |= F_SUBQ;
        if (this.t() === T_RP) this.i++;
        else if (!this.atEnd) wellFormed = false;
      } else {
        firstNum = this.t() === T_NUM || (this.t() === T_OP && this.t(1) === T_NUM);
        const saveStar = this.starOk;
        this.starOk = true;
        wellFormed = this.args();
        this.starOk = saveStar;
        // sleep(5 … cut by the end of the value still counts; sleep(5 hours) does not
        if (!wellFormed && !this.atEnd) firstNum = false;
        if (wellFormed) {
          if (this.t() === T_RP) this.i++;
          else if (!this.atEnd) wellFormed = false;
        }
      }
    } finally {
      this.depth--;
    }
    if (!wellFormed) {
      // loose call: skip to the matching ')' so that the surrounding structure can go on
      let d = 1;
      while (this.i < this.n && this.tick()) {
        const t = this.t();
        if (t === T_LP) d++;
        else if (t === T_RP && --d === 0) {
          this.i++;
          break;
        }
        this.i++;
      }
    }
    if ((ft.f & TF_FN_SQL) !== 0 && wellFormed) this.fl |= F_FN;
    // '+sleep(…)+' : a time function concatenated into the application's string, whatever its
    // argument looks like (the payload may target another interpreter's syntax)
    const nx = this.tk[this.i];
    const concat =
      (isConcat(this.tk[at - 1]) && isConcat(nx)) ||
      // ' sleep(…) ' : between the break and a quote that reopens the application's string
      (this.tk[at - 1]?.t === T_STR && (nx === undefined || (nx.t === T_STR && (nx.f & TF_UNTERM) !== 0 && this.i === this.n - 1)));
    // `SLEEP()`, `load_file()`: without its argument the call cannot work (a name in a text)
    if ((ft.f & TF_FN_STRONG) !== 0 && (wellFormed || firstNum || concat) && !(empty && (NEEDS_ARGS.has(ft.w) || NEEDS_ARGS.has(ft.w.slice(ft.w.lastIndexOf('.') + 1))))) this.fl |= F_FNSTRONG;
    else if ((ft.f & TF_FN_STRONG) !== 0 && isUniqueName(ft.w)) this.fl |= F_TRUNC_CALL;
    if ((ft.f & TF_PROC) !== 0) this.fl |= F_PROC;
    if ((ft.f & TF_FN_INFO) !== 0 && empty) this.fl |= F_FNINFO;
    this.kind = K_OTHER;
    return true;
  }

  /** Function arguments: expressions separated by commas, with the keywords some functions take. */
  private args(): boolean {
    for (;;) {
      if (!this.tick()) return false;
      const t = this.t();
      if (t === T_KW) {
        const w = this.w();
        if (w === 'as' || w === 'from' || w === 'for' || w === 'using' || w === 'in' || w === 'separator' || w === 'distinct' || w === 'all' || w === 'desc' || w === 'asc' || w === 'when' || w === 'then' || w === 'else' || w === 'placing' || w === 'leading' || w === 'trailing' || w === 'both' || w === 'with' || w === 'precision') {
          this.i++;
          continue;
        }
      }
      if (t === T_NAME && (this.w() === 'placing' || this.w() === 'leading' || this.w() === 'trailing' || this.w() === 'both' || this.w() === 'separator')) {
        this.i++;
        continue;
      }
      if (t === T_CLAUSE && (this.w() === 'order' || this.w() === 'group') && this.w(1) === 'by') {
        this.i += 2;
        continue;
      }
      if (!this.expr()) return false;
      // type names after AS in CAST(x AS unsigned int), or a second word
      if (this.t() === T_NAME && this.t(-1) === T_NAME && this.w() !== 'placing' && this.w() !== 'separator') this.i++;
      if (this.t() === T_COMMA) {
        this.i++;
        continue;
      }
      if (this.t() === T_RP || this.atEnd) return true;
      if (this.t() === T_KW) continue;
      if (this.t() === T_NAME && this.w() !== '' && (this.w() === 'placing' || this.w() === 'separator')) continue;
      return false;
    }
  }

  exprList(): boolean {
    for (;;) {
      if (!this.expr()) return false;
      if (this.t() === T_COMMA) {
        this.i++;
        continue;
      }
      return true;
    }
  }

  private caseExpr(): boolean {
    this.i++; // case
    this.fl |= F_CASE;
    if (this.w() !== 'when' && !this.expr()) return false;
    let guard = 0;
    while (this.tick() && guard++ < 1000) {
      const w = this.t() === T_KW ? this.w() : '';
      if (w === 'when' || w === 'then' || w === 'else') {
        this.i++;
        if (!this.expr()) {
          // T-SQL payloads put statements in branches (THEN WAITFOR DELAY …)
          if (this.t() === T_STMT) {
            if (!this.statement()) return false;
            continue;
          }
          return false;
        }
        continue;
      }
      if (w === 'end') {
        this.i++;
        this.kind = K_OTHER;
        return true;
      }
      if (this.atEnd) return true;
      return false;
    }
    return false;
  }

  /** expression: operand (binary-operator operand)* */
  expr(): boolean {
    if (!this.primary()) return false;
    return this.exprRest();
  }

  /** After an operand: binary operators and their right operands. */
  exprRest(): boolean {
    for (;;) {
      if (!this.tick()) return false;
      const t = this.t();
      const lk = this.kind;
      const lt = this.text;
      if (t === T_OP) {
        const f = this.f();
        const op = this.w();
        if ((f & TF_CAST) !== 0) {
          this.i++;
          const sqlType = SQL_TYPES.has(this.w());
          if (!this.typeName()) return false;
          if (lk === K_LIT && sqlType) this.fl |= F_CAST_LIT;
          this.fl |= F_CAST;
          this.kind = K_OTHER;
          continue;
        }
        if (op === '!' || (op === '~' && (f & TF_CMP) === 0)) return true;
        this.i++;
        if (this.atEnd && (f & TF_CAST) === 0 && !this.trailingComment) {
          // the value stops after a binary operator: the query goes on after it (1 or 1= , xor 2<)
          this.fl |= F_OPEN_END | F_TRUNC | ((f & TF_CMP) !== 0 ? F_CMP : F_ARITH);
          this.kind = K_OTHER;
          return true;
        }
        // = ALL (subquery), = ANY (…)
        if (this.t() === T_KW && (this.w() === 'all' || this.w() === 'any' || this.w() === 'some') && this.t(1) === T_LP) this.i++;
        if (!this.primary()) return false;
        // '…'::jsonb binds tighter than the operator before it
        while (this.t() === T_OP && (this.f() & TF_CAST) !== 0) {
          const rk = this.kind;
          this.i++;
          const sqlType = SQL_TYPES.has(this.w());
          if (!this.typeName()) return false;
          this.fl |= F_CAST;
          if (rk === K_LIT && sqlType) this.fl |= F_CAST_LIT;
          this.kind = K_OTHER;
        }
        // `array<array<object>>`, `List<List<x>>`: the same name ordered against itself is a
        // nested generic type, not a constant comparison (`a=a` still is)
        this.binary(f, lk, (op === '<' || op === '>') && lk === K_NAME ? '' : lt);
        continue;
      }
      if (t === T_PH) {
        const nt = this.t(1);
        if (nt !== T_STR && nt !== T_NUM && nt !== T_NAME && nt !== T_FUNC && nt !== T_LP) return true;
        this.i++;
        if (!this.primary()) return false;
        this.binary(TF_CMP, lk, lt);
        continue;
      }
      if (t === T_LOGIC) {
        this.i++;
        if (this.atEnd) {
          // `1=1 or` cut by the end of the value (or by a comment)
          this.fl |= F_OPEN_END | F_TRUNC | F_LOGIC;
          this.kind = K_OTHER;
          return true;
        }
        if (this.t() === T_KW && this.w() === 'not') this.i++;
        const at = this.t();
        if (!this.primary()) return false;
        this.fl |= F_LOGIC;
        if (at !== T_NAME) this.fl |= F_LITERAL_AFTER_LOGIC;
        continue;
      }
      if (t === T_KW || t === T_FUNC) {
        const w = this.w();
        if (!WORD_OPS.has(w)) return true;
        if (!this.wordOp(w, lk, lt)) return false;
        continue;
      }
      return true;
    }
  }

  private binary(f: number, lk: number, lt: string): void {
    if ((f & TF_CMP) !== 0) {
      this.fl |= F_CMP;
      // `~` between numbers (`0~115938466~440131266`, Google Analytics' tag_exp) compares
      // nothing: PostgreSQL's regex match takes text, and MySQL's `~` is unary only
      const numericRegex = (f & TF_UNARY) !== 0 && this.t(-1) === T_NUM;
      if (!numericRegex && ((lk === K_LIT && this.kind === K_LIT) || (lk === K_NAME && this.kind === K_NAME && lt !== '' && lt === this.text))) this.fl |= F_CONSTCMP;
    } else this.fl |= F_ARITH;
    this.kind = K_OTHER;
  }

  private wordOp(w: string, lk: number, lt: string): boolean {
    this.i++;
    let op = w;
    if (op === 'not') {
      op = this.w();
      if (!WORD_OPS.has(op) || op === 'not' || op === 'is') return false;
      this.i++;
    }
    switch (op) {
      case 'notnull':
      case 'isnull':
        this.fl |= F_OPWORD;
        this.kind = K_OTHER;
        return true;
      case 'is':
        if (this.w() === 'not') this.i++;
        if (this.w() === 'distinct' && this.w(1) === 'from') this.i += 2;
        if (!this.primary()) return false;
        // 1 IS NOT 2, 'a' IS NULL (not 'a' is 'b': English puts quoted words around "is")
        if (lk === K_LIT && this.kind === K_LIT && this.t(-1) === T_NUM) this.fl |= F_CONSTCMP;
        this.fl |= F_OPWORD | F_CMP;
        this.kind = K_OTHER;
        return true;
      case 'in':
        if (this.t() === T_KW && this.w() === 'boolean' && this.w(1) === 'mode') {
          this.i += 2;
          this.fl |= F_OPWORD;
          return true;
        }
        if (this.t() === T_NAME && this.w() === 'natural') {
          // IN NATURAL LANGUAGE MODE
          this.i++;
          while (this.t() === T_NAME || this.t() === T_KW) this.i++;
          this.fl |= F_OPWORD;
          return true;
        }
        if (this.t() !== T_LP) return false;
        if (!this.paren()) return false;
        this.fl |= F_OPWORD | F_CMP;
        this.kind = K_OTHER;
        return true;
      case 'between':
        if (!this.primary()) return false;
        if (!(this.t() === T_LOGIC && this.w() === 'and')) return false;
        this.i++;
        if (!this.primary()) return false;
        this.fl |= F_OPWORD | F_CMP;
        this.kind = K_OTHER;
        return true;
      case 'sounds':
        if (this.w() !== 'like') return false;
        this.i++;
        break;
      case 'similar':
        if (this.w() !== 'to' && this.w() !== 'to') {
          if (this.t() !== T_NAME || this.w() !== 'to') return false;
        }
        this.i++;
        break;
      case 'collate':
        if (this.t() !== T_NAME && this.t() !== T_STR) return false;
        this.i++;
        this.fl |= F_OPWORD;
        this.kind = K_OTHER;
        return true;
      case 'div':
      case 'mod':
        if (!this.primary()) return false;
        this.fl |= F_ARITH;
        this.kind = K_OTHER;
        return true;
      case 'match':
        return false;
      default:
        break;
    }
    // like rlike regexp glob ilike escape
    if (!this.primary()) return false;
    this.fl |= F_OPWORD;
    this.binary(TF_CMP, lk, lt);
    return true;
  }

  private typeName(): boolean {
    const t = this.t();
    if (t === T_NAME || t === T_KW) {
      if (SQL_TYPES.has(this.w())) this.fl |= F_CAST_SQL;
      this.i++;
      if (this.w() === 'precision' || this.w() === 'varying') this.i++;
      return true;
    }
    if (t === T_FUNC) return this.call();
    return false;
  }

  /** After SELECT. */
  selectBody(): boolean {
    this.depth++;
    try {
      return this.selectBody0();
    } finally {
      this.depth--;
    }
  }

  private selectBody0(): boolean {
    this.fl |= F_STMT;
    let sqlish = false;
    for (;;) {
      const w = this.w();
      if (this.t() === T_KW && (w === 'distinct' || w === 'all')) this.i++;
      else if (this.t() === T_NAME && (w === 'distinctrow' || w === 'sql_calc_found_rows' || w === 'straight_join' || w === 'high_priority' || w === 'sql_no_cache')) this.i++;
      else if (this.t() === T_KW && w === 'top' && this.t(1) === T_NUM) this.i += 2;
      else break;
    }
    if (this.atEnd) {
      this.fl |= F_TRUNC;
      return true;
    }
    // select list
    let items = 0;
    for (;;) {
      if (!this.tick()) return false;
      const t0 = this.t();
      if (t0 === T_OP && (this.f() & TF_STAR) !== 0) {
        this.i++;
        sqlish = true;
      } else {
        const saveStar = this.starOk;
        this.starOk = false;
        const fl0 = this.fl;
        const start0 = this.i;
        const ok = this.expr();
        this.starOk = saveStar;
        if (!ok) {
          if (items === 0) return false;
          break;
        }
        const bareOperand = t0 === T_NAME || (t0 === T_OP && this.i - start0 === 2 && this.t(-1) === T_NAME);
        if ((!bareOperand && (this.fl & F_TRUNC) === 0) || (this.fl & ~F_TRUNC) !== (fl0 & ~F_TRUNC)) sqlish = true;
        // alias
        if (this.t() === T_KW && this.w() === 'as') {
          this.i++;
          if (this.t() === T_NAME || this.t() === T_STR) this.i++;
          else return false;
        } else if (this.t() === T_NAME) this.i++;
      }
      items++;
      if (this.t() === T_COMMA) {
        this.i++;
        continue;
      }
      break;
    }
    // INTO
    if (this.t() === T_KW && this.w() === 'into') {
      this.i++;
      if (this.t() === T_KW && (this.w() === 'outfile' || this.w() === 'dumpfile')) {
        this.i++;
        if (this.t() === T_STR) this.i++;
        this.fl |= F_FILE | F_STMT_STRONG;
      } else if (this.t() === T_VAR || this.t() === T_NAME) {
        this.i++;
        while (this.t() === T_COMMA && (this.t(1) === T_VAR || this.t(1) === T_NAME)) this.i += 2;
      } else return false;
      sqlish = true;
    }
    if (this.t() === T_KW && this.w() === 'from') {
      this.i++;
      if (!this.tableRefs()) return false;
      sqlish = true;
      this.fl |= F_STMT_STRONG;
    }
    if (this.clauses(true)) sqlish = true;
    if (sqlish) this.fl |= F_SELECT_SQLISH;
    // set operators
    if (this.t() === T_UNION) {
      const save = this.i;
      if (this.union()) return true;
      this.i = save;
    }
    return true;
  }

  /** At a UNION-like keyword: [ALL|DISTINCT] SELECT … */
  union(): boolean {
    this.i++;
    if (this.t() === T_KW && (this.w() === 'all' || this.w() === 'distinct')) {
      this.i++;
      if (this.atEnd) {
        // `2 union all` cut by the end of the value
        this.fl |= F_STMT | F_UNION_WEAK | F_TRUNC;
        return true;
      }
    } else if (this.t() === T_NAME && this.w() === 'distinctrow') this.i++;
    let paren = 0;
    while (this.t() === T_LP && paren < 8) {
      this.i++;
      paren++;
    }
    if ((this.t() === T_STMT || this.t() === T_FUNC) && this.w() === 'values') {
      this.i++;
      if (!this.primary()) return false;
      this.fl |= F_UNION;
      return true;
    }
    if (!(this.t() === T_STMT && this.w() === 'select')) return false;
    this.i++;
    const before = this.fl;
    this.fl &= ~F_SELECT_SQLISH;
    if (!this.selectBody()) {
      this.fl |= before & F_SELECT_SQLISH;
      return false;
    }
    const sqlish = (this.fl & F_SELECT_SQLISH) !== 0;
    this.fl |= before & F_SELECT_SQLISH;
    while (paren > 0 && this.t() === T_RP) {
      this.i++;
      paren--;
    }
    if (sqlish) this.fl |= F_UNION;
    else this.fl |= F_STMT | F_UNION_WEAK;
    return true;
  }

  private tableRefs(): boolean {
    if (this.atEnd) {
      this.fl |= F_TRUNC;
      return true;
    }
    for (;;) {
      if (!this.tick()) return false;
      const t = this.t();
      if (t === T_NAME || t === T_STR) {
        const x = this.tk[this.i];
        if (x !== undefined && (x.f & TF_META) !== 0) this.fl |= F_META;
        this.i++;
      } else if (t === T_KW && this.w() === 'dual') this.i++;
      else if (t === T_FUNC) {
        if (!this.call()) return false;
      } else if (t === T_LP) {
        if (!this.paren()) return false;
      } else return false;
      // alias
      if (this.t() === T_KW && this.w() === 'as') {
        this.i++;
        if (this.t() === T_NAME || this.t() === T_STR) this.i++;
      } else if (this.t() === T_NAME) this.i++;
      if (this.t() === T_COMMA) {
        this.i++;
        continue;
      }
      // joins
      let j = 0;
      while (this.t() === T_KW && (this.w() === 'inner' || this.w() === 'left' || this.w() === 'right' || this.w() === 'outer' || this.w() === 'cross' || this.w() === 'natural' || this.w() === 'join') && j < 4) {
        j++;
        const isJoin = this.w() === 'join';
        this.i++;
        if (isJoin) break;
      }
      if (j > 0) {
        if (this.t() === T_NAME && this.w() === 'join') this.i++;
        continue;
      }
      if (this.t() === T_KW && this.w() === 'on') {
        this.i++;
        if (!this.expr()) return false;
      }
      return true;
    }
  }

  /** WHERE / GROUP BY / HAVING / ORDER BY / LIMIT / PROCEDURE ANALYSE / FOR UPDATE. */
  clauses(inSelect: boolean): boolean {
    let any = false;
    for (;;) {
      if (!this.tick()) return any;
      const t = this.t();
      const w = this.w();
      if (t === T_KW && w === 'where') {
        this.i++;
        if (!this.expr()) return any;
        any = true;
        continue;
      }
      if (t === T_CLAUSE && (w === 'order' || w === 'group') && this.w(1) === 'by') {
        this.i += 2;
        if (!this.orderList()) return any;
        if (this.t() === T_KW && this.w() === 'with' && this.w(1) === 'rollup') this.i += 2;
        any = true;
        continue;
      }
      if (t === T_CLAUSE && w === 'having') {
        this.i++;
        if (!this.expr()) return any;
        any = true;
        continue;
      }
      if (t === T_CLAUSE && (w === 'limit' || w === 'offset')) {
        this.i++;
        if (!this.primary()) return any;
        if (this.t() === T_COMMA) {
          this.i++;
          if (!this.primary()) return any;
        }
        any = true;
        continue;
      }
      if (t === T_FUNC && w === 'analyse' && this.t(-1) === T_KW) {
        if (!this.call()) return any;
        any = true;
        continue;
      }
      if (t === T_KW && w === 'procedure' && this.t(1) === T_FUNC) {
        this.i++;
        if (!this.call()) return any;
        this.fl |= F_STMT_STRONG;
        any = true;
        continue;
      }
      if (t === T_KW && w === 'for' && this.t(1) === T_STMT && this.w(1) === 'update') {
        this.i += 2;
        any = true;
        continue;
      }
      if (t === T_KW && w === 'into' && !inSelect && (this.w(1) === 'outfile' || this.w(1) === 'dumpfile')) {
        this.i += 2;
        if (this.t() === T_STR) this.i++;
        this.fl |= F_FILE;
        any = true;
        continue;
      }
      return any;
    }
  }

  private orderList(): boolean {
    for (;;) {
      if (!this.expr()) return false;
      if (this.t() === T_KW && (this.w() === 'asc' || this.w() === 'desc')) this.i++;
      if (this.t() === T_COMMA) {
        this.i++;
        continue;
      }
      return true;
    }
  }

  /** At a statement keyword (or a function call used as a statement). */
  statement(): boolean {
    if (!this.tick() || this.depth > 40) return false;
    const t = this.t();
    const w = this.w();
    if (t === T_FUNC) {
      // T-SQL IF(cond) stmt; PL/SQL procedure calls; DO sleep(1)
      if (w !== 'if' && w !== 'iif' && !w.includes('.') && (this.f() & (TF_FN_STRONG | TF_PROC)) === 0) return false;
      this.stmtFunc = true;
      const strong0 = this.fl & (F_FNSTRONG | F_PROC);
      if (!this.call()) return false;
      this.fl |= F_STMT;
      if ((this.fl & (F_FNSTRONG | F_PROC)) !== strong0) this.fl |= F_STMT_STRONG;
      if (w === 'if' && this.t() === T_STMT) {
        this.depth++;
        const ok = this.statement();
        this.depth--;
        if (ok && this.t() === T_KW && this.w() === 'else' && this.t(1) === T_STMT) {
          this.i++;
          this.depth++;
          this.statement();
          this.depth--;
        }
      }
      return true;
    }
    if (t === T_NAME && (this.f() & TF_PROC) !== 0) {
      // PL/SQL: dbms_lock.sleep(5) handled as a function; bare procedure names here
      this.i++;
      this.fl |= F_STMT | F_STMT_STRONG | F_PROC;
      return true;
    }
    if (t !== T_STMT) return false;
    this.i++;
    this.fl |= F_STMT;
    this.stmtFunc = false;
    switch (w) {
      case 'select':
        return this.selectBody();
      case 'values':
        return this.primary();
      case 'insert':
      case 'replace': {
        if (this.w() === 'into') this.i++;
        else if (w === 'insert') return false;
        if (this.atEnd) {
          this.fl |= F_TRUNC;
          return true;
        }
        if (this.t() !== T_NAME && this.t() !== T_FUNC && !(this.t() === T_KW && this.w() === 'table')) return false;
        this.i++;
        if (this.t() === T_LP) {
          if (!this.paren()) return false;
        }
        if ((this.t() === T_STMT || this.t() === T_FUNC) && (this.w() === 'values' || this.w() === 'select')) {
          this.fl |= F_STMT_STRONG;
          const sel = this.w() === 'select';
          this.i++;
          if (sel) return this.selectBody();
          if (this.atEnd) return true;
          return this.exprList();
        }
        if (this.t() === T_KW && this.w() === 'values') {
          this.fl |= F_STMT_STRONG;
          this.i++;
          return this.atEnd || this.exprList();
        }
        if (this.t() === T_STMT && this.w() === 'set') {
          this.fl |= F_STMT_STRONG;
          this.i++;
          return this.exprList();
        }
        return this.atEnd;
      }
      case 'update': {
        if (this.t() !== T_NAME) return false;
        this.i++;
        if (!(this.t() === T_STMT && this.w() === 'set')) return false;
        this.i++;
        if (!this.exprList()) return false;
        this.fl |= F_STMT_STRONG;
        this.clauses(false);
        return true;
      }
      case 'delete': {
        if (this.w() === 'from') this.i++;
        if (this.t() !== T_NAME) return false;
        this.i++;
        if (this.t() === T_KW && this.w() === 'where') {
          this.fl |= F_STMT_STRONG;
          this.clauses(false);
        }
        return true;
      }
      case 'drop':
      case 'create':
      case 'alter':
      case 'truncate':
      case 'rename': {
        let seen = 0;
        while ((this.t() === T_KW || this.t() === T_NAME || this.t() === T_STMT || this.t() === T_LOGIC) && DDL_OBJ.has(this.w()) || (this.t() === T_STMT && this.w() === 'replace' && seen > 0)) {
          this.i++;
          seen++;
          if (seen > 4) break;
        }
        if (seen === 0) {
          // DROP x; / DROP x -- : terse but still a statement when nothing prose-like follows
          if ((this.t() === T_NAME || this.t() === T_FUNC) && w !== 'create') {
            // DROP/**/t: a comment glued in place of the space hides the statement from filters
            const glued = (this.f() & TF_GLUED) !== 0;
            this.i++;
            if ((this.atEnd && this.trailingComment) || (glued && (this.atEnd || this.t() === T_SEMI))) {
              this.fl |= F_STMT_STRONG;
              return true;
            }
            if (this.t() === T_SEMI) {
              this.fl |= F_STMT_STRONG;
              return true;
            }
          }
          return false;
        }
        if (this.t() === T_KW && this.w() === 'if') {
          this.i++;
          while (this.t() === T_KW && (this.w() === 'not' || this.w() === 'exists')) this.i++;
        }
        if (this.t() !== T_NAME && this.t() !== T_FUNC && this.t() !== T_STR && this.t() !== T_VAR) return false;
        this.fl |= F_STMT_STRONG;
        // the rest of a DDL statement: skip to ; or the end
        this.skipToSemi();
        return true;
      }
      case 'exec':
      case 'execute': {
        const t1 = this.t();
        if (t1 === T_KW && this.w() === 'immediate') {
          this.i++;
          this.fl |= F_STMT_STRONG;
          this.skipToSemi();
          return true;
        }
        if ((t1 === T_NAME || t1 === T_FUNC) && (this.f() & TF_PROC) !== 0) {
          this.fl |= F_STMT_STRONG | F_PROC;
          this.skipToSemi();
          return true;
        }
        if (t1 === T_VAR || (t1 === T_LP && this.t(1) === T_VAR)) {
          // EXEC @sql, EXEC(@sql): dynamic SQL
          this.fl |= F_STMT_STRONG;
          this.skipToSemi();
          return true;
        }
        if (t1 === T_LP) {
          // exec('…') is also a method call in many languages: a statement, not a strong one
          this.skipToSemi();
          return true;
        }
        if (t1 === T_NAME || t1 === T_FUNC) {
          this.i++;
          return true;
        }
        return false;
      }
      case 'declare': {
        if (this.t() !== T_VAR) return false;
        this.i++;
        this.fl |= F_STMT_STRONG;
        if (this.t() === T_NAME || this.t() === T_KW) {
          this.i++;
          if (this.t() === T_LP) this.paren();
        } else if (this.t() === T_FUNC) this.call();
        return true;
      }
      case 'set': {
        if (this.t() !== T_VAR && this.t() !== T_NAME) return false;
        const isVar = this.t() === T_VAR;
        this.i++;
        if (isVar && this.atEnd) {
          // SET @v cut by the end of the value
          this.fl |= F_TRUNC;
          return true;
        }
        if (this.t() === T_OP && (this.w() === '=' || this.w() === ':=')) {
          this.i++;
          if (!this.expr()) return false;
          if (isVar) this.fl |= F_STMT_STRONG;
          return true;
        }
        return false;
      }
      case 'waitfor': {
        if (this.t() === T_KW && (this.w() === 'delay' || this.w() === 'time') || (this.t() === T_NAME && this.w() === 'time')) {
          this.i++;
          if (this.t() === T_STR || this.t() === T_VAR) {
            this.i++;
            this.fl |= F_STMT_STRONG | F_FNSTRONG;
            return true;
          }
        }
        return false;
      }
      case 'shutdown':
        // a bare "shutdown" is a word; it is strong when stacked (F_STACK) or WITH NOWAIT
        if (this.atEnd || this.t() === T_SEMI) return true;
        if (this.t() === T_KW && this.w() === 'with') {
          this.fl |= F_STMT_STRONG;
          this.skipToSemi();
          return true;
        }
        return false;
      case 'begin': {
        // BEGIN stmt; … END
        let guard = 0;
        while (!this.atEnd && this.tick() && guard++ < 100) {
          if (this.t() === T_KW && this.w() === 'end') {
            this.i++;
            return true;
          }
          if (!this.statement()) return false;
          if (this.t() === T_SEMI) this.i++;
        }
        return true;
      }
      case 'print':
        return this.expr();
      case 'load':
        if (this.t() === T_NAME && this.w() === 'data') {
          this.fl |= F_STMT_STRONG;
          this.skipToSemi();
          return true;
        }
        return false;
      case 'call':
        if (this.t() === T_FUNC) return this.call();
        return false;
      case 'pragma':
      case 'attach':
      case 'copy':
      case 'handler':
      case 'prepare':
      case 'grant':
      case 'revoke':
      case 'dbcc':
      case 'backup':
      case 'restore':
        if (this.t() === T_NAME || this.t() === T_KW || this.t() === T_STMT || this.t() === T_LP) {
          this.skipToSemi();
          return true;
        }
        return false;
      case 'use':
      case 'describe':
      case 'show':
        if (this.t() === T_NAME || this.t() === T_KW) {
          this.i++;
          return this.atEnd || this.t() === T_SEMI;
        }
        return false;
      case 'do':
        return this.expr();
      case 'if':
        return this.expr();
      default:
        return false;
    }
  }

  trailingComment = false;
  /** tail() reads WHEN/THEN/ELSE branches (the value opened with ')', inside the application's CASE). */
  caseTail = false;
  /** The last statement() was a function call (PL/SQL call, T-SQL IF(…)). */
  stmtFunc = false;
  /** tail() stopped at a ';' followed by something that is not a statement. */
  semiStop = false;

  private skipToSemi(): void {
    while (this.i < this.n && this.t() !== T_SEMI && this.tick()) this.i++;
  }

  /**
   * The rest of a query after a value (the break string or the numeric-context operand):
   * operators, `)` closing the application's parentheses, aliases, clauses, UNION, `;`.
   * Returns true when the token stream ends there (possibly after a comment).
   */
  tail(): boolean {
    let guard = 0;
    while (this.tick() && guard++ < 10000) {
      if (!this.exprRest()) return false;
      if (this.atEnd) return true;
      const t = this.t();
      const w = this.w();
      if (t === T_RP) {
        this.i++;
        this.fl |= F_CLOSE_PAREN;
        if (this.t() === T_NAME) this.i++; // derived-table alias
        this.kind = K_OTHER;
        continue;
      }
      if (t === T_COMMA) {
        this.i++;
        if (!this.expr()) return false;
        continue;
      }
      if (t === T_SEMI) {
        this.i++;
        if (this.atEnd) {
          this.fl |= F_SEMI_END;
          return true;
        }
        const before = this.fl;
        const save = this.i;
        this.stmtFunc = false;
        if (!this.statement()) {
          // what follows a ';' is another statement, judged on its own
          this.fl = before;
          this.i = save;
          this.semiStop = true;
          return true;
        }
        if (!this.stmtFunc || (this.fl & F_STMT_STRONG) !== (before & F_STMT_STRONG)) this.fl |= F_STACK;
        continue;
      }
      if (t === T_UNION) {
        if (!this.union()) return false;
        continue;
      }
      if (this.caseTail && t === T_KW && (w === 'when' || w === 'then' || w === 'else')) {
        // the branches of the application's CASE: ) WHEN 1 THEN
        this.i++;
        this.fl |= F_CASE;
        if (this.atEnd) return true;
        if (!this.expr()) return false;
        continue;
      }
      const x = this.tk[this.i];
      if (t === T_STR && x !== undefined && this.i === this.n - 1 && (x.f & TF_UNTERM) !== 0 && x.b - x.a === 1) {
        // a lone quote at the very end: it opens the application's next string (and 1=1')
        this.i++;
        this.fl |= F_OPEN_END;
        return true;
      }
      if (t === T_KW && w === 'as') {
        this.i++;
        if (this.t() === T_NAME || this.t() === T_STR) {
          this.i++;
          continue;
        }
        return false;
      }
      if (t === T_KW && w === 'from') {
        this.i++;
        if (!this.tableRefs()) return false;
        this.fl |= F_CLAUSE;
        continue;
      }
      if (t === T_KW || t === T_CLAUSE || t === T_FUNC) {
        if (this.clauses(false)) {
          this.fl |= F_CLAUSE;
          continue;
        }
        return false;
      }
      if (t === T_LP && this.t(-1) === T_RP) {
        // ')(' : a new parenthesized expression after closing the application's one
        if (!this.expr()) return false;
        continue;
      }
      const pt = this.t(-1);
      if (t === T_STMT && (w === 'select' || w === 'waitfor' || w === 'exec' || w === 'execute' || w === 'declare') && (pt === T_STR || pt === T_NUM || pt === T_RP)) {
        // MSSQL/ Sybase accept a new statement without ';' after a value
        const before = this.fl;
        if (!this.statement()) return false;
        // without ';' only an unambiguous statement counts as stacked
        if ((this.fl & F_STMT_STRONG) !== (before & F_STMT_STRONG)) this.fl |= F_STACK;
        continue;
      }
      return false;
    }
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Decision
// ---------------------------------------------------------------------------------------------
interface Verdict {
  rule: string;
  severity: number;
  paranoia: Paranoia;
  at: number;
  ctx: number;
}

function better(a: Verdict | undefined, b: Verdict): Verdict {
  if (a === undefined) return b;
  if (b.paranoia !== a.paranoia) return b.paranoia < a.paranoia ? b : a;
  return b.severity > a.severity ? b : a;
}

const STRONG_ANY = F_FNSTRONG | F_SUBQ | F_UNION | F_STACK | F_STMT_STRONG | F_FILE;
/** Evidence that stands even when the rest of the value does not parse. */
const STRONG_EXPR = F_FNSTRONG | F_SUBQ | F_UNION | F_FILE | F_TRUNC_CALL;

/** Tokens without comments; `commentAfter` tells whether a comment followed the last token. */
function stripComments(all: Tok[], out: Tok[]): boolean {
  let trailing = false;
  let glue = -1; // end of a block comment glued to the token before it
  let last: Tok | undefined;
  for (const x of all) {
    if (x.t === T_COMMENT) {
      trailing = true;
      glue = x.w === '/*' && last !== undefined && last.b === x.a ? x.b : -1;
      continue;
    }
    if (glue >= 0 && x.a === glue) x.f |= TF_GLUED;
    glue = -1;
    trailing = false;
    out.push(x);
    last = x;
  }
  return trailing;
}

function fingerprint(tk: Tok[], from: number, max: number): string {
  let fp = '';
  const end = Math.min(tk.length, from + max);
  for (let k = Math.max(0, from); k < end; k++) {
    const x = tk[k];
    if (x !== undefined) fp += String.fromCharCode(x.t);
  }
  return fp;
}

/**
 * Analyze one context. `tk` is the comment-free token list, `all` the full one. `quote` 0 for
 * the as-is context.
 */
function analyze(all: Tok[], tk: Tok[], trailing: boolean, quote: number, p: Parser, s: string): Verdict | undefined {
  let best: Verdict | undefined;
  const n = tk.length;
  p.reset(tk, s);
  p.trailingComment = trailing;

  // 1. The structure from the start: after the break (quote contexts), as a numeric value,
  //    as a statement, or as the continuation of the application's expression.
  if (n > 0) {
    p.i = 0;
    p.fl = 0;
    p.depth = 0;
    p.semiStop = false;
    const first = tk[0];
    const ft = first === undefined ? T_END : first.t;
    const fw = first === undefined ? '' : first.w;
    const afterBreak = quote !== 0;
    // raw value starting with an operator or clause: `OR 1=1`, `AND sleep(5)`, `HAVING 1=1`,
    // `FROM information_schema.tables`, `IN (SELECT …)`
    const continuation =
      !afterBreak &&
      (ft === T_LOGIC ||
        ft === T_CLAUSE ||
        ft === T_RP ||
        (ft === T_KW && (fw === 'from' || fw === 'where' || WORD_OPS.has(fw))) ||
        (ft === T_FUNC && WORD_OPS.has(fw)) ||
        (ft === T_OP && (first?.f ?? 0) & TF_BINARY_ONLY && tk[1] !== undefined && tk[1].t !== T_OP));
    let ok: boolean;
    if (continuation) {
      p.kind = K_OTHER;
      p.caseTail = ft === T_RP;
      ok = p.tail();
      p.caseTail = false;
    } else if (ft === T_STMT && !afterBreak) {
      ok = p.statement() && p.tail();
    } else {
      ok = p.primary() && p.tail();
    }
    const fl = p.fl;
    const goodEnd = ok && (p.atEnd || p.semiStop);
    const terminated = goodEnd && (trailing || (fl & F_SEMI_END) !== 0);
    // SQL followed by running prose is an example in a text, not a working injection (the
    // query would not parse): such hits count only at higher paranoia.
    // `('from') document`, `an 'limit' elements`: a keyword quoted in prose (the quote right
    // after it opens a string of running text)
    const t2 = tk[2];
    const quotedWord =
      afterBreak && t2 !== undefined && tk[1] !== undefined && tk[1].a === tk[0]?.b && t2.t === T_STR && t2.a === tk[1].b && proseText(s, t2.a + 1, t2.b);
    const prose = (!p.atEnd && proseAfter(tk, p.i, s)) || quotedWord;
    const dn = (v: Verdict): Verdict => (prose && v.paranoia === 1 ? { rule: v.rule, severity: 5, paranoia: 2, at: v.at, ctx: v.ctx } : v);
    const commentEnd = goodEnd && trailing;
    const t1 = tk[1];
    // comment right after the break: admin'-- , admin'#, admin'/*
    if (afterBreak && n === 1 && trailing) {
      const c = all[1];
      // `#` followed by words (a hashtag, "#1 fan") or `-->` (HTML) is weaker than `--` / `/*`
      // `'--halp'`, `'--'`: a quoted command-line option (help text), the comment's first
      // characters closing the quote pair the "break" opened
      const hashProse =
        c !== undefined &&
        (((c.f & TF_HASH) !== 0 && hasLetters(s, c.a + 1, c.b)) || (c.w === '--' && (s.charCodeAt(c.a + 2) === 62 || quotedOption(s, c.a, s.charCodeAt((tk[0]?.b ?? 1) - 1)))));
      best = better(best, dn({ rule: 'sqli.comment-truncation', severity: 5, paranoia: hashProse ? 2 : 1, at: 0, ctx: quote }));
    }
    if (((fl & STRONG_EXPR) !== 0 && (afterBreak || p.i > 1 || goodEnd)) || ((fl & STRONG_ANY) !== 0 && goodEnd)) {
      best = better(best, dn({ rule: (fl & F_UNION) !== 0 ? 'sqli.union' : (fl & F_STACK) !== 0 ? 'sqli.stacked' : (fl & F_FNSTRONG) !== 0 ? 'sqli.blind' : 'sqli.fingerprint', severity: 5, paranoia: 1, at: 0, ctx: quote }));
    }
    if (goodEnd && n > 1) {
      if (afterBreak) {
        const strongShape =
          (fl & (F_CONSTCMP | F_FN | F_CLAUSE | F_CASE | F_CAST_SQL | F_SYSVAR | F_META | F_PROC | F_FNINFO | F_HEX)) !== 0 ||
          ((fl & F_UNION_WEAK) !== 0 && (!hasSpace(s, 0, tk[0]?.b ?? 0) || tk[2]?.t === T_KW)) ||
          ((fl & F_SEMI_END) !== 0 && t1 !== undefined && t1.t === T_SEMI) ||
          ((fl & (F_CMP | F_OPWORD)) !== 0 && (fl & F_LOGIC) !== 0) ||
          ((fl & F_LOGIC) !== 0 && (fl & F_LITERAL_AFTER_LOGIC) !== 0) ||
          (terminated && (fl & (F_LOGIC | F_CMP | F_OPWORD | F_CAST)) !== 0) ||
          (commentEnd && (fl & F_ARITH) !== 0) ||
          ((fl & (F_CMP | F_OPWORD)) !== 0 && t1 !== undefined && t1.t === T_OP && n > 3) ||
          // ' or xyz- : a condition whose end the application's query supplies
          ((fl & F_LOGIC) !== 0 && (fl & F_OPEN_END) !== 0 && t1 !== undefined && t1.t === T_LOGIC && !hasSpace(s, tk[0]?.a ?? 0, tk[0]?.b ?? 0));
        if (strongShape) best = better(best, dn({ rule: 'sqli.string-break', severity: 5, paranoia: 1, at: 0, ctx: quote }));
        else if ((fl & (F_LOGIC | F_CMP | F_OPWORD | F_CAST)) !== 0) best = better(best, dn({ rule: 'sqli.string-break', severity: 5, paranoia: 2, at: 0, ctx: quote }));
        else if ((fl & F_ARITH) !== 0) best = better(best, dn({ rule: 'sqli.string-break', severity: 2, paranoia: 3, at: 0, ctx: quote }));
      } else if (continuation) {
        if ((fl & (F_CONSTCMP | F_FN | F_CASE | F_CAST_SQL | F_SYSVAR | F_META | F_FNINFO | F_UNION_WEAK | F_HEX)) !== 0 && (fl & (F_LOGIC | F_CMP | F_OPWORD | F_CLAUSE)) !== 0) {
          best = better(best, dn({ rule: (fl & F_CONSTCMP) !== 0 ? 'sqli.tautology' : 'sqli.fingerprint', severity: 5, paranoia: 1, at: 0, ctx: 0 }));
        } else if (((fl & F_LITERAL_AFTER_LOGIC) !== 0 && (fl & F_CMP) !== 0) || ((fl & F_CLAUSE) !== 0 && (fl & F_CMP) !== 0 && ft !== T_LOGIC)) {
          // OR '…' -> '…' = 7 ; FROM t WHERE a = 1 LIMIT
          best = better(best, dn({ rule: 'sqli.tautology', severity: 5, paranoia: 1, at: 0, ctx: 0 }));
        } else if (terminated && (fl & (F_LOGIC | F_CMP | F_CLAUSE)) !== 0 && (fl & F_LITERAL_AFTER_LOGIC) !== 0) {
          best = better(best, dn({ rule: 'sqli.comment-truncation', severity: 5, paranoia: 1, at: 0, ctx: 0 }));
        } else if (ft === T_LOGIC && (((fl & F_CMP) !== 0 && ((fl & (F_OPEN_END | F_CLOSE_PAREN)) !== 0 || fw === '&&' || fw === '||')) || ((fl & F_LITERAL_AFTER_LOGIC) !== 0 && (fl & F_OPEN_END) !== 0 && (fl & F_ARITH) !== 0))) {
          // AND x = '… / OR name != ( / && (e = 0) : a condition appended to the application's, left
          // open for the rest of its query or closing its parenthesis; `&&`/`||` open no sentence
          best = better(best, dn({ rule: 'sqli.fingerprint', severity: 5, paranoia: 1, at: 0, ctx: 0 }));
        } else if (ft === T_RP && (fl & (F_CLAUSE | F_OPWORD | F_CMP | F_CASE)) !== 0) {
          // ) AS x FROM, ) LIKE (: closing the application's parenthesis, then query syntax
          best = better(best, dn({ rule: 'sqli.fingerprint', severity: 5, paranoia: 1, at: 0, ctx: 0 }));
        } else if ((fl & (F_CMP | F_OPWORD | F_CLAUSE | F_CAST)) !== 0) {
          best = better(best, dn({ rule: 'sqli.fingerprint', severity: 5, paranoia: 2, at: 0, ctx: 0 }));
        }
      } else if (ft !== T_STMT) {
        // numeric context: 1 or 1=1, 1 and sleep(5), -1 or 2>1, (case when 1=1 …), elt(1=1,1)
        const numeric = ft === T_NUM || ft === T_LP || ft === T_FUNC || (ft === T_OP && t1?.t === T_NUM);
        if ((fl & F_LOGIC) !== 0 && (fl & (F_CONSTCMP | F_FN | F_SYSVAR | F_META | F_CASE | F_FNINFO | F_CAST_SQL)) !== 0 && (numeric || (fl & F_CONSTCMP) !== 0)) {
          best = better(best, dn({ rule: 'sqli.tautology', severity: 5, paranoia: 1, at: 0, ctx: 0 }));
        } else if (numeric && (fl & F_UNION_WEAK) !== 0) {
          best = better(best, dn({ rule: 'sqli.union', severity: 5, paranoia: 1, at: 0, ctx: 0 }));
        } else if (numeric && (fl & F_CONSTCMP) !== 0 && (fl & (F_FN | F_CASE | F_ARITH)) !== 0) {
          best = better(best, dn({ rule: 'sqli.tautology', severity: 5, paranoia: 1, at: 0, ctx: 0 }));
        } else if (numeric && (fl & F_CASE) !== 0 && (fl & F_CMP) !== 0) {
          best = better(best, dn({ rule: 'sqli.tautology', severity: 5, paranoia: 1, at: 0, ctx: 0 }));
        } else if (numeric && (fl & F_FN) !== 0 && (fl & F_CAST_SQL) !== 0) {
          best = better(best, dn({ rule: 'sqli.fingerprint', severity: 5, paranoia: 1, at: 0, ctx: 0 }));
        } else if ((fl & F_CAST_LIT) !== 0 && (fl & (F_CMP | F_ARITH | F_LOGIC | F_FN)) !== 0) {
          best = better(best, dn({ rule: 'sqli.fingerprint', severity: 5, paranoia: 1, at: 0, ctx: 0 }));
        } else if (numeric && (fl & F_FN) !== 0 && (fl & (F_HEX | F_FNINFO | F_SYSVAR)) !== 0) {
          best = better(best, dn({ rule: 'sqli.fingerprint', severity: 5, paranoia: 1, at: 0, ctx: 0 }));
        } else if (terminated && (fl & (F_LOGIC | F_CLAUSE)) !== 0 && (numeric || (fl & (F_CMP | F_CLAUSE)) !== 0)) {
          best = better(best, dn({ rule: 'sqli.comment-truncation', severity: 5, paranoia: 1, at: 0, ctx: 0 }));
        } else if (numeric && (fl & F_LOGIC) !== 0 && (fl & F_LITERAL_AFTER_LOGIC) !== 0 && t1 !== undefined && tk[n - 1]?.t === T_NUM && tk[n - 1]?.w !== '') {
          // 1 or true, 9999 or null
          best = better(best, dn({ rule: 'sqli.tautology', severity: 5, paranoia: 1, at: 0, ctx: 0 }));
        } else if ((fl & F_CLAUSE) !== 0 && numeric && goodEnd && ordinalOrder(tk, n)) {
          // 1 order by 5, 1 group by 2,3: ordering by column position, how a UNION's column
          // count is probed; no sentence reads like this
          best = better(best, dn({ rule: 'sqli.fingerprint', severity: 5, paranoia: 1, at: 0, ctx: 0 }));
        } else if ((fl & F_CLAUSE) !== 0 && numeric) {
          best = better(best, dn({ rule: 'sqli.fingerprint', severity: 5, paranoia: 2, at: 0, ctx: 0 }));
        } else if ((fl & F_LOGIC) !== 0 && (fl & (F_CMP | F_OPWORD)) !== 0) {
          best = better(best, dn({ rule: 'sqli.tautology', severity: 5, paranoia: 2, at: 0, ctx: 0 }));
        } else if ((fl & F_CONSTCMP) !== 0 || ((fl & (F_FN | F_CAST)) !== 0 && (fl & F_CMP) !== 0) || (fl & F_CASE) !== 0) {
          best = better(best, dn({ rule: 'sqli.tautology', severity: 5, paranoia: 2, at: 0, ctx: 0 }));
        } else if ((fl & (F_FN | F_CAST | F_SYSVAR | F_FNINFO)) !== 0 && (n > 2 || (fl & (F_CAST | F_SYSVAR | F_FNINFO)) !== 0)) {
          best = better(best, dn({ rule: 'sqli.fingerprint', severity: 5, paranoia: 2, at: 0, ctx: 0 }));
        }
      } else {
        // the whole value is a statement
        if ((fl & (F_STMT_STRONG | F_SELECT_SQLISH)) !== 0) best = better(best, dn({ rule: 'sqli.statement', severity: 5, paranoia: 1, at: 0, ctx: 0 }));
        else if ((fl & F_STMT) !== 0 && terminated && hasKeyword(tk, p.i)) best = better(best, dn({ rule: 'sqli.statement', severity: 5, paranoia: 1, at: 0, ctx: 0 }));
        else if ((fl & F_STMT) !== 0) best = better(best, dn({ rule: 'sqli.statement', severity: 2, paranoia: 3, at: 0, ctx: 0 }));
      }
    }
    if (!afterBreak && ft === T_FUNC && ((first?.f ?? 0) & TF_FN_SQL) !== 0 && (fl & F_TRUNC) !== 0 && n <= 3) {
      // a value that is nothing but a SQL function call cut short: `hex(`, `concat (`
      best = better(best, { rule: 'sqli.function', severity: 5, paranoia: 2, at: 0, ctx: 0 });
    }
    if (goodEnd && n > 1 && !afterBreak && ft === T_FUNC && ((first?.f ?? 0) & TF_FN_SQL) !== 0 && p.i === n && tk[n - 1]?.t === T_RP) {
      // a value that is a whole SQL function call: `substring(x,1,1)`, `version()`
      best = better(best, { rule: 'sqli.function', severity: 5, paranoia: 3, at: 0, ctx: 0 });
    }
    if (!goodEnd && !afterBreak && ft === T_STMT && (p.fl & (F_STMT_STRONG | F_SELECT_SQLISH)) !== 0 && p.i > 2) {
      // a statement followed by something else
      best = better(best, dn({ rule: 'sqli.statement', severity: 5, paranoia: 2, at: 0, ctx: 0 }));
    }
    const frag = fragment(tk, quote, s, fl, goodEnd, p.i, trailing ? all[all.length - 1] : undefined);
    if (frag !== undefined && !prose) best = better(best, frag);
  }
  if (best !== undefined && best.paranoia === 1 && best.severity >= 5) return best;

  // 2. Structures anywhere in the value.
  for (let k = 0; k < n; k++) {
    if (p.steps > p.budget) break;
    const x = tk[k];
    if (x === undefined) break;
    const prev = tk[k - 1];
    let start = -1;
    if (x.t === T_UNION) start = k;
    else if (x.t === T_LP && tk[k + 1]?.t === T_STMT && tk[k + 1]?.w === 'select') start = k;
    else if (x.t === T_SEMI && k + 1 < n) start = k + 1;
    else if (x.t === T_STMT && k > 0) start = k;
    else if (x.t === T_FUNC && (x.f & (TF_FN_STRONG | TF_PROC)) !== 0) start = k;
    else if (x.t === T_LOGIC && k > 0) start = k;
    else if (x.t === T_KW && x.w === 'into' && (tk[k + 1]?.w === 'outfile' || tk[k + 1]?.w === 'dumpfile')) {
      best = better(best, { rule: 'sqli.file', severity: 5, paranoia: proseAfter(tk, k + 2, s) ? 2 : 1, at: k, ctx: quote });
      continue;
    } else if (x.t === T_NAME && (x.f & (TF_META | TF_PROC)) !== 0) {
      best = better(best, { rule: 'sqli.catalog', severity: 5, paranoia: 2, at: k, ctx: quote });
      continue;
    } else if (x.t === T_VAR && (x.f & TF_SYSVAR) !== 0) {
      best = better(best, { rule: 'sqli.fingerprint', severity: 5, paranoia: 2, at: k, ctx: quote });
      continue;
    }
    if (start < 0) continue;
    p.i = start;
    p.fl = 0;
    p.depth = 0;
    p.semiStop = false;
    const codeBefore =
      prev === undefined ||
      prev.t === T_SEMI ||
      prev.t === T_RP ||
      prev.t === T_NUM ||
      prev.t === T_LP ||
      prev.t === T_COMMA ||
      (prev.t === T_STR && x.t !== T_STMT) ||
      // `/CREATE TABLE t`: nothing but one operator character before the statement
      (k === 1 && (prev.t === T_OP || prev.t === T_OTHER) && prev.b - prev.a === 1 && quote === 0);
    let ok = false;
    let goodEnd = false;
    if (x.t === T_UNION) {
      ok = p.union();
      if (ok && (p.fl & F_UNION) === 0 && (p.fl & F_UNION_WEAK) !== 0) {
        // UNION SELECT with a bare list: strong after a value, weaker inside prose
        const strong = codeBefore && prev !== undefined && prev.t !== T_STR && !(p.i < n && proseAfter(tk, p.i, s));
        best = better(best, { rule: 'sqli.union', severity: 5, paranoia: strong ? 1 : 2, at: k, ctx: quote });
        continue;
      }
      goodEnd = ok && p.tail() && p.atEnd;
    } else if (x.t === T_LP) {
      ok = p.primary();
      goodEnd = ok && p.tail() && p.atEnd;
    } else if (x.t === T_SEMI || x.t === T_STMT) {
      p.i = start;
      ok = p.statement();
      goodEnd = ok && p.tail() && p.atEnd;
    } else if (x.t === T_FUNC) {
      ok = p.primary();
      goodEnd = ok && p.tail() && p.atEnd;
    } else if (x.t === T_LOGIC) {
      // `… or 1=1` after some operand
      p.i = k;
      p.kind = K_OTHER;
      ok = p.exprRest();
      goodEnd = ok && p.tail() && p.atEnd;
    }
    const fl = p.fl;
    if (!ok && (fl & (F_UNION | F_SUBQ | F_FNSTRONG | F_STMT_STRONG)) === 0) continue;
    const prose = p.i < n && proseAfter(tk, p.i, s);
    const dn = (v: Verdict): Verdict => (prose && v.paranoia === 1 ? { rule: v.rule, severity: 5, paranoia: 2, at: v.at, ctx: v.ctx } : v);
    if (x.t === T_LOGIC) {
      if ((fl & (F_CONSTCMP | F_FNSTRONG | F_SUBQ | F_UNION)) !== 0 && (goodEnd || (fl & (F_FNSTRONG | F_SUBQ | F_UNION)) !== 0)) {
        const strong = codeBefore || (fl & (F_FNSTRONG | F_SUBQ | F_UNION)) !== 0;
        best = better(best, dn({ rule: 'sqli.tautology', severity: 5, paranoia: strong ? 1 : 2, at: k, ctx: quote }));
      }
      continue;
    }
    if ((fl & (F_UNION | F_SUBQ | F_FNSTRONG | F_FILE)) !== 0) {
      best = better(best, dn({ rule: (fl & F_UNION) !== 0 ? 'sqli.union' : (fl & F_FNSTRONG) !== 0 ? 'sqli.blind' : 'sqli.subquery', severity: 5, paranoia: 1, at: k, ctx: quote }));
      continue;
    }
    if (x.t === T_SEMI) {
      if ((fl & (F_STMT_STRONG | F_SELECT_SQLISH | F_PROC)) !== 0) best = better(best, dn({ rule: 'sqli.stacked', severity: 5, paranoia: 1, at: k, ctx: quote }));
      else if ((fl & F_STMT) !== 0) best = better(best, dn({ rule: 'sqli.stacked', severity: 5, paranoia: 2, at: k, ctx: quote }));
      continue;
    }
    if (x.t === T_STMT) {
      if ((fl & (F_STMT_STRONG | F_PROC)) !== 0 || ((fl & F_SELECT_SQLISH) !== 0 && x.w === 'select')) {
        const strongStmt = (fl & F_PROC) !== 0 || (x.w !== 'select' && (fl & F_STMT_STRONG) !== 0 && (x.w === 'exec' || x.w === 'execute' || x.w === 'declare' || x.w === 'waitfor' || x.w === 'shutdown'));
        if (codeBefore || strongStmt) best = better(best, dn({ rule: 'sqli.statement', severity: 5, paranoia: 1, at: k, ctx: quote }));
        else best = better(best, dn({ rule: 'sqli.statement', severity: 5, paranoia: 2, at: k, ctx: quote }));
      }
      continue;
    }
    if (x.t === T_FUNC && (fl & F_PROC) !== 0) best = better(best, dn({ rule: 'sqli.fingerprint', severity: 5, paranoia: 1, at: k, ctx: quote }));
  }
  return best;
}

/** Words that name SQL functions (besides the vocabulary tables) for lone-call fragments. */
const LONE_FN = new Set('if in left right values exec execute insert date time timestamp year month day hour minute second quarter week weekday max min sum avg pi now default user database schema db_name current_user sysdate'.split(' '));
/** Statement keywords that start a stacked query. */
const STACK_KW = new Set('select insert update delete drop create alter truncate exec execute declare shutdown waitfor grant revoke merge replace set union'.split(' '));
/** PostgreSQL types a bare identifier is cast to in injections (`password::int`); no word of prose or code namespaces. */
const PG_CAST_TYPES = new Set('int int2 int4 int8 integer bigint smallint numeric varchar jsonb bytea regclass oid float4 float8 double bool timestamptz'.split(' '));

function isKeywordTok(x: Tok | undefined): boolean {
  return x !== undefined && (x.t === T_KW || x.t === T_STMT || x.t === T_CLAUSE || x.t === T_LOGIC);
}
function isCastTok(x: Tok | undefined): boolean {
  return x !== undefined && x.t === T_OP && (x.f & TF_CAST) !== 0;
}
function hasTok(tk: Tok[], t: number): boolean {
  for (const x of tk) if (x.t === t) return true;
  return false;
}
/** tk[from, to) opens with '(' and closes it at its last token, never going below zero. */
function balanced(tk: Tok[], from: number, to: number): boolean {
  let d = 0;
  for (let k = from; k < to; k++) {
    const t = tk[k]?.t;
    if (t === T_LP) d++;
    else if (t === T_RP && --d < 0) return false;
    if (d === 0 && k < to - 1) return false;
  }
  return d === 0;
}

/** Parentheses in tk[from, to) never close more than they opened and are all closed. */
function balanced0(tk: Tok[], from: number, to: number): boolean {
  let d = 0;
  for (let k = from; k < to; k++) {
    const t = tk[k]?.t;
    if (t === T_LP) d++;
    else if (t === T_RP && --d < 0) return false;
  }
  return d === 0;
}

/** No two names or keywords in a row in tk[from, to) (prose reads as a run of words). */
function noWordRun(tk: Tok[], from: number, to: number): boolean {
  let prevWord = false;
  for (let k = from; k < to; k++) {
    const t = tk[k]?.t;
    const word = t === T_NAME || t === T_KW || t === T_STMT || t === T_CLAUSE;
    if (word && prevWord) return false;
    prevWord = word;
  }
  return true;
}

function isSqlFunctionWord(w: string): boolean {
  return SQL_FN.has(w) || STRONG_FN.has(w) || INFO_FN.has(w) || LONE_FN.has(w);
}

/** Names that only a database's catalog or its out-of-band procedures carry. */
function isCatalogWord(w: string): boolean {
  if (META_NAMES.has(w)) return true;
  if (STRONG_FN.has(w) && isUniqueName(w)) return true;
  if (w.startsWith('xp_')) return false; // xp_ alone is a common prefix (experience points); known ones are in STRONG_FN
  return isProcName(w);
}

/**
 * Fragments: values that are a piece of a query and nothing else. Each shape is one that no
 * sentence, identifier or API value takes: a SQL function name whose call the value leaves open
 * (`concat(`, `month=(`), the name of a catalog object alone (`information_schema`), a constant
 * comparison alone (`1=1`, `'1001'='10`), a cast of a call or column to a SQL type
 * (`password::int`), a value opening with `;` and a statement keyword (`; insert into`), a value
 * opening with a lone quote and a set or statement keyword (`'union select`), and MySQL
 * bare-exponent numbers glued to code (`1.e(`).
 */
function fragment(tk: Tok[], quote: number, s: string, fl: number, goodEnd: boolean, end: number, endComment: Tok | undefined): Verdict | undefined {
  const n = tk.length;
  const first = tk[0];
  if (first === undefined) return undefined;
  const last = tk[n - 1];
  const v = (rule: string): Verdict => ({ rule, severity: 5, paranoia: 1, at: 0, ctx: quote });
  if (quote === 0) {
    // lone call left open, possibly through operators and after keywords: `hex(`, `if !(`,
    // `length||(`, `version=(`, `procedure analyse (`
    if (n >= 2 && n <= 7 && last !== undefined && last.t === T_LP) {
      let f = 0;
      while (f < n - 2 && isKeywordTok(tk[f])) f++;
      const fx = tk[f];
      if (fx !== undefined && fx.w !== '' && isSqlFunctionWord(fx.w)) {
        let junk = true;
        for (let k = f + 1; k < n - 1 && junk; k++) {
          const t = tk[k]?.t;
          junk = t === T_OP || t === T_LOGIC || t === T_PH || t === T_OTHER || t === T_RP;
        }
        if (junk) return v('sqli.function');
      }
    }
    // `, find_in_set('22', category)`: the next item of the application's list, a SQL call
    if (first.t === T_COMMA && tk[1]?.t === T_FUNC && ((tk[1]?.f ?? 0) & TF_FN_SQL) !== 0 && last?.t === T_RP && balanced(tk, 2, n)) return v('sqli.function');
    // word(…)::type, the call whatever its name: function(foo)::text, overlay(…)::int
    {
      const tn = last?.w ?? '';
      const castAt = isCastTok(tk[n - 2]) ? n - 2 : isCastTok(tk[n - 3]) && tn === 'precision' ? n - 3 : -1;
      const tw = tk[castAt + 1]?.w ?? '';
      if (castAt >= 3 && SQL_TYPES.has(tw) && first.w !== '' && tk[1]?.t === T_LP && tk[castAt - 1]?.t === T_RP && balanced(tk, 1, castAt)) return v('sqli.fingerprint');
      if (castAt === 1 && first.t === T_NAME && PG_CAST_TYPES.has(tw)) return v('sqli.fingerprint');
    }
    // 1 AS "alias" FROM, ) AS 'x' FROM: a select-list item with a quoted alias, then FROM
    if (first.t === T_NUM || first.t === T_STR || first.t === T_RP) {
      for (let k = 1; k + 2 < n; k++) {
        const a = tk[k];
        const b = tk[k + 1];
        if (a?.t === T_KW && a.w === 'as' && b !== undefined && (b.t === T_STR || (b.f & TF_QUOTED_ID) !== 0) && tk[k + 2]?.t === T_KW && tk[k + 2]?.w === 'from') return v('sqli.fingerprint');
      }
    }
    // FROM `db`.`table` LIMIT: a quoted, qualified table name and a clause
    if (first.t === T_KW && first.w === 'from' && tk[1] !== undefined && (tk[1].f & TF_QUOTED_ID) !== 0 && tk[1].w.includes('.') && (tk[2]?.t === T_CLAUSE || tk[2]?.w === 'where')) return v('sqli.fingerprint');
    // a catalog object or out-of-band procedure named alone
    if (n === 1 && (first.t === T_NAME || first.t === T_FUNC) && isCatalogWord(first.w)) return v('sqli.catalog');
    // `1.e(`, `1.e.tables`
    for (let k = 0; k < n; k++) {
      const x = tk[k];
      if (x !== undefined && (x.f & TF_SCI_BARE) !== 0 && tk[k + 1]?.a === x.b) return v('sqli.fingerprint');
    }
    if (goodEnd && end === n) {
      const ft = first.t;
      // a comparison of constants and nothing else: 1=1, 11!=1, 42 like 42, '1'='1 (the application closes the quote)
      if ((fl & F_CONSTCMP) !== 0 && (fl & (F_FN | F_STMT)) === 0 && ft !== T_LOGIC && ft !== T_CLAUSE && ft !== T_KW) return v('sqli.tautology');
      // a SQL call the value leaves open after a comparison: if(2=, elt(1=
      if (ft === T_FUNC && isSqlFunctionWord(first.w) && (fl & F_CMP) !== 0 && (fl & F_TRUNC) !== 0 && !hasTok(tk, T_RP)) return v('sqli.function');
      // a call, subquery or column cast to a SQL type: function(x)::text, password::int, overlay(…)::int
      const tn = last?.w ?? '';
      const castAt = tk[n - 2]?.t === T_OP && (tk[n - 2]?.f ?? 0) & TF_CAST ? n - 2 : tk[n - 3]?.t === T_OP && ((tk[n - 3]?.f ?? 0) & TF_CAST) !== 0 && tn === 'precision' ? n - 3 : -1;
      if (castAt > 0 && (fl & F_CAST_SQL) !== 0) {
        const tw = tk[castAt + 1]?.w ?? '';
        if (((ft === T_FUNC || ft === T_LP) && tk[castAt - 1]?.t === T_RP) || (castAt === 1 && ft === T_NAME && PG_CAST_TYPES.has(tw))) return v('sqli.fingerprint');
      }
      // VALUES ('a', 'b'): a row of literals
      if (ft === T_FUNC && first.w === 'values' && last?.t === T_RP && n >= 5) {
        let lits = true;
        for (let k = 2; k < n - 1 && lits; k++) {
          const t = tk[k]?.t;
          lits = t === T_STR || t === T_NUM || t === T_COMMA;
        }
        if (lits) return v('sqli.statement');
      }
    }
    // `;` then a statement keyword, cut short: `; insert into`, `;drop`, `;update users`, `;SET @x`
    const t1 = tk[1];
    if (first.t === T_SEMI && t1 !== undefined && t1.t === T_STMT && STACK_KW.has(t1.w)) {
      const t2 = tk[2];
      if (n === 2) return v('sqli.stacked');
      if (n === 3 && t2 !== undefined && (t2.t === T_KW || t2.t === T_VAR || (t2.t === T_NAME && (t1.w === 'update' || t1.w === 'delete' || t1.w === 'drop' || t1.w === 'truncate')))) return v('sqli.stacked');
    }
    // `;select`, ` union select` as the whole value
    if (first.t === T_UNION && n <= 3 && tk[n - 1]?.t === T_STMT && tk[n - 1]?.w === 'select') return v('sqli.union');
    return undefined;
  }
  // the value opens with a lone ASCII quote, then a set or statement keyword: 'union select, "alter a
  const q0 = s.charCodeAt(first.b - 1);
  const lone = first.t === T_STR && first.b - first.a === 1 && first.a === 0 && (q0 === 39 || q0 === 34);
  const t1 = tk[1];
  if (lone && t1 !== undefined && t1.t === T_LOGIC && n >= 3) {
    const t2 = tk[2];
    // ' or abc!, "  xor  x!, '  or 3,4,2@! : the break, OR/XOR/AND and one operand, then
    // nothing but operators and literals (no word that could start a sentence); the
    // application's query supplies the rest of the condition. `'or' is a word` quotes a word.
    if (n <= 10 && t2 !== undefined && (t2.t === T_NAME || t2.t === T_NUM || t2.t === T_FUNC || t2.t === T_LP || (t2.t === T_STR && t2.a > t1.b))) {
      let rest = true;
      for (let k = 3; k < n && rest; k++) {
        const t = tk[k]?.t;
        rest = t === T_OP || t === T_NUM || t === T_COMMA || t === T_OTHER || t === T_PH || t === T_VAR || t === T_LP || t === T_RP;
      }
      if (rest && balanced0(tk, 2, n)) return v('sqli.string-break');
    }
    // 'or(glob 1)-- : the break, a condition the grammar does not read, and a comment that cuts
    // the application's query off
    if (endComment !== undefined && n <= 10 && (endComment.w === '--' || endComment.w === '/*') && noWordRun(tk, 2, n) && balanced0(tk, 2, n)) return v('sqli.comment-truncation');
  }
  if (lone && n <= 4) {
    if (t1 !== undefined && (t1.t === T_UNION || (t1.t === T_STMT && STACK_KW.has(t1.w) && t1.w !== 'set' && t1.w !== 'replace'))) {
      let names = 0;
      let ok = true;
      for (let k = 2; k < n && ok; k++) {
        const t = tk[k]?.t;
        if (t === T_NAME) names++;
        else ok = t === T_STMT || t === T_KW || t === T_OP || t === T_LP || t === T_UNION;
      }
      if (ok && names <= 1) return v('sqli.string-break');
    }
  }
  return undefined;
}

/**
 * Running prose after token `from`: three words in a row, separated by nothing but spaces,
 * none of them a SQL keyword (impossible in SQL, whatever the quoting). Looks at the text, not
 * the tokens, because quotes in prose pair up arbitrarily.
 */
function proseAfter(tk: Tok[], from: number, s: string): boolean {
  const x = tk[from];
  if (x === undefined) return false;
  const end = Math.min(s.length, x.a + 600);
  let run = 0;
  let k = x.a;
  while (k < end) {
    const c = s.charCodeAt(k);
    if ((c >= 97 && c <= 122) || c >= 0xc0) {
      const a = k;
      while (k < end && ((s.charCodeAt(k) >= 97 && s.charCodeAt(k) <= 122) || s.charCodeAt(k) >= 0xc0 || s.charCodeAt(k) === 39)) k++;
      const w = s.slice(a, k);
      if (k - a >= 2 && !KW.has(w)) {
        if (++run >= 3) return true;
      } else run = 0;
      // only spaces may separate the words of a run
      let sp = 0;
      while (k < end && (s.charCodeAt(k) === 32 || s.charCodeAt(k) === 10)) {
        k++;
        sp++;
      }
      if (sp === 0 || sp > 2) run = 0;
      continue;
    }
    run = 0;
    k++;
  }
  return false;
}

/**
 * `--name`, `--name value`, `--{0}` closed right away by quote `q` (the option's closing
 * quote), at `a`: `'--build'`, `"--moduleResolution bundler"`, `'--'`.
 */
function quotedOption(s: string, a: number, q: number): boolean {
  let k = a + 2;
  const lim = Math.min(s.length, a + 48);
  let words = 0;
  while (k < lim) {
    const c = s.charCodeAt(k);
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95 || c === 46 || c === 123 || c === 125) k++;
    else if (c === 32 && words === 0 && k > a + 2) {
      words++;
      k++;
    } else break;
  }
  return k < s.length && (q === 34 ? s.charCodeAt(k) === 34 : isSq(s.charCodeAt(k)));
}

/**
 * Running prose in s[a, b): three words of two or more letters separated by single spaces, or
 * four letters of a script written without spaces (kana, CJK, Hangul).
 */
function proseText(s: string, a: number, b: number): boolean {
  let words = 0;
  let run = 0;
  let wide = 0;
  const end = Math.min(b, a + 400);
  for (let k = a; k < end; k++) {
    const c = s.charCodeAt(k);
    if ((c >= 97 && c <= 122) || (c >= 0xc0 && c < 0x2000)) run++;
    else {
      if (c >= 0x3040 && c < 0xd800 && ++wide >= 4) return true;
      if (run >= 2 && c === 32) {
        if (++words >= 3) return true;
      } else if (run >= 2 && (c === 46 || c === 44 || c === 63 || c === 33) && words >= 2) {
        return true;
      } else if (c !== 32 || run === 0) words = 0;
      run = 0;
    }
  }
  return run >= 2 && words >= 2;
}

function hasSpace(s: string, a: number, b: number): boolean {
  for (let k = a; k < b; k++) if (s.charCodeAt(k) === 32) return true;
  return false;
}

function hasKeyword(tk: Tok[], end: number): boolean {
  for (let k = 1; k < end && k < tk.length; k++) {
    const t = tk[k]?.t;
    if (t === T_KW || t === T_CLAUSE) return true;
  }
  return false;
}

function hasLetters(s: string, a: number, b: number): boolean {
  let letters = 0;
  for (let k = a; k < b && k < a + 64; k++) {
    const c = s.charCodeAt(k);
    if ((c >= 97 && c <= 122) || c >= 0xc0) {
      if (++letters >= 3) return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Pre-filter
// ---------------------------------------------------------------------------------------------
/** Characters that SQL injections are made of, beyond letters, digits and spaces. */
function hasSqlPunct(s: string): boolean {
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c < 128) {
      switch (c) {
        case 39: case 34: case 96: case 59: case 40: case 41: case 61: case 60: case 62: case 124: case 38: case 35: case 42: case 64: case 33: case 94: case 126: case 37: case 123: case 91: case 92: case 58: case 36:
          return true;
        case 45:
          if (s.charCodeAt(k + 1) === 45) return true;
          break;
        case 47:
          if (s.charCodeAt(k + 1) === 42) return true;
          break;
        case 46: // 1.e( : a MySQL number glued to code
          if (s.charCodeAt(k + 1) === 101 && isDigit(s.charCodeAt(k - 1))) return true;
          break;
        default:
          break;
      }
    } else if (isSq(c)) return true;
  }
  return false;
}

/** `[-]<number> ORDER|GROUP BY <number>[, <number>…] [ASC|DESC]` and nothing else. */
function ordinalOrder(tk: readonly Tok[], n: number): boolean {
  const o = tk[0]?.t === T_OP && tk[0].w === '-' ? 1 : 0;
  if (n < 4 + o || tk[o]?.t !== T_NUM || tk[o + 1]?.t !== T_CLAUSE || (tk[o + 1]?.w !== 'order' && tk[o + 1]?.w !== 'group') || tk[o + 2]?.w !== 'by') return false;
  let i = o + 3;
  for (;;) {
    if (tk[i]?.t !== T_NUM) return false;
    i++;
    if (tk[i]?.w === 'asc' || tk[i]?.w === 'desc') i++;
    if (i === n) return true;
    if (tk[i]?.t !== T_COMMA) return false;
    i++;
  }
}

/** Words that let a value without SQL punctuation be SQL (1 union select 1, 1 order by 3); the engine's gate reads them too. */
export const BARE_WORDS = ['union', 'select', 'order', 'group', 'having', 'waitfor', 'exec', 'drop', 'delete', 'insert', 'update', 'truncate', 'shutdown', 'declare', 'information_schema', 'xp_', 'sp_', 'sysobjects', 'pg_', 'dbms_', 'utl_', ' or ', ' and ', ' xor ', 'into', 'begin', 'alter', 'create', 'replace', 'limit', ' like ', ' is ', 'regexp', 'rlike',
  // the rest of the catalog names (META_NAMES) that no word above is part of
  'syscolumns', 'sysdatabases', 'sysusers', 'sys.', 'mysql.', 'all_tab', 'all_users', 'user_tab', 'dba_', 'sqlite_', 'msysaccessobjects', 'performance_schema', 'tempdb', 'msdb',
  // out-of-band and file functions that no other code names, a probe alone as well (isCatalogWord)
  'extractvalue', 'updatexml', 'xmltype', 'openrowset', 'opendatasource', 'openquery', 'load_file', 'load_extension', 'sys_eval',
  'lo_import', 'lo_export', 'dblink', 'name_const', 'randomblob'];

function mayHoldSql(lower: string): boolean {
  if (hasSqlPunct(lower)) return true;
  for (const w of BARE_WORDS) if (lower.includes(w)) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------
function evidence(text: string, tk: Tok[], v: Verdict): string {
  const fp = fingerprint(tk, v.at === 0 ? 0 : v.at - 1, 8);
  const x = tk[v.at];
  let a = x === undefined ? 0 : x.a;
  if (v.ctx !== 0 && v.at === 0) {
    // show the break itself
    const b = tk[0]?.b ?? 0;
    a = Math.max(0, b - 4);
  }
  let ex = text.slice(a, a + Math.max(8, 36 - fp.length));
  let out = '';
  for (let k = 0; k < ex.length; k++) {
    const c = ex.charCodeAt(k);
    out += c < 32 || c === 127 ? ' ' : ex[k];
  }
  ex = out;
  return (fp + ' ' + ex).slice(0, 40);
}

interface Found {
  v: Verdict;
  tk: Tok[];
  /** The text the verdict's token offsets refer to. */
  s: string;
}

/**
 * Prose with Markdown code spans: every backtick run opens or closes a span (`--flag`,
 * ``a`b``), an opening run follows the start, a space or punctuation and a closing one is
 * followed by the end, a space or punctuation, spans stay on one line, and there are words
 * outside them. Such backticks delimit code in text, not a MySQL identifier to break out of.
 */
function markdownCode(s: string): boolean {
  let k = s.indexOf('`');
  let open = -1;
  let runLen = 0;
  let outside = 0;
  let from = 0;
  let spans = 0;
  while (k >= 0) {
    let e = k;
    while (e < s.length && s.charCodeAt(e) === 96) e++;
    const len = e - k;
    if (open < 0) {
      if (k > 0 && isWordChar(s.charCodeAt(k - 1))) return false;
      outside += letters(s, from, k);
      open = k;
      runLen = len;
    } else if (len === runLen) {
      if (e < s.length && isWordChar(s.charCodeAt(e))) return false;
      for (let j = open + runLen; j < k; j++) if (s.charCodeAt(j) === 10) return false;
      open = -1;
      from = e;
      spans++;
    }
    k = s.indexOf('`', e);
  }
  if (open >= 0 || spans === 0) return false;
  outside += letters(s, from, s.length);
  return outside >= 6;
}

function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || (c >= 65 && c <= 90);
}

function letters(s: string, a: number, b: number): number {
  let n = 0;
  for (let k = a; k < b; k++) {
    const c = s.charCodeAt(k);
    if (c >= 97 && c <= 122) n++;
  }
  return n;
}

/** A backslash right before a quote of that class, followed later by another such quote. */
function escapedQuote(s: string, q: number): boolean {
  const k = s.indexOf('\\');
  if (k < 0) return false;
  for (let j = k; j + 1 < s.length; j++) {
    if (s.charCodeAt(j) !== 92) continue;
    const c = s.charCodeAt(j + 1);
    if (q === 39 ? isSq(c) : c === q) {
      for (let e = j + 2; e < s.length; e++) {
        const d = s.charCodeAt(e);
        if (q === 39 ? isSq(d) : d === q) return true;
      }
      return false;
    }
  }
  return false;
}

/** Analyzes `lower` in every quoting context it may break out of; the strongest verdict. */
function analyzeValue(lower: string, p: Parser, found: Found | undefined): Found | undefined {
  const contexts: number[] = [0];
  let hasSq = false;
  let hasDq = false;
  let hasBt = false;
  for (let k = 0; k < lower.length; k++) {
    const c = lower.charCodeAt(k);
    if (isSq(c)) hasSq = true;
    else if (c === 34) hasDq = true;
    else if (c === 96) hasBt = true;
  }
  if (hasSq) contexts.push(39);
  if (hasDq) contexts.push(34);
  if (hasBt && !markdownCode(lower)) contexts.push(96);
  // `\'` read the MySQL way too: the escaped quote stays in the string, the next one breaks
  if (hasSq && escapedQuote(lower, 39)) contexts.push(39 | CTX_BACKSLASH);
  if (hasDq && escapedQuote(lower, 34)) contexts.push(34 | CTX_BACKSLASH);
  let best = found;
  for (const q of contexts) {
    if (best !== undefined && best.v.paranoia === 1 && best.v.severity >= 5) break;
    const all: Tok[] = [];
    if (!lex(lower, q, all)) continue;
    const tk: Tok[] = [];
    const trailing = stripComments(all, tk);
    const v = analyze(all, tk, trailing, q, p, lower);
    if (v === undefined) continue;
    if (best === undefined || better(best.v, v) !== best.v) best = { v, tk, s: lower };
  }
  return best;
}

/**
 * Length of a leading `name=` (a parameter name and its `=`), 0 when there is none: a value
 * that carries a nested `name=value` pair (an encoded query string, a parameter name holding
 * its own value) is also read from its value on.
 */
function pairPrefix(lower: string): number {
  const max = Math.min(lower.length - 2, 64);
  for (let k = 0; k <= max; k++) {
    const c = lower.charCodeAt(k);
    if (c === 61) return k > 0 ? k + 1 : 0;
    if (!(isIdPart(c) || c === 46 || c === 45 || c === 91 || c === 93) || isSpace(c)) return 0;
  }
  return 0;
}

/**
 * `lower` without the block comments that are glued on both sides to letters or digits (a word
 * or number split in two); other comments stay. Executable comments (`/*!`) are code, kept.
 */
function unsplit(lower: string): string {
  let out = '';
  let from = 0;
  let k = lower.indexOf('/*');
  while (k >= 0) {
    const e = lower.indexOf('*/', k + 2);
    if (e < 0) break;
    if (k > 0 && lower.charCodeAt(k + 2) !== 33 && isAlnum(lower.charCodeAt(k - 1)) && isAlnum(lower.charCodeAt(e + 2))) {
      out += lower.slice(from, k);
      from = e + 2;
    }
    k = lower.indexOf('/*', e + 2);
  }
  return from === 0 ? lower : out + lower.slice(from);
}

function isAlnum(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || (c >= 65 && c <= 90);
}

/** Keywords and strong functions, and every prefix of one (for words split in more than two pieces). */
const SPLIT_WORDS = new Set<string>();
const SPLIT_PREFIXES = new Set<string>();
for (const w of [...KW.keys(), ...STRONG_FN]) {
  SPLIT_WORDS.add(w);
  for (let k = 1; k < w.length; k++) SPLIT_PREFIXES.add(w.slice(0, k));
}

// `lower` with the glued block comments taken out only where they split a keyword
// (`dr/**/op`, `s/**/el/**/ect`); a glued comment between two other words stays, as the space
// it stands for (`dr/**/op/**/users` → `drop/**/users`). At most 64 comments.
function unsplitKeywords(lower: string): string {
  let out = '';
  let from = 0;
  let k = lower.indexOf('/*');
  for (let guard = 0; k >= 0 && guard < 64; guard++) {
    const e = lower.indexOf('*/', k + 2);
    if (e < 0) break;
    if (k > 0 && lower.charCodeAt(k + 2) !== 33 && isAlnum(lower.charCodeAt(k - 1)) && isAlnum(lower.charCodeAt(e + 2))) {
      const head = out + lower.slice(from, k);
      let a = head.length;
      while (a > 0 && a > head.length - 32 && isAlnum(head.charCodeAt(a - 1))) a--;
      let b = e + 2;
      while (b < lower.length && b < e + 34 && isAlnum(lower.charCodeAt(b))) b++;
      const word = head.slice(a) + lower.slice(e + 2, b);
      // a piece of a longer keyword joins only when another glued comment follows it
      if (SPLIT_WORDS.has(word) || (SPLIT_PREFIXES.has(word) && lower.startsWith('/*', b))) {
        out = head;
        from = e + 2;
      }
    }
    k = lower.indexOf('/*', e + 2);
  }
  return from === 0 ? lower : out + lower.slice(from);
}

/**
 * `+` standing for spaces: a value without spaces whose words are joined by `+` (form encoding
 * left undecoded, path segments), spaces allowed only in a trailing `-- ` comment (sqlmap's
 * `-- -`).
 */
function plusSpaced(lower: string): boolean {
  const space = lower.indexOf(' ');
  if (space >= 0) {
    const comment = lower.indexOf('--');
    if (comment < 0 || space < comment) return false;
  }
  const k = lower.indexOf('+');
  return k >= 0 && lower.indexOf('+', k + 1) >= 0;
}

function detect(text: string, lower: string, ctx: DetectContext): Hit | undefined {
  try {
    if (lower.length < 2 || (ctx.paranoia === 1 && !mayHoldSql(lower))) return undefined;
    const c1 = lower.charCodeAt(1);
    if (lower.charCodeAt(0) === 0x3d && c1 >= 0x61 && c1 <= 0x7a) {
      // `=IF(B2>100,"High","Low")`: a spreadsheet formula. A leading `=` continues no SQL the
      // value could be placed in (after a column it needs the application to leave out its own
      // operator), so the value is read without it; its quotes are still read as breaks.
      text = text.slice(1);
      lower = lower.slice(1);
    }
    const p = new Parser();
    let found = analyzeValue(lower, p, undefined);
    const done = (): boolean => found !== undefined && found.v.paranoia === 1 && found.v.severity >= 5;
    if (!done() && plusSpaced(lower)) found = analyzeValue(lower.replaceAll('+', ' '), p, found);
    if (!done() && lower.indexOf('/*') >= 0) {
      // un/**/ion, benchmark(2999/**/999,…): a comment that splits a word or a number is there to
      // get past filters that look for the word; read the value with those comments taken out
      const joined = unsplit(lower);
      if (joined !== lower) found = analyzeValue(joined, p, found);
      if (!done()) {
        // dr/**/op/**/users: split keywords joined, the other comments kept as the spaces they are
        const words = unsplitKeywords(lower);
        if (words !== lower && words !== joined) found = analyzeValue(words, p, found);
      }
    }
    if (!done() && (lower.charCodeAt(0) === 0x20 || lower.charCodeAt(0) === 0x09 || lower.charCodeAt(0) === 0x0a)) {
      // ` ORDER BY 1-- `, ` UNION SELECT …`: a clause written to follow the parameter's own
      // value (an empty one here); read it after an operand, as the query will
      found = analyzeValue('1' + lower, p, found);
    }
    if (!done()) {
      const k = pairPrefix(lower);
      if (k > 0) {
        const rest = lower.slice(k);
        if (rest.length >= 2 && mayHoldSql(rest)) found = analyzeValue(rest, p, found);
      }
    }
    if (found === undefined || found.v.paranoia > ctx.paranoia) return undefined;
    // A catalog name alone is a probe as a value; as a member or field name it is an identifier
    // (and the engine's gate does not read plain identifier names at paranoia 1 anyway).
    if (ctx.isKey && found.v.rule === 'sqli.catalog') return undefined;
    const src = found.s === lower && text.length === lower.length ? text : found.s;
    return { detector: found.v.rule, category: 'sqli', severity: found.v.severity, paranoia: found.v.paranoia, evidence: evidence(src, found.tk, found.v) };
  } catch {
    return undefined;
  }
}

/** The SQL injection detector (see the file comment). */
export const detectSqli: Detector = detect;

/** Exposed for tests and tooling: the fingerprint of a value tokenized in one context. */
export function sqliFingerprint(value: string, context: 'raw' | 'single' | 'double' = 'raw'): string | undefined {
  const all: Tok[] = [];
  if (!lex(value.toLowerCase(), context === 'raw' ? 0 : context === 'single' ? 39 : 34, all)) return undefined;
  return fingerprint(all, 0, 64);
}
