import { XError } from '@x/kernel';

export const SHARD_WORKER_ERROR_CODES = ['invalid_option', 'duplicate_executor'] as const;
export type ShardWorkerErrorCode = (typeof SHARD_WORKER_ERROR_CODES)[number];

/**
 * A programming error in how the package is wired: an option out of range, an executor
 * registered twice. Thrown at construction, never while runs execute.
 */
export class ShardWorkerError extends XError.named('ShardWorkerError')<ShardWorkerErrorCode> {}
