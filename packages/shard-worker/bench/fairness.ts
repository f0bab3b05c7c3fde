// Fair share (issue 19 §3): workspace A floods the system with 2,000 queued shards, then
// workspace B submits one 4-shard run; the time from B's create to its first shard's start,
// over 20 repetitions (A topped up to 2,000 queued shards before each), with plain FIFO
// (the enqueue outbox handing whole runs to BullMQ in creation order: BullMQ's own order)
// and with fair dispatch, in the same run, each on its own database and key prefix. The
// flood's own throughput (2,000 shards from empty, no victim) gives the cost of fairness:
// ROUNDS pairs of flood rounds after one unmeasured flood per side, alternating which side
// goes first, and `throughput_cost` is
// 1 − the median of the pairs' fair/FIFO rates (one slow moment of a shared machine moves one
// pair, not the figure). Each flood round also counts its statements (pg_stat_statements)
// and the dispatcher's passes per shard: the deterministic half of the cost; its CPU per shard
// (this process, Redis, the side's PostgreSQL backends) and the worker slots' idle time while
// shards were still waiting to start: where the rest goes.
// Loopback only; the last line is the JSON summary.
import { execSync } from 'node:child_process';
import type { Run } from '@x/run-store';
import { postgres, startRedis, uniqueName } from '@x/testkit';
import pg from 'pg';
import { createSlotLog } from '../test/fixtures/slot-log.js';
import { createStack, type Stack } from '../test/fixtures/stack.js';
import { backendCpu, backendCpuSince } from './backend-cpu.js';
import { cpuSince, sampleCpu } from './machine-cpu.js';
import { until } from './settings.js';
import { statementCounter } from './statements.js';

const FLOOD_SHARDS = 2_000;
const SHARDS = 4;
const REPS = 20;
const CONCURRENCY = 16;
/** Each flood shard: one demo test of this many ms. */
const TEST_MS = 10;
/** The apps' default when `DISPATCH_WINDOW` is unset: the window covers the workers' slots. */
const WINDOW = Number(process.env.DISPATCH_WINDOW ?? Math.max(16, 2 * CONCURRENCY));
/** Shard ends per dispatch pass; unset: the dispatcher's default (half the window). 1: a pass per end. */
const SETTLE_BATCH = process.env.FAIR_SETTLE_BATCH
  ? Number(process.env.FAIR_SETTLE_BATCH)
  : undefined;
/** The longest a shard end waits for its pass; unset: the dispatcher's default (20 ms). */
const SETTLE_DELAY_MS = process.env.FAIR_SETTLE_DELAY_MS
  ? Number(process.env.FAIR_SETTLE_DELAY_MS)
  : undefined;
const BATCH = 50;

type Mode = 'fifo' | 'fair';

async function submit(stack: Stack, workspaceId: string, runs: number, testMs: number) {
  const tests = Array.from({ length: SHARDS }, (_, i) => ({ name: `t${i}`, durationMs: testMs }));
  const out: Run[] = [];
  for (let r = 0; r < runs; r += BATCH) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH, runs - r) }, () =>
        stack.coordinator.enqueueRun({ workspaceId, executor: 'demo', tests, shards: SHARDS }),
      ),
    );
    out.push(...batch);
  }
  return out;
}

/** Exactly once, from PostgreSQL: completed, every shard once, exact counters and results. */
async function exact(stack: Stack, runs: readonly Run[]) {
  for (const { id, workspaceId } of runs) {
    const run = await stack.store.getRunById(id);
    const results = await stack.store.getResults(workspaceId, id, { limit: 100 });
    if (
      run?.status !== 'completed' ||
      run.shardsCompleted !== SHARDS ||
      run.passed !== run.total ||
      results?.results.length !== run.total
    )
      return false;
  }
  return true;
}

const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

