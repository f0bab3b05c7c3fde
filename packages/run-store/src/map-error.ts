import { messages } from '@electric-sql/pglite';
import pg from 'pg';
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

/** An error the server sent back for a statement: pg's (pg-protocol) or PGlite's own class. */
function isDatabaseError(e: unknown): e is pg.DatabaseError | messages.DatabaseError {
  return e instanceof pg.DatabaseError || e instanceof messages.DatabaseError;
}

/** JavaScript's own error classes: a bug in the caller or in this package, never an outage. */
function isProgrammingError(e: unknown): boolean {
  return (
    e instanceof TypeError ||
    e instanceof RangeError ||
    e instanceof ReferenceError ||
    e instanceof SyntaxError
  );
}

function fromSqlState(state: string, msg: string, cause: unknown): RunStoreError {
  if (state === '23505') return new RunStoreError('conflict', msg, { cause });
  if (state === '23503') return new RunStoreError('not_found', msg, { cause });
  if (INVALID_INPUT_STATES.has(state)) return new RunStoreError('invalid_input', msg, { cause });
  // Class 08 connection exceptions, 57P0x admin shutdown / cannot connect now, 53 resources.
  if (state.startsWith('08') || state.startsWith('57P') || state.startsWith('53')) {
    return new RunStoreError('unavailable', msg, { cause });
  }
  return new RunStoreError('internal', msg, { cause });
}

/**
 * The one place a database (pg or PGlite) error becomes a {@link RunStoreError}. Errors
 * that already are one pass through untouched.
 *
 * Errors are told apart by their class, never by the shape of an unknown value: the server
 * answers a statement it rejects with a `DatabaseError` (its SQLSTATE decides the code).
 * Any other `Error` from below the store means the statement got no answer at all — a
 * refused or dropped socket, a connect timeout, a pool after `end()`, a destroyed PGlite —
 * so the database is `unavailable`. JavaScript's own TypeError/RangeError/… are bugs:
 * `internal`, so nobody waits for them to heal.
 */
export function toRunStoreError(e: unknown, operation: string): RunStoreError {
  if (e instanceof RunStoreError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const msg = `${operation}: ${message}`;
  if (isDatabaseError(e)) return fromSqlState(e.code ?? '', msg, e);
  if (e instanceof Error && !isProgrammingError(e)) {
    return new RunStoreError('unavailable', msg, { cause: e });
  }
  return new RunStoreError('internal', msg, { cause: e });
}

/** Runs `fn` and turns anything it throws into a RunStoreError (via the one mapping function). */
export async function guarded<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toRunStoreError(e, operation);
  }
}
