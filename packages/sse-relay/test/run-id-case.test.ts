import { randomUUID } from 'node:crypto';
import { type Bus, createBus, memoryTransport, redisTransport } from '@x/pubsub-core';
import { startRedis, type TestRedis, uniqueName, waitFor } from '@x/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRunEvents,
  type EventLog,
  memoryEventLog,
  type RunEvent,
  type RunEvents,
  redisEventLog,
} from '../src/index.js';
import { type FakeRun, fakeRun, logEvent, startRelayServer } from './helpers.js';
import { openSse } from './sse-client.js';

// A UUID is case-insensitive; the store and the producers write it in lower case. A run id in
// upper case must name the same channel and history, or its listeners hear nothing live.

let redis: TestRedis;
const cleanup: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const close of cleanup.reverse()) await close();
  await redis.close();
});

const backends: Record<string, () => { bus: Bus; log: EventLog }> = {
  memory: () => ({ bus: createBus({ transport: memoryTransport() }), log: memoryEventLog() }),
  redis: () => {
    const prefix = uniqueName('case');
    const client = new Redis(redis.url);
    cleanup.push(() => client.disconnect());
    return {
      bus: createBus({ transport: redisTransport({ url: redis.url }), prefix }),
      log: redisEventLog({ redis: client, prefix }),
    };
  },
};

async function relay(name: string): Promise<RunEvents> {
  const { bus, log } = backends[name]!();
  await bus.ready();
  const events = createRunEvents({ bus, log });
  cleanup.push(async () => {
    await events.close();
    await bus.close();
  });
  return events;
}

for (const name of Object.keys(backends)) {
  describe(`run ids in upper case, ${name} log and bus`, () => {
    it('names the same run whatever the case: one sequence, one history, ids in lower case', async () => {
      const events = await relay(name);
      const runId = randomUUID();
      const upper = runId.toUpperCase();
      await events.begin(upper);
      const got: RunEvent[] = [];
      const handle = await events.listen(upper, null, (e) => got.push(e));
      handle.start();
      expect(await events.emit(runId, 'log', logEvent('lower'))).toBe(1);
      expect(await events.emit(upper, 'log', logEvent('upper'))).toBe(2);
      await waitFor(() => got.length === 2, { what: 'both events at the upper-case listener' });
      expect(got.map((e) => [e.seq, e.runId])).toEqual([
        [1, runId],
        [2, runId],
      ]);
      expect(got[1]!.json).toBe(JSON.stringify({ type: 'log', runId, ...logEvent('upper') }));
      expect((await events.lastEvent(upper))?.seq).toBe(2);
      const replay = await events.listen(runId, 0, () => {});
      expect(replay.replay.map((e) => e.seq)).toEqual([1, 2]);
      replay.close();
      handle.close();
    });
  });
}

describe('GET /runs/:runId/events with the run id in upper case', () => {
  it('streams the snapshot, then the live events emitted under the lower-case id', async () => {
    const events = await relay('redis');
    const runs = new Map<string, FakeRun>();
    const server = await startRelayServer({ events }, runs);
    cleanup.push(() => server.close());
    const run = fakeRun();
    runs.set(run.id, run);
    await events.begin(run.id.toUpperCase());
    const sse = await openSse(`${server.url}/runs/${run.id.toUpperCase()}/events`, {
      headers: { 'x-workspace': 'ws1' },
    });
    expect(sse.status).toBe(200);
    await waitFor(() => sse.events.length === 1, { what: 'the snapshot' });
    await events.emit(run.id, 'status', { status: 'running' });
    await waitFor(() => sse.events.length === 2, { what: 'the live event' });
    expect(sse.events).toEqual([
      { type: 'snapshot', runId: run.id, run },
      { id: 1, type: 'status', runId: run.id, status: 'running' },
    ]);
    sse.close();
  });
});
