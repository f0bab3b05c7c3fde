import type { TestDatabase, TestRedis } from '@x/testkit';
import { postgres, startRedis, uniqueName, waitFor } from '@x/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import { type CallbackReceiver, callbackReceiver } from './support/callback-receiver.js';
import { type WatchedFrame, watchRun } from './support/es-watcher.js';
import {
  type ApiProcess,
  FLEET_TOKEN,
  type FleetEnv,
  startApiProcess,
  startWorkerProcess,
  statOf,
  type WorkerProcess,
  waitActive,
} from './support/fleet.js';

// PostgreSQL holds the truth (issue 15, sections 3 and 5), with real processes and a real
// Redis that is killed and restarted empty: a run created while Redis is down is answered at
// once and runs when Redis is back; shards an empty Redis forgot are enqueued again.

let redis: TestRedis;
let db: TestDatabase;
let env: FleetEnv;
let receiver: CallbackReceiver;
let extra: Record<string, string>;
let api: ApiProcess;
const workers: WorkerProcess[] = [];

const client = () => apiClient(api.url, FLEET_TOKEN);

async function createRun(body: object): Promise<RunBody> {
  const r = await client().post<{ run: RunBody }>('/runs', body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.run;
}

async function waitTerminal(runId: string, timeoutMs = 60_000): Promise<RunBody> {
  return waitFor(
    async () => {
      const run = (await client().get<{ run: RunBody }>(`/runs/${runId}`)).body.run;
      return ['completed', 'failed', 'aborted'].includes(run.status) ? run : undefined;
    },
    { timeoutMs, intervalMs: 200, what: `run ${runId} to finish` },
  );
}

/**
 * A finished run's frames as a browser's EventSource gets them. Right after an outage the
 * api's event bus may still be in its reconnect backoff (up to 2.4 s) when the run is already
 * done: the api then answers the snapshot and `retry:`, and the EventSource comes back.
 */
async function history(runId: string): Promise<WatchedFrame[]> {
  const { token } = (await client().post<{ token: string }>(`/runs/${runId}/stream-token`)).body;
  const watcher = watchRun(`${api.url}/api/v1/runs/${runId}/events?st=${token}&lastEventId=0`);
  let ended = false;
  void watcher.ended.then(() => {
    ended = true;
  });
  try {
    await waitFor(() => ended, { timeoutMs: 30_000, what: `the done of ${runId}` });
  } finally {
    watcher.close();
  }
  expect(watcher.fatal, watcher.log.join('; ')).toBe(false);
  return watcher.frames.filter((f) => f.data.type !== 'snapshot');
}

/** demoTests(n, ms, failEvery): the tests whose index is a multiple of `failEvery` fail. */
const failedOf = (n: number, failEvery: number) =>
  Array.from({ length: n }, (_, i) => i).filter((i) => i % failEvery === 0).length;

/** Completed with exact counts, one `done`, one callback. */
async function expectExactlyOnce(runId: string, tests: number, shards: number, failEvery = 0) {
  const final = await waitTerminal(runId);
  const failed = failEvery ? failedOf(tests, failEvery) : 0;
  expect(final).toMatchObject({
    status: 'completed',
    total: tests,
    passed: tests - failed,
    failed,
    shardsCompleted: shards,
  });
  const done = (await history(runId)).filter((f) => f.data.type === 'done');
  expect(done).toHaveLength(1);
  await waitFor(() => receiver.bodiesOf(runId).length > 0, {
    timeoutMs: 20_000,
    what: `the callback of ${runId}`,
  });
  return final;
}

const sumOf = async (component: string, stat: string) => {
  const urls = [`${api.url}/metrics`, ...workers.map((w) => w.metricsUrl)];
  const values = await Promise.all(urls.map((u) => statOf(u, component, stat)));
  return values.reduce((a, b) => a + b, 0);
};

async function stop(p: { kill(s?: NodeJS.Signals): Promise<unknown> } | undefined) {
  if (!p) return;
  const timer = setTimeout(() => void p.kill('SIGKILL'), 15_000);
  await p.kill('SIGTERM');
  clearTimeout(timer);
}

beforeAll(async () => {
  [redis, db, receiver] = await Promise.all([startRedis(), postgres('outbox'), callbackReceiver()]);
  extra = { CALLBACK_ALLOWED_HOSTS: receiver.host, REPAIR_INTERVAL_MS: '2000' };
  env = {
    REDIS_URL: redis.url,
    DATABASE_URL: db.url,
    X_PREFIX: uniqueName('ob'),
  };
  api = await startApiProcess(env, extra);
  workers.push(await startWorkerProcess(env, { ...extra, WORKER_CONCURRENCY: '4' }));
}, 120_000);

afterAll(async () => {
  await Promise.all([stop(api?.proc), ...workers.map((w) => stop(w.proc))]);
  await redis?.close();
  await db?.close();
  await receiver?.close();
}, 60_000);

describe('runs are created in PostgreSQL first and enqueued from there (api + worker processes)', () => {
  it('while Redis is down, POST /runs answers 201 at once; the runs complete exactly once when it is back', async () => {
    await redis.kill();
    const runs: RunBody[] = [];
    try {
      // Down for a while: the clients' reconnect backoff has grown, as in a real outage.
      await new Promise((r) => setTimeout(r, 2_000));
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        const run = await createRun({
          executor: 'demo',
          tests: demoTests(6, 20, 3),
          shards: 3,
          callbackUrl: receiver.url,
        });
        expect(Date.now() - started).toBeLessThan(1_500);
        expect(run.status).toBe('queued');
        runs.push(run);
      }
    } finally {
      await redis.restart();
    }
    for (const run of runs) await expectExactlyOnce(run.id, 6, 3, 3);
    await new Promise((r) => setTimeout(r, 500));
    for (const run of runs) expect(receiver.bodiesOf(run.id)).toHaveLength(1);
    // No run was left `failed` by the outage.
    const failed = (await client().get<{ runs: RunBody[] }>('/runs?status=failed')).body.runs;
    expect(failed).toEqual([]);
  });

  it('Redis restarted empty with dozens of shards still queued: every run completes exactly once; the stop-jobs group, the abort channel and the queue state (BullMQ meta, or the Redis queue group) comes back', async () => {
    const runs: RunBody[] = [];
    for (let i = 0; i < 6; i++) {
      runs.push(
        await createRun({
          executor: 'demo',
          tests: demoTests(8, 300, 4),
          shards: 8,
          callbackUrl: receiver.url,
        }),
      );
    }
    // 48 shards, 4 slots: most of them wait in Redis when it loses everything.
    await waitActive(workers[0]!, 1);
    const reenqueuedBefore = await sumOf('shard_repair', 'shardsReenqueued');
    const groupsBefore = await statOf(workers[0]!.metricsUrl, 'stop_jobs', 'groupsCreated');
    await redis.restart();
    for (const run of runs) await expectExactlyOnce(run.id, 8, 8, 4);
    await new Promise((r) => setTimeout(r, 500));
    for (const run of runs) expect(receiver.bodiesOf(run.id)).toHaveLength(1);
    const reenqueued = (await sumOf('shard_repair', 'shardsReenqueued')) - reenqueuedBefore;
    expect(reenqueued).toBeGreaterThanOrEqual(24);
    // At most 8 shards a run, so 24+ re-enqueued shards span 3+ runs; a run whose last shards
    // were in flight and finished before the sweep needed no repair (seen under load).
    expect(await sumOf('shard_repair', 'runsRepaired')).toBeGreaterThanOrEqual(3);
    expect(await sumOf('shard_repair', 'lastRecoveryMs')).toBeGreaterThanOrEqual(0);

    // The queue's own state is back: the consumer group on the queue's stream (recreated on
    // NOGROUP), or with SHARD_QUEUE=bullmq BullMQ's meta hash (written again on reconnect).
    const { Redis } = await import('ioredis');
    const probe = new Redis(redis.url);
    try {
      if ((process.env.SHARD_QUEUE || 'redis') === 'redis') {
        const groups = (await probe.call(
          'XINFO',
          'GROUPS',
          `${env.X_PREFIX}:runs:rq:stream`,
        )) as unknown[][];
        expect(groups.map((g) => g[1])).toContain('workers');
      } else {
        expect((await probe.hgetall(`${env.X_PREFIX}:runs:meta`)).version).toMatch(/^bullmq:/);
      }
    } finally {
      probe.disconnect();
    }
    // The abort channel and the stop-jobs group work again: an abort stops running shards
    // at once, and the worker re-created its consumer group for the stop job that follows.
    const long = await createRun({ executor: 'demo', tests: demoTests(4, 10_000), shards: 4 });
    await waitActive(workers[0]!, 4);
    const r = await client().post<{ run: RunBody }>(`/runs/${long.id}/abort`);
    expect(r.status).toBe(202);
    await waitFor(
      async () => (await statOf(workers[0]!.metricsUrl, 'shard_worker', 'activeShards')) === 0,
      {
        timeoutMs: 3_000,
        what: 'the aborted shards stopped',
      },
    );
    await waitFor(
      async () =>
        (await statOf(workers[0]!.metricsUrl, 'stop_jobs', 'groupsCreated')) > groupsBefore,
      { timeoutMs: 15_000, what: 'the stop-jobs group created again' },
    );
    expect(await statOf(workers[0]!.metricsUrl, 'stop_jobs', 'read')).toBeGreaterThan(0);
  });

  it('a shard enqueued again while a live worker still executes it runs twice; the counts stay exact', async () => {
    const first = workers[0]!;
    const startedBefore = await statOf(first.metricsUrl, 'shard_worker', 'shardsStarted');
    // 4 shards for 4 slots, each shard ~8 s: all run in `first` when Redis forgets them.
    const run = await createRun({
      executor: 'demo',
      tests: demoTests(8, 4_000, 2),
      shards: 4,
      callbackUrl: receiver.url,
    });
    await waitActive(first, 4);
    // A second worker, idle (nothing waits), takes the re-enqueued copies while `first`
    // still runs the originals in all its slots.
    const second = await startWorkerProcess(env, { ...extra, WORKER_CONCURRENCY: '4' });
    workers.push(second);
    expect(await statOf(first.metricsUrl, 'shard_worker', 'activeShards')).toBe(4);
    await redis.restart();
    await expectExactlyOnce(run.id, 8, 4, 2);
    await new Promise((r) => setTimeout(r, 500));
    expect(receiver.bodiesOf(run.id)).toHaveLength(1);
    const secondStarted = await statOf(second.metricsUrl, 'shard_worker', 'shardsStarted');
    const firstStarted =
      (await statOf(first.metricsUrl, 'shard_worker', 'shardsStarted')) - startedBefore;
    // The copies really ran (the case under test), and yet every count above is exact.
    expect(secondStarted).toBeGreaterThan(0);
    expect(secondStarted + firstStarted).toBeGreaterThan(4);
    const results = (
      await client().get<{ results: unknown[] }>(`/runs/${run.id}/results?limit=100`)
    ).body.results;
    expect(results).toHaveLength(8);
  });
});
