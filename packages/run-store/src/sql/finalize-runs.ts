import { type Kysely, sql } from 'kysely';
import type { RunRow } from '../row-mapping.js';
import type { Database } from '../schema.js';
import { pendingCallbackSets } from './callback-outbox.js';

/**
 * Several finalizers' writes in one statement (group commit): each run as
 * {@link finalizeRunSql} would write it alone.
 * Params: the run ids (no id twice). Output: one completed run row per run this call moved
 * from queued/running to completed, in no particular order; a run already terminal (or
 * missing) has no row.
 *
 * The run rows are locked in id order (`live`), re-checking the status under each lock, so
 * two batches cannot deadlock on each other and an abort committed meanwhile wins; the
 * retry counts are read from the run's shards as the single statement reads them.
 */
export async function finalizeRunsSql(
  db: Kysely<Database>,
  runIds: readonly string[],
): Promise<RunRow[]> {
  const { rows } = await sql<RunRow>`
    with live as (
      select r.id from runs r
      where r.id = any(${[...runIds]}::uuid[]) and r.status in ('queued', 'running')
      order by r.id
      for update of r
    ), agg as (
      select live.id,
             coalesce(sum(greatest(s.attempt - 1, 0)), 0)::int as retry_count,
             coalesce(sum(s.failed) filter (where s.attempt > 1), 0)::int as failed_after_retry
      from live left join run_shards s on s.run_id = live.id
      group by live.id
    )
    update runs r
    set status = 'completed', retry_count = agg.retry_count, failed_after_retry = agg.failed_after_retry,
        finished_at = now(),
        duration_ms = greatest(0, round(extract(epoch from (now() - coalesce(r.started_at, r.created_at))) * 1000))::int,
        ${sql.join(pendingCallbackSets('r'))}
    from agg
    where r.id = any(${[...runIds]}::uuid[]) and r.id = agg.id and r.status in ('queued', 'running')
    returning r.*`.execute(db);
  return rows;
}
