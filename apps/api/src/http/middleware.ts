import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { bearerToken, type TokenAuthenticator } from '../auth/token-authenticator.js';
import type { ApiMetrics } from '../observability/http-metrics.js';
import { ApiError } from './api-error.js';

const SANE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Gives every request an id (the caller's `X-Request-Id` when sane), echoes it back, and
 * logs one line when the response finishes. The line carries the path without the query
 * string, so a stream token (`?st=`) never reaches the logs.
 */
export function requestLog(logger: Logger, metrics: ApiMetrics): RequestHandler {
  return (req, res, next) => {
    const given = req.get('x-request-id');
    req.id = given && SANE_REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', req.id);
    const started = performance.now();
    res.on('finish', () => {
      const ms = performance.now() - started;
      // Route templates, not raw paths: ids and junk must not explode label cardinality.
      const mount = typeof res.locals.mount === 'string' ? res.locals.mount : req.baseUrl;
      const route = req.route?.path ? `${mount}${String(req.route.path)}` : 'unmatched';
      metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
      if (res.getHeader('content-type')?.toString().startsWith('text/event-stream') !== true) {
        metrics.httpDuration.observe({ method: req.method, route }, ms / 1000);
      }
      const level = res.statusCode >= 500 ? 'error' : 'info';
      logger[level](
        {
          reqId: req.id,
          method: req.method,
          // The path as requested (routers strip their mount path from req.path).
          path: req.originalUrl.split('?', 1)[0],
          status: res.statusCode,
          ms: Math.round(ms * 10) / 10,
          workspace: req.workspace,
        },
        'request',
      );
    });
    next();
  };
}

/** Requires `Authorization: Bearer <token>` from API_TOKENS; sets `req.workspace`. */
export function requireBearer(
  authenticate: TokenAuthenticator,
  metrics: ApiMetrics,
): RequestHandler {
  return (req, _res, next) => {
    const token = bearerToken(req.get('authorization'));
    if (!token) {
      metrics.authFailures.inc({ kind: 'missing' });
      next(new ApiError('unauthorized', 'missing bearer token (Authorization: Bearer <token>)'));
      return;
    }
    const workspace = authenticate(token);
    if (!workspace) {
      metrics.authFailures.inc({ kind: 'invalid_bearer' });
      next(new ApiError('unauthorized', 'invalid token'));
      return;
    }
    req.workspace = workspace;
    next();
  };
}

/** True when the request carries a body (RFC 9110: Content-Length > 0 or chunked). */
function hasBody(req: Parameters<RequestHandler>[0]): boolean {
  const length = req.get('content-length');
  return req.get('transfer-encoding') !== undefined || (length !== undefined && length !== '0');
}

/**
 * 415 for a body that is not JSON, before body-parser would silently ignore it (and the
 * handler would then complain about missing fields instead of the real problem).
 */
export const requireJsonBody: RequestHandler = (req, _res, next) => {
  if (hasBody(req) && !req.is('application/json')) {
    next(new ApiError('unsupported_media_type', 'request body must be application/json'));
    return;
  }
  next();
};

/**
 * Every answer is what its Content-Type says (`nosniff`: a JSON error echoing input is never
 * run as a script or a page) and is never cached: API answers carry a workspace's data and
 * are read with a bearer token. The dashboard and the event stream set their own
 * Cache-Control over this one.
 */
export const noSniffNoStore: RequestHandler = (_req, res, next) => {
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('cache-control', 'no-store');
  next();
};
