import { type Kysely, sql } from 'kysely';
import type { RunStatus } from '../run-status.js';
import type { Database } from '../schema.js';
import type { ShardStats } from '../types.js';

export interface CompleteShardRow {
  status: RunStatus;
  shard_count: number;
  shards_completed: number;
  applied: boolean;
}

/**
 * Exactly-once shard completion in one statement.
 * Params: run id, shard index, attempt, the shard's passed/failed/skipped.
 * Output: no row when the run does not exist; else the run's status (before), shard_count,
 * shards_completed (after this call) and whether this call applied the shard.
 *
 * Why it is exactly once: `r0` locks the run row first (every writer locks run before
 * shard, so no deadlock), and re-reads its latest status; the shard row flips from
 * not-completed to completed for one caller only (READ COMMITTED re-checks the predicate on
 * the latest row version); the run's counters move only when that flip happened, and only
 * for a live run. The caller whose increment lands on shard_count is the finalizer.
 */
export async function completeShardSql(
  db: Kysely<Database>,
  runId: string,
  shardIndex: number,
  attempt: number,
  stats: ShardStats,
): Promise<CompleteShardRow | undefined> {
  const { rows } = await sql<CompleteShardRow>`
    with r0 as (
      select id, status, shard_count, shards_completed from runs where id = ${runId} for update
    ), shard as (
      update run_shards s
      set status = 'completed', attempt = greatest(s.attempt, ${attempt}::int),
          passed = ${stats.passed}, failed = ${stats.failed}, skipped = ${stats.skipped}, completed_at = now()
      from r0
      where s.run_id = r0.id and s.shard_index = ${shardIndex} and s.status <> 'completed'
        and r0.status in ('queued', 'running')
      returning s.run_id
    ), upd as (
      update runs r
      set passed = r.passed + ${stats.passed}, failed = r.failed + ${stats.failed},
          shards_completed = r.shards_completed + 1
      from shard
      where r.id = shard.run_id
      returning r.shards_completed
    )
    select r0.status, r0.shard_count,
           coalesce(upd.shards_completed, r0.shards_completed) as shards_completed,
           upd.shards_completed is not null as applied
    from r0 left join upd on true`.execute(db);
  return rows[0];
}
