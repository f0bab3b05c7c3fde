import { isUuid } from '@x/kernel';
import { RunStoreError } from './run-store-error.js';

// A string that can be a run id (anything else cannot name a run): the kernel's one check.
export { isUuid };

export function invalid(field: string, problem: string): RunStoreError {
  return new RunStoreError('invalid_input', `${field} ${problem}`, { details: { field } });
}

/** A run id for a write: a malformed one cannot exist, so it is "not found". */
export function requireRunId(runId: unknown): string {
  if (!isUuid(runId)) {
    throw new RunStoreError('not_found', `run ${String(runId)} not found`, { details: { runId } });
  }
  return runId;
}

export function requireText(field: string, value: unknown, max: number): string {
  if (typeof value !== 'string' || value.length === 0)
    throw invalid(field, 'must be a non-empty string');
  if (value.length > max) throw invalid(field, `must be at most ${max} characters`);
  return value;
}

export function optionalText(field: string, value: unknown, max: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw invalid(field, 'must be a string or null');
  if (value.length > max) throw invalid(field, `must be at most ${max} characters`);
  return value;
}

const INT4_MAX = 2_147_483_647;

/** A non-negative integer that fits a PostgreSQL integer column. */
export function requireCount(field: string, value: unknown, min = 0): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > INT4_MAX) {
    throw invalid(field, `must be an integer >= ${min}`);
  }
  return value;
}

export function requireShardIndex(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > INT4_MAX) {
    throw new RunStoreError(
      'shard_out_of_range',
      `shardIndex ${String(value)} is not a valid shard index`,
      {
        details: { shardIndex: value },
      },
    );
  }
  return value;
}

export function outOfRange(runId: string, shardIndex: number, shardCount: number): RunStoreError {
  return new RunStoreError(
    'shard_out_of_range',
    `shard ${shardIndex} is out of range for run ${runId} (${shardCount} shards)`,
    { details: { runId, shardIndex, shardCount } },
  );
}

export function notFound(runId: string): RunStoreError {
  return new RunStoreError('not_found', `run ${runId} not found`, { details: { runId } });
}

export function pageLimit(value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  return requireCount('limit', value, 1) > max ? max : (value as number);
}
