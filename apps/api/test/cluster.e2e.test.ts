import { eventLogKeys } from '@x/sse-relay';
import { stopJobsStreams } from '@x/stop-jobs';
import {
  keySlot,
  postgres,
  startRedisCluster,
  type TestDatabase,
  type TestRedisCluster,
  uniqueName,
  waitFor,
} from '@x/testkit';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoTests } from './support/api-client.js';
import {
  type ApiProcess,
  activeShards,
  FLEET_TOKEN,
  type Fleet,
  type FleetEnv,
  startFleet,
  startWorkerProcess,
  type WorkerProcess,
  waitActive,
} from './support/fleet.js';
import { createRun, fleetClient, history, waitTerminal, watch } from './support/fleet-runs.js';
import { openSse, type SseFrame } from './support/sse-client.js';

// The whole system on a real Redis Cluster (3 primaries, a replica each): two api replicas and
// two workers as processes, configured by REDIS_CLUSTER_NODES with 3 queue partitions.
let cluster: TestRedisCluster;
let db: TestDatabase;
let env: FleetEnv;
let admin: Cluster;
let apiA: ApiProcess;
let apiB: ApiProcess;
let workers: WorkerProcess[] = [];
let fleet: Fleet | undefined;
const PARTITIONS = { QUEUE_PARTITIONS: '3' };

beforeAll(async () => {
  [cluster, db] = await Promise.all([startRedisCluster(), postgres('cluster_e2e')]);
  admin = new Cluster(cluster.startupNodes);
  env = {
    REDIS_CLUSTER_NODES: cluster.nodesEnv,
    DATABASE_URL: db.url,
    X_PREFIX: uniqueName('ce'),
  };
  fleet = await startFleet(env, PARTITIONS);
  [apiA, apiB] = fleet.apis;
  workers = fleet.workers;
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  admin?.disconnect();
  await cluster?.close();
  await db?.close();
}, 60_000);

const ids = (frames: SseFrame[]) => frames.filter((f) => f.id !== null).map((f) => f.id!);
const dones = (frames: SseFrame[]) => frames.filter((f) => f.data.type === 'done');

