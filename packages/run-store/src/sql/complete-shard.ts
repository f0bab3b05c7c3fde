import type { Kysely } from 'kysely';
import { resultColumns } from '../row-mapping.js';
import type { Database } from '../schema.js';
import type { NewResult, ShardStats } from '../types/run.js';
import { firstRow } from './statement.js';

export interface CompleteShardRow {
  shard_count: number;
  shards_completed: number;
  applied: boolean;
}

/**
 * Exactly-once shard completion with the shard's results, one statement.
 * Params: $1 run id, $2 shard index, $3 attempt, $4 passed, $5 failed, $6 skipped, $7 the
 * results as one jsonb array. Output: no row when the run does not exist; else the run's
 * shard_count, shards_completed (after this call when applied) and whether this call applied
 * the shard.
 *
 * Why it is exactly once: `shard` flips the shard row from not-completed to completed; under
 * READ COMMITTED a concurrent duplicate waits on the row lock and then re-checks
 * `status <> 'completed'` on the latest version, so one caller flips it. `upd` adds the
 * stats only when that flip happened and only if the run is still live (re-checked on the
 * latest run row), so a terminal run never changes. The caller whose increment lands on
 * shard_count is the finalizer. Every writer takes the shard lock before the run lock, and
 * no one takes them the other way round, so this cannot deadlock. A redelivery of a shard
 * that is already completed writes nothing.
 *
 * The results (`ins`) are inserted from the flipped shard row, so they land exactly when the
 * completion does: a redelivery of a completed shard inserts nothing, and there is no moment
 * where a shard has results but no completion (or the reverse). Nothing else keys them (0013):
 * a call names each test once, and only its shard's tests (the worker checks its executor).
 *
 * Limit: a run that is terminal when the statement starts is not touched at all; if an
 * abort commits in the instant between the two updates, the shard row is marked completed
 * but the (now terminal) run keeps its counters.
 *
 * A constant text (not a query builder) so pg can keep it prepared and Kysely need not
 * compile it on the hot path.
 */
export const COMPLETE_SHARD_SQL = `
with shard as (
  update run_shards s
  set status = 'completed', attempt = greatest(s.attempt, $3::int),
      passed = $4, failed = $5, skipped = $6, completed_at = now()
  where s.run_id = $1 and s.shard_index = $2 and s.status <> 'completed'
    and exists (select 1 from runs where id = $1 and status in ('queued', 'running'))
  returning s.run_id, s.shard_index
), upd as (
  update runs r
  set passed = r.passed + $4, failed = r.failed + $5, shards_completed = r.shards_completed + 1
  from shard
  where r.id = $1 and r.id = shard.run_id and r.status in ('queued', 'running')
  returning r.shard_count, r.shards_completed
), ins as (
  insert into run_results (run_id, shard_index, test_id, name, status, duration_ms, error, attempt)
  select shard.run_id, shard.shard_index, x.test_id, x.name, x.status, x.duration_ms, x.error, x.attempt
  from shard, jsonb_to_recordset($7::jsonb)
    as x(test_id text, name text, status text, duration_ms int, error text, attempt int)
  returning 1
)
select shard_count, shards_completed, true as applied from upd
union all
select shard_count, shards_completed, false from runs where id = $1 and not exists (select 1 from upd)`;

export function completeShardSql(
  db: Kysely<Database>,
  runId: string,
  shardIndex: number,
  attempt: number,
  stats: ShardStats,
  results: readonly NewResult[],
): Promise<CompleteShardRow | undefined> {
  const payload = JSON.stringify(results.map(resultColumns));
  return firstRow(db, COMPLETE_SHARD_SQL, [
    runId,
    shardIndex,
    attempt,
    stats.passed,
    stats.failed,
    stats.skipped,
    payload,
  ]);
}
