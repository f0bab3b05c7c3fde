import type { Run, RunStatus, RunStore } from '@x/run-store';

export interface CreateRunInput {
  workspaceId: string;
  executor: string;
  name: string | null;
  callbackUrl: string | null;
  tests: unknown[];
  shards: number;
}

export interface AbortOutcome {
  /** True when the run is aborted now (by this call or an earlier one). */
  aborted: boolean;
  /** True when this call wrote `aborted` (false: it was aborted already, or finished). */
  won: boolean;
  /** The run's status after the call. */
  status: RunStatus;
}

/**
 * What the HTTP layer needs from the system, whichever the mode. The composition root
 * (compose/) builds it: embedded wires the memory bus and in-process queue, distributed wires
 * Redis and PostgreSQL.
 */
export interface ApiServices {
  readonly store: Pick<RunStore, 'getRun' | 'getRunById' | 'listRuns' | 'getResults'>;
  createRun(input: CreateRunInput): Promise<Run>;
  /** Aborts a run of the caller's workspace (ownership already checked by the caller). */
  abortRun(runId: string, requestedBy: string): Promise<AbortOutcome>;
  /** A refusal message when `url` points somewhere outbound requests must not go, else null. */
  checkOutboundUrl(url: string, kind: 'http' | 'callback'): Promise<string | null>;
  /** Each dependency and whether it answered (database, redis). */
  readiness(): Promise<Record<string, boolean>>;
}
