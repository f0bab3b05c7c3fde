import { type Kysely, sql } from 'kysely';
import type { Database } from '../schema.js';

/** Rows one batch deleted, per table. */
export interface DeletedRowsRow {
  runs: number;
  shards: number;
  results: number;
  idempotency_keys: number;
}

/**
 * One retention batch: deletes up to `limit` runs that finished before `finishedBefore`,
 * oldest first, with their shards, results and idempotency keys (the callback and enqueue
 * outbox entries are columns of the run row, so they go with it).
 * Params: finishedBefore, limit (runs), maxResults (a soft cap on result rows).
 * Output: the rows deleted per table.
 *
 * Bounded twice, so one batch never holds locks or the connection for long: at most `limit`
 * runs, and runs are taken (oldest first) only while the results before them stay under
 * `maxResults` — a run's results are about its `total` — so a batch of 500 runs with 10 000
 * tests each is cut to a handful. The first run is always taken, so a batch always progresses.
 * `skip locked` lets a batch pass over a run someone else holds instead of waiting for it.
 * The children are deleted explicitly (the cascades then find nothing) to count them; a table
 * added later that references `runs … on delete cascade` is still emptied by the cascade.
 */
export async function deleteFinishedRunsSql(
  db: Kysely<Database>,
  q: { finishedBefore: Date; limit: number; maxResults: number },
): Promise<DeletedRowsRow> {
  const { rows } = await sql<DeletedRowsRow>`
    with candidates as (
      select id, total, finished_at from runs
      where status in ('completed', 'failed', 'aborted')
        and finished_at < ${q.finishedBefore.toISOString()}::timestamptz
      order by finished_at, id
      limit ${q.limit}
      for update skip locked
    ), doomed as (
      select id from (
        select id, total,
               sum(total) over (order by finished_at, id rows unbounded preceding) as upto
        from candidates
      ) c
      where upto - total < ${q.maxResults}::int
    ), results as (
      delete from run_results where run_id in (select id from doomed) returning 1
    ), shards as (
      delete from run_shards where run_id in (select id from doomed) returning 1
    ), keys as (
      delete from idempotency_keys where run_id in (select id from doomed) returning 1
    ), gone as (
      delete from runs where id in (select id from doomed) returning 1
    )
    select (select count(*)::int from gone) as runs,
           (select count(*)::int from shards) as shards,
           (select count(*)::int from results) as results,
           (select count(*)::int from keys) as idempotency_keys`.execute(db);
  return rows[0] ?? { runs: 0, shards: 0, results: 0, idempotency_keys: 0 };
}
