import { XError } from '@x/kernel';

export const SHARD_JOB_ERROR_CODES = ['aborted', 'invalid_job', 'requeue'] as const;
export type ShardJobErrorCode = (typeof SHARD_JOB_ERROR_CODES)[number];

/**
 * Thrown by a shard processor to tell the queue how to treat the job, whatever backs it:
 * - `aborted`: the run was aborted or already terminal; never retry.
 * - `invalid_job`: the job's payload is unusable; retrying cannot help.
 * - `requeue`: put the job back without spending an attempt (worker shutting down).
 */
export class ShardJobError extends XError.named('ShardJobError')<ShardJobErrorCode> {}

/**
 * Failures no retry can fix: the run is over (`aborted`) or the job can never run
 * (`invalid_job`). Every ShardQueue fails these on the attempt that threw them (BullMQ:
 * `UnrecoverableError`), whatever attempts the job has left.
 */
export function isUnrecoverable(err: unknown): err is ShardJobError {
  return err instanceof ShardJobError && (err.code === 'aborted' || err.code === 'invalid_job');
}

/** A job to put back without spending an attempt (the worker is shutting down). */
export function isRequeue(err: unknown): err is ShardJobError {
  return err instanceof ShardJobError && err.code === 'requeue';
}
