import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { BeginShardRow } from './begin-shard.js';
import { allRows } from './statement.js';

export interface BeginShardCall {
  runId: string;
  shardIndex: number;
  attempt: number;
  purge: boolean;
}

/**
 * Several workers' `beginShard`s in one statement (group commit): each call gets the row
 * {@link BEGIN_SHARD} would have given it alone.
 * Params: $1 run ids, $2 shard indexes, $3 attempts, $4 purge flags, one element per call,
 * no (run, shard) twice. Output: one row per call whose run exists, with `ord` (1-based
 * position of the call).
 *
 * Same guards and the same writes as the single statement: nothing for a terminal run or an
 * index out of range, nothing for a fifo shard's first attempt on a running run; a shard row
 * it writes is re-checked under its lock, and the run row (`= 'queued'`) under its lock, so an
 * abort committed meanwhile wins. `was_queued` is true for one call per run: the first of the
 * batch's calls on a run this statement moved to running.
 *
 * Every read of `runs` goes by primary key, `id = any(<array>)`: a join (`in (select …)`)
 * left the planner free to hash-join over a scan of a whole index, which it chose when the
 * statistics predate a burst of runs (see batch-plan.postgres.test.ts).
 *
 * Why it cannot deadlock: every shard lock is taken in (run, shard) order (`locked`), and only
 * then every run lock, in id order (`queued` needs the whole of `shard` first: it joins its
 * count). Completions (complete-shards.ts) take them in the same order.
 */
export const BEGIN_SHARDS = `
with req as (
  select * from unnest($1::uuid[], $2::int[], $3::int[], $4::boolean[])
    with ordinality as q(run_id, shard_index, attempt, purge, ord)
), cur as (
  select id, status, shard_count, shards_completed, passed, failed, total,
         workspace_id, name, tags, created_at, released_at
  from runs where id = any($1::uuid[])
), live as (
  select q.* from req q join cur on cur.id = q.run_id
  where cur.status in ('queued', 'running') and q.shard_index < cur.shard_count
), open as (
  select l.* from live l
  where exists (select 1 from run_shards s
                where s.run_id = l.run_id and s.shard_index = l.shard_index
                  and s.status <> 'completed')
), locked as (
  select s.run_id, s.shard_index from run_shards s
  join live l on s.run_id = l.run_id and s.shard_index = l.shard_index
  where s.status <> 'completed'
    and ((s.released_at is not null and s.status = 'pending') or (l.attempt > 1 and s.attempt < l.attempt))
  order by s.run_id, s.shard_index
  for update of s
), shard as (
  update run_shards s set attempt = greatest(s.attempt, l.attempt), status = 'running'
  from locked k join live l on l.run_id = k.run_id and l.shard_index = k.shard_index
  where s.run_id = k.run_id and s.shard_index = k.shard_index and s.status <> 'completed'
    and ((s.released_at is not null and s.status = 'pending') or (l.attempt > 1 and s.attempt < l.attempt))
  returning s.run_id, s.shard_index
), queued as (
  select r.id from runs r, (select count(*) as n from shard) as after_shards
  where r.id = any(array(select run_id from live)) and r.status = 'queued' and after_shards.n >= 0
  order by r.id
  for update of r
), run as (
  update runs r set status = 'running', started_at = coalesce(r.started_at, now())
  where r.id = any(array(select id from queued)) and r.status = 'queued'
  returning r.id
), purged as (
  delete from run_results x using open o
  where o.purge and x.run_id = o.run_id and x.shard_index = o.shard_index
    and not (x.status = 'skipped' and x.attempt = 0)
  returning x.run_id, x.shard_index
)
select q.ord::int as ord, cur.status, cur.shard_count, cur.shards_completed, cur.passed, cur.failed,
       cur.total, cur.workspace_id, cur.name, cur.tags, cur.created_at,
       cur.released_at is not null as released,
       exists (select 1 from open o where o.ord = q.ord) as started,
       (exists (select 1 from run where run.id = q.run_id)
         and q.ord = (select min(l.ord) from live l where l.run_id = q.run_id)) as was_queued,
       (select count(*) from purged p
        where p.run_id = q.run_id and p.shard_index = q.shard_index)::int as purged
from req q join cur on cur.id = q.run_id
order by q.ord`;

/** One result per call, in order; `undefined` where the run does not exist. */
export async function beginShardsSql(
  db: Kysely<Database>,
  calls: readonly BeginShardCall[],
): Promise<(BeginShardRow | undefined)[]> {
  const rows = await allRows<BeginShardRow & { ord: number }>(db, BEGIN_SHARDS, [
    calls.map((c) => c.runId),
    calls.map((c) => c.shardIndex),
    calls.map((c) => c.attempt),
    calls.map((c) => c.purge),
  ]);
  const out: (BeginShardRow | undefined)[] = calls.map(() => undefined);
  for (const { ord, ...row } of rows) out[ord - 1] = row;
  return out;
}
