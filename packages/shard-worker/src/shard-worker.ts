import { type Logger, silentLogger } from '@x/kernel';
import type { RunStore } from '@x/run-store';
import type { CallbackSender } from './callback-sender.js';
import type { ExecutorRegistry } from './executor.js';
import { type RunEventsSink, safeBatchEmitter, safeEmitter } from './run-events-sink.js';
import { failRun, type OutcomeDeps } from './run-outcome.js';
import {
  createShardProcessor,
  type ProcessorAborter,
  type ProcessorRegistry,
} from './shard-processor.js';
import type { ShardConsumer, ShardQueue } from './shard-queue.js';
import { shardJobDataSchema } from './test-schemas.js';
import { tracedProcessor } from './trace-context.js';
import { emptyWorkerMetrics, type ShardWorkerMetrics } from './worker-metrics.js';

export interface ShardWorkerOptions {
  queue: ShardQueue;
  store: RunStore;
  /** Where `status`, `shard`, `result`, `progress` and `done` events go (`RunEvents` of @x/sse-relay). */
  events: RunEventsSink;
  /** `RunAborter` of @x/run-abort: the sibling abort after a failure. */
  aborter: ProcessorAborter;
  /** `ShardRegistry` of @x/run-abort, the one the aborter cancels. */
  registry: ProcessorRegistry;
  executors: ExecutorRegistry;
  /** Shards run at once by this worker. Default 1: executors may be heavy (browsers). */
  concurrency?: number;
  /** Sends the completion callback; without one, runs with a `callbackUrl` get none. */
  callback?: CallbackSender;
  logger?: Logger;
  /** Start consuming at once. Default true; false waits for `start()`. */
  autorun?: boolean;
  /**
   * How long a live `result` event (or a shard's `started`) waits to share one event call
   * with the events after it, in ms (a shard's last results always go with its completion
   * events). Default 20: not noticeable in a browser, and a shard of fast tests costs one
   * Redis call in all instead of one per test. 0 sends each event at once.
   */
  resultLingerMs?: number;
  /**
   * A shard's `progress` event is the run's counters as it sees them plus its own results.
   * A shard that ran longer than this many ms reads the run again first; a faster one uses
   * the run as read when it began, saving a statement per shard. Default 200: siblings that
   * finished within that window may be missing from its view (as with any concurrent
   * siblings); the finalizer always emits the exact final progress before `done`.
   */
  freshProgressAfterMs?: number;
  /**
   * A run's shards mostly start together on one worker. A shard's first try reads its run's
   * status from a sibling's begin made in this process at most this many ms ago (in flight or
   * done) instead of its own statement, when that begin saw the run live, none of its shards
   * completed, and the run sent to the queue whole (not by fair dispatch). Default 100; 0: every
   * shard runs its own begin. An abort committed meanwhile still stops the shard through the
   * shard registry, and its completion is refused (sibling-begins.ts).
   */
  siblingBeginWindowMs?: number;
  /**
   * While the event log is unavailable, how long a finished shard waits for its run's
   * buffered events before recording its completion anyway (they are then dropped behind a
   * gap). Default 60,000. A run abort or the shutdown deadline ends the wait too.
   */
  eventSettleTimeoutMs?: number;
  /**
   * Called after every shard job this worker ran ends, whatever the outcome: fair dispatch
   * reports it to its dispatcher here (`shardSettled`), since the shard's slot in its
   * workspace's share is free.
   */
  onShardSettled?: () => void;
}

export interface ShardWorker {
  /** Starts consuming (idempotent). */
  start(): void;
  /**
   * Stops taking jobs, lets in-flight shards finish for up to `deadlineMs` (default 30 s),
   * then aborts the rest so another worker retries them (not a user abort: the run goes on),
   * and waits for pending callbacks. Leaves the queue, store, events and aborter open.
   */
  close(deadlineMs?: number): Promise<void>;
  metrics(): ShardWorkerMetrics & { activeShards: number; pendingCallbacks: number };
}

/**
 * Executes shard jobs from the queue: terminal-status guard and start (`beginShard`), the
 * shard's results and completion exactly once (`completeShardWithResults`) and, in the one
 * shard that completes a run, the finalization (`completed` first-writer-wins, one `done`,
 * one callback). A shard failing its last attempt, or a job this worker cannot run (failed on
 * its first attempt), fails the run and stops its siblings on every replica.
 *
 * @example
 * const worker = createShardWorker({
 *   queue: bullmqShardQueue({ connection: redis, prefix: 'x' }),
 *   store, events, aborter, registry,
 *   executors: createExecutorRegistry([demoExecutor()]),
 *   concurrency: 4,
 *   callback: createCallbackSender({ allowedHosts: [] }),
 * });
 * process.on('SIGTERM', () => worker.close(25_000));
 */
export function createShardWorker(opts: ShardWorkerOptions): ShardWorker {
  const logger = opts.logger ?? silentLogger;
  const metrics = emptyWorkerMetrics();
  const pending = new Set<Promise<unknown>>();
  const onEmitError = () => {
    metrics.emitErrors++;
  };
  const emit = safeEmitter(opts.events, logger, onEmitError);
  const deps: OutcomeDeps = {
    store: opts.store,
    emit,
    callback: opts.callback,
    logger,
    metrics,
    pending,
    lastEvent: opts.events.lastEvent?.bind(opts.events),
  };
  const processor = createShardProcessor({
    ...deps,
    aborter: opts.aborter,
    registry: opts.registry,
    executors: opts.executors,
    emitMany: safeBatchEmitter(opts.events, logger, onEmitError),
    resultLingerMs: opts.resultLingerMs ?? 20,
    freshProgressAfterMs: opts.freshProgressAfterMs ?? 200,
    siblingBeginWindowMs: opts.siblingBeginWindowMs ?? 100,
    settled: opts.events.settled?.bind(opts.events),
    settleTimeoutMs: opts.eventSettleTimeoutMs ?? 60_000,
  });
  let consumer: ShardConsumer | undefined;
  let closing: Promise<void> | undefined;

  const onAbandoned = async ({
    id,
    data,
    reason,
  }: {
    id: string;
    data: unknown;
    reason: string;
  }) => {
    metrics.abandonedJobs++;
    const parsed = shardJobDataSchema.safeParse(data);
    if (!parsed.success) {
      logger.error({ jobId: id, reason }, 'abandoned shard job with an invalid payload');
      return;
    }
    const { runId, shardIndex } = parsed.data;
    await failRun(
      { ...deps, aborter: opts.aborter },
      runId,
      `shard ${shardIndex} abandoned: ${reason}`,
    );
  };

  const worker: ShardWorker = {
    start() {
      if (consumer || closing) return;
      const settled = opts.onShardSettled;
      const run: typeof processor = settled
        ? async (job) => {
            try {
              await processor(job);
            } finally {
              settled();
            }
          }
        : processor;
      consumer = opts.queue.consume(tracedProcessor(run), {
        concurrency: opts.concurrency ?? 1,
        onAbandoned,
      });
    },
    close(deadlineMs = 30_000) {
      closing ??= (async () => {
        await consumer?.close(deadlineMs);
        await Promise.allSettled([...pending]);
      })();
      return closing;
    },
    metrics: () => ({
      ...metrics,
      activeShards: consumer?.active ?? 0,
      pendingCallbacks: pending.size,
    }),
  };
  if (opts.autorun ?? true) worker.start();
  return worker;
}
