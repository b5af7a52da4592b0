/**
 * CORS per route. The gateway answers preflights itself; an origin outside the list gets no
 * CORS headers at all (the browser then blocks the response), and a preflight from it is refused.
 */
import type { CorsConfig, HttpMethodName } from '../config/types.js';
import { CONTINUE, type Decision, type RequestContext, type Stage } from '../pipeline/types.js';

export class CorsStage implements Stage {
  readonly name = 'cors' as const;
  private readonly anyOrigin: boolean;
  private readonly origins: ReadonlySet<string>;
  private readonly methods: ReadonlySet<string>;
  private readonly headers: ReadonlySet<string>;
  private readonly preflightHeaders: Readonly<Record<string, string>>;
  private readonly exposeHeaders: string;

  constructor(
    private readonly cfg: CorsConfig,
    routeMethods: readonly HttpMethodName[],
  ) {
    this.anyOrigin = cfg.allowOrigins.includes('*');
    this.origins = new Set(cfg.allowOrigins);
    const methods = cfg.allowMethods ?? routeMethods;
    this.methods = new Set(methods);
    this.headers = new Set(cfg.allowHeaders.map((h) => h.toLowerCase()));
    this.preflightHeaders = {
      'access-control-allow-methods': [...methods].join(', '),
      'access-control-allow-headers': cfg.allowHeaders.join(', '),
      'access-control-max-age': String(cfg.maxAgeSeconds),
    };
    this.exposeHeaders = cfg.exposeHeaders.join(', ');
  }

  private allowedOrigin(origin: string): boolean {
    return this.anyOrigin || this.origins.has(origin);
  }

  private originHeaders(origin: string): Record<string, string> {
    // With `*` and no credentials the literal `*` is enough; otherwise echo the one origin.
    const h: Record<string, string> = {
      'access-control-allow-origin': this.anyOrigin && !this.cfg.allowCredentials ? '*' : origin,
      vary: 'Origin',
    };
    if (this.cfg.allowCredentials) h['access-control-allow-credentials'] = 'true';
    return h;
  }

  /** Preflight: OPTIONS with Access-Control-Request-Method. */
  preflight(ctx: RequestContext): Decision {
    const origin = ctx.headers.origin;
    if (typeof origin !== 'string' || !this.allowedOrigin(origin)) {
      return { action: 'deny', code: 'cors_origin_denied', reason: 'preflight from an origin outside the CORS policy' };
    }
    const method = ctx.headers['access-control-request-method'];
    if (typeof method !== 'string' || !this.methods.has(method)) {
      return { action: 'deny', code: 'cors_origin_denied', reason: 'preflight for a method outside the CORS policy' };
    }
    const requested = ctx.headers['access-control-request-headers'];
    if (typeof requested === 'string') {
      for (const part of requested.split(',')) {
        const name = part.trim().toLowerCase();
        if (name.length > 0 && !this.headers.has(name)) {
          return { action: 'deny', code: 'cors_origin_denied', reason: 'preflight for a header outside the CORS policy' };
        }
      }
    }
    return { action: 'respond', status: 204, headers: { ...this.originHeaders(origin), ...this.preflightHeaders } };
  }

  onRequest(ctx: RequestContext): Decision {
    const origin = ctx.headers.origin;
    if (typeof origin === 'string' && this.allowedOrigin(origin)) {
      Object.assign(ctx.responseHeaders, this.originHeaders(origin));
      if (this.exposeHeaders.length > 0) ctx.responseHeaders['access-control-expose-headers'] = this.exposeHeaders;
    }
    return CONTINUE;
  }
}
