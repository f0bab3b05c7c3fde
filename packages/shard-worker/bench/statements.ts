import pg from 'pg';

/**
 * Statements run in one database so far (pg_stat_statements, which the test kit's cluster
 * preloads); `count` answers NaN where the server does not have it. Each side of the bench
 * reads it before and after its round: statements per run is the deterministic half of the
 * cost, which a shared machine's load does not blur.
 */
export async function statementCounter(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('create extension if not exists pg_stat_statements').catch(() => {});
  return {
    async count(): Promise<number> {
      try {
        const { rows } = await client.query<{ n: string }>(
          `select coalesce(sum(calls), 0)::text as n from pg_stat_statements
           where dbid = (select oid from pg_database where datname = current_database())`,
        );
        return Number(rows[0]?.n ?? Number.NaN);
      } catch {
        return Number.NaN;
      }
    },
    close: () => client.end(),
  };
}
