import { Queue } from 'bullmq';
import { bullmqConsumer } from './bullmq-consumer.js';
import { partitionOf, partitionQueueNames, runIdOfJob } from './queue-partitions.js';
import { queueSettings, type RedisBackedQueueOptions } from './queue-settings.js';
import type { ShardConsumer, ShardQueue } from './shard-queue.js';
import { shardJobId } from './shard-queue.js';
import type { ShardJobData } from './test-schemas.js';

/** The BullMQ queue takes the shared options as they are. */
export type BullmqShardQueueOptions = RedisBackedQueueOptions;

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
  const settings = queueSettings(opts);
  const { connection, prefix, partitions, keepFailed, logger } = settings;
  const queues = partitionQueueNames(prefix, partitions, { tagged: settings.tagged }).map(
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
          ...settings,
          queues,
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
