import { isTerminal, type RunStatus } from '@x/protocol';
import type { Kysely } from 'kysely';
import type { RunRow } from '../row-mapping.js';
import type { Database } from '../schema.js';
import type { TransitionFields } from '../types/run-queries.js';
import { pendingCallbackSetsText } from './callback-outbox.js';
import { firstRow } from './statement.js';

/** The run's columns after the write (all null when this caller lost), plus `previous`. */
export type TransitionRow = { [K in keyof RunRow]: RunRow[K] | null } & {
  previous: RunStatus;
  status: RunStatus | null;
};

/** What decides the statement's text; the values themselves are always parameters. */
interface Shape {
  to: 'running' | 'terminal' | 'other';
  error: boolean;
  finishedAt: boolean;
  durationMs: boolean;
}

/**
 * First-writer-wins status change in one statement.
 * Params: $1 run id, $2 allowed `from` statuses (text[], terminal ones removed), $3 target
 * status, then, when given and in this order, the error, finishedAt and durationMs.
 * Output: no row when the run does not exist; else `previous` (the latest committed status,
 * read under the row lock) and the updated run's columns (`status` the new status), all null
 * when this caller lost: the winner gets its run in the same round trip, with no second read.
 *
 * `cur` takes the row lock and so sees the winner's status when it waits on a concurrent
 * writer; a terminal status never matches, whatever `from` says.
 *
 * Constant text per shape (at most 24), built once: pg keeps it prepared and Kysely need not
 * compile it on every call (an abort's write is on the abort's latency path).
 */
function transitionText(shape: Shape): string {
  let n = 3;
  const sets = ['status = $3'];
  if (shape.error) sets.push(`error = $${++n}`);
  if (shape.to === 'running') sets.push('started_at = coalesce(r.started_at, now())');
  if (shape.to === 'terminal') {
    const finished = shape.finishedAt ? `$${++n}::timestamptz` : 'now()';
    sets.push(`finished_at = ${finished}`);
    sets.push(
      shape.durationMs
        ? `duration_ms = $${++n}::int`
        : `duration_ms = greatest(0, round(extract(epoch from
            (${finished} - coalesce(cur.started_at, cur.created_at))) * 1000))::int`,
    );
    // The winner of a terminal write (failed, aborted) also queues its callback, atomically.
    sets.push(pendingCallbackSetsText('r'));
  }
  return `
    with cur as (
      select id, status, started_at, created_at from runs where id = $1 for update
    ), upd as (
      update runs r set ${sets.join(', ')}
      from cur
      where r.id = cur.id and cur.status = any($2::text[])
      returning r.*
    )
    select upd.*, cur.status as previous from cur left join upd on true`;
}

const shapeKey = (s: Shape) => `${s.to}|${s.error}|${s.finishedAt}|${s.durationMs}`;

/** Every shape's text, built at load: a constant table, not a cache that fills up. */
const TEXTS: ReadonlyMap<string, string> = new Map(
  (['running', 'terminal', 'other'] as const).flatMap((to) =>
    [false, true].flatMap((error) =>
      [false, true].flatMap((finishedAt) =>
        [false, true].map((durationMs) => {
          const shape = { to, error, finishedAt, durationMs };
          return [shapeKey(shape), transitionText(shape)] as const;
        }),
      ),
    ),
  ),
);

export async function transitionSql(
  db: Kysely<Database>,
  runId: string,
  from: readonly RunStatus[],
  to: RunStatus,
  fields: TransitionFields,
): Promise<TransitionRow | undefined> {
  const shape: Shape = {
    to: to === 'running' ? 'running' : isTerminal(to) ? 'terminal' : 'other',
    error: fields.error !== undefined,
    finishedAt: isTerminal(to) && fields.finishedAt !== undefined,
    durationMs: isTerminal(to) && fields.durationMs !== undefined,
  };
  const text = TEXTS.get(shapeKey(shape)) ?? transitionText(shape);
  const params: unknown[] = [runId, from.filter((s) => !isTerminal(s)), to];
  if (shape.error) params.push(fields.error);
  if (shape.finishedAt) params.push(fields.finishedAt);
  if (shape.durationMs) params.push(fields.durationMs);
  return firstRow<TransitionRow>(db, text, params);
}
