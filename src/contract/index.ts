/** The contract capability: OpenAPI documents (loading now; validation and filtering later). */
export { loadOpenApi, normalizeBasePath, type LoadOpenApiOptions, type LoadOpenApiResult } from './openapi.js';
