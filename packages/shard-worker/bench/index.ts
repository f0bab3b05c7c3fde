// 500 runs x 4 shards of zero-duration demo tests, enqueue -> finalized in PostgreSQL, against
// BullMQ's own fan-out/fan-in (FlowProducer: a parent completing after its 4 children) on the
// same Redis in the same run, in alternating rounds; plain BullMQ jobs (4 per run, no fan-in,
// no state) are printed as the floor. The fair reference (issue 18) is the same durable
// outcome written by hand with Flows and `pg` (bench/durable-reference.ts): `ratio_durable`.
// Ours runs twice a round: on the apps' 4 shard statements in flight (the store batches the
// calls beyond), and with as many as the pool (the apps' setting before 2026-12-07). Each side
// also reports the machine's CPU per run. Every side first runs untimed warm-up rounds
// (BENCH_WARMUP_ROUNDS, default 3; see WARMUP_ROUNDS), then BENCH_ROUNDS (3) measured ones.
// Loopback only; the last line is the JSON summary.
import { postgres, startRedis } from '@x/testkit';
import { durableFlows } from './durable-reference.js';
import type { CpuSample } from './machine-cpu.js';
import { ours, POOL, POOL_SLOTS, SHARD_QUEUE, SLOTS } from './ours.js';
import { flows, plainJobs } from './references.js';
import { CONCURRENCY, RUNS, SHARDS } from './settings.js';
import { statementCounter } from './statements.js';

/** `backendMs`: CPU of the side's own PostgreSQL backends (bench/backend-cpu.ts), where measured. */
type Round = CpuSample & { seconds: number; backendMs?: number };
/** A round count from the environment: an integer from `min` to 20, else the bench refuses to start. */
function roundsFromEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > 20)
    throw new Error(`${name} must be an integer from ${min} to 20, got ${JSON.stringify(raw)}`);
  return n;
}
/**
 * Untimed rounds of every side first, in the same order. A long-running worker is warm; the
 * first rounds of a process are not: V8 tiers a side's code up over its first ~2,000 runs
 * (measured: our process CPU 3.98 → 2.11 → 1.53 → 1.38 → 1.14 ms a run over five rounds,
 * the hand-written reference's 2.48 → 1.29), and the references' BullMQ code is already warm
 * from the rounds before them while ours is not. The first (cold) round of each side is
 * printed too.
 */
const WARMUP_ROUNDS = roundsFromEnv('BENCH_WARMUP_ROUNDS', 3, 0);
const ROUNDS = roundsFromEnv('BENCH_ROUNDS', 3, 1);
const redis = await startRedis();
const db = await postgres('shard-worker-bench');
const statements = await statementCounter(db.url);
/** PostgreSQL statements of the reference's rounds (its own counting reads excluded). */
let durableStatements = 0;
// Rounds alternate (references, ours, references, ours) so load drift on a shared machine hits
// every side alike; each side's figure is its total runs over its total time.
const flowRounds: Round[] = [];
const plainRounds: Round[] = [];
const durableRounds: Round[] = [];
const ourRounds: Awaited<ReturnType<typeof ours>>[] = [];
const poolSlotRounds: Awaited<ReturnType<typeof ours>>[] = [];
/** Each side's first round, cold. */
let cold: { durable: Round; ours: Round } | undefined;
/** Exactly once held in every round, warm-up included. */
let warmUpExact = true;
try {
  for (let round = 0; round < WARMUP_ROUNDS + ROUNDS; round++) {
    const measured = round >= WARMUP_ROUNDS;
    const flow = await flows(redis.url);
    const plain = await plainJobs(redis.url);
    const before = await statements.count();
    const durable = await durableFlows(redis.url, db.url);
    // Its counting read and the two backend CPU samples inside its round excluded.
    const durableCount = (await statements.count()) - before - 3;
    const our = await ours(redis.url, db.url, () => statements.count());
    const poolSlots = await ours(redis.url, db.url, () => statements.count(), POOL_SLOTS);
    if (round === 0) cold = { durable, ours: our };
    if (!measured) {
      warmUpExact &&= our.exact && poolSlots.exact;
      continue;
    }
    flowRounds.push(flow);
    plainRounds.push(plain);
    durableRounds.push(durable);
    durableStatements += durableCount;
    ourRounds.push(our);
    poolSlotRounds.push(poolSlots);
  }
} finally {
  await statements.close();
  await db.close();
  await redis.close();
}
const rate = (rounds: Round[]) =>
  (RUNS * rounds.length) / rounds.reduce((t, r) => t + r.seconds, 0);
const sum = (rounds: Round[], key: keyof CpuSample | 'backendMs') =>
  rounds.reduce((t, r) => t + (r[key] ?? Number.NaN), 0);
/** CPU ms per run: the whole machine, this process, Redis, and the rest (PostgreSQL). */
const cpuPerRun = (rounds: Round[]) => {
  const ms = (n: number) => (n / (RUNS * rounds.length)).toFixed(2);
  const [machine, own, server] = [
    sum(rounds, 'machineMs'),
    sum(rounds, 'ownMs'),
    sum(rounds, 'redisMs'),
  ];
  // /proc/stat counts in 10 ms ticks: a short round can show the rest a hair below zero.
  const rest = Math.max(0, machine - own - server);
  // The side's own backends, counted apart: on a shared machine "the rest" is mostly others.
  const backends = sum(rounds, 'backendMs');
  const pgPart = Number.isNaN(backends) ? '' : `; its PostgreSQL backends ${ms(backends)}`;
  return `CPU per run ${ms(machine)} ms (this process ${ms(own)}, Redis ${ms(server)}, PostgreSQL and the rest ${ms(rest)}${pgPart})`;
};
/** CPU ms per run of one part, for the JSON line. */
const cpuField = (rounds: Round[], key: keyof CpuSample | 'backendMs') =>
  Number((sum(rounds, key) / (RUNS * rounds.length)).toFixed(2));
