import { backoffDelay } from '@x/kernel';

export interface PeriodicTaskOptions {
  /** One pass; a throw counts as a failure and backs the next timed pass off. */
  run: () => Promise<void>;
  /** Pause between passes while they succeed. */
  intervalMs: number;
  /** Called with each failure and the count of failures in a row. */
  onError: (err: unknown, failures: number) => void;
}

export interface PeriodicTask {
  /** Starts the timer (idempotent); the first pass runs at once. */
  start(): void;
  /**
   * Runs a pass now, or once more right after the one running (never two at once); answers
   * when that pass is done. Works before `start` too; never rejects.
   */
  wake(): Promise<void>;
  /** Stops the timer and waits for the pass in flight. */
  close(): Promise<void>;
}

/**
 * A pass on a timer that can also be woken: one pass at a time, wakes during a pass coalesce
 * into one more, and failures back the timer off (up to a minute, or the interval when
 * longer) so an outage is not hammered; a wake (the dependency is back) runs at once anyway.
 * The timer is unref'd.
 */
export function periodicTask({ run, intervalMs, onError }: PeriodicTaskOptions): PeriodicTask {
  let started = false;
  let closed = false;
  let failures = 0;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const loop = async () => {
    do {
      again = false;
      try {
        await run();
        failures = 0;
      } catch (err) {
        failures++;
        onError(err, failures);
      }
    } while (again && !closed);
  };

  const schedule = () => {
    if (!started || closed) return;
    clearTimeout(timer);
    const delay =
      failures === 0
        ? intervalMs
        : backoffDelay(failures + 1, {
            initialMs: intervalMs,
            maxMs: Math.max(intervalMs, 60_000),
            jitter: 0,
          });
    timer = setTimeout(() => void wake(), delay);
    timer.unref();
  };

  const wake = (): Promise<void> => {
    if (closed) return running ?? Promise.resolve();
    if (running) {
      again = true;
      return running;
    }
    clearTimeout(timer);
    running = loop().finally(() => {
      running = undefined;
      schedule();
    });
    return running;
  };

  return {
    start() {
      if (started || closed) return;
      started = true;
      void wake();
    },
    wake,
    async close() {
      closed = true;
      clearTimeout(timer);
      await running;
    },
  };
}
