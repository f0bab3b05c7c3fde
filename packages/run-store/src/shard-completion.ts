import type { Kysely } from 'kysely';
import { guarded } from './map-error.js';
import { rowToRun } from './row-mapping.js';
import type { Database } from './schema.js';
import { beginShardSql } from './sql/begin-shard.js';
import { type CompleteShardRow, completeShardSql } from './sql/complete-shard.js';
import { finalizeRunSql } from './sql/finalize-run.js';
import { runRowSql } from './sql/read-runs.js';
import type { CompleteShardOutcome, ShardCompletion } from './types/shard-completion.js';
import { notFound, outOfRange, requireCount, requireRunId, requireShardIndex } from './validate.js';
import { validateResults, validateStats } from './validate-input.js';

function toOutcome(row: CompleteShardRow): CompleteShardOutcome {
  return {
    applied: row.applied,
    shardsCompleted: row.shards_completed,
    shardCount: row.shard_count,
    isFinalizer: row.applied && row.shards_completed === row.shard_count,
  };
}

/**
 * A worker's statements for one shard: begin (guard, attempt, retry purge), complete with
 * its results exactly once, and, for the one finalizer per run, finalize.
 */
export function shardCompletion(db: Kysely<Database>): ShardCompletion {
  return {
    beginShard: (runId, shardIndex, attempt, opts = {}) =>
      guarded('beginShard', async () => {
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

    completeShardWithResults: (runId, shardIndex, attempt, stats, results) =>
      guarded('completeShardWithResults', async () => {
        const id = requireRunId(runId);
        const index = requireShardIndex(shardIndex);
        const att = requireCount('attempt', attempt, 1);
        const valid = validateStats(stats);
        const rows = validateResults(results);
        const row = await completeShardSql(db, id, index, att, valid, rows);
        if (!row) throw notFound(id);
        // An out-of-range index matched no shard row, so nothing was written.
        if (index >= row.shard_count) throw outOfRange(id, index, row.shard_count);
        return toOutcome(row);
      }),

    finalizeRun: (runId) =>
      guarded('finalizeRun', async () => {
        const id = requireRunId(runId);
        const won = await finalizeRunSql(db, id);
        if (won) return { won: true, run: rowToRun(won) };
        // Already terminal (an abort or another finalizer got there first): one more read.
        const current = await runRowSql(db, id);
        if (!current) throw notFound(id);
        return { won: false, run: rowToRun(current) };
      }),
  };
}
