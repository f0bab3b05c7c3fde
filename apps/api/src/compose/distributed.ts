import { buildDistributedCore, createOutboundParts } from '@x/app-kit';
import { createCoordinator, createRunStopService } from '@x/shard-worker';
import { requestStop } from '@x/stop-jobs';
import type { Logger } from 'pino';
import type { DistributedConfig } from '../config/load-config.js';
import type { AbortOutcome } from '../http/api-services.js';
import { outboundChecker } from './outbound-check.js';
import { stopNow } from './stop-outcome.js';
import type { System } from './system.js';

/**
 * An api replica of a fleet: Redis pub/sub bus, Redis event history, BullMQ producer,
 * PostgreSQL. Shards run on apps/worker. An abort is applied here at once (status written,
 * `done` emitted, published to every worker) and also queued as a durable stop job, so a
 * worker that missed the publish still stops its shards.
 */
export async function buildDistributed(config: DistributedConfig, logger: Logger): Promise<System> {
  // No shards run here: the aborter only writes and publishes (never started, no sweeps).
  const core = await buildDistributedCore({
    redisUrl: config.redisUrl,
    databaseUrl: config.databaseUrl,
    prefix: config.prefix,
    logger,
    connectionName: 'x-api',
    poolMax: 20,
  });
  const { redis, store, events, queue, aborter } = core;
  const { executors, callback } = createOutboundParts({ ...config, logger });
  const coordinator = createCoordinator({ store, queue, executors });
  const stopService = createRunStopService({ store, aborter, queue, events, callback, logger });
  let stopJobErrors = 0;

  return {
    mode: 'distributed',
    events,
    services: {
      store,
      createRun: (input) => coordinator.enqueueRun(input),
      async abortRun(runId, requestedBy) {
        let outcome: AbortOutcome;
        try {
          outcome = await stopNow(stopService, runId, requestedBy);
        } catch (err) {
          // The status is written before anything touches Redis; if Redis failed after
          // that (queue cleanup, events), the abort stands: workers reconcile against the
          // database. Report it as done rather than as an error.
          const status = await store.getStatus(runId);
          if (status !== 'aborted') throw err;
          logger.warn({ err, runId }, 'abort written, but its follow-up failed (Redis?)');
          // Most likely this call's own write (the failure came after it); a label only.
          outcome = { aborted: true, won: true, status };
        }
        // A finished run needs no stop job: nothing of it can be running.
        if (!outcome.aborted) return outcome;
        try {
          await requestStop(
            redis,
            { prefix: config.prefix },
            { runId, reason: 'user_request', requestedBy },
          );
        } catch (err) {
          // The abort is already written and published; workers' reconcile sweeps catch
          // anything the publish missed. Counted and logged, not failed.
          stopJobErrors++;
          logger.warn({ err, runId }, 'could not queue the durable stop job');
        }
        return outcome;
      },
      checkOutboundUrl: outboundChecker(config.httpAllowedHosts, config.callbackAllowedHosts),
      readiness: () => core.readiness(),
    },
    metricsSources: [
      ['bus', () => core.bus.metrics()],
      ['run_events', () => events.metrics()],
      ['run_abort', () => aborter.metrics()],
      ['callback', () => callback.metrics()],
      ['stop_requests', () => ({ errors: stopJobErrors })],
    ],
    drain: async () => {},
    close: () => core.close(),
  };
}
