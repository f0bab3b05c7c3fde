import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createRunStore, migrate, openPostgres, type RunStore } from '@x/run-store';
import type { NodeProcess, TestDatabase, TestRedis } from '@x/testkit';
import { postgres, spawnNode, startRedis, uniqueName } from '@x/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/replica.ts', import.meta.url));
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let pg: TestDatabase;
let db: ReturnType<typeof openPostgres>;
let store: RunStore;

beforeAll(async () => {
  pg = await postgres('run_abort_xp');
  db = openPostgres(pg.url, { max: 2 });
  await migrate(db);
  store = createRunStore(db);
});
afterAll(async () => {
  await db?.destroy();
  await pg?.close();
});

const newRun = async (shards: number) => {
  const shardList = Array.from({ length: shards }, (_, i) => ({ testIds: [`t${i}`] }));
  const run = await store.createRun({ workspaceId: 'ws', executor: 'demo', shards: shardList });
  expect((await store.transition(run.id, ['queued'], 'running')).won).toBe(true);
  return run.id;
};

const spawnReplicas = (redis: TestRedis, prefix: string, sweepMs: number) =>
  Promise.all(
    [0, 1, 2].map(() =>
      // Generous: tsx start-up takes seconds when other test suites load the 2 cores.
      spawnNode(
        fixture,
        { REDIS_URL: redis.url, DATABASE_URL: pg.url, X_PREFIX: prefix, SWEEP_MS: String(sweepMs) },
        { readyTimeoutMs: 90_000 },
      ),
    ),
  );

const stopAll = async (procs: NodeProcess[]) => {
  await Promise.all(procs.map((p) => p.kill('SIGTERM')));
};

const lineAt = (line: string) => Number(/ at=([\d.]+)/.exec(line)?.[1]);
const abortedLines = (p: NodeProcess, runId: string) =>
  p.lines.filter((l) => l.startsWith(`ABORTED run=${runId} `));
let metricsTag = 0;
const metricsOf = async (p: NodeProcess) => {
  const tag = `m${++metricsTag}`;
  p.send(`metrics ${tag}`);
  const line = await p.waitForLine(new RegExp(`^METRICS ${tag} `));
  return JSON.parse(line.slice(`METRICS ${tag} `.length)) as {
    aborter: Record<string, number>;
    bus: { publishErrors: number; dropped: Record<string, number> };
  };
};
const abortResult = async (p: NodeProcess, runId: string) => {
  const line = await p.waitForLine(new RegExp(`^ABORT_RESULT run=${runId} `));
  return JSON.parse(line.slice(`ABORT_RESULT run=${runId} `.length)) as Record<string, unknown>;
};
const start = async (p: NodeProcess, runId: string, indices: number[]) => {
  p.send(`start ${runId} ${indices.join(' ')}`);
  for (const i of indices)
    await p.waitForLine(new RegExp(`^(STARTED|REFUSED) run=${runId} shard=${i}\\b`));
};

