import type { TestDatabase, TestRedis } from '@x/testkit';
import { postgres, startRedis, uniqueName } from '@x/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, demoTests, type RunBody } from './support/api-client.js';
import {
  type ApiProcess,
  FLEET_TOKEN,
  type FleetEnv,
  startApiProcess,
  startWorkerProcess,
  type WorkerProcess,
} from './support/fleet.js';
import { openSse, type SseFrame } from './support/sse-client.js';

// The workspace feed across real processes: the worker processes run the shards and emit the
// run's events; their feed frames reach a client of either api replica, in one order.
let redis: TestRedis;
let db: TestDatabase;
const apis: ApiProcess[] = [];
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  [redis, db] = await Promise.all([startRedis(), postgres('feed_e2e')]);
  const env: FleetEnv = {
    REDIS_URL: redis.url,
    DATABASE_URL: db.url,
    X_PREFIX: uniqueName('feed'),
  };
  apis.push(await startApiProcess(env));
  const [b, w1, w2] = await Promise.all([
    startApiProcess(env),
    startWorkerProcess(env),
    startWorkerProcess(env),
  ]);
  apis.push(b);
  workers.push(w1, w2);
}, 120_000);

afterAll(async () => {
  await Promise.all([...apis, ...workers].map((p) => p.proc.kill('SIGTERM')));
  await redis?.close();
  await db?.close();
}, 60_000);

const changes = (frames: SseFrame[], runId: string) =>
  frames
    .filter((f) => f.data.type === 'run' && f.data.runId === runId)
    .map((f) => `${f.data.change}:${(f.data.run as { status?: string }).status ?? ''}`);

it('a client of each api replica gets the same frames, in the same order, of a run the workers ran', async () => {
  const [a, b] = apis as [ApiProcess, ApiProcess];
  const auth = { authorization: `Bearer ${FLEET_TOKEN}` };
  const feedA = await openSse(`${a.url}/api/v1/events`, auth);
  const feedB = await openSse(`${b.url}/api/v1/events?tag=e2e`, auth);
  await Promise.all([feedA, feedB].map((f) => f.waitFor((x) => x.data.type === 'snapshot')));
  const res = await apiClient(a.url, FLEET_TOKEN).post<{ run: RunBody }>('/runs', {
    executor: 'demo',
    tests: demoTests(16, 100),
    shards: 4,
    tags: ['e2e'],
  });
  expect(res.status).toBe(201);
  const id = res.body.run.id;
  const isDone = (f: SseFrame) => f.data.change === 'done' && f.data.runId === id;
  await Promise.all([feedA.waitFor(isDone, 60_000), feedB.waitFor(isDone, 60_000)]);
  const seenA = changes(feedA.frames, id);
  expect(seenA[0]).toBe('created:queued');
  expect(seenA).toContain('status:running');
  expect(seenA.some((c) => c.startsWith('progress:'))).toBe(true);
  expect(seenA.at(-1)).toBe('done:completed');
  // One order for every client: the same ids and frames through the other replica.
  expect(changes(feedB.frames, id)).toEqual(seenA);
  const idsOf = (frames: SseFrame[]) =>
    frames.filter((f) => f.data.runId === id && f.id !== null).map((f) => f.id);
  expect(idsOf(feedB.frames)).toEqual(idsOf(feedA.frames));
  feedA.close();
  feedB.close();
}, 120_000);
