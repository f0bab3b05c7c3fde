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
  type RunEventsError,
  redisEventLog,
} from '../src/index.js';
import { logEvent } from './helpers.js';

let redis: TestRedis;
const cleanup: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const close of cleanup.reverse()) await close();
  await redis.close();
});

/** A real log that also records the size of every append it was asked for. */
function recording(log: EventLog) {
  const appends: number[] = [];
  const wrapped: EventLog = {
    ...log,
    publishesOnAppend: log.publishesOnAppend,
    appendMany: (runId, events, opts) => {
      appends.push(events.length);
      return log.appendMany(runId, events, opts);
    },
  };
  return { log: wrapped, appends };
}

const backends: Record<string, () => Promise<{ bus: Bus; log: EventLog }>> = {
  memory: async () => ({ bus: createBus({ transport: memoryTransport() }), log: memoryEventLog() }),
  redis: async () => {
    const prefix = uniqueName('co');
    const client = new Redis(redis.url);
    const bus = createBus({ transport: redisTransport({ url: redis.url }), prefix });
    cleanup.push(() => client.disconnect());
    return { bus, log: redisEventLog({ redis: client, prefix }) };
  },
};

for (const [name, make] of Object.entries(backends)) {
  describe(`a run's emits share appends (${name})`, () => {
    const node = async (emitCoalesceMs?: number) => {
      const { bus, log } = await make();
      await bus.ready();
      const rec = recording(log);
      const events = createRunEvents({ bus, log: rec.log, emitCoalesceMs });
      cleanup.push(async () => {
        await events.close();
        await bus.close();
      });
      return { events, appends: rec.appends };
    };

    it('sends the emits of one tick in one append, each caller getting its own seqs, in order', async () => {
      const { events, appends } = await node();
      const runId = randomUUID();
      await events.begin(runId);
      const seen: RunEvent[] = [];
      const handle = await events.listen(runId, 0, (e) => seen.push(e));
      handle.start();
      const calls = [
        events.emit(runId, 'log', logEvent('a')),
        events.emitMany(runId, [
          { type: 'log', payload: logEvent('b') },
          { type: 'log', payload: logEvent('c') },
        ]),
        events.emit(runId, 'log', logEvent('d')),
      ];
      // Another run's emits of the same tick go in their own append.
      const other = randomUUID();
      await events.begin(other);
      const otherSeq = events.emit(other, 'log', logEvent('x'));
      expect(await Promise.all(calls)).toEqual([1, [2, 3], 4]);
      expect(await otherSeq).toBe(1);
      expect(appends).toEqual([4, 1]);
      await waitFor(() => seen.length === 4, { what: 'four live events' });
      expect(seen.map((e) => [e.seq, (e.data as { message: string }).message])).toEqual([
        [1, 'a'],
        [2, 'b'],
        [3, 'c'],
        [4, 'd'],
      ]);
      handle.close();
    });

    it('lets emits made while the run’s append is in flight wait for it, then go together', async () => {
      const { events, appends } = await node();
      const runId = randomUUID();
      await events.begin(runId);
      const first = events.emit(runId, 'log', logEvent('first'));
      // Later ticks, while the first append is (or may be) still in flight.
      const later: Promise<number>[] = [];
      await new Promise<void>((resolve) => setImmediate(resolve));
      for (let i = 0; i < 5; i++) later.push(events.emit(runId, 'log', logEvent(`l${i}`)));
      expect(await first).toBe(1);
      expect(await Promise.all(later)).toEqual([2, 3, 4, 5, 6]);
      // Never reordered, never more appends than emits, and the five of one tick never split.
      expect(appends.reduce((a, b) => a + b, 0)).toBe(6);
      expect(appends.at(-1)).toBe(5);
    });

    it('waits emitCoalesceMs for company when asked to', async () => {
      const { events, appends } = await node(30);
      const runId = randomUUID();
      await events.begin(runId);
      const a = events.emit(runId, 'log', logEvent('a'));
      await new Promise((resolve) => setTimeout(resolve, 5));
      const b = events.emit(runId, 'log', logEvent('b'));
      expect([await a, await b]).toEqual([1, 2]);
      expect(appends).toEqual([2]);
    });

    it('sends a done at once, with what the same code emitted before it, whatever the delay', async () => {
      // A 60 s delay: only the done's urgency can make this append happen within the test.
      const { events, appends } = await node(60_000);
      const runId = randomUUID();
      await events.begin(runId);
      const log = events.emit(runId, 'log', logEvent('last words'));
      const done = events.emit(runId, 'done', {
        status: 'aborted',
        passed: 0,
        failed: 0,
        total: 1,
        durationMs: 5,
      });
      expect(await Promise.all([log, done])).toEqual([1, 2]);
      expect(appends).toEqual([2]);
    });

    it('sends an urgent batch at once, with the run’s events coalesced before it', async () => {
      // A 60 s delay: only the urgency can make this append happen within the test.
      const { events, appends } = await node(60_000);
      const runId = randomUUID();
      await events.begin(runId);
      const waiting = events.emit(runId, 'log', logEvent('waiting'));
      const urgent = events.emitMany(runId, [{ type: 'log', payload: logEvent('last') }], {
        urgent: true,
      });
      expect(await Promise.all([waiting, urgent])).toEqual([1, [2]]);
      expect(appends).toEqual([2]);
    });

    it('settled waits for emits still being coalesced: after it the log holds them', async () => {
      const { bus, log } = await make();
      await bus.ready();
      const events = createRunEvents({ bus, log, emitCoalesceMs: 200 });
      cleanup.push(async () => {
        await events.close();
        await bus.close();
      });
      const runId = randomUUID();
      await events.begin(runId);
      const seqs = events.emitMany(runId, [
        { type: 'log', payload: logEvent('a') },
        { type: 'log', payload: logEvent('b') },
      ]);
      expect(await events.settled(runId)).toBe('appended');
      expect((await log.read(runId, 0, 10)).events.map((e) => e.seq)).toEqual([1, 2]);
      expect(await seqs).toEqual([1, 2]);
    });

    it('appends what is still being coalesced when closed', async () => {
      const { bus, log } = await make();
      await bus.ready();
      const events = createRunEvents({ bus, log, emitCoalesceMs: 60_000 });
      const runId = randomUUID();
      await events.begin(runId);
      const seq = events.emit(runId, 'log', logEvent('late'));
      await events.close();
      expect(await seq).toBe(1);
      expect((await log.read(runId, 0, 10)).events.map((e) => e.seq)).toEqual([1]);
      await bus.close();
    });
  });
}

it('refuses a negative or non-numeric emitCoalesceMs with a clear error', () => {
  const bus = createBus({ transport: memoryTransport() });
  for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    let error: RunEventsError | undefined;
    try {
      createRunEvents({ bus, log: memoryEventLog(), emitCoalesceMs: bad });
    } catch (e) {
      error = e as RunEventsError;
    }
    expect(`${error?.code}: ${error?.message}`).toMatch(/^invalid_option: .*emitCoalesceMs/);
  }
});
