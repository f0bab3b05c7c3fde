import {
  createLogger,
  exitOnSignals,
  loadConfigOrExit,
  registerPackageMetrics,
  runMain,
} from '@x/app-kit';
import type { Tracing } from '@x/app-kit/tracing';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { buildWorker } from './compose.js';
import { loadWorkerConfig } from './config/load-config.js';
import { startMetricsServer } from './observability/metrics-server.js';

/** In-flight shards get this long to finish on SIGTERM before they are requeued. */
const SHUTDOWN_DEADLINE_MS = 20_000;

/** The worker process, after tracing (if on) was started by main.ts. */
export function serveWorker(tracing: Tracing | undefined): void {
  runMain('worker', async () => {
    const config = loadConfigOrExit(loadWorkerConfig);
    const logger = createLogger(config.logLevel, { service: 'worker' });
    const system = await buildWorker(config, logger);
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    for (const [name, read] of system.metricsSources) registerPackageMetrics(registry, name, read);
    let stopping = false;
    const server = await startMetricsServer({
      registry,
      host: config.host,
      port: config.metricsPort,
      healthy: () => ({ ok: !stopping, ...(stopping ? { shuttingDown: true } : {}) }),
    });
    await system.start();
    logger.info(
      { metricsPort: server.port, concurrency: config.concurrency, prefix: config.prefix },
      'worker ready',
    );

    exitOnSignals(logger, async (signal) => {
      stopping = true;
      logger.info({ signal }, 'shutting down');
      await system.close(SHUTDOWN_DEADLINE_MS);
      await server.close();
      await tracing?.shutdown();
      logger.info('shut down');
    });
  });
}
