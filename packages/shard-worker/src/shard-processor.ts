import { isTerminal, type RunStatus } from '@x/protocol';
import type { ShardRegistry } from '@x/run-abort';
import type { NewResult, RunStore } from '@x/run-store';
import type { ExecutorRegistry, ExecutorTest } from './executor.js';
import { checkExecutorResults } from './executor-results.js';
import { retryWhileUnavailable } from './retry-while-unavailable.js';
import { orderedEmitter, type SafeEmitMany } from './run-events-sink.js';
import {
  announceFinalized,
  failRun,
  finalizeRun,
  type OutcomeDeps,
  recoverAnnouncement,
  type SiblingAborter,
} from './run-outcome.js';
import { ShardJobError } from './shard-job-error.js';
import { shardJobPassesFast } from './shard-job-fast-check.js';
import type { ShardJob, ShardProcessor } from './shard-queue.js';
import { siblingBegins } from './sibling-begins.js';
import { describeIssues, type ShardJobData, shardJobDataSchema } from './test-schemas.js';

/**
 * The slice of `@x/run-abort` the processor needs: stopping a failed run's siblings. The
 * start guard is part of `store.beginShard` (one statement), and a run this process saw
 * aborted is cancelled by `registry.register`, so no separate start check is needed.
 */
export type ProcessorAborter = SiblingAborter;
export type ProcessorRegistry = Pick<ShardRegistry, 'register'>;

