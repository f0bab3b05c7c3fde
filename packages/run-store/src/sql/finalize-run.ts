import { type Kysely, sql } from 'kysely';
import type { RunRow } from '../row-mapping.js';
import type { Database } from '../schema.js';
import { pendingCallbackSets } from './callback-outbox.js';

/**
 * The finalizer's write, in one statement.
 * Params: run id.
 * Output: the completed run row when this call moved it from queued/running to completed;
 * no row when it was already terminal (or does not exist).
 *
 * retry_count = sum over shards of (attempt - 1); failed_after_retry = failed tests of the
 * shards that needed more than one attempt; duration from started_at (or created_at); the
 * callback, if the run has a URL, becomes `pending` in the outbox in the same statement.
 */
export async function finalizeRunSql(
  db: Kysely<Database>,
  runId: string,
): Promise<RunRow | undefined> {
  const { rows } = await sql<RunRow>`
    with agg as (
      select coalesce(sum(greatest(attempt - 1, 0)), 0)::int as retry_count,
             coalesce(sum(failed) filter (where attempt > 1), 0)::int as failed_after_retry
      from run_shards where run_id = ${runId}
    )
    update runs r
    set status = 'completed', retry_count = agg.retry_count, failed_after_retry = agg.failed_after_retry,
        finished_at = now(),
        duration_ms = greatest(0, round(extract(epoch from (now() - coalesce(r.started_at, r.created_at))) * 1000))::int,
        ${sql.join(pendingCallbackSets('r'))}
    from agg
    where r.id = ${runId} and r.status in ('queued', 'running')
    returning r.*`.execute(db);
  return rows[0];
}
