import { describeIssues } from './codec.js';
import { errorMessage } from './redis-replies.js';
import {
  type StopJob,
  type StopService,
  type StopServiceResult,
  stopServiceResultSchema,
} from './stop-service.js';

/**
 * One deadline for all the stop calls of a batch: a single timer and signal per batch
 * rather than per call, which kept the hot path allocation-heavy. Calls still running when
 * it expires count as failed (and are retried); their signal is aborted.
 */
export interface BatchDeadline {
  readonly signal: AbortSignal;
  readonly expired: Promise<never>;
  clear(): void;
}

export function batchDeadline(timeoutMs: number): BatchDeadline {
  const controller = new AbortController();
  let expire!: (error: Error) => void;
  const expired = new Promise<never>((_, reject) => {
    expire = reject;
  });
  expired.catch(() => {}); // observed through Promise.race; not an unhandled rejection
  const timer = setTimeout(() => {
    const error = new Error(`stop calls of the batch timed out after ${timeoutMs} ms`);
    controller.abort(error);
    expire(error);
  }, timeoutMs);
  return { signal: controller.signal, expired, clear: () => clearTimeout(timer) };
}

/**
 * Calls the service and checks its answer: a throw, the batch deadline and an answer
 * outside the contract all come back as `{ ok: false }` (the entry is retried).
 */
export async function callService(
  service: StopService,
  job: StopJob,
  deadline: BatchDeadline,
): Promise<{ ok: true; result: StopServiceResult } | { ok: false; error: string }> {
  if (deadline.signal.aborted) return { ok: false, error: errorMessage(deadline.signal.reason) };
  try {
    const answer = await Promise.race([
      service.stop(job, { signal: deadline.signal }),
      deadline.expired,
    ]);
    const parsed = stopServiceResultSchema.safeParse(answer);
    if (!parsed.success) {
      return {
        ok: false,
        error: `stop service answered outside the contract: ${describeIssues(parsed.error)}`,
      };
    }
    return { ok: true, result: parsed.data };
  } catch (error) {
    return { ok: false, error: errorMessage(error) };
  }
}
