import type { RunWaitReason } from '@x/protocol';
import type { Selectable } from 'kysely';
import type { RunResultsTable, RunsTable } from './schema.js';
import type { NewResult, Run, RunResult } from './types/run.js';

/** A run's columns, with `waiting_for` when the query derived it (see `waitingForSql`). */
export type RunRow = Selectable<RunsTable> & { waiting_for?: RunWaitReason | null };

export function rowToRun(r: RunRow): Run {
  const run: Run = {
    id: r.id,
    workspaceId: r.workspace_id,
    status: r.status,
    executor: r.executor,
    name: r.name,
    shardCount: r.shard_count,
    shardsCompleted: r.shards_completed,
    total: r.total,
    passed: r.passed,
    failed: r.failed,
    retryCount: r.retry_count,
    failedAfterRetry: r.failed_after_retry,
    callbackUrl: r.callback_url,
    error: r.error,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    durationMs: r.duration_ms,
    tags: r.tags ?? [],
    metadata: r.metadata ?? {},
  };
  // Only when there is a reason: a run read with and without the derivation compares equal.
  if (r.waiting_for) run.waitingFor = r.waiting_for;
  return run;
}

export function rowToResult(r: Omit<Selectable<RunResultsTable>, 'seq'>): RunResult {
  return {
    runId: r.run_id,
    shardIndex: r.shard_index,
    testId: r.test_id,
    name: r.name,
    status: r.status,
    durationMs: r.duration_ms,
    error: r.error,
    attempt: r.attempt,
  };
}

/** A result's columns (without run and shard), the reverse of {@link rowToResult}. */
export function resultColumns(
  r: NewResult,
): Omit<Selectable<RunResultsTable>, 'seq' | 'run_id' | 'shard_index'> {
  return {
    test_id: r.testId,
    name: r.name,
    status: r.status,
    duration_ms: r.durationMs,
    error: r.error,
    attempt: r.attempt,
  };
}
