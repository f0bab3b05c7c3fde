import { silentLogger } from '@x/kernel';
import type { RunEvents } from '@x/sse-relay';
import { expect, expectTypeOf, it } from 'vitest';
import {
  orderedEmitter,
  type RunEventsSink,
  type SinkEvent,
  safeBatchEmitter,
  safeEmitter,
} from '../src/run-events-sink.js';

// The `@ts-expect-error` lines are checked by `tsc -p tsconfig.json` (the package's typecheck):
// each fails the build if the line below it compiles, i.e. if a payload that does not fit its
// event type got through.

it('types every event from emit to the sink: a payload that does not fit its type does not compile', async () => {
  const sent: SinkEvent[] = [];
  const sink: RunEventsSink = {
    emit: async (_runId, type, payload) => sent.push({ type, payload } as SinkEvent),
    emitMany: async (_runId, batch) => {
      sent.push(...batch);
      return batch.map((_, i) => i + 1);
    },
  };
  const emit = safeEmitter(sink, silentLogger, () => {});
  await emit('r', 'status', { status: 'running' });
  // @ts-expect-error a progress payload needs its counts, not a status
  await emit('r', 'progress', { status: 'running' });
  // @ts-expect-error `state` is started, completed, retrying or failed
  await emit('r', 'shard', { shardIndex: 0, state: 'exploded', attempt: 1 });

  const live = orderedEmitter(
    safeBatchEmitter(sink, silentLogger, () => {}),
    'r',
  );
  live.add('log', { level: 'info', message: 'hello' });
  // @ts-expect-error a result carries its test id, name, status and duration
  live.add('result', { shardIndex: 0 });
  await live.flush();

  // @ts-expect-error a batch item's payload must fit its own type
  const wrong: SinkEvent = { type: 'done', payload: { level: 'info', message: 'x' } };
  expect(wrong).toBeDefined();
  expect(sent.map((e) => e.type)).toEqual(['status', 'progress', 'shard', 'log', 'result']);

  // @x/sse-relay's RunEvents is a sink, with the same payload types.
  expectTypeOf<RunEvents>().toExtend<RunEventsSink>();
});

it('flush sends at once and urgent, without waiting for the batch before it; nothing is reordered', async () => {
  const calls: Array<{ messages: string[]; urgent: boolean; settledBefore: number }> = [];
  let settled = 0;
  const sink: RunEventsSink = {
    emit: async () => 0,
    // Each append takes 50 ms: a flush that waited for the one before would start after it.
    emitMany: async (_runId, batch, opts) => {
      calls.push({
        messages: batch.map((e) => (e.payload as { message: string }).message),
        urgent: opts?.urgent === true,
        settledBefore: settled,
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      settled++;
      return batch.map((_, i) => i + 1);
    },
  };
  const live = orderedEmitter(
    safeBatchEmitter(sink, silentLogger, () => {}),
    'r',
  );
  live.add('log', { level: 'info', message: 'a' });
  await Promise.resolve();
  live.add('log', { level: 'info', message: 'b' });
  live.add('log', { level: 'info', message: 'c' });
  await live.flush();
  expect(calls).toEqual([
    { messages: ['a'], urgent: false, settledBefore: 0 },
    { messages: ['b', 'c'], urgent: true, settledBefore: 0 },
  ]);
});

it('without emitMany, batches go one after another, in call order', async () => {
  const sent: string[] = [];
  const sink: RunEventsSink = {
    emit: async (_runId, _type, payload) => {
      const { message } = payload as { message: string };
      // The first batch's events are slow: a second batch must still come after them.
      await new Promise((resolve) => setTimeout(resolve, message.startsWith('1') ? 20 : 0));
      sent.push(message);
      return 0;
    },
  };
  const emitMany = safeBatchEmitter(sink, silentLogger, () => {});
  const log = (message: string): SinkEvent => ({
    type: 'log',
    payload: { level: 'info', message },
  });
  await Promise.all([
    emitMany('r', [log('1a'), log('1b')]),
    emitMany('r', [log('2a')], { urgent: true }),
  ]);
  expect(sent).toEqual(['1a', '1b', '2a']);
});
