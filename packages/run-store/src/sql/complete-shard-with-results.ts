import { CompiledQuery, type Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { NewResult, ShardStats } from '../types.js';
import { type CompleteShardRow, completeShardStatement } from './complete-shard.js';

/**
 * completeShard and the shard's results in one statement and one transaction.
 * Params: $1 run id, $2 shard index, $3 attempt, $4 passed, $5 failed, $6 skipped, $7 the
 * results as one jsonb array. Output: as completeShardSql.
 *
 * The completion is completeShardSql's (same exactly-once flip, same lock order: shard row,
 * then run row). The results are inserted from the flipped shard row, so they land exactly
 * when the completion does: a redelivery of a completed shard inserts nothing, and there is
 * no moment where a shard has results but no completion (or the reverse).
 */
const COMPLETE_SHARD_WITH_RESULTS = completeShardStatement(`, ins as (
  insert into run_results (run_id, shard_index, test_id, name, status, duration_ms, error, attempt)
  select shard.run_id, shard.shard_index, x.test_id, x.name, x.status, x.duration_ms, x.error, x.attempt
  from shard, jsonb_to_recordset($7::jsonb)
    as x(test_id text, name text, status text, duration_ms int, error text, attempt int)
  on conflict (run_id, test_id, attempt) do update
    set name = excluded.name, status = excluded.status, duration_ms = excluded.duration_ms,
        error = excluded.error
  returning 1
)`);

export async function completeShardWithResultsSql(
  db: Kysely<Database>,
  runId: string,
  shardIndex: number,
  attempt: number,
  stats: ShardStats,
  results: readonly NewResult[],
): Promise<CompleteShardRow | undefined> {
  const payload = JSON.stringify(
    results.map((r) => ({
      test_id: r.testId,
      name: r.name,
      status: r.status,
      duration_ms: r.durationMs,
      error: r.error,
      attempt: r.attempt,
    })),
  );
  const { rows } = await db.executeQuery<CompleteShardRow>(
    CompiledQuery.raw(COMPLETE_SHARD_WITH_RESULTS, [
      runId,
      shardIndex,
      attempt,
      stats.passed,
      stats.failed,
      stats.skipped,
      payload,
    ]),
  );
  return rows[0];
}
