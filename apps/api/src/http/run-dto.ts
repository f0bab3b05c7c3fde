import type { Run, RunResult } from '@x/run-store';

/** The public shape of a run (DESIGN.md): no workspace id, no callback URL. */
export interface RunDto {
  id: string;
  status: Run['status'];
  executor: string;
  name: string | null;
  shardCount: number;
  shardsCompleted: number;
  total: number;
  passed: number;
  failed: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  error: string | null;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toRunDto(run: Run): RunDto {
  return {
    id: run.id,
    status: run.status,
    executor: run.executor,
    name: run.name,
    shardCount: run.shardCount,
    shardsCompleted: run.shardsCompleted,
    total: run.total,
    passed: run.passed,
    failed: run.failed,
    createdAt: run.createdAt.toISOString(),
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
    durationMs: run.durationMs,
    error: run.error,
  };
}

export function toResultDto(r: RunResult) {
  return {
    shardIndex: r.shardIndex,
    testId: r.testId,
    name: r.name,
    status: r.status,
    durationMs: r.durationMs,
    error: r.error,
    attempt: r.attempt,
  };
}
