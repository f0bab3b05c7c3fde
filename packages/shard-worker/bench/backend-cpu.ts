import { readFileSync } from 'node:fs';
import type pg from 'pg';

/**
 * CPU ms the PostgreSQL backends of one database used so far, per backend pid (from
 * /proc/<pid>/stat; the server runs on this machine). The cluster is shared with other
 * databases (and other benches), so the machine's figure cannot say what one side's flood
 * cost PostgreSQL; its own backends can. A backend that exits between two samples takes its
 * CPU with it: the pools here keep theirs open through a round.
 */
export async function backendCpu(sql: Pick<pg.Pool, 'query'>): Promise<Map<number, number>> {
  const { rows } = await sql.query<{ pid: number }>(
    'select pid from pg_stat_activity where datname = current_database()',
  );
  const out = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      // Fields after the parenthesized command: utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // USER_HZ is 100 on every Linux this runs on.
      out.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1000) / 100);
    } catch {
      // Not on Linux, or the backend just exited: it counts as nothing.
    }
  }
  return out;
}

/** CPU ms the database's backends used between two samples (new backends from zero). */
export function backendCpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let ms = 0;
  for (const [pid, cpu] of after) ms += cpu - (before.get(pid) ?? 0);
  return ms;
}
