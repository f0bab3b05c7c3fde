import type { TestDatabase, TestRedis } from '@x/testkit';
import { postgres, startRedis, uniqueName, waitFor } from '@x/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoTests, type RunBody } from './support/api-client.js';
import { type CallbackReceiver, callbackReceiver } from './support/callback-receiver.js';
import {
  type ApiProcess,
  activeShards,
  FLEET_TOKEN,
  type Fleet,
  type FleetEnv,
  startFleet,
  startWorkerProcess,
  statOf,
  type WorkerProcess,
  waitActive,
} from './support/fleet.js';
import { createRun, fleetClient, history, waitTerminal, watch } from './support/fleet-runs.js';

let redis: TestRedis;
let db: TestDatabase;
let env: FleetEnv;
let receiver: CallbackReceiver;
/** Every process may call the test's loopback callback receiver. */
let extra: Record<string, string>;
let apiA: ApiProcess;
let apiB: ApiProcess;
let workers: WorkerProcess[] = [];
let fleet: Fleet | undefined;

const client = fleetClient;

beforeAll(async () => {
  [redis, db, receiver] = await Promise.all([startRedis(), postgres('e2e'), callbackReceiver()]);
  extra = { CALLBACK_ALLOWED_HOSTS: receiver.host };
  env = {
    REDIS_URL: redis.url,
    DATABASE_URL: db.url,
    X_PREFIX: uniqueName('e2e'),
  };
  fleet = await startFleet(env, extra);
  [apiA, apiB] = fleet.apis;
  workers = fleet.workers;
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  await redis?.close();
  await db?.close();
  await receiver?.close();
}, 60_000);

