import { type Kysely, sql } from 'kysely';
import type { RunRow } from '../row-mapping.js';
import type { Database } from '../schema.js';
import type { NewResult } from '../types.js';

export interface AppendResultsRow {
  shard_found: boolean;
  shard_count: number | null;
}

/** The append's answer plus the run row as read by the same statement (null columns: no run). */
export type AppendResultsRunRow = AppendResultsRow & Partial<Omit<RunRow, 'shard_count'>>;

/**
 * A batch of results in one statement.
 * Params: run id, shard index, the results as one jsonb array.
 * Output: whether the shard exists and the run's row (shard_count null: no such run), so the
 * caller can name the problem when nothing was inserted, and a worker gets the run's
 * counters without another round trip. The row is read by the statement's snapshot, so it
 * does not include this batch (results do not change the run's counters anyway).
 *
 * A result sent again for the same (test, attempt) replaces the earlier one, so a
 * redelivered batch does not duplicate rows. A completed shard's results are final: a batch
 * for it (a redelivered job re-running a shard that already completed) is ignored, so the
 * results keep matching the stats that completeShard added to the run.
 */
export async function appendResultsSql(
  db: Kysely<Database>,
  runId: string,
  shardIndex: number,
  results: readonly NewResult[],
): Promise<AppendResultsRunRow> {
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
  const { rows } = await sql<AppendResultsRunRow>`
    with shard as (
      select run_id, shard_index from run_shards
      where run_id = ${runId} and shard_index = ${shardIndex} and status <> 'completed'
    ), ins as (
      insert into run_results (run_id, shard_index, test_id, name, status, duration_ms, error, attempt)
      select shard.run_id, shard.shard_index, x.test_id, x.name, x.status, x.duration_ms, x.error, x.attempt
      from shard, jsonb_to_recordset(${payload}::jsonb)
        as x(test_id text, name text, status text, duration_ms int, error text, attempt int)
      on conflict (run_id, test_id, attempt) do update
        set name = excluded.name, status = excluded.status, duration_ms = excluded.duration_ms,
            error = excluded.error
      returning 1
    )
    select exists (select 1 from run_shards where run_id = ${runId} and shard_index = ${shardIndex}) as shard_found,
           r.*
    from (select 1) one left join runs r on r.id = ${runId}`.execute(db);
  return rows[0] ?? { shard_found: false, shard_count: null };
}
