import { randomUUID } from 'node:crypto';
import { backoffDelay, type Logger, sleep } from '@x/kernel';
import type { Cluster, Redis } from 'ioredis';
import { type DoneBatch, doneBatch } from './redis-done-batch.js';
import type { RedisQueueCounters } from './redis-queue-counters.js';
import {
  isMalformed,
  parseDelivery,
  payloadData,
  type RedisDelivery,
} from './redis-queue-entry.js';
import { REDIS_QUEUE_GROUP, type RedisQueueKeys } from './redis-queue-keys.js';
import { MAINTAIN_LUA, RELEASE_LUA, SETTLE_LUA } from './redis-queue-lua.js';
import { retryRedisWrite } from './redis-retry.js';
import { luaScript, runScript } from './redis-script.js';
import { isNoGroupError, streamEntries } from './redis-stream-reply.js';
import { settlesWithin } from './settles-within.js';
import { isRequeue, isUnrecoverable } from './shard-job-error.js';
import {
  SHUTDOWN_REASON,
  type ShardConsumer,
  type ShardConsumerOptions,
  type ShardProcessor,
} from './shard-queue.js';
import { SlotSemaphore } from './slot-semaphore.js';

const SETTLE = luaScript(SETTLE_LUA, 4);
const MAINTAIN = luaScript(MAINTAIN_LUA, 4);
const RELEASE = luaScript(RELEASE_LUA, 2);
/** Retries promoted and stalled entries re-issued per maintenance call. */
const MAINTAIN_LIMIT = 100;

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

type Outcome =
  | { kind: 'done' }
  | { kind: 'requeue' }
  | { kind: 'fail' }
  | { kind: 'retry'; delayMs: number };

/**
 * Entries one read asks for: half the free slots (at least one). Consumers blocked on a
 * stream are served in turn, so a burst (a run's shards, added by one script) spreads over
 * the waiting consumers instead of filling the first one; the next read, at once, takes
 * more while slots stay free. Under load only one or two slots are free at a time anyway.
 */
function readCount(free: number): number {
  return Math.max(1, Math.ceil(free / 2));
}

/** A connection for blocking reads: a long XREADGROUP BLOCK must not be cut by a retry count. */
function readerConnection(connection: Redis | Cluster): Redis | Cluster {
  if ('isCluster' in connection && connection.isCluster) {
    const cluster = connection as Cluster;
    return cluster.duplicate(undefined, {
      redisOptions: { ...cluster.options.redisOptions, maxRetriesPerRequest: null },
    });
  }
  return (connection as Redis).duplicate({ maxRetriesPerRequest: null });
}

