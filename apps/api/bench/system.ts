/**
 * `pnpm bench:system`: two api replicas and two workers (real processes) on loopback Redis
 * and PostgreSQL.
 * (a) abort latency: POST /runs/:id/abort on api A -> `done` frame on an SSE client of api B,
 *     for running 8-shard runs;
 * (b) throughput: runs of 4 shards x 25 zero-duration tests, POST /runs -> `done`.
 * Last line: {"bench":"system","abort_p50_ms":…,"abort_p99_ms":…,"runs_per_s":…,
 * "create_to_done_p50_ms":…,"create_to_done_p99_ms":…}
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort, postgres, startRedis, uniqueName, waitFor } from '@x/testkit';
import { apiClient, demoTests, type RunBody } from '../test/support/api-client.js';
import { openSse } from '../test/support/sse-client.js';

const ABORTS = Number(process.env.X_BENCH_ABORTS ?? 200);
const RUNS = Number(process.env.X_BENCH_RUNS ?? 500);
const IN_FLIGHT = Number(process.env.X_BENCH_IN_FLIGHT ?? 16);
const TOKEN = 'bench-token-0123456789abcdef';
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const API_MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const WORKER_MAIN = fileURLToPath(new URL('../../worker/src/main.ts', import.meta.url));

const children: ChildProcess[] = [];
function start(file: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', tsx, file], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  return child;
}
const healthy = (url: string) =>
  waitFor(async () => (await fetch(url).catch(() => undefined))?.ok, {
    timeoutMs: 90_000,
    intervalMs: 200,
    what: url,
  });

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : Number.NaN;
};
const round = (x: number) => Math.round(x * 100) / 100;

async function main() {
  const [redis, db] = await Promise.all([startRedis(), postgres('bench')]);
  const common = {
    REDIS_URL: redis.url,
    DATABASE_URL: db.url,
    X_PREFIX: uniqueName('bench')
      .toLowerCase()
      .replace(/[^a-z0-9_-]/g, ''),
    API_TOKENS: `bench:${TOKEN}`,
    STREAM_TOKEN_SECRET: 'bench-secret-0123456789abcdef0123456789',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
  };
  try {
    const [pa, pb, m1, m2] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    start(API_MAIN, { ...common, PORT: String(pa) });
    await healthy(`http://127.0.0.1:${pa}/readyz`); // first one migrates
    start(API_MAIN, { ...common, PORT: String(pb) });
    for (const m of [m1, m2])
      start(WORKER_MAIN, { ...common, METRICS_PORT: String(m), WORKER_CONCURRENCY: '16' });
    await Promise.all(
      [
        `http://127.0.0.1:${pb}/readyz`,
        `http://127.0.0.1:${m1}/healthz`,
        `http://127.0.0.1:${m2}/healthz`,
      ].map(healthy),
    );
    const A = `http://127.0.0.1:${pa}`;
    const B = `http://127.0.0.1:${pb}`;
    const a = apiClient(A, TOKEN);
    const b = apiClient(B, TOKEN);
    const watch = async (base: string, runId: string) => {
      const { token } = (
        await apiClient(base, TOKEN).post<{ token: string }>(`/runs/${runId}/stream-token`)
      ).body;
      return openSse(
        `${base}/api/v1/runs/${runId}/events?st=${encodeURIComponent(token)}&lastEventId=0`,
      );
    };

    // (a) abort latency across replicas.
    const aborts: number[] = [];
    for (let i = 0; i < ABORTS; i++) {
      const run = (
        await a.post<{ run: RunBody }>('/runs', {
          executor: 'demo',
          tests: demoTests(16, 60_000),
          shards: 8,
        })
      ).body.run;
      const stream = await watch(B, run.id);
      await stream.waitFor((f) => f.data.type === 'shard' && f.data.state === 'started', 30_000);
      const t0 = performance.now();
      const r = await a.post(`/runs/${run.id}/abort`);
      if (r.status !== 202) throw new Error(`abort answered ${r.status}`);
      await stream.waitFor((f) => f.data.type === 'done', 30_000);
      aborts.push(performance.now() - t0);
      stream.close();
    }
    console.log(
      `(a) ${ABORTS} aborts A -> done on B: p50 ${round(pct(aborts, 50))} ms, p99 ${round(pct(aborts, 99))} ms`,
    );

    // (b) throughput: IN_FLIGHT runs at a time, created on A or B, watched on the other.
    const lat: number[] = [];
    let next = 0;
    const started = performance.now();
    const lane = async () => {
      while (next < RUNS) {
        const i = next++;
        const [create, view] = i % 2 ? [b, A] : [a, B];
        const t0 = performance.now();
        const run = (
          await create.post<{ run: RunBody }>('/runs', {
            executor: 'demo',
            tests: demoTests(100, 0),
            shards: 4,
          })
        ).body.run;
        const stream = await watch(view, run.id);
        const done = await stream.waitFor((f) => f.data.type === 'done', 60_000);
        if (done.data.status !== 'completed' || done.data.passed !== 100)
          throw new Error(`run ${run.id}: ${JSON.stringify(done.data)}`);
        lat.push(performance.now() - t0);
        stream.close();
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
    const seconds = (performance.now() - started) / 1000;
    const runsPerS = RUNS / seconds;
    console.log(
      `(b) ${RUNS} runs (4 shards x 25 tests), ${IN_FLIGHT} in flight: ${round(runsPerS)} runs/s, create->done p50 ${round(pct(lat, 50))} ms, p99 ${round(pct(lat, 99))} ms`,
    );
    console.log('machine: 2 cores, loopback Redis + PostgreSQL, 2 api + 2 worker processes (tsx)');
    console.log(
      JSON.stringify({
        bench: 'system',
        abort_p50_ms: round(pct(aborts, 50)),
        abort_p99_ms: round(pct(aborts, 99)),
        runs_per_s: round(runsPerS),
        create_to_done_p50_ms: round(pct(lat, 50)),
        create_to_done_p99_ms: round(pct(lat, 99)),
      }),
    );
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(
      children.map((c) =>
        c.exitCode === null && c.signalCode === null ? once(c, 'exit') : undefined,
      ),
    );
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
