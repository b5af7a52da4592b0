/**
 * What the detector gates (detectors/index.ts) read about one value, computed once per value:
 * its character classes and a few marks in one pass (`ValueFacts.scan`), and, only when a gate
 * asks, which literals of a `LiteralSet` it contains (one more pass through a DFA built at
 * start-up: an Aho-Corasick automaton over the detectors' trigger words) and whether its
 * base64-looking runs decode to anything a payload needs.
 *
 * What it can get wrong, and why it does not: a gate may only skip a detector that could not
 * have fired. Every fact here is therefore exact or errs on the "maybe" side:
 * - literals are matched in the text as the detectors see it, `text.toLowerCase()`, including
 *   the two non-ASCII characters whose lower case is ASCII (U+212A KELVIN SIGN → `k`, U+0130 →
 *   `i` + U+0307); any other non-ASCII character matches no literal (all literals are ASCII);

 * - the base64 check looks for any byte pattern a payload needs in every alignment.
 * test/threats-gates.test.ts replays the corpora and generated values with and without gates.
 */
import { CC, CLASS_OF } from './charclass.js';
import type { InputLocation } from './types.js';

/** Marks: facts beyond the character classes of charclass.ts. */
export const MK = Object.freeze({
  UPPER: 1 << 0, // A-Z
  PLUS: 1 << 1,
  BANG: 1 << 2,
  TILDE: 1 << 3,
  CARET: 1 << 4,
  COMMA: 1 << 5,
  QMARK: 1 << 6,
  /** A run of ≥ 16 base64 characters with both letter cases (normalize()'s base64 heuristic reads it). */
  LONG_B64: 1 << 7,
  /** A run of ≥ 6 base64/base64url characters with an upper-case letter or a digit. */
  B64_RUN: 1 << 8,
});

/** All MK bits. */
const MK_MASK = (1 << 9) - 1;
/** INFO bits above the marks: the character is base64, and which kind (compared as numbers: letters above digits and symbols). */
const B64_DIGIT = 1 << 16; // digit (+ / - _ are base64 but neither digit nor letter)
const B64_ANY = 1 << 17; // any base64 character
const B64_LETTER = 1 << 18; // a letter (either case)
const B64_LOWERCASE = 1 << 19; // a lower-case letter
/** 0 not base64; 1 digit or symbol (+ / - _); 2 upper-case; 3 lower-case. */
const B64 = new Uint8Array(128);
/** Static marks (MK) of each ASCII character, and its base64 kind (B64_*). */
const INFO = new Int32Array(128);
{
  for (let c = 0x30; c <= 0x39; c++) B64[c] = 1;
  for (const ch of '+/-_') B64[ch.charCodeAt(0)] = 1;
  for (let c = 0x41; c <= 0x5a; c++) B64[c] = 2;
  for (let c = 0x61; c <= 0x7a; c++) B64[c] = 3;
  for (let c = 0x41; c <= 0x5a; c++) INFO[c] = MK.UPPER;
  INFO[0x2b] = MK.PLUS;
  INFO[0x21] = MK.BANG;
  INFO[0x7e] = MK.TILDE;
  INFO[0x5e] = MK.CARET;
  INFO[0x2c] = MK.COMMA;
  INFO[0x3f] = MK.QMARK;
  for (let c = 0; c < 128; c++) {
    const k = B64[c]!;
    if (k === 1) INFO[c] = INFO[c]! | B64_ANY | (c >= 0x30 && c <= 0x39 ? B64_DIGIT : 0);
    else if (k === 2) INFO[c] = INFO[c]! | B64_ANY | B64_LETTER;
    else if (k === 3) INFO[c] = INFO[c]! | B64_ANY | B64_LETTER | B64_LOWERCASE;
  }
}

// ---------------------------------------------------------------------------------------------
// Literal sets: one DFA over lower-cased text

/** Symbols of the DFA: 0 for every character that occurs in no literal. */
const NO_SYMBOL = 0;

