/**
 * Which workspace owns a run, for runs this replica has already read or created. A run's
 * workspace never changes and runs are never deleted, so a remembered owner never goes
 * stale; the cache only saves the ownership read in front of an abort (one database round
 * trip before the `done` frame). Bounded: the oldest entries are forgotten first, and a
 * forgotten run is simply read again.
 */
export interface RunOwners {
  remember(runId: string, workspaceId: string): void;
  /** The owner if this replica has seen the run, else `undefined` (ask the store). */
  get(runId: string): string | undefined;
  readonly size: number;
}

/** @param max entries kept. Default 50,000 (~6 MB): hours of runs at the dashboard's pace. */
export function createRunOwners(max = 50_000): RunOwners {
  const owners = new Map<string, string>();
  return {
    remember(runId, workspaceId) {
      if (owners.has(runId)) return;
      owners.set(runId, workspaceId);
      if (owners.size > max) owners.delete(owners.keys().next().value as string);
    },
    get: (runId) => owners.get(runId),
    get size() {
      return owners.size;
    },
  };
}
