import { backoffDelay } from '@x/kernel';
import type { Cluster, Redis } from 'ioredis';
import { type DoneBatch, doneBatch } from './redis-done-batch.js';
import type { RedisErrorReporter } from './redis-error-reporter.js';
import type { RedisDelivery } from './redis-queue-entry.js';
import { REDIS_QUEUE_GROUP, type RedisQueueKeys } from './redis-queue-keys.js';
import { SETTLE_LUA } from './redis-queue-lua.js';
import { retryRedisWrite } from './redis-retry.js';
import { luaScript, runScript } from './redis-script.js';
import { isRequeue, isUnrecoverable } from './shard-job-error.js';

const SETTLE = luaScript(SETTLE_LUA, 4);

/** How a delivery ends: acknowledged, put back as it was, failed for good, or retried later. */
export type Outcome =
  | { kind: 'done' }
  | { kind: 'requeue' }
  | { kind: 'fail' }
  | { kind: 'retry'; delayMs: number };

/**
 * What a failed attempt becomes: a requeue when a shutdown took the job back (`shutdown`) or
 * the processor asked for one; a failure when unrecoverable or the last attempt; else a retry.
 */
export function failureOutcome(err: unknown, d: RedisDelivery, shutdown: boolean): Outcome {
  if (shutdown || isRequeue(err)) return { kind: 'requeue' };
  if (isUnrecoverable(err) || d.made + 1 >= d.maxAttempts) return { kind: 'fail' };
  // BullMQ's exponential backoff, no jitter: the same delays as the other queues.
  const delayMs = backoffDelay(d.made + 1, {
    initialMs: d.backoffMs,
    maxMs: Number.MAX_SAFE_INTEGER,
    jitter: 0,
  });
  return { kind: 'retry', delayMs };
}

export interface JobSettlerSettings {
  readonly redis: Redis | Cluster;
  readonly partitions: readonly RedisQueueKeys[];
  readonly keepFailed: number;
  readonly redisError: RedisErrorReporter;
  /** A retry was scheduled on `partition`: it comes due in `delayMs`. */
  readonly onRetry: (partition: number, delayMs: number) => void;
}

export interface JobSettler {
  /** Acknowledges an entry and forgets its job (batched per partition). */
  finish(partition: number, entryId: string, jobId: string): Promise<void>;
  /** Writes a delivery's outcome; rejects once the write has failed every try. */
  settle(partition: number, d: RedisDelivery, outcome: Outcome): Promise<void>;
}

/**
 * Settles a consumer's deliveries in Redis: finished ones in batches ({@link doneBatch}),
 * failures, retries and requeues by one script each. Both retry a failed write a few times
 * ({@link retryRedisWrite}); one that never lands leaves the job to a reaper.
 */
export function jobSettler({
  redis,
  partitions,
  keepFailed,
  redisError,
  onRetry,
}: JobSettlerSettings): JobSettler {
  const dones: DoneBatch[] = partitions.map((keys) =>
    doneBatch(redis, keys, redisError('shard queue: finishing a job failed; retrying')),
  );
  const finish = (partition: number, entryId: string, jobId: string) =>
    dones[partition]!.finish(entryId, jobId);

  const settle = async (partition: number, d: RedisDelivery, outcome: Outcome) => {
    if (outcome.kind === 'done') return finish(partition, d.entryId, d.jobId);
    const keys = partitions[partition]!;
    const retry = outcome.kind === 'retry';
    const now = Date.now();
    await retryRedisWrite(
      () =>
        runScript(
          redis,
          SETTLE,
          [keys.stream, keys.jobs, keys.delayed, keys.failed],
          [
            REDIS_QUEUE_GROUP,
            d.entryId,
            d.jobId,
            outcome.kind,
            retry ? d.made + 1 : d.made,
            d.stalls,
            d.maxAttempts,
            d.backoffMs,
            1,
            d.payload,
            retry ? now + outcome.delayMs : now,
            keepFailed,
          ],
        ),
      { onError: redisError(`shard queue: ${outcome.kind} of a job failed; retrying`) },
    );
    if (retry) onRetry(partition, outcome.delayMs);
  };

  return { finish, settle };
}
