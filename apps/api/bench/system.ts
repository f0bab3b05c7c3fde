/**
 * `pnpm bench:system`: two api replicas and two workers (real processes running the built
 * dist JS, as `pnpm start` does in production) on loopback Redis and PostgreSQL.
 * (a) abort latency: POST /runs/:id/abort on api A -> `done` frame on an SSE client of api B,
 *     for running 8-shard runs, one at a time;
 * (b) throughput: runs of 4 shards x 25 zero-duration tests (X_BENCH_TEST_MS each otherwise),
 *     POST /runs -> `done` observed on one SSE stream per run (on the other replica),
 *     X_BENCH_IN_FLIGHT runs at a time;
 * (e) the same durable runs behind the HTTP a user would write (http-reference.ts: POST
 *     /runs, an SSE endpoint tailing the stream), in 2 api and 2 worker processes of its own,
 *     driven by the same client and lanes as (b): `http_ref_*` and `cpu_x_http_ref` (ours ÷
 *     it), the fair reference of `cpu_ms_per_run`, its CPU measured exactly as ours.
 *     (b) and (e) run in X_BENCH_ROUNDS alternated rounds (default 2: ours, (e), (e), ours) of
 *     X_BENCH_RUNS runs each, after X_BENCH_WARMUP_RUNS untimed runs on each; the system not
 *     being measured is stopped (SIGSTOP), so nothing of it counts in the other's figures.
 *     `cpu_x_http_ref_by_round` gives each round's ratio.
 * For (b) and (e): Redis commands from INFO commandstats (a script's own commands included),
 * PostgreSQL statements from pg_stat_statements (null where the server lacks it; run without
 * DATABASE_URL so the test kit's private cluster, which preloads it, is used), and the CPU of
 * every server process from /proc utime+stime (both api processes, both workers, Redis from
 * INFO cpu, PostgreSQL's backends of the bench database and its background processes; not
 * this bench client). Also Redis commands and PostgreSQL transactions per abort and per run.
 * (c) the hand-written reference (flow-reference.ts) in this process: the same runs as one
 *     BullMQ Flow each, events appended with XADD and tailed with XREAD, on the same Redis
 *     once both systems are stopped; `ref_redis_cmds_per_run` (INFO commandstats deltas, as
 *     ours), `ref_runs_per_s` and `ref_cpu_ms_per_run` (this process and Redis).
 * (d) the same reference, durable: the run row, each shard's results and completion and the
 *     final status written to PostgreSQL with the shard-worker bench's hand-written statements.
 *     Without HTTP, a floor under (e): `durable_ref_cpu_ms_per_run` (this process, Redis and
 *     PostgreSQL) and `cpu_x_durable_ref` (ours ÷ it).
 * X_BENCH_SHARD_QUEUE=redis|bullmq (default redis, the apps' default) is every process's SHARD_QUEUE.
 * X_BENCH_CPU_PROF=<dir> writes a V8 CPU profile of every api/worker process there.
 * X_BENCH_VERBOSE=1 also prints every Redis command per run and per abort, by name, the
 * event appends (script calls) of the api replicas and of the workers, from their /metrics,
 * the reference's commands by name, and the PostgreSQL statements per run by statement text
 * (top 10, from pg_stat_statements).
 * Last line: {"bench":"system","shard_queue":…,"abort_p50_ms":…,"abort_p99_ms":…,"rounds":…,
 * "runs_per_s":…,"create_to_done_p50_ms":…,"create_to_done_p99_ms":…,"redis_cmds_per_run":…,
 * "pg_statements_per_run":…,"cpu_ms_per_run":…,"ref_redis_cmds_per_run":…,"ref_runs_per_s":…,
 * "ref_cpu_ms_per_run":…,"durable_ref_runs_per_s":…,"durable_ref_pg_statements_per_run":…,
 * "durable_ref_cpu_ms_per_run":…,"cpu_x_durable_ref":…,"http_ref_runs_per_s":…,
 * "http_ref_redis_cmds_per_run":…,"http_ref_pg_statements_per_run":…,"http_ref_cpu_ms_per_run":…,
 * "cpu_x_http_ref":…,"cpu_x_http_ref_by_round":[…]}
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
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
import { openLeanSse, postJson, resetKeepAlive } from './lean-http.js';
import {
  addUsage,
  noUsage,
  type PgClient,
  procCpuMs,
  procSyscalls,
  readServers,
  type Syscalls,
  type Usage,
  usageBetween,
} from './server-counters.js';

const ABORTS = Number(process.env.X_BENCH_ABORTS ?? 200);
/** Runs of each measured round of (b) and of (e). */
const RUNS = Number(process.env.X_BENCH_RUNS ?? 500);
/** Rounds of (b) and (e), alternated. */
const ROUNDS = Number(process.env.X_BENCH_ROUNDS ?? 2);
for (const [name, value] of [
  ['X_BENCH_RUNS', RUNS],
  ['X_BENCH_ROUNDS', ROUNDS],
] as const)
  if (!(Number.isInteger(value) && value >= 1))
    throw new Error(`${name} must be a positive integer, got ${process.env[name]}`);
