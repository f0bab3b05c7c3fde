/**
 * `pnpm bench:system`: two api replicas and two workers (real processes running the built
 * dist JS, as `pnpm start` does in production) on loopback Redis and PostgreSQL.
 * (a) abort latency: POST /runs/:id/abort on api A -> `done` frame on an SSE client of api B,
 *     for running 8-shard runs, one at a time;
 * (b) throughput: runs of 4 shards x 25 zero-duration tests (X_BENCH_TEST_MS each otherwise),
 *     POST /runs -> `done` observed on one SSE stream per run (on the other replica),
 *     X_BENCH_IN_FLIGHT runs at a time.
 * Also prints Redis commands and PostgreSQL transactions per abort and per run.
 * X_BENCH_SHARD_QUEUE=redis|bullmq (default redis, the apps' default) is every process's SHARD_QUEUE.
 * X_BENCH_CPU_PROF=<dir> writes a V8 CPU profile of every api/worker process there.
 * Last line: {"bench":"system","shard_queue":…,"abort_p50_ms":…,"abort_p99_ms":…,"runs_per_s":…,
 * "create_to_done_p50_ms":…,"create_to_done_p99_ms":…,"redis_cmds_per_run":…,
 * "pg_statements_per_run":…,"cpu_ms_per_run":…,"ref_redis_cmds_per_run":…,"ref_runs_per_s":…,
 * "ref_cpu_ms_per_run":…,"durable_ref_runs_per_s":…,"durable_ref_pg_statements_per_run":…,
 * "durable_ref_cpu_ms_per_run":…,"cpu_x_durable_ref":…,"http_ref_runs_per_s":…,
 * "http_ref_redis_cmds_per_run":…,"http_ref_pg_statements_per_run":…,"http_ref_cpu_ms_per_run":…,
 * "cpu_x_http_ref":…}
 * for (b) and (c): Redis commands from INFO
 * commandstats (a script's own commands included), PostgreSQL statements from
 * pg_stat_statements (null where the server lacks it; run without DATABASE_URL so the test
 * kit's private cluster, which preloads it, is used), and the CPU of every server process
 * from /proc utime+stime (both api replicas, both workers, Redis from INFO cpu, PostgreSQL's
 * backends of the bench database and its background processes; not this bench client).
 * (c) the hand-written reference (flow-reference.ts): the same runs as one BullMQ Flow each,
 *     events appended with XADD and tailed with XREAD, on the same Redis once our processes
 *     are stopped; `ref_redis_cmds_per_run` (INFO commandstats deltas, as ours),
 *     `ref_runs_per_s` and `ref_cpu_ms_per_run` (this process and Redis) go next to ours.
 * (d) the same reference, durable: the run row, each shard's results and completion and the
 *     final status written to PostgreSQL with the shard-worker bench's hand-written statements.
 *     What a user would build for runs that survive, minus HTTP, abort and exactly-once
 *     events: `durable_ref_cpu_ms_per_run` (this process, Redis and PostgreSQL) and
 *     `cpu_x_durable_ref` (ours ÷ it).
 * (e) the same durable runs behind the HTTP a user would write (http-reference.ts: POST
 *     /runs, an SSE endpoint tailing the stream), in 2 api and 2 worker processes of its own,
 *     driven by the same client and lanes as (b): `http_ref_*` and `cpu_x_http_ref` (ours ÷
 *     it), the fair reference of `cpu_ms_per_run`, its CPU measured exactly as ours.
 * X_BENCH_VERBOSE=1 also prints every Redis command per run and per abort, by name, the
 * event appends (script calls) of the api replicas and of the workers, from their /metrics,
 * the reference's commands by name, and the PostgreSQL statements per run by statement text
 * (top 10, from pg_stat_statements).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import {
  freePort,
  type NodeProcess,
  postgres,
  spawnNode,
  startRedis,
  uniqueName,
  waitFor,
} from '@x/testkit';
import { Redis } from 'ioredis';
import { demoTests, type RunBody } from '../test/support/api-client.js';
import { flowReference, type Sql } from './flow-reference.js';
import { openLeanSse, postJson } from './lean-http.js';

const ABORTS = Number(process.env.X_BENCH_ABORTS ?? 200);
const RUNS = Number(process.env.X_BENCH_RUNS ?? 500);
/**
 * Runs of (b)'s shape through the same lanes before (b), neither timed nor counted. The
 * processes are long-running servers; fresh ones run their code cold while V8 tiers it up
 * (the shard-worker bench measured its process CPU a run falling from 3.98 to 1.14 ms over
 * its first 2,500 runs). 0 measures (b) from cold, as before 2026-12-07.
 */
