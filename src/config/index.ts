/**
 * The config capability: THE schema, loading (YAML/JSON, `${ENV}` and `file:` secrets),
 * diagnostics with file:line:column, and the normalized `Config` the gateway runs on.
 */
export { loadConfig, type LoadConfigOptions } from './load.js';
export { formatDiagnostic, sortDiagnostics, displayPath } from './diagnostics.js';
export { ConfigSchema, type RawConfig, type RawApi, type RawRoute, type RawListener, type RawUpstream, type RawCors, type RawSecurityHeaders } from './schema.js';
export { DEFAULT_CIPHERS } from './normalize.js';
export { jsonSchemaText, configurationMarkdown } from './reference.js';
export type * from './types.js';
