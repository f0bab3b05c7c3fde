import type { Logger } from '@x/kernel';
import type { StopService } from './stop-service.js';
import type { StopJobsRedis } from './stream-names.js';

export interface StopJobsConsumerOptions {
  /**
   * Redis client for commands: an ioredis `Redis`, or a `Cluster` (then keep its offline
   * queue on). The consumer duplicates it once for its blocking reads, so a BLOCK never
   * holds up your other commands; `close()` closes only that duplicate.
   */
  redis: StopJobsRedis;
  /** Key prefix of the deployment (`X_PREFIX`): streams are `{prefix}:runs:…`. */
  prefix: string;
  /**
   * The stream names for a Redis Cluster, all three in one hash slot (see
   * `stopJobsStreams`). Default: whether `redis` is an ioredis `Cluster`.
   */
  cluster?: boolean;
  /** Applies each stop command (injected: e.g. @x/shard-worker's `createRunStopService`). */
  service: StopService;
  /**
   * This consumer's name in the group: unique per live process, and stable across a
   * restart of the same replica if possible (a restarted consumer re-reads its own pending
   * entries first). Entries of a name that never comes back are claimed by the others.
   */
  consumerName: string;
  /** Consumer group; every replica of a deployment uses the same. Default `stop-jobs`. */
  group?: string;
  /** Entries per read (XREADGROUP / XAUTOCLAIM COUNT). Default 128: one round trip per batch. */
  count?: number;
  /** How long one read blocks waiting for new entries. Default 1000 ms. */
  blockMs?: number;
  /**
   * Entries pending (unacknowledged) for longer than this are claimed by a live consumer:
   * their consumer died, or their stop call failed and is due a retry. Default 30,000 ms.
   * Keep it well above the time one batch takes, or slow entries are handled twice.
   */
  claimMinIdleMs?: number;
  /** How often to look for claimable entries. Default min(claimMinIdleMs / 2, 10,000) ms. */
  claimIntervalMs?: number;
  /**
   * Deliveries before an entry is dead-lettered to `{prefix}:runs:stop_jobs:dead` (with a
   * `failure`/`internal` result) and acknowledged. Default 5: a poison entry that keeps
   * failing or crashing its consumer is set aside instead of retried forever.
   */
  maxDeliveries?: number;
  /** Approximate `MAXLEN ~` of the results and dead-letter streams. Default 100,000. */
  maxLen?: number;
  /** Stop calls in flight at once within a batch (one run's entries stay in order). Default 16. */
  concurrency?: number;
  /**
   * Time the stop calls of one batch get, together. Calls still running then count as
   * failed (and are retried); their `signal` aborts. Default 30,000 ms.
   */
  serviceTimeoutMs?: number;
  /** Backoff after a Redis error, doubling with jitter. Default 100 ms up to 5,000 ms. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** pino-compatible. Default: silent (every problem is also counted in metrics()). */
  logger?: Logger;
  /** Aborting it closes the consumer, like `close()`. */
  signal?: AbortSignal;
}

export type ResolvedOptions = Required<Omit<StopJobsConsumerOptions, 'signal' | 'backoff'>> & {
  backoff: { initialMs: number; maxMs: number };
  signal: AbortSignal | undefined;
};
