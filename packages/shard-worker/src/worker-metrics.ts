/** Counters of one shard worker (plain numbers, for a Prometheus adapter to read). */
export interface ShardWorkerMetrics {
  shardsStarted: number;
  /** Shard starts whose run status a sibling's begin in this process answered (no statement). */
  beginsShared: number;
  shardsCompleted: number;
  /** Attempts that threw and will be retried. */
  shardsRetried: number;
  /** Shards that failed their last attempt (each fails its run, first writer wins). */
  shardsFailed: number;
  /** Shards stopped by an abort (run abort, sibling failure) mid-execution. */
  shardsAborted: number;
  /** Shards refused at start because their run was already terminal. */
  shardsSkippedTerminal: number;
  /** Completions the store did not apply (a redelivered shard that had already completed). */
  duplicateCompletions: number;
  /**
   * Jobs this worker cannot run (unusable payload, unknown executor, invalid test): failed
   * on their first attempt, never retried; each fails its run.
   */
  invalidJobs: number;
  /** Jobs the queue failed by itself (stalled too often). */
  abandonedJobs: number;
  /** Runs this worker finalized (`completed` won). */
  runsFinalized: number;
  /** Runs this worker failed (`failed` won). */
  runsFailed: number;
  /** Finalizations that found the run already terminal (an abort or failure won). */
  finalizeLost: number;
  doneEvents: number;
  callbacks: number;
  /** Runs re-announced by a redelivered shard because their finalizer died first. */
  recoveredAnnouncements: number;
  emitErrors: number;
}

export function emptyWorkerMetrics(): ShardWorkerMetrics {
  return {
    shardsStarted: 0,
    beginsShared: 0,
    shardsCompleted: 0,
    shardsRetried: 0,
    shardsFailed: 0,
    shardsAborted: 0,
    shardsSkippedTerminal: 0,
    duplicateCompletions: 0,
    invalidJobs: 0,
    abandonedJobs: 0,
    runsFinalized: 0,
    runsFailed: 0,
    finalizeLost: 0,
    doneEvents: 0,
    callbacks: 0,
    recoveredAnnouncements: 0,
    emitErrors: 0,
  };
}
