import { describeIssues } from './codec.js';
import { errorMessage } from './redis-replies.js';
import {
  type StopJob,
  type StopService,
  type StopServiceResult,
  stopServiceResultSchema,
} from './stop-service.js';

/**
 * Calls the service with a deadline and checks its answer: a throw, a timeout and an
 * answer outside the contract all come back as `{ ok: false }` (the entry is retried).
 */
export async function callService(
  service: StopService,
  job: StopJob,
  timeoutMs: number,
): Promise<{ ok: true; result: StopServiceResult } | { ok: false; error: string }> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new Error(`stop service timed out after ${timeoutMs} ms`);
        controller.abort(error);
        reject(error);
      }, timeoutMs);
    });
    const answer = await Promise.race([service.stop(job, { signal: controller.signal }), timeout]);
    const parsed = stopServiceResultSchema.safeParse(answer);
    if (!parsed.success) {
      return {
        ok: false as const,
        error: `stop service answered outside the contract: ${describeIssues(parsed.error)}`,
      };
    }
    return { ok: true as const, result: parsed.data };
  } catch (error) {
    return { ok: false as const, error: errorMessage(error) };
  } finally {
    clearTimeout(timer);
  }
}
