import { type Logger, silentLogger } from '@x/kernel';
import type { Cluster, Redis } from 'ioredis';
import { ShardWorkerError } from './shard-worker-error.js';

/**
 * The options both Redis-backed shard queues take (`bullmqShardQueue`, `redisShardQueue`);
 * each queue's options type says what they mean for it (BullMQ's lock, our lease).
 */
export interface RedisBackedQueueOptions {
  connection: Redis | Cluster;
  prefix: string;
  partitions?: number;
  tagged?: boolean;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  maxStalledCount?: number;
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