/**
 * A set of ASCII literals, each with bits; `match(text)` answers the OR of the bits of every
 * literal that occurs in `text.toLowerCase()`. Built once (Aho-Corasick, then expanded into a
 * DFA over the literals' alphabet), so a match is one table step per character.
 */
export class LiteralSet {
  /** DFA symbol of each ASCII character (lower and upper case alike); 0 for characters in no literal. */
  readonly symbols = new Uint8Array(128);
  /** Symbols per state. */
  readonly width: number;
  /** Transitions: next[state * width + symbol]; state 0 is the start. */
  readonly next: Uint16Array | Uint32Array;
  /** Bits of the literals that end in each state (through failure links). */
  readonly out: Int32Array;

  constructor(literals: readonly (readonly [string, number])[]) {
    // Alphabet: the characters used by the literals (lower case), 1-based.
    let width = 1;
    for (const [lit] of literals) {
      for (let i = 0; i < lit.length; i++) {
        const c = lit.charCodeAt(i);
        if (c >= 128 || (c >= 0x41 && c <= 0x5a)) throw new Error(`literal must be lower-case ASCII: ${JSON.stringify(lit)}`);
        if (this.symbols[c] === NO_SYMBOL) this.symbols[c] = width++;
      }
    }
    for (let c = 0x41; c <= 0x5a; c++) this.symbols[c] = this.symbols[c + 32]!;
    this.width = width;
    // Trie.
    const goto: Map<number, number>[] = [new Map()];
    const out: number[] = [0];
    for (const [lit, bits] of literals) {
      if (lit.length === 0) throw new Error('empty literal');
      let s = 0;
      for (let i = 0; i < lit.length; i++) {
        const sym = this.symbols[lit.charCodeAt(i)]!;
        let t = goto[s]!.get(sym);
        if (t === undefined) {
          t = goto.length;
          goto.push(new Map());
          out.push(0);
          goto[s]!.set(sym, t);
        }
        s = t;
      }
      out[s] = out[s]! | bits;
    }
    // Failure links (breadth first), outputs merged along them, and the full transition table.
    const states = goto.length;
    const next = states < 0xffff ? new Uint16Array(states * width) : new Uint32Array(states * width);
    const fail = new Int32Array(states);
    const queue: number[] = [];
    for (let sym = 1; sym < width; sym++) {
      const t = goto[0]!.get(sym);
      if (t !== undefined) {
        next[sym] = t;
        fail[t] = 0;
        queue.push(t);
      }
    }
    for (let q = 0; q < queue.length; q++) {
      const s = queue[q]!;
      out[s] = out[s]! | out[fail[s]!]!;
      for (let sym = 1; sym < width; sym++) {
        const t = goto[s]!.get(sym);
        if (t !== undefined) {
          fail[t] = next[fail[s]! * width + sym]!;
          next[s * width + sym] = t;
          queue.push(t);
        } else {
          next[s * width + sym] = next[fail[s]! * width + sym]!;
        }
      }
    }
    this.next = next;
    this.out = Int32Array.from(out);
  }

  /** OR of the bits of the literals found in `text.slice(start, end).toLowerCase()`. */
  match(text: string, start = 0, end = text.length): number {
    const symbols = this.symbols;
    const next = this.next;
    const out = this.out;
    const width = this.width;
    let s = 0;
    let bits = 0;
    for (let i = start; i < end; i++) {
      const c = text.charCodeAt(i);
      if (c < 128) {
        s = next[s * width + symbols[c]!]!;
        bits |= out[s]!;
      } else if (c === 0x212a || c === 0x130) {
        // KELVIN SIGN lower-cases to `k`; U+0130 to `i` + U+0307 (which no literal continues).
        s = next[s * width + symbols[c === 0x212a ? 0x6b : 0x69]!]!;
        bits |= out[s]!;
        if (c === 0x130) s = 0;
      } else {
        s = 0;
      }
    }
    return bits;
  }
}

