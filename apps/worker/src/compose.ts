import { hostname } from 'node:os';
import { createBus, redisTransport } from '@x/pubsub-core';
import { createRunAborter, createShardRegistry } from '@x/run-abort';
import { createRunStore, migrate, openPostgres } from '@x/run-store';
import {
  bullmqShardQueue,
  createCallbackOutbox,
  createCallbackSender,
  createExecutorRegistry,
  createRunStopService,
  createShardWorker,
  demoExecutor,
  httpExecutor,
} from '@x/shard-worker';
import { createRunEvents, redisEventLog } from '@x/sse-relay';
import { createStopJobsConsumer } from '@x/stop-jobs';
import { Redis } from 'ioredis';
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
 * every reconnect and on a sweep), and a member of the stop-jobs consumer group. Events go
 * to the same Redis history the api replicas stream from.
 */
export async function buildWorker(config: WorkerConfig, logger: Logger): Promise<WorkerSystem> {
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2, connectionName: 'x-worker' });
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  const db = openPostgres(config.databaseUrl, { max: Math.max(10, config.concurrency * 2) });
  await migrate(db);
  const store = createRunStore(db);
  const bus = createBus({
    transport: redisTransport({ url: config.redisUrl }),
    prefix: config.prefix,
    logger,
  });
  const events = createRunEvents({
    bus,
    log: redisEventLog({ redis, prefix: config.prefix }),
    logger,
  });
  const queue = bullmqShardQueue({
    connection: redis,
    prefix: config.prefix,
    logger,
    lockDurationMs: config.stalledMs,
    stalledIntervalMs: config.stalledMs,
  });
  const registry = createShardRegistry();
  const aborter = createRunAborter({ bus, store, registry, logger });
  const executors = createExecutorRegistry([
    demoExecutor(),
    httpExecutor({ allowedHosts: config.httpAllowedHosts }),
  ]);
  const callback = createCallbackSender({ allowedHosts: config.callbackAllowedHosts, logger });
  const worker = createShardWorker({
    queue,
    store,
    events,
    aborter,
    registry,
    executors,
    concurrency: config.concurrency,
    callback,
    logger,
    autorun: false,
  });
  const stopService = createRunStopService({ store, aborter, queue, events, callback, logger });
  // Delivers callbacks whose sender died or failed (at-least-once, same Idempotency-Key).
  const outbox = createCallbackOutbox({ store, sender: callback, logger });
  const consumer = createStopJobsConsumer({
    redis,
    prefix: config.prefix,
    service: stopService,
    consumerName: `worker-${hostname()}-${process.pid}`,
    logger,
  });

  return {
    metricsSources: [
      ['bus', () => bus.metrics()],
      ['run_events', () => events.metrics()],
      ['run_abort', () => aborter.metrics()],
      ['shard_worker', () => worker.metrics()],
      ['stop_jobs', () => consumer.metrics()],
      ['callback', () => callback.metrics()],
      ['callback_outbox', () => outbox.metrics()],
    ],
    async start() {
      await aborter.start();
      await consumer.start();
      worker.start();
      outbox.start();
    },
    async close(deadlineMs) {
      await worker.close(deadlineMs);
      await outbox.close();
      await consumer.close();
      await aborter.close();
      await queue.close();
      await events.close();
      await bus.close();
      await db.destroy();
      redis.disconnect();
    },
  };
}
