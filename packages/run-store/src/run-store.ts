import type { Kysely } from 'kysely';
import {
  decodeResultCursor,
  decodeRunCursor,
  encodeResultCursor,
  encodeRunCursor,
} from './cursor.js';
import { toRunStoreError } from './map-error.js';
import { type RunRow, rowToResult, rowToRun } from './row-mapping.js';
import { isRunStatus } from './run-status.js';
import type { Database } from './schema.js';
import { appendResultsSql } from './sql/append-results.js';
import { beginShardSql } from './sql/begin-shard.js';
import {
  type ClaimRow,
  claimCallbackSql,
  claimDueCallbacksSql,
  getCallbackSql,
  markCallbackFailedSql,
  markCallbackSentSql,
} from './sql/callback-outbox.js';
import { completeShardSql } from './sql/complete-shard.js';
import { completeShardWithResultsSql } from './sql/complete-shard-with-results.js';
import { createRunSql } from './sql/create-run.js';
import { finalizeRunSql } from './sql/finalize-run.js';
import { resultsPageSql } from './sql/read-results.js';
import { failInterruptedRunsSql, listRunsSql, terminalRunsSql } from './sql/read-runs.js';
import { purgeShardResultsSql, recordShardAttemptSql } from './sql/shard-rows.js';
import { transitionSql } from './sql/transition.js';
import type { CallbackClaim, RunStore } from './types.js';
import {
  invalid,
  isUuid,
  notFound,
  outOfRange,
  pageLimit,
  requireCount,
  requireRunId,
  requireShardIndex,
  requireText,
} from './validate.js';
import {
  validateCreateRun,
  validateResults,
  validateStats,
  validateStatuses,
} from './validate-input.js';

function rowToClaim(r: ClaimRow): CallbackClaim {
  const { id, status, passed, failed, total, error } = r;
  return {
    runId: id,
    url: r.callback_url,
    attempt: r.callback_attempts,
    payload: { runId: id, status, passed, failed, total, error },
  };
}

/** Runs `fn` and turns anything it throws into a RunStoreError (via the one mapping function). */
async function guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toRunStoreError(e, operation);
  }
}

/**
 * The run repository over a migrated database (see {@link migrate}). Every call validates
 * its input before touching the database, so bad input never writes anything.
 *
 * @example
 * const store = createRunStore(db);
 * const run = await store.createRun({ workspaceId: 'acme', executor: 'demo', shards: [{ testIds: ['a'] }] });
 * await store.markRunning(run.id);
 * const done = await store.completeShard(run.id, 0, 1, { passed: 1, failed: 0, skipped: 0 });
 * if (done.isFinalizer) await store.finalizeRun(run.id);
 */
