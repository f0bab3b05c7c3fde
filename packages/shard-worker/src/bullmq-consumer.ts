import type { Logger } from '@x/kernel';
import { type Job, type Queue, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { blockingConnection } from './blocking-connection.js';
import { settlesWithin } from './settles-within.js';
import { isRequeue, isUnrecoverable } from './shard-job-error.js';
import {
  SHUTDOWN_REASON,
  type ShardConsumer,
  type ShardConsumerOptions,
  type ShardProcessor,
} from './shard-queue.js';
import { SlotSemaphore } from './slot-semaphore.js';

type AnyJob = Job<unknown, unknown, string>;

export interface BullmqConsumerSettings {
  connection: Redis | Cluster;
  /** One per partition: a Worker is started on each, with the queue's own prefix and name. */
  queues: readonly Queue[];
  lockDurationMs: number;
  stalledIntervalMs: number;
  maxStalledCount: number;
  logger: Logger;
  /** Called once the consumer has closed (the queue forgets it). */
  onClosed: (consumer: ShardConsumer) => void;
}

/**
 * One consumer over every partition: a BullMQ Worker per partition queue, all sharing one
 * {@link SlotSemaphore} of `concurrency` slots, so the process runs at most `concurrency`
 * shards whatever partition they come from. The processor's own AbortSignal (BullMQ passes it
 * to processors declaring a third parameter) is the shard's signal, so `cancel` goes through
 * `Worker.cancelJob`. `aborted` and `invalid_job` failures become `UnrecoverableError` (no
 * retry); shutdown requeues move the job back to wait, which spends no attempt.
 */
export function bullmqConsumer(
  settings: BullmqConsumerSettings,
  processor: ShardProcessor,
  { concurrency = 1, onAbandoned }: ShardConsumerOptions,
): ShardConsumer {
  const { logger } = settings;
  const slots = new SlotSemaphore(Math.max(1, concurrency));
  /** Jobs this consumer holds (running or waiting for a slot), by id, with their Worker. */
  const held = new Map<string, Worker>();
  const shutdownCancelled = new Set<string>();
  // Errors our own processor threw; any other failure is BullMQ failing a job by itself.
  const ours = new WeakSet<Error>();
  const mark = (err: Error) => {
    ours.add(err);
    return err;
  };
  const connections: (Redis | Cluster)[] = [];

  const start = (queue: Queue): Worker => {
    const connection = blockingConnection(settings.connection);
    connections.push(connection);
    const worker: Worker = new Worker(
      queue.name,
      async (job: AnyJob, token: string | undefined, signal: AbortSignal | undefined) => {
        const id = job.id!;
        const own = signal ?? new AbortController().signal;
        held.set(id, worker);
        let slot = false;
        try {
          try {
            await slots.acquire(own);
          } catch (waitAborted) {
            // Cancelled while waiting for a slot: a shutdown puts it back (below); a user
            // cancel still runs the processor, which sees the aborted signal and stops.
            if (shutdownCancelled.has(id)) throw waitAborted;
            await slots.acquire();
          }
          slot = true;
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
          if (slot) slots.release();
          held.delete(id);
          shutdownCancelled.delete(id);
        }
      },
      {
        connection,
        prefix: queue.opts.prefix,
        // Each Worker may fetch up to the whole budget; the semaphore bounds what runs.
        concurrency: Math.max(1, concurrency),
        lockDuration: settings.lockDurationMs,
        stalledInterval: settings.stalledIntervalMs,
        maxStalledCount: settings.maxStalledCount,
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
    return worker;
  };
  const workers = settings.queues.map(start);

  let closing: Promise<void> | undefined;
  const consumer: ShardConsumer = {
    get active() {
      return slots.taken;
    },
    cancel(jobId, reason) {
      const worker = held.get(jobId);
      return worker?.cancelJob(jobId, reason) ?? false;
    },
    close(deadlineMs = 0) {
      closing ??= (async () => {
        const closed = Promise.all(workers.map((w) => w.close()));
        if (!(await settlesWithin(closed, deadlineMs))) {
          for (const [id, worker] of held) {
            shutdownCancelled.add(id);
            worker.cancelJob(id, SHUTDOWN_REASON);
          }
          await closed;
        }
        settings.onClosed(consumer);
        for (const c of connections) c.disconnect();
      })();
      return closing;
    },
  };
  return consumer;
}
