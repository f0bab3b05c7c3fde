import type { Kysely } from 'kysely';
import { type RunRow, resultColumns } from '../row-mapping.js';
import type { Database } from '../schema.js';
import type { NewResult, ShardStats } from '../types/run.js';
import { firstRow } from './statement.js';

export interface CompleteShardRow {
  shard_count: number;
  shards_completed: number;
  applied: boolean;
  /** The run as this call completed it, when it finalized the run in the same statement. */
  finalized?: RunRow;
}

/** The statement's reply: the finalized run's columns (all null otherwise), then the counts. */
export type CompleteShardReply = { [K in keyof RunRow]: RunRow[K] | null } & {
  counted_shard_count: number;
  counted_shards_completed: number;
  applied: boolean;
};

/**
 * The run's terminal columns, written only by the finalizing call: the one whose completion
 * is the run's last, when every earlier completion of the run counted itself in the running
 * sums (`completions_counted`; one by an older version did not, and then the caller finalizes
 * with `finalizeRun`'s statement, which sums the shard rows). Every value is read from the run
 * row the update lands on, the latest under READ COMMITTED (a sibling that committed while
 * this statement waited for the row is in it), never from the statement's snapshot.
 */
const FINAL =
  '$8::boolean and r.shards_completed + 1 = r.shard_count and r.completions_counted + 1 = r.shard_count';
/** This shard's part of the run's retry counts (`shard.attempt` is its attempt after this call). */
const RETRIES = 'greatest(shard.attempt - 1, 0)';
const FAILED_AFTER_RETRY = 'case when shard.attempt > 1 then $5 else 0 end';

/**
 * The SET items of a completion that may be the run's last: each terminal column takes its
 * final value when `final` holds on the run row `r`, else keeps its own. `retries` and
 * `failedAfterRetry` are what the completion adds to the running sums.
 */
export function finalizingSets(final: string, retries: string, failedAfterRetry: string): string {
  const sets: [column: string, value: string][] = [
    ['status', `'completed'`],
    ['retry_count', `r.completion_retries + ${retries}`],
    ['failed_after_retry', `r.completion_failed_after_retry + ${failedAfterRetry}`],
    ['finished_at', 'now()'],
    [
      'duration_ms',
      'greatest(0, round(extract(epoch from (now() - coalesce(r.started_at, r.created_at))) * 1000))::int',
    ],
    ['callback_state', `case when r.callback_url is not null then 'pending' end`],
    ['callback_due_at', 'case when r.callback_url is not null then now() end'],
  ];
  return sets
    .map(([column, value]) => `${column} = case when ${final} then ${value} else r.${column} end`)
    .join(',\n      ');
}

/** A reply row as the store's row: the counts, and the run when this call finalized it. */
export function toCompleteShardRow(reply: CompleteShardReply): CompleteShardRow {
  const { counted_shard_count, counted_shards_completed, applied, ...run } = reply;
  const row: CompleteShardRow = {
    shard_count: counted_shard_count,
    shards_completed: counted_shards_completed,
    applied,
  };
  if (run.id !== null) row.finalized = run as RunRow;
  return row;
}

/**
 * Exactly-once shard completion with the shard's results, one statement.
 * Params: $1 run id, $2 shard index, $3 attempt, $4 passed, $5 failed, $6 skipped, $7 the
 * results as one jsonb array, $8 whether the finalizer finalizes the run here. Output: no row
 * when the run does not exist; else the run's shard_count, shards_completed (after this call
 * when applied) and whether this call applied the shard, and, when it completed the run, the
 * run's columns (null otherwise).
 *
 * Finalizing in the same statement (`$8`): the call whose increment lands on shard_count also
 * writes what `finalizeRunSql` writes (status, retry counts, finished_at, duration, the
 * callback outbox) — one statement a run fewer. The retry counts are running sums every
 * completion adds its shard's part to (`completion_retries`, `completion_failed_after_retry`,
 * migration 0015), so the finalizer reads no sibling row (see `FINAL`).
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
  returning s.run_id, s.shard_index, s.attempt
), upd as (
  update runs r
  set passed = r.passed + $4, failed = r.failed + $5, shards_completed = r.shards_completed + 1,
      completion_retries = r.completion_retries + ${RETRIES},
      completion_failed_after_retry = r.completion_failed_after_retry + ${FAILED_AFTER_RETRY},
      completions_counted = r.completions_counted + 1,
      ${finalizingSets(FINAL, RETRIES, FAILED_AFTER_RETRY)}
  from shard
  where r.id = $1 and r.id = shard.run_id and r.status in ('queued', 'running')
  returning r, r.shard_count, r.shards_completed
), ins as (
  insert into run_results (run_id, shard_index, test_id, name, status, duration_ms, error, attempt)
  select shard.run_id, shard.shard_index, x.test_id, x.name, x.status, x.duration_ms, x.error, x.attempt
  from shard, jsonb_to_recordset($7::jsonb)
    as x(test_id text, name text, status text, duration_ms int, error text, attempt int)
  returning 1
)
select (case when (upd.r).status = 'completed' then upd.r end).*,
       upd.shard_count as counted_shard_count, upd.shards_completed as counted_shards_completed,
       true as applied
from upd
union all
select (null::runs).*, shard_count, shards_completed, false
from runs where id = $1 and not exists (select 1 from upd)`;

/** One shard completion, as {@link COMPLETE_SHARD_SQL} (or, batched, COMPLETE_SHARDS) takes it. */
export interface CompleteShardCall {
  runId: string;
  shardIndex: number;
  attempt: number;
  stats: ShardStats;
  results: readonly NewResult[];
  /** Let the finalizer finalize the run in its completion (a batch: only when every call does). */
  finalize: boolean;
}

export async function completeShardSql(
  db: Kysely<Database>,
  call: CompleteShardCall,
): Promise<CompleteShardRow | undefined> {
  const reply = await firstRow<CompleteShardReply>(
    db,
    COMPLETE_SHARD_SQL,
    completeShardParams(call),
  );
  return reply && toCompleteShardRow(reply);
}

/** {@link COMPLETE_SHARD_SQL}'s parameters, in order (the bench sends the same through bare pg). */
export function completeShardParams(call: CompleteShardCall): unknown[] {
  const { stats } = call;
  const payload = JSON.stringify(call.results.map(resultColumns));
  return [
    call.runId,
    call.shardIndex,
    call.attempt,
    stats.passed,
    stats.failed,
    stats.skipped,
    payload,
    call.finalize,
  ];
}
