import { LIVE_STATUSES, type RunStatus, type RunWaitReason } from '@x/protocol';
import { type Kysely, sql } from 'kysely';
import type { RunRow } from '../row-mapping.js';
import type { Database } from '../schema.js';
import { pendingCallbackSets } from './callback-outbox.js';
import { allRows, firstRow } from './statement.js';

/**
 * Why a `queued` run waits (`waiting_for`), derived at read time: `workspace_share` when none of
 * its shards is released (fair dispatch releases shard by shard; FIFO marks the whole run
 * enqueued without `released_at`) while its workspace has released shards not completed of live
 * runs, i.e. the dispatcher holds it back because the workspace already uses its share (window
 * or cap). Null otherwise. The limits live in the dispatcher, not here: a run read in the
 * instant before the next pass releases it may show the reason for that pass's interval.
 * Index: `run_shards_released` for the run's own shards, `runs_released_live` (live runs with
 * released shards) for the workspace test; a shard not completed is `completed_at is null` (set
 * with status completed), tested on the row (migration 0011).
 */
const WAITING_FOR = `case when runs.status = 'queued'
    and runs.enqueued_at is null
    and not exists (select 1 from run_shards s
                    where s.run_id = runs.id and s.released_at is not null)
    and exists (select 1 from runs o join run_shards s on s.run_id = o.id
                where o.workspace_id = runs.workspace_id and o.released_at is not null
                  and o.status in ('queued', 'running')
                  and s.released_at is not null and s.completed_at is null)
  then 'workspace_share' end`;
const waitingForSql = sql<RunWaitReason | null>`${sql.raw(WAITING_FOR)}`.as('waiting_for');

/**
 * One run by id, and only in the workspace: constant texts (see statement.ts), since every
 * event stream's open and every run read sends one.
 */
const RUN_ROW = `select *, ${WAITING_FOR} as waiting_for from runs where id = $1`;
const RUN_ROW_IN_WORKSPACE = `${RUN_ROW} and workspace_id = $2`;

/** One run by id; with `workspaceId`, only if it belongs to that workspace. */
export function runRowSql(
  db: Kysely<Database>,
  runId: string,
  workspaceId?: string,
): Promise<RunRow | undefined> {
  return workspaceId === undefined
    ? firstRow<RunRow>(db, RUN_ROW, [runId])
    : firstRow<RunRow>(db, RUN_ROW_IN_WORKSPACE, [runId, workspaceId]);
}

export async function runStatusSql(
  db: Kysely<Database>,
  runId: string,
): Promise<RunStatus | undefined> {
  const row = await db
    .selectFrom('runs')
    .select('status')
    .where('id', '=', runId)
    .executeTakeFirst();
  return row?.status;
}

/** The validated filters of {@link listRunsSql}; an empty list filters nothing. */
export interface RunFilter {
  statuses: readonly RunStatus[];
  tags: readonly string[];
  createdAfter: Date | undefined;
  createdBefore: Date | undefined;
}

/**
 * One page of a workspace's runs, newest first, keyset over (created_at desc, id desc).
 * Fetches `limit + 1` rows so the caller knows whether a next page exists.
 * Indexes: (workspace_id, [status,] created_at desc, id desc) for the order, the time range
 * and the statuses; the GIN index `runs_tagged` for `tags @> …` (every tag must match).
 */
export function listRunsSql(
  db: Kysely<Database>,
  workspaceId: string,
  q: ListRunsParams,
): Promise<RunRow[]> {
  return listRunsQuery(db, workspaceId, q).execute();
}

export type ListRunsParams = RunFilter & {
  limit: number;
  after: { createdAt: Date; id: string } | undefined;
};

/** The statement of {@link listRunsSql}, unsent (its plan is tested). */
export function listRunsQuery(db: Kysely<Database>, workspaceId: string, q: ListRunsParams) {
  let query = db
    .selectFrom('runs')
    .selectAll()
    .select(waitingForSql)
    .where('workspace_id', '=', workspaceId);
  if (q.statuses.length === 1) query = query.where('status', '=', q.statuses[0]!);
  else if (q.statuses.length > 1) query = query.where('status', 'in', [...q.statuses]);
  // `tags <> '{}'` (implied by the first test, literal so a generic plan proves it too) lets
  // the planner use `runs_tagged`, which holds tagged runs only (migration 0014).
  if (q.tags.length > 0)
    query = query.where(sql<boolean>`tags @> ${[...q.tags]}::text[] and tags <> '{}'`);
  if (q.createdAfter) query = query.where('created_at', '>=', q.createdAfter);
  if (q.createdBefore) query = query.where('created_at', '<', q.createdBefore);
  const after = q.after;
  if (after)
    query = query.where(
      sql<boolean>`(created_at, id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)`,
    );
  return query
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(q.limit + 1);
}

/**
 * The runs of `$1` (uuid[]) that are terminal. Terminal is written `not in` the live statuses:
 * the same set (the status column's check), but a test the partial index of finished runs
 * (`runs_finished`, where `status in` the terminal ones) cannot be proven to cover, so the
 * planner never scans that index for a handful of ids. It did, with the plain test, when the
 * statistics predated most runs finishing: 15,000 finished since the last analyze, 8 ids,
 * 4.6 ms through `runs_finished` against 0.04 by primary key. `= any(array)` keeps one text
 * whatever the number of ids.
 */
export const TERMINAL_RUNS = `
  select id, status from runs
  where id = any($1::uuid[]) and status not in ('queued', 'running')`;

export function terminalRunsSql(
  db: Kysely<Database>,
  runIds: readonly string[],
): Promise<{ id: string; status: RunStatus }[]> {
  return allRows(db, TERMINAL_RUNS, [[...runIds]]);
}

/** Fails every live run (the embedded process restarted and lost their shards); queues their callbacks. */
export async function failInterruptedRunsSql(
  db: Kysely<Database>,
  error: string,
): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    update runs r
    set status = 'failed', error = ${error}, finished_at = now(), duration_ms = null,
        ${sql.join(pendingCallbackSets('r'))}
    where finished_at is null and status in (${sql.join(LIVE_STATUSES)})
    returning id`.execute(db);
  return rows.map((r) => r.id);
}
