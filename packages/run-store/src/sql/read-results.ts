import { type Kysely, type Selectable, sql } from 'kysely';
import type { Database, RunResultsTable } from '../schema.js';

/** A result row of the page; `seq` is null on the one row of a visible run with no results. */
export type ResultPageRow = Omit<Selectable<RunResultsTable>, 'seq'> & { seq: string | null };

/**
 * One page of a run's results, ordered by (shard_index, seq), in one statement that also
 * enforces the workspace. Output: no row when the run is not in that workspace; one row with
 * a null `seq` when it is but the page is empty; else up to `limit + 1` result rows.
 */
export async function resultsPageSql(
  db: Kysely<Database>,
  workspaceId: string,
  runId: string,
  limit: number,
  after: { shardIndex: number; seq: string } | undefined,
): Promise<ResultPageRow[]> {
  const afterClause = after
    ? sql`and (rr.shard_index, rr.seq) > (${after.shardIndex}::int, ${after.seq}::bigint)`
    : sql``;
  const { rows } = await sql<ResultPageRow>`
    select x.seq, r.id as run_id, x.shard_index, x.test_id, x.name, x.status, x.duration_ms, x.error, x.attempt
    from runs r
    left join lateral (
      select rr.seq::text as seq, rr.shard_index, rr.test_id, rr.name, rr.status, rr.duration_ms, rr.error, rr.attempt
      from run_results rr
      where rr.run_id = r.id ${afterClause}
      order by rr.shard_index, rr.seq
      limit ${limit + 1}
    ) x on true
    where r.id = ${runId} and r.workspace_id = ${workspaceId}`.execute(db);
  return rows;
}
