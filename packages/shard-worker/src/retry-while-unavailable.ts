import { RunStoreError } from '@x/run-store';
import { abortableSleep } from './abortable-sleep.js';

export interface RetryWhileUnavailableOptions {
  /** Stops waiting (the last error is thrown) when this aborts: a shutdown. */
  signal: AbortSignal;
  /** Give up after this long. Default 10 minutes. */
  deadlineMs?: number;
  /** First wait; doubles up to `maxWaitMs`. Defaults 500 and 15,000. */
  firstWaitMs?: number;
  maxWaitMs?: number;
  onRetry?: (err: unknown, waitMs: number) => void;
}

/**
 * Runs `write` again while the database is unreachable (RunStoreError `unavailable`), for
 * the writes nothing else would retry: when a shard's last attempt fails, its run's `failed`
 * status is the only record of the failure, and the job will not be delivered again. Any
 * other error is thrown at once.
 */
export async function retryWhileUnavailable<T>(
  write: () => Promise<T>,
  opts: RetryWhileUnavailableOptions,
): Promise<T> {
  const giveUpAt = Date.now() + (opts.deadlineMs ?? 600_000);
  let waitMs = opts.firstWaitMs ?? 500;
  for (;;) {
    try {
      return await write();
    } catch (err) {
      const unavailable = err instanceof RunStoreError && err.code === 'unavailable';
      if (!unavailable || opts.signal.aborted || Date.now() + waitMs > giveUpAt) throw err;
      opts.onRetry?.(err, waitMs);
      await abortableSleep(waitMs, opts.signal).catch(() => {
        throw err;
      });
      waitMs = Math.min(waitMs * 2, opts.maxWaitMs ?? 15_000);
    }
  }
}
