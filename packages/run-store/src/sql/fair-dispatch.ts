import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../schema.js';

/**
 * Transaction-level advisory lock of the dispatcher ('xdispatc' as ASCII): passes from every
 * process queue up on it, so exactly one computes the shares and releases at a time.
 */
const DISPATCH_LOCK_KEY = 0x7864697370617463n;

export async function lockDispatchSql(trx: Transaction<Database>): Promise<void> {
  await sql`select pg_advisory_xact_lock(${sql.lit(DISPATCH_LOCK_KEY)})`.execute(trx);
}

export interface ReleasedShardRow {
  workspace_id: string;
  weight: number;
  run_id: string;
  executor: string;
  callback_url: string | null;
  shard_count: number;
  shard_index: number;
  payload: unknown;
  /** Runs this statement marked enqueued (no shard of theirs left unreleased); same on every row. */
  enqueued_runs: string[];
}

/**
 * Picks the shards to release now and marks them released, in one statement (one round trip
 * of the pass's locked section, not two): per workspace with shards to release, as many as
 * its share allows, oldest run first, in shard order.
 * Params: window (waiting shards per unit of weight), cap (released-not-finished shards per
 * workspace; null: none), overrides (`[{ws, shards, weight}]` as JSON), perPass (most shards
 * per workspace in one pass).
 * A workspace's share: `least(window × weight − waiting, cap − outstanding, perPass)`, where
 * `outstanding` counts its released shards not completed of live runs (in the queue, running,
 * or waiting out a retry) and `waiting` those of them not started. Shards of a run that is no
 * longer live (aborted, failed) count for nothing: an abort frees its share at once.
 * `rel` stamps `released_at` on the picked shards, and `enq` stamps their runs' `released_at`
 * (what `counts` starts from) and marks a run enqueued once no shard of it is left unreleased
 * (`per_run` reads the rows as they were before this statement: a run whose unreleased shards
 * are exactly the ones released now is whole).
 * Run under the pass's advisory lock, taken by an earlier statement of the transaction, so
 * this statement's snapshot already holds every earlier pass's marks (READ COMMITTED); the
 * pass commits before the queue sees the shards (see fair-dispatch.ts).
 * Output: the released shards, each with its run's job fields and its workspace's weight.
 */
export async function releaseShardsSql(
  trx: Transaction<Database>,
  q: { window: number; cap: number | null; overrides: string; perPass: number },
): Promise<ReleasedShardRow[]> {
  const { rows } = await sql<ReleasedShardRow>`
    with lim as (
      select * from jsonb_to_recordset(${q.overrides}::jsonb) as l(ws text, shards int, weight int)
    ), pending as (
      select distinct workspace_id from runs
      where enqueued_at is null and status in ('queued', 'running')
    ), counts as (
      -- From the few live runs with released shards (index runs_released_live), their
      -- shards by primary key; the ORDER BY keeps the planner from flattening the lateral
      -- into a join that reads all of run_shards (migration 0008 says why). Not completed is
      -- completed_at is null (set with status completed), tested on the row: no index holds
      -- it, so a completion's update stays heap-only (migration 0011).
      select r.workspace_id, count(*) as outstanding,
             count(*) filter (where s.status = 'pending') as waiting
      from runs r cross join lateral (
        select s.status from run_shards s
        where s.run_id = r.id and s.released_at is not null and s.completed_at is null
        order by s.shard_index
      ) s
      where r.released_at is not null and r.status in ('queued', 'running')
      group by r.workspace_id
    ), share as (
      select p.workspace_id, coalesce(l.weight, 1) as weight,
             least(${q.window}::int * coalesce(l.weight, 1) - coalesce(c.waiting, 0),
                   coalesce(l.shards, ${q.cap}::int) - coalesce(c.outstanding, 0),
                   ${q.perPass}::int) as n
      from pending p
      left join counts c on c.workspace_id = p.workspace_id
      left join lim l on l.ws = p.workspace_id
    ), cand as (
      select sh.workspace_id, sh.weight, x.run_id, x.executor, x.callback_url, x.shard_count,
             x.shard_index, x.payload, x.created_at
      from share sh, lateral (
        select r.id as run_id, r.executor, r.callback_url, r.shard_count, r.created_at,
               s.shard_index, s.payload
        from (
          -- n shards come from at most the n oldest runs with a shard to release: the
          -- dispatch index gives them in order and the scan stops there. Without this limit
          -- the shard order below kept the outer limit from ending the scan early: every
          -- pending run's shards were read and sorted (measured: 340 runs, 1,360 rows, 2.5 ms
          -- a pass, to keep 17).
          select r.id, r.executor, r.callback_url, r.shard_count, r.created_at from runs r
          where r.workspace_id = sh.workspace_id and r.enqueued_at is null
            and r.status in ('queued', 'running')
            and exists (select 1 from run_shards s
                        where s.run_id = r.id and s.released_at is null
                          and s.status <> 'completed')
          order by r.created_at, r.id
          limit sh.n
        ) r cross join lateral (
          -- Per run, by its primary key: its ORDER BY keeps the planner from flattening
          -- this into a join, which it did with a seq scan of all of run_shards (history
          -- included: 4 ms a pass and growing, measured).
          select s.shard_index, s.payload from run_shards s
          where s.run_id = r.id and s.released_at is null and s.status <> 'completed'
          order by s.shard_index
        ) s
        order by r.created_at, r.id, s.shard_index
        limit sh.n
      ) x
      where sh.n > 0
    ), rel as (
      update run_shards s set released_at = now()
      from cand c
      where s.run_id = c.run_id and s.shard_index = c.shard_index and s.released_at is null
      returning s.run_id
    ), per_run as (
      -- whole: no shard of the run is left unreleased after this statement.
      select p.run_id, p.n >= (select count(*) from run_shards s
                               where s.run_id = p.run_id and s.released_at is null) as whole
      from (select run_id, count(*) as n from rel group by run_id) p
    ), enq as (
      -- One update of each run (two CTEs may not both update a row): the release stamp,
      -- and enqueued once whole.
      update runs r set released_at = coalesce(r.released_at, now()),
        enqueued_at = case when p.whole then now() else r.enqueued_at end,
        enqueue_claimed_at = case when p.whole then null else r.enqueue_claimed_at end
      from per_run p
      where r.id = p.run_id and r.enqueued_at is null
      returning r.id, p.whole
    )
    select c.workspace_id, c.weight, c.run_id, c.executor, c.callback_url, c.shard_count,
           c.shard_index, c.payload,
           (select coalesce(array_agg(id::text) filter (where whole), '{}'::text[]) from enq)
             as enqueued_runs
    from cand c
    order by c.workspace_id, c.created_at, c.run_id, c.shard_index`.execute(trx);
  return rows;
}

/**
 * Gives shards back to the outbox after the queue refused them (their pass had committed):
 * not released again, and their runs, marked enqueued by that pass, not enqueued.
 * Params: run ids and shard indexes (pairwise), the runs that pass enqueued.
 */
export async function unreleaseShardsSql(
  db: Kysely<Database>,
  runIds: string[],
  shardIndexes: number[],
  enqueuedRuns: string[],
): Promise<void> {
  await sql`
    with back as (
      update run_shards s set released_at = null
      from unnest(${runIds}::uuid[], ${shardIndexes}::int[]) as u(run_id, shard_index)
      where s.run_id = u.run_id and s.shard_index = u.shard_index and s.status <> 'completed'
      returning 1
    )
    update runs set enqueued_at = null
    where id = any(${enqueuedRuns}::uuid[]) and status in ('queued', 'running')`.execute(db);
}
