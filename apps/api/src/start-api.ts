import { createServer, type Server } from 'node:http';
import { createFeedRouter, createSseRouter } from '@x/sse-relay';
import type { Logger } from 'pino';
import { createStreamTokenSigner } from './auth/stream-token.js';
import { createTokenAuthenticator } from './auth/token-authenticator.js';
import { buildDistributed } from './compose/distributed.js';
import { buildEmbedded } from './compose/embedded.js';
import type { System } from './compose/system.js';
import type { ApiConfig } from './config/load-config.js';
import { createApp } from './http/create-app.js';
import { toRunDto } from './http/run-dto.js';
import { createApiMetrics } from './observability/http-metrics.js';
import { metricsHandler } from './observability/metrics-endpoint.js';
import { type MetricsListener, startMetricsListener } from './observability/metrics-listener.js';
import { gracefulShutdown } from './shutdown.js';

export interface RunningApi {
  /** `http://host:port` actually bound (PORT=0 picks a free port). */
  readonly url: string;
  /** `http://host:port` of the metrics listener, when METRICS_PORT gave it one. */
  readonly metricsUrl: string | undefined;
  readonly server: Server;
  readonly system: System;
  /** Graceful shutdown; idempotent. */
  shutdown(reason: string): Promise<void>;
}

/** Builds the system for the configured mode, the Express app and the HTTP server, and listens. */
export async function startApi(config: ApiConfig, logger: Logger): Promise<RunningApi> {
  const metrics = createApiMetrics();
  const system =
    config.mode === 'embedded'
      ? await buildEmbedded(config, logger)
      : await buildDistributed(config, logger);
  const { services } = system;
  const sse = createSseRouter({
    events: system.events,
    // The events guard authenticated the caller; the run must be in that workspace. The
    // snapshot's one read checks it (no `authorize`, which would read the run a second time).
    snapshot: async (runId, req) => {
      // Without a request it is the router's status sweep of runs it already streams.
      const run = !req
        ? await services.store.getRunById(runId)
        : req.workspace === undefined
          ? undefined
          : await services.store.getRun(req.workspace, runId);
      return run ? toRunDto(run) : undefined;
    },
    // Each token's streams count against its workspace's cap.
    workspaceOf: (req) => req.workspace,
    maxStreams: config.streams.maxStreams,
    maxStreamsPerWorkspace: config.streams.maxPerWorkspace,
    stallTimeoutMs: config.streams.stallTimeoutMs,
    logger,
  });
  const feed = createFeedRouter({
    events: system.events,
    workspaceOf: (req) => req.workspace,
    stallTimeoutMs: config.streams.stallTimeoutMs,
    logger,
  });
  for (const [name, read] of system.metricsSources) metrics.addSource(name, read);
  metrics.addSource('sse', () => sse.metrics());
  metrics.addSource('feed', () => feed.metrics());

  const serveMetrics = metricsHandler(metrics.registry, config.metrics.token);
  const ownMetricsPort = config.metrics.port !== undefined;
  let accepting = true;
  const app = createApp({
    services,
    signer: createStreamTokenSigner({
      secret: config.streamTokenSecret,
      ttlMs: config.streamTokenTtlMs,
    }),
    authenticate: createTokenAuthenticator(config.tokens),
    metrics,
    logger,
    sse,
    feed,
    limits: system.limits,
    ...(ownMetricsPort ? {} : { serveMetrics }),
    accepting: () => accepting,
  });
  const server = createServer(app);
  // Bounded request time for ordinary requests; SSE streams carry heartbeats.
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  // Scraped during a drain too: it closes last.
  const metricsListener: MetricsListener | undefined = ownMetricsPort
    ? await startMetricsListener({
        host: config.host,
        port: config.metrics.port!,
        handler: serveMetrics,
      })
    : undefined;
  const stop = gracefulShutdown({
    server,
    // Both kinds of stream end with a `retry:` hint; clients reconnect elsewhere.
    sse: {
      shutdown: async (o) => {
        await Promise.all([sse.shutdown(o), feed.shutdown(o)]);
      },
    },
    logger,
    drain: (ms) => system.drain(ms),
    close: () => system.close(),
    onStopAccepting: () => {
      accepting = false;
    },
  });
  let stopped: Promise<void> | undefined;
  const shutdown = (reason: string) => {
    stopped ??= stop(reason).finally(() => metricsListener?.close());
    return stopped;
  };
  return { url, metricsUrl: metricsListener?.url, server, system, shutdown };
}
