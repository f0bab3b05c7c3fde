export const SHARD_JOB_ERROR_CODES = ['aborted', 'invalid_job', 'requeue'] as const;
export type ShardJobErrorCode = (typeof SHARD_JOB_ERROR_CODES)[number];

/**
 * Thrown by a shard processor to tell the queue how to treat the job, whatever backs it:
 * - `aborted`: the run was aborted or already terminal; never retry.
 * - `invalid_job`: the job's payload is unusable; retrying cannot help.
 * - `requeue`: put the job back without spending an attempt (worker shutting down).
 */
export class ShardJobError extends Error {
  override readonly name = 'ShardJobError';
  readonly code: ShardJobErrorCode;

  constructor(code: ShardJobErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