// ---------------------------------------------------------------------------------------------
// Value facts

/** FNV-1a step, for hashes of words (a collision only makes a gate say "maybe"). */
export function hashStep(h: number, c: number): number {
  return Math.imul(h ^ c, 0x01000193);
}
export const HASH_SEED = 0x811c9dc5 | 0;

/** The hash of a word (hashStep over its characters, from HASH_SEED). */
export function wordHash(w: string): number {
  let h = HASH_SEED;
  for (let i = 0; i < w.length; i++) h = hashStep(h, w.charCodeAt(i));
  return h;
}

/**
 * Facts about one value (reused: `scan` resets it). The value is `src.slice(start, end)`, which
 * is only copied when `text` is read (a JSON string without escapes is a range of the body).
 * `classes` and `marks` are exact; literals and the base64 check are computed on first use (or
 * during `scan`) and kept until the next.
 */
export class ValueFacts {
  src = '';
  start = 0;
  end = 0;
  private copy: string | undefined = undefined;
  /** CC bits of the characters of the value (charclass.ts). */
  classes = 0;
  /** MK bits. */
  marks = 0;
  isKey = false;
  /** Where the value was found (set by the engine before the gates run). */
  location: InputLocation = 'body';
  /** Where the input's name comes from (the engine's inspection of the current value). */
  nameOf: { nameForGate(): string; nameHas(needle: string): boolean; nameHasFile(): boolean } | undefined = undefined;
  private wordsOf: LiteralSet | undefined = undefined;
  private wordBits = 0;
  private b64Done = false;
  private b64 = false;

  /** The value. */
  get text(): string {
    if (this.copy === undefined) this.copy = this.start === 0 && this.end === this.src.length ? this.src : this.src.slice(this.start, this.end);
    return this.copy;
  }

  get length(): number {
    return this.end - this.start;
  }

  /**
   * One pass over `src[start, end)` (the whole of `src` by default): classes, marks and, when
   * given, the literals of `literals` (see words()).
   */
  scan(src: string, isKey: boolean, literals?: LiteralSet, start = 0, end = src.length): void {
    this.src = src;
    this.start = start;
    this.end = end;
    this.copy = undefined;
    const text = src;
    this.isKey = isKey;
    this.b64Done = false;
    let classes = 0;
    let marks = 0;
    let run = 0;
    let cases = 0;
    let upperOrDigit = false;
    if (literals === undefined) {
      this.wordsOf = undefined;
      for (let i = start; i < end; i++) {
        const c = text.charCodeAt(i);
        if (c >= 128) {
          classes |= CC.NONASCII;
          run = 0;
          cases = 0;
          upperOrDigit = false;
          continue;
        }
        classes |= CLASS_OF[c]!;
        const info = INFO[c]!;
        marks |= info;
        if (info < B64_ANY) {
          run = 0;
          cases = 0;
          upperOrDigit = false;
          continue;
        }
        run++;
        if (info >= B64_LETTER) {
          if (info >= B64_LOWERCASE) cases |= 2;
          else {
            cases |= 1;
            upperOrDigit = true;
          }
        } else if ((info & B64_DIGIT) !== 0) upperOrDigit = true;
        if (run >= 6 && upperOrDigit) marks |= MK.B64_RUN;
        if (run >= 16 && cases === 3) marks |= MK.LONG_B64;
      }
    } else {
      // The same, with one DFA step per character (LiteralSet.match).
      const symbols = literals.symbols;
      const next = literals.next;
      const out = literals.out;
      const width = literals.width;
      let state = 0;
      let bits = 0;
      for (let i = start; i < end; i++) {
        const c = text.charCodeAt(i);
        if (c >= 128) {
          classes |= CC.NONASCII;
          run = 0;
          cases = 0;
          upperOrDigit = false;
          if (c === 0x212a || c === 0x130) {
            state = next[state * width + symbols[c === 0x212a ? 0x6b : 0x69]!]!;
            bits |= out[state]!;
            if (c === 0x130) state = 0;
          } else state = 0;
          continue;
        }
        state = next[state * width + symbols[c]!]!;
        bits |= out[state]!;
        classes |= CLASS_OF[c]!;
        const info = INFO[c]!;
        marks |= info;
        if (info < B64_ANY) {
          run = 0;
          cases = 0;
          upperOrDigit = false;
          continue;
        }
        run++;
        if (info >= B64_LETTER) {
          if (info >= B64_LOWERCASE) cases |= 2;
          else {
            cases |= 1;
            upperOrDigit = true;
          }
        } else if ((info & B64_DIGIT) !== 0) upperOrDigit = true;
        if (run >= 6 && upperOrDigit) marks |= MK.B64_RUN;
        if (run >= 16 && cases === 3) marks |= MK.LONG_B64;
      }
      this.wordsOf = literals;
      this.wordBits = bits;
    }
    this.classes = classes;
    this.marks = marks & MK_MASK;
  }