const runsPerS = rate(ourRounds);
const flowsPerS = rate(flowRounds);
const durablePerS = rate(durableRounds);
/** Statements per run: ours over the timed part; the reference's with its schema and check (3). */
const perRun = (n: number) => Number((n / (RUNS * ROUNDS)).toFixed(2));
const ourStatements = ourRounds.reduce((t, r) => t + r.statements, 0);
const poolSlotsPerS = rate(poolSlotRounds);
const poolSlotStatements = poolSlotRounds.reduce((t, r) => t + r.statements, 0);
const seconds = (rounds: Round[]) => rounds.map((r) => r.seconds.toFixed(2)).join(', ');
console.log(
  `rounds (s): flows ${seconds(flowRounds)}; plain jobs ${seconds(plainRounds)}; durable flows ${seconds(durableRounds)}; shard-worker ${seconds(ourRounds)}; shard-worker, ${POOL_SLOTS} slots ${seconds(poolSlotRounds)}`,
);
console.log(
  `machine: 2 cores, loopback Redis and PostgreSQL; concurrency ${CONCURRENCY} per worker; ours: shard queue ${SHARD_QUEUE}, pool ${POOL}, ${SLOTS} shard statements in flight`,
);
console.log(
  `shard-worker: ${runsPerS.toFixed(1)} runs/s, ${cpuPerRun(ourRounds)} (${RUNS} runs x ${SHARDS} shards, mean of ${ROUNDS} rounds; PostgreSQL state, events, exactly-once)`,
);
console.log(
  `shard-worker, store batching beyond ${POOL_SLOTS} statements in flight (the pool; before 2026-12-07): ${poolSlotsPerS.toFixed(1)} runs/s, ${cpuPerRun(poolSlotRounds)}, ${perRun(poolSlotStatements)} statements a run`,
);
console.log(
  `Flows + pg by hand (fair reference: same durable outcome, 10 statements a run, no events, no abort): ${durablePerS.toFixed(1)} runs/s, ${cpuPerRun(durableRounds)}`,
);
console.log(
  `BullMQ FlowProducer: ${flowsPerS.toFixed(1)} runs/s, ${cpuPerRun(flowRounds)} (${RUNS} parents x ${SHARDS} children)`,
);
console.log(
  `BullMQ plain jobs (floor: ${SHARDS} per run, no fan-in, no state): ${rate(plainRounds).toFixed(1)} runs/s, ${cpuPerRun(plainRounds)}`,
);
console.log(
  `PostgreSQL statements per run (pg_stat_statements): shard-worker ${perRun(ourStatements)}, Flows + pg by hand ${perRun(durableStatements)}`,
);
if (cold) {
  const coldRate = (r: Round) => RUNS / r.seconds;
  console.log(
    `cold, each side's first round of the process (${WARMUP_ROUNDS > 0 ? 'not in the figures above' : 'also the first measured one'}): shard-worker ${coldRate(cold.ours).toFixed(1)} runs/s, ${cpuPerRun([cold.ours])}; Flows + pg by hand ${coldRate(cold.durable).toFixed(1)} runs/s; ratio ${(coldRate(cold.ours) / coldRate(cold.durable)).toFixed(2)}`,
  );
}
console.log(`worker metrics: ${JSON.stringify(ourRounds.at(-1)!.metrics)}`);
console.log(
  JSON.stringify({
    bench: 'shard-worker',
    shard_queue: SHARD_QUEUE,
    pool: POOL,
    runs: RUNS,
    shards: SHARDS,
    runs_per_s: Number(runsPerS.toFixed(1)),
    flows_runs_per_s: Number(flowsPerS.toFixed(1)),
    ratio: Number((runsPerS / flowsPerS).toFixed(2)),
    durable_ref_runs_per_s: Number(durablePerS.toFixed(1)),
    ratio_durable: Number((runsPerS / durablePerS).toFixed(2)),
    slots: SLOTS,
    exactly_once:
      warmUpExact && ourRounds.every((r) => r.exact) && poolSlotRounds.every((r) => r.exact),
    statements_per_run: perRun(ourStatements),
    durable_statements_per_run: perRun(durableStatements),
    process_cpu_ms_per_run: cpuField(ourRounds, 'ownMs'),
    durable_process_cpu_ms_per_run: cpuField(durableRounds, 'ownMs'),
    pg_cpu_ms_per_run: cpuField(ourRounds, 'backendMs'),
    durable_pg_cpu_ms_per_run: cpuField(durableRounds, 'backendMs'),
    pool_slots_runs_per_s: Number(poolSlotsPerS.toFixed(1)),
    ratio_durable_pool_slots: Number((poolSlotsPerS / durablePerS).toFixed(2)),
    pool_slots_statements_per_run: perRun(poolSlotStatements),
    warmup_rounds: WARMUP_ROUNDS,
    rounds: ROUNDS,
    cold_ratio_durable: cold ? Number((cold.durable.seconds / cold.ours.seconds).toFixed(2)) : null,
  }),
);
