import {
  freePort,
  type NodeProcess,
  postgres,
  startRedis,
  type TestDatabase,
  type TestRedis,
  uniqueName,
} from '@x/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createClient, type RunEvent } from '../src/index.js';
import {
  type ApiProcess,
  demoTests,
  distributedEnv,
  startApi,
  startWorker,
  stopProcess,
  TOKEN,
} from './support/processes.js';
import { collect, recordingFetch } from './support/traffic.js';

let redis: TestRedis;
let db: TestDatabase;
let env: Record<string, string>;
let api: ApiProcess | undefined;
let worker: NodeProcess | undefined;

beforeAll(async () => {
  [redis, db] = await Promise.all([startRedis(), postgres('client')]);
  const prefix = uniqueName('client')
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '');
  env = distributedEnv(redis.url, db.url, prefix);
});

afterAll(async () => {
  await api?.stop();
  if (worker) await stopProcess(worker);
  await redis?.close();
  await db?.close();
});

it('distributed: across an api SIGTERM and restart, every event exactly once, no gap, ending with done', async () => {
  const port = await freePort();
  api = await startApi(env, port);
  worker = await startWorker(env);
  const traffic = recordingFetch();
  const x = createClient({ baseUrl: api.url, token: TOKEN, fetch: traffic.fetch });
  const run = await x.runs.create({ executor: 'demo', tests: demoTests(16, 400, 5), shards: 2 });

  let restarting: Promise<void> | undefined;
  let resultsBeforeRestart = 0;
  const events = await collect(x.runs.watch(run.id), (event) => {
    if (event.type === 'result' && ++resultsBeforeRestart === 3 && !restarting) {
      restarting = (async () => {
        await api!.stop();
        api = await startApi(env, port);
      })();
    }
  });
  await restarting;

  // The history lives in Redis: the api that came back replays what its predecessor missed.
  const snapshots = events.filter((e) => e.type === 'snapshot');
  expect(snapshots.length).toBeGreaterThanOrEqual(2);
  expect(snapshots.every((s) => s.recovered === true)).toBe(true);
  // Ids are `<seq>-<epoch>`: one epoch (Redis kept the history), seqs 1..n.
  const ids = events.flatMap((e) => (e.type !== 'snapshot' && e.id ? [e.id] : []));
  expect(new Set(ids.map((id) => id.split('-')[1])).size).toBe(1);
  expect(ids.map((id) => id.split('-')[0])).toEqual(ids.map((_, i) => String(i + 1)));
  expect(events.filter((e) => e.type === 'result')).toHaveLength(16);
  expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
  const done = events.at(-1) as Extract<RunEvent, { type: 'done' }>;
  expect(done).toMatchObject({ type: 'done', status: 'completed', passed: 13, failed: 3 });
  // It did reconnect: more than one stream, each resuming after the last id it had.
  const streams = traffic.log.filter((e) => e.path.endsWith('/events') && e.status === 200);
  expect(streams.length).toBeGreaterThanOrEqual(2);
  expect(Number.parseInt(streams[1]!.query.get('lastEventId') ?? '', 10)).toBeGreaterThan(0);
});
