import type { RunStore } from '@x/run-store';
import { createWorkspaceFeed, type RunEvents, type WorkspaceFeed } from '@x/sse-relay';
import type { Logger } from 'pino';

/**
 * The workspace feed over a replica's run events: every emit of `feed.events` also reports
 * the run on its workspace's feed, the run's fixed fields read from the store once per run.
 */
export function storeWorkspaceFeed(
  events: RunEvents,
  store: Pick<RunStore, 'getRunById'>,
  logger: Logger,
): WorkspaceFeed {
  return createWorkspaceFeed({
    events,
    logger,
    lookup: async (runId) => {
      const run = await store.getRunById(runId);
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