async function open(mode: Mode, redisUrl: string) {
  const db = await postgres(`fair_bench_${mode}`);
  const sql = new pg.Pool({ connectionString: db.url, max: 2 });
  const slots = createSlotLog();
  // An idle connection the server drops (a restart of the shared server) must not crash the bench.
  sql.on('error', (err) => console.error(`bench pool (${mode}): ${err.message}`));
  const stack = await createStack({
    databaseUrl: db.url,
    redisUrl,
    prefix: uniqueName(`fb-${mode}`),
    concurrency: CONCURRENCY,
    poolSize: 20,
    slotLog: slots,
    ...(mode === 'fair' && {
      fair: {
        window: WINDOW,
        maxRunningShards: null,
        ...(SETTLE_BATCH !== undefined && { settleBatch: SETTLE_BATCH }),
        ...(SETTLE_DELAY_MS !== undefined && { settleDelayMs: SETTLE_DELAY_MS }),
      },
    }),
  });
  const statements = await statementCounter(db.url);
  const warm = await submit(stack, uniqueName('warm'), 25, TEST_MS);
  await until(
    async () => (await stack.store.terminalRuns(warm.map((r) => r.id))).length === warm.length,
    'warm-up',
  );
  return {
    mode,
    stack,
    sql,
    statements,
    slots,
    floods: [] as {
      seconds: number;
      runs: Run[];
      statements: number;
      passes: number;
      /** CPU ms of this process, of Redis and of this side's PostgreSQL backends. */
      cpu: { ownMs: number; redisMs: number; pgMs: number; machineMs: number };
      /** Slot-ms no job held while shards still waited to start, and that span's ms. */
      idle: { idleMs: number; spanMs: number };
    }[],
    async close() {
      await statements.close();
      await stack.close();
      await sql.end();
      await db.close();
    },
  };
}
type Side = Awaited<ReturnType<typeof open>>;

/** The flood alone, from empty: 2,000 shards, until the last run is finalized. */
async function flood(s: Side, measured = true) {
  const statementsBefore = await s.statements.count();
  const passesBefore = s.stack.dispatcher?.metrics().passes ?? 0;
  const cpuBefore = await sampleCpu(s.stack.redis!);
  const pgBefore = await backendCpu(s.sql);
  const t0 = performance.now();
  const runs = await submit(s.stack, uniqueName('solo'), FLOOD_SHARDS / SHARDS, TEST_MS);
  await until(
    async () => (await s.stack.store.terminalRuns(runs.map((r) => r.id))).length === runs.length,
    'flood drained',
  );
  const t1 = performance.now();
  const seconds = (t1 - t0) / 1000;
  const cpu = await cpuSince(s.stack.redis!, cpuBefore);
  const pgMs = backendCpuSince(pgBefore, await backendCpu(s.sql));
  const idle = s.slots.idleUntilLastStart(CONCURRENCY, t0, t1);
  // The drain checks' own reads are in the count too, alike on both sides (one per 10 ms).
  const statements = (await s.statements.count()) - statementsBefore - 1;
  const passes = (s.stack.dispatcher?.metrics().passes ?? 0) - passesBefore;
  if (measured) s.floods.push({ seconds, runs, statements, passes, cpu: { ...cpu, pgMs }, idle });
}

