import pg from 'pg';

/** One statement's server-side cost per call, from pg_stat_statements. */
export interface StatementStats {
  calls: number;
  /** Server execution time per call (planning excluded), ms. */
  meanExecMs: number;
  /** Shared buffers touched per call (hit + read), and dirtied per call. */
  buffersPerCall: number;
  dirtiedPerCall: number;
  /** WAL records and bytes per call: a non-HOT update logs one insert per index it enters. */
  walRecordsPerCall: number;
  walBytesPerCall: number;
}

/**
 * pg_stat_statements of one database (the test kit's cluster preloads it). The bench resets it
 * before its loop and reads each statement's server cost after, so the write's work in the
 * server (buffers, WAL: what a non-HOT update adds) is separated from its latency, which the
 * machine's load blurs. `read` answers undefined where the server lacks the extension.
 */
export async function statementStats(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const available = await client
    .query('create extension if not exists pg_stat_statements')
    .then(() => true)
    .catch(() => false);
  return {
    async reset(): Promise<void> {
      if (available) await client.query('select pg_stat_statements_reset()');
    },
    /** The statement whose text contains every one of `fragments` (several: summed). */
    async read(...fragments: string[]): Promise<StatementStats | undefined> {
      if (!available) return undefined;
      const { rows } = await client.query<{
        calls: string;
        exec: number;
        buffers: string;
        dirtied: string;
        wal_records: string;
        wal_bytes: string;
      }>(
        `select sum(calls)::text as calls, sum(total_exec_time) as exec,
           sum(shared_blks_hit + shared_blks_read)::text as buffers,
           sum(shared_blks_dirtied)::text as dirtied,
           sum(wal_records)::text as wal_records, sum(wal_bytes)::text as wal_bytes
         from pg_stat_statements
         where dbid = (select oid from pg_database where datname = current_database())
           and query like all ($1::text[])`,
        [fragments.map((f) => `%${f}%`)],
      );
      const r = rows[0];
      const calls = Number(r?.calls ?? 0);
      if (!r || calls === 0) return undefined;
      return {
        calls,
        meanExecMs: r.exec / calls,
        buffersPerCall: Number(r.buffers) / calls,
        dirtiedPerCall: Number(r.dirtied) / calls,
        walRecordsPerCall: Number(r.wal_records) / calls,
        walBytesPerCall: Number(r.wal_bytes) / calls,
      };
    },
    close: () => client.end(),
  };
}
