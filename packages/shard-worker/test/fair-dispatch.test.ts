import { fileURLToPath } from 'node:url';
import type { Run } from '@x/run-store';
import type { NodeProcess, TestDatabase, TestRedis } from '@x/testkit';
import { postgres, spawnNode, startRedis, uniqueName, waitFor } from '@x/testkit';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DemoTest } from '../src/index.js';
import { createStack, type Stack, type StackOptions } from './fixtures/stack.js';
import { sleep } from './helpers.js';

// Fair dispatch with real worker processes: a flooded workspace keeps at most its window in
// the queue, so another workspace's run goes through while the flood still runs; caps hold
// through a worker's SIGKILL; an abort frees the share at once.

const WORKER = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));

let redis: TestRedis;
let db: TestDatabase;
let sql: pg.Pool;
const children: NodeProcess[] = [];
const stacks: Stack[] = [];

beforeAll(async () => {
  [redis, db] = await Promise.all([startRedis(), postgres('shard-worker-fair')]);
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.kill('SIGKILL')));
  await Promise.all(stacks.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await sql.end();
  await db.close();
  await redis.close();
});

const demo = (n: number, durationMs: number): DemoTest[] =>
  Array.from({ length: n }, (_, i) => ({ name: `t${i}`, durationMs }));

/** An api-like stack (no worker) and `workers` worker processes, all dispatching fairly. */
async function fleet(workers: number, fair: { window: number; cap?: number }, env = {}) {
  const prefix = uniqueName('fair');
  const client = await createStack({
    databaseUrl: db.url,
    redisUrl: redis.url,
    prefix,
    worker: false,
    fair: { window: fair.window, maxRunningShards: fair.cap ?? null },
  });
  stacks.push(client);
  const spawned = await Promise.all(
    Array.from({ length: workers }, () =>
      spawnNode(
        WORKER,
        {
          DATABASE_URL: db.url,
          REDIS_URL: redis.url,
          X_PREFIX: prefix,
          FAIR_WINDOW: String(fair.window),
          ...(fair.cap && { FAIR_CAP: String(fair.cap) }),
          ...env,
        },
        { readyTimeoutMs: 60_000 },
      ),
    ),
  );
  children.push(...spawned);
  return { client, workers: spawned };
}

async function submit(
  s: Stack,
  workspaceId: string,
  runs: number,
  shards: number,
  tests: DemoTest[],
) {
  const out: Run[] = [];
  for (let i = 0; i < runs; i++) {
    out.push(await s.coordinator.enqueueRun({ workspaceId, executor: 'demo', shards, tests }));
  }
  return out;
}

/** Shards of `workspaceId` released and not completed, of live runs: what its cap bounds. */
async function outstanding(workspaceId: string): Promise<number> {
  const { rows } = await sql.query<{ n: string }>(
    `select count(*) as n from run_shards s join runs r on r.id = s.run_id
     where r.workspace_id = $1 and r.status in ('queued', 'running')
       and s.released_at is not null and s.status <> 'completed'`,
    [workspaceId],
  );
  return Number(rows[0]!.n);
}

async function activeShards(worker: NodeProcess): Promise<number> {
  const before = worker.lines.length;
  worker.send('metrics');
  await waitFor(() => worker.lines.slice(before).some((l) => l.startsWith('METRICS ')), {
    what: 'metrics line',
  });
  const line = worker.lines.slice(before).find((l) => l.startsWith('METRICS '))!;
  return (JSON.parse(line.slice('METRICS '.length)) as { activeShards: number }).activeShards;
}

async function terminal(s: Stack, runs: readonly Run[]) {
  return (await s.store.terminalRuns(runs.map((r) => r.id))).length;
}

