import { type Bus, createBus } from '@x/pubsub-core';
import {
  createRunAborter,
  createShardRegistry,
  type RunAborter,
  type ShardRegistry,
} from '@x/run-abort';
import { createRunStore, migrate, openPostgres, type RunStore } from '@x/run-store';
import {
  type BullmqShardQueueOptions,
  bullmqShardQueue,
  createOutboxFeed,
  createShardRepair,
  type OutboxFeed,
  type RetentionSweeper,
  redisShardQueue,
  type ShardQueue,
  type ShardRepair,
} from '@x/shard-worker';
import { createRunEvents, type RunEvents, redisEventLog, type WorkspaceFeed } from '@x/sse-relay';
import type { Logger } from 'pino';
import type { DispatchSettings } from './dispatch-settings.js';
import {
  createPubSubTransport,
  createRedisClient,
  type RedisCommandClient,
} from './redis-clients.js';
import type { RedisTarget } from './redis-target.js';
import { type RetentionSettings, startRetention } from './retention.js';
import { storeWorkspaceFeed } from './workspace-feed.js';

export interface DistributedCoreOptions {
  /** `REDIS_URL` or `REDIS_CLUSTER_NODES`, as `redisTargetFromEnv` read them. */
  readonly redis: RedisTarget;
  readonly databaseUrl: string;
  /** The deployment's `X_PREFIX`: channels, event streams and BullMQ keys. */
  readonly prefix: string;
  readonly logger: Logger;
  /** Redis `CLIENT SETNAME`, so `CLIENT LIST` tells api and worker connections apart (`x-api`). */
  readonly connectionName: string;
  /** PostgreSQL pool size: the api serves requests, a worker runs `concurrency` shards. */
  readonly poolMax: number;
  /** `DATABASE_PREPARED_STATEMENTS`: statement texts kept prepared per connection; 0 none. */
  readonly preparedStatements: number;
  /** Stall detection, for a consumer of the queue (the worker). Default BullMQ's (30 s). */
  readonly queue?: Pick<BullmqShardQueueOptions, 'lockDurationMs' | 'stalledIntervalMs'>;
  /** The repair sweep's interval (`REPAIR_INTERVAL_MS`). Default 30 s. */
  readonly repairIntervalMs?: number;
  /** `QUEUE_PARTITIONS`: queue partitions the shard jobs are split over. Default 1. */
  readonly queuePartitions?: number;
  /**
   * `SHARD_QUEUE`: `redis` (default) builds `redisShardQueue`, `bullmq` builds
   * `bullmqShardQueue` (same options, own keys). Every replica of a fleet must agree.
   */
  readonly shardQueue?: ShardQueueKind;
  /** `RUN_RETENTION_DAYS` and `RETENTION_SWEEP_INTERVAL_MS`; `days: 0` runs no sweep. */
  readonly retention?: RetentionSettings;
  /** `DISPATCH_MODE` and the fair shares. Default fifo. */
  readonly dispatch?: DispatchSettings;
  /** Run events held while Redis is away (`EVENT_BUFFER_MAX_*`). Default 10,000 events, 16 MiB. */
  readonly eventBuffer?: EventBufferLimits;
  /**
   * How long a run's events wait to share one append (`createRunEvents`' `emitCoalesceMs`).
   * Default 0; the worker sets `WORKER_EVENT_COALESCE_MS`, so the shards of a run it runs
   * share appends.
   */
  readonly emitCoalesceMs?: number;
}

/**
 * The store's shard statements (begins, completions, finalizations) in flight at once; the
 * calls beyond wait and are group-committed, several per statement. 4 rather than the whole
 * pool: the same throughput with fewer, larger statements (the shard-worker bench: 6.2 a run
 * against 9.5, PostgreSQL backends ~10 % less CPU), and the rest of the pool stays free for
 * creates, reads and aborts.
 */
const SHARD_STATEMENTS_IN_FLIGHT = 4;

/** Which shard queue a fleet runs on Redis (`SHARD_QUEUE`). */
export type ShardQueueKind = 'bullmq' | 'redis';

/** The bounds of a process's buffer of run events that could not reach Redis yet. */
export interface EventBufferLimits {
  readonly maxEvents: number;
  readonly maxBytes: number;
}

