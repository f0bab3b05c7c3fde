import { mkdirSync } from 'node:fs';
import {
  createOutboundParts,
  retentionMetrics,
  startRetention,
  storeWorkspaceFeed,
} from '@x/app-kit';
import { createBus, memoryTransport } from '@x/pubsub-core';
import { createRunAborter, createShardRegistry } from '@x/run-abort';
import { createRunStore, migrate, openPglite, openPostgres } from '@x/run-store';
import {
  createAbortRun,
  createCallbackOutbox,
  createCoordinator,
  createOutboxFeed,
  createShardWorker,
  memoryShardQueue,
} from '@x/shard-worker';
import { createRunEvents, memoryEventLog } from '@x/sse-relay';
import type { Logger } from 'pino';
import type { EmbeddedConfig } from '../config/load-config.js';
import { toRunDto } from '../http/run-dto.js';
import { workspaceLimits } from '../http/workspace-limits.js';
import { callbackSigningPolicy } from './callback-signing.js';
import { startIdempotencyKeySweep } from './idempotency-key-sweep.js';
import { outboundChecker } from './outbound-check.js';
import type { System } from './system.js';

/** The error written on runs a previous process left queued or running. */
export const INTERRUPTED_ERROR =
  'interrupted: the server stopped while this run was in progress; embedded mode does not resume runs (start it again)';

/**
 * One process, api and worker together: memory bus, in-process queue and event history,
 * PGlite files under DATA_DIR (or DATABASE_URL when set). Runs persist across restarts; a
 * run a previous process left queued or running has lost its in-memory queue, so it is
 * marked failed with {@link INTERRUPTED_ERROR} at start rather than silently resumed.
 */
export async function buildEmbedded(config: EmbeddedConfig, logger: Logger): Promise<System> {
  let db: Awaited<ReturnType<typeof openPglite>>;
  if (config.databaseUrl) {
    db = openPostgres(config.databaseUrl);
  } else {
    mkdirSync(config.dataDir, { recursive: true });
    db = await openPglite(config.dataDir);
  }
  await migrate(db);
  const store = createRunStore(db);
  const interrupted = await store.failInterruptedRuns(INTERRUPTED_ERROR);
  if (interrupted.length > 0) {
    logger.warn({ runs: interrupted }, `marked ${interrupted.length} interrupted run(s) failed`);
  }

  const bus = createBus({ transport: memoryTransport(), prefix: config.prefix, logger });
  const feed = storeWorkspaceFeed(
    createRunEvents({ bus, log: memoryEventLog(), logger }),
    store,
    logger,
  );
  const events = feed.events;
  const queue = memoryShardQueue();
  const registry = createShardRegistry();
  const aborter = createRunAborter({ bus, store, registry, logger });
  await aborter.start();
  const { executors, callback } = createOutboundParts({ ...config, logger });
  // The same outbox path as a fleet (fifo or fair); the in-process queue never refuses, so a
  // run reaches it right after its write. No repair sweep: this queue loses jobs only with the
  // process, and a restart fails those runs (above).
  const enqueuer = createOutboxFeed({ ...config.dispatch, store, queue, events, logger });
  const worker = createShardWorker({
    queue,
    store,
    events,
    aborter,
    registry,
    executors,
    concurrency: config.workerConcurrency,
    callback,
    logger,
    // Fair dispatch: shard ends ask for a pass in batches (see createFairDispatcher).
    ...(enqueuer.mode === 'fair' && { onShardSettled: enqueuer.shardSettled }),
  });
  enqueuer.start();
  // No executors: POST /runs's schema already held every test to its executor's schema.
  const coordinator = createCoordinator({ store, enqueuer });
  // Delivers callbacks a previous process or a failed POST left behind (interrupted runs too),
  // and the callback of each abort (api and worker are one process here).
  const outbox = createCallbackOutbox({ store, sender: callback, logger });
  outbox.start();
  // No stop jobs here: the api's call is the only entry, and the registry is this process's.
  const abort = createAbortRun({ store, aborter, queue, events, outbox, logger });
  const keySweep = startIdempotencyKeySweep(store, logger);
  const retention = startRetention(store, config.retention, logger);

  return {
    mode: 'embedded',
    events,
    feed,
    limits: workspaceLimits(config.rateLimits, undefined),
    services: {
      store,
      createRun: (input) => coordinator.enqueueRun(input),
      createRunOnce: (input, idempotency) => coordinator.enqueueRunOnce(input, idempotency),
      abortRun: abort.abortRun,
      runCreated: (run) => void feed.created(run.workspaceId, toRunDto(run)),
      checkOutboundUrl: outboundChecker({ ...config, logger }),
      callbackRefusal: callbackSigningPolicy(config),
      readiness: async () => ({
        database: await store.ping().then(
          () => true,
          () => false,
        ),
      }),
    },
    metricsSources: [
      ['bus', () => bus.metrics()],
      ['run_events', () => events.metrics()],
      ['run_abort', () => aborter.metrics()],
      ['shard_worker', () => worker.metrics()],
      ['callback', () => callback.metrics()],
      ['callback_outbox', () => outbox.metrics()],
      ['abort', () => abort.metrics()],
      [enqueuer.mode === 'fair' ? 'dispatch' : 'enqueue', () => enqueuer.metrics()],
      ['idempotency_keys', () => keySweep.metrics()],
      ...retentionMetrics(retention),
      ['workspace_feed', () => feed.metrics()],
    ],
    drain: (deadlineMs) => worker.close(deadlineMs),
    async close() {
      keySweep.close();
      await retention?.close();
      await worker.close(0);
      await enqueuer.close();
      await abort.close();
      await outbox.close();
      await aborter.close();
      await queue.close();
      feed.close();
      await events.close();
      await bus.close();
      await db.destroy();
    },
  };
}
