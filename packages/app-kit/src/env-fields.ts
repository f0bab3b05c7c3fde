import { z } from 'zod';
import { optionalEnv } from './optional-env.js';
import { clusterNodesEnv } from './redis-cluster-nodes.js';
import { workspaceLimitsEnv } from './workspace-limits-env.js';

/** Levels pino understands; `silent` turns logging off (tests, benchmarks). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export { optionalEnv };

/** A decimal integer in `[min, max]`, with a message a person can act on. */
export const integerEnv = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `must be an integer between ${min} and ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

/** A URL whose protocol is one of `protocols`; the message shows `example`, never the value. */
export const urlWithProtocol = (protocols: readonly string[], example: string) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL like ${example}` },
  );

/** A comma-separated list of host names (or IP literals); blanks are dropped; unset is `[]`. */
export const hostListEnv = () =>
  optionalEnv(
    z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((h) => h.trim().toLowerCase())
          .filter(Boolean),
      )
      .pipe(
        z.array(
          z
            .string()
            .regex(
              /^(\[[0-9a-f:.]+\](:\d{1,5})?|[a-z0-9.-]+(:\d{1,5})?|[0-9a-f:.]+)$/,
              'must be a comma-separated list of host or host:port entries',
            ),
        ),
      ),
  ).transform((v) => v ?? []);

/**
 * The variables both apps read, with the same meaning and the same defaults (DESIGN.md's
 * env table). Each app spreads these into its own `z.object` and adds its own variables;
 * mode-dependent defaults (HOST, METRICS_PORT) stay in the app that knows the mode.
 */
