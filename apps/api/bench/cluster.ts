/**
 * `pnpm bench:cluster`: how evenly the system spreads its Redis work over the primaries of a
 * Redis Cluster. One private cluster of 3 primaries (no replicas: only primaries serve), one
 * PostgreSQL; per phase an api and two workers as processes running the built dist JS with
 * `REDIS_CLUSTER_NODES`, and RUNS runs of 4 shards x 4 zero-duration demo tests created
 * IN_FLIGHT at a time over WORKSPACES workspaces. The phases differ only in `QUEUE_PARTITIONS`
 * (3, then 1, in the same run). After each phase's last run is finished, `INFO commandstats`
 * of every primary (reset before the phase) gives the commands each served, scripts' own
 * commands included; spread = max / mean over the primaries. Exactly once: every run of both
 * phases completed with its counts (PostgreSQL), and its event history holds one `done`.
 * Last line: {"bench":"cluster-spread","runs":…,"max_over_mean":…,
 * "single_partition_max_over_mean":…,"exactly_once":…}.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { migrate, openPostgres } from '@x/run-store';
import { redisEventLog } from '@x/sse-relay';
import { freePort, postgres, startRedisCluster, uniqueName, waitFor } from '@x/testkit';
import { Cluster, Redis } from 'ioredis';
import { demoTests, type RunBody } from '../test/support/api-client.js';
import { postJson } from './lean-http.js';

const RUNS = Number(process.env.X_BENCH_RUNS ?? 1000);
const IN_FLIGHT = Number(process.env.X_BENCH_IN_FLIGHT ?? 64);
const WORKSPACES = Number(process.env.X_BENCH_WORKSPACES ?? 8);
const API_MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const WORKER_MAIN = fileURLToPath(new URL('../../worker/dist/main.js', import.meta.url));

// pg is run-store's dependency; the bench reads the runs table through it.
const requireFromStore = createRequire(createRequire(import.meta.url).resolve('@x/run-store'));
interface PgClient {
  connect(): Promise<void>;
  query<R>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
  end(): Promise<void>;
}
const pg = requireFromStore('pg') as {
  Client: new (opts: { connectionString: string }) => PgClient;
};

const round = (x: number) => Math.round(x * 1000) / 1000;
const healthy = (url: string) =>
  waitFor(async () => (await fetch(url).catch(() => undefined))?.ok, {
    timeoutMs: 90_000,
    intervalMs: 100,
    what: url,
  });

interface PhaseResult {
  partitions: number;
  /** Commands each primary served during the phase, in port order. */
  calls: number[];
  /** Microseconds of command time each primary spent. */
  usec: number[];
  maxOverMean: number;
  usecMaxOverMean: number;
  runsPerS: number;
  exactlyOnce: boolean;
}

const maxOverMean = (xs: number[]) => Math.max(...xs) / (xs.reduce((a, b) => a + b, 0) / xs.length);

function commandStats(info: string) {
  let calls = 0;
  let usec = 0;
  for (const m of info.matchAll(/^cmdstat_[^:]+:calls=(\d+),usec=(\d+)/gm)) {
    calls += Number(m[1]);
    usec += Number(m[2]);
  }
  return { calls, usec };
}

