import { CompiledQuery, type Kysely } from 'kysely';
import type { Database } from '../schema.js';

/**
 * Runs a constant SQL text with positional parameters ($1, $2, …) and answers its first row.
 * The hot-path statements use this instead of the query builder: a constant text stays
 * prepared in pg (see prepared-client.ts) and Kysely need not compile it on every call.
 */
export async function firstRow<R>(
  db: Kysely<Database>,
  text: string,
  params: readonly unknown[],
): Promise<R | undefined> {
  const { rows } = await db.executeQuery<R>(CompiledQuery.raw(text, [...params]));
  return rows[0];
}

/** {@link firstRow}, answering every row. */
export async function allRows<R>(
  db: Kysely<Database>,
  text: string,
  params: readonly unknown[],
): Promise<R[]> {
  const { rows } = await db.executeQuery<R>(CompiledQuery.raw(text, [...params]));
  return [...rows];
}
