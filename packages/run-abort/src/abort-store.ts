import type { RunStatus } from '@x/protocol';
import type { Run } from '@x/run-store';

/**
 * The slice of `@x/run-store`'s `RunStore` this package uses; a `RunStore` satisfies it
 * structurally. Declared narrowly so tests and other stores can stand in without the whole
 * repository.
 */
export interface AbortStore {
  /**
   * First writer wins: moves the run to `to` only from one of `from`; `status` is the row's
   * status after the call; `run`, when the store gives it, the updated run of a winning call.
   */
  transition(
    runId: string,
    from: readonly RunStatus[],
    to: RunStatus,
    fields?: { error?: string | null; finishedAt?: Date; durationMs?: number },
  ): Promise<{ won: boolean; status: RunStatus; run?: Run }>;
  /** The subset of `runIds` whose status is terminal (completed, failed, aborted). */
  terminalRuns(runIds: readonly string[]): Promise<{ id: string; status: RunStatus }[]>;
  /** The run's status, or `undefined` when there is no such run. */
  getStatus(runId: string): Promise<RunStatus | undefined>;
}
