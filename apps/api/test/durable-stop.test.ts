import { randomUUID } from 'node:crypto';
import type { AbortRunOutcome } from '@x/shard-worker';
import { stopJobsStreams } from '@x/stop-jobs';
import {
  startRedis,
  startRedisCluster,
  type TestRedis,
  type TestRedisCluster,
  uniqueName,
  waitFor,
} from '@x/testkit';
import { Cluster, Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDurableStop } from '../src/compose/durable-stop.js';

let cluster: TestRedisCluster;
let single: TestRedis;
beforeAll(async () => {
  [cluster, single] = await Promise.all([
    startRedisCluster({ replicasPerPrimary: 0 }),
    startRedis(),
  ]);
}, 60_000);
afterAll(async () => {
  await cluster?.close();
  await single?.close();
});

/** An abort use case whose winner's `done` append settles when the test says so. */
function pendingAbort(runId: string) {
  let release!: () => void;
  const announced = new Promise<void>((resolve) => {
    release = resolve;
  });
  const outcome = { won: true, run: { id: runId, status: 'aborted' }, announced };
  const abortRun = async () => outcome as unknown as AbortRunOutcome;
  return { abortRun, release };
}

const silent = pino({ level: 'silent' });

describe('the durable stop job after an abort', () => {
  const targets = {
    // History and stop stream live on different primaries: nothing else orders them.
    'a cluster': () => ({
      redis: new Cluster(cluster.startupNodes),
      jobs: (prefix: string) => stopJobsStreams(prefix, { cluster: true }).jobs,
    }),
    // One connection, but the append may still wait in the emit coalescer or buffer.
    'one server': () => ({
      redis: new Redis(single.url),
      jobs: (prefix: string) => stopJobsStreams(prefix).jobs,
    }),
  };
  for (const [name, target] of Object.entries(targets)) {
    it(`on ${name}, is written only once the winner’s done is out`, async () => {
      const { redis, jobs } = target();
      const prefix = uniqueName('ds');
      const runId = randomUUID();
      const { abortRun, release } = pendingAbort(runId);
      const abort = withDurableStop(abortRun, { redis, prefix, logger: silent, onError() {} });
      const answered = abort(runId, { requestedBy: 'ws' });
      await new Promise((r) => setTimeout(r, 300));
      expect(await redis.xlen(jobs(prefix))).toBe(0);
      release();
      await answered;
      await waitFor(async () => (await redis.xlen(jobs(prefix))) === 1, { what: 'the stop job' });
      redis.disconnect();
    });
  }
});
