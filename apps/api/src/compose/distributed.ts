import { buildDistributedCore, createOutboundParts } from '@x/app-kit';
import { createCoordinator, createRunStopService } from '@x/shard-worker';
import { requestStop } from '@x/stop-jobs';
import type { Logger } from 'pino';
import type { DistributedConfig } from '../config/load-config.js';
import type { AbortOutcome } from '../http/api-services.js';
import { outboundChecker } from './outbound-check.js';
import { settleWithin } from './settle-within.js';
import { stopNow } from './stop-outcome.js';
import type { System } from './system.js';

/** How long an abort's answer waits for its Redis-side steps; they go on after it. */
const FOLLOW_UP_WAIT_MS = 2_000;

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

  /**
   * The stop service writes the status first, then goes to Redis (`done`, queue cleanup).
   * If that part fails or hangs (Redis down), the abort stands once the status is written:
   * workers reconcile against the database. So answer from the status after a short wait.
   */
  async function abortNow(runId: string, requestedBy: string): Promise<AbortOutcome> {
    const stopping = stopNow(stopService, runId, requestedBy).then(
      (outcome) => ({ outcome }),
      (err: unknown) => ({ err }),
    );
    const settled = await settleWithin(stopping, FOLLOW_UP_WAIT_MS);
    if (settled && 'outcome' in settled) return settled.outcome;
    const status = await store.getStatus(runId);
    if (status !== 'aborted') {
      // Not written (yet): a slow database, or a real failure. Wait for it and report it.
      const last = settled ?? (await stopping);
      if ('err' in last) throw last.err;
      return last.outcome;
    }
    const followUp = (err: unknown) =>
      logger.warn({ err, runId }, 'abort written, but its follow-up failed (Redis?)');
    if (settled) followUp(settled.err);
    else void stopping.then((late) => 'err' in late && followUp(late.err));
    // Most likely this call's own write (the rest came after it); a label only.
    return { aborted: true, won: true, status };
  }

  return {
    mode: 'distributed',
    events,
    services: {
      store,
      createRun: (input) => coordinator.enqueueRun(input),
      async abortRun(runId, requestedBy) {
        const outcome = await abortNow(runId, requestedBy);
        // A finished run needs no stop job: nothing of it can be running.
        if (!outcome.aborted) return outcome;
        const queued = requestStop(
          redis,
          { prefix: config.prefix },
          { runId, reason: 'user_request', requestedBy },
        ).catch((err) => {
          // The abort is already written and published; workers' reconcile sweeps catch
          // anything the publish missed. Counted and logged, not failed.
          stopJobErrors++;
          logger.warn({ err, runId }, 'could not queue the durable stop job');
        });
        // A second path to the workers: with Redis down it must not hold the answer.
        await settleWithin(queued, FOLLOW_UP_WAIT_MS);
        return outcome;
      },
      checkOutboundUrl: outboundChecker({ ...config, logger }),
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
