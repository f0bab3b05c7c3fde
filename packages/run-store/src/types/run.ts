import type { ResultStatus, RunStatus, RunWaitReason } from '@x/protocol';

/** A run as the API and the workers see it. */
export interface Run {
  id: string;
  workspaceId: string;
  status: RunStatus;
  executor: string;
  name: string | null;
  shardCount: number;
  shardsCompleted: number;
  total: number;
  passed: number;
  failed: number;
  /** Sum over shards of (final attempt - 1); written by the finalizer. */
  retryCount: number;
  /** Failed tests in shards that needed more than one attempt; written by the finalizer. */
  failedAfterRetry: number;
  callbackUrl: string | null;
  error: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  durationMs: number | null;
  /** Tags to find the run by; empty when none. */
  tags: string[];
  /** The caller's JSON object, `{}` when none. */
  metadata: Record<string, unknown>;
  /**
   * Why a `queued` run waits, derived at read time (`getRun`, `getRunById`, `listRuns`; absent
   * from the other answers): `workspace_share` when none of its shards is released yet while
   * its workspace has released shards not finished (fair dispatch holds it behind its share).
   * Absent when the run does not wait.
   */
  waitingFor?: RunWaitReason;
}

/** One test outcome. */
export interface RunResult {
  runId: string;
  shardIndex: number;
  testId: string;
  name: string;
  status: ResultStatus;
  durationMs: number;
  error: string | null;
  /** 1-based attempt that produced it; 0 marks a test that was never executed (pre-seeded skip). */
  attempt: number;
}

/** A result as a worker hands it in with its shard's completion. */
export type NewResult = Omit<RunResult, 'runId' | 'shardIndex'>;

/** One shard's counts, added to the run when its completion applies. */
export interface ShardStats {
  passed: number;
  failed: number;
  skipped: number;
}