const WARMUP_RUNS = Number(process.env.X_BENCH_WARMUP_RUNS ?? 500);
if (!(Number.isInteger(WARMUP_RUNS) && WARMUP_RUNS >= 0)) {
  throw new Error(
    `X_BENCH_WARMUP_RUNS must be a non-negative integer, got ${process.env.X_BENCH_WARMUP_RUNS}`,
  );
}
const IN_FLIGHT = Number(process.env.X_BENCH_IN_FLIGHT ?? 64);
/** Each test's duration in (b): 0 (default) reports a shard's results in one tick. */
const TEST_MS = Number(process.env.X_BENCH_TEST_MS ?? 0);
if (!(Number.isInteger(TEST_MS) && TEST_MS >= 0)) {
  throw new Error(
    `X_BENCH_TEST_MS must be a non-negative integer, got ${process.env.X_BENCH_TEST_MS}`,
  );
}
const WORKER_CONCURRENCY = process.env.X_BENCH_WORKER_CONCURRENCY ?? '32';
const CPU_PROF = process.env.X_BENCH_CPU_PROF;
/** `SHARD_QUEUE` of every spawned api and worker: `redis` (default) or `bullmq`. */
const SHARD_QUEUE = process.env.X_BENCH_SHARD_QUEUE ?? 'redis';
if (SHARD_QUEUE !== 'bullmq' && SHARD_QUEUE !== 'redis') {
  throw new Error(`X_BENCH_SHARD_QUEUE must be bullmq or redis, got ${SHARD_QUEUE}`);
}
const TOKEN = 'bench-token-0123456789abcdef';
const METRICS_TOKEN = 'bench-metrics-0123456789abcdef';
const API_MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const WORKER_MAIN = fileURLToPath(new URL('../../worker/dist/main.js', import.meta.url));

// pg is run-store's dependency; the bench only reads pg_stat_database through it.
const requireFromStore = createRequire(createRequire(import.meta.url).resolve('@x/run-store'));
interface PgClient {
  connect(): Promise<void>;
  query<R>(text: string): Promise<{ rows: R[] }>;
  end(): Promise<void>;
}
const pg = requireFromStore('pg') as {
  Client: new (opts: { connectionString: string }) => PgClient;
  Pool: new (opts: {
    connectionString: string;
    max: number;
    idleTimeoutMillis: number;
  }) => Sql & { end(): Promise<void> };
};

const children: ChildProcess[] = [];
function start(file: string, env: Record<string, string>): ChildProcess {
  const flags = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...flags, file], {
    env: { ...process.env, NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  return child;
}
const healthy = (url: string) =>
  waitFor(async () => (await fetch(url).catch(() => undefined))?.ok, {
    timeoutMs: 90_000,
    intervalMs: 100,
    what: url,
  });

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : Number.NaN;
};
const round = (x: number) => Math.round(x * 100) / 100;
/** Statement counts are NaN where the server lacks pg_stat_statements: null in the JSON. */
const roundOrNull = (x: number) => (Number.isNaN(x) ? null : round(x));

