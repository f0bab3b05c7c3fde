import { type Kysely, sql } from 'kysely';
import { toRunStoreError } from './map-error.js';
import { MIGRATIONS } from './migrations.js';
import type { Database } from './schema.js';

/**
 * Advisory lock key of the run store's migrations ('xrunstor' as ASCII). Distinct from
 * Kysely's own Migrator lock so an app that also uses the Migrator does not wait on us.
 */
const MIGRATION_LOCK_KEY = 0x7872756e73746f72n;

/**
 * Brings the schema up to date. Idempotent, and safe when several processes start at once:
 * everything happens in one transaction that first takes a transaction-level advisory lock,
 * so a second caller waits, then sees every step already recorded and does nothing. DDL is
 * transactional in PostgreSQL, so a failed step leaves no half-made schema behind.
 *
 * @example
 * const db = openPostgres(process.env.DATABASE_URL);
 * await migrate(db);
 * const store = createRunStore(db);
 */
export async function migrate(db: Kysely<Database>): Promise<void> {
  try {
    await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${sql.lit(MIGRATION_LOCK_KEY)})`.execute(trx);
      await sql`create table if not exists x_run_store_migrations (
        name text primary key,
        applied_at timestamptz(3) not null default now()
      )`.execute(trx);
      const done = await trx.selectFrom('x_run_store_migrations').select('name').execute();
      const applied = new Set(done.map((r) => r.name));
      for (const m of MIGRATIONS) {
        if (applied.has(m.name)) continue;
        await m.up(trx);
        await trx.insertInto('x_run_store_migrations').values({ name: m.name }).execute();
      }
    });
  } catch (e) {
    throw toRunStoreError(e, 'migrate');
  }
}
