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

export interface DispatchCandidateRow {
  workspace_id: string;
  weight: number;
  run_id: string;
  executor: string;
  callback_url: string | null;
  shard_count: number;
  shard_index: number;
  payload: unknown;
}

/**
 * The shards to release now, per workspace with shards to release: as many as its share
 * allows, oldest run first, in shard order.
 * Params: window (waiting shards per unit of weight), cap (released-not-finished shards per
 * workspace; null: none), overrides (`[{ws, shards, weight}]` as JSON), perPass (most shards
 * per workspace in one pass).
 * A workspace's share: `least(window × weight − waiting, cap − outstanding, perPass)`, where
 * `outstanding` counts its released shards not completed of live runs (in the queue, running,
 * or waiting out a retry) and `waiting` those of them not started. Shards of a run that is no
 * longer live (aborted, failed) count for nothing: an abort frees its share at once.
 * Output: the candidates, each with its run's job fields and its workspace's weight.
 */
export async function dispatchCandidatesSql(
  trx: Transaction<Database> | Kysely<Database>,
  q: { window: number; cap: number | null; overrides: string; perPass: number },
): Promise<DispatchCandidateRow[]> {
  const { rows } = await sql<DispatchCandidateRow>`
    with lim as (
      select * from jsonb_to_recordset(${q.overrides}::jsonb) as l(ws text, shards int, weight int)
    ), pending as (
      select distinct workspace_id from runs
      where enqueued_at is null and status in ('queued', 'running')
    ), counts as (
      select r.workspace_id, count(*) as outstanding,
             count(*) filter (where s.status = 'pending') as waiting
      from run_shards s join runs r on r.id = s.run_id
      where s.released_at is not null and s.status <> 'completed'
        and r.status in ('queued', 'running')
      group by r.workspace_id
    ), share as (
      select p.workspace_id, coalesce(l.weight, 1) as weight,
             least(${q.window}::int * coalesce(l.weight, 1) - coalesce(c.waiting, 0),
                   coalesce(l.shards, ${q.cap}::int) - coalesce(c.outstanding, 0),
                   ${q.perPass}::int) as n
      from pending p
      left join counts c on c.workspace_id = p.workspace_id
      left join lim l on l.ws = p.workspace_id
    )
    select sh.workspace_id, sh.weight, x.run_id, x.executor, x.callback_url, x.shard_count,
           x.shard_index, x.payload
    from share sh, lateral (
      select r.id as run_id, r.executor, r.callback_url, r.shard_count, s.shard_index, s.payload
      from runs r join run_shards s on s.run_id = r.id
      where r.workspace_id = sh.workspace_id and r.enqueued_at is null
        and r.status in ('queued', 'running')
        and s.released_at is null and s.status <> 'completed'
      order by r.created_at, r.id, s.shard_index
      limit sh.n
    ) x
    where sh.n > 0`.execute(trx);
  return rows;
}

/**
 * Marks shards released, and their runs enqueued once no shard of theirs is left unreleased
 * (the subquery reads the rows as they were before this statement: a run whose unreleased
 * shards are exactly the ones released now is done). Output: how many runs became enqueued.
 */
export async function markReleasedSql(
  trx: Transaction<Database>,
  runIds: string[],
  shardIndexes: number[],
): Promise<number> {
  const { rows } = await sql<{ id: string }>`
    with rel as (
      update run_shards s set released_at = now()
      from unnest(${runIds}::uuid[], ${shardIndexes}::int[]) as u(run_id, shard_index)
      where s.run_id = u.run_id and s.shard_index = u.shard_index and s.released_at is null
      returning s.run_id
    ), per_run as (
      select run_id, count(*) as n from rel group by run_id
    )
    update runs r set enqueued_at = now(), enqueue_claimed_at = null
    from per_run
    where r.id = per_run.run_id and r.enqueued_at is null
      and per_run.n >= (select count(*) from run_shards s
                        where s.run_id = r.id and s.released_at is null)
    returning r.id`.execute(trx);
  return rows.length;
}