describe('fair dispatch across processes (BullMQ, Redis, PostgreSQL)', () => {
  it('a victim workspace’s run finishes while a flood of another workspace still runs, on two workers', async () => {
    const { client } = await fleet(2, { window: 4 }, { CONCURRENCY: '4' });
    const [a, b] = [uniqueName('flood'), uniqueName('victim')];
    // 40 runs x 4 shards of 2 x 100 ms: 160 shards, ~4 s on 8 slots.
    const flood = await submit(client, a, 40, 4, demo(8, 100));
    await waitFor(async () => (await outstanding(a)) > 0, { what: 'flood dispatched' });
    const [victim] = await submit(client, b, 1, 4, demo(4, 50));
    await waitFor(async () => (await client.store.getStatus(victim!.id)) === 'completed', {
      what: 'victim completed',
      timeoutMs: 30_000,
    });
    // FIFO would have run all 160 flood shards first; here most of the flood is still to do.
    const floodDone = await terminal(client, flood);
    expect(floodDone).toBeLessThan(flood.length / 2);
    await waitFor(async () => (await terminal(client, flood)) === flood.length, {
      what: 'flood completed',
      timeoutMs: 60_000,
    });
    for (const run of [...flood, victim!]) {
      const r = (await client.store.getRunById(run.id))!;
      expect(r).toMatchObject({ status: 'completed', shardsCompleted: 4, passed: r.total });
    }
  });

  it('a cap holds while a worker is SIGKILLed mid-shard; its shards come back and every run completes once', async () => {
    const env = { CONCURRENCY: '4', LOCK_MS: '2000', STALLED_MS: '1000' };
    const { client, workers } = await fleet(2, { window: 8, cap: 3 }, env);
    const a = uniqueName('capped');
    const runs = await submit(client, a, 8, 4, demo(4, 150));
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await outstanding(a));
        await sleep(20);
      }
    })();
    // The victim is a worker running shards of the capped workspace right now.
    let victim: NodeProcess | undefined;
    await waitFor(
      async () => {
        for (const w of workers) if ((await activeShards(w)) > 0) victim = w;
        return victim !== undefined;
      },
      { what: 'a worker with shards in flight' },
    );
    await victim!.kill('SIGKILL');
    await waitFor(async () => (await terminal(client, runs)) === runs.length, {
      what: 'every run terminal after the kill',
      timeoutMs: 60_000,
    });
    sampling = false;
    await sampler;
    expect(peak).toBe(3);
    for (const run of runs) {
      const r = (await client.store.getRunById(run.id))!;
      expect(r).toMatchObject({ status: 'completed', shardsCompleted: 4, passed: 4, total: 4 });
    }
  });

  it('aborting a capped workspace’s run frees its share at once: the next run starts', async () => {
    const { client } = await fleet(1, { window: 8, cap: 2 }, { CONCURRENCY: '4' });
    const a = uniqueName('abort');
    const [long] = await submit(client, a, 1, 2, demo(2, 30_000));
    const [next] = await submit(client, a, 1, 2, demo(2, 50));
    await waitFor(async () => (await client.store.getStatus(long!.id)) === 'running', {
      what: 'long run running',
    });
    await sleep(500);
    expect(await client.store.getStatus(next!.id)).toBe('queued');
    await client.abort.abortRun(long!.id, { requestedBy: 'test' });
    // Without the freed share the next run would wait out the 30 s shards.
    await waitFor(async () => (await client.store.getStatus(next!.id)) === 'completed', {
      what: 'next run completed',
      timeoutMs: 10_000,
    });
    expect(await client.store.getStatus(long!.id)).toBe('aborted');
  });
});

describe('fair dispatch in one process (embedded: memory queue)', () => {
  it('a victim run goes through a flood of another workspace', async () => {
    const opts: StackOptions = {
      databaseUrl: db.url,
      prefix: uniqueName('emb'),
      concurrency: 4,
      fair: { window: 2, intervalMs: 100 },
    };
    const s = await createStack(opts);
    stacks.push(s);
    const flood = await submit(s, uniqueName('flood'), 30, 4, demo(4, 50));
    const [victim] = await submit(s, uniqueName('victim'), 1, 2, demo(2, 10));
    await waitFor(async () => (await s.store.getStatus(victim!.id)) === 'completed', {
      what: 'victim completed',
      timeoutMs: 30_000,
    });
    expect(await terminal(s, flood)).toBeLessThan(flood.length / 2);
    await waitFor(async () => (await terminal(s, flood)) === flood.length, {
      what: 'flood completed',
      timeoutMs: 60_000,
    });
    expect(s.dispatcher!.metrics().shardsReleased).toBeGreaterThanOrEqual(122);
    // A released shard's begin writes it running (its workspace's share counts that): never
    // answered by a sibling's.
    expect(s.worker!.metrics().beginsShared).toBe(0);
  });
});
