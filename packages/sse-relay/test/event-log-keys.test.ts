import { randomUUID } from 'node:crypto';
import { createBus, memoryTransport } from '@x/pubsub-core';
import { keySlot } from '@x/testkit';
import { describe, expect, it } from 'vitest';
import { eventLogKeys, runEventsChannel, workspaceFeedKey } from '../src/index.js';

describe('event log keys and the run channel on a Redis Cluster', () => {
  it.each(['x', 'blue-1', '{x}'])(
    'puts a run’s counter, history and channel in one slot (prefix %s)',
    async (prefix) => {
      const bus = createBus({ transport: memoryTransport(), prefix });
      for (const runId of [randomUUID(), randomUUID(), workspaceFeedKey('ws-1')]) {
        const { seq, history } = eventLogKeys(prefix, runId);
        const channel = bus.channel(runEventsChannel, { runId }).name;
        expect(channel).toBe(`${prefix}:run:{${runId}}:events`);
        expect(new Set([keySlot(seq), keySlot(history), keySlot(channel)]).size).toBe(1);
      }
      await bus.close();
    },
  );

  it('spreads runs over slots by their id, unless the prefix is a hash tag itself', () => {
    const ids = Array.from({ length: 50 }, () => randomUUID());
    const slots = (prefix: string) =>
      new Set(ids.map((id) => keySlot(eventLogKeys(prefix, id).seq)));
    expect(slots('x').size).toBeGreaterThan(40);
    // The operator asked for one slot: the first tag wins.
    expect(slots('{x}').size).toBe(1);
  });
});