async function phase(
  partitions: number,
  primaries: Redis[],
  cluster: Cluster,
  common: Record<string, string>,
  db: PgClient,
): Promise<PhaseResult> {
  const prefix = uniqueName(`bc${partitions}`)
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '');
  const tokens = Array.from(
    { length: WORKSPACES },
    (_, i) => `tok-${prefix}-${i}-0123456789abcdef`,
  );
  const env = {
    ...common,
    X_PREFIX: prefix,
    QUEUE_PARTITIONS: String(partitions),
    API_TOKENS: tokens.map((t, i) => `${prefix}-w${i}:${t}`).join(','),
  };
  const children: ChildProcess[] = [];
  const start = (file: string, extra: Record<string, string>) => {
    const child = spawn(process.execPath, [file], {
      env: { ...process.env, NODE_ENV: 'production', ...env, ...extra },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(child);
  };
  try {
    const [pa, m1, m2] = await Promise.all([freePort(), freePort(), freePort()]);
    start(API_MAIN, { PORT: String(pa) });
    for (const m of [m1, m2]) start(WORKER_MAIN, { METRICS_PORT: String(m) });
    await Promise.all(
      [
        `http://127.0.0.1:${pa}/readyz`,
        `http://127.0.0.1:${m1}/healthz`,
        `http://127.0.0.1:${m2}/healthz`,
      ].map(healthy),
    );
    const api = `http://127.0.0.1:${pa}`;
    for (const p of primaries) await p.config('RESETSTAT');
    const started = performance.now();
    const ids: string[] = [];
    let next = 0;
    const lane = async () => {
      while (next < RUNS) {
        const i = next++;
        const r = await postJson<{ run: RunBody }>(api, '/runs', tokens[i % WORKSPACES]!, {
          executor: 'demo',
          tests: demoTests(16, 0, 4),
          shards: 4,
        });
        if (r.status !== 201) throw new Error(`POST /runs answered ${r.status}`);
        ids.push(r.body.run.id);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
    await waitFor(
      async () => {
        const { rows } = await db.query<{ n: string }>(
          `select count(*)::text as n from runs where id = any($1) and status in ('completed', 'failed', 'aborted')`,
          [ids],
        );
        return Number(rows[0]!.n) === RUNS;
      },
      { timeoutMs: 600_000, intervalMs: 200, what: `${RUNS} runs to finish` },
    );
    const seconds = (performance.now() - started) / 1000;
    const stats = await Promise.all(
      primaries.map(async (p) => commandStats(await p.info('commandstats'))),
    );
    // Exactly once, read after the figures: counts in PostgreSQL, one done in each history.
    const { rows } = await db.query<{ n: string }>(
      `select count(*)::text as n from runs where id = any($1) and status = 'completed'
         and total = 16 and passed = 12 and failed = 4 and shards_completed = 4`,
      [ids],
    );
    // Read as the apps read it (whatever the entry format), through the log itself.
    const log = redisEventLog({ redis: cluster, prefix, publish: false, epochPerPrimary: true });
    let historiesWithOneDone = 0;
    for (const id of ids) {
      const { events } = await log.read(id, 0, 10_000);
      if (events.filter((e) => e.type === 'done').length === 1) historiesWithOneDone++;
    }
    const calls = stats.map((s) => s.calls);
    const usec = stats.map((s) => s.usec);
    const result: PhaseResult = {
      partitions,
      calls,
      usec,
      maxOverMean: maxOverMean(calls),
      usecMaxOverMean: maxOverMean(usec),
      runsPerS: RUNS / seconds,
      exactlyOnce:
        new Set(ids).size === RUNS && Number(rows[0]!.n) === RUNS && historiesWithOneDone === RUNS,
    };
    console.log(
      `QUEUE_PARTITIONS=${partitions}: ${RUNS} runs in ${round(seconds)} s (${round(result.runsPerS)} runs/s); commands per primary ${calls.join(' / ')} -> max/mean ${round(result.maxOverMean)}; command time (usec) ${usec.join(' / ')} -> max/mean ${round(result.usecMaxOverMean)}; completed with exact counts ${rows[0]!.n}/${RUNS}, one done in ${historiesWithOneDone}/${RUNS} histories`,
    );
    return result;
  } finally {
    for (const c of children) c.kill('SIGKILL');
  }
}

async function main() {
  for (const file of [API_MAIN, WORKER_MAIN])
    if (!existsSync(file))
      throw new Error(`${file} is missing: build first (pnpm turbo run build --filter=@x/api...)`);
  const [cluster, db] = await Promise.all([
    startRedisCluster({ replicasPerPrimary: 0 }),
    postgres('bench_cluster'),
  ]);
  const primaries = cluster.nodes.map((n) => new Redis(n.port, n.host));
  const client = new Cluster(cluster.startupNodes);
  const pgc = new pg.Client({ connectionString: db.url });
  await pgc.connect();
  const common = {
    REDIS_CLUSTER_NODES: cluster.nodesEnv,
    DATABASE_URL: db.url,
    STREAM_TOKEN_SECRET: 'bench-secret-0123456789abcdef0123456789',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    WORKER_CONCURRENCY: '32',
    RATE_LIMIT_CREATES_PER_MIN: '10000000',
    RATE_LIMIT_REQUESTS_PER_S: '10000000',
  };
  try {
    // Migrate once, so neither phase pays for it.
    const migrator = openPostgres(db.url, { max: 1 });
    await migrate(migrator);
    await migrator.destroy();
    const three = await phase(3, primaries, client, common, pgc);
    const one = await phase(1, primaries, client, common, pgc);
    console.log(
      `machine: 2 cores (shared), loopback cluster of 3 primaries, 1 api + 2 worker processes (node dist/main.js), ${WORKSPACES} workspaces, ${IN_FLIGHT} runs in flight; reference = the same system with QUEUE_PARTITIONS=1 in the same run`,
    );
    console.log(
      JSON.stringify({
        bench: 'cluster-spread',
        runs: RUNS,
        max_over_mean: round(three.maxOverMean),
        single_partition_max_over_mean: round(one.maxOverMean),
        exactly_once: three.exactlyOnce && one.exactlyOnce,
      }),
    );
  } finally {
    client.disconnect();
    for (const p of primaries) p.disconnect();
    await pgc.end();
    await cluster.close();
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
