import { backoffDelay } from '@x/kernel';
import { settlesWithin } from './settles-within.js';
import { isRequeue, isUnrecoverable } from './shard-job-error.js';
import {
  SHUTDOWN_REASON,
  type ShardConsumer,
  type ShardJobOptions,
  type ShardProcessor,
  type ShardQueue,
  shardJobId,
} from './shard-queue.js';
import type { ShardJobData } from './test-schemas.js';

interface Entry {
  id: string;
  data: ShardJobData;
  options: ShardJobOptions;
  attemptsMade: number;
  attemptsStarted: number;
  timer?: NodeJS.Timeout;
}

interface Consumer extends ShardConsumer {
  readonly concurrency: number;
  readonly processor: ShardProcessor;
  readonly inFlight: Map<string, { controller: AbortController; done: Promise<void> }>;
  readonly shutdownCancelled: Set<string>;
  closing: boolean;
}

/**
 * The embedded-mode shard queue: in-process, with the same semantics as the BullMQ one —
 * per-consumer concurrency, attempts with exponential backoff, one AbortSignal per delivery,
 * unrecoverable `aborted`/`invalid_job` failures, and shutdown requeues that spend no attempt.
 * Jobs live in memory: they do not survive the process (embedded mode fails interrupted runs
 * on restart instead).
 */
export function memoryShardQueue(): ShardQueue {
  const waiting: Entry[] = [];
  const delayed = new Map<string, Entry>();
  const known = new Set<string>();
  const consumers = new Set<Consumer>();

  const pump = () => {
    for (const consumer of consumers) {
      while (!consumer.closing && consumer.inFlight.size < consumer.concurrency) {
        const entry = waiting.shift();
        if (!entry) return;
        start(consumer, entry);
      }
    }
  };

  const finish = (entry: Entry) => {
    known.delete(entry.id);
  };

  const start = (consumer: Consumer, entry: Entry) => {
    entry.attemptsStarted++;
    const controller = new AbortController();
    const run = async () => {
      try {
        await consumer.processor({
          id: entry.id,
          data: entry.data,
          attempt: entry.attemptsMade + 1,
          maxAttempts: entry.options.attempts,
          redelivered: entry.attemptsStarted > 1,
          signal: controller.signal,
          cancel: (reason) => controller.abort(reason),
        });
        finish(entry);
      } catch (err) {
        if (consumer.shutdownCancelled.delete(entry.id) || isRequeue(err)) {
          waiting.unshift(entry);
        } else if (isUnrecoverable(err)) {
          finish(entry);
        } else {
          entry.attemptsMade++;
          if (entry.attemptsMade >= entry.options.attempts) {
            finish(entry);
          } else {
            // BullMQ's exponential backoff, no jitter: the same delays in both queues.
            const delay = backoffDelay(entry.attemptsMade, {
              initialMs: entry.options.backoffMs,
              maxMs: Number.MAX_SAFE_INTEGER,
              jitter: 0,
            });
            delayed.set(entry.id, entry);
            entry.timer = setTimeout(() => {
              delayed.delete(entry.id);
              waiting.push(entry);
              pump();
            }, delay);
          }
        }
      } finally {
        consumer.inFlight.delete(entry.id);
        consumer.shutdownCancelled.delete(entry.id);
        pump();
      }
    };
    // Registered before the processor runs so cancel() reaches even a synchronous start.
    const slot = { controller, done: Promise.resolve() };
    consumer.inFlight.set(entry.id, slot);
    slot.done = run();
  };

  return {
    kind: 'memory',
    async add(jobs, options) {
      for (const data of jobs) {
        const id = shardJobId(data.runId, data.shardIndex);
        if (known.has(id)) continue;
        known.add(id);
        waiting.push({ id, data, options, attemptsMade: 0, attemptsStarted: 0 });
      }
      pump();
    },
    async missing(jobIds) {
      return jobIds.filter((id) => !known.has(id));
    },
    async removeWaiting(runId, shardCount) {
      let removed = 0;
      for (let i = 0; i < shardCount; i++) {
        const id = shardJobId(runId, i);
        const at = waiting.findIndex((e) => e.id === id);
        if (at !== -1) {
          waiting.splice(at, 1);
          known.delete(id);
          removed++;
        }
        const later = delayed.get(id);
        if (later) {
          clearTimeout(later.timer);
          delayed.delete(id);
          known.delete(id);
          removed++;
        }
      }
      return removed;
    },
    consume(processor, { concurrency = 1 } = {}) {
      const consumer: Consumer = {
        concurrency: Math.max(1, concurrency),
        processor,
        inFlight: new Map(),
        shutdownCancelled: new Set(),
        closing: false,
        get active() {
          return consumer.inFlight.size;
        },
        cancel(jobId, reason) {
          const slot = consumer.inFlight.get(jobId);
          if (!slot) return false;
          slot.controller.abort(reason);
          return true;
        },
        async close(deadlineMs = 0) {
          consumer.closing = true;
          const all = () => Promise.all([...consumer.inFlight.values()].map((s) => s.done));
          if (!(await settlesWithin(all(), deadlineMs))) {
            for (const [id, slot] of consumer.inFlight) {
              consumer.shutdownCancelled.add(id);
              slot.controller.abort(SHUTDOWN_REASON);
            }
            await all();
          }
          consumers.delete(consumer);
          pump();
        },
      };
      consumers.add(consumer);
      queueMicrotask(pump);
      return consumer;
    },
    async close() {
      await Promise.all([...consumers].map((c) => c.close(0)));
      for (const entry of delayed.values()) clearTimeout(entry.timer);
      delayed.clear();
    },
  };
}
