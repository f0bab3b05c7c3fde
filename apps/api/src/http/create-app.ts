import { readFileSync } from 'node:fs';
import express, { type Express, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { StreamTokenSigner } from '../auth/stream-token.js';
import type { TokenAuthenticator } from '../auth/token-authenticator.js';
import type { ApiMetrics } from '../observability/http-metrics.js';
import type { ApiServices } from './api-services.js';
import { errorHandler, notFoundHandler } from './error-handler.js';
import { eventsGuard } from './events-guard.js';
import { noSniffNoStore, requestLog, requireBearer, requireJsonBody } from './middleware.js';
import { runsRouter } from './runs-router.js';

export interface AppOptions {
  services: ApiServices;
  signer: StreamTokenSigner;
  authenticate: TokenAuthenticator;
  metrics: ApiMetrics;
  logger: Logger;
  /** `GET /runs/:runId/events` after authentication: the @x/sse-relay router. */
  sse: RequestHandler;
  /** False once shutdown began: /readyz answers 503 so load balancers drain this replica. */
  accepting: () => boolean;
}

/** The dashboard: one static file, read once. Lives in public/, next to src/ and dist/. */
const dashboard = readFileSync(new URL('../../public/index.html', import.meta.url));

export function createApp(opts: AppOptions): Express {
  const { services, signer, authenticate, metrics, logger } = opts;
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
      .set(
        'content-security-policy',
        "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
      )
      .send(dashboard);
  });
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
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  const api = express.Router();
  // Where this router is mounted, kept for the request log: an error answered after it left
  // the router no longer has it in req.baseUrl, and its route label would lose the prefix.
  api.use((req, res, next) => {
    res.locals.mount = req.baseUrl;
    next();
  });
  api.get('/runs/:id/events', eventsGuard({ signer, authenticate, metrics }), opts.sse);
  api.use(requireBearer(authenticate, metrics));
  api.use(requireJsonBody, express.json({ limit: '1mb', strict: true, type: 'application/json' }));
  api.use(runsRouter(services, signer, metrics));
  app.use('/api/v1', api);

  app.use(notFoundHandler);
  app.use(errorHandler(logger, () => metrics.internalErrors.inc()));
  return app;
}
