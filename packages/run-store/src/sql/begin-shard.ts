import type { RunStatus } from '@x/protocol';
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { firstRow } from './statement.js';

export interface BeginShardRow {
  status: RunStatus;
  workspace_id: string;
  name: string | null;
  tags: string[];
  created_at: Date;
  shard_count: number;
  shards_completed: number;
  passed: number;
  failed: number;
  total: number;
  started: boolean;
  was_queued: boolean;
  purged: number;
  released: boolean;
}

/**
 * A worker starting a shard, in one statement: the status guard, queued -> running for the
 * run's first start, the shard's start where it is read, the retry purge.
 * Params: $1 run id, $2 shard index, $3 attempt, $4 purge (boolean).
 * Output: no row when the run does not exist; else the run's status and counters as read
 * before this call, its fixed fields (workspace, name, tags, created_at: the store remembers
 * them, so the workspace feed needs no read of its own), whether the shard may run
 * (`started`: the run was live and the shard not completed), whether this call moved the run
 * from queued to running, how many of the shard's executed results were purged, and whether
 * fair dispatch released shards of the run (`released`).
 *
 * Writes only what something reads: the run's first start (queued -> running), and the shard
 * row (`running`, the attempt, never lowered) where it is read before the completion: a
 * shard fair dispatch released (its workspace's window counts the shards not started yet)
 * and a retry (attempt 2 or more). A first attempt of a shard enqueued with its whole run
 * (fifo) on a running run writes nothing, so three of a 4-shard run's four begins are reads:
 * its completion records the attempt with the stats. Nothing is written when the run is
 * terminal or the index is out of range. The run update re-checks `status = 'queued'` on the
 * latest row version, so an abort committed meanwhile wins.
 *
 * Locks: the shard row, when written (`shard`), is taken before the run row (`run` reads
 * `shard`'s count first), the same order as completeShardSql, so the two cannot deadlock. The
 * purge (a retry's) deletes only this shard's executed results: pre-seeded skips (status
 * skipped, attempt 0: never executed, a final dispatch decision), sibling shards and a
 * completed shard's results (they back the run's counters) stay.
 *
 * A constant text so pg keeps it prepared and Kysely need not compile it on the hot path.
 */
export const BEGIN_SHARD = `
with cur as (
  select status, shard_count, shards_completed, passed, failed, total,
         workspace_id, name, tags, created_at, released_at
  from runs where id = $1
), live as (
  select 1 from cur where status in ('queued', 'running') and $2::int < shard_count
), open as (
  select 1 from run_shards s
  where s.run_id = $1 and s.shard_index = $2 and s.status <> 'completed'
    and exists (select 1 from live)
), shard as (
  update run_shards s set attempt = greatest(s.attempt, $3::int), status = 'running'
  where s.run_id = $1 and s.shard_index = $2 and s.status <> 'completed'
    and ((s.released_at is not null and s.status = 'pending') or ($3::int > 1 and s.attempt < $3::int))
    and exists (select 1 from live)
  returning 1
), run as (
  update runs r set status = 'running', started_at = coalesce(r.started_at, now())
  where r.id = $1 and r.status = 'queued' and exists (select 1 from live)
    and (select count(*) from shard) >= 0
  returning 1
), purged as (
  delete from run_results
  where $4::boolean and run_id = $1 and shard_index = $2 and not (status = 'skipped' and attempt = 0)
    and exists (select 1 from open)
  returning 1
)
select cur.status, cur.shard_count, cur.shards_completed, cur.passed, cur.failed, cur.total,
       cur.workspace_id, cur.name, cur.tags, cur.created_at,
       cur.released_at is not null as released,
       exists (select 1 from open) as started,
       exists (select 1 from run) as was_queued,
       (select count(*) from purged)::int as purged
from cur`;

export function beginShardSql(
  db: Kysely<Database>,
  runId: string,
  shardIndex: number,
  attempt: number,
  purge: boolean,
): Promise<BeginShardRow | undefined> {
  return firstRow(db, BEGIN_SHARD, [runId, shardIndex, attempt, purge]);
}
