import { type Kysely, sql } from 'kysely';
import type { Database } from '../schema.js';

/**
 * Records the attempt a worker starts on a shard, in one statement.
 * Params: run id, shard index, attempt (1-based). Output: the run's shard_count, or no row
 * when the run does not exist. The attempt never goes down (a late duplicate delivery of an
 * older attempt does not rewind it) and a completed shard is left alone.
 */
export async function recordShardAttemptSql(
  db: Kysely<Database>,
  runId: string,
  shardIndex: number,
  attempt: number,
): Promise<{ shard_count: number } | undefined> {
  const { rows } = await sql<{ shard_count: number }>`
    with u as (
      update run_shards set attempt = greatest(attempt, ${attempt}::int), status = 'running'
      where run_id = ${runId} and shard_index = ${shardIndex} and status <> 'completed'
      returning 1
    )
    select shard_count from runs where id = ${runId}`.execute(db);
  return rows[0];
}

/**
 * Removes one shard's executed results before that shard is retried, in one statement.
 * Params: run id, shard index. Output: the run's shard_count (no row: no such run) and how
 * many rows were deleted. Pre-seeded skips (status skipped, attempt 0: never executed, a
 * final dispatch decision) and every sibling shard's rows stay. Nothing is deleted once the
 * shard is completed (its results back the run's counters) or the run is terminal (the
 * retry will not run, and the record of what happened stays).
 */
export async function purgeShardResultsSql(
  db: Kysely<Database>,
  runId: string,
  shardIndex: number,
): Promise<{ shard_count: number; deleted: number } | undefined> {
  const { rows } = await sql<{ shard_count: number; deleted: number }>`
    with d as (
      delete from run_results
      where run_id = ${runId} and shard_index = ${shardIndex} and not (status = 'skipped' and attempt = 0)
        and exists (select 1 from run_shards
                    where run_id = ${runId} and shard_index = ${shardIndex} and status <> 'completed')
        and exists (select 1 from runs where id = ${runId} and status in ('queued', 'running'))
      returning 1
    )
    select shard_count, (select count(*) from d)::int as deleted from runs where id = ${runId}`.execute(
    db,
  );
  return rows[0];
}
