import type { Run, RunStore } from '@x/run-store';
import type { CallbackSender } from './callback-sender.js';
import { type Logger, silentLogger } from './logger.js';
import { type RunEventsSink, safeEmitter } from './run-events-sink.js';
import { announceTerminal } from './run-outcome.js';
import type { ShardQueue } from './shard-queue.js';
import { emptyWorkerMetrics } from './worker-metrics.js';

/** One stop command, as @x/stop-jobs hands it over (structurally its `StopJob`). */
export interface StopJobInput {
  runId: string;
  reason: string;
  requestedAtMs: number | null;
  requestedBy: string | null;
  entryId: string;
}

/**
 * The run's `error` after a stop, worded for the person reading it (the dashboard shows it):
 * `aborted by ws-a`, not a reason code.
 */
export function stopMessage(reason: string, requestedBy: string | null): string {
  const by = requestedBy ? ` by ${requestedBy}` : '';
  switch (reason) {
    case 'user_request':
      return `aborted${by || ' on request'}`;
    case 'admin_request':
      return `aborted by an administrator${requestedBy ? ` (${requestedBy})` : ''}`;
    case 'timeout':
      return 'aborted: the run went over its time limit';
    case 'shutdown':
      return 'aborted: the system was shutting down';
    default:
      return `aborted (${reason})${by}`;
  }
}

/** Structurally @x/stop-jobs' `StopServiceResult`. */
export interface StopResult {
  outcome: 'success' | 'failure';
  errorCode: '' | 'replay_no_op' | 'not_found' | 'internal';
  errorMessage: string;
  finalStatus: string;
}

/** Structurally @x/stop-jobs' `StopService`. */
export interface RunStopService {
  stop(job: StopJobInput, opts?: { signal?: AbortSignal }): Promise<StopResult>;
}

/** The slice of `RunAborter` the stop service uses. */
export interface StopAborter {
  /** `run`: the aborted run as the winning write returned it; when absent, it is read. */
  abortRun(
    runId: string,
    reason: string,
  ): Promise<{ aborted: boolean; won: boolean; status: string; run?: Run }>;
}

export interface RunStopServiceOptions {
  store: RunStore;
  aborter: StopAborter;
  queue: ShardQueue;
  events: RunEventsSink;
  /** Sends the callback of a run this service aborted. Default none. */
  callback?: CallbackSender;
  logger?: Logger;
}

const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Applies stop commands (from the @x/stop-jobs stream, or directly in embedded mode): writes
 * `aborted` first-writer-wins through the aborter (which also cancels running shards on every
 * replica), and — only when it won — emits `done` at once, then removes the run's waiting
 * shard jobs and sends the callback. A run already terminal answers `success`/`replay_no_op`;
 * an unknown run `failure`/`not_found`. Store errors throw, so the command is retried.
 *
 * Latency: `done` follows the status write at once (the write returns the run's counts), so
 * a user's abort is visible after 2 round trips; the queue cleanup (one pipelined Redis round
 * trip for all shards) runs alongside it. Emitting before the cleanup is safe: a waiting shard that starts in
 * between is refused by the aborter's start check, since the status is already `aborted`.
 */
export function createRunStopService(opts: RunStopServiceOptions): RunStopService {
  const logger = opts.logger ?? silentLogger;
  const metrics = emptyWorkerMetrics();
  const emit = safeEmitter(opts.events, logger, () => {
    metrics.emitErrors++;
  });
  const deps = {
    store: opts.store,
    emit,
    callback: opts.callback,
    logger,
    metrics,
    pending: new Set<Promise<unknown>>(),
  };
  const notFound = (runId: string): StopResult => ({
    outcome: 'failure',
    errorCode: 'not_found',
    errorMessage: `run ${runId} not found`,
    finalStatus: '',
  });

  return {
    async stop(job) {
      if (!RUN_ID.test(job.runId)) return notFound(job.runId);
      let outcome: { won: boolean; status: string; run?: Run };
      try {
        outcome = await opts.aborter.abortRun(job.runId, stopMessage(job.reason, job.requestedBy));
      } catch (err) {
        // The status write is the existence check: one round trip fewer than reading first.
        if (isNotFound(err)) return notFound(job.runId);
        throw err;
      }
      // Only a replay (or an aborter whose store returns no run) reads the run again.
      const run = outcome.run ?? (await opts.store.getRunById(job.runId));
      if (!run) return notFound(job.runId);
      if (!outcome.won) {
        // Idempotent, so a replay also clears jobs a crashed first delivery left behind.
        await opts.queue.removeWaiting(run.id, run.shardCount);
        return {
          outcome: 'success',
          errorCode: 'replay_no_op',
          errorMessage: `run already ${outcome.status}`,
          finalStatus: outcome.status,
        };
      }
      // announceTerminal sends `done` before its first await returns; the cleanup then runs
      // alongside the callback rather than in front of `done`.
      await Promise.all([
        announceTerminal(deps, run),
        opts.queue.removeWaiting(run.id, run.shardCount),
      ]);
      return { outcome: 'success', errorCode: '', errorMessage: '', finalStatus: 'aborted' };
    },
  };
}

/** `RunStoreError` with code `not_found` (duck-typed: any store the aborter wraps may throw it). */
function isNotFound(err: unknown): boolean {
  return (
    typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'not_found'
  );
}
