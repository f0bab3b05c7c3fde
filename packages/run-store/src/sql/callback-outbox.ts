import type { RunStatus } from '@x/protocol';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { CallbackState } from '../run-status.js';
import type { Database } from '../schema.js';

/**
 * The outbox columns every terminal write sets, in its own UPDATE (so the status and the
 * pending callback commit together or not at all). `table` is the alias of `runs` in that
 * statement. Terminal writes happen once per run, so this never re-arms a settled callback.
 * As text for statements written as constant text (transition.ts); one definition for both.
 */
export function pendingCallbackSetsText(table: 'r'): string {
  return `callback_state = case when ${table}.callback_url is not null then 'pending' end,
    callback_due_at = case when ${table}.callback_url is not null then now() end`;
}

/** {@link pendingCallbackSetsText} for statements built with Kysely's `sql`. */
export function pendingCallbackSets(table: 'r'): RawBuilder<unknown>[] {
  return [sql.raw(pendingCallbackSetsText(table))];
}

export interface ClaimRow {
  id: string;
  workspace_id: string;
  callback_url: string;
  callback_attempts: number;
  status: RunStatus;
  passed: number;
  failed: number;
  total: number;
  error: string | null;
}

/**
 * now() at the columns' millisecond precision. A `timestamptz(3)` column stores now() rounded
 * to the nearest millisecond, so it can read up to half a millisecond *later* than the now()
 * of a claim that follows at once; compared unrounded, a callback due "now" would not be due.
 */
const NOW_MS = sql`now()::timestamptz(3)`;

const CLAIM_RETURNING = sql`returning r.id, r.workspace_id, r.callback_url, r.callback_attempts, r.status,
  r.passed, r.failed, r.total, r.error`;

/**
 * Claims one run's callback for the process that won its terminal status: `pending` ->
 * `sending` if still pending (a first attempt at once; a retry only once due). A concurrent
 * claimer waits on the row lock, re-reads `sending` and gets no row: first claimer wins.
 */
export async function claimCallbackSql(
  db: Kysely<Database>,
  runId: string,
): Promise<ClaimRow | undefined> {
  const { rows } = await sql<ClaimRow>`
    update runs r
    set callback_state = 'sending', callback_attempts = r.callback_attempts + 1,
        callback_claimed_at = now()
    where r.id = ${runId} and r.callback_state = 'pending'
      and (r.callback_attempts = 0 or r.callback_due_at <= ${NOW_MS})
    ${CLAIM_RETURNING}`.execute(db);
  return rows[0];
}

/**
 * The sweep's claim: up to `limit` callbacks nobody is delivering — `pending` and due (a
 * never-tried one only `graceMs` after it became pending, so its writer sends it first), or
 * `sending` with a claim older than `leaseMs` (its sender died). `skip locked` lets several
 * sweepers run at once without waiting on, or double-claiming, the same rows.
 */
export async function claimDueCallbacksSql(
  db: Kysely<Database>,
  q: { limit: number; leaseMs: number; graceMs: number },
): Promise<ClaimRow[]> {
  const { rows } = await sql<ClaimRow>`
    with due as (
      select id from runs
      where (callback_state = 'pending' and callback_due_at <= ${NOW_MS}
               - case when callback_attempts = 0 then ${q.graceMs}::int else 0 end * interval '1 millisecond')
         or (callback_state = 'sending'
               and callback_claimed_at <= ${NOW_MS} - ${q.leaseMs}::int * interval '1 millisecond')
      order by callback_due_at
      limit ${q.limit}
      for update skip locked
    )
    update runs r
    set callback_state = 'sending', callback_attempts = r.callback_attempts + 1,
        callback_claimed_at = now()
    from due
    where r.id = due.id
    ${CLAIM_RETURNING}`.execute(db);
  return rows;
}

/** Any successful POST settles the callback, even one whose claim another sender took over. */
export async function markCallbackSentSql(db: Kysely<Database>, runId: string): Promise<boolean> {
  const { rows } = await sql<{ id: string }>`
    update runs set callback_state = 'sent', callback_sent_at = now(), callback_error = null
    where id = ${runId} and callback_state in ('pending', 'sending', 'failed')
    returning id`.execute(db);
  return rows.length > 0;
}

/**
 * A failed attempt, recorded only by the holder of that claim (`attempt` = the claim's
 * attempt count), so a sender whose lease expired cannot overwrite a newer outcome.
 * With `retryInMs` the callback goes back to `pending`, due then; without, it is `failed`.
 */
export async function markCallbackFailedSql(
  db: Kysely<Database>,
  runId: string,
  attempt: number,
  error: string,
  retryInMs: number | undefined,
): Promise<boolean> {
  const retry = retryInMs !== undefined;
  const { rows } = await sql<{ id: string }>`
    update runs
    set callback_state = ${retry ? 'pending' : 'failed'}, callback_error = ${error},
        callback_due_at = ${retry ? sql`now() + ${retryInMs}::int * interval '1 millisecond'` : sql`callback_due_at`}
    where id = ${runId} and callback_state = 'sending' and callback_attempts = ${attempt}
    returning id`.execute(db);
  return rows.length > 0;
}

export interface CallbackRow {
  callback_url: string | null;
  callback_state: CallbackState | null;
  callback_attempts: number;
  callback_due_at: Date | null;
  callback_claimed_at: Date | null;
  callback_sent_at: Date | null;
  callback_error: string | null;
}

export async function getCallbackSql(
  db: Kysely<Database>,
  runId: string,
): Promise<CallbackRow | undefined> {
  return db
    .selectFrom('runs')
    .select([
      'callback_url',
      'callback_state',
      'callback_attempts',
      'callback_due_at',
      'callback_claimed_at',
      'callback_sent_at',
      'callback_error',
    ])
    .where('id', '=', runId)
    .executeTakeFirst();
}