/** Victims behind a flood kept at 2,000 queued shards; then exactly once for every run. */
async function victims(s: Side) {
  const { stack, sql } = s;
  const pendingOf = async (workspaceId: string) => {
    const { rows } = await sql.query<{ n: string }>(
      `select count(*) as n from run_shards s join runs r on r.id = s.run_id
       where r.workspace_id = $1 and r.status in ('queued', 'running') and s.status = 'pending'`,
      [workspaceId],
    );
    return Number(rows[0]!.n);
  };
  const a = uniqueName('flood');
  const b = uniqueName('victim');
  const done: Run[] = [];
  const startMs: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const missing = FLOOD_SHARDS - (await pendingOf(a));
    if (missing > 0) await submit(stack, a, Math.ceil(missing / SHARDS), TEST_MS);
    const before = Date.now();
    const [victim] = await submit(stack, b, 1, 1);
    let started: number | undefined;
    await until(async () => {
      const run = await stack.store.getRunById(victim!.id);
      started = run?.startedAt ? new Date(run.startedAt).getTime() : undefined;
      return started !== undefined;
    }, 'victim start');
    startMs.push(started! - before);
    done.push(victim!);
    await until(
      async () => (await stack.store.getStatus(victim!.id)) === 'completed',
      'victim done',
    );
  }
  const floodRuns = s.floods.flatMap((f) => f.runs);
  const seconds = s.floods.reduce((t, f) => t + f.seconds, 0);
  const shards = floodRuns.length * SHARDS;
  return {
    floodShardsPerS: shards / seconds,
    /** Each flood round's shards/s, in round order (pairs with the other side's). */
    floodRates: s.floods.map((f) => (f.runs.length * SHARDS) / f.seconds),
    floodSeconds: s.floods.map((f) => f.seconds.toFixed(2)).join(', '),
    statementsPerShard: s.floods.reduce((t, f) => t + f.statements, 0) / shards,
    passesPerShard: s.floods.reduce((t, f) => t + f.passes, 0) / shards,
    cpuPerShard: (part: 'ownMs' | 'redisMs' | 'pgMs' | 'machineMs') =>
      s.floods.reduce((t, f) => t + f.cpu[part], 0) / shards,
    /** Idle slot-ms per shard while shards waited, and the idle share of the slots' time. */
    idleMsPerShard: s.floods.reduce((t, f) => t + f.idle.idleMs, 0) / shards,
    idleShare:
      s.floods.reduce((t, f) => t + f.idle.idleMs, 0) /
      s.floods.reduce((t, f) => t + CONCURRENCY * f.idle.spanMs, 0),
    p50: percentile(startMs, 50),
    p99: percentile(startMs, 99),
    exact: (await exact(stack, floodRuns)) && (await exact(stack, done)),
    dispatch: stack.dispatcher?.metrics(),
  };
}

const ROUNDS = Number(process.env.FAIR_BENCH_ROUNDS ?? 5);
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const redis = await startRedis();
let fifo: Awaited<ReturnType<typeof victims>>;
let fair: Awaited<ReturnType<typeof victims>>;
try {
  const sides = [await open('fifo', redis.url), await open('fair', redis.url)] as const;
  try {
    // One whole flood per side first, not measured: without it the FIFO rounds got faster
    // round after round (12.9 -> 3.7 s) while the fair ones did not, biasing the last pairs.
    for (const s of sides) await flood(s, false);
    // Flood rounds come in pairs, the side going first alternating (fifo fair, fair fifo, …),
    // so load drift on a shared machine hits both alike.
    for (let round = 0; round < ROUNDS; round++) {
      for (const s of round % 2 === 0 ? sides : [...sides].reverse()) await flood(s);
    }
    // Where each side's database time went over the flood rounds (mean per call under this
    // load): how a fair pass costs more than its own statements, e.g. workers waiting on it.
    for (const s of sides) {
      const top = await s.sql
        .query<{ q: string; calls: string; mean: string }>(
          `select left(regexp_replace(query, '\\s+', ' ', 'g'), 50) as q, calls::text,
                round(mean_exec_time::numeric, 3)::text as mean
         from pg_stat_statements
         where dbid = (select oid from pg_database where datname = current_database())
         order by total_exec_time desc limit 4`,
        )
        .catch((err: Error) => {
          // A server without pg_stat_statements (DATABASE_URL set to one) still gets its figures.
          console.log(`${s.mode} top statements: unavailable (${err.message})`);
          return undefined;
        });
      if (!top) continue;
      const { rows } = top;
      console.log(
        `${s.mode} top statements: ${rows.map((r) => `${r.mean} ms × ${r.calls} (${r.q.trim()})`).join('; ')}`,
      );
    }
    fifo = await victims(sides[0]);
    fair = await victims(sides[1]);
  } finally {
    for (const s of sides) await s.close();
  }
} finally {
  await redis.close();
}
/** Each pair's fair rate over its FIFO rate; the median is the figure. */
const pairRatios = fair.floodRates.map((r, i) => r / fifo.floodRates[i]!);
const throughputCost = 1 - median(pairRatios);
const load = execSync('uptime')
  .toString()
  .trim()
  .replace(/.*load average: /, '');
