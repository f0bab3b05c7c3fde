import { uniqueName, waitFor } from '@x/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  type BoundChannel,
  type Bus,
  type BusOptions,
  createBus,
  createOrigin,
  defineChannel,
  encodeEnvelope,
  type MessageMeta,
  PubSubError,
  type SubscribeOptions,
  type Transport,
  type TransportLink,
  type TransportSink,
} from '../src/index.js';

/** A medium (one memory hub, one Redis) that hands out transports reaching it. */
export interface TransportHarness {
  transport(): Transport;
  /** Subscribers the medium itself counts on `channel` (PUBSUB NUMSUB / the hub's count). */
  subscriberCount(channel: string): Promise<number>;
  close(): Promise<void>;
}

export const events = defineChannel({
  name: 'run:{runId}:events',
  version: 1,
  schema: z.object({ seq: z.number().int(), note: z.string().optional() }),
});
const eventsV2 = defineChannel({ name: 'run:{runId}:events', version: 2, schema: events.schema });

const nullSink: TransportSink = { message() {}, state() {}, reconnected() {}, error() {} };

type Got = { payload: { seq: number; note?: string | undefined }; meta: MessageMeta };

async function collect(
  channel: BoundChannel<{ seq: number; note?: string | undefined }>,
  opts?: SubscribeOptions,
) {
  const got: Got[] = [];
  const subscription = await channel.subscribe((payload, meta) => {
    got.push({ payload, meta });
  }, opts);
  return { got, subscription, seqs: () => got.map((g) => g.payload.seq) };
}

/**
 * The behaviour every transport must show. Run once per transport (memory, Redis, sharded
 * Redis): the Bus's protocol must not depend on what carries its bytes.
 */
