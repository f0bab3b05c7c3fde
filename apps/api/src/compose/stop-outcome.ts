import type { RunStatus } from '@x/run-store';
import type { RunStopService } from '@x/shard-worker';
import { ApiError } from '../http/api-error.js';
import type { AbortOutcome } from '../http/api-services.js';

/**
 * Applies a user abort through the same stop service the stop-jobs consumers run, so the
 * one that wins the `aborted` write (here, usually) emits the single `done` and callback.
 */
export async function stopNow(
  service: RunStopService,
  runId: string,
  requestedBy: string,
): Promise<AbortOutcome> {
  const result = await service.stop({
    runId,
    reason: 'user_request',
    requestedAtMs: Date.now(),
    requestedBy,
    entryId: `direct-${Date.now()}`,
  });
  if (result.errorCode === 'not_found') throw new ApiError('not_found', 'run not found');
  const status = result.finalStatus as RunStatus;
  return { aborted: status === 'aborted', won: result.errorCode === '', status };
}
