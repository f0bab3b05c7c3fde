import type { DispatchMode, WorkspaceLimits } from '@x/shard-worker';
import type { WorkspaceLimitEntry } from './workspace-limits-env.js';

/** How an app's outbox feed dispatches (`DISPATCH_MODE` and the fair-share variables). */
export interface DispatchSettings {
  readonly mode: DispatchMode;
  readonly limits: WorkspaceLimits;
}

/**
 * The fair window when `DISPATCH_WINDOW` is unset: twice a worker's slots, at least 16. A
 * window below the slots starves them (a flooded workspace has fewer shards waiting than
 * slots free); twice the slots leaves a full set waiting while the dispatcher batches the
 * shard ends of the other half (`settleBatch`, half the window). 16 keeps the earlier default
 * for small workers.
 */
export function defaultDispatchWindow(workerConcurrency: number): number {
  return Math.max(16, 2 * workerConcurrency);
}

/** The parsed `DISPATCH_*` / `WORKSPACE_*` fields of `sharedEnvFields`, as the feed takes them. */
export function dispatchSettings(e: {
  DISPATCH_MODE: DispatchMode;
  DISPATCH_WINDOW?: number | undefined;
  WORKER_CONCURRENCY: number;
  WORKSPACE_MAX_RUNNING_SHARDS?: number | undefined;
  WORKSPACE_LIMITS: readonly WorkspaceLimitEntry[];
}): DispatchSettings {
  return {
    mode: e.DISPATCH_MODE,
    limits: {
      window: e.DISPATCH_WINDOW ?? defaultDispatchWindow(e.WORKER_CONCURRENCY),
      maxRunningShards: e.WORKSPACE_MAX_RUNNING_SHARDS ?? null,
      overrides: e.WORKSPACE_LIMITS.map((l) => ({
        workspaceId: l.workspaceId,
        ...(l.maxShards !== undefined && { maxShards: l.maxShards }),
        ...(l.weight !== undefined && { weight: l.weight }),
      })),
    },
  };
}
