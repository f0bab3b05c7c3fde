// pnpm --filter @x/run-abort bench
// 1,000 aborts from this process (A) to shards registered on processes B and C, next to raw
// ioredis PUBLISH/SUBSCRIBE from here to the same subscriber processes (timed to the last one),
// and two bare prepared `UPDATE … RETURNING` round trips to the same PostgreSQL: an abort's floor
// is one write plus one fan-out publish. The first write changes an unindexed column of one row
// (a HOT update: no index entry); the second is the abort's own guarded status write done by
// hand with bare pg on runs of its own (`status` is indexed, so every index of `runs` the new
// row version belongs to gets an entry, as for any abort). And the abort a user would write by
// hand for the same guarantee, measured as one: that guarded write, then one PUBLISH that each
// subscriber parses and turns into its controller's abort (`hand_*`, `p50_x_hand`). All
// interleaved so every side sees the same noise; pg_stat_statements gives each write's
// server-side buffers and WAL.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LIVE_STATUSES } from '@x/protocol';
import { type Bus, createBus, redisTransport } from '@x/pubsub-core';
import { createRunStore, migrate, openPostgres } from '@x/run-store';
import { postgres, spawnNode, startRedis, uniqueName } from '@x/testkit';
import { Redis } from 'ioredis';
import pg from 'pg';
import {
  type AbortStore,
  createRunAborter,
  createShardRegistry,
  type RunAborterMetrics,
} from '../src/index.js';
import { type StatementStats, statementStats } from './statement-stats.js';

const ABORTS = 1_000;
/** The abort's guarded status write by hand: the store's terminal write's columns, no builder. */
const STATUS_WRITE = `update runs set status = 'aborted', error = $2, finished_at = now(),
    duration_ms = greatest(0, round(extract(epoch from
      (now() - coalesce(started_at, created_at))) * 1000))::int,
    callback_state = case when callback_url is not null then 'pending' end,
    callback_due_at = case when callback_url is not null then now() end
  where id = $1 and status = any($3::text[]) returning *`;
const WARMUP = 100;
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const quantile = (xs: number[], q: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
};
const ms = (x: number) => Math.round(x * 1000) / 1000;
/** Every order of 0..n-1. */
const permutations = (n: number): number[][] =>
  n === 0
    ? [[]]
    : permutations(n - 1).flatMap((p) =>
        Array.from({ length: n }, (_, at) => [...p.slice(0, at), n - 1, ...p.slice(at)]),
      );

