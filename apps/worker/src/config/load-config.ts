import {
  ConfigError,
  callbackSecretsEnv,
  integerEnv,
  type LogLevel,
  optionalEnv,
  parseEnv,
  sharedEnvFields,
} from '@x/app-kit';
import { z } from 'zod';

export type { LogLevel } from '@x/app-kit';

/** The variables both apps share (same meaning, same defaults), plus the worker's own. */
export const workerEnvSchema = z.object({
  ...sharedEnvFields,
  WORKER_STALLED_MS: optionalEnv(integerEnv(1000, 600_000)),
  CALLBACK_SECRETS: callbackSecretsEnv(),
});

export interface WorkerConfig {
  readonly redisUrl: string;
  readonly databaseUrl: string;
  readonly host: string;
  readonly prefix: string;
  readonly concurrency: number;
  readonly httpAllowedHosts: readonly string[];
  readonly callbackAllowedHosts: readonly string[];
  /** `CALLBACK_SECRETS`: workspace → Standard Webhooks secret signing its callbacks. */
  readonly callbackSecrets: ReadonlyMap<string, string>;
  readonly logLevel: LogLevel;
  readonly metricsPort: number;
  /**
   * BullMQ lock duration and stalled-check interval: how soon a dead worker's shards are
   * taken over. Default 30,000 (BullMQ's); lower means faster recovery but a worker whose
   * event loop blocks longer than this loses its shard to another worker.
   */
  readonly stalledMs: number;
}

const SECRET = new Set(['REDIS_URL', 'DATABASE_URL', 'CALLBACK_SECRETS']);

/** Parses the worker's environment; throws a one-line {@link ConfigError} naming the variable. */
export function loadWorkerConfig(env: NodeJS.ProcessEnv): WorkerConfig {
  const e = parseEnv(workerEnvSchema, env, { secret: SECRET });
  // The worker only exists in the distributed mode: embedded mode runs it inside the api.
  for (const name of ['REDIS_URL', 'DATABASE_URL'] as const) {
    if (!e[name]) {
      throw new ConfigError(
        'missing',
        name,
        `invalid configuration: ${name} is required (the worker runs only in distributed mode; embedded mode runs it inside the api)`,
      );
    }
  }
  return {
    redisUrl: e.REDIS_URL!,
    databaseUrl: e.DATABASE_URL!,
    host: e.HOST ?? '0.0.0.0',
    prefix: e.X_PREFIX,
    concurrency: e.WORKER_CONCURRENCY,
    httpAllowedHosts: e.HTTP_ALLOWED_HOSTS,
    callbackAllowedHosts: e.CALLBACK_ALLOWED_HOSTS,
    callbackSecrets: e.CALLBACK_SECRETS,
    logLevel: e.LOG_LEVEL,
    metricsPort: e.METRICS_PORT ?? 9464,
    stalledMs: e.WORKER_STALLED_MS ?? 30_000,
  };
}
