export interface RunStoreOptions {
  /**
   * Shard statements (beginShard, completeShardWithResults, finalizeRun) the store has in
   * flight at most. Default 10, openPostgres's default pool size. Set it to the pool's size
   * (`max`), and to 1 over PGlite (one connection). A call is written alone at once unless a
   * statement of the same run is in flight (its run row is locked: the call would only wait
   * for it inside PostgreSQL) or this many are; the calls that waited are group-committed,
   * one statement per kind, when a statement returns. Lower values batch sooner (fewer
   * statements, more wait per call).
   */
  statementsInFlight?: number;
}
