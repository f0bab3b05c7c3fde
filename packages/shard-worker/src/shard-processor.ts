import { RunAbortedError } from '@x/run-abort';
import type { RunStore } from '@x/run-store';
import type { ExecutorRegistry, ExecutorTest } from './executor.js';
import { orderedEmitter } from './run-events-sink.js';
import {
  failRun,
  finalizeRun,
  type OutcomeDeps,
  recoverAnnouncement,
  type SiblingAborter,
} from './run-outcome.js';
import { ShardJobError } from './shard-job-error.js';
import type { ShardJob, ShardProcessor } from './shard-queue.js';
import { describeIssues, type ShardJobData, shardJobDataSchema } from './test-schemas.js';

/** The slice of `@x/run-abort` the processor needs. */
export interface ProcessorAborter extends SiblingAborter {
  assertStartable(runId: string): Promise<void>;
}
export interface ProcessorRegistry {
  register(runId: string, shardIndex: number | null, cancel: (reason: string) => void): () => void;
}

export interface ProcessorDeps extends OutcomeDeps {
  store: RunStore;
  aborter: ProcessorAborter;
  registry: ProcessorRegistry;
  executors: ExecutorRegistry;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The shard processor: one delivery of one shard job, from the terminal-status guard to
 * `completeShard` and, for exactly one shard per run, the finalization.
 */
export function createShardProcessor(deps: ProcessorDeps): ShardProcessor {
  const { store, aborter, registry, executors, emit, logger, metrics } = deps;

  const parse = (job: ShardJob): ShardJobData => {
    const parsed = shardJobDataSchema.safeParse(job.data);
    if (parsed.success) return parsed.data;
    metrics.invalidJobs++;
    const detail = describeIssues(parsed.error);
    logger.error({ jobId: job.id, detail }, 'invalid shard job payload');
    throw new ShardJobError('invalid_job', `invalid shard job ${job.id}: ${detail}`);
  };

  const resolveTests = (data: ShardJobData) => {
    const executor = executors.get(data.executor);
    if (!executor) throw new Error(`no executor named ${data.executor} on this worker`);
    const tests: ExecutorTest<unknown>[] = data.tests.map(({ testId, test }) => {
      const parsed = executor.testSchema.safeParse(test);
      if (!parsed.success) throw new Error(`test ${testId}: ${describeIssues(parsed.error)}`);
      return { testId, test: parsed.data };
    });
    return { executor, tests };
  };

  const execute = async (job: ShardJob, data: ShardJobData) => {
    const { runId, shardIndex } = data;
    const { attempt, signal } = job;
    const { executor, tests } = resolveTests(data);
    // Independent statements, sent together: one round trip of latency instead of three.
    const [wasQueued] = await Promise.all([
      store.markRunning(runId),
      store.recordShardAttempt(runId, shardIndex, attempt),
      // A retry, or a redelivery after a worker died between appendResults and completeShard:
      // this shard's earlier rows go, its siblings' stay.
      job.redelivered ? store.purgeShardResults(runId, shardIndex) : undefined,
    ]);
    if (wasQueued) await emit(runId, 'status', { status: 'running' });
    await emit(runId, 'shard', { shardIndex, state: 'started', attempt });
    metrics.shardsStarted++;
    const live = orderedEmitter(emit, runId);
    let results: Awaited<ReturnType<typeof executor.execute>>;
    try {
      results = await executor.execute({
        run: { id: runId, workspaceId: data.workspaceId, executor: data.executor },
        shardIndex,
        tests,
        attempt,
        signal,
        // Results of an aborted shard would only trail the abort's `done`.
        emit: (r) => {
          if (!signal.aborted) live.push('result', { shardIndex, ...r });
        },
      });
    } finally {
      await live.flush();
    }
    // Aborted while the executor was finishing: the abort owns the run's state now.
    if (signal.aborted) throw signal.reason ?? new Error('aborted');
    const stats = { passed: 0, failed: 0, skipped: 0 };
    for (const r of results) stats[r.status]++;
    // This shard's `completed` and `progress` go out BEFORE completeShard: the finalizer's
    // completeShard can only succeed after every sibling's, so nothing a sibling emits can
    // land after the finalizer's `done`. The progress is this shard's view (the run as read
    // plus its own stats); the finalizer emits the exact final one right before `done`.
    const [, before] = await Promise.all([
      store.appendResults(
        runId,
        shardIndex,
        results.map((r) => ({ ...r, attempt })),
      ),
      store.getRunById(runId),
    ]);
    if (signal.aborted) throw signal.reason ?? new Error('aborted');
    await emit(runId, 'shard', { shardIndex, state: 'completed', attempt });
    if (before && before.shardsCompleted + 1 < before.shardCount) {
      await emit(runId, 'progress', {
        passed: before.passed + stats.passed,
        failed: before.failed + stats.failed,
        total: before.total,
        shardsCompleted: before.shardsCompleted + 1,
        shardCount: before.shardCount,
      });
    }
    const outcome = await store.completeShard(runId, shardIndex, attempt, stats);
    if (!outcome.applied) {
      metrics.duplicateCompletions++;
      logger.info({ runId, shardIndex, attempt }, 'shard completion not applied');
      return;
    }
    metrics.shardsCompleted++;
    if (outcome.isFinalizer) await finalizeRun(deps, runId);
  };

  return async (job) => {
    const data = parse(job);
    const { runId, shardIndex } = data;
    // Registered before the status check, so no abort can fall between the two.
    const unregister = registry.register(runId, shardIndex, (reason) => job.cancel(reason));
    try {
      try {
        await aborter.assertStartable(runId);
      } catch (err) {
        if (!(err instanceof RunAbortedError)) throw err;
        metrics.shardsSkippedTerminal++;
        if (job.redelivered && err.code === 'run_finished') await recoverAnnouncement(deps, runId);
        throw new ShardJobError('aborted', err.message, { cause: err });
      }
      await execute(job, data);
    } catch (err) {
      if (err instanceof ShardJobError) throw err;
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
      metrics.shardsFailed++;
      logger.error({ runId, shardIndex, attempt: job.attempt, err }, 'shard failed');
      await emit(runId, 'shard', { shardIndex, state: 'failed', attempt: job.attempt });
      await failRun(
        deps,
        runId,
        `shard ${shardIndex} failed after ${job.attempt} attempt(s): ${message(err)}`,
      );
      throw err;
    } finally {
      unregister();
    }
  };
}
