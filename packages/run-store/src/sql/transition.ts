import { isTerminal, type RunStatus } from '@x/protocol';
import { type Kysely, sql } from 'kysely';
import type { RunRow } from '../row-mapping.js';
import type { Database } from '../schema.js';
import type { TransitionFields } from '../types/run-queries.js';
import { pendingCallbackSets } from './callback-outbox.js';

/** The run's columns after the write (all null when this caller lost), plus `previous`. */
export type TransitionRow = { [K in keyof RunRow]: RunRow[K] | null } & {
  previous: RunStatus;
  status: RunStatus | null;
};

/**
 * First-writer-wins status change in one statement.
 * Params: run id, allowed `from` statuses, target status, optional fields.
 * Output: no row when the run does not exist; else `previous` (the latest committed status,
 * read under the row lock) and the updated run's columns (`status` the new status), all null
 * when this caller lost: the winner gets its run in the same round trip, with no second read.
 *
 * `cur` takes the row lock and so sees the winner's status when it waits on a concurrent
 * writer; a terminal status never matches, whatever `from` says.
 */
export async function transitionSql(
  db: Kysely<Database>,
  runId: string,
  from: readonly RunStatus[],
  to: RunStatus,
  fields: TransitionFields,
): Promise<TransitionRow | undefined> {
  const sets = [sql`status = ${to}`];
  if (fields.error !== undefined) sets.push(sql`error = ${fields.error}`);
  if (to === 'running') sets.push(sql`started_at = coalesce(r.started_at, now())`);
  if (isTerminal(to)) {
    const finished = fields.finishedAt ? sql`${fields.finishedAt}::timestamptz` : sql`now()`;
    sets.push(sql`finished_at = ${finished}`);
    sets.push(
      fields.durationMs !== undefined
        ? sql`duration_ms = ${fields.durationMs}::int`
        : sql`duration_ms = greatest(0, round(extract(epoch from
            (${finished} - coalesce(cur.started_at, cur.created_at))) * 1000))::int`,
    );
    // The winner of a terminal write (failed, aborted) also queues its callback, atomically.
    sets.push(...pendingCallbackSets('r'));
  }
  const live = from.filter((s) => !isTerminal(s));
  const match = live.length > 0 ? sql`cur.status in (${sql.join(live)})` : sql`false`;
  const { rows } = await sql<TransitionRow>`
    with cur as (
      select id, status, started_at, created_at from runs where id = ${runId} for update
    ), upd as (
      update runs r set ${sql.join(sets)}
      from cur
      where r.id = cur.id and ${match}
      returning r.*
    )
    select upd.*, cur.status as previous from cur left join upd on true`.execute(db);
  return rows[0];
}
