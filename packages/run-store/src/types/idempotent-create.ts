import type { Run } from './run.js';
import type { CreateRunInput } from './run-queries.js';

/** The idempotency key a run is created under (`Idempotency-Key` of `POST /runs`). */
export interface IdempotencyInput {
  /** The client's key, 1–255 characters; scoped to the run's workspace. */
  key: string;
  /** A fingerprint of the request (a hash of its body): the same key with another one is refused. */
  requestHash: string;
}

/**
 * What `createRunOnce` did: created the run (the caller enqueues it), found the run an earlier
 * request with this key and body created (`replayed`: answer it, enqueue nothing), or found the
 * key used with another request (`key_reused`).
 */
export type CreateRunOnceResult =
  | { outcome: 'created'; run: Run }
  | { outcome: 'replayed'; run: Run }
  | { outcome: 'key_reused'; runId: string };

/** Keys are honoured at least this long (24 h)… */
export const IDEMPOTENCY_KEY_MIN_AGE_MS = 24 * 3_600_000;
/** …and deleted (or taken over by a new run) once older than this (48 h). */
export const IDEMPOTENCY_KEY_EXPIRY_MS = 48 * 3_600_000;

/** Run creation under an idempotency key. */
export interface IdempotentCreate {
  /**
   * `createRun`, at most once per (workspace, key): the key and the run are written by one
   * statement, so concurrent callers on any number of replicas create one run between them;
   * the others get it as `replayed` (same `requestHash`) or `key_reused`. `input.id` is
   * generated when absent. A key older than {@link IDEMPOTENCY_KEY_EXPIRY_MS} is free again.
   */
  createRunOnce(input: CreateRunInput, idempotency: IdempotencyInput): Promise<CreateRunOnceResult>;
  /**
   * Deletes keys older than `olderThanMs` (default {@link IDEMPOTENCY_KEY_EXPIRY_MS}, at least
   * {@link IDEMPOTENCY_KEY_MIN_AGE_MS}); returns how many. Their runs stay.
   */
  deleteIdempotencyKeys(olderThanMs?: number): Promise<number>;
}