describe('three replicas on one Redis', () => {
  let redis: TestRedis;
  let procs: NodeProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    procs = await spawnReplicas(redis, uniqueName('abort'), 5_000);
  }, 120_000);
  afterAll(async () => {
    await stopAll(procs);
    await redis?.close();
  });

  it('an abort on one replica stops every shard on all three; the publisher cancels its own shards once, by the fast path', async () => {
    const [p1, p2, p3] = procs as [NodeProcess, NodeProcess, NodeProcess];
    const runId = await newRun(6);
    await start(p1, runId, [0, 1]);
    await start(p2, runId, [2, 3]);
    await start(p3, runId, [4, 5]);

    p1.send(`abort ${runId} user clicked abort`);
    const result = await abortResult(p1, runId);
    expect(result).toEqual({
      aborted: true,
      won: true,
      status: 'aborted',
      localShards: 2,
      run: expect.objectContaining({ id: runId, status: 'aborted' }),
    });
    for (const [p, shard] of [
      [p1, 0],
      [p1, 1],
      [p2, 2],
      [p2, 3],
      [p3, 4],
      [p3, 5],
    ] as const) {
      await p.waitForLine(
        new RegExp(`^ABORTED run=${runId} shard=${shard} code=run_aborted`),
        10_000,
      );
    }
    // Give a duplicate (own echo, double dispatch) time to show up before counting.
    await sleep(300);
    for (const p of procs) expect(abortedLines(p, runId)).toHaveLength(2);

    const m1 = await metricsOf(p1);
    expect(m1.aborter).toMatchObject({
      localShardsAborted: 2,
      published: 1,
      received: 0,
    });
    // The bus kept p1's aborter from hearing its own publish.
    expect(m1.bus).toMatchObject({ ownSkipped: 1 });
    for (const p of [p2, p3]) {
      const m = await metricsOf(p);
      expect(m.aborter).toMatchObject({
        received: 1,
        receivedShardsAborted: 2,
        localShardsAborted: 0,
      });
    }
    const run = await store.getRunById(runId);
    expect(run).toMatchObject({ status: 'aborted', error: 'user clicked abort' });
  });

  it('a shard registered after its run was aborted is refused at start, whether or not its replica heard the abort', async () => {
    const [p1, p2] = procs as [NodeProcess, NodeProcess, NodeProcess];
    // Heard on the wire: p2 remembers the abort and cancels the late shard on registration.
    const heard = await newRun(2);
    p1.send(`abort ${heard} abort before the late shard`);
    expect(await abortResult(p1, heard)).toMatchObject({ aborted: true, won: true });
    await sleep(200);
    await start(p2, heard, [1]);
    await p2.waitForLine(new RegExp(`^REFUSED run=${heard} shard=1 code=run_aborted`), 10_000);
    await p2.waitForLine(new RegExp(`^ABORTED run=${heard} shard=1`), 10_000);

    // Never heard (written straight to the database, no message): the status check refuses it.
    const silent = await newRun(2);
    expect(
      await store.transition(silent, ['queued', 'running'], 'aborted', { error: 'db only' }),
    ).toMatchObject({ won: true });
    await start(p2, silent, [0]);
    await p2.waitForLine(new RegExp(`^REFUSED run=${silent} shard=0 code=run_aborted`), 10_000);

    const finished = await newRun(1);
    await store.transition(finished, ['running'], 'completed');
    await start(p2, finished, [0]);
    await p2.waitForLine(new RegExp(`^REFUSED run=${finished} shard=0 code=run_finished`), 10_000);

    await start(p2, randomUUID(), [0]);
    await p2.waitForLine(/^REFUSED run=\S+ shard=0 code=run_not_found/, 10_000);
  });

  it('an abort that lost to completion aborts nothing and tells the caller the status', async () => {
    const [p1, p2] = procs as [NodeProcess, NodeProcess, NodeProcess];
    const runId = await newRun(2);
    await start(p2, runId, [0]);
    await store.transition(runId, ['running'], 'completed');
    p1.send(`abort ${runId} too late`);
    const result = await abortResult(p1, runId);
    expect(result).toEqual({ aborted: false, won: false, status: 'completed', localShards: 0 });
    await sleep(300);
    expect(abortedLines(p2, runId)).toHaveLength(0);
  });
});

describe('an abort during a Redis outage', () => {
  it('reaches the remote shards after Redis comes back, within reconnect time plus one database round trip', async () => {
    const redis = await startRedis();
    // A one-minute sweep: only the reconcile on reconnect can deliver the abort in time.
    const procs = await spawnReplicas(redis, uniqueName('outage'), 60_000);
    const [p1, p2, p3] = procs as [NodeProcess, NodeProcess, NodeProcess];
    try {
      const runId = await newRun(3);
      await start(p1, runId, [0]);
      await start(p2, runId, [1]);
      await start(p3, runId, [2]);

      await redis.stop();
      for (const p of procs) await p.waitForLine(/^STATE reconnecting/, 10_000);
      p1.send(`abort ${runId} aborted during the outage`);
      expect(await abortResult(p1, runId)).toMatchObject({ aborted: true, won: true });
      await p1.waitForLine(new RegExp(`^ABORTED run=${runId} shard=0`), 10_000);
      // The message is lost: nothing reaches the other replicas while Redis is down.
      await sleep(500);
      expect(abortedLines(p2, runId)).toHaveLength(0);
      expect(abortedLines(p3, runId)).toHaveLength(0);
      expect((await metricsOf(p1)).aborter.publishedWhileDisconnected).toBe(1);

      await redis.restart();
      const restartedAt = now();
      for (const [p, shard] of [
        [p2, 1],
        [p3, 2],
      ] as const) {
        const aborted = await p.waitForLine(
          new RegExp(`^ABORTED run=${runId} shard=${shard}`),
          15_000,
        );
        const reconnected = await p.waitForLine(/^RECONNECTED /);
        // Documented bound: reconnect (backoff ceiling 1 s here, +20 % jitter) + one DB round
        // trip (allowed 2 s on a loaded machine). The 60 s sweep cannot have done it.
        expect(lineAt(aborted) - lineAt(reconnected)).toBeLessThan(2_000);
        expect(lineAt(aborted) - restartedAt).toBeLessThan(1_200 + 2_000);
        expect((await metricsOf(p)).aborter.reconcileShardsAborted).toBe(1);
      }
    } finally {
      await stopAll(procs);
      await redis.close();
    }
  }, 150_000);
});
