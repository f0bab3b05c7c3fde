import type { RunStatus } from '@x/protocol';
import type { CallbackState } from '../run-status.js';

/** The JSON body of a completion callback, read from the run when it is claimed. */
export interface CallbackPayload {
  runId: string;
  status: RunStatus;
  passed: number;
  failed: number;
  total: number;
  error: string | null;
}

/** A callback this caller now holds (`sending`) and must deliver, then mark sent or failed. */
export interface CallbackClaim {
  /**
   * The outbox entry's id, the same on every attempt (a signed callback's `webhook-id`, so
   * receivers can drop repeats). A run has one callback, so it is the run's id.
   */
  id: string;
  runId: string;
  /** The run's workspace: whose secret signs the callback. */
  workspaceId: string;
  url: string;
  /** 1-based attempt this claim is; pass it back to `markCallbackFailed`. */
  attempt: number;
  payload: CallbackPayload;
}

export interface ClaimCallbacksQuery {
  /**
   * Claim only this run's callback, if `pending` (the terminal writer's own claim: a first
   * attempt at once, a retry once due). Without it, the sweep's claim below applies.
   */
  runId?: string;
  /** Most callbacks claimed at once by a sweep. Default 20. */
  limit?: number;
  /** A `sending` claim older than this is presumed dead and taken over. Default 30 s. */
  leaseMs?: number;
  /** A never-tried `pending` callback is left to its writer this long. Default 5 s. */
  graceMs?: number;
}

/** The outbox state of a run's callback (operators, tests). */
export interface CallbackStatus {
  url: string | null;
  /** null: the run is live, or has no callback URL. */
  state: CallbackState | null;
  attempts: number;
  dueAt: Date | null;
  claimedAt: Date | null;
  sentAt: Date | null;
  error: string | null;
}

/**
 * The completion-callback outbox. Every terminal write queues the run's callback (`pending`)
 * in its own statement; these claim, settle and inspect it.
 */
export interface CallbackOutbox {
  /** Claims callbacks to deliver (`pending`/expired `sending` -> `sending`, attempt + 1). */
  claimCallbacks(q?: ClaimCallbacksQuery): Promise<CallbackClaim[]>;
  /** The POST succeeded: `sent`, whoever holds the claim now. False if already sent. */
  markCallbackSent(runId: string): Promise<boolean>;
  /**
   * The attempt failed: back to `pending`, due in `retryInMs`, or `failed` for good without it.
   * False (nothing written) when `attempt` is no longer the current claim.
   */
  markCallbackFailed(
    runId: string,
    attempt: number,
    error: string,
    retryInMs?: number,
  ): Promise<boolean>;
  /** The run's callback outbox state; `undefined` when the run does not exist. */
  getCallback(runId: string): Promise<CallbackStatus | undefined>;
}
