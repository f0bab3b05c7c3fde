import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { preparingClientClass } from './prepared-client.js';
import type { Database } from './schema.js';

export interface OpenPostgresOptions {
  /**
   * Pool size. Default 10 (pg's default): enough for an api or worker replica; raise it
   * when many shards complete concurrently in one process.
   */
  max?: number;
  /**
   * Milliseconds to wait for a new connection before failing. Default 10 000, so a
   * database that is down fails requests instead of hanging them forever.
   */
  connectionTimeoutMs?: number;
  /**
   * Told when an idle pooled connection breaks (server restart, network). Default: a
   * process warning. The pool replaces the connection; queries in flight fail on their own.
   */
  onIdleError?: (err: Error) => void;
  /**
   * How many distinct parameterized statements to keep prepared per connection. Default
   * 200: the store uses a few dozen, and preparing saves PostgreSQL a parse and plan on
   * every call (a large share of a one-row update). 0 turns it off.
   */
  preparedStatements?: number;
}

/** The pool under each Kysely instance `openPostgres` made (not its transactions). */
const pools = new WeakMap<Kysely<Database>, pg.Pool>();

/**
 * The `pg` pool under `db` when `openPostgres` made it, else undefined (PGlite, a transaction,
 * a derived instance). The hot statements' constant texts go to it directly (sql/statement.ts).
 */
export function poolOf(db: Kysely<Database>): pg.Pool | undefined {
  return pools.get(db);
}

/**
 * Kysely over a `pg` pool (production mode). `db.destroy()` ends the pool.
 *
 * @example
 * const db = openPostgres('postgres://app@db/x', { max: 20 });
 * await migrate(db);
 */
export function openPostgres(url: string, opts: OpenPostgresOptions = {}): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 10_000,
    ...(opts.preparedStatements === 0
      ? {}
      : { Client: preparingClientClass(opts.preparedStatements ?? 200) }),
  });
  // An idle client that loses its connection emits 'error' on the pool; without a
  // listener that would crash the process. The next query gets a fresh client (and a
  // RunStoreError 'unavailable' if the server is still gone), so it is only reported.
  const onIdleError =
    opts.onIdleError ??
    ((err: Error) => process.emitWarning(`run-store idle connection error: ${err.message}`));
  pool.on('error', onIdleError);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, pool);
  return db;
}
