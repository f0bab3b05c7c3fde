import pg from 'pg';
import { privateClusterUrl } from './postgres-cluster.js';
import { uniqueName } from './unique-name.js';

export interface TestDatabase {
  /** Connection URL of this test's own, freshly created database. */
  readonly url: string;
  readonly database: string;
  /** Drops the database (terminating leftover connections). */
  close(): Promise<void>;
}

/**
 * A fresh, empty database for one test file: created on the server at `DATABASE_URL` when
 * set, else on a private cluster the kit starts from the PostgreSQL binaries.
 * Call `close()` in `afterAll` to drop it.
 */
export async function postgres(label = 'x'): Promise<TestDatabase> {
  const adminUrl = process.env.DATABASE_URL || (await privateClusterUrl());
  const database = uniqueName(`${label}_test_`);
  await admin(adminUrl, `CREATE DATABASE "${database}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return {
    url: url.toString(),
    database,
    close: () =>
      admin(adminUrl, async (client) => {
        await connectionsGone(client, database);
        await client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      }),
  };
}

/**
 * Waits up to `ms` for the database's connections to close by themselves. A pool's `end()`
 * resolves before its clients' sockets have closed; forcing the drop meanwhile sends those
 * clients a FATAL they no longer listen for, an uncaught error in the test process. Whatever
 * is still connected after the wait is a leak, and the forced drop ends it.
 */
async function connectionsGone(client: pg.Client, database: string, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const { rows } = await client.query<{ n: number }>(
      'select count(*)::int as n from pg_stat_activity where datname = $1',
      [database],
    );
    if ((rows[0]?.n ?? 0) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function admin(url: string, work: string | ((client: pg.Client) => Promise<void>)) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    if (typeof work === 'string') await client.query(work);
    else await work(client);
  } finally {
    await client.end();
  }
}