/** The parts every replica of a fleet shares, whatever it does with them. */
export interface DistributedCore {
  /** An ioredis `Redis` for `REDIS_URL`, a `Cluster` for `REDIS_CLUSTER_NODES`. */
  readonly redis: RedisCommandClient;
  readonly store: RunStore;
  readonly bus: Bus;
  /** Run events; every emit also reports the run on its workspace feed (`feed`). */
  readonly events: RunEvents;
  /** The workspace feeds' producer (`feed.events` is `events`). */
  readonly feed: WorkspaceFeed;
  readonly queue: ShardQueue;
  readonly registry: ShardRegistry;
  /** Not started: only a replica that runs shards starts it (subscriber, reconcile sweeps). */
  readonly aborter: RunAborter;
  /**
   * Hands the runs PostgreSQL holds to the queue (whole runs, or per workspace share in fair
   * mode); woken by run creation and by Redis `ready`, and in fair mode by every shard end.
   */
  readonly enqueuer: OutboxFeed;
  /** Enqueues again what the queue lost (one replica of the fleet acts); swept on Redis `ready`. */
  readonly repair: ShardRepair;
  /** Deletes old finished runs (one replica of the fleet acts); undefined when retention is off. */
  readonly retention: RetentionSweeper | undefined;
  /** Pings the database through the store and Redis; never throws. */
  readiness(): Promise<{ database: boolean; redis: boolean; bus: boolean }>;
  /** Closes enqueuer, repair, retention, aborter, queue, events, bus, the database pool and Redis, in that order. */
  close(): Promise<void>;
}

/**
 * A fleet replica's core, as both apps build it: one Redis client from `createRedisClient`
 * (on one server, commands fail after two retries instead of queueing forever while Redis is
 * down, so a request errors rather than hangs), migrated PostgreSQL, the Redis pub/sub bus,
 * the Redis event history, the shard queue (BullMQ, or `redisShardQueue`) and a run aborter with its shard registry.
 * Every replica, api or worker, runs the enqueuer, the repair and retention sweeps (started here):
 * whenever the Redis connection is ready again, the enqueuer pushes the runs created
 * meanwhile and the repair enqueues again the shards an empty Redis forgot.
 */
export async function buildDistributedCore(opts: DistributedCoreOptions): Promise<DistributedCore> {
  const { prefix, logger } = opts;
  const target = opts.redis;
  const redis = createRedisClient(target, { connectionName: opts.connectionName });
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  const db = openPostgres(opts.databaseUrl, {
    max: opts.poolMax,
    preparedStatements: opts.preparedStatements,
  });
  await migrate(db);
  // Shard statements go at once while fewer than SHARD_STATEMENTS_IN_FLIGHT are out; the ones
  // arriving meanwhile are grouped (group commit). One slot used fewer statements still, but
  // two timing-bound e2e tests failed with it (docs/operations.md, issue 18 §2); not kept.
  const store = createRunStore(db, {
    statementsInFlight: Math.min(SHARD_STATEMENTS_IN_FLIGHT, opts.poolMax),
  });
  const bus = createBus({ transport: createPubSubTransport(target), prefix, logger });
  const runEvents = createRunEvents({
    bus,
    // On a cluster the append script publishes with SPUBLISH, as the sharded bus listens, and a
    // failover (asynchronous replication: the new primary may lack a tail clients saw) starts
    // a new epoch instead of handing those seqs out again.
    log: redisEventLog({
      redis,
      prefix,
      sharded: target.kind === 'cluster',
      epochPerPrimary: target.kind === 'cluster',
    }),
    logger,
    emitCoalesceMs: opts.emitCoalesceMs ?? 0,
    ...(opts.eventBuffer && {
      bufferMaxEvents: opts.eventBuffer.maxEvents,
      bufferMaxBytes: opts.eventBuffer.maxBytes,
    }),
  });
  const feed = storeWorkspaceFeed(runEvents, store, logger);
  const events = feed.events;
  const queueOptions = {
    connection: redis,
    prefix,
    logger,
    partitions: opts.queuePartitions ?? 1,
    ...opts.queue,
  };
  const queue =
    opts.shardQueue === 'bullmq' ? bullmqShardQueue(queueOptions) : redisShardQueue(queueOptions);
  const registry = createShardRegistry();
  const aborter = createRunAborter({ bus, store, registry, logger });
  // Each run's event history begins (its first epoch, ids from 1) before its shards are queued.
  const enqueuer = createOutboxFeed({
    mode: opts.dispatch?.mode ?? 'fifo',
    store,
    queue,
    events,
    logger,
    ...(opts.dispatch && { limits: opts.dispatch.limits }),
  });
  const repair = createShardRepair({
    store,
    queue,
    logger,
    ...(opts.repairIntervalMs !== undefined && { intervalMs: opts.repairIntervalMs }),
  });
  const retention = startRetention(store, opts.retention, logger);
  redis.on('ready', () => {
    void enqueuer.wake();
    repair.queueReady();
  });
  enqueuer.start();
  repair.start();
  return {
    redis,
    store,
    bus,
    events,
    feed,
    queue,
    registry,
    aborter,
    enqueuer,
    repair,
    retention,
    readiness: async () => ({
      database: await store.ping().then(
        () => true,
        () => false,
      ),
      redis: await redis.ping().then(
        (r) => r === 'PONG',
        () => false,
      ),
      bus: bus.state === 'connected',
    }),
    async close() {
      await enqueuer.close();
      await repair.close();
      await retention?.close();
      await aborter.close();
      await queue.close();
      feed.close();
      await events.close();
      await bus.close();
      await db.destroy();
      redis.disconnect();
    },
  };
}
