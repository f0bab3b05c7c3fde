import type { RunStore } from '@x/run-store';
import { createWorkspaceFeed, type RunEvents, type WorkspaceFeed } from '@x/sse-relay';
import type { Logger } from 'pino';

/**
 * The workspace feed over a replica's run events: every emit of `feed.events` also reports
 * the run on its workspace's feed, with the run's fixed fields as the store knows them: from
 * memory for a run this process created, read or began a shard of, else one read per run.
 */
export function storeWorkspaceFeed(
  events: RunEvents,
  store: Pick<RunStore, 'getRunFacts'>,
  logger: Logger,
): WorkspaceFeed {
  return createWorkspaceFeed({
    events,
    logger,
    lookup: async (runId) => {
      const run = await store.getRunFacts(runId);
      return (
        run && {
          workspaceId: run.workspaceId,
          tags: run.tags,
          name: run.name,
          createdAt: run.createdAt.toISOString(),
          total: run.total,
          shardCount: run.shardCount,
        }
      );
    },
  });
}
