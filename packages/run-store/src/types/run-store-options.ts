export interface RunStoreOptions {
  /**
   * Shard statements (beginShard, completeShardWithResults, finalizeRun) the store sends at
   * once before it batches them. Default 10, openPostgres's default pool size. Set it to the
   * pool's size (`max`), and to 1 over PGlite (one connection): while a connection is free a
   * call is written alone at once, as bare `pg` would; once all are busy, the calls that wait
   * are group-committed, one statement per kind, when a statement returns. Lower values batch
   * sooner (fewer statements, more wait per call).
   */
  statementsInFlight?: number;
}
