import { fileURLToPath } from 'node:url';
import type { NodeProcess, TestDatabase, TestRedis } from '@x/testkit';
import { postgres, spawnNode, startRedis, uniqueName, waitFor } from '@x/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CallbackReceiver, callbackReceiver } from './callback-receiver.js';
import { createStack, type Stack } from './fixtures/stack.js';
import { eventsOf, sleep } from './helpers.js';

const WORKER = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));

let redis: TestRedis;
let db: TestDatabase;
let rx: CallbackReceiver;
const children: NodeProcess[] = [];
const stacks: Stack[] = [];

beforeAll(async () => {
  [redis, db, rx] = await Promise.all([
    startRedis(),
    postgres('shard-worker-cb-crash'),
    callbackReceiver(),
  ]);
});
afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.kill('SIGKILL')));
  await Promise.all(stacks.splice(0).map((s) => s.close()));
  rx.reply = () => 204;
});
afterAll(async () => {
  await rx.close();
  await db.close();
  await redis.close();
});

async function client(prefix: string) {
  const s = await createStack({
    databaseUrl: db.url,
    redisUrl: redis.url,
    prefix,
    worker: false,
    allowedHosts: [rx.host],
  });
  stacks.push(s);
  return s;
}

async function worker(prefix: string, env: Record<string, string> = {}) {
  const child = await spawnNode(
    WORKER,
    {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      X_PREFIX: prefix,
      ALLOWED_HOSTS: rx.host,
      // A killed worker's shard job comes back quickly; the survivors' sweeps run often.
      LOCK_MS: '2000',
      STALLED_MS: '1000',
      OUTBOX_INTERVAL_MS: '200',
      ...env,
    },
    { readyTimeoutMs: 60_000 },
  );
  children.push(child);
  return child;
}

const enqueue = (s: Stack, shards = 1) =>
  s.coordinator.enqueueRun({
    workspaceId: 'ws',
    executor: 'demo',
    callbackUrl: rx.url,
    shards,
    tests: Array.from({ length: 2 * shards }, (_, i) => ({
      name: `t${i}`,
      durationMs: 0,
      outcome: i === 0 ? ('fail' as const) : ('pass' as const),
    })),
  });

async function doneEvents(s: Stack, runId: string) {
  return (await eventsOf(s.log, runId)).filter((e) => e.type === 'done').length;
}

describe('durable callbacks across worker crashes (real processes)', () => {
  it('a finalizer SIGKILLed after writing completed, before its POST: another worker’s sweep sends the callback once', async () => {
    const prefix = uniqueName('swcb');
    const c = await client(prefix);
    const victim = await worker(prefix, { KILL_BEFORE_CALLBACK: '1' });
    const run = await enqueue(c);
    await victim.exited;
    expect(await c.store.getRunById(run.id)).toMatchObject({ status: 'completed', failed: 1 });
    expect(await c.store.getCallback(run.id)).toMatchObject({ state: 'pending', attempts: 0 });
    expect(await doneEvents(c, run.id)).toBe(1);
    expect(rx.of(run.id)).toHaveLength(0);

    await worker(prefix, { OUTBOX_GRACE_MS: '500' });
    await waitFor(async () => (await c.store.getCallback(run.id))?.state === 'sent', {
      what: 'callback sent by the survivor',
      timeoutMs: 20_000,
    });
    await sleep(500);
    expect(rx.of(run.id)).toHaveLength(1);
    expect(rx.of(run.id)).toMatchObject([
      {
        runId: run.id,
        idempotencyKey: run.id,
        xRunId: run.id,
        body: { runId: run.id, status: 'completed', passed: 1, failed: 1, total: 2, error: null },
      },
    ]);
    expect(await c.store.getCallback(run.id)).toMatchObject({ attempts: 1 });
    // The survivor's redelivered shard finds `done` in the history and announces nothing.
    expect(await doneEvents(c, run.id)).toBe(1);
  });

  it('a finalizer SIGKILLed with its POST in flight: the sweep resends after the lease with the same Idempotency-Key', async () => {
    const prefix = uniqueName('swcb');
    const c = await client(prefix);
    const victim = await worker(prefix);
    const run = await enqueue(c, 2);
    // The receiver holds the first POST open: the finalizer is now inside its delivery.
    rx.reply = (id, n) => (id === run.id && n === 1 ? 'hold' : 204);
    await waitFor(() => rx.of(run.id).length === 1, { what: 'first POST', timeoutMs: 20_000 });
    await victim.kill('SIGKILL');
    expect(await c.store.getCallback(run.id)).toMatchObject({ state: 'sending', attempts: 1 });

    await worker(prefix, { OUTBOX_LEASE_MS: '1500' });
    await waitFor(async () => (await c.store.getCallback(run.id))?.state === 'sent', {
      what: 'callback resent after the lease',
      timeoutMs: 20_000,
    });
    const seen = rx.of(run.id);
    expect(seen).toHaveLength(2);
    expect(seen.map((r) => r.idempotencyKey)).toEqual([run.id, run.id]);
    expect(seen[1]?.body).toEqual(seen[0]?.body);
    expect(await c.store.getCallback(run.id)).toMatchObject({ attempts: 2 });
    expect(await doneEvents(c, run.id)).toBe(1);
  });

  it('normal runs on two workers whose sweeps race the finalizers (no grace): exactly one callback each', async () => {
    const prefix = uniqueName('swcb');
    const c = await client(prefix);
    const env = { CONCURRENCY: '8', OUTBOX_GRACE_MS: '0', OUTBOX_INTERVAL_MS: '20' };
    await Promise.all([worker(prefix, env), worker(prefix, env)]);
    const runs = await Promise.all(Array.from({ length: 30 }, () => enqueue(c, 3)));
    await waitFor(
      async () => {
        const states = await Promise.all(runs.map((r) => c.store.getCallback(r.id)));
        return states.every((s) => s?.state === 'sent');
      },
      { what: 'every callback sent', timeoutMs: 40_000 },
    );
    await sleep(500);
    for (const run of runs) {
      const seen = rx.of(run.id);
      expect(seen, run.id).toHaveLength(1);
      expect(seen[0]?.idempotencyKey).toBe(run.id);
      expect(await c.store.getCallback(run.id)).toMatchObject({ attempts: 1 });
      expect(await doneEvents(c, run.id)).toBe(1);
    }
  });
});
