/**
 * Walking the config schema alongside a value: finding `x-secret` fields, coercing values
 * that came from `${ENV}`, filling defaults. The schema is plain JSON Schema at run time
 * (TypeBox only adds symbol keys), so it is read here through a small structural type.
 */
import type { Segment } from './source.js';

/** The parts of a JSON Schema node the loader reads. */
export interface SchemaNode {
  readonly type?: string;
  readonly const?: unknown;
  readonly anyOf?: readonly SchemaNode[];
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly patternProperties?: Readonly<Record<string, SchemaNode>>;
  readonly additionalProperties?: boolean | SchemaNode;
  readonly items?: SchemaNode;
  readonly required?: readonly string[];
  readonly pattern?: string;
  readonly format?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minItems?: number;
  readonly default?: unknown;
  readonly description?: string;
  readonly title?: string;
  readonly 'x-secret'?: boolean;
  readonly 'x-secret-file'?: boolean;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const patternCache = new Map<string, RegExp>();

/** The schema of the member `key` of an object schema (properties, then patternProperties). */
export function memberSchema(s: SchemaNode, key: string): SchemaNode | undefined {
  if (s.properties && Object.hasOwn(s.properties, key)) return s.properties[key];
  for (const [pattern, sub] of Object.entries(s.patternProperties ?? {})) {
    let re = patternCache.get(pattern);
    if (!re) {
      // Patterns come from our own schema, never from user input.
      re = new RegExp(pattern, 'u');
      patternCache.set(pattern, re);
    }
    if (re.test(key)) return sub;
  }
  return undefined;
}

/**
 * Visit every (schema node, value) pair, depth first, parents before children. `visit`
 * returns the value to keep (the same value when nothing changes). Union branches are all
 * visited in order with the value as the previous branch left it.
 */
export function walkWithSchema(
  s: SchemaNode,
  value: unknown,
  visit: (s: SchemaNode, value: unknown, path: readonly Segment[]) => unknown,
  path: Segment[] = [],
): unknown {
  let v = visit(s, value, path);
  for (const branch of s.anyOf ?? []) v = walkWithSchema(branch, v, visit, path);
  if (isPlainObject(v) && (s.properties || s.patternProperties)) {
    for (const key of Object.keys(v)) {
      const sub = memberSchema(s, key);
      if (sub) v[key] = walkWithSchema(sub, v[key], visit, [...path, key]);
    }
  } else if (Array.isArray(v) && s.items) {
    for (let i = 0; i < v.length; i++) v[i] = walkWithSchema(s.items, v[i], visit, [...path, i]);
  }
  return v;
}

/**
 * Fill defaults in a schema-valid value, in place: absent properties with a `default` get
 * a copy of it; absent objects whose keys are all optional are created so their own
 * defaults apply (e.g. `limits`, `tls.hsts`).
 */
export function fillDefaults(s: SchemaNode, value: unknown): unknown {
  if (isPlainObject(value)) {
    for (const [key, sub] of Object.entries(s.properties ?? {})) {
      if (value[key] === undefined) {
        if (sub.default !== undefined) value[key] = structuredClone(sub.default);
        else if (sub.type === 'object' && sub.properties && (sub.required ?? []).length === 0) value[key] = {};
      }
    }
    for (const key of Object.keys(value)) {
      const sub = memberSchema(s, key);
      if (sub) fillDefaults(sub, value[key]);
    }
  } else if (Array.isArray(value) && s.items) {
    for (const item of value) fillDefaults(s.items, item);
  }
  return value;
}