  /** Drops the references to the last value and inspection (a body can be large). */
  release(): void {
    this.src = '';
    this.start = 0;
    this.end = 0;
    this.copy = undefined;
    this.nameOf = undefined;
    this.wordsOf = undefined;
  }

  /** The input's name as detectors see it (DetectContext.name). */
  name(): string {
    return this.nameOf === undefined ? '' : this.nameOf.nameForGate();
  }

  /** `name().indexOf(needle) >= 0` for a needle of letters and `_`, without building a JSON pointer. */
  nameHas(needle: string): boolean {
    return this.nameOf !== undefined && this.nameOf.nameHas(needle);
  }

  /** `name().length > 5 && /file/i.test(name())`, without building a JSON pointer when no segment mentions a file. */
  nameHasFile(): boolean {
    return this.nameOf !== undefined && this.nameOf.nameHasFile();
  }

  /** OR of the bits of the literals of `set` in `text.toLowerCase()`. */
  words(set: LiteralSet): number {
    if (this.wordsOf !== set) {
      this.wordBits = set.match(this.src, this.start, this.end);
      this.wordsOf = set;
    }
    return this.wordBits;
  }

  /**
   * Whether some run of ≥ 6 base64/base64url characters with an upper-case letter or a digit
   * decodes, at one of the four sextet alignments, to bytes that hold 7 printable ASCII
   * characters in a row, a line feed after two printable ones, or the Java or .NET
   * serialization magic. Without any of these, none of what code.ts looks for in decoded runs
   * (keywords of 8+ characters, `runtime`, pickle opcodes `c<module>\n`, magics) is there.
   */
  base64MayHold(): boolean {
    if (this.b64Done) return this.b64;
    this.b64Done = true;
    this.b64 = false;
    if ((this.marks & MK.B64_RUN) === 0) return false;
    const t = this.src;
    const n = this.end;
    let i = this.start;
    while (i < n) {
      const c = t.charCodeAt(i);
      if (c >= 128 || B64[c] === 0) {
        i++;
        continue;
      }
      const s = i;
      let ud = false;
      while (i < n) {
        const d = t.charCodeAt(i);
        if (d >= 128) break;
        const k = B64[d]!;
        if (k === 0) break;
        if (k === 2 || (k === 1 && d >= 0x30 && d <= 0x39)) ud = true;
        i++;
      }
      if (i - s >= 6 && ud && decodedMayHold(t, s, i)) return (this.b64 = true);
    }
    return false;
  }
}

/** Value of each base64 and base64url character (-1: none). */
const SEXTET = new Int8Array(128).fill(-1);
{
  const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < 64; i++) SEXTET[a.charCodeAt(i)] = i;
  SEXTET[0x2d] = 62;
  SEXTET[0x5f] = 63;
}

/**
 * See ValueFacts.base64MayHold: t[s, e) decoded as code.ts b64decode decodes it, with 0–3
 * leading zero sextets (`shift`). The accumulator is the same for every shift (leading zeros
 * add nothing to it); only the bit count differs, so the four decodings run side by side.
 */