export interface ProcessorDeps extends OutcomeDeps {
  store: RunStore;
  aborter: ProcessorAborter;
  registry: ProcessorRegistry;
  executors: ExecutorRegistry;
  /** Emits a batch of one run's events in one round trip. */
  emitMany: SafeEmitMany;
  /** How long live results wait to share one event call. Default 0 (each goes at once). */
  resultLingerMs?: number;
  /**
   * Resolves once this process's events of a run are in the event log (or declared lost), or
   * when the signal aborts (`RunEvents.settled`). Without it a completion does not wait.
   */
  settled?:
    | ((
        runId: string,
        opts: { signal: AbortSignal; timeoutMs: number; inFlight: false },
      ) => Promise<string>)
    | undefined;
  /** How long a completion waits for its run's buffered events at most. Default 60,000. */
  settleTimeoutMs?: number;
  /**
   * A shard that ran longer than this reads the run again for its `progress` event; a faster
   * one uses the run as read when it began. Default 0 (always read again).
   */
  freshProgressAfterMs?: number;
  /**
   * How old (ms) a sibling shard's begin in this process may be to answer a first try's start
   * instead of its own statement (sibling-begins.ts). Default 0 (every shard reads its own).
   */
  siblingBeginWindowMs?: number;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The shard processor: one delivery of one shard job, from the terminal-status guard to
 * `completeShardWithResults` and, for exactly one shard per run, the finalization. A job it
 * cannot run (unusable payload, unknown executor, invalid test) throws ShardJobError
 * `invalid_job`, which every ShardQueue fails at once, and fails its run on the first attempt.
 */
export function createShardProcessor(deps: ProcessorDeps): ShardProcessor {
  const { store, registry, executors, emit, emitMany, logger, metrics } = deps;
  const freshProgressAfterMs = deps.freshProgressAfterMs ?? 0;
  const begins = siblingBegins({
    windowMs: deps.siblingBeginWindowMs ?? 0,
    onShared: () => {
      metrics.beginsShared++;
    },
  });

  const parse = (job: ShardJob): ShardJobData => {
    if (shardJobPassesFast(job.data)) return job.data;
    const parsed = shardJobDataSchema.safeParse(job.data);
    if (parsed.success) return parsed.data;
    metrics.invalidJobs++;
    const detail = describeIssues(parsed.error);
    logger.error({ jobId: job.id, detail }, 'invalid shard job payload');
    throw new ShardJobError('invalid_job', `invalid shard job ${job.id}: ${detail}`);
  };

  // A job this worker cannot run is `invalid_job`: no attempt can fix it, so the queue fails
  // it at once and the processor fails its run (below), instead of retrying it to the end.
  const resolveTests = (data: ShardJobData) => {
    const executor = executors.get(data.executor);
    if (!executor) {
      throw new ShardJobError('invalid_job', `no executor named ${data.executor} on this worker`);
    }
    const tests: ExecutorTest<unknown>[] = data.tests.map(({ testId, test }) => {
      const parsed = executor.testSchema.safeParse(test);
      if (!parsed.success) {
        throw new ShardJobError(
          'invalid_job',
          `test ${testId} is invalid: ${describeIssues(parsed.error)}`,
        );
      }
      return { testId, test: parsed.data };
    });
    return { executor, tests };
  };

  // The shard will not be delivered again: fail its run (first writer wins), waiting out a
  // database outage rather than leave the run `running` with nothing left to finish it.
  const failShard = async (job: ShardJob, runId: string, shardIndex: number, error: string) => {
    metrics.shardsFailed++;
    await emit(runId, 'shard', { shardIndex, state: 'failed', attempt: job.attempt });
    await retryWhileUnavailable(() => failRun(deps, runId, error), {
      signal: job.signal,
      onRetry: (writeErr, waitMs) =>
        logger.warn({ runId, err: writeErr, waitMs }, 'run failure not recorded yet; retrying'),
    });
  };

  // The run is terminal (or gone): do nothing. A redelivered shard of a run whose finalizer
  // died before announcing it announces it now.
  const refuse = async (job: ShardJob, runId: string, status: RunStatus | undefined) => {
    metrics.shardsSkippedTerminal++;
    if (job.redelivered && (status === 'completed' || status === 'failed')) {
      await recoverAnnouncement(deps, runId);
    }
    throw new ShardJobError(
      'aborted',
      status === undefined
        ? `run ${runId} does not exist`
        : `run ${runId} is ${status}; shard not started`,
    );
  };

  // While Redis is away this shard's events wait in this process's buffer. The run's `done`
  // may come from another process (the one recording the last completion), and nothing but
  // PostgreSQL orders the two: so the completion is recorded only once they are in the log.
  // Bounded: the run abort or shutdown signal, or the timeout, ends the wait (the buffer then
  // drops them behind a gap, so resumes answer recovered:false); the completion is recorded
  // anyway, since the store is the truth and the shard's work is done.
  const settleTimeoutMs = deps.settleTimeoutMs ?? 60_000;
  const settleEvents = async (runId: string, shardIndex: number, signal: AbortSignal) => {
    if (!deps.settled) return;
    const startedAt = performance.now();
    // This shard's own emits were awaited (appended or buffered): only the buffer matters,
    // not what sibling shards of the run have in flight.
    const outcome = await deps.settled(runId, {
      signal,
      timeoutMs: settleTimeoutMs,
      inFlight: false,
    });
    if (outcome !== 'appended') {
      logger.warn(
        { runId, shardIndex, outcome, waitedMs: Math.round(performance.now() - startedAt) },
        'shard events not all in the event log before the completion',
      );
    }
  };

  const execute = async (job: ShardJob, data: ShardJobData) => {
    const { runId, shardIndex } = data;
    const { attempt, signal } = job;
    // Cancelled on register: this process already saw the run aborted.
    if (signal.aborted) {
      metrics.shardsSkippedTerminal++;
      throw new ShardJobError('aborted', `run ${runId} was aborted; shard not started`);
    }
    // One statement: terminal-status guard, queued -> running, the attempt, and on a retry
    // the purge of this shard's earlier executed rows (none since results land with the
    // completion; rows written by older workers still go); its siblings' stay. A first try
    // may take a sibling's, just made here, instead (sibling-begins.ts).
    const begun = await begins.begin(
      { runId, shardIndex, attempt, redelivered: job.redelivered },
      () => store.beginShard(runId, shardIndex, attempt, { purge: job.redelivered }),
    );
    if (!begun || isTerminal(begun.status)) return refuse(job, runId, begun?.status);
    if (!begun.started) {
      // This shard already completed (its worker died after completing it): nothing to run
      // again. If that completion was the run's last, the worker may have died before
      // finalizing: finalize now (first writer wins, so a live finalizer is not doubled).
      metrics.duplicateCompletions++;
      logger.info({ runId, shardIndex, attempt }, 'shard already completed');
      if (begun.shardsCompleted >= begun.shardCount) await finalizeRun(deps, runId);
      return;
    }
    const { executor, tests } = resolveTests(data);
    const live = orderedEmitter(emitMany, runId, deps.resultLingerMs ?? 0);
    if (begun.wasQueued) live.add('status', { status: 'running' });
    // Not waited for: the executor starts at once. It lingers like a result (resultLingerMs),
    // so a fast shard's first events, results and completion share one append.
    live.add('shard', { shardIndex, state: 'started', attempt });
    metrics.shardsStarted++;
    const startedAt = performance.now();
    const stats = { passed: 0, failed: 0, skipped: 0 };
    let rows: NewResult[] = [];
    try {
      const results = await executor.execute({
        run: { id: runId, workspaceId: data.workspaceId, executor: data.executor },
        shardIndex,
        tests,
        attempt,
        signal,
        // Results of an aborted shard would only trail the abort's `done`.
        emit: (r) => {
          if (!signal.aborted) live.add('result', { shardIndex, ...r, attempt });
        },
      });
      // Aborted while the executor was finishing: the abort owns the run's state now.
      if (signal.aborted) throw signal.reason ?? new Error('aborted');
      // The last results go with this shard's completion events, in one call.
      live.hold();
      checkExecutorResults(shardIndex, tests, results);
      for (const r of results) stats[r.status]++;
      rows = results.map((r) => ({ ...r, attempt }));
      // The run as this shard sees it: read at start for a fast shard (no extra statement),
      // read again for a long one, whose start view would be out of date.
      const before =
        performance.now() - startedAt < freshProgressAfterMs
          ? begun
          : ((await store.getRunById(runId)) ?? begun);
      if (signal.aborted) throw signal.reason ?? new Error('aborted');
      // This shard's `completed` and `progress` go out BEFORE its completion: the finalizer's
      // completion can only succeed after every sibling's, so nothing a sibling emits can
      // land after the finalizer's `done`. The progress is this shard's view (the run as read
      // plus its own stats); the finalizer emits the exact final one right before `done`.
      live.add('shard', { shardIndex, state: 'completed', attempt });
      if (before.shardsCompleted + 1 < before.shardCount) {
        live.add('progress', {
          passed: before.passed + stats.passed,
          failed: before.failed + stats.failed,
          total: before.total,
          shardsCompleted: before.shardsCompleted + 1,
          shardCount: before.shardCount,
        });
      }
      await live.flush();
    } finally {
      // Whatever happened, this shard's earlier events settle before a retry/failed event.
      if (signal.aborted) live.discard();
      await live.flush();
    }
    await settleEvents(runId, shardIndex, signal);
    // Results and completion in one statement: they land together, exactly once; the last
    // shard's also finalizes the run (in the same statement when it can: one fewer a run).
    const outcome = await store.completeShardWithResults(runId, shardIndex, attempt, stats, rows, {
      finalize: true,
    });
    if (!outcome.applied) {
      metrics.duplicateCompletions++;
      logger.info({ runId, shardIndex, attempt }, 'shard completion not applied');
      // A duplicate that raced the first delivery: if the run is fully completed, make sure
      // it is finalized even if the first delivery's worker dies now (first writer wins).
      if (outcome.shardsCompleted >= outcome.shardCount) await finalizeRun(deps, runId);
      return;
    }
    metrics.shardsCompleted++;
    if (outcome.finalized) await announceFinalized(deps, outcome.finalized);
    // A store that does not finalize in the completion (one of an older version, a wrapper
    // that drops the option) answers only isFinalizer.
    else if (outcome.isFinalizer) await finalizeRun(deps, runId);
  };

  return async (job) => {
    const data = parse(job);
    const { runId, shardIndex } = data;
    // Registered before the status check, so no abort can fall between the two.
    const unregister = registry.register(runId, shardIndex, (reason) => job.cancel(reason));
    try {
      await execute(job, data);
    } catch (err) {
      if (err instanceof ShardJobError) {
        if (err.code === 'invalid_job') {
          metrics.invalidJobs++;
          logger.error({ runId, shardIndex, attempt: job.attempt, err }, 'invalid shard job');
          // Unregistered first: failing the run cancels the run's registered shards here.
          unregister();
          await failShard(job, runId, shardIndex, `shard ${shardIndex} cannot run: ${err.message}`);
        }
        throw err;
      }
      if (job.signal.aborted) {
        // A run abort, a sibling's failure or a shutdown: write nothing, never retry here
        // (a shutdown requeue is the queue's business).
        metrics.shardsAborted++;
        throw new ShardJobError('aborted', `shard ${shardIndex} of ${runId} aborted`, {
          cause: err,
        });
      }
      unregister();
      if (job.attempt < job.maxAttempts) {
        metrics.shardsRetried++;
        logger.warn({ runId, shardIndex, attempt: job.attempt, err }, 'shard attempt failed');
        await emit(runId, 'shard', { shardIndex, state: 'retrying', attempt: job.attempt });
        throw err;
      }
      logger.error({ runId, shardIndex, attempt: job.attempt, err }, 'shard failed');
      await failShard(
        job,
        runId,
        shardIndex,
        `shard ${shardIndex} failed after ${job.attempt} attempt(s): ${message(err)}`,
      );
      throw err;
    } finally {
      unregister();
    }
  };
}