export const sharedEnvFields = {
  REDIS_URL: optionalEnv(urlWithProtocol(['redis:', 'rediss:'], 'redis://host:6379')),
  /**
   * Startup nodes of a Redis Cluster, `host:port,host:port` (or `rediss://user:pass@host:port`
   * URLs for TLS and credentials). Never together with `REDIS_URL`: see `redisTargetFromEnv`.
   */
  REDIS_CLUSTER_NODES: optionalEnv(clusterNodesEnv()),
  DATABASE_URL: optionalEnv(
    urlWithProtocol(['postgres:', 'postgresql:'], 'postgres://user:pass@host:5432/db'),
  ),
  HOST: optionalEnv(z.string().regex(/^[A-Za-z0-9.:[\]-]+$/, 'must be a host name or IP address')),
  /**
   * Default `x`. May be a Redis Cluster hash tag, `{x}`: then every key and channel of the
   * deployment shares one slot (one primary serves it all). Without braces, keys that must
   * share a slot carry their own tags and the deployment spreads over the primaries.
   */
  X_PREFIX: optionalEnv(
    z
      .string()
      .regex(
        /^([a-z0-9_-]{1,32}|\{[a-z0-9_-]{1,32}\})$/,
        'must match [a-z0-9_-]{1,32}, optionally in braces as a cluster hash tag ({x})',
      ),
  ).transform((v) => v ?? 'x'),
  /** Default 8 shards at once per process. */
  WORKER_CONCURRENCY: optionalEnv(integerEnv(1, 1024)).transform((v) => v ?? 8),
  HTTP_ALLOWED_HOSTS: hostListEnv(),
  CALLBACK_ALLOWED_HOSTS: hostListEnv(),
  /** Default `info`. */
  LOG_LEVEL: optionalEnv(
    z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }),
  ).transform((v): LogLevel => v ?? 'info'),
  METRICS_PORT: optionalEnv(integerEnv(0, 65535)),
  /**
   * Distributed mode: PostgreSQL connections per process. Default 10 (pg's). More is rarely
   * faster: the store groups concurrent shard writes into one statement once every connection
   * is busy, and each extra connection is a backend with its own cold plan cache (see
   * docs/operations.md, "Connections").
   */
  DATABASE_POOL_MAX: optionalEnv(integerEnv(1, 1_000)).transform((v) => v ?? 10),
  /**
   * Distributed mode: distinct statement texts each PostgreSQL connection keeps prepared
   * (`openPostgres`' `preparedStatements`). Default 200; `0` sends every statement unnamed,
   * for a pooler that cannot keep a connection's named statements (PgBouncer in transaction
   * mode before 1.21, or without `max_prepared_statements`).
   */
  DATABASE_PREPARED_STATEMENTS: optionalEnv(integerEnv(0, 10_000)).transform((v) => v ?? 200),
  /**
   * Distributed mode: how often the repair sweep looks for shards Redis lost (one replica of
   * the fleet acts). Default 30 s; it also runs as soon as Redis is back after an outage.
   */
  REPAIR_INTERVAL_MS: optionalEnv(integerEnv(1_000, 3_600_000)).transform((v) => v ?? 30_000),
  /**
   * Distributed mode: BullMQ queues the shard jobs are split over, by run id, 1–64. Default 1
   * (one server: today's queue `runs`). On a Redis Cluster each partition is its own
   * hash-tagged queue on its own slot, so 3 partitions on 3 primaries spread the queue's load.
   * Every api and worker of a fleet must use the same value.
   */
  QUEUE_PARTITIONS: optionalEnv(integerEnv(1, 64)).transform((v) => v ?? 1),
  /**
   * Distributed mode: what carries the shard jobs on Redis. `redis` (default): @x/shard-worker's
   * `redisShardQueue`, a stream and consumer group per partition with its own scripts, ~4
   * Redis commands a job against BullMQ's ~35. `bullmq`: BullMQ queues (the default before
   * 2026-12). The two use different keys: every api and worker of a fleet must use the same
   * value; after a switch the repair sweep re-adds the shards stranded in the other queue.
   */
  SHARD_QUEUE: optionalEnv(
    z.enum(['bullmq', 'redis'], { message: 'must be bullmq or redis' }),
  ).transform((v) => v ?? 'redis'),
  /**
   * Finished runs older than this many days are deleted, with their shards, results, outbox
   * state and idempotency keys (one replica of the fleet sweeps). Default 30; 0 keeps everything.
   */
  RUN_RETENTION_DAYS: optionalEnv(integerEnv(0, 36_500)).transform((v) => v ?? 30),
  /** How often the retention sweep runs. Default 1 h (a sweep deletes at most 100 000 runs). */
  RETENTION_SWEEP_INTERVAL_MS: optionalEnv(integerEnv(1_000, 86_400_000)).transform(
    (v) => v ?? 3_600_000,
  ),
  /**
   * How shards leave the enqueue outbox for the queue. `fifo` (default): whole runs in
   * creation order. `fair`: per workspace share, round robin (see @x/shard-worker's
   * `createFairDispatcher`). Every api and worker of a fleet must use the same mode.
   */
  DISPATCH_MODE: optionalEnv(
    z.enum(['fifo', 'fair'], { message: 'must be fifo or fair' }),
  ).transform((v) => v ?? 'fifo'),
  /**
   * Fair dispatch: shards one workspace may have waiting in the queue, × its weight. Unset:
   * `max(16, 2 × WORKER_CONCURRENCY)` (see {@link dispatchSettings}), so the window covers a
   * worker's slots; a smaller one leaves slots idle between dispatch passes.
   */
  DISPATCH_WINDOW: optionalEnv(integerEnv(1, 10_000)),
  /** Fair dispatch: shards one workspace may have released and not finished. Default: no cap. */
  WORKSPACE_MAX_RUNNING_SHARDS: optionalEnv(integerEnv(1, 1_000_000)),
  /** Fair dispatch: `ws-a:shards=8:weight=2,…`, per-workspace cap and weight. */
  WORKSPACE_LIMITS: workspaceLimitsEnv(),
  /**
   * Distributed mode: run events a process holds while Redis is unavailable (all runs
   * together), appended in order once it answers. Default 10,000; past it the oldest run's
   * events are dropped and its stream gets a gap (clients resume with `recovered: false`).
   */
  EVENT_BUFFER_MAX_EVENTS: optionalEnv(integerEnv(1, 10_000_000)).transform((v) => v ?? 10_000),
  /** The same bound in bytes of event JSON. Default 16 MiB (16777216). */
  EVENT_BUFFER_MAX_BYTES: optionalEnv(integerEnv(1_024, 1_073_741_824)).transform(
    (v) => v ?? 16 * 1024 * 1024,
  ),
};
