import type { Kysely } from 'kysely';
import { groupCommit } from './group-commit.js';
import { guarded } from './map-error.js';
import { type RunRow, rowToRun } from './row-mapping.js';
import { factsOf, type RunFactsMemory } from './run-facts.js';
import type { Database } from './schema.js';
import { type BeginShardRow, beginShardSql } from './sql/begin-shard.js';
import { type BeginShardCall, beginShardsSql } from './sql/begin-shards.js';
import {
  type CompleteShardCall,
  type CompleteShardRow,
  completeShardSql,
} from './sql/complete-shard.js';
import { completeShardsSql } from './sql/complete-shards.js';
import { finalizeRunSql } from './sql/finalize-run.js';
import { finalizeRunsSql } from './sql/finalize-runs.js';
import { runRowSql } from './sql/read-runs.js';
import { statementSlots } from './statement-slots.js';
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

const shardKey = (c: { runId: string; shardIndex: number }) => `${c.runId}:${c.shardIndex}`;

/**
 * A worker's statements for one shard: begin (guard, attempt, retry purge), complete with
 * its results exactly once, and, for the one finalizer per run, finalize.
 *
 * Begins, completions and finalizations are group-committed (group-commit.ts) over
 * `statementsInFlight` shared slots: a call that finds a free slot is written alone at once;
 * the calls that arrive while every slot is busy share one statement per kind (begin-shards.ts,
 * complete-shards.ts, finalize-runs.ts), each with the outcome it would have had alone.
 */
export function shardCompletion(
  db: Kysely<Database>,
  statementsInFlight: number,
  facts: RunFactsMemory,
): ShardCompletion {
  const slots = statementSlots(statementsInFlight);
  const begin = groupCommit<BeginShardCall, BeginShardRow | undefined>({
    slots,
    key: shardKey,
    write: async (calls) => {
      const [one] = calls;
      if (calls.length === 1 && one) {
        return [await beginShardSql(db, one.runId, one.shardIndex, one.attempt, one.purge)];
      }
      return beginShardsSql(db, calls);
    },
  });
  const complete = groupCommit<CompleteShardCall, CompleteShardRow | undefined>({
    slots,
    key: shardKey,
    write: async (calls) => {
      const [one] = calls;
      if (calls.length === 1 && one) {
        return [await completeShardSql(db, one)];
      }
      return completeShardsSql(db, calls);
    },
  });
  const finalize = groupCommit<string, RunRow | undefined>({
    slots,
    key: (runId) => runId,
    write: async (runIds) => {
      const [one] = runIds;
      if (runIds.length === 1 && one) return [await finalizeRunSql(db, one)];
      const won = new Map((await finalizeRunsSql(db, runIds)).map((row) => [row.id, row]));
      return runIds.map((id) => won.get(id));
    },
  });
  /** The finalized (or already terminal) run as the callers get it; its facts remembered. */
  const finalizedRun = (id: string, row: RunRow, won: boolean) => {
    const run = rowToRun(row);
    facts.remember(id, factsOf(run));
    return { won, run };
  };
  const finalizeNow = async (id: string) => {
    const won = await finalize(id);
    // Already terminal (an abort or another finalizer got there first): one more read.
    const row = won ?? (await runRowSql(db, id));
    if (!row) throw notFound(id);
    return finalizedRun(id, row, won !== undefined);
  };
  return {
    beginShard: (runId, shardIndex, attempt, opts = {}) =>
      guarded('beginShard', async () => {
        const id = requireRunId(runId);
        const index = requireShardIndex(shardIndex);
        const att = requireCount('attempt', attempt, 1);
        const row = await begin({
          runId: id,
          shardIndex: index,
          attempt: att,
          purge: opts.purge === true,
        });
        if (!row) return undefined;
        if (index >= row.shard_count) throw outOfRange(id, index, row.shard_count);
        facts.remember(id, {
          workspaceId: row.workspace_id,
          name: row.name,
          tags: row.tags ?? [],
          createdAt: row.created_at,
          total: row.total,
          shardCount: row.shard_count,
        });
        return {
          status: row.status,
          started: row.started,
          wasQueued: row.was_queued,
          purged: row.purged,
          released: row.released,
          shardsCompleted: row.shards_completed,
          shardCount: row.shard_count,
          passed: row.passed,
          failed: row.failed,
          total: row.total,
        };
      }),

    completeShardWithResults: (runId, shardIndex, attempt, stats, results, opts = {}) =>
      guarded('completeShardWithResults', async () => {
        const id = requireRunId(runId);
        const index = requireShardIndex(shardIndex);
        const att = requireCount('attempt', attempt, 1);
        const valid = validateStats(stats);
        const rows = validateResults(results);
        const row = await complete({
          runId: id,
          shardIndex: index,
          attempt: att,
          stats: valid,
          results: rows,
          finalize: opts.finalize === true,
        });
        if (!row) throw notFound(id);
        // An out-of-range index matched no shard row, so nothing was written.
        if (index >= row.shard_count) throw outOfRange(id, index, row.shard_count);
        const outcome = toOutcome(row);
        if (!opts.finalize || !outcome.isFinalizer) return outcome;
        // Finalized in the completion's own statement, or else (a shard of the run completed
        // by an older version, a batch with a call that did not ask) with finalizeRun's.
        const finalized = row.finalized
          ? finalizedRun(id, row.finalized, true)
          : await finalizeNow(id);
        return { ...outcome, finalized };
      }),

    finalizeRun: (runId) => guarded('finalizeRun', async () => finalizeNow(requireRunId(runId))),
  };
}
