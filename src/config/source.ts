/**
 * YAML/JSON parsing that keeps source positions, shared by the config loader and the
 * OpenAPI loader. JSON is read with the YAML parser (YAML 1.2 is a superset of JSON), so
 * both formats get line/column for every key and value.
 *
 * The position index is built from the syntax tree without following aliases (an alias
 * is located where it is written), so a hostile file cannot make the index explode; the
 * value itself comes from `toJS` with a bounded alias count.
 */
import { LineCounter, parseDocument, isMap, isSeq, isScalar, type Node, type ParsedNode } from 'yaml';
import type { Diagnostic, SourceLocation } from './types.js';

/** One step of a key path: a mapping key or a list index. */
export type Segment = string | number;

export interface ParsedSource {
  readonly file: string;
  /** The parsed value; undefined when the file has syntax errors. */
  readonly value: unknown;
  /** Syntax errors and warnings. */
  readonly diagnostics: readonly Diagnostic[];
  /**
   * Where the value at `path` is written: a scalar's own position, the key of a mapping
   * entry whose value is a collection, or a list item's start. The nearest existing
   * ancestor when the path is absent.
   */
  locate(path: readonly Segment[]): SourceLocation;
  /** The position of the key of a mapping entry (else as `locate`). */
  locateKey(path: readonly Segment[]): SourceLocation;
  /** Whether the path is written in the file. */
  has(path: readonly Segment[]): boolean;
}

interface Entry {
  readonly key: SourceLocation | undefined;
  readonly value: SourceLocation;
  readonly collection: boolean;
}

/** Most aliases expanded while converting to JS (guards against "billion laughs"). */
const MAX_ALIAS_COUNT = 1000;

/** JSON pointer (RFC 6901) of a key path. */
export function jsonPointer(path: readonly Segment[]): string {
  let out = '';
  for (const s of path) out += '/' + String(s).replaceAll('~', '~0').replaceAll('/', '~1');
  return out;
}

/** Parse a JSON pointer into segments (all strings); undefined when it is not a pointer. */
export function parsePointer(pointer: string): string[] | undefined {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) return undefined;
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** Parse YAML or JSON text, keeping the position of every key and value. */
export function parseSource(file: string, text: string): ParsedSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, keepSourceTokens: false });
  const at = (offset: number): SourceLocation => {
    const p = lineCounter.linePos(offset);
    return { file, line: p.line, column: p.col };
  };
  const diagnostics: Diagnostic[] = [];
  for (const e of doc.errors) {
    const p = at(e.pos[0]);
    diagnostics.push({ severity: 'error', file, line: p.line, column: p.column, path: '', message: `invalid ${kindOf(file)}: ${e.message}` });
  }
  for (const w of doc.warnings) {
    const p = at(w.pos[0]);
    diagnostics.push({ severity: 'warning', file, line: p.line, column: p.column, path: '', message: w.message });
  }

  const index = new Map<string, Entry>();
  const start: SourceLocation = { file, line: 1, column: 1 };
  index.set('', { key: undefined, value: doc.contents?.range ? at(doc.contents.range[0]) : start, collection: true });
  if (doc.contents) indexNode(doc.contents, [], undefined, index, at);

  let value: unknown;
  if (diagnostics.every((d) => d.severity !== 'error')) {
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      diagnostics.push({ severity: 'error', file, line: 1, column: 1, path: '', message: `invalid ${kindOf(file)}: ${(err as Error).message}` });
    }
  }

  const nearest = (path: readonly Segment[]): { entry: Entry; exact: boolean } => {
    for (let i = path.length; i >= 0; i--) {
      const entry = index.get(jsonPointer(path.slice(0, i)));
      if (entry) return { entry, exact: i === path.length };
    }
    return { entry: { key: undefined, value: start, collection: true }, exact: false };
  };
  return {
    file,
    value,
    diagnostics,
    locate(path) {
      const { entry } = nearest(path);
      return entry.collection && entry.key ? entry.key : entry.value;
    },
    locateKey(path) {
      const { entry } = nearest(path);
      return entry.key ?? entry.value;
    },
    has(path) {
      return index.has(jsonPointer(path));
    },
  };
}

function indexNode(
  node: ParsedNode | Node,
  path: Segment[],
  key: SourceLocation | undefined,
  index: Map<string, Entry>,
  at: (offset: number) => SourceLocation,
): void {
  const value = node.range ? at(node.range[0]) : (key ?? { file: '', line: 0, column: 0 });
  const collection = isMap(node) || isSeq(node);
  index.set(jsonPointer(path), { key, value, collection });
  if (isMap(node)) {
    for (const pair of node.items) {
      const k = pair.key as Node | null;
      const name = isScalar(k) ? String(k.value) : String(k ?? '');
      const keyPos = k?.range ? at(k.range[0]) : value;
      const child = [...path, name];
      const v = pair.value as Node | null;
      // `key:` with nothing after it: point at the key.
      if (v === null || (isScalar(v) && v.value === null && v.range?.[0] === v.range?.[1])) {
        index.set(jsonPointer(child), { key: keyPos, value: keyPos, collection: false });
      } else {
        indexNode(v, child, keyPos, index, at);
      }
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      if (item) indexNode(item as Node, [...path, i], undefined, index, at);
    });
  }
}

function kindOf(file: string): string {
  return file.toLowerCase().endsWith('.json') ? 'JSON' : 'YAML';
}
