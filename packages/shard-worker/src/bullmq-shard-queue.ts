import { type Logger, silentLogger } from '@x/kernel';
import { type Job, Queue, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { isRequeue, isUnrecoverable } from './shard-job-error.js';
import { SHUTDOWN_REASON, type ShardConsumer, type ShardQueue, shardJobId } from './shard-queue.js';

export interface BullmqShardQueueOptions {
  /** Used by the Queue as is; each consumer's Worker gets its own duplicate, closed with it. */
  connection: Redis;
  /** BullMQ key prefix, the deployment's `X_PREFIX`, so deployments sharing a Redis stay apart. */
  prefix: string;
  /** Queue name. Default `runs` (the public contract). */
  name?: string;
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
  /** Failed jobs kept for inspection. Default 1000; completed jobs are removed at once. */
  keepFailed?: number;
  logger?: Logger;
}

type AnyJob = Job<unknown, unknown, string>;

/** States a job waits in (delayed: a retry's backoff); an active job is stopped by its signal. */
const REMOVABLE_STATES = new Set<string>(['waiting', 'delayed', 'prioritized']);

/**
 * Shard jobs on BullMQ 6: one Queue for adding and removing, one Worker per consumer. The
 * processor's own AbortSignal (BullMQ passes it to processors declaring a third parameter)
 * is the shard's signal, so `cancel` goes through `Worker.cancelJob`. `aborted` and
 * `invalid_job` failures become `UnrecoverableError` (no retry); shutdown requeues move the
 * job back to wait, which spends no attempt.
 */
export function bullmqShardQueue({
  connection,
  prefix,
  name = 'runs',
  lockDurationMs = 30_000,
  stalledIntervalMs = 30_000,
  maxStalledCount = 2,
  keepFailed = 1000,
  logger = silentLogger,
}: BullmqShardQueueOptions): ShardQueue {
  const queue = new Queue(name, { connection, prefix });
  queue.on('error', (err) => logger.error({ err }, 'shard queue error'));
  // BullMQ writes the queue's meta hash (library version, event-stream cap) only when a Queue
  // is built; a Redis restarted empty would keep it gone. Written again on every reconnect
  // (HSET of the same fields: harmless when nothing was lost, and it leaves `paused` alone).
  const restoreMeta = () => {
    connection.hset(queue.toKey('meta'), queue.metaValues).catch((err: unknown) => {
      logger.warn({ err }, 'shard queue meta not restored; the next reconnect tries again');
    });
  };
  connection.on('ready', restoreMeta);
  const consumers = new Set<ShardConsumer>();

  return {
    kind: 'bullmq',
    async add(jobs, { attempts, backoffMs }) {
      await queue.addBulk(
        jobs.map((data) => ({
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
      );
    },
    async missing(jobIds) {
      // One small script per id, all in flight at once on the queue's connection (one
      // pipelined round trip); `unknown` is BullMQ's answer for a job it holds in no state.
      const states = await Promise.all(jobIds.map((id) => queue.getJobState(id)));
      return jobIds.filter((_, i) => states[i] === 'unknown');
    },
    async removeWaiting(runId, shardCount) {
      // Every shard at once: the calls share the queue's connection, so each phase is one
      // pipelined round trip whatever the shard count (was two sequential trips per shard).
      // The state check stays because `remove` takes a job from any state: unchecked, it
      // would also delete the failed jobs kept for inspection (and count them).
      const ids = Array.from({ length: shardCount }, (_, i) => shardJobId(runId, i));
      const states = await Promise.all(ids.map((id) => queue.getJobState(id)));
      const removable = ids.filter((_, i) => REMOVABLE_STATES.has(states[i]!));
      if (removable.length === 0) return 0;
      // remove() refuses a job that became active meanwhile (locked): that one checks the
      // run's status when it starts, so losing this race is harmless.
      const codes = await Promise.all(removable.map((id) => queue.remove(id)));
      return codes.filter((code) => code === 1).length;
    },
    consume(processor, { concurrency = 1, onAbandoned } = {}) {
      const workerConnection = connection.duplicate({ maxRetriesPerRequest: null });
      const inFlight = new Set<string>();
      const shutdownCancelled = new Set<string>();
      // Errors our own processor threw; any other failure is BullMQ failing a job by itself.
      const ours = new WeakSet<Error>();
      const mark = (err: Error) => {
        ours.add(err);
        return err;
      };
      const worker: Worker = new Worker(
        name,
        async (job: AnyJob, token: string | undefined, signal: AbortSignal | undefined) => {
          const id = job.id!;
          const own = signal ?? new AbortController().signal;
          inFlight.add(id);
          try {
            await processor({
              id,
              data: job.data,
              attempt: job.attemptsMade + 1,
              maxAttempts: job.opts.attempts ?? 1,
              redelivered: job.attemptsStarted > 1,
              signal: own,
              cancel: (reason) => {
                worker.cancelJob(id, reason);
              },
            });
          } catch (err) {
            if (shutdownCancelled.delete(id) || isRequeue(err)) {
              await job.moveToWait(token);
              throw mark(new WaitingError());
            }
            if (isUnrecoverable(err)) throw mark(new UnrecoverableError(err.message));
            throw mark(err instanceof Error ? err : new Error(String(err)));
          } finally {
            inFlight.delete(id);
            shutdownCancelled.delete(id);
          }
        },
        {
          connection: workerConnection,
          prefix,
          concurrency,
          lockDuration: lockDurationMs,
          stalledInterval: stalledIntervalMs,
          maxStalledCount,
        },
      );
      worker.on('error', (err) => logger.error({ err }, 'shard worker error'));
      worker.on('failed', (job, err) => {
        if (!job || ours.has(err) || !onAbandoned) return;
        logger.warn({ jobId: job.id, err }, 'shard job failed without running');
        Promise.resolve(onAbandoned({ id: job.id!, data: job.data, reason: err.message })).catch(
          (cause: unknown) => logger.error({ err: cause, jobId: job.id }, 'onAbandoned failed'),
        );
      });
      let closing: Promise<void> | undefined;
      const consumer: ShardConsumer = {
        get active() {
          return inFlight.size;
        },
        cancel: (jobId, reason) => inFlight.has(jobId) && worker.cancelJob(jobId, reason),
        close(deadlineMs = 0) {
          closing ??= (async () => {
            const closed = worker.close();
            let timer: NodeJS.Timeout | undefined;
            const expired = new Promise<'expired'>((resolve) => {
              timer = setTimeout(() => resolve('expired'), deadlineMs);
            });
            const outcome = await Promise.race([closed, expired]);
            clearTimeout(timer);
            if (outcome === 'expired') {
              for (const id of inFlight) {
                shutdownCancelled.add(id);
                worker.cancelJob(id, SHUTDOWN_REASON);
              }
              await closed;
            }
            consumers.delete(consumer);
            workerConnection.disconnect();
          })();
          return closing;
        },
      };
      consumers.add(consumer);
      return consumer;
    },
    async close() {
      connection.off('ready', restoreMeta);
      await Promise.all([...consumers].map((c) => c.close(0)));
      await queue.close();
    },
  };
}
