import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect } from 'kysely';
import type { Database } from './schema.js';

/**
 * Kysely over an in-process PostgreSQL (embedded mode): `dataDir` is a directory that
 * holds the files (the apps default to `./.data`), or `'memory'` for a throwaway database.
 * PGlite has a single connection, so queries are serialized; `db.destroy()` closes it.
 *
 * @example
 * const db = await openPglite('./.data');
 * await migrate(db);
 */
export async function openPglite(dataDir: string | 'memory'): Promise<Kysely<Database>> {
  const pglite = await PGlite.create(dataDir === 'memory' ? undefined : dataDir);
  return new Kysely<Database>({ dialect: new PGliteDialect({ pglite }) });
}
