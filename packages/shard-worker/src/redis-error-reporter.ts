import type { Logger } from '@x/kernel';
import type { RedisQueueCounters } from './redis-queue-counters.js';

/** Makes the handler for a failed Redis call: `what` is the message it is logged with. */
export type RedisErrorReporter = (what: string) => (err: unknown) => void;

/**
 * Counts and logs a failed Redis call of a consumer's loops, timers and settle writes: each
 * retries (or leaves the job to a reaper) by itself, so a failure is only reported, never
 * thrown at the caller.
 */
export function redisErrorReporter(
  counters: RedisQueueCounters,
  logger: Logger,
): RedisErrorReporter {
  return (what) => (err) => {
    counters.redisErrors++;
    logger.warn({ err: err instanceof Error ? err.message : String(err) }, what);
  };
}
