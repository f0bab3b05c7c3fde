/** The run fields every shard job of a run carries, read from the run row. */
export interface EnqueueRunFields {
  runId: string;
  workspaceId: string;
  executor: string;
  callbackUrl: string | null;
  shardCount: number;
}

/** One shard to hand to the queue, with the job input stored when the run was created. */
export interface StoredShard {
  shardIndex: number;
  /** The `payload` given to `createRun` (null when none was, or for runs from before 0003). */
  payload: unknown;
}

/** A run this caller now holds (claimed under a lease) and must enqueue, then mark enqueued. */
export interface EnqueueClaim extends EnqueueRunFields {
  shards: StoredShard[];
}

/** A shard of a live (queued or running), enqueued run that has not completed. */
export interface LiveShard extends EnqueueRunFields, StoredShard {}

export interface ClaimEnqueuesQuery {
  /** Most runs claimed at once. Default 20. */
  limit?: number;
  /** A claim older than this is presumed dead (its enqueuer was killed) and taken over. Default 30 s. */
  leaseMs?: number;
}

export interface LiveShardsQuery {
  /** Page size, 1–1000. Default 500. */
  limit?: number;
  /** The last shard of the previous page: pages go by (run id, shard index). */
  after?: { runId: string; shardIndex: number };
}

/**
 * The enqueue outbox over `runs`/`run_shards`: runs are written first (`createRun`) and
 * handed to the queue from here, so PostgreSQL stays the truth of what must run; and the
 * reads the repair sweep needs to enqueue again the shards a queue lost.
 */
export interface EnqueueOutbox {
  /**
   * Claims up to `limit` queued runs not yet enqueued whose claim is free or expired
   * (`skip locked`: concurrent enqueuers never claim the same run), oldest first, with their
   * shards. An aborted run is never claimed.
   */
  claimEnqueues(q?: ClaimEnqueuesQuery): Promise<EnqueueClaim[]>;
  /** Records that these runs' shards are in the queue; answers how many were marked. */
  markEnqueued(runIds: readonly string[]): Promise<number>;
  /** Gives claims back after a failed enqueue, so the next pass takes them at once. */
  releaseEnqueues(runIds: readonly string[]): Promise<number>;
  /**
   * Not-completed shards of enqueued `queued`/`running` runs, by (run id, shard index): what
   * the queue must hold. Terminal runs (aborted, failed, completed) are never listed.
   */
  liveShards(q?: LiveShardsQuery): Promise<LiveShard[]>;
  /**
   * Takes or renews the lease `name` for `holder` for `ttlMs`: true while `holder` is the one
   * active instance (the lease was free, expired or already its own).
   */
  tryLease(name: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up if `holder` has it (a graceful shutdown), so another takes it at once. */
  releaseLease(name: string, holder: string): Promise<boolean>;
}
