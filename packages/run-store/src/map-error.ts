import { RunStoreError } from './run-store-error.js';

/** SQLSTATE classes we translate; see https://www.postgresql.org/docs/current/errcodes-appendix.html */
const INVALID_INPUT_STATES = new Set([
  '22P02',
  '22003',
  '22007',
  '22008',
  '23502',
  '23514',
  '22023',
]);

interface SqlStateError {
  code: string;
  message: string;
}

function hasSqlState(e: unknown): e is SqlStateError {
  return (
    typeof e === 'object' &&
    e !== null &&
    'code' in e &&
    typeof e.code === 'string' &&
    'message' in e &&
    typeof e.message === 'string'
  );
}

/**
 * The one place a database (pg or PGlite) error becomes a {@link RunStoreError}. Errors
 * that already are one pass through untouched.
 */
export function toRunStoreError(e: unknown, operation: string): RunStoreError {
  if (e instanceof RunStoreError) return e;
  if (hasSqlState(e)) {
    const state = e.code;
    const msg = `${operation}: ${e.message}`;
    if (state === '23505') return new RunStoreError('conflict', msg, { cause: e });
    if (state === '23503') return new RunStoreError('not_found', msg, { cause: e });
    if (INVALID_INPUT_STATES.has(state))
      return new RunStoreError('invalid_input', msg, { cause: e });
    // Class 08 connection exceptions, 57P0x admin shutdown / cannot connect now, 53 resources.
    if (state.startsWith('08') || state.startsWith('57P') || state.startsWith('53')) {
      return new RunStoreError('unavailable', msg, { cause: e });
    }
    // Node socket errors (ECONNREFUSED, ECONNRESET, …) carry a `code` too.
    if (state.startsWith('E')) return new RunStoreError('unavailable', msg, { cause: e });
    return new RunStoreError('internal', msg, { cause: e });
  }
  const message = e instanceof Error ? e.message : String(e);
  // pg reports a pool or client used after end() / a dropped connection without a code.
  if (
    /Connection terminated|Client was closed|Cannot use a pool after calling end/i.test(message)
  ) {
    return new RunStoreError('unavailable', `${operation}: ${message}`, { cause: e });
  }
  return new RunStoreError('internal', `${operation}: ${message}`, { cause: e });
}
