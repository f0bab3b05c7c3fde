import { backoffDelay, sleep } from '@x/kernel';
import { RunStoreError } from '@x/run-store';

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
  // Doubling waits, no jitter: one worker retrying its own write has no herd to spread.
  const backoff = {
    initialMs: opts.firstWaitMs ?? 500,
    maxMs: opts.maxWaitMs ?? 15_000,
    jitter: 0,
  };
  for (let attempt = 1; ; attempt++) {
    const waitMs = backoffDelay(attempt, backoff);
    try {
      return await write();
    } catch (err) {
      const unavailable = err instanceof RunStoreError && err.code === 'unavailable';
      if (!unavailable || opts.signal.aborted || Date.now() + waitMs > giveUpAt) throw err;
      opts.onRetry?.(err, waitMs);
      await sleep(waitMs, { signal: opts.signal }).catch(() => {
        throw err;
      });
    }
  }
}
