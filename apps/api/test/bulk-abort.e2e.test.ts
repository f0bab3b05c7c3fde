import type { TestDatabase, TestRedis } from '@x/testkit';
import { postgres, startRedis, uniqueName, waitFor } from '@x/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import {
  type ApiProcess,
  activeShards,
  FLEET_TOKEN,
  type FleetEnv,
  startApiProcess,
  startWorkerProcess,
  stopProcess,
  type WorkerProcess,
} from './support/fleet.js';

// Bulk abort across real processes: one api, two workers (100 shards each at most), 200
// running runs with one tag. Every one must stop on whichever worker runs it, and the count
// the api answers must be exact.
const RUNS = 200;

let redis: TestRedis;
let db: TestDatabase;
let api: ApiProcess;
const workers: WorkerProcess[] = [];
const x = () => apiClient(api.url, FLEET_TOKEN);

beforeAll(async () => {
  [redis, db] = await Promise.all([startRedis(), postgres('bulk_abort')]);
  const env: FleetEnv = {
    REDIS_URL: redis.url,
    DATABASE_URL: db.url,
    X_PREFIX: uniqueName('bulk'),
  };
  api = await startApiProcess(env, { RATE_LIMIT_REQUESTS_PER_S: '0' });
  workers.push(
    ...(await Promise.all([
      startWorkerProcess(env, { WORKER_CONCURRENCY: '110' }),
      startWorkerProcess(env, { WORKER_CONCURRENCY: '110' }),
    ])),
  );
}, 120_000);

afterAll(async () => {
  await Promise.all([api, ...workers].filter((p) => p).map((p) => stopProcess(p.proc)));
  await redis?.close();
  await db?.close();
}, 60_000);

const countRuns = async (query: string) => {
  let n = 0;
  let cursor: string | null = null;
  do {
    const page: { status: number; body: { runs: RunBody[]; nextCursor: string | null } } =
      await x().get(`/runs?${query}&limit=200${cursor ? `&cursor=${cursor}` : ''}`);
    expect(page.status).toBe(200);
    n += page.body.runs.length;
    cursor = page.body.nextCursor;
  } while (cursor);
  return n;
};
const active = async () => (await Promise.all(workers.map(activeShards))).reduce((a, b) => a + b);

it(`aborts ${RUNS} running runs on two workers: all stop, the count is exact, a repeat aborts 0`, async () => {
  const body = { executor: 'demo', tests: demoTests(1, 300_000), tags: ['bulk:e2e'] };
  for (let i = 0; i < RUNS; i += 20) {
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        const res = await x().post('/runs', body);
        expect(res.status).toBe(201);
      }),
    );
  }
  // One bystander with another tag keeps running.
  const bystander = (await x().post<{ run: RunBody }>('/runs', { ...body, tags: ['bulk:keep'] }))
    .body.run;
  await waitFor(async () => (await countRuns('tag=bulk:e2e&status=running')) === RUNS, {
    timeoutMs: 90_000,
    intervalMs: 500,
    what: `${RUNS} runs running`,
  });
  await waitFor(async () => (await active()) === RUNS + 1, {
    timeoutMs: 30_000,
    what: 'every shard active on the workers',
  });
  // Both workers hold some of them.
  const perWorker = await Promise.all(workers.map(activeShards));
  expect(perWorker.every((n) => n > 0)).toBe(true);

  const res = await x().post<{ aborted: number }>('/runs/abort', { tag: 'bulk:e2e' });
  expect(res).toMatchObject({ status: 202, body: { aborted: RUNS } });
  expect(await countRuns('tag=bulk:e2e&status=aborted')).toBe(RUNS);
  // Every shard stops on the worker that runs it; only the bystander's is left.
  await waitFor(async () => (await active()) === 1, {
    timeoutMs: 30_000,
    intervalMs: 200,
    what: 'every aborted shard to stop',
  });
  const again = await x().post<{ aborted: number }>('/runs/abort', {
    tag: 'bulk:e2e',
    status: ['queued', 'running'],
  });
  expect(again).toMatchObject({ status: 202, body: { aborted: 0 } });
  const metrics = await (await fetch(`${api.url}/metrics`)).text();
  expect(metrics).toMatch(new RegExp(`^x_run_bulk_aborted_runs_total ${RUNS}$`, 'm'));
  expect(metrics).toMatch(/^x_run_bulk_aborts_total 2$/m);
  expect((await x().get<{ run: RunBody }>(`/runs/${bystander.id}`)).body.run.status).toBe(
    'running',
  );
  await x().post(`/runs/${bystander.id}/abort`);
}, 240_000);
