import { randomUUID } from 'node:crypto';
import type { Logger } from '@x/kernel';
import type { Cluster, Redis } from 'ioredis';
import { redisErrorReporter } from './redis-error-reporter.js';
import { failureOutcome, jobSettler, type Outcome } from './redis-job-settler.js';
import { leaseRenewal } from './redis-lease-renewal.js';
import { partitionReader } from './redis-partition-reader.js';
import type { RedisQueueCounters } from './redis-queue-counters.js';
import {
  isMalformed,
  parseDelivery,
  payloadData,
  type RedisDelivery,
} from './redis-queue-entry.js';
import { REDIS_QUEUE_GROUP, type RedisQueueKeys } from './redis-queue-keys.js';
import { RELEASE_LUA } from './redis-queue-lua.js';
import { queueMaintenance } from './redis-queue-maintenance.js';
import { luaScript, runScript } from './redis-script.js';
import { settlesWithin } from './settles-within.js';
import {
  SHUTDOWN_REASON,
  type ShardConsumer,
  type ShardConsumerOptions,
  type ShardProcessor,
} from './shard-queue.js';
import { SlotSemaphore } from './slot-semaphore.js';

const RELEASE = luaScript(RELEASE_LUA, 2);

export interface RedisConsumerSettings {
  readonly connection: Redis | Cluster;
  readonly partitions: readonly RedisQueueKeys[];
  readonly lockDurationMs: number;
  readonly stalledIntervalMs: number;
  readonly maxStalledCount: number;
  readonly keepFailed: number;
  readonly blockMs: number;
  readonly counters: RedisQueueCounters;
  readonly logger: Logger;
  /** Called once the consumer has closed (the queue forgets it). */
  readonly onClosed: (consumer: ShardConsumer) => void;
}

/** A job this consumer read: running, or waiting for a slot. */
interface Held {
  readonly partition: number;
  readonly delivery: RedisDelivery;
  readonly controller: AbortController;
  done: Promise<void>;
}

/**
 * One consumer of every partition of the Redis shard queue. Per partition a loop reads up to
 * half as many entries as there are free slots with one blocking XREADGROUP (its own
 * connection, {@link partitionReader});
 * all loops share one {@link SlotSemaphore}, so at most `concurrency` jobs run. Every
 * `lockDurationMs / 3` one XCLAIM … JUSTID per partition renews the lease of every held job
 * ({@link leaseRenewal});
 * every `stalledIntervalMs` a maintenance script promotes due retries and re-issues the jobs
 * whose lease expired (any consumer may do it for all; {@link queueMaintenance}). Finished
 * deliveries are settled in batches; failures, retries and requeues by one script each
 * ({@link jobSettler}).
 */
