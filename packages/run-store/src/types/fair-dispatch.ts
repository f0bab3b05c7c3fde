import type { EnqueueRunFields, StoredShard } from './enqueue-outbox.js';

/** One workspace's own limits (`WORKSPACE_LIMITS`); unset fields take the defaults. */
export interface WorkspaceShare {
  workspaceId: string;
  /** Its released-not-finished shards at most; overrides `maxRunningShards`. */
  maxShards?: number | null;
  /** Its share of each round, 1–100. Default 1. */
  weight?: number;
}

export interface DispatchQuery {
  /**
   * Shards of a workspace waiting in the queue (released, not started) at most, per unit of
   * weight: how far one workspace can get ahead of another's next shard.
   */
  window: number;
  /** Released-not-finished shards of a workspace at most (queued, running, retrying); null: no cap. */
  maxRunningShards: number | null;
  overrides?: readonly WorkspaceShare[];
  /** Most shards released per workspace in one pass. Default 1000. */
  perPass?: number;
}

/** A shard to hand to the queue now, with its run's job fields and its workspace's weight. */
export interface DispatchShard extends EnqueueRunFields, StoredShard {
  weight: number;
}

export interface DispatchOutcome {
  shards: number;
  /** Runs whose last shard was released in this pass (now `enqueued`). */
  runsEnqueued: number;
  workspaces: number;
}

/**
 * Fair dispatch over the enqueue outbox: shards leave PostgreSQL for the queue within each
 * workspace's share instead of whole runs in creation order.
 */
export interface FairDispatch {
  /**
   * One dispatch pass, serialized across the fleet (a transaction-level advisory lock): reads
   * every workspace's share, marks the shards to release and commits, then calls `hand` with
   * them (it adds them to the queue), so a worker that takes a job at once never waits on the
   * pass's locks. A `hand` that throws gives them back to the outbox (unmarked, their runs not
   * enqueued) and is rethrown; the next pass hands them again under the same job ids. A
   * process killed between the commit and `hand` leaves them released but not queued: the
   * repair sweep (`liveShards` lists released shards) re-adds them.
   */
  dispatchShards(
    q: DispatchQuery,
    hand: (shards: readonly DispatchShard[]) => Promise<void>,
  ): Promise<DispatchOutcome>;
}
