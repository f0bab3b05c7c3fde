import type { RunStore } from '@x/run-store';
import type { Logger } from 'pino';

export interface IdempotencyKeySweep {
  close(): void;
  metrics(): { sweeps: number; deleted: number; errors: number };
}

/**
 * Deletes `Idempotency-Key` rows past 48 h (run-store's default), soon after start and then
 * every `intervalMs` (default 1 h). Every replica runs one: the delete is idempotent, and a
 * key past 48 h is never answered anyway (a new run takes it over). Errors are logged and
 * counted; the next round tries again.
 */
export function startIdempotencyKeySweep(
  store: Pick<RunStore, 'deleteIdempotencyKeys'>,
  logger: Logger,
  intervalMs = 3_600_000,
): IdempotencyKeySweep {
  const counters = { sweeps: 0, deleted: 0, errors: 0 };
  const sweep = async () => {
    counters.sweeps++;
    try {
      const deleted = await store.deleteIdempotencyKeys();
      counters.deleted += deleted;
      if (deleted > 0) logger.info({ deleted }, 'deleted expired idempotency keys');
    } catch (err) {
      counters.errors++;
      logger.warn({ err }, 'idempotency key sweep failed; will retry');
    }
  };
  const first = setTimeout(sweep, Math.min(intervalMs, 60_000));
  const timer = setInterval(sweep, intervalMs);
  first.unref();
  timer.unref();
  return {
    close() {
      clearTimeout(first);
      clearInterval(timer);
    },
    metrics: () => ({ ...counters }),
  };
}
