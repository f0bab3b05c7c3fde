import { createBus, redisTransport } from '@x/pubsub-core';
import { createRunAborter, createShardRegistry } from '@x/run-abort';
import { createRunStore, migrate, openPostgres } from '@x/run-store';
import {
  bullmqShardQueue,
  createCallbackSender,
  createCoordinator,
  createExecutorRegistry,
  createRunStopService,
  demoExecutor,
  httpExecutor,
} from '@x/shard-worker';
import { createRunEvents, redisEventLog } from '@x/sse-relay';
import { requestStop } from '@x/stop-jobs';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { DistributedConfig } from '../config/load-config.js';
import type { AbortOutcome } from '../http/api-services.js';
import { ZERO_UUID } from './embedded.js';
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
  // Commands fail after a few retries instead of queueing forever while Redis is down:
  // an HTTP request should get an error, not hang.
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2, connectionName: 'x-api' });
  redis.on('error', (err) => logger.warn({ err: err.message }, 'redis connection error'));
  const db = openPostgres(config.databaseUrl, { max: 20 });
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
  const queue = bullmqShardQueue({ connection: redis, prefix: config.prefix, logger });
  // No shards run here: the aborter only writes and publishes (never started, no sweeps).
  const aborter = createRunAborter({ bus, store, registry: createShardRegistry(), logger });
  const executors = createExecutorRegistry([
    demoExecutor(),
    httpExecutor({ allowedHosts: config.httpAllowedHosts }),
  ]);
  const callback = createCallbackSender({ allowedHosts: config.callbackAllowedHosts, logger });
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
      readiness: async () => ({
        database: await store.getStatus(ZERO_UUID).then(
          () => true,
          () => false,
        ),
        redis: await redis.ping().then(
          (r) => r === 'PONG',
          () => false,
        ),
        bus: bus.state === 'connected',
      }),
    },
    metricsSources: [
      ['bus', () => bus.metrics()],
      ['run_events', () => events.metrics()],
      ['run_abort', () => aborter.metrics()],
      ['callback', () => callback.metrics()],
      ['stop_requests', () => ({ errors: stopJobErrors })],
    ],
    drain: async () => {},
    async close() {
      await aborter.close();
      await queue.close();
      await events.close();
      await bus.close();
      await db.destroy();
      redis.disconnect();
    },
  };
}