describe('two api replicas, two workers, Redis + PostgreSQL', () => {
  it('a run created on api A and watched through api B completes with exact counts', async () => {
    const run = await createRun(apiA, { executor: 'demo', tests: demoTests(40, 20, 5), shards: 4 });
    const stream = await watch(apiB, run.id, 0);
    const done = await stream.waitFor((f) => f.data.type === 'done', 60_000);
    expect(done.data).toMatchObject({ status: 'completed', passed: 32, failed: 8, total: 40 });
    await stream.ended;
    const ids = stream.frames.filter((f) => f.id !== null).map((f) => f.id);
    expect(ids).toEqual(ids.map((_, i) => i + 1));
    expect(stream.frames.filter((f) => f.data.type === 'result')).toHaveLength(40);
    const stored = (await client(apiB).get<{ run: RunBody }>(`/runs/${run.id}`)).body.run;
    expect(stored).toMatchObject({
      status: 'completed',
      passed: 32,
      failed: 8,
      shardsCompleted: 4,
    });
  });

  it('a run aborted through api B stops every shard on both workers', async () => {
    const run = await createRun(apiA, { executor: 'demo', tests: demoTests(16, 5_000), shards: 8 });
    const stream = await watch(apiA, run.id);
    await Promise.all(workers.map((w) => waitActive(w, 1)));
    const r = await client(apiB).post<{ run: RunBody }>(`/runs/${run.id}/abort`);
    expect(r.status).toBe(202);
    expect(r.body.run.status).toBe('aborted');
    const done = await stream.waitFor((f) => f.data.type === 'done', 10_000);
    expect(done.data.status).toBe('aborted');
    // Every shard sleeps 10 s in all; stopping within 3 s means they were cancelled.
    await waitFor(
      async () => (await Promise.all(workers.map(activeShards))).every((n) => n === 0),
      {
        timeoutMs: 3_000,
        what: 'both workers to drop their shards',
      },
    );
    expect((await client(apiB).post(`/runs/${run.id}/abort`)).status).toBe(202);
    const frames = await history(apiB, run.id);
    expect(frames.filter((f) => f.data.type === 'done')).toHaveLength(1);
  });

  it('an abort with a callbackUrl through api B: one done, and one callback, sent by a worker (an api replica sends none)', async () => {
    const sentByWorkers = async () =>
      (
        await Promise.all(workers.map((w) => statOf(w.metricsUrl, 'callback_outbox', 'sent')))
      ).reduce((sum, n) => sum + n, 0);
    const sentBefore = await sentByWorkers();
    const run = await createRun(apiA, {
      executor: 'demo',
      tests: demoTests(4, 5_000),
      shards: 2,
      callbackUrl: receiver.url,
    });
    const r = await client(apiB).post<{ run: RunBody }>(`/runs/${run.id}/abort`);
    expect(r.status).toBe(202);
    expect(r.body.run.status).toBe('aborted');
    // The stop job that follows the abort makes a worker send it at once (no sweep's grace).
    await waitFor(() => receiver.bodiesOf(run.id).length > 0, {
      timeoutMs: 4_000,
      what: 'the abort callback',
    });
    const frames = await history(apiA, run.id);
    expect(frames.filter((f) => f.data.type === 'done').map((f) => f.data.status)).toEqual([
      'aborted',
    ]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.bodiesOf(run.id)).toEqual([expect.objectContaining({ status: 'aborted' })]);
    expect((await sentByWorkers()) - sentBefore).toBe(1);
    for (const api of [apiA, apiB]) {
      expect(await statOf(`${api.url}/metrics`, 'callback', 'sent')).toBeNaN();
    }
    const unknown = await client(apiB).post('/runs/00000000-0000-4000-8000-00000000abcd/abort');
    expect(unknown.status).toBe(404);
  });

  it('finalizes every run exactly once when a worker is SIGKILLed mid-run', async () => {
    const runs = await Promise.all(
      [0, 1, 2].map(() =>
        createRun(apiA, { executor: 'demo', tests: demoTests(16, 400, 4), shards: 8 }),
      ),
    );
    const victim = workers[0]!;
    await waitActive(victim, 1);
    await victim.proc.kill('SIGKILL');
    workers[0] = await startWorkerProcess(env, extra);
    for (const run of runs) {
      const final = await waitTerminal(apiB, run.id, 60_000);
      expect(final).toMatchObject({
        status: 'completed',
        total: 16,
        passed: 12,
        failed: 4,
        shardsCompleted: 8,
      });
      const frames = await history(apiB, run.id);
      expect(frames.filter((f) => f.data.type === 'done')).toHaveLength(1);
    }
  });

  it('completes runs across a Redis kill and restart; a resuming client never sees an event twice', async () => {
    const run = await createRun(apiA, { executor: 'demo', tests: demoTests(16, 600), shards: 4 });
    const first = await watch(apiB, run.id, 0);
    await first.waitFor((f) => f.data.type === 'result', 20_000);
    await redis.kill();
    await new Promise((r) => setTimeout(r, 500));
    await redis.restart();
    first.close();
    const lastSeen = Math.max(0, ...first.frames.map((f) => f.id ?? 0));
    const final = await waitTerminal(apiA, run.id, 60_000);
    expect(final).toMatchObject({ status: 'completed', total: 16, passed: 16, failed: 0 });
    const resumed = await waitFor(
      async () => {
        const s = await watch(apiB, run.id, lastSeen);
        await s.ended;
        return s.frames.some((f) => f.data.type === 'done') ? s : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'a resumed stream that ends with done' },
    );
    const snapshot = resumed.frames[0]!;
    expect(snapshot.data.type).toBe('snapshot');
    const ids = resumed.frames.filter((f) => f.id !== null).map((f) => f.id!);
    if (snapshot.data.recovered !== false) {
      // History intact: exactly the events after lastSeen, in order, once each.
      expect(ids).toEqual(ids.map((_, i) => lastSeen + 1 + i));
    }
    expect(new Set(ids).size).toBe(ids.length);
    const done = resumed.frames.find((f) => f.data.type === 'done')!;
    expect(done.data).toMatchObject({ status: 'completed', passed: 16, failed: 0, total: 16 });
  });

  it('while Redis is down: an abort answers within seconds and stands, a stream open is a 200 with the snapshot and done', async () => {
    const run = await createRun(apiA, { executor: 'demo', tests: demoTests(8, 5_000), shards: 4 });
    // All 4 shards running, on either worker (one may take them all).
    await waitFor(
      async () => (await Promise.all(workers.map(activeShards))).reduce((a, b) => a + b, 0) >= 4,
      { timeoutMs: 20_000, what: 'the 4 shards running' },
    );
    await redis.kill();
    try {
      // Down for a while first: the clients' reconnect backoff has grown, as in a real outage.
      await new Promise((r) => setTimeout(r, 6_000));
      const started = Date.now();
      const r = await client(apiB).post<{ run: RunBody }>(`/runs/${run.id}/abort`);
      expect(r.status).toBe(202);
      expect(r.body.run.status).toBe('aborted');
      // The status write is PostgreSQL's; the Redis-side steps go on without holding the answer.
      expect(Date.now() - started).toBeLessThan(8_000);
      const stream = await fetch(`${apiB.url}/api/v1/runs/${run.id}/events`, {
        headers: { authorization: `Bearer ${FLEET_TOKEN}` },
        signal: AbortSignal.timeout(30_000),
      });
      // EventSource gives up for good on a non-200: the store's snapshot, then (the run is
      // finished) its done, then the end.
      expect(stream.status).toBe(200);
      const body = await stream.text();
      expect(body).toContain('"type":"snapshot"');
      expect(body).toContain('"status":"aborted"');
      expect(body).toContain('"type":"done"');
      expect(Date.now() - started).toBeLessThan(12_000);
    } finally {
      await redis.restart();
    }
    expect((await waitTerminal(apiA, run.id, 30_000)).status).toBe('aborted');
  }, 45_000);

  it('reports readiness and package counters on every replica', async () => {
    for (const api of [apiA, apiB]) {
      const ready = await waitFor(
        async () => {
          const r = await fetch(`${api.url}/readyz`);
          return r.status === 200 ? r.json() : undefined;
        },
        { timeoutMs: 20_000, what: 'readyz 200' },
      );
      expect(ready).toMatchObject({ ready: true, checks: { database: true, redis: true } });
      expect(await statOf(`${api.url}/metrics`, 'bus', 'published')).toBeGreaterThanOrEqual(0);
    }
    for (const w of workers) expect(await statOf(w.metricsUrl, 'stop_jobs', 'read')).not.toBeNaN();
  });
});
