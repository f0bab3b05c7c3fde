import type { Logger } from '@x/kernel';
import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { bullmqConsumer } from './bullmq-consumer.js';
import { partitionOf, partitionQueueNames, runIdOfJob } from './queue-partitions.js';
import { queueSettings, type RedisBackedQueueOptions } from './queue-settings.js';
import type { ShardConsumer, ShardQueue } from './shard-queue.js';
import { shardJobId } from './shard-queue.js';
import type { ShardJobData } from './test-schemas.js';

export interface BullmqShardQueueOptions extends RedisBackedQueueOptions {
  /**
   * Used by the Queues as is (a `Cluster` for a Redis Cluster); each consumer's Workers get
   * their own duplicates, closed with it.
   */
  connection: Redis | Cluster;
  /** BullMQ key prefix, the deployment's `X_PREFIX`, so deployments sharing a Redis stay apart. */
  prefix: string;
  /**
   * Queue partitions (`QUEUE_PARTITIONS`), 1–64. Default 1. A run's shards all go to the
   * partition of its id; every consumer takes jobs from every partition. On a cluster each
   * partition is its own hash-tagged queue on its own slot, spreading the queue's load over
   * the primaries (see `partitionQueueNames`).
   */
  partitions?: number;
  /**
   * Hash-tag the queue keys even with one partition: required on a Redis Cluster (BullMQ's
   * scripts touch several keys of a queue). Default: true when `connection` is a `Cluster`.
   */
  tagged?: boolean;
  /**
   * How long a worker's lock on a job lasts before another worker may declare it stalled and
   * take it over. Default 30 s (BullMQ's): shorter means faster recovery from a dead worker,
   * but a worker blocked for longer than this (event loop stall) loses its job.
   */
  lockDurationMs?: number;
  /** How often each worker looks for stalled jobs. Default 30 s (BullMQ's). */
  stalledIntervalMs?: number;
  /**
   * Stalls a job may survive before BullMQ fails it. Default 2: a shard should outlive one
   * dead worker and one unlucky redelivery; after that it is failed and the run with it.
   */
  maxStalledCount?: number;
  /** Failed jobs kept for inspection, per partition. Default 1000; completed jobs are removed at once. */
  keepFailed?: number;
  logger?: Logger;
}

/** The BullMQ shard queue, with the qualified name (`prefix:name`) of each partition's queue. */
export interface BullmqShardQueue extends ShardQueue {
  readonly queueNames: readonly string[];
}

/** States a job waits in (delayed: a retry's backoff); an active job is stopped by its signal. */
const REMOVABLE_STATES = new Set<string>(['waiting', 'delayed', 'prioritized']);

/** Items grouped by the partition of their run id. */
function byPartition<T>(items: readonly T[], runId: (item: T) => string, partitions: number) {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const p = partitionOf(runId(item), partitions);
    const group = groups.get(p);
    if (group) group.push(item);
    else groups.set(p, [item]);
  }
  return groups;
}

/**
 * Shard jobs on BullMQ 6: one Queue per partition for adding and removing, and per consumer
 * one Worker per partition (see `bullmqConsumer`). Job ids stay `${runId}-${shardIndex}`, so
 * adding a job twice is a no-op in whichever partition it lands.
 */
export function bullmqShardQueue(opts: BullmqShardQueueOptions): BullmqShardQueue {
  const {
    connection,
    prefix,
    partitions,
    tagged,
    lockDurationMs,
    stalledIntervalMs,
    maxStalledCount,
    keepFailed,
    logger,
  } = queueSettings(opts);
  const queues = partitionQueueNames(prefix, partitions, { tagged }).map(
    (n) => new Queue(n.name, { connection, prefix: n.prefix }),
  );
  for (const queue of queues)
    queue.on('error', (err) => logger.error({ err }, 'shard queue error'));
  const queueOf = (runId: string) => queues[partitionOf(runId, partitions)]!;
  // BullMQ writes a queue's meta hash (library version, event-stream cap) only when a Queue
  // is built; a Redis restarted empty would keep it gone. Written again on every reconnect
  // (HSET of the same fields: harmless when nothing was lost, and it leaves `paused` alone).
  const restoreMeta = () => {
    for (const queue of queues) {
      connection.hset(queue.toKey('meta'), queue.metaValues).catch((err: unknown) => {
        logger.warn({ err }, 'shard queue meta not restored; the next reconnect tries again');
      });
    }
  };
  connection.on('ready', restoreMeta);
  const consumers = new Set<ShardConsumer>();

  return {
    kind: 'bullmq',
    queueNames: queues.map((q) => q.qualifiedName),
    async add(jobs, { attempts, backoffMs }) {
      const groups = byPartition(jobs, (j: ShardJobData) => j.runId, partitions);
      await Promise.all(
        [...groups].map(([p, group]) =>
          queues[p]!.addBulk(
            group.map((data) => ({
              name: 'shard',
              data,
              opts: {
                jobId: shardJobId(data.runId, data.shardIndex),
                attempts,
                backoff: { type: 'exponential', delay: backoffMs },
                removeOnComplete: true,
                removeOnFail: { count: keepFailed },
              },
            })),
          ),
        ),
      );
    },
    async missing(jobIds) {
      // One small script per id, all in flight at once on the queue's connection (one
      // pipelined round trip); `unknown` is BullMQ's answer for a job it holds in no state.
      const states = await Promise.all(jobIds.map((id) => queueOf(runIdOfJob(id)).getJobState(id)));
      return jobIds.filter((_, i) => states[i] === 'unknown');
    },
    async removeWaiting(runId, shardCount) {
      // Every shard at once: the calls share the queue's connection, so each phase is one
      // pipelined round trip whatever the shard count. The state check stays because `remove`
      // takes a job from any state: unchecked, it would also delete the failed jobs kept for
      // inspection (and count them).
      const queue = queueOf(runId);
      const ids = Array.from({ length: shardCount }, (_, i) => shardJobId(runId, i));
      const states = await Promise.all(ids.map((id) => queue.getJobState(id)));
      const removable = ids.filter((_, i) => REMOVABLE_STATES.has(states[i]!));
      if (removable.length === 0) return 0;
      // remove() refuses a job that became active meanwhile (locked): that one checks the
      // run's status when it starts, so losing this race is harmless.
      const codes = await Promise.all(removable.map((id) => queue.remove(id)));
      return codes.filter((code) => code === 1).length;
    },
    consume(processor, options = {}) {
      const consumer = bullmqConsumer(
        {
          connection,
          queues,
          lockDurationMs,
          stalledIntervalMs,
          maxStalledCount,
          logger,
          onClosed: (c) => consumers.delete(c),
        },
        processor,
        options,
      );
      consumers.add(consumer);
      return consumer;
    },
    async close() {
      connection.off('ready', restoreMeta);
      await Promise.all([...consumers].map((c) => c.close(0)));
      await Promise.all(queues.map((q) => q.close()));
    },
  };
}
