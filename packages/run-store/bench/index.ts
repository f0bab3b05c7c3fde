// Exactly-once shard completion: @x/run-store's completeShardWithResults (no results) against
// (a) our exact statement text sent through bare pg (`same_sql_per_s`: what the client path,
// validation and error mapping cost) and (b) the same work as one minimal bare statement
// (`raw_per_s`: what our guards cost), in the same run, on the same PostgreSQL.
// 16 concurrent callers; 2,000 runs x 4 shards, every shard delivered twice (16,000 calls).
import { postgres } from '@x/testkit';
import { sql } from 'kysely';
import pg from 'pg';
import { createRunStore, migrate, openPostgres } from '../src/index.js';
import {
  COMPLETE_SHARD_SQL,
  type CompleteShardReply,
  completeShardParams,
  toCompleteShardRow,
} from '../src/sql/complete-shard.js';

const RUNS = 2_000;
const SHARDS = 4;
const DELIVERIES = 2;
const CALLERS = 16;
const ROUNDS = 5;

type Deliver = (runId: string, shard: number, stats: Stats) => Promise<boolean>;
interface Stats {
  passed: number;
  failed: number;
  skipped: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

const statsFor = (shard: number): Stats => ({ passed: 3 + shard, failed: shard % 2, skipped: 1 });

function shuffled<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/** Runs every delivery through `deliver` with CALLERS concurrent callers; returns finalizer counts per run. */
async function drive(
  runIds: string[],
  deliver: Deliver,
): Promise<{ perSecond: number; cpuUsPerCall: number; finalizers: Map<string, number> }> {
  const work = shuffled(
    runIds.flatMap((id) =>
      Array.from({ length: SHARDS * DELIVERIES }, (_, i) => [id, i % SHARDS] as const),
    ),
  );
  const finalizers = new Map<string, number>();
  let next = 0;
  const started = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (next < work.length) {
        const [id, shard] = work[next++] as readonly [string, number];
        if (await deliver(id, shard, statsFor(shard)))
          finalizers.set(id, (finalizers.get(id) ?? 0) + 1);
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  return {
    perSecond: work.length / ((performance.now() - started) / 1000),
    // Client CPU per call: insensitive to other load on the machine, unlike throughput.
    cpuUsPerCall: (used.user + used.system) / work.length,
    finalizers,
  };
}

const database = await postgres('runstore_bench');
const db = openPostgres(database.url, { max: CALLERS });
const pool = new pg.Pool({ connectionString: database.url, max: CALLERS });
pool.on('error', (err) => console.error('raw pool error', err.message));
try {
  await migrate(db);
  // The pool's size: the store writes alone while a connection is free, batches only beyond.
  const store = createRunStore(db, { statementsInFlight: CALLERS });

  async function makeRuns(): Promise<string[]> {
    const ids: string[] = [];
    const input = {
      workspaceId: 'bench',
      executor: 'demo',
      shards: Array.from({ length: SHARDS }, (_, s) => ({
        testIds: Array.from({ length: 5 }, (_, t) => `s${s}t${t}`),
      })),
    };
    for (let i = 0; i < RUNS; i += CALLERS) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(CALLERS, RUNS - i) }, () => store.createRun(input)),
      );
      ids.push(...batch.map((r) => r.id));
    }
    return ids;
  }

  const viaStore: Deliver = async (runId, shard, stats) =>
    (await store.completeShardWithResults(runId, shard, 1, stats, [])).isFinalizer;

  // The bare statement: flip the shard once, add its stats to a live run, report the boundary.
  const RAW = `
    with s as (
      update run_shards set status = 'completed', attempt = $3, passed = $4, failed = $5, skipped = $6,
             completed_at = now()
      where run_id = $1 and shard_index = $2 and status <> 'completed'
      returning run_id
    )
    update runs r set passed = r.passed + $4, failed = r.failed + $5, shards_completed = r.shards_completed + 1
    from s where r.id = s.run_id and r.status in ('queued', 'running')
    returning r.shards_completed = r.shard_count as fin`;
  const viaRaw: Deliver = async (runId, shard, stats) => {
    const res = await pool.query<{ fin: boolean }>({
      name: 'complete_shard_raw',
      text: RAW,
      values: [runId, shard, 1, stats.passed, stats.failed, stats.skipped],
    });
    return res.rows[0]?.fin === true;
  };

  // Our exact statement, prepared, through bare pg: the store minus its client path. Its
  // parameters and reply are the store's own (completeShardParams, toCompleteShardRow), so the
  // two sides cannot drift apart when the statement changes; finalize false, as the store's call.
  const viaSameSql: Deliver = async (runId, shard, stats) => {
    const res = await pool.query<CompleteShardReply>({
      name: 'complete_shard_same',
      text: COMPLETE_SHARD_SQL,
      values: completeShardParams({
        runId,
        shardIndex: shard,
        attempt: 1,
        stats,
        results: [],
        finalize: false,
      }),
    });
    const reply = res.rows[0];
    const row = reply && toCompleteShardRow(reply);
    return row?.applied === true && row.shards_completed === row.shard_count;
  };

  /** Runs whose counters differ from the sum of their shards, or that had != 1 finalizer. */
  async function inconsistent(runIds: string[], finalizers: Map<string, number>): Promise<number> {
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from runs r
      join (select run_id, sum(passed)::int as p, sum(failed)::int as f, count(*) filter (where status = 'completed')::int as c
            from run_shards group by run_id) s on s.run_id = r.id
      where r.id = any(${runIds}::uuid[])
        and (r.passed <> s.p or r.failed <> s.f or r.shards_completed <> s.c or r.shards_completed <> r.shard_count)`.execute(
      db,
    );
    const badFinalizers = runIds.filter((id) => finalizers.get(id) !== 1).length;
    return (rows[0]?.n ?? 0) + badFinalizers;
  }

  // Warm both paths (connections, prepared plans) on runs that are not measured.
  const warm = (await makeRuns()).slice(0, 300);
  await drive(warm.slice(0, 100), viaRaw);
  await drive(warm.slice(100, 200), viaStore);
  await drive(warm.slice(200), viaSameSql);

  const rates = {
    store: [] as number[],
    raw: [] as number[],
    same: [] as number[],
    storeCpu: [] as number[],
    rawCpu: [] as number[],
  };
  let storeFinalizers = RUNS;
  let bad = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const rawRuns = await makeRuns();
    const storeRuns = await makeRuns();
    const sameRuns = await makeRuns();
    // Rotate which side goes first so drift in the machine's load favours none.
    const sides = [
      async () => (raw = await drive(rawRuns, viaRaw)),
      async () => (viaRepo = await drive(storeRuns, viaStore)),
      async () => (same = await drive(sameRuns, viaSameSql)),
    ];
    let raw!: Awaited<ReturnType<typeof drive>>;
    let viaRepo!: Awaited<ReturnType<typeof drive>>;
    let same!: Awaited<ReturnType<typeof drive>>;
    for (let i = 0; i < sides.length; i++) await sides[(round + i) % sides.length]!();
    const rawBad = await inconsistent(rawRuns, raw.finalizers);
    const storeBad = await inconsistent(storeRuns, viaRepo.finalizers);
    const sameBad = await inconsistent(sameRuns, same.finalizers);
    const fin = [...viaRepo.finalizers.values()].reduce((a, b) => a + b, 0);
    if (fin !== RUNS) storeFinalizers = fin;
    bad += rawBad + storeBad + sameBad;
    rates.raw.push(raw.perSecond);
    rates.same.push(same.perSecond);
    rates.store.push(viaRepo.perSecond);
    rates.rawCpu.push(raw.cpuUsPerCall);
    rates.storeCpu.push(viaRepo.cpuUsPerCall);
    console.log(
      `round ${round}: run-store ${viaRepo.perSecond.toFixed(0)}/s, ${viaRepo.cpuUsPerCall.toFixed(0)} µs client CPU/call ` +
        `(finalizers ${fin}, inconsistent ${storeBad}) | bare pg statement ${raw.perSecond.toFixed(0)}/s, ` +
        `${raw.cpuUsPerCall.toFixed(0)} µs client CPU/call (inconsistent ${rawBad}) | same SQL via bare pg ` +
        `${same.perSecond.toFixed(0)}/s, ${same.cpuUsPerCall.toFixed(0)} µs client CPU/call (inconsistent ${sameBad})`,
    );
  }
  // Medians: a single quiet moment on a shared machine should not decide the figure.
  const storeRate = median(rates.store);
  const rawRate = median(rates.raw);
  const sameRate = median(rates.same);
  console.log(
    `${RUNS} runs x ${SHARDS} shards x ${DELIVERIES} deliveries, ${CALLERS} callers, median of ${ROUNDS} rounds: ` +
      `run-store ${storeRate.toFixed(0)}/s (${median(rates.storeCpu).toFixed(0)} µs CPU/call), ` +
      `bare ${rawRate.toFixed(0)}/s (${median(rates.rawCpu).toFixed(0)} µs CPU/call), ratio ${(storeRate / rawRate).toFixed(2)}; ` +
      `same SQL via bare pg ${sameRate.toFixed(0)}/s, ratio ${(storeRate / sameRate).toFixed(2)} (target ≥ 0.9)`,
  );
  console.log(
    JSON.stringify({
      bench: 'run-store',
      deliveries_per_s: Math.round(storeRate),
      raw_per_s: Math.round(rawRate),
      same_sql_per_s: Math.round(sameRate),
      ratio_same_sql: Number((storeRate / sameRate).toFixed(2)),
      runs: RUNS,
      finalizers: storeFinalizers,
      inconsistent: bad,
    }),
  );
} finally {
  await db.destroy();
  await pool.end();
  await database.close();
}
