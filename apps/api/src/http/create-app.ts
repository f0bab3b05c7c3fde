import { readFileSync } from 'node:fs';
import express, { type Express, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { StreamTokenSigner } from '../auth/stream-token.js';
import type { TokenAuthenticator } from '../auth/token-authenticator.js';
import type { ApiMetrics } from '../observability/http-metrics.js';
import type { MetricsHandler } from '../observability/metrics-endpoint.js';
import type { ApiServices } from './api-services.js';
import { errorHandler, notFoundHandler } from './error-handler.js';
import { eventsGuard, FEED_TOKEN_SCOPE } from './events-guard.js';
import { noSniffNoStore, requestLog, requireBearer, requireJsonBody } from './middleware.js';
import { openApiDocument } from './openapi-document.js';
import { protocolModule } from './protocol-module.js';
import { rateLimit } from './rate-limit.js';
import { workspaceOf } from './request-context.js';
import { runsRouter } from './runs-router.js';
import type { WorkspaceLimits } from './workspace-limits.js';

export interface AppOptions {
  services: ApiServices;
  signer: StreamTokenSigner;
  authenticate: TokenAuthenticator;
  metrics: ApiMetrics;
  logger: Logger;
  /** `GET /runs/:runId/events` after authentication: the @x/sse-relay router. */
  sse: RequestHandler;
  /** `GET /events` after authentication: the workspace feed (@x/sse-relay `createFeedRouter`). */
  feed: RequestHandler;
  /** `GET /metrics` on this port; undefined when it has a listener of its own (METRICS_PORT). */
  serveMetrics?: MetricsHandler;
  /** Per-workspace request limits, consulted once the caller's workspace is known. */
  limits: WorkspaceLimits;
  /** False once shutdown began: /readyz answers 503 so load balancers drain this replica. */
  accepting: () => boolean;
}

/** The dashboard: static files, read once. They live in public/, next to src/ and dist/. */
const asset = (name: string) => readFileSync(new URL(`../../public/${name}`, import.meta.url));
/** @x/client for the browser, bundled by the build (scripts/bundle-client.mjs). */
function clientBundle(): Buffer {
  const url = new URL('../../dist/public/client.js', import.meta.url);
  try {
    return readFileSync(url);
  } catch (cause) {
    throw new Error(`${url.pathname} is missing: build the api first (pnpm build)`, { cause });
  }
}
const dashboard = asset('index.html');
const assets: Record<string, { type: string; body: Buffer }> = {
  '/dashboard.js': { type: 'text/javascript; charset=utf-8', body: asset('dashboard.js') },
  '/client.js': { type: 'text/javascript; charset=utf-8', body: clientBundle() },
  '/protocol.js': { type: 'text/javascript; charset=utf-8', body: protocolModule() },
  '/dashboard.css': { type: 'text/css; charset=utf-8', body: asset('dashboard.css') },
};

/**
 * The page holds a token (localStorage) and has an Abort button: it runs only its own files
 * (no inline script or style, no eval), talks only to this origin, and no other site may
 * frame it (clickjacking).
 */
const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function createApp(opts: AppOptions): Express {
  const { services, signer, authenticate, metrics, logger } = opts;
  const openapi = JSON.stringify(openApiDocument());
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(requestLog(logger, metrics));
  app.use(noSniffNoStore);

  app.get('/', (_req, res) => {
    res
      .type('html')
      .set('cache-control', 'no-cache')
      .set('content-security-policy', DASHBOARD_CSP)
      // For browsers without CSP frame-ancestors.
      .set('x-frame-options', 'DENY')
      .set('referrer-policy', 'no-referrer')
      .send(dashboard);
  });
  for (const [path, { type, body }] of Object.entries(assets)) {
    app.get(path, (_req, res) => {
      res.type(type).set('cache-control', 'no-cache').send(body);
    });
  }
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/readyz', async (_req, res) => {
    const checks = await services.readiness();
    const ready = opts.accepting() && Object.values(checks).every(Boolean);
    res
      .status(ready ? 200 : 503)
      .json({ ready, checks, ...(opts.accepting() ? {} : { shuttingDown: true }) });
  });
  const serveMetrics = opts.serveMetrics;
  if (serveMetrics) app.get('/metrics', (req, res) => serveMetrics(req, res));

  const api = express.Router();
  // Where this router is mounted, kept for the request log: an error answered after it left
  // the router no longer has it in req.baseUrl, and its route label would lose the prefix.
  api.use((req, res, next) => {
    res.locals.mount = req.baseUrl;
    next();
  });
  // Public: a client generator or an API browser reads it before it has a token.
  api.get('/openapi.json', (_req, res) => {
    res.type('application/json').set('cache-control', 'no-cache').send(openapi);
  });
  const limited = { onLimited: (limit: string) => metrics.rateLimited.inc({ limit }), logger };
  const perSecond = rateLimit('requests', opts.limits.requests, limited);
  api.get('/runs/:id/events', eventsGuard({ signer, authenticate, metrics }), perSecond, opts.sse);
  const feedScope = () => FEED_TOKEN_SCOPE;
  api.get(
    '/events',
    eventsGuard({ signer, authenticate, metrics, scope: feedScope }),
    perSecond,
    opts.feed,
  );
  api.use(requireBearer(authenticate, metrics), perSecond);
  // Checked before the body is read: a refused create costs no parsing.
  api.post('/runs', rateLimit('creates', opts.limits.creates, limited));
  api.use(requireJsonBody, express.json({ limit: '1mb', strict: true, type: 'application/json' }));
  api.use(runsRouter(services, signer, metrics));
  // A stream token for the workspace feed, as for a run: EventSource sends no headers.
  api.post('/events/stream-token', (req, res) => {
    const { token, expiresAt } = signer.sign(FEED_TOKEN_SCOPE, workspaceOf(req));
    res.json({ token, expiresAt: expiresAt.toISOString() });
  });
  app.use('/api/v1', api);

  app.use(notFoundHandler);
  app.use(errorHandler(logger, () => metrics.internalErrors.inc()));
  return app;
}