const redis = await startRedis();
const database = await postgres('run_abort_bench');
const dir = mkdtempSync(join(tmpdir(), 'run-abort-bench-'));
const db = openPostgres(database.url, { max: 2 });
const prefix = uniqueName('bench');
const rawChannel = `${prefix}:raw`;
try {
  await migrate(db);
  const store = createRunStore(db);
  const runIds: string[] = [];
  // The hand-written status write's own runs, created alternately with ours so both sets of
  // rows share the same pages and index neighbourhoods.
  const statusRunIds: string[] = [];
  // And the store's write alone (no aborter around it), on runs of its own.
  const storeRunIds: string[] = [];
  // And the hand-written abort (guarded status write, then PUBLISH), on runs of its own.
  const handRunIds: string[] = [];
  const benchRun = () =>
    store.createRun({
      workspaceId: 'bench',
      executor: 'demo',
      shards: [{ testIds: ['a'] }, { testIds: ['b'] }],
    });
  for (let i = 0; i < WARMUP + ABORTS; i++) {
    runIds.push((await benchRun()).id);
    statusRunIds.push((await benchRun()).id);
    storeRunIds.push((await benchRun()).id);
    handRunIds.push((await benchRun()).id);
  }
  const runsFile = join(dir, 'runs.json');
  writeFileSync(runsFile, JSON.stringify(runIds));
  const handRunsFile = join(dir, 'hand-runs.json');
  writeFileSync(handRunsFile, JSON.stringify(handRunIds));
  const handChannel = `${prefix}:hand`;

  const subscriberFile = fileURLToPath(new URL('./subscriber.ts', import.meta.url));
  const env = {
    REDIS_URL: redis.url,
    DATABASE_URL: database.url,
    X_PREFIX: prefix,
    RUNS_FILE: runsFile,
    RAW_CHANNEL: rawChannel,
    HAND_RUNS_FILE: handRunsFile,
    HAND_CHANNEL: handChannel,
  };
  const [b, c] = await Promise.all(
    [0, 1].map((i) =>
      spawnNode(subscriberFile, { ...env, SHARD_INDEX: String(i) }, { readyTimeoutMs: 60_000 }),
    ),
  );

  // Time the store write so publish-to-signal can be separated from the PostgreSQL round trip.
  let writtenAt = 0;
  const timedStore: AbortStore = {
    transition: async (...args) => {
      const result = await store.transition(...args);
      writtenAt = now();
      return result;
    },
    terminalRuns: (ids) => store.terminalRuns(ids),
    getStatus: (runId) => store.getStatus(runId),
  };
  const bus = createBus({ transport: redisTransport({ url: redis.url }), prefix });
  await bus.ready();
  // Stamps when the aborter hands its message to the bus: written -> publish is our own work.
  let publishCalledAt = 0;
  const tappedBus = new Proxy(bus, {
    get(target, prop) {
      if (prop !== 'channel') return Reflect.get(target, prop);
      return (...args: Parameters<Bus['channel']>) => {
        const bound = target.channel(...args);
        return new Proxy(bound, {
          get(ch, key) {
            if (key !== 'publish') return Reflect.get(ch, key);
            return (payload: Parameters<typeof bound.publish>[0]) => {
              publishCalledAt = now();
              return ch.publish(payload);
            };
          },
        });
      };
    },
  });
  const aborter = createRunAborter({
    bus: tappedBus,
    store: timedStore,
    registry: createShardRegistry(),
  });
  await aborter.start();
  const pub = new Redis(redis.url);
  // Every replica of a hand-written system listens for aborts, the one that aborts too (it
  // gets its own message back and drops it), as our aborter here does.
  const echo = new Redis(redis.url);
  echo.on('message', (_channel: string, message: string) => {
    JSON.parse(message);
  });
  if (process.env.BENCH_HAND_ECHO !== '0') await echo.subscribe(handChannel);
  // The write floor: a prepared UPDATE … RETURNING of one run row, over its own connection.
  const pgClient = new pg.Client({ connectionString: database.url });
  await pgClient.connect();
  const refRun = await store.createRun({
    workspaceId: 'bench',
    executor: 'demo',
    shards: [{ testIds: ['ref'] }],
  });
  const pgWriteAt: number[] = [];
  const pgStatusWriteAt: number[] = [];
  const handCalledAt: number[] = [];
  const storeWriteAt: number[] = [];
  const stats = await statementStats(database.url);
  await stats.reset();

  const calledAt: number[] = [];
  const publishedAt: number[] = [];
  const handedAt: number[] = [];
  const rawSentAt: number[] = [];
  const started = now();
  // The steps of an iteration, each after a 1 ms pause, in an order that goes through all
  // their permutations (120 for five): a fixed order (or a rotation of one) gave each step its own
  // neighbour (the abort always 1 ms after the raw fan-out woke B and C, the status write
  // always after a quiet write), worth more than the differences measured (our write looked
  // +0.15-0.18 ms over the hand-written one in a fixed order, +0.005-0.06 in every order).
  const steps: ((i: number) => Promise<void>)[] = [
    async (i) => {
      rawSentAt[i] = now();
      await pub.publish(rawChannel, String(i));
    },
    async (i) => {
      calledAt[i] = now();
      await aborter.abort(runIds[i] as string, 'bench abort');
      publishedAt[i] = writtenAt;
      handedAt[i] = publishCalledAt;
    },
    async (i) => {
      const t0 = now();
      await pgClient.query({
        name: 'pg_write_ref',
        text: 'update runs set error = $2 where id = $1 returning *',
        values: [refRun.id, `bench ${i}`],
      });
      pgWriteAt[i] = now() - t0;
    },
    async (i) => {
      // The fair write floor: the abort's guarded status write by hand (the same columns as
      // the store's terminal write: status, error, finished_at, duration_ms and the callback
      // outbox), one prepared statement on its own connection, no query builder, no pool.
      const t0 = now();
      const { rowCount } = await pgClient.query({
        name: 'pg_status_write_ref',
        text: STATUS_WRITE,
        values: [statusRunIds[i], 'bench abort', LIVE_STATUSES],
      });
      pgStatusWriteAt[i] = now() - t0;
      if (rowCount !== 1) throw new Error(`bench: the status write floor matched ${rowCount} rows`);
    },
    async (i) => {
      const t0 = now();
      await store.transition(storeRunIds[i] as string, LIVE_STATUSES, 'aborted', {
        error: 'bench abort',
      });
      storeWriteAt[i] = now() - t0;
    },
    async (i) => {
      // The abort written by hand, what a user would build for the same guarantee: the
      // guarded status write, then one PUBLISH of the run id; each subscriber parses it and
      // aborts its controller. Timed to the last subscriber's signal, like ours.
      const runId = handRunIds[i] as string;
      handCalledAt[i] = now();
      const { rowCount } = await pgClient.query({
        name: 'hand_abort_write',
        text: STATUS_WRITE,
        values: [runId, 'bench abort', LIVE_STATUSES],
      });
      if (rowCount !== 1) throw new Error(`bench: the hand-written abort matched ${rowCount} rows`);
      await pub.publish(handChannel, JSON.stringify({ runId, reason: 'bench abort' }));
    },
  ];
  // BENCH_STORE_STEP=0 leaves the store-alone step out: it runs the same code as the abort's
  // write, so it also keeps that path warm (compare the two to see what a cold path costs).
  if (process.env.BENCH_STORE_STEP === '0') steps.splice(4, 1);
  const orders = permutations(steps.length);
  for (let i = 0; i < runIds.length; i++) {
    for (const k of orders[i % orders.length] as number[]) {
      await sleep(1);
      await (steps[k] as (i: number) => Promise<void>)(i);
    }
  }
  const elapsed = now() - started;
  const serverSide: [string, StatementStats | undefined][] = [
    ['ours: transition (both store steps)', await stats.read('update runs r set status')],
    ['floor: hand-written status write', await stats.read('update runs set status')],
    ['floor: bare UPDATE of error (HOT)', await stats.read('update runs set error')],
  ];
  await stats.close();
  await sleep(1_000);

  const dumps = await Promise.all(
    [b, c].map(async (p, i) => {
      const file = join(dir, `dump-${i}.json`);
      p?.send(`dump ${file}`);
      await p?.waitForLine(/^DUMPED /);
      return JSON.parse(readFileSync(file, 'utf8')) as {
        aborts: Record<string, number>;
        arrived: Record<string, number>;
        raw: Record<string, number>;
        hand: Record<string, number>;
        metrics: RunAborterMetrics;
      };
    }),
  );

  const callToSignal: number[] = [];
  const publishToSignal: number[] = [];
  const dbWrite: number[] = [];
  const raw: number[] = [];
  const hand: number[] = [];
  const writtenToPublish: number[] = [];
  const publishToArrival: number[] = [];
  const arrivalToSignal: number[] = [];
  const pgWrite = pgWriteAt.slice(WARMUP);
  const pgStatusWrite = pgStatusWriteAt.slice(WARMUP);
  const storeWrite = storeWriteAt.slice(WARMUP);
  let missed = 0;
  let rawMissed = 0;
  let handMissed = 0;
  for (let i = WARMUP; i < runIds.length; i++) {
    const fired = dumps.map((d) => d.aborts[runIds[i] as string]);
    if (fired.some((t) => t === undefined)) missed++;
    else {
      const last = Math.max(...(fired as number[]));
      callToSignal.push(last - (calledAt[i] as number));
      publishToSignal.push(last - (publishedAt[i] as number));
      dbWrite.push((publishedAt[i] as number) - (calledAt[i] as number));
      writtenToPublish.push((handedAt[i] as number) - (publishedAt[i] as number));
      // Per subscriber: the bus message reaching the process (stamped on the bus's own
      // connection before the bus reads it), then decode, validate, registry, signal.
      for (const d of dumps) {
        const arrived = d.arrived[runIds[i] as string];
        const fired = d.aborts[runIds[i] as string];
        if (arrived === undefined || fired === undefined) continue;
        publishToArrival.push(arrived - (handedAt[i] as number));
        arrivalToSignal.push(fired - arrived);
      }
    }
    const got = dumps.map((d) => d.raw[String(i)]);
    if (got.some((t) => t === undefined)) rawMissed++;
    else raw.push(Math.max(...(got as number[])) - (rawSentAt[i] as number));
    const handFired = dumps.map((d) => d.hand[handRunIds[i] as string]);
    if (handFired.some((t) => t === undefined)) handMissed++;
    else hand.push(Math.max(...(handFired as number[])) - (handCalledAt[i] as number));
  }

  const row = (name: string, xs: number[]) =>
    `${name.padEnd(42)} p50 ${ms(quantile(xs, 0.5)).toFixed(3).padStart(7)} ms   p99 ${ms(quantile(xs, 0.99)).toFixed(3).padStart(7)} ms   max ${ms(
      Math.max(...xs),
    )
      .toFixed(3)
      .padStart(8)} ms`;
  console.log(
    `run-abort bench: ${ABORTS} aborts (after ${WARMUP} warm-up) from A to shards on B and C, ${ms(elapsed / 1000)} s`,
  );
  console.log(row('abort call -> last shard signal', callToSignal));
  console.log(row('  of which PostgreSQL write (call -> written)', dbWrite));
  if (storeWrite.length > 0)
    console.log(row('    the same store.transition, no aborter', storeWrite));
  console.log(row('  publish -> last shard signal', publishToSignal));
  console.log(row('    written -> bus publish called (aborter)', writtenToPublish));
  console.log(row('    publish called -> bytes in subscriber', publishToArrival));
  console.log(row('    bytes in subscriber -> signal (bus, reg.)', arrivalToSignal));
  console.log(row('raw ioredis PUBLISH -> last subscriber (ref)', raw));
  console.log(row('bare prepared UPDATE of error, HOT (ref)', pgWrite));
  console.log(row('hand-written guarded status write (ref)', pgStatusWrite));
  console.log(row('hand-written abort: write, PUBLISH (ref)', hand));
  const floor = (q: number) => quantile(raw, q) + quantile(pgWrite, q);
  const statusFloor = (q: number) => quantile(raw, q) + quantile(pgStatusWrite, q);
  const ratio = (xs: number[], f: (q: number) => number, q: number) => quantile(xs, q) / f(q);
  console.log(
    `ours / (raw publish + bare HOT write): p50 ${ratio(callToSignal, floor, 0.5).toFixed(2)}x, p99 ${ratio(callToSignal, floor, 0.99).toFixed(2)}x (target ≤ 1.2x)`,
  );
  console.log(
    `ours / (raw publish + guarded status write): p50 ${ratio(callToSignal, statusFloor, 0.5).toFixed(2)}x, p99 ${ratio(callToSignal, statusFloor, 0.99).toFixed(2)}x`,
  );
  const handFloor = (q: number) => quantile(hand, q);
  console.log(
    `ours / hand-written abort (write then PUBLISH, measured as one): p50 ${ratio(callToSignal, handFloor, 0.5).toFixed(2)}x, p99 ${ratio(callToSignal, handFloor, 0.99).toFixed(2)}x`,
  );
  const q50 = (xs: number[]) => quantile(xs, 0.5);
  const signed = (x: number) => `${x < 0 ? '' : '+'}${ms(x).toFixed(3)}`;
  console.log(
    `our write alone: p50 ${ms(q50(dbWrite)).toFixed(3)} ms = bare HOT write ${signed(q50(dbWrite) - q50(pgWrite))}, guarded status write ${signed(q50(dbWrite) - q50(pgStatusWrite))} (status write - HOT write: ${signed(q50(pgStatusWrite) - q50(pgWrite))})`,
  );
  for (const [name, s] of serverSide) {
    console.log(
      s
        ? `server side, ${name.padEnd(34)} ${s.calls} calls, exec ${s.meanExecMs.toFixed(3)} ms, buffers ${s.buffersPerCall.toFixed(1)} (dirtied ${s.dirtiedPerCall.toFixed(2)}), WAL ${s.walRecordsPerCall.toFixed(1)} records ${s.walBytesPerCall.toFixed(0)} bytes per call`
        : `server side, ${name}: no pg_stat_statements`,
    );
  }
  console.log(
    `ratio publish->signal / raw: p50 ${(quantile(publishToSignal, 0.5) / quantile(raw, 0.5)).toFixed(2)}x, p99 ${(quantile(publishToSignal, 0.99) / quantile(raw, 0.99)).toFixed(2)}x`,
  );
  for (const [i, d] of dumps.entries()) {
    const m = d.metrics;
    console.log(
      `subscriber ${'BC'[i]}: received ${m.received}, shards by message ${m.receivedShardsAborted}, by reconcile ${m.reconcileShardsAborted}`,
    );
  }
  console.log(
    `missed ${missed}, raw missed ${rawMissed}, hand-written missed ${handMissed} (machine: 2 cores, loopback Redis and PostgreSQL)`,
  );

  await aborter.close();
  await Promise.all([bus.close(), pub.quit(), echo.quit(), pgClient.end(), b?.kill(), c?.kill()]);
  console.log(
    JSON.stringify({
      bench: 'run-abort',
      aborts: ABORTS,
      p50_ms: ms(quantile(callToSignal, 0.5)),
      p99_ms: ms(quantile(callToSignal, 0.99)),
      raw_p50_ms: ms(quantile(raw, 0.5)),
      raw_p99_ms: ms(quantile(raw, 0.99)),
      pg_write_p50_ms: ms(quantile(pgWrite, 0.5)),
      pg_write_p99_ms: ms(quantile(pgWrite, 0.99)),
      pg_status_write_p50_ms: ms(quantile(pgStatusWrite, 0.5)),
      pg_status_write_p99_ms: ms(quantile(pgStatusWrite, 0.99)),
      p50_x_floor: Math.round(ratio(callToSignal, floor, 0.5) * 100) / 100,
      p99_x_floor: Math.round(ratio(callToSignal, floor, 0.99) * 100) / 100,
      p50_x_status_floor: Math.round(ratio(callToSignal, statusFloor, 0.5) * 100) / 100,
      p99_x_status_floor: Math.round(ratio(callToSignal, statusFloor, 0.99) * 100) / 100,
      hand_p50_ms: ms(quantile(hand, 0.5)),
      hand_p99_ms: ms(quantile(hand, 0.99)),
      p50_x_hand: Math.round(ratio(callToSignal, handFloor, 0.5) * 100) / 100,
      p99_x_hand: Math.round(ratio(callToSignal, handFloor, 0.99) * 100) / 100,
      missed,
      hand_missed: handMissed,
    }),
  );
} finally {
  await db.destroy();
  await database.close();
  await redis.close();
  rmSync(dir, { recursive: true, force: true });
}
