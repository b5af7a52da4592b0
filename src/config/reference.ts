/**
 * The published forms of the config schema: the JSON Schema for editors
 * (`schema/portcullis.schema.json`) and the configuration reference
 * (`docs/configuration.md`). `npm run docs` writes both; a test fails when the committed
 * files differ from what these functions produce.
 */
import { ConfigSchema } from './schema.js';
import { isPlainObject, type SchemaNode } from './schema-walk.js';
import { describePattern } from './validate.js';

/** The config schema as a draft-07 JSON Schema document (TypeBox's symbol keys dropped). */
export function jsonSchemaText(): string {
  // JSON.stringify drops symbol keys, which is all TypeBox adds.
  const plain = JSON.parse(JSON.stringify(ConfigSchema)) as Record<string, unknown>;
  const { $id, title, description, ...rest } = plain;
  const doc = { $schema: 'http://json-schema.org/draft-07/schema#', $id, title, description, ...rest };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

const INTRO = `# Configuration reference

Portcullis reads one file, \`portcullis.yaml\` by default (YAML or JSON). Check it with
\`portcullis check -c portcullis.yaml\`: every problem is reported with its file, line,
column and key, and the command exits 1 when there is an error.

- Unknown keys are errors, and so are values of the wrong type: a typo never goes unnoticed.
- \`\${NAME}\` in any string value is replaced by the environment variable \`NAME\`; an unset
  variable is an error (there is no default syntax). Write \`$\${\` for a literal \`\${\`.
- Secret fields (marked *secret* below) also accept \`file:<path>\`: the file is read and one
  trailing newline removed. A secret written inline gets a warning.
- Relative paths are relative to the directory of the config file.
- Add \`$schema: ./schema/portcullis.schema.json\` (or the published URL) at the top of the
  file for completion and checks in editors.

A minimal config:

\`\`\`yaml
version: 1
listeners:
  - port: 8080
apis:
  - name: orders
    spec: ./openapi/orders.yaml
    upstream: http://127.0.0.1:3000
\`\`\`
`;

interface Row {
  readonly key: string;
  readonly type: string;
  readonly def: string;
  readonly required: boolean;
  readonly description: string;
}

/** The configuration reference (Markdown): every key, grouped by top-level section. */
export function configurationMarkdown(): string {
  const root = ConfigSchema as unknown as SchemaNode;
  const out: string[] = [
    '<!-- Generated from src/config/schema.ts by `npm run docs`. Do not edit by hand. -->',
    '',
    INTRO,
    '> This file is generated from the config schema (`src/config/schema.ts`) by `npm run docs`;',
    '> edit the schema, then regenerate.',
    '',
  ];
  const required = new Set(root.required ?? []);
  const sections = Object.entries(root.properties ?? {});
  // Keys without sub-keys share one table; each section with sub-keys gets its own.
  const nested = ([, s]: [string, SchemaNode]) => s.type === 'object' || (s.type === 'array' && s.items?.type === 'object');
  const table = (rows: Row[]) => {
    out.push('| Key | Type | Default | Required | Description |', '|---|---|---|---|---|');
    for (const r of rows) {
      out.push(`| \`${r.key}\` | ${cell(r.type)} | ${cell(r.def)} | ${r.required ? 'yes' : ''} | ${cell(r.description)} |`);
    }
    out.push('');
  };
  out.push('## Top level', '');
  const topRows: Row[] = [];
  for (const [name, s] of sections.filter((e) => !nested(e))) collect(s, name, required.has(name), topRows);
  table(topRows);
  for (const [name, s] of sections.filter(nested)) {
    out.push(`## \`${name}\``, '');
    if (s.description) out.push(s.description, '');
    const rows: Row[] = [];
    collect(s, name, required.has(name), rows);
    table(rows);
  }
  return `${out.join('\n').trimEnd()}\n`;
}

function collect(s: SchemaNode, key: string, required: boolean, rows: Row[]): void {
  rows.push({ key, type: typeText(s), def: s.default !== undefined ? `\`${JSON.stringify(s.default)}\`` : '', required, description: descriptionText(s) });
  const req = new Set(s.required ?? []);
  if (s.type === 'object') {
    for (const [name, sub] of Object.entries(s.properties ?? {})) collect(sub, `${key}.${name}`, req.has(name), rows);
    for (const sub of Object.values(s.patternProperties ?? {})) collectChildren(sub, `${key}.<name>`, rows);
  } else if (s.type === 'array' && s.items?.type === 'object') {
    collectChildren(s.items, `${key}[]`, rows);
  }
}

function collectChildren(s: SchemaNode, prefix: string, rows: Row[]): void {
  const req = new Set(s.required ?? []);
  for (const [name, sub] of Object.entries(s.properties ?? {})) collect(sub, `${prefix}.${name}`, req.has(name), rows);
}

function typeText(s: SchemaNode): string {
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.anyOf) {
    if (s.anyOf.every((b) => b.const !== undefined)) return `one of ${s.anyOf.map((b) => `\`${JSON.stringify(b.const)}\``).join(', ')}`;
    return s.anyOf.map(typeText).join(' or ');
  }
  const secret = s['x-secret'] === true ? ' (*secret*)' : '';
  switch (s.type) {
    case 'string':
      return `${s.format === 'date-time' ? 'date-time string' : 'string'}${secret}`;
    case 'integer':
    case 'number':
      if (s.minimum !== undefined && s.maximum !== undefined) return `${s.type} ${s.minimum}–${s.maximum}`;
      if (s.minimum !== undefined) return `${s.type} ≥ ${s.minimum}`;
      return s.type;
    case 'array':
      return s.items ? `list of ${typeText(s.items)}` : 'list';
    case 'object':
      return s.patternProperties ? 'map of name → object' : 'object';
    default:
      return s.type ?? 'any';
  }
}

function descriptionText(s: SchemaNode): string {
  const parts = [s.description ?? ''];
  const target = s.type === 'array' && s.items ? s.items : s;
  if (target.type === 'string' && target.pattern !== undefined) parts.push(`Format: ${describePattern(target.pattern)}.`);
  if (isPlainObject(s.patternProperties)) {
    const pattern = Object.keys(s.patternProperties)[0];
    if (pattern !== undefined) parts.push(`Names: ${describePattern(pattern)}.`);
  }
  return parts.filter((p) => p !== '').join(' ');
}

/** A Markdown table cell: no line breaks, `|` escaped. */
function cell(text: string): string {
  return text.replaceAll('\n', ' ').replaceAll('|', '\\|');
}