console.log(
  `machine: 2 cores shared, load average ${load}; loopback Redis and PostgreSQL; one process, worker concurrency ${CONCURRENCY}; flood shards of one ${TEST_MS} ms test`,
);
console.log(
  `FIFO (enqueue outbox, whole runs in creation order): victim first shard start p50 ${fifo.p50} ms, p99 ${fifo.p99} ms; flood alone ${fifo.floodShardsPerS.toFixed(0)} shards/s (rounds ${fifo.floodSeconds} s)`,
);
console.log(
  `fair dispatch (window ${WINDOW}): victim first shard start p50 ${fair.p50} ms, p99 ${fair.p99} ms; flood alone ${fair.floodShardsPerS.toFixed(0)} shards/s (rounds ${fair.floodSeconds} s); dispatcher ${JSON.stringify(fair.dispatch)}`,
);
console.log(
  `flood pairs fair/FIFO: ${pairRatios.map((r) => r.toFixed(2)).join(', ')}; median ${median(pairRatios).toFixed(3)} (pooled ${(fair.floodShardsPerS / fifo.floodShardsPerS).toFixed(3)})`,
);
console.log(
  `per flood shard: statements FIFO ${fifo.statementsPerShard.toFixed(2)}, fair ${fair.statementsPerShard.toFixed(2)}; dispatcher passes ${fair.passesPerShard.toFixed(3)}`,
);
const cpuLine = (v: typeof fifo) =>
  `this process ${v.cpuPerShard('ownMs').toFixed(2)}, Redis ${v.cpuPerShard('redisMs').toFixed(2)}, PostgreSQL backends ${v.cpuPerShard('pgMs').toFixed(2)} (machine ${v.cpuPerShard('machineMs').toFixed(2)})`;
console.log(`CPU ms per flood shard: FIFO ${cpuLine(fifo)}; fair ${cpuLine(fair)}`);
console.log(
  `idle worker slots while flood shards waited to start: FIFO ${fifo.idleMsPerShard.toFixed(2)} slot-ms per shard (${(100 * fifo.idleShare).toFixed(1)}% of slot time), fair ${fair.idleMsPerShard.toFixed(2)} (${(100 * fair.idleShare).toFixed(1)}%)`,
);
console.log(
  JSON.stringify({
    bench: 'fair-share',
    victim_start_p50_ms: fair.p50,
    victim_start_p99_ms: fair.p99,
    fifo_victim_start_p50_ms: fifo.p50,
    ratio: Number((fifo.p50 / Math.max(1, fair.p50)).toFixed(1)),
    throughput_cost: Number(throughputCost.toFixed(3)),
    flood_rounds: ROUNDS,
    fair_statements_per_shard: Number(fair.statementsPerShard.toFixed(2)),
    fifo_statements_per_shard: Number(fifo.statementsPerShard.toFixed(2)),
    dispatch_passes_per_shard: Number(fair.passesPerShard.toFixed(3)),
    window: WINDOW,
    fair_cpu_ms_per_shard: Number(fair.cpuPerShard('ownMs').toFixed(2)),
    fifo_cpu_ms_per_shard: Number(fifo.cpuPerShard('ownMs').toFixed(2)),
    fair_pg_cpu_ms_per_shard: Number(fair.cpuPerShard('pgMs').toFixed(2)),
    fifo_pg_cpu_ms_per_shard: Number(fifo.cpuPerShard('pgMs').toFixed(2)),
    fair_idle_slot_ms_per_shard: Number(fair.idleMsPerShard.toFixed(2)),
    fifo_idle_slot_ms_per_shard: Number(fifo.idleMsPerShard.toFixed(2)),
    exactly_once: fifo.exact && fair.exact,
  }),
);
