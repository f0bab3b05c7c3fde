import type { CreateRunOnceResult, IdempotencyInput, Run, RunStore } from '@x/run-store';
import type { AbortRun } from '@x/shard-worker';

export interface CreateRunInput {
  workspaceId: string;
  executor: string;
  name: string | null;
  callbackUrl: string | null;
  tags: string[];
  metadata: Record<string, unknown> | null;
  tests: unknown[];
  shards: number;
}

/**
 * What the HTTP layer needs from the system, whichever the mode. The composition root
 * (compose/) builds it: embedded wires the memory bus and in-process queue, distributed wires
 * Redis and PostgreSQL.
 */
export interface ApiServices {
  readonly store: Pick<RunStore, 'getRun' | 'getRunById' | 'listRuns' | 'getResults'>;
  createRun(input: CreateRunInput): Promise<Run>;
  /** `createRun` at most once per (workspace, `Idempotency-Key`); see run-store `createRunOnce`. */
  createRunOnce(input: CreateRunInput, idempotency: IdempotencyInput): Promise<CreateRunOnceResult>;
  /**
   * The abort use case (@x/shard-worker `createAbortRun`), in a fleet followed by the durable
   * stop job. The caller checks the run's workspace first. `undefined`: no such run.
   */
  abortRun: AbortRun;
  /** Reports a run this replica created on its workspace feed (`GET /events`); never throws. */
  runCreated(run: Run): void;
  /** A refusal message when `url` points somewhere outbound requests must not go, else null. */
  checkOutboundUrl(url: string, kind: 'http' | 'callback'): Promise<string | null>;
  /**
   * Why `workspaceId` may not name a `callbackUrl` (production without a callback secret), or
   * null when it may.
   */
  callbackRefusal(workspaceId: string): string | null;
  /** Each dependency and whether it answered (database, redis). */
  readiness(): Promise<Record<string, boolean>>;
}
