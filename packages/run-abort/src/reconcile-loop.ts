import type { Logger } from '@x/kernel';
import type { RunAborterMetrics } from './abort-metrics.js';
import type { AbortStore } from './abort-store.js';
import type { ShardRegistry } from './shard-registry.js';

export const RECONCILE_TRIGGERS = ['start', 'reconnect', 'sweep', 'manual'] as const;
export type ReconcileTrigger = (typeof RECONCILE_TRIGGERS)[number];

export interface ReconcileLoop {
  /** One pass: cancels local shards whose run the store says is terminal. Rejects if the store fails. */
  reconcile(): Promise<number>;
  /** A pass whose failure is counted and logged instead of thrown (timers, reconnect hooks). */
  reconcileSafe(trigger: ReconcileTrigger): Promise<number>;
  startSweeps(): void;
  close(): Promise<void>;
}

/**
 * Closes the gap pub/sub leaves (at-most-once: an abort published while a subscriber is
 * disconnected is gone): the store is the source of truth, so asking it which of the
 * locally running runs are terminal finds every abort the wire lost.
 *
 * Passes coalesce: a request during a pass schedules exactly one more pass after it, so a
 * reconnect during a slow sweep still reads the store after the reconnect, and a slow
 * store never accumulates a queue of passes.
 */
export function createReconcileLoop(opts: {
  store: AbortStore;
  registry: ShardRegistry;
  metrics: RunAborterMetrics;
  sweepIntervalMs: number;
  logger?: Logger;
}): ReconcileLoop {
  const { store, registry, metrics, sweepIntervalMs, logger } = opts;
  let running: Promise<number> | undefined;
  let queued: Promise<number> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const pass = async (): Promise<number> => {
    if (closed) return 0;
    metrics.reconcileSweeps++;
    const ids = registry.runIds();
    if (ids.length === 0) return 0;
    const terminal = await store.terminalRuns(ids);
    let cancelled = 0;
    for (const { id, status } of terminal) {
      cancelled += registry.abortAllShardsForRun(
        id,
        `run is ${status} (found by reconcile)`,
        status,
      );
    }
    metrics.reconcileShardsAborted += cancelled;
    if (cancelled > 0)
      logger?.info({ cancelled, runs: terminal.length }, 'run-abort: reconcile cancelled shards');
    return cancelled;
  };

  const reconcile = (): Promise<number> => {
    if (!running) {
      running = pass().finally(() => {
        running = undefined;
      });
      return running;
    }
    queued ??= running
      .catch(() => 0)
      .then(() => {
        queued = undefined;
        return reconcile();
      });
    return queued;
  };

  const reconcileSafe = async (trigger: ReconcileTrigger): Promise<number> => {
    try {
      return await reconcile();
    } catch (err) {
      metrics.reconcileErrors++;
      logger?.warn({ err, trigger }, 'run-abort: reconcile failed; the next sweep retries');
      return 0;
    }
  };

  const schedule = () => {
    if (closed || sweepIntervalMs <= 0) return;
    // A chained timeout, not an interval: a pass slower than the interval never overlaps itself.
    timer = setTimeout(() => {
      void reconcileSafe('sweep').then(schedule);
    }, sweepIntervalMs);
    timer.unref();
  };

  return {
    reconcile,
    reconcileSafe,
    startSweeps() {
      if (!timer) schedule();
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      // Let an in-flight pass finish so it never touches a store the caller is closing next.
      await Promise.allSettled([running, queued]);
    },
  };
}