export function createRunStore(db: Kysely<Database>): RunStore {
  const store: RunStore = {
    createRun: (input) =>
      guard('createRun', async () => {
        const params = validateCreateRun(input);
        return rowToRun(await createRunSql(db, params));
      }),

    getRun: (workspaceId, runId) =>
      guard('getRun', async () => {
        if (!isUuid(runId) || typeof workspaceId !== 'string') return undefined;
        const row = await db
          .selectFrom('runs')
          .selectAll()
          .where('id', '=', runId)
          .where('workspace_id', '=', workspaceId)
          .executeTakeFirst();
        return row && rowToRun(row);
      }),

    getRunById: (runId) =>
      guard('getRunById', async () => {
        if (!isUuid(runId)) return undefined;
        const row = await db
          .selectFrom('runs')
          .selectAll()
          .where('id', '=', runId)
          .executeTakeFirst();
        return row && rowToRun(row);
      }),

    listRuns: (workspaceId, q = {}) =>
      guard('listRuns', async () => {
        if (q.status !== undefined && !isRunStatus(q.status))
          throw invalid('status', 'is not a run status');
        const limit = pageLimit(q.limit, 50, 500);
        const after = q.cursor === undefined ? undefined : decodeRunCursor(q.cursor);
        const rows = await listRunsSql(db, workspaceId, { status: q.status, limit, after });
        const page = rows.slice(0, limit);
        const last = page.at(-1);
        return {
          runs: page.map(rowToRun),
          nextCursor:
            rows.length > limit && last ? encodeRunCursor(last.created_at, last.id) : null,
        };
      }),

    getResults: (workspaceId, runId, q = {}) =>
      guard('getResults', async () => {
        const limit = pageLimit(q.limit, 100, 1_000);
        const after = q.cursor === undefined ? undefined : decodeResultCursor(q.cursor);
        if (!isUuid(runId) || typeof workspaceId !== 'string') return undefined;
        const rows = await resultsPageSql(db, workspaceId, runId, limit, after);
        if (rows.length === 0) return undefined;
        const found = rows.filter((r) => r.seq !== null);
        const page = found.slice(0, limit);
        const last = page.at(-1);
        return {
          results: page.map(rowToResult),
          nextCursor:
            found.length > limit && last?.seq
              ? encodeResultCursor(last.shard_index, last.seq)
              : null,
        };
      }),

    markRunning: async (runId) => (await store.transition(runId, ['queued'], 'running')).won,

    transition: (runId, from, to, fields = {}) =>
      guard('transition', async () => {
        const id = requireRunId(runId);
        const allowed = validateStatuses('from', from);
        if (!isRunStatus(to)) throw invalid('to', 'is not a run status');
        if (fields.error !== undefined && fields.error !== null)
          requireText('error', fields.error, 10_000);
        if (fields.durationMs !== undefined) requireCount('durationMs', fields.durationMs);
        if (
          fields.finishedAt !== undefined &&
          !(fields.finishedAt instanceof Date && !Number.isNaN(+fields.finishedAt))
        ) {
          throw invalid('finishedAt', 'must be a valid Date');
        }
        const row = await transitionSql(db, id, allowed, to, fields);
        if (!row) throw notFound(id);
        if (row.status === null) return { won: false, status: row.previous };
        const { previous: _, ...updated } = row;
        const run = rowToRun(updated as RunRow);
        return { won: true, status: run.status, run };
      }),

    completeShard: (runId, shardIndex, attempt, stats) =>
      guard('completeShard', async () => {
        const id = requireRunId(runId);
        const index = requireShardIndex(shardIndex);
        const att = requireCount('attempt', attempt, 1);
        const valid = validateStats(stats);
        const row = await completeShardSql(db, id, index, att, valid);
        if (!row) throw notFound(id);
        // An out-of-range index matched no shard row, so nothing was written.
        if (index >= row.shard_count) throw outOfRange(id, index, row.shard_count);
        return {
          applied: row.applied,
          shardsCompleted: row.shards_completed,
          shardCount: row.shard_count,
          isFinalizer: row.applied && row.shards_completed === row.shard_count,
        };
      }),

    completeShardWithResults: (runId, shardIndex, attempt, stats, results) =>
      guard('completeShardWithResults', async () => {
        const id = requireRunId(runId);
        const index = requireShardIndex(shardIndex);
        const att = requireCount('attempt', attempt, 1);
        const valid = validateStats(stats);
        const rows = validateResults(results);
        const row = await completeShardWithResultsSql(db, id, index, att, valid, rows);
        if (!row) throw notFound(id);
        // An out-of-range index matched no shard row, so nothing was written.
        if (index >= row.shard_count) throw outOfRange(id, index, row.shard_count);
        return {
          applied: row.applied,
          shardsCompleted: row.shards_completed,
          shardCount: row.shard_count,
          isFinalizer: row.applied && row.shards_completed === row.shard_count,
        };
      }),

    finalizeRun: (runId) =>
      guard('finalizeRun', async () => {
        const id = requireRunId(runId);
        const row = await finalizeRunSql(db, id);
        if (row) return { won: true, run: rowToRun(row) };
        const current = await store.getRunById(id);
        if (!current) throw notFound(id);
        return { won: false, run: current };
      }),

    recordShardAttempt: (runId, shardIndex, attempt) =>
      guard('recordShardAttempt', async () => {
        const id = requireRunId(runId);
        const index = requireShardIndex(shardIndex);
        const att = requireCount('attempt', attempt, 1);
        const row = await recordShardAttemptSql(db, id, index, att);
        if (!row) throw notFound(id);
        if (index >= row.shard_count) throw outOfRange(id, index, row.shard_count);
      }),

    purgeShardResults: (runId, shardIndex) =>
      guard('purgeShardResults', async () => {
        const id = requireRunId(runId);
        const index = requireShardIndex(shardIndex);
        const row = await purgeShardResultsSql(db, id, index);
        if (!row) throw notFound(id);
        if (index >= row.shard_count) throw outOfRange(id, index, row.shard_count);
        return row.deleted;
      }),

    appendResults: (runId, shardIndex, results) =>
      guard('appendResults', async () => {
        const id = requireRunId(runId);
        const index = requireShardIndex(shardIndex);
        const valid = validateResults(results);
        if (valid.length === 0) return;
        const row = await appendResultsSql(db, id, index, valid);
        if (row.shard_count === null) throw notFound(id);
        if (!row.shard_found) throw outOfRange(id, index, row.shard_count);
      }),

    beginShard: (runId, shardIndex, attempt, opts = {}) =>
      guard('beginShard', async () => {
        const id = requireRunId(runId);
        const index = requireShardIndex(shardIndex);
        const att = requireCount('attempt', attempt, 1);
        const row = await beginShardSql(db, id, index, att, opts.purge === true);
        if (!row) return undefined;
        if (index >= row.shard_count) throw outOfRange(id, index, row.shard_count);
        return {
          status: row.status,
          started: row.started,
          wasQueued: row.was_queued,
          purged: row.purged,
          shardsCompleted: row.shards_completed,
          shardCount: row.shard_count,
          passed: row.passed,
          failed: row.failed,
          total: row.total,
        };
      }),

    appendResultsAndGetRun: (runId, shardIndex, results) =>
      guard('appendResultsAndGetRun', async () => {
        const id = requireRunId(runId);
        const index = requireShardIndex(shardIndex);
        const valid = validateResults(results);
        const { shard_found, ...row } = await appendResultsSql(db, id, index, valid);
        if (row.shard_count === null || row.id == null) throw notFound(id);
        if (!shard_found) throw outOfRange(id, index, row.shard_count);
        return rowToRun(row as RunRow);
      }),

    terminalRuns: (runIds) =>
      guard('terminalRuns', async () => {
        if (!Array.isArray(runIds)) throw invalid('runIds', 'must be an array');
        const ids = [...new Set(runIds.filter(isUuid))];
        return ids.length === 0 ? [] : terminalRunsSql(db, ids);
      }),

    getStatus: (runId) =>
      guard('getStatus', async () => {
        if (!isUuid(runId)) return undefined;
        const row = await db
          .selectFrom('runs')
          .select('status')
          .where('id', '=', runId)
          .executeTakeFirst();
        return row?.status;
      }),

    failInterruptedRuns: (error) =>
      guard('failInterruptedRuns', () =>
        failInterruptedRunsSql(db, requireText('error', error, 10_000)),
      ),

    claimCallbacks: (q = {}) =>
      guard('claimCallbacks', async () => {
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
      guard('markCallbackSent', () => markCallbackSentSql(db, requireRunId(runId))),

    markCallbackFailed: (runId, attempt, error, retryInMs) =>
      guard('markCallbackFailed', async () => {
        const id = requireRunId(runId);
        const att = requireCount('attempt', attempt, 1);
        const text = requireText('error', error, 10_000);
        const retry = retryInMs === undefined ? undefined : requireCount('retryInMs', retryInMs);
        return markCallbackFailedSql(db, id, att, text, retry);
      }),

    getCallback: (runId) =>
      guard('getCallback', async () => {
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
  return store;
}
