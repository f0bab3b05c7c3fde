import type { Kysely } from 'kysely';
import { guarded } from './map-error.js';
import type { Database } from './schema.js';
import { deleteFinishedRunsSql } from './sql/delete-finished-runs.js';
import type { Retention } from './types/retention.js';
import { invalid, pageLimit, requireCount } from './validate.js';

/** Retention over `runs` and the tables that hang off it. */
export function retention(db: Kysely<Database>): Retention {
  return {
    deleteFinishedRuns: (q) =>
      guarded('deleteFinishedRuns', async () => {
        const before = q?.finishedBefore;
        if (!(before instanceof Date) || Number.isNaN(before.getTime()))
          throw invalid('finishedBefore', 'must be a valid Date');
        const row = await deleteFinishedRunsSql(db, {
          finishedBefore: before,
          limit: pageLimit(q.limit, 500, 10_000),
          maxResults: requireCount('maxResults', q.maxResults ?? 20_000, 1),
        });
        return {
          runs: row.runs,
          shards: row.shards,
          results: row.results,
          idempotencyKeys: row.idempotency_keys,
        };
      }),
  };
}
