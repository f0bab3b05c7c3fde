import type { Kysely } from 'kysely';
import { resultColumns } from '../row-mapping.js';
import type { Database } from '../schema.js';
import {
  type CompleteShardCall,
  type CompleteShardReply,
  type CompleteShardRow,
  finalizingSets,
  toCompleteShardRow,
} from './complete-shard.js';
import { allRows } from './statement.js';

/** As the single statement's, per run: the batch's completions of it are its last ones. */
const FINAL =
  '$2::boolean and r.shards_completed + agg.n = r.shard_count and r.completions_counted + agg.n = r.shard_count';

/**
 * Several exactly-once shard completions in one statement (group commit); each call gets
 * what {@link COMPLETE_SHARD_SQL} would have given it alone.
 * Params: $1 the calls as one jsonb array of `{run_id, shard_index, attempt, passed, failed,
 * skipped, results}` (no (run, shard) twice), $2 whether a finalizer finalizes its run here.
 * Output: one row per call whose run exists, with `ord` (1-based position of the call) and
 * `counted_shards_completed`, the count right after this call's shard.
 *
 * Why it is still exactly once: `locked` takes each shard row's lock and re-checks
 * `status <> 'completed'` on the latest version (a concurrent duplicate waits, then finds it
 * completed), so one statement flips each shard. `runlock` takes each flipped shard's run row
 * and re-checks it is live; `upd` adds the flipped shards' stats to it, once per run. When a
 * batch completes several shards of one run, they count in shard order: call k of them sees
 * `shards_completed` = before + k, so exactly one call (the one that lands on shard_count) is
 * the finalizer. The results land with the flip, as in the single statement, and so do the
 * running sums of the retry counts (0015); with $2 (every call asked for it), a run whose last
 * completions are in the batch is finalized in it as the single statement does, and its
 * finalizer's row carries the run's columns.
 *
 * Every read of `runs` is a probe by primary key: the planner takes a function's rows (`req`)
 * for 100, and with an EXISTS or a plain join it chose a hash join over a scan of the index of
 * live runs (every entry, dead ones included) or of all of `runs` (measured: the statement's
 * buffers grew with the table, 185 to 268 a call over 4,000 runs). A scalar subquery and a
 * LATERAL with LIMIT are not flattened into joins; `id = any(array(…))` gives the run locks
 * an index path by primary key (batch-plan.postgres.test.ts checks the plan).
 *
 * Why it cannot deadlock: shard locks in (run, shard) order, then run locks in id order
 * (`runlock` needs the whole of `shard` first: it reads its aggregate), as begin-shards.ts.
 * Limit, as alone: an abort committing between the flip and `runlock` keeps the run's counters.
 */
export const COMPLETE_SHARDS = `
with req as (
  select q.*, x.ord from jsonb_array_elements($1::jsonb) with ordinality as x(call, ord),
    jsonb_to_record(x.call) as q(run_id uuid, shard_index int, attempt int, passed int,
                                 failed int, skipped int, results jsonb)
), locked as (
  select s.run_id, s.shard_index from run_shards s
  join req q on s.run_id = q.run_id and s.shard_index = q.shard_index
  where s.status <> 'completed'
    and (select r.status from runs r where r.id = s.run_id) in ('queued', 'running')
  order by s.run_id, s.shard_index
  for update of s
), shard as (
  update run_shards s
  set status = 'completed', attempt = greatest(s.attempt, q.attempt),
      passed = q.passed, failed = q.failed, skipped = q.skipped, completed_at = now()
  from locked k join req q on q.run_id = k.run_id and q.shard_index = k.shard_index
  where s.run_id = k.run_id and s.shard_index = k.shard_index and s.status <> 'completed'
  returning s.run_id, s.shard_index, s.attempt, q.passed, q.failed, q.ord
), agg as (
  select run_id, sum(passed)::int as passed, sum(failed)::int as failed, count(*)::int as n,
         sum(greatest(attempt - 1, 0))::int as retries,
         coalesce(sum(failed) filter (where attempt > 1), 0)::int as failed_after_retry
  from shard group by run_id
), runlock as (
  select r.id from runs r
  where r.id = any(array(select run_id from agg)) and r.status in ('queued', 'running')
  order by r.id
  for update of r
), upd as (
  update runs r
  set passed = r.passed + agg.passed, failed = r.failed + agg.failed,
      shards_completed = r.shards_completed + agg.n,
      completion_retries = r.completion_retries + agg.retries,
      completion_failed_after_retry = r.completion_failed_after_retry + agg.failed_after_retry,
      completions_counted = r.completions_counted + agg.n,
      ${finalizingSets(FINAL, 'agg.retries', 'agg.failed_after_retry')}
  from runlock k join agg on agg.run_id = k.id
  where r.id = any(array(select id from runlock)) and r.id = k.id
    and r.status in ('queued', 'running')
  returning r.id, r.shard_count, r.shards_completed, agg.n, r as run
), ins as (
  insert into run_results (run_id, shard_index, test_id, name, status, duration_ms, error, attempt)
  select shard.run_id, shard.shard_index, x.test_id, x.name, x.status, x.duration_ms, x.error, x.attempt
  from shard join req q on q.ord = shard.ord,
    jsonb_to_recordset(q.results)
      as x(test_id text, name text, status text, duration_ms int, error text, attempt int)
  returning 1
), applied as (
  select shard.ord, upd.shard_count, upd.run,
         upd.shards_completed - upd.n
           + (row_number() over (partition by shard.run_id order by shard.shard_index))::int
           as shards_completed
  from shard join upd on upd.id = shard.run_id
)
select (case when a.shards_completed = a.shard_count and (a.run).status = 'completed'
             then a.run end).*,
       q.ord::int as ord, coalesce(a.shard_count, r.shard_count) as counted_shard_count,
       coalesce(a.shards_completed, r.shards_completed) as counted_shards_completed,
       a.ord is not null as applied
from req q cross join lateral (
  select shard_count, shards_completed from runs where id = q.run_id limit 1
) r
left join applied a on a.ord = q.ord
order by q.ord`;

/** One result per call, in order; `undefined` where the run does not exist. */
export async function completeShardsSql(
  db: Kysely<Database>,
  calls: readonly CompleteShardCall[],
): Promise<(CompleteShardRow | undefined)[]> {
  const payload = JSON.stringify(
    calls.map((c) => ({
      run_id: c.runId,
      shard_index: c.shardIndex,
      attempt: c.attempt,
      passed: c.stats.passed,
      failed: c.stats.failed,
      skipped: c.stats.skipped,
      results: c.results.map(resultColumns),
    })),
  );
  const rows = await allRows<CompleteShardReply & { ord: number }>(db, COMPLETE_SHARDS, [
    payload,
    calls.every((c) => c.finalize),
  ]);
  const out: (CompleteShardRow | undefined)[] = calls.map(() => undefined);
  for (const { ord, ...reply } of rows) out[ord - 1] = toCompleteShardRow(reply);
  return out;
}
