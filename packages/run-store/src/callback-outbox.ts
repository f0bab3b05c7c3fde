import type { Kysely } from 'kysely';
import { guarded } from './map-error.js';
import type { Database } from './schema.js';
import {
  type ClaimRow,
  claimCallbackSql,
  claimDueCallbacksSql,
  getCallbackSql,
  markCallbackFailedSql,
  markCallbackSentSql,
} from './sql/callback-outbox.js';
import type { CallbackClaim, CallbackOutbox } from './types/callback-outbox.js';
import { isUuid, pageLimit, requireCount, requireRunId, requireText } from './validate.js';

function rowToClaim(r: ClaimRow): CallbackClaim {
  const { id, status, passed, failed, total, error } = r;
  return {
    id,
    runId: id,
    workspaceId: r.workspace_id,
    url: r.callback_url,
    attempt: r.callback_attempts,
    payload: { runId: id, status, passed, failed, total, error },
  };
}

/**
 * The completion-callback outbox over the `runs` table. Terminal writes (in run queries and
 * shard completion) queue a callback in their own statement; these deliver-side statements
 * claim it under a lease, settle it, and show its state.
 */
export function callbackOutbox(db: Kysely<Database>): CallbackOutbox {
  return {
    claimCallbacks: (q = {}) =>
      guarded('claimCallbacks', async () => {
        if (q.runId !== undefined) {
          const row = await claimCallbackSql(db, requireRunId(q.runId));
          return row ? [rowToClaim(row)] : [];
        }
        const rows = await claimDueCallbacksSql(db, {
          limit: pageLimit(q.limit, 20, 1_000),
          leaseMs: requireCount('leaseMs', q.leaseMs ?? 30_000, 1),
          graceMs: requireCount('graceMs', q.graceMs ?? 5_000),
        });
        return rows.map(rowToClaim);
      }),

    markCallbackSent: (runId) =>
      guarded('markCallbackSent', () => markCallbackSentSql(db, requireRunId(runId))),

    markCallbackFailed: (runId, attempt, error, retryInMs) =>
      guarded('markCallbackFailed', async () => {
        const id = requireRunId(runId);
        const att = requireCount('attempt', attempt, 1);
        const text = requireText('error', error, 10_000);
        const retry = retryInMs === undefined ? undefined : requireCount('retryInMs', retryInMs);
        return markCallbackFailedSql(db, id, att, text, retry);
      }),

    getCallback: (runId) =>
      guarded('getCallback', async () => {
        if (!isUuid(runId)) return undefined;
        const r = await getCallbackSql(db, runId);
        return (
          r && {
            url: r.callback_url,
            state: r.callback_state,
            attempts: r.callback_attempts,
            dueAt: r.callback_due_at,
            claimedAt: r.callback_claimed_at,
            sentAt: r.callback_sent_at,
            error: r.callback_error,
          }
        );
      }),
  };
}
