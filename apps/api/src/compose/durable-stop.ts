import type { AbortRun } from '@x/shard-worker';
import { requestStop } from '@x/stop-jobs';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { settleWithin } from './settle-within.js';

/** How long an abort's answer waits for its stop job to be queued; it goes on after that. */
const STOP_JOB_WAIT_MS = 2_000;

export interface DurableStopOptions {
  /**
   * Also tells requestStop the stream names: a `Cluster` (`isCluster`) uses tagged ones.
   */
  redis: Pick<Redis, 'call' | 'isCluster'>;
  prefix: string;
  logger: Logger;
  /** Counts stop jobs that could not be queued (the abort stands; reconcile covers it). */
  onError(): void;
}

/**
 * The abort of an api replica in a fleet: the abort use case, then, for a run that is aborted,
 * a durable stop job (@x/stop-jobs) — the second path to the workers after the publish, and
 * the one that makes a worker send the callback at once (an api replica sends none). A
 * repeated abort queues one again: it may be the retry of one Redis refused.
 */
export function withDurableStop(abortRun: AbortRun, opts: DurableStopOptions): AbortRun {
  return async (runId, abortOpts) => {
    const outcome = await abortRun(runId, abortOpts);
    // A finished (or unknown) run needs no stop job: nothing of it can be running.
    if (outcome?.run.status !== 'aborted') return outcome;
    const stop = () =>
      requestStop(
        opts.redis,
        { prefix: opts.prefix },
        {
          runId: outcome.run.id,
          reason: abortOpts.reason ?? 'user_request',
          ...(abortOpts.requestedBy !== null && { requestedBy: abortOpts.requestedBy }),
        },
      );
    // No worker may read the stop job before the winner's `done` is out, so the XADD waits
    // for the append's reply: on a cluster the history and the stop stream live on different
    // primaries, and on one server the append may still sit in the emit coalescer or buffer.
    // The answer waits one round trip more; the `done` itself does not.
    const ordered = outcome.announced ? outcome.announced.then(stop) : stop();
    const queued = ordered.catch((err: unknown) => {
      // Written and published already; workers' reconcile sweeps catch anything the publish
      // missed, and their outbox sweep sends the callback. Counted and logged, not failed.
      opts.onError();
      opts.logger.warn({ err, runId }, 'could not queue the durable stop job');
    });
    // With Redis down it must not hold the answer (the status is written: the abort stands).
    await settleWithin(queued, STOP_JOB_WAIT_MS);
    return outcome;
  };
}
