import { randomUUID } from 'node:crypto';
import {
  type Bus,
  createBus,
  encodeEnvelope,
  memoryTransport,
  type Transport,
} from '@x/pubsub-core';
import { createRunStore, migrate, openPostgres, type RunStore } from '@x/run-store';
import type { TestDatabase } from '@x/testkit';
import { postgres, uniqueName, waitFor } from '@x/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type AbortStore,
  createRunAborter,
  createShardRegistry,
  type RunAbortedError,
  type RunAborter,
  type ShardRegistry,
} from '../src/index.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The Redis side of one suite run: one server, or a cluster with sharded pub/sub. */
export interface AbortHarness {
  /** A fresh transport for one replica's bus, as the apps make it for this kind of Redis. */
  transport(): Transport;
  /** Publishes raw bytes on `channel` the way the transport would (PUBLISH or SPUBLISH). */
  publishRaw(channel: string, message: string): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * The run aborter's contract over Redis, run against one server (classic pub/sub) and a
 * Redis Cluster (sharded pub/sub): abort, subscriber and reconcile behave the same. Each test
 * has its own prefix; the file shares one database and one Redis.
 */
export function runAborterContract(name: string, start: () => Promise<AbortHarness>): void {
  describe(`run aborter (${name})`, () => {
    let redis: AbortHarness;
    let pg: TestDatabase;
    let db: ReturnType<typeof openPostgres>;
    let store: RunStore;
    const cleanups: (() => Promise<void>)[] = [];

    beforeAll(async () => {
      [redis, pg] = await Promise.all([start(), postgres('run_abort')]);
      db = openPostgres(pg.url, { max: 4 });
      await migrate(db);
      store = createRunStore(db);
    });
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });
    afterAll(async () => {
      await db?.destroy();
      await Promise.all([pg?.close(), redis?.close()]);
    });

    const newRun = async (status: 'queued' | 'running' = 'running') => {
      const run = await store.createRun({
        workspaceId: 'ws',
        executor: 'demo',
        shards: [{ testIds: ['a'] }, { testIds: ['b'] }],
      });
      if (status === 'running') await store.transition(run.id, ['queued'], 'running');
      return run.id;
    };

    interface Replica {
      bus: Bus;
      registry: ShardRegistry;
      aborter: RunAborter;
    }

    /** One replica: its own bus (own origin) on a shared prefix, its own registry and aborter. */
    const replica = (
      prefix: string,
      opts: { sweepIntervalMs?: number; bus?: Bus; store?: AbortStore } = {},
    ): Replica => {
      const bus = opts.bus ?? createBus({ transport: redis.transport(), prefix });
      const registry = createShardRegistry();
      const aborter = createRunAborter({
        bus,
        store: opts.store ?? store,
        registry,
        sweepIntervalMs: opts.sweepIntervalMs ?? 0,
      });
      cleanups.push(async () => {
        await aborter.close();
        await bus.close();
      });
      return { bus, registry, aborter };
    };

    const started = async (prefix: string, opts: { sweepIntervalMs?: number } = {}) => {
      const r = replica(prefix, opts);
      await r.bus.ready();
      await r.aborter.start();
      return r;
    };

    describe('abort', () => {
      it('writes the abort first, cancels local shards, and reaches another replica over Redis', async () => {
        const prefix = uniqueName('ra');
        const [a, b] = await Promise.all([started(prefix), started(prefix)]);
        const runId = await newRun();
        const local = new AbortController();
        const remote = new AbortController();
        a.registry.register(runId, 0, local);
        b.registry.register(runId, 1, remote);

        const result = await a.aborter.abort(runId, 'user clicked abort');
        expect(result).toEqual({
          aborted: true,
          won: true,
          status: 'aborted',
          localShards: 1,
          run: expect.objectContaining({ id: runId, status: 'aborted' }),
        });
        expect(local.signal.aborted).toBe(true);
        expect(await store.getStatus(runId)).toBe('aborted');
        await waitFor(() => remote.signal.aborted, {
          timeoutMs: 10_000,
          what: 'remote shard aborted',
        });
        expect((remote.signal.reason as RunAbortedError).message).toBe('user clicked abort');
        expect(a.aborter.metrics()).toMatchObject({
          abortsWon: 1,
          published: 1,
          received: 0,
        });
        // The bus kept the aborter's own publish from it (its fast path already ran).
        expect(a.bus.metrics().ownSkipped).toBe(1);
        expect(b.aborter.metrics()).toMatchObject({ received: 1, receivedShardsAborted: 1 });
      });

      it('leaves a run that already completed alone, tells the caller, and publishes nothing', async () => {
        const prefix = uniqueName('ra');
        const [a, b] = await Promise.all([started(prefix), started(prefix)]);
        const runId = await newRun();
        const local = new AbortController();
        const remote = new AbortController();
        a.registry.register(runId, 0, local);
        b.registry.register(runId, 1, remote);
        await store.transition(runId, ['running'], 'completed');

        expect(await a.aborter.abort(runId, 'too late')).toEqual({
          aborted: false,
          won: false,
          status: 'completed',
          localShards: 0,
        });
        await sleep(200);
        expect(local.signal.aborted).toBe(false);
        expect(remote.signal.aborted).toBe(false);
        expect(a.aborter.metrics()).toMatchObject({ abortsLost: 1, published: 0 });
        expect(await store.getStatus(runId)).toBe('completed');
      });

      it('is idempotent: aborting an aborted run publishes again (a retry of a lost publish)', async () => {
        const prefix = uniqueName('ra');
        const [a, b] = await Promise.all([started(prefix), started(prefix)]);
        const runId = await newRun('queued');
        expect(await a.aborter.abort(runId, 'first')).toMatchObject({ aborted: true, won: true });
        expect(await a.aborter.abort(runId, 'second')).toMatchObject({
          aborted: true,
          won: false,
          status: 'aborted',
        });
        await waitFor(() => b.aborter.metrics().received === 2, {
          timeoutMs: 10_000,
          what: 'both publishes received',
        });
        expect(a.aborter.metrics()).toMatchObject({
          abortsWon: 1,
          abortsRepeated: 1,
          published: 2,
        });
        expect((await store.getRunById(runId))?.error).toBe('first');
      });

      it('refuses a non-UUID run id and clips a long reason to 500 characters', async () => {
        const a = await started(uniqueName('ra'));
        await expect(a.aborter.abort('not-a-uuid', 'x')).rejects.toMatchObject({
          name: 'RunAbortedError',
          code: 'run_not_found',
        });
        const runId = await newRun();
        await a.aborter.abort(runId, 'r'.repeat(2_000));
        expect((await store.getRunById(runId))?.error).toHaveLength(500);
        expect(a.bus.metrics().publishRejected).toBe(0);
      });

      it('with the memory transport stays in-process: local shards, and other aborters on the same hub', async () => {
        const hub = memoryTransport();
        const a = replica('mem', { bus: createBus({ transport: hub, prefix: 'mem' }) });
        const b = replica('mem', { bus: createBus({ transport: hub, prefix: 'mem' }) });
        await Promise.all([a.aborter.start(), b.aborter.start()]);
        const runId = await newRun();
        const mine = new AbortController();
        const sibling = new AbortController();
        a.registry.register(runId, 0, mine);
        b.registry.register(runId, 1, sibling);
        await a.aborter.abort(runId, 'embedded abort');
        expect(mine.signal.aborted).toBe(true);
        await waitFor(() => sibling.signal.aborted, { timeoutMs: 10_000, what: 'sibling aborted' });
        expect(a.aborter.metrics()).toMatchObject({ received: 0 });
        expect(a.bus.metrics().ownSkipped).toBe(1);
      });
    });

    describe('the subscriber', () => {
      it('isolates a throwing cancel function and keeps handling later aborts', async () => {
        const prefix = uniqueName('ra');
        const [a, b] = await Promise.all([started(prefix), started(prefix)]);
        const [run1, run2] = await Promise.all([newRun(), newRun()]);
        const sibling = new AbortController();
        const later = new AbortController();
        b.registry.register(run1, 0, () => {
          throw new Error('cancel exploded');
        });
        b.registry.register(run1, 1, sibling);
        b.registry.register(run2, 0, later);
        await a.aborter.abort(run1, 'one');
        await a.aborter.abort(run2, 'two');
        await waitFor(() => later.signal.aborted, {
          timeoutMs: 10_000,
          what: 'second abort handled',
        });
        expect(sibling.signal.aborted).toBe(true);
        expect(b.aborter.metrics()).toMatchObject({
          received: 2,
          cancelErrors: 1,
          handlerErrors: 0,
        });
      });

      it('subscribing twice (concurrently and again later) dispatches each message once', async () => {
        const prefix = uniqueName('ra');
        const a = await started(prefix);
        const b = replica(prefix);
        await b.bus.ready();
        await Promise.all([b.aborter.start(), b.aborter.start()]);
        await b.aborter.start();
        await a.aborter.abort(await newRun(), 'once');
        await waitFor(() => b.aborter.metrics().received >= 1, {
          timeoutMs: 10_000,
          what: 'abort received',
        });
        await sleep(200);
        expect(b.aborter.metrics().received).toBe(1);
        expect(b.bus.metrics().delivered).toBe(1);
      });

      it('a retry after a subscribe that failed with its listener attached never dispatches twice', async () => {
        const prefix = uniqueName('ra');
        const a = await started(prefix);
        const realBus = createBus({ transport: redis.transport(), prefix });
        await realBus.ready();
        // The Sentri trap: SUBSCRIBE reported failure, yet the listener stayed attached.
        let failNext = true;
        const flakyBus: Bus = Object.create(realBus, {
          channel: {
            value: (...args: Parameters<Bus['channel']>) => {
              const channel = realBus.channel(...args);
              return Object.create(channel, {
                subscribe: {
                  value: async (listener: Parameters<typeof channel.subscribe>[0]) => {
                    const sub = await channel.subscribe(listener);
                    if (!failNext) return sub;
                    failNext = false;
                    throw new Error('subscribe failed after attaching the listener');
                  },
                },
              });
            },
          },
        });
        const b = replica(prefix, { bus: flakyBus });
        cleanups.push(() => realBus.close());
        await expect(b.aborter.start()).rejects.toThrow(/subscribe failed/);
        await b.aborter.start();
        const remote = new AbortController();
        const runId = await newRun();
        b.registry.register(runId, 0, remote);
        await a.aborter.abort(runId, 'after retry');
        await waitFor(() => remote.signal.aborted, {
          timeoutMs: 10_000,
          what: 'remote shard aborted',
        });
        await sleep(100);
        expect(b.aborter.metrics()).toMatchObject({
          received: 1,
          staleDispatchesDropped: 1,
          subscribeErrors: 1,
        });
      });

      it('drops an abort message whose payload breaks the channel schema, and still handles valid ones', async () => {
        const prefix = uniqueName('ra');
        const [a, b] = await Promise.all([started(prefix), started(prefix)]);
        const channel = `${prefix}:run-abort`;
        const send = (payload: unknown) =>
          redis.publishRaw(
            channel,
            encodeEnvelope({ v: 1, origin: a.bus.origin, channel, ts: Date.now(), payload }),
          );
        await send({ runId: 'not-a-uuid', reason: 'x' });
        await send({ runId: randomUUID(), reason: 'r'.repeat(501) });
        await redis.publishRaw(channel, '{not json');
        const runId = await newRun();
        const remote = new AbortController();
        b.registry.register(runId, 0, remote);
        await a.aborter.abort(runId, 'valid');
        await waitFor(() => remote.signal.aborted, {
          timeoutMs: 10_000,
          what: 'valid abort handled',
        });
        expect(b.bus.metrics().dropped).toMatchObject({ schema: 2, malformed: 1 });
        expect(b.aborter.metrics().received).toBe(1);
      });
    });

    describe('reconcile', () => {
      it('the periodic sweep cancels shards whose run became terminal without a message', async () => {
        const b = await started(uniqueName('ra'), { sweepIntervalMs: 150 });
        const runId = await newRun();
        const shard = new AbortController();
        b.registry.register(runId, 0, shard);
        const t0 = performance.now();
        // Written straight to the database: the abort message is "lost".
        await store.transition(runId, ['running'], 'aborted', { error: 'lost on the wire' });
        await waitFor(() => shard.signal.aborted, {
          timeoutMs: 10_000,
          what: 'sweep cancelled the shard',
        });
        expect(performance.now() - t0).toBeLessThan(150 + 3_000);
        expect(b.aborter.metrics().reconcileShardsAborted).toBe(1);
      });

      it('reconciles on start, and an explicit reconcile cancels only terminal runs', async () => {
        const b = replica(uniqueName('ra'));
        const [dead, live, done] = await Promise.all([newRun(), newRun(), newRun()]);
        await store.transition(dead, ['running'], 'aborted', { error: 'before start' });
        const deadShard = new AbortController();
        const liveShard = new AbortController();
        b.registry.register(dead, 0, deadShard);
        b.registry.register(live, 0, liveShard);
        await b.bus.ready();
        await b.aborter.start();
        expect(deadShard.signal.aborted).toBe(true);
        expect(liveShard.signal.aborted).toBe(false);

        const doneShard = new AbortController();
        b.registry.register(done, 1, doneShard);
        await store.transition(done, ['running'], 'completed');
        expect(await b.aborter.reconcile()).toBe(1);
        expect((doneShard.signal.reason as RunAbortedError).code).toBe('run_finished');
        expect(liveShard.signal.aborted).toBe(false);
      });

      it('counts a failing store during a sweep and keeps sweeping', async () => {
        let fail = true;
        const flaky: AbortStore = {
          transition: (...args) => store.transition(...args),
          getStatus: (runId) => store.getStatus(runId),
          terminalRuns: async (ids) => {
            if (fail) throw new Error('database unreachable');
            return store.terminalRuns(ids);
          },
        };
        const b = replica(uniqueName('ra'), { sweepIntervalMs: 100, store: flaky });
        await b.bus.ready();
        await b.aborter.start();
        const runId = await newRun();
        const shard = new AbortController();
        b.registry.register(runId, 0, shard);
        await store.transition(runId, ['running'], 'failed', { error: 'x' });
        await waitFor(() => b.aborter.metrics().reconcileErrors >= 2, {
          timeoutMs: 10_000,
          what: 'failed sweeps counted',
        });
        fail = false;
        await waitFor(() => shard.signal.aborted, { timeoutMs: 10_000, what: 'sweep recovered' });
      });
    });
  });
}
