import type { ResultDto, RunDto } from '@x/protocol';
import type { Run, RunResult } from '@x/run-store';

// The public shapes are @x/protocol's (`runSchema`, `resultSchema`): the OpenAPI document and
// the client read the same definitions.
export type { ResultDto, RunDto } from '@x/protocol';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** The public shape of a run (DESIGN.md): no workspace id, no callback URL. */
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
    tags: run.tags,
    metadata: run.metadata,
    waitingFor: run.waitingFor ?? null,
  };
}

export function toResultDto(r: RunResult): ResultDto {
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
