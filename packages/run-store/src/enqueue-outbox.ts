import type { Kysely } from 'kysely';
import { guarded } from './map-error.js';
import type { Database } from './schema.js';
import {
  claimEnqueuesSql,
  liveShardsSql,
  markEnqueuedSql,
  releaseEnqueuesSql,
  releaseLeaseSql,
  tryLeaseSql,
} from './sql/enqueue-outbox.js';
import type { EnqueueOutbox } from './types/enqueue-outbox.js';
import { invalid, isUuid, pageLimit, requireCount, requireText } from './validate.js';

function runIdList(runIds: readonly string[]): string[] {
  if (!Array.isArray(runIds)) throw invalid('runIds', 'must be an array');
  // A malformed id names no run: nothing to mark.
  return [...new Set(runIds.filter(isUuid))];
}

/**
 * The enqueue outbox over `runs`: claims of runs to hand to the queue, their settlement, the
 * live shards the repair sweep checks against the queue, and the lease that makes that sweep
 * run on one instance at a time.
 */
export function enqueueOutbox(db: Kysely<Database>): EnqueueOutbox {
  return {
    claimEnqueues: (q = {}) =>
      guarded('claimEnqueues', async () => {
        const rows = await claimEnqueuesSql(db, {
          limit: pageLimit(q.limit, 20, 1_000),
          leaseMs: requireCount('leaseMs', q.leaseMs ?? 30_000, 1),
        });
        return rows.map((r) => ({
          runId: r.id,
          workspaceId: r.workspace_id,
          executor: r.executor,
          callbackUrl: r.callback_url,
          shardCount: r.shard_count,
          shards: r.shards.map((s) => ({ shardIndex: s.i, payload: s.p })),
        }));
      }),

    markEnqueued: (runIds) =>
      guarded('markEnqueued', async () => {
        const ids = runIdList(runIds);
        return ids.length === 0 ? 0 : markEnqueuedSql(db, ids);
      }),

    releaseEnqueues: (runIds) =>
      guarded('releaseEnqueues', async () => {
        const ids = runIdList(runIds);
        return ids.length === 0 ? 0 : releaseEnqueuesSql(db, ids);
      }),

    liveShards: (q = {}) =>
      guarded('liveShards', async () => {
        const after = q.after;
        if (after !== undefined && !isUuid(after.runId))
          throw invalid('after.runId', 'must be a UUID');
        if (after !== undefined) requireCount('after.shardIndex', after.shardIndex);
        const rows = await liveShardsSql(db, { limit: pageLimit(q.limit, 500, 1_000), after });
        return rows.map((r) => ({
          runId: r.run_id,
          workspaceId: r.workspace_id,
          executor: r.executor,
          callbackUrl: r.callback_url,
          shardCount: r.shard_count,
          shardIndex: r.shard_index,
          payload: r.payload,
        }));
      }),

    tryLease: (name, holder, ttlMs) =>
      guarded('tryLease', () =>
        tryLeaseSql(
          db,
          requireText('name', name, 200),
          requireText('holder', holder, 200),
          requireCount('ttlMs', ttlMs, 1),
        ),
      ),

    releaseLease: (name, holder) =>
      guarded('releaseLease', () =>
        releaseLeaseSql(db, requireText('name', name, 200), requireText('holder', holder, 200)),
      ),
  };
}
