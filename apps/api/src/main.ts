import { ConfigError } from './config/config-error.js';
import { type ApiConfig, loadApiConfig } from './config/load-config.js';
import { createLogger } from './observability/logger.js';
import { startApi } from './start-api.js';

function readConfig(): ApiConfig {
  try {
    return loadApiConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // One line naming the variable, exit code 2 (a usage error, not a crash).
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  const logger = createLogger(config.logLevel, { service: 'api', mode: config.mode });
  const api = await startApi(config, logger);
  logger.info({ url: api.url, prefix: config.prefix }, 'listening');
  if (config.devToken) {
    // Printed once on purpose (embedded mode only): there is no other way to learn it.
    process.stdout.write(
      `\n  x is running (embedded mode): ${api.url}/\n  development token: ${config.devToken}\n  (set API_TOKENS=workspace:token to choose your own)\n\n`,
    );
  }
  let signals = 0;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (++signals > 1) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      api.shutdown(signal).then(
        () => process.exit(0),
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
    `x api failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
