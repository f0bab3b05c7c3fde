import { backoffDelay, sleep } from '@x/kernel';

/**
 * Runs `write` up to `tries` times, waiting 100 ms, 200 ms, … (at most 2 s) between tries:
 * for the queue's settle writes, which nothing else would repeat. A write that never lands
 * is not lost for good: the job's lease lapses and a reaper redelivers it.
 */
export async function retryRedisWrite<T>(
  write: () => Promise<T>,
  opts: { tries?: number; onError: (err: unknown) => void },
): Promise<T> {
  const tries = opts.tries ?? 5;
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      opts.onError(err);
      if (attempt >= tries) throw err;
      await sleep(backoffDelay(attempt, { initialMs: 100, maxMs: 2_000 }));
    }
  }
}