function decodedMayHold(t: string, s: number, e: number): boolean {
  let acc = 0;
  // Per shift: pending bits, printable characters in a row, magic state (magicStep).
  let b0 = 0;
  let b1 = 6;
  let b2 = 12;
  let b3 = 18;
  let p0 = 0;
  let p1 = 0;
  let p2 = 0;
  let p3 = 0;
  let m0 = 0;
  let m1 = 0;
  let m2 = 0;
  let m3 = 0;
  for (let i = s; i < e; i++) {
    acc = ((acc << 6) | SEXTET[t.charCodeAt(i)]!) & 0xffffff;
    b0 += 6;
    if (b0 >= 8) {
      b0 -= 8;
      const x = (acc >> b0) & 0xff;
      const q = BYTE[x]!;
      if (q === PRINTABLE) {
        if (++p0 >= 7) return true;
      } else {
        if (x === 0x0a && p0 >= 2) return true;
        p0 = 0;
      }
      if (m0 !== 0 || q === MAGIC) {
        m0 = magicStep(m0, x);
        if (m0 < 0) return true;
      }
    }
    b1 += 6;
    if (b1 >= 8) {
      b1 -= 8;
      const x = (acc >> b1) & 0xff;
      const q = BYTE[x]!;
      if (q === PRINTABLE) {
        if (++p1 >= 7) return true;
      } else {
        if (x === 0x0a && p1 >= 2) return true;
        p1 = 0;
      }
      if (m1 !== 0 || q === MAGIC) {
        m1 = magicStep(m1, x);
        if (m1 < 0) return true;
      }
    }
    b2 += 6;
    if (b2 >= 8) {
      b2 -= 8;
      const x = (acc >> b2) & 0xff;
      const q = BYTE[x]!;
      if (q === PRINTABLE) {
        if (++p2 >= 7) return true;
      } else {
        if (x === 0x0a && p2 >= 2) return true;
        p2 = 0;
      }
      if (m2 !== 0 || q === MAGIC) {
        m2 = magicStep(m2, x);
        if (m2 < 0) return true;
      }
    }
    b3 += 6;
    if (b3 >= 8) {
      b3 -= 8;
      const x = (acc >> b3) & 0xff;
      const q = BYTE[x]!;
      if (q === PRINTABLE) {
        if (++p3 >= 7) return true;
      } else {
        if (x === 0x0a && p3 >= 2) return true;
        p3 = 0;
      }
      if (m3 !== 0 || q === MAGIC) {
        m3 = magicStep(m3, x);
        if (m3 < 0) return true;
      }
    }
  }
  return false;
}

const PRINTABLE = 1;
/** First byte of a magic (AC, 01). */
const MAGIC = 2;
/** Bytes of note: printable ASCII, first bytes of the magics. */
const BYTE = new Uint8Array(256);
for (let x = 0x20; x <= 0x7e; x++) BYTE[x] = PRINTABLE;
BYTE[0xac] = MAGIC;
BYTE[0x01] = MAGIC;

/** Java serialization stream magic, then the .NET BinaryFormatter header (after its leading 00). */
const MAGICS = new Uint8Array([0xac, 0xed, 0x00, 0x05, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff]);

/**
 * One byte through the magic automaton: 0 idle, 1–3 Java bytes matched, 5–11 .NET bytes matched
 * (4 + count); -1 when a magic is complete. The two magics share no byte that could be inside
 * both at once (no suffix of a prefix of one is a prefix of the other), so one state suffices,
 * and on a mismatch only the byte itself can start a new match.
 */
function magicStep(state: number, x: number): number {
  if (state !== 0 && x === MAGICS[state]) {
    const next = state + 1;
    return next === 4 || next === 12 ? -1 : next;
  }
  return x === 0xac ? 1 : x === 0x01 ? 5 : 0;
}
