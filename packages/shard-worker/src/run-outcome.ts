import type { Logger } from '@x/kernel';
import { LIVE_STATUSES } from '@x/protocol';
import type { RunAborter } from '@x/run-abort';
import type { Run, RunStore } from '@x/run-store';
import { deliverOwnCallback } from './callback-outbox.js';
import type { CallbackSender } from './callback-sender.js';
import type { SafeEmit, SafeEmitMany, SinkEvent } from './run-events-sink.js';
import { inSpan } from './trace-context.js';
import type { ShardWorkerMetrics } from './worker-metrics.js';

/** The slice of `@x/run-abort`'s `RunAborter` used to stop a failed run's siblings. */
export type SiblingAborter = Pick<RunAborter, 'abortLocal' | 'broadcast'>;

export interface OutcomeDeps {
  store: RunStore;
  emit: SafeEmit;
  callback: CallbackSender | undefined;
  logger: Logger;
  metrics: ShardWorkerMetrics;
  /** Callback requests still in flight, so close() can wait for them. */
  pending: Set<Promise<unknown>>;
  /** Reads the run's last event (`RunEvents.lastEvent`); enables re-announcing after a crash. */
  lastEvent?: ((runId: string) => Promise<{ type: string } | undefined>) | undefined;
}

/**
 * Announces a terminal status this process won: exactly one `done` event, then the callback
 * when the run has a `callbackUrl`. The terminal write already queued that callback in the
 * run-store outbox (same statement), so here we only claim and deliver it; if this process
 * dies first, or the POST fails, a callback-outbox sweep delivers it (same Idempotency-Key).
 */
export async function announceTerminal(deps: OutcomeDeps, run: Run): Promise<void> {
  const { type, payload } = doneEvent(run);
  await deps.emit(run.id, type, payload);
  deps.metrics.doneEvents++;
  await sendCallback(deps, run);
}

/** The run's `done` event: its terminal status and final counts. */
export function doneEvent(run: Run): SinkEvent {
  return {
    type: 'done',
    payload: {
      status: run.status,
      passed: run.passed,
      failed: run.failed,
      total: run.total,
      durationMs: run.durationMs,
    },
  };
}

async function sendCallback(deps: OutcomeDeps, run: Run): Promise<void> {
  // Without a sender the callback stays pending for a sweep in another process.
  if (!run.callbackUrl || !deps.callback) return;
  deps.metrics.callbacks++;
  // Awaited (bounded by the sender's timeout) so close() and the shard job see it through;
  // durability no longer depends on it: the outbox row outlives this process.
  const sending = deliverOwnCallback(deps.store, deps.callback, run.id, deps.logger);
  deps.pending.add(sending);
  try {
    await sending;
  } finally {
    deps.pending.delete(sending);
  }
}

/**
 * A redelivered shard (its worker died) found its run already completed or failed. If the
 * run's event history does not end with `done`, the worker that won the transition died
 * before announcing it: announce now, so the run still gets its one `done` and callback.
 */
export async function recoverAnnouncement(deps: OutcomeDeps, runId: string): Promise<boolean> {
  if (!deps.lastEvent) return false;
  const last = await deps.lastEvent(runId);
  if (last?.type === 'done') return false;
  const run = await deps.store.getRunById(runId);
  if (!run || (run.status !== 'completed' && run.status !== 'failed')) return false;
  deps.logger.warn({ runId, status: run.status }, 're-announcing a run whose finalizer died');
  deps.metrics.recoveredAnnouncements++;
  await announceTerminal(deps, run);
  return true;
}

/**
 * The finalizer's part: `completed` first-writer-wins, then the final `progress` and `done`
 * in one call (one round trip to the event log, in that order), then the callback.
 */
export function finalizeRun(
  deps: OutcomeDeps & { emitMany: SafeEmitMany },
  runId: string,
): Promise<void> {
  // Its own span in the shard's trace: the finalization is where a run's trace ends.
  return inSpan('finalize run', async () => announceNow(deps, await deps.store.finalizeRun(runId)));
}

/**
 * The finalizer's part when the last shard's completion wrote `completed` itself (the store's
 * `finalize: true`): the same announcement as {@link finalizeRun}'s, in the same span.
 */
export function announceFinalized(
  deps: OutcomeDeps & { emitMany: SafeEmitMany },
  finalized: { won: boolean; run: Run },
): Promise<void> {
  return inSpan('finalize run', () => announceNow(deps, finalized));
}

async function announceNow(
  deps: OutcomeDeps & { emitMany: SafeEmitMany },
  { won, run }: { won: boolean; run: Run },
): Promise<void> {
  const runId = run.id;
  if (!won) {
    deps.metrics.finalizeLost++;
    deps.logger.info({ runId, status: run.status }, 'run already terminal at finalization');
    return;
  }
  deps.metrics.runsFinalized++;
  const progress: SinkEvent = {
    type: 'progress',
    payload: {
      passed: run.passed,
      failed: run.failed,
      total: run.total,
      shardsCompleted: run.shardsCompleted,
      shardCount: run.shardCount,
    },
  };
  await deps.emitMany(runId, [progress, doneEvent(run)]);
  deps.metrics.doneEvents++;
  await sendCallback(deps, run);
}

/**
 * A shard failed for good: `failed` first-writer-wins (an abort or completion that won stays),
 * siblings cancelled here and on every replica, and `done` + callback by the winner only.
 */
export async function failRun(
  deps: OutcomeDeps & { aborter: SiblingAborter },
  runId: string,
  error: string,
): Promise<void> {
  const { won, status, run } = await deps.store.transition(runId, LIVE_STATUSES, 'failed', {
    error,
  });
  // Status is written, so this is abortLocal + broadcast rather than the aborter's abort.
  if (status !== 'completed') {
    const reason = `run ${status}: ${error}`;
    deps.aborter.abortLocal(runId, reason);
    deps.aborter.broadcast(runId, reason);
  }
  if (!won) return;
  deps.metrics.runsFailed++;
  // The winning write returned the run (a store without it costs one more read).
  const failed = run ?? (await deps.store.getRunById(runId));
  if (failed) await announceTerminal(deps, failed);
}
