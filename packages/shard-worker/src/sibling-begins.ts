import type { BeginShardOutcome } from '@x/run-store';
import { ShardWorkerError } from './shard-worker-error.js';

/** A shard job's side of a begin: which shard, which try. */
export interface BeginCall {
  runId: string;
  shardIndex: number;
  attempt: number;
  /** The queue delivered this job before (a retry, a dead worker's job): it purges. */
  redelivered: boolean;
}

export interface SiblingBegins {
  /**
   * The begin of `call`: `own` (the store's statement), or the outcome of a sibling shard's
   * begin in this process when that one may answer for it (see {@link siblingBegins}).
   */
  begin(
    call: BeginCall,
    own: () => Promise<BeginShardOutcome | undefined>,
  ): Promise<BeginShardOutcome | undefined>;
}

export interface SiblingBeginsOptions {
  /** How old a sibling's begin may be, in ms; 0 turns sharing off. */
  windowMs: number;
  /** Told of each begin answered by a sibling's, without a statement. */
  onShared?: () => void;
  now?: () => number;
}

interface Sighting {
  at: number;
  outcome: Promise<BeginShardOutcome | undefined>;
}

/**
 * A run's shards are added to the queue together and mostly run on one worker at once; each
 * one's begin is a statement (the run's status guard) that, for a first try of a FIFO shard on
 * a live run, writes nothing. So a first try reads the run from a sibling's begin made in this
 * process within `windowMs` (in flight or done), when that begin saw:
 * - the run live: running, or queued and moved to running by that very begin;
 * - no shard of it completed yet (`shardsCompleted` 0), so neither is this one;
 * - the run sent to the queue whole (not `released` by fair dispatch, whose begins write the
 *   shard `running` for its workspace's share).
 * Anything else (a retry, a redelivery, a sibling's error) runs its own statement.
 *
 * What it gives up: the status read may be up to `windowMs` older. An abort committed in that
 * window is still seen by the shard registry (this process hears the abort and cancels the
 * shard, as it does a shard that began just before the abort), its completion is refused on a
 * terminal run, and the event log refuses events after the abort's `done`. A begin's answer is
 * stale by the shard's whole run time anyway; this adds at most `windowMs` to that.
 */
export function siblingBegins({
  windowMs,
  onShared,
  now = () => performance.now(),
}: SiblingBeginsOptions): SiblingBegins {
  if (!(Number.isFinite(windowMs) && windowMs >= 0))
    throw new ShardWorkerError(
      'invalid_option',
      `siblingBeginWindowMs must be a non-negative number of ms, got ${windowMs}`,
    );
  // By run, oldest first (a run seen again is moved to the end), so expired ones go from the front.
  const seen = new Map<string, Sighting>();

  const forget = (t: number) => {
    for (const [runId, s] of seen) {
      if (t - s.at <= windowMs) break;
      seen.delete(runId);
    }
  };

  const answers = (o: BeginShardOutcome, call: BeginCall) =>
    o.started &&
    // Queued and not moved by that call: an abort may have won the race to the row.
    (o.status === 'running' || (o.status === 'queued' && o.wasQueued)) &&
    o.shardsCompleted === 0 &&
    !o.released &&
    call.shardIndex < o.shardCount;

  return {
    async begin(call, own) {
      if (windowMs <= 0) return own();
      const t = now();
      forget(t);
      const sibling = call.attempt === 1 && !call.redelivered ? seen.get(call.runId) : undefined;
      if (sibling) {
        const o = await sibling.outcome.catch(() => undefined);
        if (o && answers(o, call)) {
          onShared?.();
          // The sibling's call moved the run to running, not this one; nothing was purged.
          return { ...o, status: 'running', wasQueued: false, purged: 0 };
        }
      }
      const outcome = own();
      seen.delete(call.runId);
      seen.set(call.runId, { at: t, outcome });
      return outcome;
    },
  };
}
