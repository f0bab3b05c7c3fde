import { hostname } from 'node:os';
import { buildDistributedCore, createOutboundParts, retentionMetrics } from '@x/app-kit';
import {
  createAbortRun,
  createCallbackOutbox,
  createRunStopService,
  createShardWorker,
} from '@x/shard-worker';
import { createStopJobsConsumer } from '@x/stop-jobs';
import type { Logger } from 'pino';
import type { WorkerConfig } from './config/load-config.js';

export interface WorkerSystem {
  readonly metricsSources: readonly (readonly [string, () => object])[];
  /** Starts the abort subscriber (with reconcile), the stop-jobs consumer and the shard worker. */
  start(): Promise<void>;
  /** Graceful: stop taking shards, let in-flight ones finish for `deadlineMs`, requeue the rest, close. */
  close(deadlineMs: number): Promise<void>;
}

/**
 * A worker replica: BullMQ shard consumer, run-abort subscriber (with reconcile on start, on
 * every reconnect and on a sweep), the callback outbox, and a member of the stop-jobs consumer
 * group: each stop job is one call of the abort use case, whose callbacks leave through this
 * worker's outbox. Events go to the same Redis history the api replicas stream from. Like every
 * replica it runs the enqueuer and the repair sweep (see buildDistributedCore).
 */
export async function buildWorker(config: WorkerConfig, logger: Logger): Promise<WorkerSystem> {
  const core = await buildDistributedCore({
    redis: config.redis,
    databaseUrl: config.databaseUrl,
    prefix: config.prefix,
    logger,
    connectionName: 'x-worker',
    poolMax: config.databasePoolMax,
    preparedStatements: config.databasePreparedStatements,
    queue: { lockDurationMs: config.stalledMs, stalledIntervalMs: config.stalledMs },
    repairIntervalMs: config.repairIntervalMs,
    queuePartitions: config.queuePartitions,
    shardQueue: config.shardQueue,
    retention: config.retention,
    dispatch: config.dispatch,
    eventBuffer: config.eventBuffer,
    emitCoalesceMs: config.eventCoalesceMs,
  });
  const { redis, store, events, queue, registry, aborter, enqueuer: outboxFeed } = core;
  const { executors, callback } = createOutboundParts({ ...config, logger });
  const worker = createShardWorker({
    queue,
    store,
    events,
    aborter,
    registry,
    executors,
    concurrency: config.concurrency,
    // A run's events wait on this process instead (WORKER_EVENT_COALESCE_MS), where the
    // events of its other shards here can join them: a shard's own linger would add to it.
    resultLingerMs: 0,
    siblingBeginWindowMs: config.siblingBeginMs,
    callback,
    logger,
    autorun: false,
    // Fair dispatch: a shard's end frees a place in its workspace's share; the dispatcher
    // releases the next ones in batches of ends (one pass per end cost throughput).
    ...(outboxFeed.mode === 'fair' && { onShardSettled: outboxFeed.shardSettled }),
  });
  // Delivers callbacks whose sender died or failed (at-least-once, same Idempotency-Key), and
  // those of aborts: the api replicas send none.
  const outbox = createCallbackOutbox({ store, sender: callback, logger });
  const abort = createAbortRun({ store, aborter, queue, events, outbox, logger });
  const consumer = createStopJobsConsumer({
    redis,
    prefix: config.prefix,
    service: createRunStopService(abort),
    consumerName: `worker-${hostname()}-${process.pid}`,
    logger,
  });

  return {
    metricsSources: [
      ['bus', () => core.bus.metrics()],
      ['run_events', () => events.metrics()],
      ['run_abort', () => aborter.metrics()],
      ['shard_worker', () => worker.metrics()],
      ['stop_jobs', () => consumer.metrics()],
      ['callback', () => callback.metrics()],
      ['callback_outbox', () => outbox.metrics()],
      ['abort', () => abort.metrics()],
      [core.enqueuer.mode === 'fair' ? 'dispatch' : 'enqueue', () => core.enqueuer.metrics()],
      ['shard_repair', () => core.repair.metrics()],
      ...retentionMetrics(core.retention),
      ['workspace_feed', () => core.feed.metrics()],
    ],
    async start() {
      await aborter.start();
      await consumer.start();
      worker.start();
      outbox.start();
    },
    async close(deadlineMs) {
      await worker.close(deadlineMs);
      await consumer.close();
      await abort.close();
      await outbox.close();
      await core.close();
    },
  };
}
