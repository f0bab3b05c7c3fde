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
    close: () => admin(adminUrl, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`),
  };
}

async function admin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
