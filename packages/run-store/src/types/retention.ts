/** Rows deleted by one retention batch, per table. */
export interface DeletedRows {
  runs: number;
  shards: number;
  results: number;
  idempotencyKeys: number;
}

export interface DeleteFinishedRunsQuery {
  /** Runs that finished (completed, failed, aborted) strictly before this are deleted. */
  finishedBefore: Date;
  /** Most runs in one batch, 1–10 000. Default 500. */
  limit?: number;
  /**
   * A soft cap on the result rows of one batch (estimated from each run's `total`), so runs
   * with many tests make smaller batches. Default 20 000; a batch always takes at least one run.
   */
  maxResults?: number;
}

/** Deletion of old finished runs (`RUN_RETENTION_DAYS`). */
export interface Retention {
  /**
   * One bounded batch: deletes the oldest runs finished before `finishedBefore` with their
   * shards, results, idempotency keys and outbox state. A live run is never deleted; a run
   * another transaction holds is skipped (this batch) rather than waited for. Call again
   * until it answers `runs: 0`.
   */
  deleteFinishedRuns(q: DeleteFinishedRunsQuery): Promise<DeletedRows>;
}
