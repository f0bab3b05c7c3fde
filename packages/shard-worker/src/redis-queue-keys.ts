import { partitionQueueNames } from './queue-partitions.js';

/** The Redis keys of one partition of the Redis shard queue. */
export interface RedisQueueKeys {
  /** Stream of deliverable jobs; its consumer group hands each entry to one consumer. */
  readonly stream: string;
  /** Hash job id -> where the job is: `s:<entry id>`, `d:<fields>|<data>` (backoff) or `f`. */
  readonly jobs: string;
  /** ZSET job id -> due time (ms) of a retry waiting out its backoff. */
  readonly delayed: string;
  /** ZSET job id -> failure time (ms): failed jobs kept for inspection, bounded. */
  readonly failed: string;
}

/** The consumer group every consumer of every partition reads with. */
export const REDIS_QUEUE_GROUP = 'workers';

/**
 * The keys of every partition, named like the BullMQ queue's (`partitionQueueNames`) with an
 * `:rq:` infix so both queues can share a Redis during a switch-over: one partition on one
 * server keeps `<prefix>:runs:rq:*`; on a cluster (or with partitions) each partition's keys
 * share its hash tag, so every script touches one slot, and the partitions spread over the
 * primaries as the BullMQ ones do.
 */
export function redisQueueKeys(
  prefix: string,
  partitions: number,
  opts: { tagged: boolean },
): RedisQueueKeys[] {
  return partitionQueueNames(prefix, partitions, opts).map(({ prefix: p, name }) => {
    const base = `${p}:${name}:rq`;
    return {
      stream: `${base}:stream`,
      jobs: `${base}:jobs`,
      delayed: `${base}:delayed`,
      failed: `${base}:failed`,
    };
  });
}
