import { type Logger, silentLogger } from '@x/kernel';
import type { Cluster, Redis } from 'ioredis';
import { ShardWorkerError } from './shard-worker-error.js';

/**
 * The options both Redis-backed shard queues take: `bullmqShardQueue` (BullMQ's queues, its
 * lock and stalled check) and `redisShardQueue` (our stream per partition, a lease and a reaper).
 */
export interface RedisBackedQueueOptions {
  /**
   * The deployment's client (a `Cluster` for a Redis Cluster), used as is; each consumer adds
   * its own blocking connections (BullMQ Workers, our readers) and closes them with it.
   */
  connection: Redis | Cluster;
  /** Key prefix, the deployment's `X_PREFIX`, so deployments sharing a Redis stay apart. */
  prefix: string;
  /**
   * Queue partitions (`QUEUE_PARTITIONS`), 1–64. Default 1. A run's shards all go to the
   * partition of its id; every consumer takes jobs from every partition. On a cluster each
   * partition has its own hash tag, so the partitions spread over the primaries.
   */
  partitions?: number;
  /** Hash-tag the keys even with one partition (required on a cluster). Default: true on a `Cluster`. */
  tagged?: boolean;
  /**
   * How long a consumer holds a job without news before another may take it over: BullMQ's
   * lock, or our lease (renewed every third of it, re-issued by a reaper once it lapsed).
   * Default 30 s (BullMQ's): shorter recovers a dead worker sooner, but a worker whose event
   * loop blocks longer than this loses its job.
   */
  lockDurationMs?: number;
  /** How often each consumer looks for stalled jobs (ours: also promotes due retries). Default 30 s. */
  stalledIntervalMs?: number;
  /**
   * Stalls (lapsed locks or leases) a job survives; the next one fails it (ours calls
   * `onAbandoned`). Default 2: a shard outlives one dead worker and one unlucky redelivery.
   */
  maxStalledCount?: number;
  /** Failed jobs kept for inspection (and dedupe), per partition. Default 1000; completed jobs go at once. */
  keepFailed?: number;
  logger?: Logger;
}

/** An integer of at least `min`, or a ShardWorkerError `invalid_option` naming it. */
export function positiveInteger(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new ShardWorkerError(
      'invalid_option',
      `${name} must be an integer >= ${min}, got ${value}`,
    );
  }
  return value;
}

/**
 * The options with the defaults both queues share, checked: one partition, keys tagged on a
 * `Cluster`, a 30 s lock or lease and stall check (BullMQ's), 2 stalls survived, 1000 failed
 * jobs kept per partition. A lock shorter than 3 ms is refused (it is renewed every third).
 */
export function queueSettings(o: RedisBackedQueueOptions) {
  const settings = {
    connection: o.connection,
    prefix: o.prefix,
    partitions: o.partitions ?? 1,
    tagged: o.tagged ?? ('isCluster' in o.connection && o.connection.isCluster === true),
    lockDurationMs: o.lockDurationMs ?? 30_000,
    stalledIntervalMs: o.stalledIntervalMs ?? 30_000,
    maxStalledCount: o.maxStalledCount ?? 2,
    keepFailed: o.keepFailed ?? 1000,
    logger: o.logger ?? silentLogger,
  };
  positiveInteger('lockDurationMs', settings.lockDurationMs, 3);
  positiveInteger('stalledIntervalMs', settings.stalledIntervalMs, 1);
  positiveInteger('maxStalledCount', settings.maxStalledCount, 0);
  positiveInteger('keepFailed', settings.keepFailed, 0);
  return settings;
}