export function transportContract(name: string, start: () => Promise<TransportHarness>) {
  describe(`transport contract: ${name}`, () => {
    let harness: TransportHarness;
    const buses: Bus[] = [];
    const links: TransportLink[] = [];
    let prefix: string;

    beforeAll(async () => {
      harness = await start();
    });
    afterAll(async () => {
      await harness.close();
    });
    afterEach(async () => {
      await Promise.all([...buses.splice(0), ...links.splice(0)].map((b) => b.close()));
    });

    const bus = async (opts: Partial<BusOptions> = {}) => {
      const b = createBus({
        transport: harness.transport(),
        prefix,
        origin: createOrigin(),
        ...opts,
      });
      buses.push(b);
      await b.ready();
      return b;
    };
    /** A raw link on the same medium, to put arbitrary bytes on a channel. */
    const injector = async () => {
      const link = harness.transport().open(nullSink);
      links.push(link);
      await link.ready();
      return { send: async (channel: string, raw: string) => void (await link.send(channel, raw)) };
    };

    it('delivers to another bus, and to its own listeners once, locally, never as an echo', async () => {
      prefix = uniqueName('deliver');
      const [a, b] = [await bus(), await bus()];
      const atA = await collect(a.channel(events, { runId: 'r1' }));
      const atB = await collect(b.channel(events, { runId: 'r1' }));
      for (let seq = 1; seq <= 3; seq++) a.channel(events, { runId: 'r1' }).publish({ seq });
      await waitFor(() => atB.got.length === 3, { what: 'three messages at B' });
      await waitFor(() => a.metrics().dropped.self === 3, { what: 'A to drop its three echoes' });
      expect(atA.seqs()).toEqual([1, 2, 3]);
      expect(atA.got.every((g) => g.meta.local && g.meta.origin === a.origin)).toBe(true);
      expect(atB.seqs()).toEqual([1, 2, 3]);
      expect(atB.got.every((g) => !g.meta.local && g.meta.origin === a.origin)).toBe(true);
      expect(b.metrics().received).toBe(3);
      expect(a.metrics().published).toBe(3);
    });

    it('lets a script publish a valid envelope: receivers decode it, the publisher drops its echo', async () => {
      prefix = uniqueName('script');
      const [a, b] = [await bus(), await bus()];
      const atA = await collect(a.channel(events, { runId: 'r' }));
      const atB = await collect(b.channel(events, { runId: 'r' }));
      const raw = await injector();
      const envelope = a.channel(events, { runId: 'r' }).scriptEnvelope();
      expect(envelope).toMatchObject({ channel: `${prefix}:run:r:events`, maxBytes: 65_536 });
      const payload = { seq: 7, note: 'from a script' };
      const message = `${envelope.head}${JSON.stringify(payload)}${envelope.tail}`;
      // Byte for byte what publish() sends: a receiver of any version decodes it.
      expect(message).toBe(
        encodeEnvelope({
          v: 1,
          origin: a.origin,
          channel: envelope.channel,
          ts: envelope.ts,
          payload,
        }),
      );
      // The script stands in for `a`: it publishes outside the bus, from a raw link.
      await raw.send(envelope.channel, message);
      await waitFor(() => atB.got.length === 1, { what: 'the script message at B' });
      expect(atB.got[0]).toEqual({
        payload,
        meta: { origin: a.origin, ts: envelope.ts, local: false },
      });
      await waitFor(() => a.metrics().dropped.self === 1, { what: 'A to drop its echo' });
      expect(atA.got).toEqual([]);
    });

    it('delivers locally without sending: the bus listeners at once, as local, other buses never', async () => {
      prefix = uniqueName('local');
      const [a, b] = [await bus(), await bus()];
      const atA = await collect(a.channel(events, { runId: 'r' }));
      const atB = await collect(b.channel(events, { runId: 'r' }));
      const channel = a.channel(events, { runId: 'r' });
      channel.deliverLocal({ seq: 1 }, 1234);
      expect(atA.got).toEqual([
        { payload: { seq: 1 }, meta: { origin: a.origin, ts: 1234, local: true } },
      ]);
      // Sent after it on the same link: had deliverLocal sent anything, B would have had it first.
      channel.publish({ seq: 2 });
      await waitFor(() => atB.got.length === 1, { what: 'the published message at B' });
      expect(atB.seqs()).toEqual([2]);
      expect(a.metrics().published).toBe(1);
    });

    it('with ignoreOwn, a listener never hears its own bound channel, but hears every other publisher', async () => {
      prefix = uniqueName('own');
      const [a, b] = [await bus(), await bus()];
      const mine = a.channel(events, { runId: 'r' });
      const sibling = a.channel(events, { runId: 'r' });
      const atMine = await collect(mine, { ignoreOwn: true });
      const atSibling = await collect(sibling);
      mine.publish({ seq: 1 });
      mine.deliverLocal({ seq: 2 });
      sibling.publish({ seq: 3 });
      b.channel(events, { runId: 'r' }).publish({ seq: 4 });
      await waitFor(() => atMine.got.length === 2, { what: 'the sibling and the remote message' });
      expect(atMine.seqs()).toEqual([3, 4]);
      expect(atMine.got.map((g) => g.meta.local)).toEqual([true, false]);
      // Everyone else on the bus still hears `mine`.
      expect(atSibling.seqs().slice(0, 3)).toEqual([1, 2, 3]);
      expect(a.metrics().ownSkipped).toBe(2);
    });

    it('keeps publish order for a burst of messages', async () => {
      prefix = uniqueName('order');
      const [a, b] = [await bus(), await bus()];
      const atB = await collect(b.channel(events, { runId: 'r' }));
      const channel = a.channel(events, { runId: 'r' });
      for (let seq = 0; seq < 500; seq++) channel.publish({ seq });
      await waitFor(() => atB.got.length === 500, { what: '500 messages' });
      expect(atB.seqs()).toEqual([...Array(500).keys()]);
    });

    it('drops and counts every bad message, and keeps delivering after them', async () => {
      prefix = uniqueName('drops');
      const b = await bus({ maxMessageBytes: 1_024 });
      const atB = await collect(b.channel(events, { runId: 'r' }));
      const raw = await injector();
      const channel = `${prefix}:run:r:events`;
      const other = createOrigin();
      const envelope = (over: object) =>
        encodeEnvelope({
          v: 1,
          origin: other,
          channel,
          ts: Date.now(),
          payload: { seq: 0 },
          ...over,
        });
      await raw.send(channel, 'not json {');
      await raw.send(channel, '[1,2]');
      await raw.send(channel, JSON.stringify({ v: 1, origin: other, channel, ts: 1 })); // no payload
      await raw.send(channel, envelope({ origin: 'forged' }));
      await raw.send(channel, envelope({ v: 7 }));
      await raw.send(channel, envelope({ payload: { seq: 'one' } }));
      await raw.send(channel, envelope({ payload: { seq: 1, note: 'x'.repeat(2_000) } }));
      await raw.send(channel, envelope({ channel: `${prefix}:run:other:events` }));
      await raw.send(channel, envelope({ origin: b.origin }));
      await raw.send(channel, envelope({ payload: { seq: 42 } }));
      await waitFor(() => atB.got.length === 1, { what: 'the one valid message' });
      expect(atB.seqs()).toEqual([42]);
      expect(b.metrics().dropped).toEqual({
        self: 1,
        malformed: 4,
        version: 1,
        oversize: 1,
        schema: 1,
        channel: 1,
      });
      expect(b.metrics().received).toBe(1);
    });

    it('subscribes a channel on the medium once however many listeners, until the last leaves', async () => {
      prefix = uniqueName('refcount');
      const b = await bus();
      const channel = b.channel(events, { runId: 'r' });
      const count = () => harness.subscriberCount(channel.name);
      expect(await count()).toBe(0);
      const first = await collect(channel);
      const second = await collect(channel);
      expect(await count()).toBe(1);
      expect(b.transportChannels()).toEqual([channel.name]);
      await first.subscription.unsubscribe();
      await first.subscription.unsubscribe(); // idempotent: must not take `second` out
      expect(await count()).toBe(1);
      const a = await bus();
      a.channel(events, { runId: 'r' }).publish({ seq: 1 });
      await waitFor(() => second.got.length === 1, { what: 'delivery to the remaining listener' });
      expect(first.got).toEqual([]);
      await second.subscription.unsubscribe();
      expect(await count()).toBe(0);
      expect(b.transportChannels()).toEqual([]);
      expect(b.metrics().subscribedChannels).toBe(0);
    });

    it('ends subscribed after a quick subscribe, unsubscribe, subscribe', async () => {
      prefix = uniqueName('flap');
      const b = await bus();
      const channel = b.channel(events, { runId: 'r' });
      const s1 = channel.subscribe(() => {});
      const s1done = s1.then((s) => s.unsubscribe());
      const third = collect(channel);
      await Promise.all([s1done, third]);
      expect(await harness.subscriberCount(channel.name)).toBe(1);
      (await bus()).channel(events, { runId: 'r' }).publish({ seq: 9 });
      const { got } = await third;
      await waitFor(() => got.length === 1, { what: 'delivery after the flap' });
    });

    it('isolates listeners: one that throws, rejects or never settles does not stop the others', async () => {
      prefix = uniqueName('throw');
      const [a, b] = [await bus(), await bus()];
      await b.channel(events, { runId: 'r' }).subscribe(() => {
        throw new Error('listener bug');
      });
      await b.channel(events, { runId: 'r' }).subscribe(async () => {
        throw new Error('async listener bug');
      });
      await b.channel(events, { runId: 'r' }).subscribe(() => new Promise<void>(() => {}));
      const atB = await collect(b.channel(events, { runId: 'r' }));
      a.channel(events, { runId: 'r' }).publish({ seq: 1 });
      a.channel(events, { runId: 'r' }).publish({ seq: 2 });
      await waitFor(() => atB.got.length === 2, { what: 'both messages at the healthy listener' });
      await waitFor(() => b.metrics().listenerErrors === 4, { what: 'four listener errors' });
    });

    it('refuses an invalid or oversized payload at publish, without throwing', async () => {
      prefix = uniqueName('refuse');
      const [a, b] = [await bus({ maxMessageBytes: 256 }), await bus()];
      const atA = await collect(a.channel(events, { runId: 'r' }));
      const atB = await collect(b.channel(events, { runId: 'r' }));
      const channel = a.channel(events, { runId: 'r' });
      expect(channel.publish({ seq: 'x' } as unknown as { seq: number })).toBe(false);
      expect(channel.publish({ seq: 1, note: 'y'.repeat(300) })).toBe(false);
      expect(channel.publish({ seq: 2 })).toBe(true);
      await waitFor(() => atB.got.length === 1, { what: 'the valid message' });
      expect(atA.seqs()).toEqual([2]);
      expect(atB.seqs()).toEqual([2]);
      expect(a.metrics().publishRejected).toBe(2);
    });

    it('drops a message whose channel version differs from the subscriber contract', async () => {
      prefix = uniqueName('version');
      const [a, b] = [await bus(), await bus()];
      const atB = await collect(b.channel(events, { runId: 'r' }));
      a.channel(eventsV2, { runId: 'r' }).publish({ seq: 1 });
      a.channel(events, { runId: 'r' }).publish({ seq: 2 });
      await waitFor(() => atB.got.length === 1, { what: 'the v1 message' });
      expect(atB.seqs()).toEqual([2]);
      expect(b.metrics().dropped.version).toBe(1);
    });

    it('refuses channel parameters that could widen or forge a channel name', async () => {
      prefix = uniqueName('params');
      const b = await bus();
      for (const runId of ['*', 'a:b', 'a b', '', 'a?', 'a[1]', 'x\n']) {
        expect(() => b.channel(events, { runId })).toThrow(PubSubError);
      }
      expect(b.channel(events, { runId: 'Run_1.a-b' }).name).toBe(`${prefix}:run:Run_1.a-b:events`);
    });

    it('isolates prefixes: buses with different prefixes do not hear each other', async () => {
      prefix = uniqueName('prefix-a');
      const a = await bus();
      const b = await bus({ prefix: uniqueName('prefix-b') });
      const atB = await collect(b.channel(events, { runId: 'r' }));
      const atA = await collect(a.channel(events, { runId: 'r' }));
      (await bus()).channel(events, { runId: 'r' }).publish({ seq: 1 });
      await waitFor(() => atA.got.length === 1, { what: 'delivery within prefix a' });
      expect(atB.got).toEqual([]);
    });

    it('closes cleanly: unsubscribes on the medium, refuses publish and subscribe afterwards', async () => {
      prefix = uniqueName('close');
      const b = await bus();
      const channel = b.channel(events, { runId: 'r' });
      await collect(channel);
      const states: string[] = [];
      b.onState((s) => states.push(s));
      await b.close();
      await b.close();
      expect(b.state).toBe('closed');
      expect(states).toEqual(['closed']);
      await waitFor(async () => (await harness.subscriberCount(channel.name)) === 0, {
        what: 'the medium to drop the closed bus',
      });
      expect(channel.publish({ seq: 1 })).toBe(false);
      await expect(channel.subscribe(() => {})).rejects.toMatchObject({ code: 'closed' });
    });
  });
}