const VERBOSE = process.env.X_BENCH_VERBOSE;
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

// pg is run-store's dependency; the bench reads the server's statistics through it.
const requireFromStore = createRequire(createRequire(import.meta.url).resolve('@x/run-store'));
const pg = requireFromStore('pg') as {
  Client: new (opts: {
    connectionString: string;
  }) => PgClient & { connect(): Promise<void>; end(): Promise<void> };
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

/**
 * The `top` statement texts that ran most in a usage, per unit of work: calls, then execution
 * ms (PostgreSQL's own time in the statement, not the round trip).
 */
function topStatements(usage: Usage, per: number, top: number) {
  return [...usage.texts]
    .map(([text, { calls, ms }]) => [text, calls / per, ms / per] as const)
    .filter(([, n]) => n > 0)
    .sort((x, y) => y[1] - x[1])
    .slice(0, top)
    .map(([text, n, ms]) => `      ${round(n)} calls, ${round(ms)} ms  ${text}`)
    .join('\n');
}

/** The commands a usage ran most, per unit of work. */
function topCommands(usage: Usage, per: number): string {
  return [...usage.byCommand]
    .map(([name, calls]) => [name, calls / per] as const)
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
/** GC seconds (prom-client's `nodejs_gc_duration_seconds_sum`, all kinds) and heap used MB of a process. */
async function gcAndHeap(url: string) {
  const res = await fetch(url, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  const text = await res.text();
  let gcSeconds = 0;
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_sum\{[^}]*\} (\S+)$/gm))
    gcSeconds += Number(m[1]);
  const heap = Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
  return { gcSeconds, heapMb: heap / 2 ** 20 };
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

/** api A, api B, worker 1, worker 2, then this bench client itself. */
const childCpuMs = () => [
  ...children.map((c) => procCpuMs(c.pid)),
  (process.cpuUsage().user + process.cpuUsage().system) / 1000,
];
const cpuPer = (a: number[], b: number[], per: number) =>
  `api A ${round((b[0]! - a[0]!) / per)}, api B ${round((b[1]! - a[1]!) / per)}, workers ${round((b[2]! + b[3]! - a[2]! - a[3]!) / per)}, bench client ${round((b[4]! - a[4]!) / per)}`;

/** Stops our processes (SIGTERM with --cpu-prof so it writes its profiles) and waits for them. */
async function stopChildren() {
  for (const c of children) c.kill('SIGCONT'); // a stopped process holds a SIGTERM until then
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

/** Starts http-reference.ts's 2 api and 2 worker processes on the bench's Redis and database. */
async function startHttpReference(redisUrl: string, databaseUrl: string) {
  const env = {
    REDIS_URL: redisUrl,
    DATABASE_URL: databaseUrl,
    PREFIX: uniqueName('href'),
    TOKEN,
    CONCURRENCY: WORKER_CONCURRENCY,
    NODE_ENV: 'production',
  };
  const procs: NodeProcess[] = [];
  const ports = [await freePort(), await freePort()];
  // One at a time: the first api creates the tables.
  for (const port of ports)
    procs.push(await spawnNode(HTTP_REFERENCE, { ...env, PORT: String(port) }, { args: ['api'] }));
  for (const _ of ports) procs.push(await spawnNode(HTTP_REFERENCE, env, { args: ['worker'] }));
  return { procs, hosts: ports.map((p) => `http://127.0.0.1:${p}`) as [string, string] };
}

/**
 * A system (b) and (e) measure in alternated rounds: the two hosts its lanes drive, the pids
 * of its 2 api and 2 worker processes, and what its rounds spent so far.
 */
interface Side {
  hosts: [string, string];
  pids: number[];
  runs: number;
  seconds: number;
  lat: number[];
  /** CPU ms by process, in `pids`' order. */
  procMs: number[];
  /** This bench client's CPU ms while it drove the side. */
  clientMs: number;
  usage: Usage;
  /** Server CPU ms a run of each round. */
  roundCpuMsPerRun: number[];
  /** System calls by process, in `pids`' order. */
  syscalls: Syscalls[];
}
const side = (hosts: [string, string], pids: number[]): Side => ({
  hosts,
  pids,
  runs: 0,
  seconds: 0,
  lat: [],
  procMs: pids.map(() => 0),
  clientMs: 0,
  usage: noUsage(),
  roundCpuMsPerRun: [],
  syscalls: pids.map(() => ({ reads: 0, writes: 0 })),
});
/** Every server process: a system's api and workers (`procMs`), Redis, PostgreSQL. */
const serverCpuMs = (procMs: number[], usage: Usage) =>
  procMs.reduce((t, ms) => t + ms, 0) + usage.redisCpuMs + usage.pgCpuMs;
/**
 * SIGSTOP / SIGCONT a side's processes. The side not being measured is stopped, so its idle
 * work (pollers, lease renewals, timers) adds nothing to the other's Redis commands,
 * statements and server CPU; it has no run in flight then.
 */
const signal = (s: Side, sig: 'SIGSTOP' | 'SIGCONT') => {
  for (const pid of s.pids) process.kill(pid, sig);
  if (sig === 'SIGCONT') resetKeepAlive();
};

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
  const servers = (texts = false) => readServers(probe, pgProbe, texts);
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
  const reference: NodeProcess[] = [];
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
    const metricsUrls = [A, B, `http://127.0.0.1:${m1}`, `http://127.0.0.1:${m2}`].map(
      (base) => `${base}/metrics`,
    );
    const appendsNow = () => appendCounters(metricsUrls.slice(0, 2), metricsUrls.slice(2));
    const createRun = async (base: string, body: unknown) => {
      const r = await postJson<{ run: RunBody }>(base, '/runs', TOKEN, body);
      if (r.status !== 201) throw new Error(`POST /runs answered ${r.status}`);
      return r.body.run;
    };

    // (a) abort latency across replicas. Commands/transactions counted over the abort only
    // would need a quiet system; the per-abort figure below includes the run's own start.
    const aborts: number[] = [];
    const replies: number[] = [];
    const c0 = await servers();
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
    const abortUsage = usageBetween(c0, await servers());
    const eA = await appendsNow();
    const cpuA = childCpuMs();
    console.log(
      `(a) ${ABORTS} aborts A -> done on B: p50 ${round(pct(aborts, 50))} ms, p99 ${round(pct(aborts, 99))} ms (HTTP 202 itself: p50 ${round(pct(replies, 50))} ms); per run+abort: ${round(abortUsage.commands / ABORTS)} Redis commands, ${round(abortUsage.xacts / ABORTS)} PG transactions`,
    );
    console.log(
      `    CPU ms per run+abort: ${cpuPer(cpu0, cpuA, ABORTS)}, redis ${round(abortUsage.redisCpuMs / ABORTS)}, postgres ${round(abortUsage.pgCpuMs / ABORTS)}`,
    );

    // (b) throughput: IN_FLIGHT runs at a time, created on one host, watched on the other.
    const flood = async (count: number, lat: number[], [a, b]: [string, string]) => {
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
    // (e) the durable reference behind HTTP (http-reference.ts), 2 api and 2 worker processes
    // of its own driven by the same client and lanes as ours: the fair reference of
    // cpu_ms_per_run, measured as ours (its processes, Redis, PostgreSQL; not the client).
    const http = await startHttpReference(redis.url, db.url);
    reference.push(...http.procs);
    const ours = side(
      [A, B],
      children.map((c) => c.pid!),
    );
    const ref = side(
      http.hosts,
      http.procs.map((p) => p.pid),
    );
    // Each warmed by runs of (b)'s shape, neither timed nor counted, the other one stopped.
    signal(ref, 'SIGSTOP');
    // Ours sat idle while (e) started (seconds on a slow machine): past the servers' keep-alive
    // timeout, so a request on one of (a)'s kept connections could meet its close (ECONNRESET).
    resetKeepAlive();
    const warmStarted = performance.now();
    await flood(WARMUP_RUNS, [], ours.hosts);
    const warmSeconds = (performance.now() - warmStarted) / 1000;
    const e1 = await appendsNow();
    const g1 = await Promise.all(metricsUrls.map(gcAndHeap));
    signal(ours, 'SIGSTOP');
    signal(ref, 'SIGCONT');
    await flood(WARMUP_RUNS, [], ref.hosts);
    if (WARMUP_RUNS > 0)
      console.log(
        `(b) warm-up: ${WARMUP_RUNS} runs of the same shape first on each system, not counted: ${round(WARMUP_RUNS / warmSeconds)} runs/s (ours)`,
      );
    /** One measured round of RUNS runs on `s`, the other side stopped. */
    const measure = async (s: Side, other: Side) => {
      signal(other, 'SIGSTOP');
      signal(s, 'SIGCONT');
      const before = await servers(Boolean(VERBOSE));
      const proc0 = s.pids.map(procCpuMs);
      const sys0 = s.pids.map(procSyscalls);
      const client0 = process.cpuUsage();
      const started = performance.now();
      await flood(RUNS, s.lat, s.hosts);
      const seconds = (performance.now() - started) / 1000;
      const client = process.cpuUsage(client0);
      const procMs = s.pids.map((pid, i) => procCpuMs(pid) - proc0[i]!);
      s.syscalls = s.pids.map((pid, i) => {
        const now = procSyscalls(pid);
        const was = s.syscalls[i]!;
        return {
          reads: was.reads + now.reads - sys0[i]!.reads,
          writes: was.writes + now.writes - sys0[i]!.writes,
        };
      });
      const usage = usageBetween(before, await servers(Boolean(VERBOSE)));
      s.runs += RUNS;
      s.seconds += seconds;
      s.procMs = s.procMs.map((ms, i) => ms + procMs[i]!);
      s.clientMs += (client.user + client.system) / 1000;
      s.usage = addUsage(s.usage, usage);
      s.roundCpuMsPerRun.push(serverCpuMs(procMs, usage) / RUNS);
    };
    // ABBA…: ours first in odd rounds, (e) first in even ones, so a machine that drifts
    // through the bench weighs on both alike.
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? [ours, ref] : [ref, ours];
      await measure(order[0]!, order[1]!);
      await measure(order[1]!, order[0]!);
    }
    signal(ref, 'SIGSTOP');
    signal(ours, 'SIGCONT');
    const e2 = await appendsNow();
    const g2 = await Promise.all(metricsUrls.map(gcAndHeap));
    const perRun = (s: Side) => ({
      runsPerS: s.runs / s.seconds,
      cmds: s.usage.commands / s.runs,
      statements: s.usage.statements / s.runs,
      cpuMs: serverCpuMs(s.procMs, s.usage) / s.runs,
    });
    const b = perRun(ours);
    const e = perRun(ref);
    const byRound = ours.roundCpuMsPerRun.map((ms, i) => round(ms / ref.roundCpuMsPerRun[i]!));
    console.log(
      `(b) ${ROUNDS} rounds of ${RUNS} runs (4 shards x 25 tests of ${TEST_MS} ms), ${IN_FLIGHT} in flight, WORKER_CONCURRENCY ${WORKER_CONCURRENCY}: ${round(b.runsPerS)} runs/s, create->done p50 ${round(pct(ours.lat, 50))} ms, p99 ${round(pct(ours.lat, 99))} ms; per run: ${round(b.cmds)} Redis commands, ${round(ours.usage.xacts / ours.runs)} PG transactions`,
    );
    const [pA, pB, pW1, pW2] = ours.procMs.map((ms) => ms / ours.runs);
    console.log(
      `    CPU ms per run: api A ${round(pA!)}, api B ${round(pB!)}, workers ${round(pW1! + pW2!)}, bench client ${round(ours.clientMs / ours.runs)}, redis ${round(ours.usage.redisCpuMs / ours.runs)}, postgres ${round(ours.usage.pgCpuMs / ours.runs)}`,
    );
    console.log(
      `    per run: ${round(b.cmds)} Redis commands, ${Number.isNaN(b.statements) ? 'n/a (no pg_stat_statements)' : round(b.statements)} PostgreSQL statements, ${round(b.cpuMs)} ms of server CPU; by round ${ours.roundCpuMsPerRun.map(round).join(', ')}`,
    );
    console.log(
      `(e) the durable reference behind HTTP, 2 api + 2 worker processes, in the same rounds: ${round(e.runsPerS)} runs/s, create->done p50 ${round(pct(ref.lat, 50))} ms; per run: ${round(e.cmds)} Redis commands, ${round(e.statements)} PostgreSQL statements, ${round(e.cpuMs)} ms of server CPU; by round ${ref.roundCpuMsPerRun.map(round).join(', ')}`,
    );
    const [hA, hB, hW1, hW2] = ref.procMs.map((ms) => ms / ref.runs);
    console.log(
      `    CPU ms per run: api processes ${round(hA! + hB!)}, workers ${round(hW1! + hW2!)}, bench client ${round(ref.clientMs / ref.runs)}, redis ${round(ref.usage.redisCpuMs / ref.runs)}, postgres ${round(ref.usage.pgCpuMs / ref.runs)}`,
    );
    console.log(
      `    ours / (e), server CPU a run: ${round(b.cpuMs / e.cpuMs)} (by round ${byRound.join(', ')})`,
    );
    // (c) and (d), the hand-written reference in this process, alone on the same Redis: both
    // systems' processes go first, so their idle commands (pollers, heartbeats) count in
    // neither delta.
    await Promise.all(reference.splice(0).map((p) => p.kill('SIGKILL')));
    await stopChildren();
    // Its connections stay open to the end: a backend that exits is missed by the CPU sample.
    const refDb = new pg.Pool({ connectionString: db.url, max: 20, idleTimeoutMillis: 0 });
    const inProcess = async (runs: number, durable: boolean) => {
      const before = await servers();
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
      const usage = usageBetween(before, await servers());
      return {
        runsPerS: runs / seconds,
        cmdsPerRun: usage.commands / runs,
        statementsPerRun: usage.statements / runs,
        // This process (producer, workers, tails), Redis and PostgreSQL: its whole system.
        cpuMsPerRun: ((own.user + own.system) / 1000 + usage.redisCpuMs + usage.pgCpuMs) / runs,
        usage,
      };
    };
    // Warm, as ours is: the first runs compile BullMQ's paths and create the tables.
    await inProcess(Math.ceil(RUNS / 5), true);
    const flow = await inProcess(RUNS, false);
    console.log(
      `(c) reference, BullMQ Flow + XADD history + XREAD tail, written by hand: ${round(flow.runsPerS)} runs/s; per run: ${round(flow.cmdsPerRun)} Redis commands (ours: ${round(b.cmds)}), ${round(flow.cpuMsPerRun)} ms of CPU (this process, Redis)`,
    );
    // (d) the same, durable (issue 18 §1's statements); without HTTP, a floor under (e).
    const durable = await inProcess(RUNS, true);
    await refDb.end();
    console.log(
      `(d) durable reference, (c) + the run, results, completions and final status in PostgreSQL: ${round(durable.runsPerS)} runs/s; per run: ${round(durable.statementsPerRun)} PostgreSQL statements, ${round(durable.cpuMsPerRun)} ms of CPU (this process, Redis, PostgreSQL; ours: ${round(b.cpuMs)})`,
    );
    if (VERBOSE) {
      console.log(`    reference per run: ${topCommands(flow.usage, RUNS)}`);
      console.log(
        `    PostgreSQL statements per run, by text (top 10):\n${topStatements(ours.usage, ours.runs, 10)}`,
      );
      console.log(`    per abort: ${topCommands(abortUsage, ABORTS)}`);
      console.log(`    per run: ${topCommands(ours.usage, ours.runs)}`);
      const calls = (s: Side, from: number, to: number) => {
        const some = s.syscalls.slice(from, to);
        const per = (n: number) => round(n / s.runs);
        return `${per(some.reduce((t, c) => t + c.reads, 0))} / ${per(some.reduce((t, c) => t + c.writes, 0))}`;
      };
      console.log(
        `    system calls per run, read / write: ours api processes ${calls(ours, 0, 2)}, workers ${calls(ours, 2, 4)}; (e) api processes ${calls(ref, 0, 2)}, workers ${calls(ref, 2, 4)}`,
      );
      console.log(`    event appends per abort: ${appendsPer(e0, eA, ABORTS)}`);
      console.log(`    event appends per run: ${appendsPer(e1, e2, ours.runs)}`);
      console.log(
        `    GC ms per run (api A, api B, worker 1, worker 2): ${g2.map((g, i) => round(((g.gcSeconds - g1[i]!.gcSeconds) * 1000) / ours.runs)).join(', ')}; heap used MB after: ${g2.map((g) => round(g.heapMb)).join(', ')}`,
      );
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
        rounds: ROUNDS,
        runs_per_s: round(b.runsPerS),
        create_to_done_p50_ms: round(pct(ours.lat, 50)),
        create_to_done_p99_ms: round(pct(ours.lat, 99)),
        redis_cmds_per_run: round(b.cmds),
        pg_statements_per_run: roundOrNull(b.statements),
        cpu_ms_per_run: round(b.cpuMs),
        ref_redis_cmds_per_run: round(flow.cmdsPerRun),
        ref_runs_per_s: round(flow.runsPerS),
        ref_cpu_ms_per_run: round(flow.cpuMsPerRun),
        durable_ref_runs_per_s: round(durable.runsPerS),
        durable_ref_pg_statements_per_run: roundOrNull(durable.statementsPerRun),
        durable_ref_cpu_ms_per_run: round(durable.cpuMsPerRun),
        cpu_x_durable_ref: round(b.cpuMs / durable.cpuMsPerRun),
        http_ref_runs_per_s: round(e.runsPerS),
        http_ref_redis_cmds_per_run: round(e.cmds),
        http_ref_pg_statements_per_run: roundOrNull(e.statements),
        http_ref_cpu_ms_per_run: round(e.cpuMs),
        cpu_x_http_ref: round(b.cpuMs / e.cpuMs),
        cpu_x_http_ref_by_round: byRound,
      }),
    );
  } finally {
    await Promise.all(reference.map((p) => p.kill('SIGKILL')));
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
