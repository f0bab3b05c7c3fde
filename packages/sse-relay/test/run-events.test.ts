import { randomUUID } from 'node:crypto';
import {
  type Bus,
  createBus,
  memoryTransport,
  type RedisPubSubClient,
  redisTransport,
} from '@x/pubsub-core';
import {
  startRedis,
  startRedisCluster,
  type TestRedis,
  type TestRedisCluster,
  uniqueName,
  waitFor,
} from '@x/testkit';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRunEvents,
  type EventLog,
  type ListenEndReason,
  memoryEventLog,
  type RunEvent,
  type RunEventsError,
  redisEventLog,
} from '../src/index.js';
import { logEvent, withoutTtlStamp } from './helpers.js';

interface Backend {
  /** Two "processes": separate buses (and logs) sharing one transport hub / Redis. */
  /** Starts what the backend needs before its first `make()`. */
  setup?(): Promise<void>;
  make(): { bus: Bus; log: EventLog; close(): Promise<void> };
  numsub?(channel: string): Promise<number>;
}

let redis: TestRedis;
let admin: Redis;
beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
});
// The cluster (3 primaries + 3 replicas) starts when its suite first needs it.
let clusterStarted: Promise<TestRedisCluster> | undefined;
let cluster: TestRedisCluster;
afterAll(async () => {
  admin.disconnect();
  await redis.close();
  await (await clusterStarted)?.close();
});

const hub = memoryTransport();
const sharedMemoryLog = memoryEventLog();
const backends: Record<string, () => Backend> = {
  memory: () => ({
    make: () => ({
      bus: createBus({ transport: hub }),
      log: sharedMemoryLog,
      close: async () => {},
    }),
  }),
  redis: () => {
    const prefix = uniqueName('ev');
    return {
      make: () => {
        const client = new Redis(redis.url);
        const bus = createBus({ transport: redisTransport({ url: redis.url }), prefix });
        return {
          bus,
          log: redisEventLog({ redis: client, prefix }),
          close: async () => {
            await bus.close();
            client.disconnect();
          },
        };
      },
      numsub: async (channel) => {
        const reply = (await admin.call('PUBSUB', 'NUMSUB', `${prefix}:${channel}`)) as [
          string,
          number,
        ];
        return Number(reply[1]);
      },
    };
  },
  // As @x/app-kit builds it for REDIS_CLUSTER_NODES: a Cluster command client, sharded pub/sub
  // through Cluster clients, the log publishing with SPUBLISH. A script whose keys and channel
  // were not in one slot fails here (CROSSSLOT, or a non-local channel), so every test that
  // appends checks the naming.
  cluster: () => {
    const prefix = uniqueName('evc');
    return {
      setup: async () => {
        clusterStarted ??= startRedisCluster();
        cluster = await clusterStarted;
      },
      make: () => {
        const client = new Cluster(cluster.startupNodes);
        const transport = redisTransport({
          sharded: true,
          createClient: (role) =>
            new Cluster(cluster.startupNodes, {
              lazyConnect: true,
              shardedSubscribers: true,
              redisOptions: {
                connectionName: `x-pubsub-${role}`,
                autoResubscribe: false,
                maxRetriesPerRequest: 0,
              },
            }) as unknown as RedisPubSubClient,
        });
        const bus = createBus({ transport, prefix });
        return {
          bus,
          log: redisEventLog({ redis: client, prefix, sharded: true, epochPerPrimary: true }),
          close: async () => {
            await bus.close();
            client.disconnect();
          },
        };
      },
      numsub: async (channel) => {
        const name = `${prefix}:${channel}`;
        const owner = await cluster.primaryForKey(name);
        const direct = new Redis(owner.port, owner.host);
        try {
          const reply = (await direct.call('PUBSUB', 'SHARDNUMSUB', name)) as [string, number];
          return Number(reply[1]);
        } finally {
          direct.disconnect();
        }
      },
    };
  },
};

function collector() {
  const events: RunEvent[] = [];
  const ends: ListenEndReason[] = [];
  return {
    events,
    ends,
    listener: (e: RunEvent) => events.push(e),
    onEnd: (r: ListenEndReason) => ends.push(r),
  };
}

