/**
 * Client-facing listeners: HTTP/1.1, HTTPS, and HTTP/2 over TLS (ALPN, HTTP/1.1 still offered),
 * optional mTLS; every limit from config applied; parser errors answered with a problem and the
 * connection closed; graceful drain.
 */
import { createServer as createHttpServer, type Server as HttpServer, type ServerOptions } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2Session, type SecureServerOptions } from 'node:http2';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { Config, LimitsConfig, ListenerConfig, TlsListenerConfig } from '../config/types.js';
import type { ErrorCode } from '../pipeline/errors.js';
import { ERRORS } from '../pipeline/errors.js';
import { rawProblemResponse } from '../pipeline/problem.js';
import type { CompletedContext } from '../pipeline/types.js';
import { normalizeIp } from './clientip.js';
import { newRequestContext, type Gateway, type GatewayRequest, type GatewayResponse, type GatewaySink } from './gateway.js';

export interface StartedListener {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly server: HttpServer | HttpsServer | Http2SecureServer;
  /** Applies the limits that can change without a restart, and new TLS files. */
  update(cfg: Config): void;
  /** Stops accepting; idle connections are closed at once, busy ones after their response. */
  stopAccepting(): Promise<void>;
  /** Closes every connection that is still open. */
  destroyAll(): void;
}

/** Maps Node's HTTP parser errors to registry codes. */
export function parserErrorCode(code: string | undefined): ErrorCode {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 'headers_too_large';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_HEADERS_TIMEOUT':
      return 'request_timeout';
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
    case 'HPE_INVALID_TRANSFER_ENCODING':
    case 'HPE_INVALID_CONTENT_LENGTH':
      return 'ambiguous_framing';
    default:
      return 'malformed_request';
  }
}

function httpOptions(limits: LimitsConfig): ServerOptions {
  return {
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often Node checks the two timeouts above; its default (30 s) would let slow clients linger.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    requireHostHeader: true,
    insecureHTTPParser: false,
    joinDuplicateHeaders: false,
    noDelay: true,
  };
}

function tlsOptions(tls: TlsListenerConfig): TlsOptions & SecureContextOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    minVersion: tls.minVersion,
    ciphers: tls.ciphers,
    honorCipherOrder: true,
    requestCert: tls.clientCertificate !== 'none',
    rejectUnauthorized: tls.clientCertificate === 'required',
    ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa }),
  };
}

function applyLimits(server: HttpServer | HttpsServer, limits: LimitsConfig): void {
  // One more than the limit so that the gateway sees an overflow and refuses it (Node would silently drop the rest).
  server.maxHeadersCount = limits.maxHeaderCount + 1;
  server.maxConnections = limits.maxConnections;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxRequestsPerSocket = limits.maxRequestsPerConnection;
}

/** A minimal record for refusals that happen before there is a request (parser errors). */
function protocolErrorRecord(peer: string, tls: boolean, code: ErrorCode, reason: string): CompletedContext {
  const ctx = newRequestContext('-', performance.now(), '-', '-', '', {}, { ip: peer, peerIp: peer, tls, httpVersion: '1.1', certificate: undefined });
  return { request: ctx, status: ERRORS[code].status, outcome: 'denied', code, reason, bytesIn: 0, bytesOut: 0, upstreamUs: undefined, totalUs: 0 };
}

function onClientError(sink: GatewaySink, tls: boolean) {
  return (err: Error & { code?: string }, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const code = parserErrorCode(err.code);
    sink.record(protocolErrorRecord(normalizeIp(socket.remoteAddress ?? ''), tls, code, `http parser: ${err.code ?? 'error'}`));
    // A response already started on this connection cannot be followed by ours.
    if ((socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    socket.end(rawProblemResponse(code));
    socket.destroySoon();
  };
}

export async function startListener(cfg: ListenerConfig, config: Config, gw: Gateway): Promise<StartedListener> {
  const info = { name: cfg.name, tls: cfg.tls !== undefined };
  const handler = (req: GatewayRequest, res: GatewayResponse) => gw.handle(req, res, info);
  const limits = config.limits;
  let server: HttpServer | HttpsServer | Http2SecureServer;
  const sessions = new Set<Http2Session>();

  if (cfg.tls === undefined) {
    server = createHttpServer(httpOptions(limits), handler);
  } else if (cfg.tls.http2) {
    const opts: SecureServerOptions = {
      ...tlsOptions(cfg.tls),
      allowHTTP1: true,
      ALPNProtocols: ['h2', 'http/1.1'],
      maxHeaderListPairs: limits.maxHeaderCount + 8,
      maxSessionMemory: 10,
      settings: { maxHeaderListSize: limits.maxHeaderBytes, maxConcurrentStreams: 128, enablePush: false },
    };
    const h2 = createSecureServer(opts, handler);
    h2.setTimeout(limits.requestTimeoutMs);
    h2.on('session', (s: Http2Session) => {
      sessions.add(s);
      s.once('close', () => sessions.delete(s));
    });
    server = h2;
  } else {
    server = createHttpsServer({ ...httpOptions(limits), ...tlsOptions(cfg.tls), ALPNProtocols: ['http/1.1'] }, handler);
  }
  // HTTP/2 servers serve their HTTP/1.1 fallback with Node's HTTP/1 connection code, which reads these same properties.
  applyLimits(server as HttpServer, limits);
  server.on('clientError', onClientError(gw.sink, info.tls));
  // A TLS handshake that fails (no or bad client certificate with `required`, wrong version) is not a request; just close.
  server.on('tlsClientError', (_err: Error, socket: Socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    name: cfg.name,
    host: cfg.host,
    port,
    tls: info.tls,
    server,
    update(next: Config): void {
      applyLimits(server as HttpServer, next.limits);
      const same = next.listeners.find((l) => l.name === cfg.name);
      if (same?.tls !== undefined && 'setSecureContext' in server) {
        // Certificate rotation without a restart.
        (server as HttpsServer).setSecureContext(tlsOptions(same.tls));
      }
    },
    stopAccepting(): Promise<void> {
      return new Promise((resolve) => {
        server.close(() => resolve());
        if ('closeIdleConnections' in server) (server as HttpServer).closeIdleConnections();
        for (const s of sessions) s.close(); // GOAWAY: streams in flight finish
      });
    },
    destroyAll(): void {
      if ('closeAllConnections' in server) (server as HttpServer).closeAllConnections();
      for (const s of sessions) s.destroy();
    },
  };
}
