import type { Kysely } from 'kysely';
import { guarded } from './map-error.js';
import type { Database } from './schema.js';
import { lockDispatchSql, releaseShardsSql } from './sql/fair-dispatch.js';
import type { DispatchShard, FairDispatch, WorkspaceShare } from './types/fair-dispatch.js';
import { invalid, requireCount, requireText } from './validate.js';

function overridesJson(overrides: readonly WorkspaceShare[] | undefined): string {
  return JSON.stringify(
    (overrides ?? []).map((o, i) => {
      const ws = requireText(`overrides.${i}.workspaceId`, o.workspaceId, 200);
      const shards =
        o.maxShards === undefined || o.maxShards === null
          ? null
          : requireCount(`overrides.${i}.maxShards`, o.maxShards, 1);
      const weight =
        o.weight === undefined ? 1 : requireCount(`overrides.${i}.weight`, o.weight, 1);
      if (weight > 100) throw invalid(`overrides.${i}.weight`, 'must be at most 100');
      return { ws, shards, weight };
    }),
  );
}

export function fairDispatch(db: Kysely<Database>): FairDispatch {
  return {
    dispatchShards: (q, hand) =>
      guarded('dispatchShards', async () => {
        const window = requireCount('window', q.window, 1);
        const cap =
          q.maxRunningShards === null
            ? null
            : requireCount('maxRunningShards', q.maxRunningShards, 1);
        const perPass = requireCount('perPass', q.perPass ?? 1_000, 1);
        const overrides = overridesJson(q.overrides);
        return db.transaction().execute(async (trx) => {
          await lockDispatchSql(trx);
          // Picked and marked in one statement, before the queue sees them: a worker may take
          // a job from the queue before this commits, and its beginShard then waits on these
          // row locks; had the marks come after `hand`, that worker's locks and these could
          // wait on each other (deadlock).
          const rows = await releaseShardsSql(trx, { window, cap, overrides, perPass });
          if (rows.length === 0) return { shards: 0, runsEnqueued: 0, workspaces: 0 };
          const shards: DispatchShard[] = rows.map((r) => ({
            runId: r.run_id,
            workspaceId: r.workspace_id,
            executor: r.executor,
            callbackUrl: r.callback_url,
            shardCount: r.shard_count,
            shardIndex: r.shard_index,
            payload: r.payload,
            weight: r.weight,
          }));
          const runsEnqueued = rows[0]?.runs_enqueued ?? 0;
          await hand(shards);
          return {
            shards: shards.length,
            runsEnqueued,
            workspaces: new Set(shards.map((s) => s.workspaceId)).size,
          };
        });
      }),
  };
}
