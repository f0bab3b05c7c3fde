import { backoffDelay, type Logger, sleep } from '@x/kernel';
import type { Cluster, Redis } from 'ioredis';
import { blockingConnection } from './blocking-connection.js';
import type { RedisErrorReporter } from './redis-error-reporter.js';
import type { RedisQueueCounters } from './redis-queue-counters.js';
import { REDIS_QUEUE_GROUP, type RedisQueueKeys } from './redis-queue-keys.js';
import { isNoGroupError, streamEntries } from './redis-stream-reply.js';
import type { SlotSemaphore } from './slot-semaphore.js';

/**
 * Entries one read asks for: half the free slots (at least one). Consumers blocked on a
 * stream are served in turn, so a burst (a run's shards, added by one script) spreads over
 * the waiting consumers instead of filling the first one; the next read, at once, takes
 * more while slots stay free. Under load only one or two slots are free at a time anyway.
 */
function readCount(free: number): number {
  return Math.max(1, Math.ceil(free / 2));
}

export interface PartitionReaderSettings {
  /** The queue's client: the reader's connection is duplicated from it, the group made with it. */
  readonly redis: Redis | Cluster;
  readonly keys: RedisQueueKeys;
  /** The consumer's name in the group. */
  readonly consumer: string;
  readonly blockMs: number;
  /** The consumer's slots, shared by all its partitions: a read waits for a free one. */
  readonly slots: SlotSemaphore;
  /** Aborted as the consumer closes: the loop ends. */
  readonly signal: AbortSignal;
  readonly counters: RedisQueueCounters;
  readonly logger: Logger;
  readonly redisError: RedisErrorReporter;
  /** Takes each entry read (`fields` null once the entry was deleted). */
  readonly accept: (entryId: string, fields: string[] | null) => void;
}

export interface PartitionReader {
  /** Settles once the loop has ended (after the signal aborted). */
  readonly done: Promise<void>;
  /** Cuts a blocked read: what it had taken stays pending in the group. */
  disconnect(): void;
}

/**
 * A consumer's loop on one partition: while a slot is free, one blocking XREADGROUP on its own
 * connection for `readCount` entries, handed to `accept`. A group gone (Redis restarted empty)
 * is made again; other failures back off, up to 5 s.
 */
export function partitionReader({
  redis,
  keys,
  consumer,
  blockMs,
  slots,
  signal,
  counters,
  logger,
  redisError,
  accept,
}: PartitionReaderSettings): PartitionReader {
  const reader = blockingConnection(redis);
  reader.on('error', () => {});

  const ensureGroup = async () => {
    try {
      // From 0: jobs added before any consumer existed, or into a stream recreated after a
      // Redis restart, are all still to be delivered.
      await redis.call('XGROUP', 'CREATE', keys.stream, REDIS_QUEUE_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('BUSYGROUP')) throw err;
    }
  };

  const stopped = new Promise<void>((resolve) =>
    signal.addEventListener('abort', () => resolve(), { once: true }),
  );
  const loop = async () => {
    let failures = 0;
    while (!signal.aborted) {
      await Promise.race([slots.whenFree(), stopped]);
      if (signal.aborted) break;
      let reply: unknown;
      try {
        reply = await reader.call(
          'XREADGROUP',
          'GROUP',
          REDIS_QUEUE_GROUP,
          consumer,
          'COUNT',
          readCount(slots.free),
          'BLOCK',
          blockMs,
          'STREAMS',
          keys.stream,
          '>',
        );
        failures = 0;
      } catch (readErr) {
        if (signal.aborted) break;
        let err = readErr;
        try {
          // The group is gone (Redis restarted empty) or was never made: make it, read again.
          if (isNoGroupError(err)) {
            await ensureGroup();
            continue;
          }
        } catch (createErr) {
          err = createErr;
        }
        failures++;
        redisError('shard queue: reading jobs failed; retrying')(err);
        await sleep(backoffDelay(failures, { initialMs: 100, maxMs: 5_000 }), { signal }).catch(
          () => {},
        );
        continue;
      }
      const entries = streamEntries(reply);
      if (!entries) {
        counters.malformed++;
        logger.warn({ reply }, 'shard queue: unexpected XREADGROUP reply');
        continue;
      }
      for (const e of entries) accept(e.id, e.fields);
    }
  };

  return { done: loop(), disconnect: () => reader.disconnect() };
}