for (const [name, makeBackend] of Object.entries(backends)) {
  describe(`RunEvents on the ${name} log and bus`, () => {
    const backend = makeBackend();
    const open: Array<() => Promise<void>> = [];
    beforeAll(async () => {
      await backend.setup?.();
    }, 90_000);
    const node = async (
      opts: { historyLimit?: number; doneTtlMs?: number; gapTimeoutMs?: number } = {},
    ) => {
      const parts = backend.make();
      await parts.bus.ready();
      const events = createRunEvents({ bus: parts.bus, log: parts.log, ...opts });
      open.push(async () => {
        await events.close();
        await parts.close();
      });
      return { ...parts, events };
    };
    afterAll(async () => {
      for (const close of open) await close();
    });
    /** A run handed to the queue: its first epoch begun, so its ids start at 1. */
    const begun = async (n: { events: { begin(id: string): Promise<void> } }) => {
      const id = randomUUID();
      await n.events.begin(id);
      return id;
    };

    it('numbers a run 1, 2, 3 and delivers every event in order to a listener in another process', async () => {
      const a = await node();
      const b = await node();
      const runId = await begun(a);
      const got = collector();
      const handle = await b.events.listen(runId, null, got.listener, { onEnd: got.onEnd });
      handle.start();
      const seqs: number[] = [];
      for (let i = 0; i < 20; i++) seqs.push(await a.events.emit(runId, 'log', logEvent(`m${i}`)));
      expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      await waitFor(() => got.events.length === 20, { what: '20 events' });
      expect(got.events.map((e) => e.seq)).toEqual(seqs);
      expect(got.events[3]!.json).toBe(
        JSON.stringify({ type: 'log', runId, level: 'info', message: 'm3' }),
      );
      handle.close();
    });

    it('gives two emitters interleaving on one run a single order seen identically by every listener', async () => {
      const [a, b, c, d] = [await node(), await node(), await node(), await node()];
      const runId = await begun(a);
      const onC = collector();
      const onD = collector();
      (await c.events.listen(runId, null, onC.listener)).start();
      (await d.events.listen(runId, null, onD.listener)).start();
      await Promise.all(
        [a, b].map(async (n, k) => {
          for (let i = 0; i < 50; i++) void n.events.emit(runId, 'log', logEvent(`${k}-${i}`));
        }),
      );
      await waitFor(() => onC.events.length === 100 && onD.events.length === 100, {
        what: '100 events on both',
      });
      const expected = Array.from({ length: 100 }, (_, i) => i + 1);
      expect(onC.events.map((e) => e.seq)).toEqual(expected);
      expect(onD.events.map((e) => e.json)).toEqual(onC.events.map((e) => e.json));
    });

    it('replays exactly the events after afterSeq, then live, with nothing twice at the seam', async () => {
      const a = await node();
      const runId = await begun(a);
      for (let i = 1; i <= 10; i++) await a.events.emit(runId, 'log', logEvent(`m${i}`));
      const got = collector();
      const handle = await a.events.listen(runId, 6, got.listener);
      expect(handle.recovered).toBe(true);
      expect(handle.replay.map((e) => e.seq)).toEqual([7, 8, 9, 10]);
      await a.events.emit(runId, 'log', logEvent('m11'));
      expect(got.events).toEqual([]); // held until start()
      handle.start();
      await a.events.emit(runId, 'log', logEvent('m12'));
      await waitFor(() => got.events.length === 2);
      expect(got.events.map((e) => e.seq)).toEqual([11, 12]);
      handle.close();
    });

    it('refuses a partial replay: a resume beyond the history is recovered:false with nothing replayed', async () => {
      const a = await node({ historyLimit: 5 });
      const runId = await begun(a);
      for (let i = 1; i <= 12; i++) await a.events.emit(runId, 'log', logEvent(`m${i}`));
      const beyond = await a.events.listen(runId, 3, () => {});
      expect(beyond.recovered).toBe(false);
      expect(beyond.replay).toEqual([]);
      beyond.close();
      const within = await a.events.listen(runId, 7, () => {});
      expect(within.recovered).toBe(true);
      expect(within.replay.map((e) => e.seq)).toEqual([8, 9, 10, 11, 12]);
      within.close();
      const future = await a.events.listen(runId, 99, () => {});
      expect(future.recovered).toBe(false);
      future.close();
    });

    it('ends every listener on done and releases the subscription', async () => {
      const a = await node();
      const b = await node();
      const runId = await begun(a);
      const one = collector();
      const two = collector();
      (await b.events.listen(runId, null, one.listener, { onEnd: one.onEnd })).start();
      (await b.events.listen(runId, null, two.listener, { onEnd: two.onEnd })).start();
      if (backend.numsub) expect(await backend.numsub(`run:{${runId}}:events`)).toBe(1);
      await a.events.emit(runId, 'status', { status: 'running' });
      await a.events.emit(runId, 'done', {
        status: 'completed',
        passed: 1,
        failed: 0,
        total: 1,
        durationMs: 5,
      });
      await waitFor(() => one.ends.length === 1 && two.ends.length === 1, { what: 'both ended' });
      expect(one.ends).toEqual(['done']);
      expect(one.events.map((e) => e.type)).toEqual(['status', 'done']);
      expect(b.events.metrics()).toMatchObject({ listeners: 0, runs: 0 });
      if (backend.numsub)
        await waitFor(async () => (await backend.numsub!(`run:{${runId}}:events`)) === 0);
    });

    it('forgets a finished run doneTtlMs after its done', async () => {
      const a = await node({ doneTtlMs: 200 });
      const runId = await begun(a);
      await a.events.emit(runId, 'log', logEvent('x'));
      await a.events.emit(runId, 'done', {
        status: 'failed',
        passed: 0,
        failed: 1,
        total: 1,
        durationMs: 1,
      });
      expect((await a.events.lastEvent(runId))?.type).toBe('done');
      await waitFor(async () => (await a.events.lastEvent(runId)) === undefined, {
        what: 'history expiry',
      });
    });

    it('fills a lost publish from the history, keeping order', async () => {
      const a = await node({ gapTimeoutMs: 50 });
      const runId = await begun(a);
      const got = collector();
      (await a.events.listen(runId, null, got.listener)).start();
      await a.events.emit(runId, 'log', logEvent('1'));
      // A publish that never arrived (an append without publishing): seq 2 is only in the history.
      await a.log.appendMany(
        runId,
        [{ type: 'log', json: JSON.stringify({ type: 'log', runId, ...logEvent('2') }) }],
        {
          floor: 0,
          historyLimit: 100,
          ttlMs: 60_000,
        },
      );
      await a.events.emit(runId, 'log', logEvent('3'));
      await waitFor(() => got.events.length === 3, { what: 'gap filled' });
      expect(got.events.map((e) => e.data.message)).toEqual(['1', '2', '3']);
      expect(a.events.metrics().gapsFilled).toBeGreaterThanOrEqual(1);
    });

    it('emits a batch in one append: consecutive seqs, delivered in order after earlier events', async () => {
      const a = await node();
      const b = await node();
      const runId = await begun(a);
      const got = collector();
      const handle = await b.events.listen(runId, null, got.listener);
      handle.start();
      expect(await a.events.emit(runId, 'status', { status: 'running' })).toBe(1);
      const seqs = await a.events.emitMany(runId, [
        { type: 'shard', payload: { shardIndex: 0, state: 'started', attempt: 1 } },
        { type: 'log', payload: logEvent('in batch') },
        {
          type: 'progress',
          payload: { passed: 1, failed: 0, total: 2, shardsCompleted: 1, shardCount: 2 },
        },
      ]);
      expect(seqs).toEqual([2, 3, 4]);
      expect(await a.events.emit(runId, 'log', logEvent('after'))).toBe(5);
      await waitFor(() => got.events.length === 5, { what: '5 events' });
      expect(got.events.map((e) => `${e.seq}:${e.type}`)).toEqual([
        '1:status',
        '2:shard',
        '3:log',
        '4:progress',
        '5:log',
      ]);
      expect((await a.log.read(runId, 0, 10)).events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      handle.close();
    });

    it('refuses a whole batch when one event is invalid, writing nothing', async () => {
      const a = await node();
      const runId = await begun(a);
      const failure = await a.events
        .emitMany(runId, [
          { type: 'log', payload: logEvent('fine') },
          { type: 'progress', payload: { passed: -1 } as never },
        ])
        .catch((e: RunEventsError) => e.code);
      expect(failure).toBe('invalid_event');
      expect(await a.log.head(runId)).toMatchObject({ seq: 0, base: 0 });
    });

    it('drops and counts events emitted after done, in a later call or later in the same batch', async () => {
      const a = await node();
      const b = await node();
      const runId = await begun(a);
      const done = { status: 'completed' as const, passed: 1, failed: 0, total: 1, durationMs: 5 };
      const seqs = await a.events.emitMany(runId, [
        { type: 'status', payload: { status: 'running' } },
        { type: 'done', payload: done },
        { type: 'log', payload: logEvent('late in batch') },
      ]);
      expect(seqs).toEqual([1, 2, 0]);
      // Another process, with no local knowledge of the done, is refused by the log itself.
      expect(
        await b.events.emit(runId, 'shard', { shardIndex: 0, state: 'completed', attempt: 1 }),
      ).toBe(0);
      expect(await b.events.emitMany(runId, [{ type: 'done', payload: done }])).toEqual([0]);
      expect(a.events.metrics().droppedAfterDone).toBe(1);
      expect(b.events.metrics().droppedAfterDone).toBe(2);
      const history = (await a.log.read(runId, 0, 10)).events;
      expect(history.map((e) => e.type)).toEqual(['status', 'done']);
      expect((await a.events.lastEvent(runId))?.type).toBe('done');
    });

    it('refuses bad input with a code naming the problem', async () => {
      const a = await node();
      const runId = await begun(a);
      const codeOf = (p: Promise<unknown>) =>
        p.then(
          () => 'ok',
          (e: RunEventsError) => `${e.code}: ${e.message}`,
        );
      expect(await codeOf(a.events.emit('bad id!', 'log', logEvent('x')))).toMatch(
        /^invalid_run_id/,
      );
      // @ts-expect-error snapshot is produced by the router, never emitted
      expect(await codeOf(a.events.emit(runId, 'snapshot', {}))).toMatch(/^invalid_event: type/);
      expect(await codeOf(a.events.emit(runId, 'progress', { passed: -1 } as never))).toMatch(
        /^invalid_event: progress/,
      );
      expect(
        await codeOf(a.events.emit(runId, 'log', { ...logEvent('x'), runId: 'y' } as never)),
      ).toMatch(/"runId"/);
      expect(await codeOf(a.events.listen(runId, -1, () => {}))).toMatch(
        /^invalid_event: afterSeq/,
      );
      expect(a.events.metrics().emitted).toBe(0);
    });
  });
}

describe('the event log on a Redis Cluster', () => {
  it('starts a new epoch when another primary wrote the run’s counter (a failover), never reusing its seqs', async () => {
    clusterStarted ??= startRedisCluster();
    cluster = await clusterStarted;
    const client = new Cluster(cluster.startupNodes);
    const prefix = uniqueName('evf');
    const log = redisEventLog({ redis: client, prefix, publish: false, epochPerPrimary: true });
    const runId = randomUUID();
    const entry = {
      type: 'log' as const,
      json: JSON.stringify({ type: 'log', runId, ...logEvent('x') }),
    };
    const opts = { floor: 0, historyLimit: 100, ttlMs: 60_000 };
    await log.begin(runId, 60_000);
    const first = await log.appendMany(runId, [entry, entry], opts);
    expect(first.seqs).toEqual([1, 2]);
    const key = `${prefix}:run:{${runId}}:seq`;
    const owner = await cluster.primaryForKey(key);
    const direct = new Redis(owner.port, owner.host);
    const myId = String(await direct.call('CLUSTER', 'MYID'));
    expect(withoutTtlStamp(await client.get(key))).toBe(`${first.epoch}:0:l2:${myId}`);
    // As a promoted replica finds it: the counter its old primary wrote.
    await client.set(key, `${first.epoch}:0:l2:${'0'.repeat(40)}`);
    const after = await log.appendMany(runId, [entry], opts);
    expect(after.epoch).not.toBe(first.epoch);
    expect(after.seqs[0]).toBeGreaterThan(2);
    expect(withoutTtlStamp(await client.get(key))).toMatch(
      new RegExp(`^${after.epoch}:\\d+:l\\d+:${myId}$`),
    );
    direct.disconnect();
    client.disconnect();
  });
});
