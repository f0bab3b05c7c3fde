import { canonicalUuid } from '@x/kernel';
import { isRunStatus } from '@x/protocol';
import type { Kysely } from 'kysely';
import {
  decodeResultCursor,
  decodeRunCursor,
  encodeResultCursor,
  encodeRunCursor,
} from './cursor.js';
import { guarded } from './map-error.js';
import { type RunRow, rowToResult, rowToRun } from './row-mapping.js';
import { factsOf, type RunFactsMemory } from './run-facts.js';
import type { Database } from './schema.js';
import { createRunSql } from './sql/create-run.js';
import { resultsPageSql } from './sql/read-results.js';
import {
  failInterruptedRunsSql,
  listRunsSql,
  runRowSql,
  runStatusSql,
  terminalRunsSql,
} from './sql/read-runs.js';
import { transitionSql } from './sql/transition.js';
import type { Run } from './types/run.js';
import type { RunQueries } from './types/run-queries.js';
import {
  invalid,
  isUuid,
  notFound,
  pageLimit,
  requireCount,
  requireRunId,
  requireText,
} from './validate.js';
import { validateCreateRun, validateRunFilter, validateStatuses } from './validate-input.js';

/**
 * Creating, reading and moving runs. Reads answer `undefined` for a malformed id. Every run
 * created or read leaves its facts in `facts` (see `getRunFacts`).
 */
export function runQueries(db: Kysely<Database>, facts: RunFactsMemory): RunQueries {
  const seen = (row: RunRow | undefined) => {
    if (!row) return undefined;
    const run = rowToRun(row);
    facts.remember(run.id, factsOf(run));
    return run;
  };
  return {
    createRun: (input) =>
      guarded('createRun', async () => {
        // Without a key the statement always inserts (or throws).
        const row = await createRunSql(db, validateCreateRun(input));
        return seen(row as RunRow) as Run;
      }),

    getRun: (workspaceId, runId) =>
      guarded('getRun', async () => {
        if (!isUuid(runId) || typeof workspaceId !== 'string') return undefined;
        return seen(await runRowSql(db, runId, workspaceId));
      }),

    getRunById: (runId) =>
      guarded('getRunById', async () => {
        if (!isUuid(runId)) return undefined;
        return seen(await runRowSql(db, runId));
      }),

    getRunFacts: (runId) =>
      guarded('getRunFacts', async () => {
        // The memory is keyed by the id as the database spells it (lower case).
        const id = canonicalUuid(runId);
        if (id === undefined) return undefined;
        const known = facts.get(id);
        if (known) return known;
        const run = seen(await runRowSql(db, id));
        return run && factsOf(run);
      }),

    getStatus: (runId) =>
      guarded('getStatus', async () => (isUuid(runId) ? runStatusSql(db, runId) : undefined)),

    listRuns: (workspaceId, q = {}) =>
      guarded('listRuns', async () => {
        const filter = validateRunFilter(q);
        const limit = pageLimit(q.limit, 50, 500);
        const after = q.cursor === undefined ? undefined : decodeRunCursor(q.cursor);
        const rows = await listRunsSql(db, workspaceId, { ...filter, limit, after });
        const page = rows.slice(0, limit);
        const last = page.at(-1);
        return {
          runs: page.map(rowToRun),
          nextCursor:
            rows.length > limit && last ? encodeRunCursor(last.created_at, last.id) : null,
        };
      }),

    getResults: (workspaceId, runId, q = {}) =>
      guarded('getResults', async () => {
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

    transition: (runId, from, to, fields = {}) =>
      guarded('transition', async () => {
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
        const outcome = await transitionSql(db, id, allowed, to, fields);
        if (!outcome) throw notFound(id);
        if (!outcome.won) return { won: false, status: outcome.status };
        const run = rowToRun(outcome.row);
        return { won: true, status: run.status, run };
      }),

    terminalRuns: (runIds) =>
      guarded('terminalRuns', async () => {
        if (!Array.isArray(runIds)) throw invalid('runIds', 'must be an array');
        const ids = [...new Set(runIds.filter(isUuid))];
        return ids.length === 0 ? [] : terminalRunsSql(db, ids);
      }),

    failInterruptedRuns: (error) =>
      guarded('failInterruptedRuns', () =>
        failInterruptedRunsSql(db, requireText('error', error, 10_000)),
      ),
  };
}
