import type { DispatchMode, WorkspaceLimits } from '@x/shard-worker';
import type { WorkspaceLimitEntry } from './workspace-limits-env.js';

/** How an app's outbox feed dispatches (`DISPATCH_MODE` and the fair-share variables). */
export interface DispatchSettings {
  readonly mode: DispatchMode;
  readonly limits: WorkspaceLimits;
}

/** The parsed `DISPATCH_*` / `WORKSPACE_*` fields of `sharedEnvFields`, as the feed takes them. */
export function dispatchSettings(e: {
  DISPATCH_MODE: DispatchMode;
  DISPATCH_WINDOW: number;
  WORKSPACE_MAX_RUNNING_SHARDS?: number | undefined;
  WORKSPACE_LIMITS: readonly WorkspaceLimitEntry[];
}): DispatchSettings {
  return {
    mode: e.DISPATCH_MODE,
    limits: {
      window: e.DISPATCH_WINDOW,
      maxRunningShards: e.WORKSPACE_MAX_RUNNING_SHARDS ?? null,
      overrides: e.WORKSPACE_LIMITS.map((l) => ({
        workspaceId: l.workspaceId,
        ...(l.maxShards !== undefined && { maxShards: l.maxShards }),
        ...(l.weight !== undefined && { weight: l.weight }),
      })),
    },
  };
}
