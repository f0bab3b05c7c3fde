import { randomBytes } from 'node:crypto';
import {
  ConfigError,
  type DispatchSettings,
  dispatchSettings,
  type EventBufferLimits,
  parseEnv,
  type RedisTarget,
  type RetentionSettings,
  redisTargetFromEnv,
  redisTargetVariable,
  type ShardQueueKind,
} from '@x/app-kit';
import type { RateLimitSettings } from '../http/workspace-limits.js';
import { apiEnvSchema, type LogLevel, type WorkspaceToken } from './env-schema.js';

interface CommonConfig {
  readonly port: number;
  readonly host: string;
  readonly prefix: string;
  readonly workerConcurrency: number;
  /** `DISPATCH_MODE` and the fair shares (the embedded worker, or every fleet replica's feed). */
  readonly dispatch: DispatchSettings;
  readonly httpAllowedHosts: readonly string[];
  readonly callbackAllowedHosts: readonly string[];
  /** `CALLBACK_SECRETS`: workspace → Standard Webhooks secret signing its callbacks. */
  readonly callbackSecrets: ReadonlyMap<string, string>;
  /**
   * `NODE_ENV=production`: a `callbackUrl` of a workspace without a secret is refused (400);
   * elsewhere its callbacks go unsigned, with a warning.
   */
  readonly requireSignedCallbacks: boolean;
  readonly logLevel: LogLevel;
  readonly tokens: readonly WorkspaceToken[];
  readonly streamTokenSecret: string;
  /** Who may read `/metrics`, and where. */
  readonly metrics: {
    /** `METRICS_PORT`: a listener of its own on `host`; undefined: `/metrics` on the api port. */
    readonly port: number | undefined;
    /** `METRICS_TOKEN`: the bearer `/metrics` wants; undefined: none. */
    readonly token: string | undefined;
  };
  /** Caps on open SSE streams (429 `rate_limited` past them). */
  readonly streams: {
    /** `SSE_MAX_STREAMS`: per process. */
    readonly maxStreams: number;
    /** `SSE_MAX_STREAMS_PER_WORKSPACE`: per workspace, on this process. */
    readonly maxPerWorkspace: number;
    /** `SSE_STALL_TIMEOUT_MS`: unsent bytes that do not drain this long cut the stream off. */
    readonly stallTimeoutMs: number;
  };
  /** Per-workspace request limits (429 `rate_limited` past them). */
  readonly rateLimits: RateLimitSettings;
  /** `STREAM_TOKEN_TTL_MS`: how long a stream token opens its run's events. */
  readonly streamTokenTtlMs: number;
  /** Set when embedded mode generated a development token (main prints it). */
  readonly devToken: string | null;
  /** `RUN_RETENTION_DAYS` (0: keep everything) and `RETENTION_SWEEP_INTERVAL_MS`. */
  readonly retention: RetentionSettings;
}

/** One process, api and worker together: memory bus and queue, PGlite (or DATABASE_URL). */
export interface EmbeddedConfig extends CommonConfig {
  readonly mode: 'embedded';
  readonly dataDir: string;
  readonly databaseUrl: string | null;
}

/** Api replica of a fleet: Redis for pub/sub, events, queue and stop jobs; PostgreSQL. */
export interface DistributedConfig extends CommonConfig {
  readonly mode: 'distributed';
  /** `REDIS_URL` (one server) or `REDIS_CLUSTER_NODES` (a Redis Cluster). */
  readonly redis: RedisTarget;
  readonly databaseUrl: string;
  /** `DATABASE_POOL_MAX`: PostgreSQL connections of this process (default 10). */
  readonly databasePoolMax: number;
  /** `DATABASE_PREPARED_STATEMENTS`: statement texts kept prepared per connection; 0 none. */
  readonly databasePreparedStatements: number;
  /** `REPAIR_INTERVAL_MS`: how often the repair sweep looks for shards Redis lost. */
  readonly repairIntervalMs: number;
  /** `QUEUE_PARTITIONS`: BullMQ queues the shard jobs are split over (same on every replica). */
  readonly queuePartitions: number;
  /** `SHARD_QUEUE`: `bullmq` or `redis`, what carries the shard jobs (same on every replica). */
  readonly shardQueue: ShardQueueKind;
  /** `EVENT_BUFFER_MAX_EVENTS` / `EVENT_BUFFER_MAX_BYTES`: run events held while Redis is away. */
  readonly eventBuffer: EventBufferLimits;
}

