import { isTerminal, type RunStatus } from '@x/protocol';
import type { Kysely } from 'kysely';
import type { RunRow } from '../row-mapping.js';
import type { Database } from '../schema.js';
import type { TransitionFields } from '../types/run-queries.js';
import { pendingCallbackSetsText } from './callback-outbox.js';
import { firstRow } from './statement.js';

/** The winner's updated run, or the status a loser found; `undefined`: no such run. */
export type TransitionOutcome =
  | { won: true; row: RunRow }
  | { won: false; status: RunStatus }
  | undefined;

/** What decides the statement's text; the values themselves are always parameters. */
interface Shape {
  to: 'running' | 'terminal' | 'other';
  error: boolean;
  finishedAt: boolean;
  durationMs: boolean;
}

/**
 * First-writer-wins status change: one UPDATE, guarded by the status it must move from.
 * Params: $1 run id, $2 allowed `from` statuses (text[], terminal ones removed), $3 target
 * status, then, when given and in this order, the error, finishedAt and durationMs.
 * Output: the updated run's row when this caller won; no row when it lost or the run does
 * not exist (then {@link transitionSql} reads the status).
 *
 * Exactly one of concurrent writers wins: an UPDATE that finds the row locked by another
 * writer waits for its commit and re-checks `status = any($2)` on the committed version
 * (READ COMMITTED), so it matches nothing once the winner moved the run out of `from`. A
 * terminal status never matches, whatever `from` says. No `select … for update` first:
 * taking the row lock in a separate step cost ~0.1 ms on every abort (issue 18 §3's probe:
 * 0.909 vs 0.787 ms p50), only to hand a loser its status in the same round trip.
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
            (${finished} - coalesce(r.started_at, r.created_at))) * 1000))::int`,
    );
    // The winner of a terminal write (failed, aborted) also queues its callback, atomically.
    sets.push(pendingCallbackSetsText('r'));
  }
  return `
    update runs r set ${sets.join(', ')}
    where r.id = $1 and r.status = any($2::text[])
    returning r.*`;
}

const STATUS = 'select status from runs where id = $1';

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

/**
 * Runs the transition; a caller that lost (or a run that does not exist) gets the status as
 * committed after the UPDATE, which waited for any concurrent writer: the winner's status.
 */
export async function transitionSql(
  db: Kysely<Database>,
  runId: string,
  from: readonly RunStatus[],
  to: RunStatus,
  fields: TransitionFields,
): Promise<TransitionOutcome> {
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
  const row = await firstRow<RunRow>(db, text, params);
  if (row) return { won: true, row };
  const found = await firstRow<{ status: RunStatus }>(db, STATUS, [runId]);
  return found && { won: false, status: found.status };
}
