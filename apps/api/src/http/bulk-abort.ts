import { LIVE_STATUSES, type LiveStatus } from '@x/protocol';
import type { ApiServices } from './api-services.js';

/** Runs read per page: one list statement per 100 runs. */
export const BULK_ABORT_PAGE = 100;
/** Single aborts in flight at once: bounds the database and Redis load of one request. */
export const BULK_ABORT_CONCURRENCY = 8;

export interface BulkAbortFilter {
  tag?: string;
  /** Default: every live status. */
  status?: readonly LiveStatus[];
}

export interface BulkAbortOutcome {
  /** Runs this call aborted (it won their status write). */
  aborted: number;
  /** Matched runs another abort, or their completion, got to first. */
  skipped: number;
}

/**
 * Aborts every live run of `workspaceId` that matches, page by page (newest first, the list's
 * keyset cursor: a run aborted meanwhile leaves the filter without shifting the pages), each
 * through the one abort use case: written first, published, followed by its stop job. So each
 * gets the guarantees of `POST /runs/:id/abort`, and a repeated call finds nothing left to
 * abort (`aborted: 0`). Runs created after the call started may be left running.
 */
export async function bulkAbort(
  services: Pick<ApiServices, 'store' | 'abortRun'>,
  workspaceId: string,
  filter: BulkAbortFilter,
): Promise<BulkAbortOutcome> {
  const outcome: BulkAbortOutcome = { aborted: 0, skipped: 0 };
  let cursor: string | undefined;
  do {
    const page = await services.store.listRuns(workspaceId, {
      status: filter.status ?? LIVE_STATUSES,
      tags: filter.tag === undefined ? [] : [filter.tag],
      limit: BULK_ABORT_PAGE,
      ...(cursor ? { cursor } : {}),
    });
    const ids = page.runs.map((r) => r.id);
    const next = async (): Promise<void> => {
      const id = ids.shift();
      if (id === undefined) return;
      const result = await services.abortRun(id, { requestedBy: workspaceId });
      if (result?.won) outcome.aborted++;
      else outcome.skipped++;
      return next();
    };
    await Promise.all(Array.from({ length: BULK_ABORT_CONCURRENCY }, next));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return outcome;
}
