import { randomUUID } from 'node:crypto';
import { startRedis, type TestRedis, uniqueName, waitFor } from '@x/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunEventsOptions } from '../src/index.js';
import { logEvent } from './helpers.js';
import { processNode } from './process-node.js';

// `settled(runId)`: a process's events of a run are in the log before it records something
// another process acts on (a shard completion, then the finalizer's `done`). Redis fails for
// real: a private server with an append-only file, killed and restarted with its data.

let redis: TestRedis;
const cleanup: Array<() => Promise<void> | void> = [];
beforeAll(async () => {
  redis = await startRedis({ persistence: true });
});
afterAll(async () => {
  for (const close of cleanup.reverse()) await close();
  await redis.close();
});

/** A process with its own connections (commands fail fast while Redis is down). */
const node = (prefix: string, opts: Partial<RunEventsOptions> = {}) =>
  processNode(redis.url, prefix, cleanup, { closeFlushTimeoutMs: 200, ...opts });

const logs = (n: number, from = 1) =>
  Array.from({ length: n }, (_, i) => ({
    type: 'log' as const,
    payload: logEvent(`m${from + i}`),
  }));

/** The run's history as another process reads it: event types and messages, in order. */
async function history(prefix: string, runId: string): Promise<string[]> {
  const reader = await node(prefix);
  const { events } = await reader.log.read(runId, 0, 1_000);
  return events.map((e) => {
    const parsed = JSON.parse(e.json) as { type: string; message?: string };
    return parsed.message ?? parsed.type;
  });
}

/** Whether `promise` settled within `ms` (it keeps running either way). */
const settledWithin = async (promise: Promise<unknown>, ms: number) =>
  Promise.race([
    promise.then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), ms)),
  ]);

describe('RunEvents.settled', () => {
  it('waits for an append in flight while Redis answers: once it resolves another connection reads the events', async () => {
    const prefix = uniqueName('st');
    const a = await node(prefix);
    const runId = randomUUID();
    await a.events.begin(runId);
    // Not awaited: the append is in flight when settled is called.
    const emitted = a.events.emitMany(runId, logs(20));
    expect(await a.events.settled(runId)).toBe('appended');
    expect(await history(prefix, runId)).toHaveLength(20);
    await emitted;
    // Nothing held or in flight: at once.
    expect(await a.events.settled(runId)).toBe('appended');
    // A caller that awaited its own emits does not wait for others in flight: only the buffer.
    const more = a.events.emitMany(runId, logs(5, 21));
    const own = a.events.settled(runId, { inFlight: false });
    // The emit still needs its coalescing turn and a round trip; the answer needs neither.
    expect(await Promise.race([own, more.then(() => 'emitted first')])).toBe('appended');
    await more;
  });

  it('during an outage resolves only once the buffered events are in the log, so a done emitted after it comes last', async () => {
    const prefix = uniqueName('st');
    const worker = await node(prefix);
    const finalizer = await node(prefix);
    const runId = randomUUID();
    await worker.events.begin(runId);
    await worker.events.emitMany(runId, logs(2));
    await redis.kill();
    let settled: Promise<string>;
    try {
      await worker.events.emitMany(runId, logs(5, 3));
      expect(worker.events.metrics().eventsBuffered).toBe(5);
      // What the shard worker does: its completion, then (elsewhere) the run's `done`.
      settled = worker.events.settled(runId);
      expect(await settledWithin(settled, 500)).toBe(false);
    } finally {
      await redis.restart();
    }
    expect(await settled).toBe('appended');
    await finalizer.events.emit(runId, 'done', {
      status: 'completed',
      passed: 7,
      failed: 0,
      total: 7,
      durationMs: 1,
    });
    expect(await history(prefix, runId)).toEqual([
      'm1',
      'm2',
      'm3',
      'm4',
      'm5',
      'm6',
      'm7',
      'done',
    ]);
  });

  it('gives up when its signal aborts: the held events are dropped and the gap declared once Redis answers', async () => {
    const prefix = uniqueName('st');
    const a = await node(prefix);
    const runId = randomUUID();
    await a.events.begin(runId);
    await a.events.emitMany(runId, logs(3));
    const held = (await a.log.head(runId))!;
    await redis.kill();
    try {
      await a.events.emitMany(runId, logs(4, 4));
      const startedAt = performance.now();
      expect(await a.events.settled(runId, { timeoutMs: 300 })).toBe('gave-up');
      expect(performance.now() - startedAt).toBeLessThan(2_000);
      // A flush retry may have them in flight: they go when its append fails.
      await waitFor(() => a.events.metrics().eventsDropped === 4, { what: 'the events dropped' });
      expect(a.events.metrics().eventsBuffered).toBe(0);
      // Events emitted after it still wait, behind the gap.
      await a.events.emitMany(runId, logs(1, 8));
      expect(a.events.metrics().eventsBuffered).toBe(1);
    } finally {
      await redis.restart();
    }
    await waitFor(() => a.events.metrics().eventsBuffered === 0, { what: 'the buffer flushed' });
    expect(a.events.metrics().gapsDeclared).toBe(1);
    const after = (await a.log.head(runId))!;
    expect(after.epoch).not.toBe(held.epoch);
    // The new epoch holds only what followed the gap; a client holding 3 is told it missed some.
    expect(await history(prefix, runId)).toEqual(['m8']);
    const resume = await a.events.listen(runId, { seq: 3, epoch: held.epoch }, () => {});
    expect(resume).toMatchObject({ recovered: false, replay: [] });
    resume.close();
  });

  it('answers gap when the bound dropped the run’s events, once the gap is declared; the kept run’s answer is appended', async () => {
    const prefix = uniqueName('st');
    const max = 10;
    const a = await node(prefix, { bufferMaxEvents: max });
    const [dropped, kept] = [randomUUID(), randomUUID()];
    for (const id of [dropped, kept]) await a.events.begin(id);
    await redis.kill();
    let answers: Promise<string[]>;
    try {
      await a.events.emitMany(dropped, logs(max - 2));
      const first = a.events.settled(dropped);
      // Over the bound: the oldest run's events go.
      await a.events.emitMany(kept, logs(5));
      expect(a.events.metrics()).toMatchObject({ eventsBuffered: 5, eventsDropped: max - 2 });
      answers = Promise.all([first, a.events.settled(kept)]);
      // Dropped but not declared yet (Redis is down): still waiting.
      expect(await settledWithin(first, 300)).toBe(false);
    } finally {
      await redis.restart();
    }
    expect(await answers).toEqual(['gap', 'appended']);
    expect(await history(prefix, kept)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    expect(await history(prefix, dropped)).toEqual([]);
  });
});
