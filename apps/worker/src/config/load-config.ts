import {
  ConfigError,
  callbackSecretsEnv,
  type DispatchSettings,
  dispatchSettings,
  type EventBufferLimits,
  integerEnv,
  type LogLevel,
  optionalEnv,
  parseEnv,
  type RedisTarget,
  type RetentionSettings,
  redisTargetFromEnv,
  type ShardQueueKind,
  sharedEnvFields,
} from '@x/app-kit';
import { z } from 'zod';

export type { LogLevel } from '@x/app-kit';

/** The variables both apps share (same meaning, same defaults), plus the worker's own. */
export const workerEnvSchema = z.object({
  ...sharedEnvFields,
  WORKER_STALLED_MS: optionalEnv(integerEnv(1000, 600_000)),
  WORKER_EVENT_COALESCE_MS: optionalEnv(integerEnv(0, 1000)),
  WORKER_SIBLING_BEGIN_MS: optionalEnv(integerEnv(0, 1000)),
  CALLBACK_SECRETS: callbackSecretsEnv(),
});

export interface WorkerConfig {
  /** `REDIS_URL` (one server) or `REDIS_CLUSTER_NODES` (a Redis Cluster). */
  readonly redis: RedisTarget;
  readonly databaseUrl: string;
  /** `DATABASE_POOL_MAX`: PostgreSQL connections of this process (default 10). */
  readonly databasePoolMax: number;
  /** `DATABASE_PREPARED_STATEMENTS`: statement texts kept prepared per connection; 0 none. */
  readonly databasePreparedStatements: number;
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
  /** How often the repair sweep looks for shards Redis lost (`REPAIR_INTERVAL_MS`, default 30 s). */
  readonly repairIntervalMs: number;
  /** `QUEUE_PARTITIONS`: BullMQ queues the shard jobs are split over (same on every replica). */
  readonly queuePartitions: number;
  /** `SHARD_QUEUE`: `bullmq` or `redis`, what carries the shard jobs (same on every replica). */
  readonly shardQueue: ShardQueueKind;
  /** `RUN_RETENTION_DAYS` (0: keep everything) and `RETENTION_SWEEP_INTERVAL_MS`. */
  readonly retention: RetentionSettings;
  /** `DISPATCH_MODE`, `DISPATCH_WINDOW`, `WORKSPACE_MAX_RUNNING_SHARDS`, `WORKSPACE_LIMITS`. */
  readonly dispatch: DispatchSettings;
  /** `EVENT_BUFFER_MAX_EVENTS` / `EVENT_BUFFER_MAX_BYTES`: run events held while Redis is away. */
  readonly eventBuffer: EventBufferLimits;
  /**
   * `WORKER_EVENT_COALESCE_MS` (default 40): how long a run's live events wait on this worker
   * to share one append (one script call in Redis), with the later events of the same shard
   * and those of the run's other shards here. A shard's last events before its completion and
   * a run's `done` never wait. 0: every event goes at once.
   */
  readonly eventCoalesceMs: number;
  /**
   * `WORKER_SIBLING_BEGIN_MS` (default 100): a shard's first try takes the begin (status read)
   * a sibling shard of its run made on this worker at most this long ago, instead of a
   * statement of its own (@x/shard-worker's `siblingBeginWindowMs`). 0: every shard reads
   * its own.
   */
  readonly siblingBeginMs: number;
}

const SECRET = new Set(['REDIS_URL', 'REDIS_CLUSTER_NODES', 'DATABASE_URL', 'CALLBACK_SECRETS']);

/** Parses the worker's environment; throws a one-line {@link ConfigError} naming the variable. */
export function loadWorkerConfig(env: NodeJS.ProcessEnv): WorkerConfig {
  const e = parseEnv(workerEnvSchema, env, { secret: SECRET });
  const redis = redisTargetFromEnv(e);
  // The worker only exists in the distributed mode: embedded mode runs it inside the api.
  const why = '(the worker runs only in distributed mode; embedded mode runs it inside the api)';
  if (!redis) {
    throw new ConfigError(
      'missing',
      'REDIS_URL',
      `invalid configuration: REDIS_URL or REDIS_CLUSTER_NODES is required ${why}`,
    );
  }
  if (!e.DATABASE_URL) {
    throw new ConfigError(
      'missing',
      'DATABASE_URL',
      `invalid configuration: DATABASE_URL is required ${why}`,
    );
  }
  return {
    redis,
    databaseUrl: e.DATABASE_URL!,
    databasePoolMax: e.DATABASE_POOL_MAX,
    databasePreparedStatements: e.DATABASE_PREPARED_STATEMENTS,
    host: e.HOST ?? '0.0.0.0',
    prefix: e.X_PREFIX,
    concurrency: e.WORKER_CONCURRENCY,
    httpAllowedHosts: e.HTTP_ALLOWED_HOSTS,
    callbackAllowedHosts: e.CALLBACK_ALLOWED_HOSTS,
    callbackSecrets: e.CALLBACK_SECRETS,
    logLevel: e.LOG_LEVEL,
    metricsPort: e.METRICS_PORT ?? 9464,
    stalledMs: e.WORKER_STALLED_MS ?? 30_000,
    repairIntervalMs: e.REPAIR_INTERVAL_MS,
    queuePartitions: e.QUEUE_PARTITIONS,
    shardQueue: e.SHARD_QUEUE,
    retention: { days: e.RUN_RETENTION_DAYS, intervalMs: e.RETENTION_SWEEP_INTERVAL_MS },
    dispatch: dispatchSettings(e),
    eventBuffer: { maxEvents: e.EVENT_BUFFER_MAX_EVENTS, maxBytes: e.EVENT_BUFFER_MAX_BYTES },
    eventCoalesceMs: e.WORKER_EVENT_COALESCE_MS ?? 40,
    siblingBeginMs: e.WORKER_SIBLING_BEGIN_MS ?? 100,
  };
}