export function redisShardConsumer(
  settings: RedisConsumerSettings,
  processor: ShardProcessor,
  { concurrency = 1, onAbandoned }: ShardConsumerOptions,
): ShardConsumer {
  const { connection: redis, partitions, counters, logger } = settings;
  const name = `c-${randomUUID()}`;
  const slots = new SlotSemaphore(Math.max(1, concurrency));
  const held = new Map<string, Held>();
  const byJob = new Map<string, Held>();
  const shutdownCancelled = new Set<string>();
  const stop = new AbortController();
  const redisError = redisErrorReporter(counters, logger);

  const abandon = (id: string, data: unknown, reason: string) => {
    counters.abandoned++;
    logger.warn({ jobId: id, reason }, 'shard job failed without running');
    if (!onAbandoned) return;
    Promise.resolve(onAbandoned({ id, data, reason })).catch((err: unknown) =>
      logger.error({ err, jobId: id }, 'onAbandoned failed'),
    );
  };

  const maintenance = queueMaintenance({
    ...settings,
    redis,
    consumer: name,
    signal: stop.signal,
    redisError,
    abandon,
  });
  const renewal = leaseRenewal({ ...settings, redis, consumer: name, held, redisError });
  const settler = jobSettler({
    ...settings,
    redis,
    redisError,
    onRetry: (p, delayMs) => maintenance.later(p, delayMs),
  });

  const run = async (h: Held): Promise<void> => {
    const d = h.delivery;
    const { signal } = h.controller;
    let slot = false;
    let outcome: Outcome;
    try {
      try {
        await slots.acquire(signal);
      } catch (waitAborted) {
        // Cancelled while waiting for a slot: a shutdown puts it back (below); a user
        // cancel still runs the processor, which sees the aborted signal and stops.
        if (shutdownCancelled.has(d.entryId)) throw waitAborted;
        await slots.acquire();
      }
      slot = true;
      await processor({
        id: d.jobId,
        data: payloadData(d.payload),
        attempt: d.made + 1,
        maxAttempts: d.maxAttempts,
        redelivered: d.redelivered,
        signal,
        cancel: (reason) => h.controller.abort(reason),
      });
      outcome = { kind: 'done' };
    } catch (err) {
      outcome = failureOutcome(err, d, shutdownCancelled.has(d.entryId));
    } finally {
      if (slot) slots.release();
    }
    try {
      await settler.settle(h.partition, d, outcome);
    } catch (err) {
      logger.error(
        { err, jobId: d.jobId, outcome: outcome.kind },
        'shard job not settled in Redis; its lease lapses and a reaper redelivers it',
      );
    } finally {
      held.delete(d.entryId);
      if (byJob.get(d.jobId) === h) byJob.delete(d.jobId);
      shutdownCancelled.delete(d.entryId);
    }
  };

  const accept = (partition: number, entryId: string, fields: string[] | null) => {
    const parsed = parseDelivery(entryId, fields);
    if (isMalformed(parsed)) {
      counters.malformed++;
      logger.warn({ entryId, problem: parsed.problem }, 'shard queue: malformed entry dropped');
      settler.finish(partition, entryId, parsed.jobId ?? '').catch(() => {});
      if (parsed.jobId) {
        abandon(
          parsed.jobId,
          parsed.payload === undefined ? undefined : payloadData(parsed.payload),
          `malformed queue entry: ${parsed.problem}`,
        );
      }
      return;
    }
    // Read as the consumer closes: left pending, and re-issued untouched by the release.
    if (stop.signal.aborted) return;
    const h: Held = {
      partition,
      delivery: parsed,
      controller: new AbortController(),
      done: Promise.resolve(),
    };
    held.set(entryId, h);
    byJob.set(parsed.jobId, h);
    h.done = run(h);
  };

  const readers = partitions.map((keys, p) =>
    partitionReader({
      ...settings,
      redis,
      keys,
      consumer: name,
      slots,
      signal: stop.signal,
      redisError,
      accept: (entryId, fields) => accept(p, entryId, fields),
    }),
  );

  let closing: Promise<void> | undefined;
  const consumer: ShardConsumer = {
    get active() {
      return slots.taken;
    },
    cancel(jobId, reason) {
      const h = byJob.get(jobId);
      if (!h) return false;
      h.controller.abort(reason);
      return true;
    },
    close(deadlineMs = 0) {
      closing ??= (async () => {
        stop.abort();
        // Cuts blocked reads; what a cut read had taken stays pending and is released below.
        for (const reader of readers) reader.disconnect();
        await Promise.allSettled(readers.map((reader) => reader.done));
        const all = () => Promise.allSettled([...held.values()].map((h) => h.done));
        if (!(await settlesWithin(all(), deadlineMs))) {
          for (const [entryId, h] of held) {
            shutdownCancelled.add(entryId);
            h.controller.abort(SHUTDOWN_REASON);
          }
          await all();
        }
        maintenance.close();
        renewal.stop();
        await Promise.all(
          partitions.map((keys) =>
            runScript(
              redis,
              RELEASE,
              [keys.stream, keys.jobs],
              [REDIS_QUEUE_GROUP, name, 1000],
            ).catch(
              redisError('shard queue: releasing unread jobs failed; a reaper redelivers them'),
            ),
          ),
        );
        settings.onClosed(consumer);
      })();
      return closing;
    },
  };
  return consumer;
}
