/**
 * What `pnpm bench:system` reads off the shared servers around a phase: Redis commands (INFO
 * commandstats, a script's own commands included) and CPU (INFO cpu), PostgreSQL transactions
 * (pg_stat_database), statements (pg_stat_statements, where the server loads it) and the CPU
 * of the processes that work for the bench's database (/proc). A `Reading` is the servers'
 * state at one moment; a `Usage` is what was spent between two readings, and usages add up,
 * so a system measured in several rounds sums its own rounds only.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

/** The slice of a pg client the readings use. */
export interface PgClient {
  query<R>(text: string): Promise<{ rows: R[] }>;
}

type Calls = Map<string, { calls: number; ms: number }>;

export interface Reading {
  commands: number;
  byCommand: Map<string, number>;
  redisCpuMs: number;
  xacts: number;
  /** NaN where the server lacks pg_stat_statements. */
  statements: number;
  /** Calls and execution ms by statement text; empty unless asked for. */
  texts: Calls;
  /** CPU ms so far by pid of the PostgreSQL processes working for this database. */
  pgCpuMs: Map<number, number>;
}

export interface Usage {
  commands: number;
  byCommand: Map<string, number>;
  redisCpuMs: number;
  xacts: number;
  statements: number;
  texts: Calls;
  pgCpuMs: number;
}

/** CPU ms (user + system) a process used so far, from /proc (Linux); 0 elsewhere or gone. */
export function procCpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime at 100 Hz
  } catch {
    return 0;
  }
}

/** Read and write calls to the kernel a process made so far. */
export interface Syscalls {
  reads: number;
  writes: number;
}

/**
 * A process's read-like and write-like system calls so far (`syscr`, `syscw` of /proc/<pid>/io,
 * Linux; zeros elsewhere or when it is gone). On loopback each write to a sleeping peer wakes
 * it, and on few cores the writer pays for that: a count that explains CPU without timing it.
 */
export function procSyscalls(pid: number | undefined): Syscalls {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    return {
      reads: Number(/^syscr: (\d+)/m.exec(io)?.[1] ?? 0),
      writes: Number(/^syscw: (\d+)/m.exec(io)?.[1] ?? 0),
    };
  } catch {
    return { reads: 0, writes: 0 };
  }
}

/**
 * CPU ms so far of the PostgreSQL processes that work for this bench, by pid: the backends
 * of its database and the server's background processes (WAL writer, checkpointer, …,
 * shared with any other database of the server). Not the whole server: the test kit's
 * cluster is shared by every test and bench of the machine. The pools keep their backends
 * through a phase; one that exits in between is missed.
 */
async function postgresCpuMs(db: PgClient): Promise<Map<number, number>> {
  const { rows } = await db.query<{ pid: number }>(
    `select pid from pg_stat_activity
     where datname = current_database() or (datname is null and backend_type <> 'client backend')`,
  );
  return new Map(rows.map(({ pid }) => [pid, procCpuMs(pid)]));
}

/** Statements this database has run (pg_stat_statements), or NaN where it is not loaded. */
async function statementCount(db: PgClient): Promise<number> {
  try {
    const { rows } = await db.query<{ n: string }>(
      `select coalesce(sum(calls), 0)::text as n from pg_stat_statements
       where dbid = (select oid from pg_database where datname = current_database())`,
    );
    return Number(rows[0]?.n ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

/** Calls and execution ms so far by statement text (whitespace collapsed), where pg_stat_statements is. */
async function statementsByText(db: PgClient): Promise<Calls> {
  const byText: Calls = new Map();
  try {
    const { rows } = await db.query<{ query: string; calls: string; ms: string }>(
      `select query, calls::text as calls, total_exec_time::text as ms from pg_stat_statements
       where dbid = (select oid from pg_database where datname = current_database())`,
    );
    for (const { query, calls, ms } of rows) {
      const text = query.replace(/\s+/g, ' ').trim().slice(0, 140);
      const seen = byText.get(text) ?? { calls: 0, ms: 0 };
      byText.set(text, { calls: seen.calls + Number(calls), ms: seen.ms + Number(ms) });
    }
  } catch {
    // Not loaded on this server: nothing to group.
  }
  return byText;
}

/** The servers' counters now; statement texts only with `texts` (a read of every statement). */
export async function readServers(redis: Redis, db: PgClient, texts = false): Promise<Reading> {
  const info = await redis.info('commandstats');
  let commands = 0;
  const byCommand = new Map<string, number>();
  for (const m of info.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) {
    commands += Number(m[2]);
    byCommand.set(m[1]!, Number(m[2]));
  }
  const cpu = await redis.info('cpu');
  const { rows } = await db.query<{ x: string }>(
    'select xact_commit::text as x from pg_stat_database where datname = current_database()',
  );
  return {
    commands,
    byCommand,
    redisCpuMs:
      (Number(/used_cpu_user:([\d.]+)/.exec(cpu)?.[1]) +
        Number(/used_cpu_sys:([\d.]+)/.exec(cpu)?.[1])) *
      1000,
    xacts: Number(rows[0]?.x ?? 0),
    statements: await statementCount(db),
    texts: texts ? await statementsByText(db) : new Map(),
    pgCpuMs: await postgresCpuMs(db),
  };
}

/** What was spent between two readings (a PostgreSQL process new at `b` counts from 0). */
export function usageBetween(a: Reading, b: Reading): Usage {
  const byCommand = new Map<string, number>();
  for (const [name, calls] of b.byCommand)
    byCommand.set(name, calls - (a.byCommand.get(name) ?? 0));
  const texts: Calls = new Map();
  for (const [text, { calls, ms }] of b.texts) {
    const before = a.texts.get(text) ?? { calls: 0, ms: 0 };
    texts.set(text, { calls: calls - before.calls, ms: ms - before.ms });
  }
  let pgCpuMs = 0;
  for (const [pid, ms] of b.pgCpuMs) pgCpuMs += ms - (a.pgCpuMs.get(pid) ?? 0);
  return {
    commands: b.commands - a.commands,
    byCommand,
    redisCpuMs: b.redisCpuMs - a.redisCpuMs,
    xacts: b.xacts - a.xacts,
    statements: b.statements - a.statements,
    texts,
    pgCpuMs,
  };
}

/** Nothing spent: the start of a sum. */
export const noUsage = (): Usage => ({
  commands: 0,
  byCommand: new Map(),
  redisCpuMs: 0,
  xacts: 0,
  statements: 0,
  texts: new Map(),
  pgCpuMs: 0,
});

/** Two usages together. */
export function addUsage(a: Usage, b: Usage): Usage {
  const byCommand = new Map(a.byCommand);
  for (const [name, calls] of b.byCommand) byCommand.set(name, (byCommand.get(name) ?? 0) + calls);
  const texts: Calls = new Map(a.texts);
  for (const [text, { calls, ms }] of b.texts) {
    const seen = texts.get(text) ?? { calls: 0, ms: 0 };
    texts.set(text, { calls: seen.calls + calls, ms: seen.ms + ms });
  }
  return {
    commands: a.commands + b.commands,
    byCommand,
    redisCpuMs: a.redisCpuMs + b.redisCpuMs,
    xacts: a.xacts + b.xacts,
    statements: a.statements + b.statements,
    texts,
    pgCpuMs: a.pgCpuMs + b.pgCpuMs,
  };
}
