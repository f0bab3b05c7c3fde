import type { StopService, StopServiceResult } from '@x/stop-jobs';
import type { AbortRun, AbortRunOutcome } from './abort-run.js';

/**
 * The one mapping from the abort use case's answer to a stop result (the codes are
 * @x/stop-jobs'): the run aborted by this call is a plain success, a run already terminal a
 * `replay_no_op` success (a replayed or duplicate stop), an unknown run a `not_found` failure.
 */
export function stopResultOf(
  runId: string,
  outcome: AbortRunOutcome | undefined,
): StopServiceResult {
  if (!outcome) {
    return {
      outcome: 'failure',
      errorCode: 'not_found',
      errorMessage: `run ${runId} not found`,
      finalStatus: '',
    };
  }
  const { won, run } = outcome;
  if (won) return { outcome: 'success', errorCode: '', errorMessage: '', finalStatus: run.status };
  return {
    outcome: 'success',
    errorCode: 'replay_no_op',
    errorMessage: `run already ${run.status}`,
    finalStatus: run.status,
  };
}

export interface RunStopServiceOptions {
  /** The abort use case (`createAbortRun(...).abortRun`). */
  abortRun: AbortRun;
}

/**
 * The @x/stop-jobs `StopService` of a worker: each stop job is one call of the abort use
 * case, its answer mapped by {@link stopResultOf}. A store error throws, so the stop job is
 * retried.
 *
 * @example
 * const abort = createAbortRun({ store, aborter, queue, events, outbox });
 * createStopJobsConsumer({ redis, prefix, consumerName, service: createRunStopService(abort) });
 */
export function createRunStopService(opts: RunStopServiceOptions): StopService {
  return {
    async stop(job, { signal }) {
      const { runId, reason, requestedBy } = job;
      return stopResultOf(runId, await opts.abortRun(runId, { requestedBy, reason, signal }));
    },
  };
}
