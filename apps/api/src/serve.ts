import { createLogger, exitOnSignals, loadConfigOrExit, runMain } from '@x/app-kit';
import type { Tracing } from '@x/app-kit/tracing';
import { withPersistentDevToken } from './config/dev-token.js';
import { loadApiConfig } from './config/load-config.js';
import { startApi } from './start-api.js';

/** The api process, after tracing (if on) was started by main.ts. */
export function serveApi(tracing: Tracing | undefined): void {
  runMain('api', async () => {
    const config = withPersistentDevToken(loadConfigOrExit(loadApiConfig));
    const logger = createLogger(config.logLevel, { service: 'api', mode: config.mode });
    const api = await startApi(config, logger);
    logger.info({ url: api.url, metricsUrl: api.metricsUrl, prefix: config.prefix }, 'listening');
    if (config.devToken) {
      // Printed once on purpose (embedded mode only): there is no other way to learn it.
      process.stdout.write(
        `\n  x is running (embedded mode): ${api.url}/\n  development token: ${config.devToken}\n  (set API_TOKENS=workspace:token to choose your own)\n\n`,
      );
    }
    exitOnSignals(logger, async (signal) => {
      await api.shutdown(signal);
      await tracing?.shutdown();
    });
  });
}
