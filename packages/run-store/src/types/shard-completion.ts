import type { RunStatus } from '@x/protocol';
import type { NewResult, Run, ShardStats } from './run.js';

export interface BeginShardOutcome {
  /** The run's status as read before this call; a terminal one means nothing was written. */
  status: RunStatus;
  /** The shard may run: the run was queued or running and the shard not completed. */
  started: boolean;
  /** This call moved the run from queued to running (the first shard to start). */
  wasQueued: boolean;
  /** Executed results of this shard deleted (only with `purge`). */
  purged: number;
  /**
   * Fair dispatch released shards of this run into the queue one by one (false: the run went
   * to the queue whole, FIFO). A released shard's begin writes it `running`, which its
   * workspace's share counts, so a worker may not skip such a begin.
   */
  released: boolean;
  /**
   * The run's counters as read. `started` false with every shard completed on a live run
   * means a worker died between its shard's completion and finalizeRun.
   */
  shardsCompleted: number;
  shardCount: number;
  passed: number;
  failed: number;
  total: number;
}

export interface CompleteShardOutcome {
  /** True when this call recorded the shard; false for a duplicate, a redelivery or a terminal run. */
  applied: boolean;
  shardsCompleted: number;
  shardCount: number;
  /** True for exactly one call per run: the one that completed the last shard. */
  isFinalizer: boolean;
  /**
   * With `finalize`, the finalizer's call only: the run finalized as `finalizeRun` answers it
   * (`won` false when an abort or a failure got there first).
   */
  finalized?: { won: boolean; run: Run };
}

/** A worker's path through one shard: begin, complete with results, finalize. One statement each. */
export interface ShardCompletion {
  /**
   * A worker starting a shard, in one statement: the terminal-status guard, queued ->
   * running (the run's first start), the shard's start (`running` and the attempt, never
   * lowered; ignored once the shard is completed) where it is read before the completion —
   * a shard fair dispatch released, a retry — and, with `purge` (a retry), the deletion of
   * this shard's executed results (pre-seeded skips and siblings stay). A FIFO shard's first
   * attempt on a running run writes nothing: its completion records the attempt. Nothing is
   * written when the run is terminal. `undefined` when the run does not exist.
   */
  beginShard(
    runId: string,
    shardIndex: number,
    attempt: number,
    opts?: { purge?: boolean },
  ): Promise<BeginShardOutcome | undefined>;
  /**
   * Exactly once per shard: records it, adds its stats, advances shards_completed, and
   * inserts its results, all in one statement: the results land exactly when the completion
   * applies (a redelivery of a completed shard, or a shard of a terminal run, inserts nothing).
   * With `finalize`, the finalizer's call also finalizes the run (`finalized`), in the same
   * statement when it can, else with `finalizeRun`'s: a caller then announces the run from
   * `finalized` instead of calling `finalizeRun` (which would find it completed and lose).
   */
  completeShardWithResults(
    runId: string,
    shardIndex: number,
    attempt: number,
    stats: ShardStats,
    results: readonly NewResult[],
    opts?: { finalize?: boolean },
  ): Promise<CompleteShardOutcome>;
  /**
   * queued|running -> completed with retry counts, finishedAt, durationMs; first writer wins.
   * The loser gets the run as it is (one more read).
   */
  finalizeRun(runId: string): Promise<{ won: boolean; run: Run }>;
}
