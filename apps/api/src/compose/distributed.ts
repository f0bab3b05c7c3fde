import { buildDistributedCore, retentionMetrics } from '@x/app-kit';
import { createAbortRun, createCoordinator } from '@x/shard-worker';
import type { Logger } from 'pino';
import type { DistributedConfig } from '../config/load-config.js';
import { toRunDto } from '../http/run-dto.js';
import { workspaceLimits } from '../http/workspace-limits.js';
import { callbackSigningPolicy } from './callback-signing.js';
import { withDurableStop } from './durable-stop.js';
import { startIdempotencyKeySweep } from './idempotency-key-sweep.js';
import { outboundChecker } from './outbound-check.js';
import type { System } from './system.js';

/**
 * An api replica of a fleet: Redis pub/sub bus, Redis event history, BullMQ producer,
 * PostgreSQL. Shards run on apps/worker. An abort is applied here at once (status written,
 * published to every worker, `done` emitted) and followed by a durable stop job, so a worker
 * that missed the publish still stops its shards. No callback leaves from here: the abort's
 * stays pending in the store's outbox until a worker sends it.
 */
export async function buildDistributed(config: DistributedConfig, logger: Logger): Promise<System> {
  // No shards run here: the aborter only writes and publishes (never started, no sweeps).
  const core = await buildDistributedCore({
    redis: config.redis,
    databaseUrl: config.databaseUrl,
    prefix: config.prefix,
    logger,
    connectionName: 'x-api',
    poolMax: config.databasePoolMax,
    preparedStatements: config.databasePreparedStatements,
    repairIntervalMs: config.repairIntervalMs,
    queuePartitions: config.queuePartitions,
    shardQueue: config.shardQueue,
    retention: config.retention,
    dispatch: config.dispatch,
    eventBuffer: config.eventBuffer,
  });
  const { redis, store, events, feed, queue, aborter, enqueuer } = core;
  // A run is written to PostgreSQL and answered; the enqueuer gets it to Redis when it can.
  // No executors: POST /runs's schema (createRunSchema) already held every test to its
  // executor's schema, the same one the coordinator would apply again.
  const coordinator = createCoordinator({ store, enqueuer });
  // No outbox: an api replica sends no callback.
  const abort = createAbortRun({ store, aborter, queue, events, logger });
  const keySweep = startIdempotencyKeySweep(store, logger);
  let stopJobErrors = 0;
  const abortRun = withDurableStop(abort.abortRun, {
    redis, // the event log's connection too: see durable-stop.ts
    prefix: config.prefix,
    logger,
    onError: () => {
      stopJobErrors++;
    },
  });

  return {
    mode: 'distributed',
    events,
    feed,
    limits: workspaceLimits(config.rateLimits, { redis, prefix: config.prefix }),
    services: {
      store,
      createRun: (input) => coordinator.enqueueRun(input),
      createRunOnce: (input, idempotency) => coordinator.enqueueRunOnce(input, idempotency),
      abortRun,
      runCreated: (run) => void feed.created(run.workspaceId, toRunDto(run)),
      checkOutboundUrl: outboundChecker({ ...config, logger }),
      callbackRefusal: callbackSigningPolicy(config),
      readiness: () => core.readiness(),
    },
    metricsSources: [
      ['bus', () => core.bus.metrics()],
      ['run_events', () => events.metrics()],
      ['run_abort', () => aborter.metrics()],
      ['abort', () => abort.metrics()],
      ['idempotency_keys', () => keySweep.metrics()],
      ['stop_requests', () => ({ errors: stopJobErrors })],
      [enqueuer.mode === 'fair' ? 'dispatch' : 'enqueue', () => enqueuer.metrics()],
      ['shard_repair', () => core.repair.metrics()],
      ...retentionMetrics(core.retention),
      ['workspace_feed', () => feed.metrics()],
    ],
    drain: async () => {},
    async close() {
      keySweep.close();
      await abort.close();
      await core.close();
    },
  };
}