describe('two api replicas and two workers on a Redis Cluster', () => {
  it('create, watch from the other replica (the run and the workspace feed), resume with Last-Event-ID, abort across replicas with its stop job, a worker SIGKILL', async () => {
    // The workspace feed through B: one more history and sharded channel, on its own slot.
    const feed = await openSse(`${apiB.url}/api/v1/events`, {
      authorization: `Bearer ${FLEET_TOKEN}`,
    });
    await feed.waitFor((f) => f.data.type === 'snapshot');
    // Create on A, watch through B from the start: exact counts, ids 1..n.
    const run = await createRun(apiA, { executor: 'demo', tests: demoTests(24, 20, 4), shards: 4 });
    const live = await watch(apiB, run.id, 0);
    const done = await live.waitFor((f) => f.data.type === 'done', 30_000);
    const feedDone = await feed.waitFor(
      (f) => f.data.runId === run.id && f.data.change === 'done',
      30_000,
    );
    expect(feed.frames.find((f) => f.data.runId === run.id)?.data.change).toBe('created');
    expect(feedDone.data.run).toMatchObject({ status: 'completed', passed: 18, failed: 6 });
    feed.close();
    expect(done.data).toMatchObject({ status: 'completed', passed: 18, failed: 6, total: 24 });
    await live.ended;
    const seen = ids(live.frames);
    expect(seen).toEqual(seen.map((_, i) => i + 1));
    expect(live.frames.filter((f) => f.data.type === 'result')).toHaveLength(24);

    // Resume through A with the id B sent: exactly the rest, once each, in order.
    const cut = live.frames.filter((f) => f.id !== null)[9]!;
    const resumed = await watch(apiA, run.id, cut.eventId!);
    await resumed.ended;
    expect(resumed.frames[0]!.data).toMatchObject({ type: 'snapshot' });
    expect(resumed.frames[0]!.data.recovered).not.toBe(false);
    expect(resumed.frames.slice(1).map((f) => f.eventId)).toEqual(
      live.frames.filter((f) => f.id !== null && f.id > cut.id!).map((f) => f.eventId),
    );

    // Abort through B a run watched through A: one done, every shard dropped on both workers,
    // and the durable stop job handled by a worker (its result in the tagged results stream).
    const long = await createRun(apiA, {
      executor: 'demo',
      tests: demoTests(16, 5_000),
      shards: 8,
    });
    const watched = await watch(apiA, long.id);
    // All 8 shards running, on whichever worker took them (one may take all: concurrency 8).
    await waitFor(
      async () => (await Promise.all(workers.map(activeShards))).reduce((a, b) => a + b, 0) >= 8,
      { timeoutMs: 20_000, what: 'the 8 shards to run' },
    );
    const r = await fleetClient(apiB).post<{ run: { status: string } }>(`/runs/${long.id}/abort`);
    expect(r.status).toBe(202);
    expect((await watched.waitFor((f) => f.data.type === 'done', 10_000)).data.status).toBe(
      'aborted',
    );
    await waitFor(
      async () => (await Promise.all(workers.map(activeShards))).every((n) => n === 0),
      { timeoutMs: 3_000, what: 'both workers to drop their shards' },
    );
    const results = stopJobsStreams(env.X_PREFIX, { cluster: true }).results;
    await waitFor(
      async () => {
        const entries = await admin.xrange(results, '-', '+');
        return entries.some(([, f]) => f[f.indexOf('run_id') + 1] === long.id);
      },
      { timeoutMs: 10_000, what: 'the stop job result' },
    );
    expect(dones(await history(apiB, long.id))).toHaveLength(1);

    // SIGKILL a worker mid-run: every run is still finalized exactly once.
    const runs = await Promise.all(
      [0, 1, 2].map(() =>
        createRun(apiB, { executor: 'demo', tests: demoTests(16, 300, 4), shards: 8 }),
      ),
    );
    const victim = workers[0]!;
    await waitActive(victim, 1);
    await victim.proc.kill('SIGKILL');
    workers[0] = await startWorkerProcess(env, PARTITIONS);
    for (const each of runs) {
      expect(await waitTerminal(apiA, each.id, 45_000)).toMatchObject({
        status: 'completed',
        total: 16,
        passed: 12,
        failed: 4,
        shardsCompleted: 8,
      });
      expect(dones(await history(apiB, each.id))).toHaveLength(1);
    }
  }, 90_000);

  it('fails over the primary owning a running run: the run finishes exactly once, a resume is told recovered:false', async () => {
    const run = await createRun(apiA, { executor: 'demo', tests: demoTests(24, 500), shards: 4 });
    const first = await watch(apiB, run.id, 0);
    await first.waitFor((f) => f.data.type === 'result', 20_000);
    const { seq } = eventLogKeys(env.X_PREFIX, run.id);
    const owner = await cluster.primaryForSlot(keySlot(seq));
    await cluster.kill(owner);
    const killedAt = Date.now();
    await cluster.waitHealthy({ timeoutMs: 30_000 });
    const failoverMs = Date.now() - killedAt;
    expect((await cluster.primaryForSlot(keySlot(seq))).port).not.toBe(owner.port);

    const final = await waitTerminal(apiA, run.id, 45_000);
    expect(final).toMatchObject({ status: 'completed', total: 24, passed: 24, shardsCompleted: 4 });
    first.close();
    const held = first.frames.filter((f) => f.id !== null);
    const last = held.at(-1)!;

    // Resume from the last id the first connection got, through the other replica.
    const resumed = await waitFor(
      async () => {
        const s = await watch(apiA, run.id, last.eventId!);
        await s.ended;
        return dones(s.frames).length > 0 ? s : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'a resumed stream that ends with done' },
    );
    const snapshot = resumed.frames[0]!;
    expect(snapshot.data.type).toBe('snapshot');
    // The new primary may lack a tail the client saw (replication is asynchronous), so the
    // history starts a new epoch there: the resume is told so, never handed reused seqs.
    expect(snapshot.data.recovered).toBe(false);
    const rest = resumed.frames.slice(1);
    expect(rest.every((f) => f.eventId!.split('-')[1] !== last.eventId!.split('-')[1])).toBe(true);
    expect(dones(rest)).toHaveLength(1);
    expect(dones(rest)[0]!.data).toMatchObject({ status: 'completed', passed: 24, total: 24 });
    // The history the run ends with holds one done, whatever epoch it is in.
    expect(dones(await history(apiB, run.id))).toHaveLength(1);
    console.log(
      `failover: ${failoverMs} ms; the resume after ${held.length} held events: recovered:false, then ${rest.length} events`,
    );
    // Back as a replica of its old slots, for whatever runs after this file.
    await cluster.restart(owner);
    await cluster.waitHealthy({ timeoutMs: 30_000 });
  }, 90_000);
});
