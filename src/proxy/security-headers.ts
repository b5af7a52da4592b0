/**
 * Response security headers per route, and removal of upstream software banners.
 */
import type { SecurityHeadersConfig } from '../config/types.js';
import { CONTINUE, type Decision, type ResponseContext, type Stage } from '../pipeline/types.js';

export class SecurityHeadersStage implements Stage {
  readonly name = 'security-headers' as const;

  constructor(private readonly cfg: SecurityHeadersConfig) {}

  onResponse(rctx: ResponseContext): Decision {
    const h = rctx.headers;
    const cfg = this.cfg;
    if (cfg.contentTypeOptions) h['x-content-type-options'] = 'nosniff';
    if (cfg.frameOptions !== false) h['x-frame-options'] = cfg.frameOptions;
    if (cfg.contentSecurityPolicy !== false && h['content-security-policy'] === undefined) h['content-security-policy'] = cfg.contentSecurityPolicy;
    if (cfg.referrerPolicy !== false) h['referrer-policy'] = cfg.referrerPolicy;
    if (cfg.noStoreWhenAuthenticated && rctx.request.principal !== undefined) {
      h['cache-control'] = 'no-store';
      delete h.expires;
      delete h.etag;
    }
    return CONTINUE;
  }
}