/** Redis commands served and PostgreSQL transactions committed so far (round-trip proxies). */
async function counters(redis: Redis, db: PgClient) {
  const info = await redis.info('commandstats');
  let commands = 0;
  for (const m of info.matchAll(/calls=(\d+)/g)) commands += Number(m[1]);
  const { rows } = await db.query<{ x: string }>(
    'select xact_commit::text as x from pg_stat_database where datname = current_database()',
  );
  const byCommand = new Map<string, number>();
  for (const m of info.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) byCommand.set(m[1]!, Number(m[2]));
  const pgCpuMs = await postgresCpuMs(db);
  const cpu = await redis.info('cpu');
  const redisCpuMs =
    (Number(/used_cpu_user:([\d.]+)/.exec(cpu)?.[1]) +
      Number(/used_cpu_sys:([\d.]+)/.exec(cpu)?.[1])) *
    1000;
  return {
    commands,
    xacts: Number(rows[0]?.x ?? 0),
    statements: await statementCount(db),
    byCommand,
    redisCpuMs,
    pgCpuMs,
  };
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
async function statementsByText(db: PgClient): Promise<Map<string, { calls: number; ms: number }>> {
  const byText = new Map<string, { calls: number; ms: number }>();
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
/**
 * The `top` statement texts that ran most between two readings, per unit of work: calls, then
 * execution ms (PostgreSQL's own time in the statement, not the round trip).
 */
function topStatements(
  a: Map<string, { calls: number; ms: number }>,
  b: Map<string, { calls: number; ms: number }>,
  per: number,
  top: number,
) {
  return [...b]
    .map(([text, { calls, ms }]) => {
      const before = a.get(text) ?? { calls: 0, ms: 0 };
      return [text, (calls - before.calls) / per, (ms - before.ms) / per] as const;
    })
    .filter(([, n]) => n > 0)
    .sort((x, y) => y[1] - x[1])
    .slice(0, top)
    .map(([text, n, ms]) => `      ${round(n)} calls, ${round(ms)} ms  ${text}`)
    .join('\n');
}

/** The commands that grew most between two readings, per unit of work. */
function topCommands(a: Map<string, number>, b: Map<string, number>, per: number): string {
  return [...b]
    .map(([name, calls]) => [name, (calls - (a.get(name) ?? 0)) / per] as const)
    .filter(([, n]) => n >= 0.5)
    .sort((x, y) => y[1] - x[1])
    .map(([name, n]) => `${name} ${round(n)}`)
    .join(', ');
}

/** `x_run_events_stat` counters (appends, emitted) of a process, from its `/metrics`. */
async function eventCounters(url: string) {
  const res = await fetch(url, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  const text = await res.text();
  const stat = (name: string) =>
    Number(new RegExp(`^x_run_events_stat\\{stat="${name}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { appends: stat('appends'), emitted: stat('emitted') };
}
/** Appends and events of the api replicas and of the workers, so far. */
async function appendCounters(apis: string[], workers: string[]) {
  const sum = async (urls: string[]) => {
    const all = await Promise.all(urls.map(eventCounters));
    return {
      appends: all.reduce((t, c) => t + c.appends, 0),
      emitted: all.reduce((t, c) => t + c.emitted, 0),
    };
  };
  return { api: await sum(apis), workers: await sum(workers) };
}
type AppendCounters = Awaited<ReturnType<typeof appendCounters>>;
const appendsPer = (a: AppendCounters, b: AppendCounters, per: number) =>
  (['api', 'workers'] as const)
    .map((who) => {
      const appends = b[who].appends - a[who].appends;
      const events = b[who].emitted - a[who].emitted;
      return `${who} ${round(appends / per)} appends of ${round(events / Math.max(appends, 1))} events`;
    })
    .join(', ');

/** CPU ms (user + system) a process used so far, from /proc (Linux); 0 elsewhere or gone. */
function procCpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime at 100 Hz
  } catch {
    return 0;
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
/** CPU the processes alive at `b` used since `a` (a new pid counts from 0). */
function pgDelta(a: Map<number, number>, b: Map<number, number>): number {
  let ms = 0;
  for (const [pid, cpu] of b) ms += cpu - (a.get(pid) ?? 0);
  return ms;
}
/** api A, api B, worker 1, worker 2, then this bench client itself. */
const childCpuMs = () => [
  ...children.map((c) => procCpuMs(c.pid)),
  (process.cpuUsage().user + process.cpuUsage().system) / 1000,
];
const cpuPer = (a: number[], b: number[], per: number) =>
  `api A ${round((b[0]! - a[0]!) / per)}, api B ${round((b[1]! - a[1]!) / per)}, workers ${round((b[2]! + b[3]! - a[2]! - a[3]!) / per)}, bench client ${round((b[4]! - a[4]!) / per)}`;

/** Stops our processes (SIGTERM with --cpu-prof so it writes its profiles) and waits for them. */
async function stopChildren() {
  for (const c of children) c.kill(CPU_PROF ? 'SIGTERM' : 'SIGKILL');
  const killer = setTimeout(() => {
    for (const c of children) c.kill('SIGKILL');
  }, 30_000);
  await Promise.all(
    children.map((c) =>
      c.exitCode === null && c.signalCode === null ? once(c, 'exit') : undefined,
    ),
  );
  clearTimeout(killer);
}

const HTTP_REFERENCE = fileURLToPath(new URL('./http-reference.ts', import.meta.url));

/**
 * Starts http-reference.ts's 2 api and 2 worker processes on the bench's Redis and database,
 * lets `flood` warm them (`lat` undefined), then times one measured flood and takes the
 * counters and the processes' CPU around it. Kills them after.
 */
async function httpReference(o: {
  redis: Redis;
  redisUrl: string;
  db: PgClient;
  databaseUrl: string;
  flood: (hosts: [string, string], lat?: number[]) => Promise<void>;
}) {
  const env = {
    REDIS_URL: o.redisUrl,
    DATABASE_URL: o.databaseUrl,
    PREFIX: uniqueName('href'),
    TOKEN,
    CONCURRENCY: WORKER_CONCURRENCY,
    NODE_ENV: 'production',
  };
  const procs: NodeProcess[] = [];
  try {
    const ports = [await freePort(), await freePort()];
    // One at a time: the first api creates the tables.
    for (const port of ports)
      procs.push(
        await spawnNode(HTTP_REFERENCE, { ...env, PORT: String(port) }, { args: ['api'] }),
      );
    for (const _ of ports) procs.push(await spawnNode(HTTP_REFERENCE, env, { args: ['worker'] }));
    const hosts = ports.map((p) => `http://127.0.0.1:${p}`) as [string, string];
    await o.flood(hosts);
    const lat: number[] = [];
    const before = await counters(o.redis, o.db);
    const cpu0 = procs.map((p) => procCpuMs(p.pid));
    const started = performance.now();
    await o.flood(hosts, lat);
    const seconds = (performance.now() - started) / 1000;
    const used = procs.map((p, i) => procCpuMs(p.pid) - cpu0[i]!);
    const [apiCpuMs, workerCpuMs] = [used[0]! + used[1]!, used[2]! + used[3]!];
    const after = await counters(o.redis, o.db);
    return { seconds, lat, before, after, apiCpuMs, workerCpuMs };
  } finally {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  }
}

async function main() {
  for (const file of [API_MAIN, WORKER_MAIN])
    if (!existsSync(file))
      throw new Error(`${file} is missing: build first (pnpm turbo run build --filter=@x/api...)`);
  const [redis, db] = await Promise.all([startRedis(), postgres('bench')]);
  const probe = new Redis(redis.url);
  const pgProbe = new pg.Client({ connectionString: db.url });
  await pgProbe.connect();
  // Counts statements per run where the server preloads it (the test kit's cluster does).
  await pgProbe.query('create extension if not exists pg_stat_statements').catch(() => {});
  const common = {
    REDIS_URL: redis.url,
    DATABASE_URL: db.url,
    X_PREFIX: uniqueName('bench'),
    API_TOKENS: `bench:${TOKEN}`,
    METRICS_TOKEN,
    STREAM_TOKEN_SECRET: 'bench-secret-0123456789abcdef0123456789',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    SHARD_QUEUE,
    // The limits stay on (their Redis calls are part of the cost per run), set above the load.
    RATE_LIMIT_CREATES_PER_MIN: '10000000',
    RATE_LIMIT_REQUESTS_PER_S: '10000000',
  };
  try {
    const [pa, pb, m1, m2] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    start(API_MAIN, { ...common, PORT: String(pa) });
    await healthy(`http://127.0.0.1:${pa}/readyz`); // first one migrates
    start(API_MAIN, { ...common, PORT: String(pb) });
    for (const m of [m1, m2])
      start(WORKER_MAIN, {
        ...common,
        METRICS_PORT: String(m),
        WORKER_CONCURRENCY,
      });
    await Promise.all(
      [
        `http://127.0.0.1:${pb}/readyz`,
        `http://127.0.0.1:${m1}/healthz`,
        `http://127.0.0.1:${m2}/healthz`,
      ].map(healthy),
    );
    const A = `http://127.0.0.1:${pa}`;
    const B = `http://127.0.0.1:${pb}`;
    const appendsNow = () =>
      appendCounters(
        [`${A}/metrics`, `${B}/metrics`],
        [`http://127.0.0.1:${m1}/metrics`, `http://127.0.0.1:${m2}/metrics`],
      );
    const createRun = async (base: string, body: unknown) => {
      const r = await postJson<{ run: RunBody }>(base, '/runs', TOKEN, body);
      if (r.status !== 201) throw new Error(`POST /runs answered ${r.status}`);
      return r.body.run;
    };

    // (a) abort latency across replicas. Commands/transactions counted over the abort only
    // would need a quiet system; the per-abort figure below includes the run's own start.
    const aborts: number[] = [];
    const replies: number[] = [];
    const c0 = await counters(probe, pgProbe);
    const e0 = await appendsNow();
    const cpu0 = childCpuMs();
    for (let i = 0; i < ABORTS; i++) {
      const run = await createRun(A, {
        executor: 'demo',
        tests: demoTests(16, 60_000),
        shards: 8,
      });
      const stream = await openLeanSse(B, run.id, TOKEN);
      // Running: every one of its 8 shards has started (each emits one `started`), so the
      // abort meets a run in its steady state rather than the burst of its shards starting.
      let started = 0;
      await stream.waitFor('"started"', (d) => d.type === 'shard' && ++started === 8, 30_000);
      const t0 = performance.now();
      const replied = postJson(A, `/runs/${run.id}/abort`, TOKEN).then((reply) => {
        replies.push(performance.now() - t0);
        return reply;
      });
      const done = await stream.waitFor('"done"', (d) => d.type === 'done', 30_000);
      aborts.push(performance.now() - t0);
      const r = await replied;
      if (r.status !== 202 || done.status !== 'aborted')
        throw new Error(`abort answered ${r.status}, done ${JSON.stringify(done)}`);
      stream.close();
    }
    const cA = await counters(probe, pgProbe);
    const eA = await appendsNow();
    const cpuA = childCpuMs();
    console.log(
      `(a) ${ABORTS} aborts A -> done on B: p50 ${round(pct(aborts, 50))} ms, p99 ${round(pct(aborts, 99))} ms (HTTP 202 itself: p50 ${round(pct(replies, 50))} ms); per run+abort: ${round((cA.commands - c0.commands) / ABORTS)} Redis commands, ${round((cA.xacts - c0.xacts) / ABORTS)} PG transactions`,
    );

    // (b) throughput: IN_FLIGHT runs at a time, created on A or B, watched on the other.
    const flood = async (count: number, lat: number[], [a, b] = [A, B]) => {
      let next = 0;
      const lane = async () => {
        while (next < count) {
          const i = next++;
          const [create, view] = i % 2 ? [b, a] : [a, b];
          const t0 = performance.now();
          const run = await createRun(create, {
            executor: 'demo',
            tests: demoTests(100, TEST_MS),
            shards: 4,
          });
          const stream = await openLeanSse(view, run.id, TOKEN);
          const done = await stream.waitFor('"done"', (d) => d.type === 'done', 120_000);
          if (done.status !== 'completed' || done.passed !== 100)
            throw new Error(`run ${run.id}: ${JSON.stringify(done)}`);
          lat.push(performance.now() - t0);
          stream.close();
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
    };
    const warmStarted = performance.now();
    await flood(WARMUP_RUNS, []);
    const warmSeconds = (performance.now() - warmStarted) / 1000;
    if (WARMUP_RUNS > 0)
      console.log(
        `(b) warm-up: ${WARMUP_RUNS} runs of the same shape first, not counted: ${round(WARMUP_RUNS / warmSeconds)} runs/s`,
      );
    const c1 = await counters(probe, pgProbe);
    const e1 = await appendsNow();
    const cpu1 = childCpuMs();
    const lat: number[] = [];
    const texts1 = process.env.X_BENCH_VERBOSE
      ? await statementsByText(pgProbe)
      : new Map<string, { calls: number; ms: number }>();
    const started = performance.now();
    await flood(RUNS, lat);
    const seconds = (performance.now() - started) / 1000;
    const c2 = await counters(probe, pgProbe);
    const e2 = await appendsNow();
    const cpu2 = childCpuMs();
    const texts2 = process.env.X_BENCH_VERBOSE
      ? await statementsByText(pgProbe)
      : new Map<string, { calls: number; ms: number }>();
    const runsPerS = RUNS / seconds;
    console.log(
      `(b) ${RUNS} runs (4 shards x 25 tests of ${TEST_MS} ms), ${IN_FLIGHT} in flight, WORKER_CONCURRENCY ${WORKER_CONCURRENCY}: ${round(runsPerS)} runs/s, create->done p50 ${round(pct(lat, 50))} ms, p99 ${round(pct(lat, 99))} ms; per run: ${round((c2.commands - c1.commands) / RUNS)} Redis commands, ${round((c2.xacts - c1.xacts) / RUNS)} PG transactions`,
    );
    console.log(
      `    CPU ms per run+abort: ${cpuPer(cpu0, cpuA, ABORTS)}, redis ${round((cA.redisCpuMs - c0.redisCpuMs) / ABORTS)}, postgres ${round(pgDelta(c0.pgCpuMs, cA.pgCpuMs) / ABORTS)}`,
    );
    console.log(
      `    CPU ms per run: ${cpuPer(cpu1, cpu2, RUNS)}, redis ${round((c2.redisCpuMs - c1.redisCpuMs) / RUNS)}, postgres ${round(pgDelta(c1.pgCpuMs, c2.pgCpuMs) / RUNS)}`,
    );
    // Every server process of phase (b), per run: api A, api B, both workers, Redis, PostgreSQL.
    const serverCpuMs =
      cpu2.slice(0, 4).reduce((t, ms, i) => t + ms - cpu1[i]!, 0) +
      (c2.redisCpuMs - c1.redisCpuMs) +
      pgDelta(c1.pgCpuMs, c2.pgCpuMs);
    const statementsPerRun = (c2.statements - c1.statements) / RUNS;
    console.log(
      `    per run: ${round((c2.commands - c1.commands) / RUNS)} Redis commands, ${Number.isNaN(statementsPerRun) ? 'n/a (no pg_stat_statements)' : round(statementsPerRun)} PostgreSQL statements, ${round(serverCpuMs / RUNS)} ms of server CPU`,
    );
    // (c) the hand-written reference, alone on the same Redis: our processes' own idle
    // commands (pollers, heartbeats) must not count in its delta.
    await stopChildren();
    // Its connections stay open to the end: a backend that exits is missed by pgDelta.
    const refDb = new pg.Pool({ connectionString: db.url, max: 20, idleTimeoutMillis: 0 });
    const reference = async (runs: number, durable: boolean) => {
      const before = await counters(probe, pgProbe);
      const ownBefore = process.cpuUsage();
      const { seconds } = await flowReference({
        redisUrl: redis.url,
        prefix: uniqueName('ref'),
        runs,
        inFlight: IN_FLIGHT,
        shards: 4,
        testsPerShard: 25,
        concurrency: Number(WORKER_CONCURRENCY),
        ...(durable ? { db: refDb } : {}),
      });
      const own = process.cpuUsage(ownBefore);
      const after = await counters(probe, pgProbe);
      return {
        runsPerS: runs / seconds,
        cmdsPerRun: (after.commands - before.commands) / runs,
        statementsPerRun: (after.statements - before.statements) / runs,
        // This process (producer, workers, tails), Redis and PostgreSQL: its whole system.
        cpuMsPerRun:
          ((own.user + own.system) / 1000 +
            (after.redisCpuMs - before.redisCpuMs) +
            pgDelta(before.pgCpuMs, after.pgCpuMs)) /
          runs,
        r0: before,
        r1: after,
      };
    };
    // Warm, as ours is: the first runs compile BullMQ's paths and create the tables.
    await reference(Math.ceil(RUNS / 5), true);
    const ref = await reference(RUNS, false);
    const { r0, r1 } = ref;
    const refCmdsPerRun = ref.cmdsPerRun;
    console.log(
      `(c) reference, BullMQ Flow + XADD history + XREAD tail, written by hand: ${round(ref.runsPerS)} runs/s; per run: ${round(refCmdsPerRun)} Redis commands (ours: ${round((c2.commands - c1.commands) / RUNS)}), ${round(ref.cpuMsPerRun)} ms of CPU (this process, Redis)`,
    );
    // (d) the same, durable (issue 18 §1's statements); without HTTP, a floor under (e).
    const durable = await reference(RUNS, true);
    await refDb.end();
    console.log(
      `(d) durable reference, (c) + the run, results, completions and final status in PostgreSQL: ${round(durable.runsPerS)} runs/s; per run: ${round(durable.statementsPerRun)} PostgreSQL statements, ${round(durable.cpuMsPerRun)} ms of CPU (this process, Redis, PostgreSQL; ours: ${round(serverCpuMs / RUNS)})`,
    );
    // (e) the durable reference behind HTTP (http-reference.ts), 2 api and 2 worker processes
    // of its own driven by the same client and lanes as ours: the fair reference of
    // cpu_ms_per_run, measured as ours (its processes, Redis, PostgreSQL; not the client).
    const http = await httpReference({
      redis: probe,
      redisUrl: redis.url,
      db: pgProbe,
      databaseUrl: db.url,
      flood: (hosts, lat) => flood(lat ? RUNS : WARMUP_RUNS, lat ?? [], hosts),
    });
    const httpRedisMs = http.after.redisCpuMs - http.before.redisCpuMs;
    const httpPgMs = pgDelta(http.before.pgCpuMs, http.after.pgCpuMs);
    const httpRef = {
      runsPerS: RUNS / http.seconds,
      cmdsPerRun: (http.after.commands - http.before.commands) / RUNS,
      statementsPerRun: (http.after.statements - http.before.statements) / RUNS,
      cpuMsPerRun: (http.apiCpuMs + http.workerCpuMs + httpRedisMs + httpPgMs) / RUNS,
      p50: pct(http.lat, 50),
    };
    console.log(
      `(e) the durable reference behind HTTP, 2 api + 2 worker processes: ${round(httpRef.runsPerS)} runs/s, create->done p50 ${round(httpRef.p50)} ms; per run: ${round(httpRef.cmdsPerRun)} Redis commands, ${round(httpRef.statementsPerRun)} PostgreSQL statements, ${round(httpRef.cpuMsPerRun)} ms of server CPU (ours: ${round(serverCpuMs / RUNS)})`,
    );
    console.log(
      `    CPU ms per run: api processes ${round(http.apiCpuMs / RUNS)}, workers ${round(http.workerCpuMs / RUNS)}, redis ${round(httpRedisMs / RUNS)}, postgres ${round(httpPgMs / RUNS)}`,
    );
    if (process.env.X_BENCH_VERBOSE) {
      console.log(`    reference per run: ${topCommands(r0.byCommand, r1.byCommand, RUNS)}`);
      console.log(
        `    PostgreSQL statements per run, by text (top 10):\n${topStatements(texts1, texts2, RUNS, 10)}`,
      );
      console.log(`    per abort: ${topCommands(c0.byCommand, cA.byCommand, ABORTS)}`);
      console.log(`    per run: ${topCommands(c1.byCommand, c2.byCommand, RUNS)}`);
      console.log(`    event appends per abort: ${appendsPer(e0, eA, ABORTS)}`);
      console.log(`    event appends per run: ${appendsPer(e1, e2, RUNS)}`);
    }
    console.log(
      `machine: 2 cores, loopback Redis + PostgreSQL, 2 api + 2 worker processes (node dist/main.js), SHARD_QUEUE=${SHARD_QUEUE}`,
    );
    console.log(
      JSON.stringify({
        bench: 'system',
        shard_queue: SHARD_QUEUE,
        abort_p50_ms: round(pct(aborts, 50)),
        abort_p99_ms: round(pct(aborts, 99)),
        runs_per_s: round(runsPerS),
        create_to_done_p50_ms: round(pct(lat, 50)),
        create_to_done_p99_ms: round(pct(lat, 99)),
        redis_cmds_per_run: round((c2.commands - c1.commands) / RUNS),
        pg_statements_per_run: roundOrNull(statementsPerRun),
        cpu_ms_per_run: round(serverCpuMs / RUNS),
        ref_redis_cmds_per_run: round(refCmdsPerRun),
        ref_runs_per_s: round(ref.runsPerS),
        ref_cpu_ms_per_run: round(ref.cpuMsPerRun),
        durable_ref_runs_per_s: round(durable.runsPerS),
        durable_ref_pg_statements_per_run: roundOrNull(durable.statementsPerRun),
        durable_ref_cpu_ms_per_run: round(durable.cpuMsPerRun),
        cpu_x_durable_ref: round(serverCpuMs / RUNS / durable.cpuMsPerRun),
        http_ref_runs_per_s: round(httpRef.runsPerS),
        http_ref_redis_cmds_per_run: round(httpRef.cmdsPerRun),
        http_ref_pg_statements_per_run: roundOrNull(httpRef.statementsPerRun),
        http_ref_cpu_ms_per_run: round(httpRef.cpuMsPerRun),
        cpu_x_http_ref: round(serverCpuMs / RUNS / httpRef.cpuMsPerRun),
      }),
    );
  } finally {
    await stopChildren();
    probe.disconnect();
    await pgProbe.end();
    await redis.close();
    await db.close();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
