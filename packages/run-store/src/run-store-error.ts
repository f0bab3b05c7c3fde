import { XError } from '@x/kernel';

export const RUN_STORE_ERROR_CODES = [
  /** The run (or its workspace) does not exist. */
  'not_found',
  /** An argument is malformed: negative stats, bad cursor, empty name, … */
  'invalid_input',
  /** The shard index is not in `[0, shardCount)` for that run. */
  'shard_out_of_range',
  /** A row with that identity already exists (e.g. a run id given twice). */
  'conflict',
  /** The database could not be reached or refused the connection. */
  'unavailable',
  /** Anything else the database reported; see `cause`. */
  'internal',
] as const;
export type RunStoreErrorCode = (typeof RUN_STORE_ERROR_CODES)[number];

/** The only error the run store throws; `code` says what went wrong, `cause` keeps the original. */
export class RunStoreError extends XError.named('RunStoreError')<RunStoreErrorCode> {}