/**
 * One consumer of every partition of the Redis shard queue. Per partition a loop reads up to
 * half as many entries as there are free slots (`readCount`) with one blocking XREADGROUP
 * (its own connection);
 * all loops share one {@link SlotSemaphore}, so at most `concurrency` jobs run. Every
 * `lockDurationMs / 3` one XCLAIM … JUSTID per partition renews the lease of every held job;
 * every `stalledIntervalMs` a maintenance script promotes due retries and re-issues the jobs
 * whose lease expired (any consumer may do it for all). Finished deliveries are settled in
 * batches ({@link doneBatch}); failures, retries and requeues by one script each.
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
  const readers = partitions.map(() => readerConnection(redis));
  for (const reader of readers) reader.on('error', () => {});
  const redisError = (what: string) => (err: unknown) => {
    counters.redisErrors++;
    logger.warn({ err: err instanceof Error ? err.message : String(err) }, what);
  };
  const dones: DoneBatch[] = partitions.map((keys) =>
    doneBatch(redis, keys, redisError('shard queue: finishing a job failed; retrying')),
  );
  const timers = new Set<NodeJS.Timeout>();

  const abandon = (id: string, data: unknown, reason: string) => {
    counters.abandoned++;
    logger.warn({ jobId: id, reason }, 'shard job failed without running');
    if (!onAbandoned) return;
    Promise.resolve(onAbandoned({ id, data, reason })).catch((err: unknown) =>
      logger.error({ err, jobId: id }, 'onAbandoned failed'),
    );
  };

  const maintain = async (p: number) => {
    const keys = partitions[p]!;
    const reply = await runScript(
      redis,
      MAINTAIN,
      [keys.stream, keys.jobs, keys.delayed, keys.failed],
      [
        REDIS_QUEUE_GROUP,
        name,
        settings.lockDurationMs,
        Date.now(),
        settings.maxStalledCount,
        settings.keepFailed,
        MAINTAIN_LIMIT,
      ],
    );
    if (!Array.isArray(reply) || reply.length < 4 || !Array.isArray(reply[3])) {
      counters.redisErrors++;
      logger.warn({ reply }, 'shard queue: unexpected maintenance reply');
      return;
    }
    counters.malformed += Number(reply[0]);
    counters.promoted += Number(reply[1]);
    counters.stalled += Number(reply[2]);
    const gone = reply[3] as unknown[];
    for (let i = 0; i + 1 < gone.length; i += 2) {
      abandon(
        String(gone[i]),
        payloadData(String(gone[i + 1])),
        `job stalled more than ${settings.maxStalledCount} times`,
      );
    }
  };
  const maintainLater = (p: number, delayMs: number) => {
    // A closed consumer leaves its retries to the others' periodic maintenance.
    if (stop.signal.aborted) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      maintain(p).catch(redisError('shard queue: promoting retries failed'));
    }, delayMs);
    timer.unref();
    timers.add(timer);
  };
  const sweep = setInterval(() => {
    for (let p = 0; p < partitions.length; p++)
      maintain(p).catch(redisError('shard queue: maintenance failed'));
  }, settings.stalledIntervalMs);
  sweep.unref();

  // One XCLAIM per partition for every job held there: resets their idle time (the lease)
  // without counting a delivery.
  const renew = setInterval(
    () => {
      const eids = partitions.map((): string[] => []);
      for (const h of held.values()) eids[h.partition]!.push(h.delivery.entryId);
      eids.forEach((ids, p) => {
        if (ids.length === 0) return;
        redis
          .call('XCLAIM', partitions[p]!.stream, REDIS_QUEUE_GROUP, name, 0, ...ids, 'JUSTID')
          .catch(redisError('shard queue: renewing leases failed'));
      });
    },
    Math.max(1, Math.floor(settings.lockDurationMs / 3)),
  );
  renew.unref();

  const settle = async (h: Held, outcome: Outcome) => {
    const d = h.delivery;
    if (outcome.kind === 'done') return dones[h.partition]!.finish(d.entryId, d.jobId);
    const keys = partitions[h.partition]!;
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
            settings.keepFailed,
          ],
        ),
      { onError: redisError(`shard queue: ${outcome.kind} of a job failed; retrying`) },
    );
    if (retry) maintainLater(h.partition, outcome.delayMs);
  };

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
      if (shutdownCancelled.has(d.entryId) || isRequeue(err)) outcome = { kind: 'requeue' };
      else if (isUnrecoverable(err) || d.made + 1 >= d.maxAttempts) outcome = { kind: 'fail' };
      else {
        // BullMQ's exponential backoff, no jitter: the same delays as the other queues.
        const delayMs = backoffDelay(d.made + 1, {
          initialMs: d.backoffMs,
          maxMs: Number.MAX_SAFE_INTEGER,
          jitter: 0,
        });
        outcome = { kind: 'retry', delayMs };
      }
    } finally {
      if (slot) slots.release();
    }
    try {
      await settle(h, outcome);
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
      dones[partition]!.finish(entryId, parsed.jobId ?? '').catch(() => {});
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

  const ensureGroup = async (keys: RedisQueueKeys) => {
    try {
      // From 0: jobs added before any consumer existed, or into a stream recreated after a
      // Redis restart, are all still to be delivered.
      await redis.call('XGROUP', 'CREATE', keys.stream, REDIS_QUEUE_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('BUSYGROUP')) throw err;
    }
  };

  const stopped = new Promise<void>((resolve) =>
    stop.signal.addEventListener('abort', () => resolve(), { once: true }),
  );
  const loop = async (p: number) => {
    const keys = partitions[p]!;
    const reader = readers[p]!;
    let failures = 0;
    while (!stop.signal.aborted) {
      await Promise.race([slots.whenFree(), stopped]);
      if (stop.signal.aborted) break;
      let reply: unknown;
      try {
        reply = await reader.call(
          'XREADGROUP',
          'GROUP',
          REDIS_QUEUE_GROUP,
          name,
          'COUNT',
          readCount(slots.free),
          'BLOCK',
          settings.blockMs,
          'STREAMS',
          keys.stream,
          '>',
        );
        failures = 0;
      } catch (readErr) {
        if (stop.signal.aborted) break;
        let err = readErr;
        try {
          // The group is gone (Redis restarted empty) or was never made: make it, read again.
          if (isNoGroupError(err)) {
            await ensureGroup(keys);
            continue;
          }
        } catch (createErr) {
          err = createErr;
        }
        failures++;
        redisError('shard queue: reading jobs failed; retrying')(err);
        await sleep(backoffDelay(failures, { initialMs: 100, maxMs: 5_000 }), {
          signal: stop.signal,
        }).catch(() => {});
        continue;
      }
      const entries = streamEntries(reply);
      if (!entries) {
        counters.malformed++;
        logger.warn({ reply }, 'shard queue: unexpected XREADGROUP reply');
        continue;
      }
      for (const e of entries) accept(p, e.id, e.fields);
    }
  };

  // A first maintenance pass at once: retries and expired leases left by a previous fleet.
  for (let p = 0; p < partitions.length; p++)
    maintain(p).catch(redisError('shard queue: maintenance failed'));
  const loops = partitions.map((_, p) => loop(p));

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
        await Promise.allSettled(loops);
        const all = () => Promise.allSettled([...held.values()].map((h) => h.done));
        if (!(await settlesWithin(all(), deadlineMs))) {
          for (const [entryId, h] of held) {
            shutdownCancelled.add(entryId);
            h.controller.abort(SHUTDOWN_REASON);
          }
          await all();
        }
        clearInterval(sweep);
        clearInterval(renew);
        for (const t of timers) clearTimeout(t);
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