export type ApiConfig = EmbeddedConfig | DistributedConfig;

/** Variables whose values must never be printed, even when malformed. */
const SECRET = new Set([
  'API_TOKENS',
  'STREAM_TOKEN_SECRET',
  'REDIS_URL',
  'REDIS_CLUSTER_NODES',
  'DATABASE_URL',
  'METRICS_TOKEN',
  'CALLBACK_SECRETS',
]);

/**
 * Parses the api's environment. Throws a {@link ConfigError} whose message is one line
 * naming every bad variable (the first one in `variable`).
 */
export function loadApiConfig(env: NodeJS.ProcessEnv): ApiConfig {
  const e = parseEnv(apiEnvSchema, env, { secret: SECRET });
  const redis = redisTargetFromEnv(e);
  if (redis) {
    for (const name of ['DATABASE_URL', 'API_TOKENS', 'STREAM_TOKEN_SECRET'] as const) {
      if (!e[name]) {
        throw new ConfigError(
          'missing',
          name,
          `invalid configuration: ${name} is required when ${redisTargetVariable(redis)} is set (distributed mode)`,
        );
      }
    }
  }
  const devToken = e.API_TOKENS ? null : `dev_${randomBytes(18).toString('base64url')}`;
  const common: CommonConfig = {
    port: e.PORT ?? 3000,
    // A fleet sits behind a load balancer; a laptop should not expose its dev token.
    host: e.HOST ?? (redis ? '0.0.0.0' : '127.0.0.1'),
    prefix: e.X_PREFIX,
    workerConcurrency: e.WORKER_CONCURRENCY,
    dispatch: dispatchSettings(e),
    httpAllowedHosts: e.HTTP_ALLOWED_HOSTS,
    callbackAllowedHosts: e.CALLBACK_ALLOWED_HOSTS,
    callbackSecrets: e.CALLBACK_SECRETS,
    requireSignedCallbacks: e.NODE_ENV === 'production',
    logLevel: e.LOG_LEVEL,
    tokens: e.API_TOKENS ?? [{ workspace: 'dev', token: devToken! }],
    streamTokenSecret: e.STREAM_TOKEN_SECRET ?? randomBytes(32).toString('hex'),
    metrics: { port: e.METRICS_PORT, token: e.METRICS_TOKEN },
    streams: {
      maxStreams: e.SSE_MAX_STREAMS,
      maxPerWorkspace: e.SSE_MAX_STREAMS_PER_WORKSPACE,
      stallTimeoutMs: e.SSE_STALL_TIMEOUT_MS,
    },
    rateLimits: {
      createsPerMinute: e.RATE_LIMIT_CREATES_PER_MIN,
      requestsPerSecond: e.RATE_LIMIT_REQUESTS_PER_S,
    },
    streamTokenTtlMs: e.STREAM_TOKEN_TTL_MS,
    devToken,
    retention: { days: e.RUN_RETENTION_DAYS, intervalMs: e.RETENTION_SWEEP_INTERVAL_MS },
  };
  if (redis) {
    return {
      ...common,
      mode: 'distributed',
      redis,
      databaseUrl: e.DATABASE_URL!,
      databasePoolMax: e.DATABASE_POOL_MAX,
      databasePreparedStatements: e.DATABASE_PREPARED_STATEMENTS,
      repairIntervalMs: e.REPAIR_INTERVAL_MS,
      queuePartitions: e.QUEUE_PARTITIONS,
      shardQueue: e.SHARD_QUEUE,
      eventBuffer: { maxEvents: e.EVENT_BUFFER_MAX_EVENTS, maxBytes: e.EVENT_BUFFER_MAX_BYTES },
    };
  }
  return { ...common, mode: 'embedded', dataDir: e.DATA_DIR, databaseUrl: e.DATABASE_URL ?? null };
}
