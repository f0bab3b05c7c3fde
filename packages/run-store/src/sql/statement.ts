import { CompiledQuery, type Kysely } from 'kysely';
import { poolOf } from '../open-postgres.js';
import type { Database } from '../schema.js';

/**
 * Runs a constant SQL text with positional parameters ($1, $2, …) and answers its rows.
 * The hot-path statements use this instead of the query builder: a constant text stays
 * prepared in pg (see prepared-client.ts) and Kysely need not compile it on every call.
 * On a pool from `openPostgres` it goes to that pool directly, as bare `pg` would send it:
 * Kysely's executor (connection provider, driver, result wrapping) cost 12 µs of client
 * CPU a statement (77 against 65 µs a call, medians of 10 alternated rounds of 10,000), for
 * nothing a constant text needs. Anything else (PGlite, a transaction) goes through Kysely.
 */
async function rowsOf<R>(
  db: Kysely<Database>,
  text: string,
  params: readonly unknown[],
): Promise<readonly R[]> {
  const pool = poolOf(db);
  if (!pool) return (await db.executeQuery<R>(CompiledQuery.raw(text, [...params]))).rows;
  const client = await pool.connect();
  try {
    // (text, values): the shape prepared-client.ts names and keeps prepared.
    return (await client.query(text, params as unknown[])).rows as R[];
  } finally {
    client.release();
  }
}

/** {@link rowsOf}'s first row. */
export async function firstRow<R>(
  db: Kysely<Database>,
  text: string,
  params: readonly unknown[],
): Promise<R | undefined> {
  return (await rowsOf<R>(db, text, params))[0];
}

/** {@link rowsOf}, every row. */
export async function allRows<R>(
  db: Kysely<Database>,
  text: string,
  params: readonly unknown[],
): Promise<R[]> {
  return [...(await rowsOf<R>(db, text, params))];
}
