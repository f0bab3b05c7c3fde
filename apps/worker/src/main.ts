import { collectDefaultMetrics, Registry } from 'prom-client';
import { buildWorker } from './compose.js';
import { ConfigError } from './config/config-error.js';
import { loadWorkerConfig, type WorkerConfig } from './config/load-config.js';
import { createLogger } from './observability/logger.js';
import { startMetricsServer } from './observability/metrics-server.js';
import { registerPackageMetrics } from './observability/package-metrics.js';

/** In-flight shards get this long to finish on SIGTERM before they are requeued. */
const SHUTDOWN_DEADLINE_MS = 20_000;

function readConfig(): WorkerConfig {
  try {
    return loadWorkerConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const config = readConfig();
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

  let signals = 0;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (++signals > 1) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      system
        .close(SHUTDOWN_DEADLINE_MS)
        .then(() => server.close())
        .then(
          () => {
            logger.info('shut down');
            process.exit(0);
          },
          (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
    });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `x worker failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
