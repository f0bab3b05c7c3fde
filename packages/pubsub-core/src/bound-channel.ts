import type {
  BoundChannel,
  Listener,
  MessageMeta,
  ScriptEnvelope,
  SubscribeOptions,
  Subscription,
} from './bus-types.js';
import type { ChannelContract } from './channel-contract.js';
import { ENVELOPE_TAIL, envelopeEncoder, wireBytes } from './envelope.js';
import type { BusMetrics } from './metrics.js';
import { PubSubError } from './pubsub-error.js';
import type { TransportLink } from './transport.js';

/** One listener of a channel; `owner` is set for `ignoreOwn`: the bound channel it skips. */
export interface ListenerRecord {
  readonly fn: Listener<unknown>;
  readonly owner: object | undefined;
}

/** A channel this bus listens on: its contract and its local listeners. */
export interface ChannelEntry {
  // biome-ignore lint/suspicious/noExplicitAny: entries hold contracts of every payload type
  contract: ChannelContract<any, string>;
  maxBytes: number;
  /** Copy-on-write, so a listener that (un)subscribes during dispatch cannot disturb it. */
  listeners: readonly ListenerRecord[];
  subscribed: Promise<void> | undefined;
}

/** What a bound channel needs from the bus that made it (the bus owns all of this state). */
export interface ChannelHost {
  readonly origin: string;
  readonly counters: BusMetrics;
  readonly entries: Map<string, ChannelEntry>;
  readonly link: TransportLink;
  /** False once the bus is closing or closed. */
  isOpen(): boolean;
  /** False once `close()` began: the link is going away, so no UNSUBSCRIBE is sent. */
  isClosing(): boolean;
  /** Calls every listener of `entry` but those owned by `from` (see `ignoreOwn`). */
  dispatch(entry: ChannelEntry, payload: unknown, meta: MessageMeta, from?: object): void;
  /** Counts and logs a refused publish; returns false for `publish` to return. */
  refuse(channel: string, detail: string): false;
  onSendError(error: unknown): void;
}

/**
 * `bus.channel(contract, params)`: the protocol of one channel on one bus — validation,
 * envelope, local delivery first, then the transport. The transport only moves the bytes.
 */
export function bindChannel<P>(
  host: ChannelHost,
  contract: ChannelContract<P, string>,
  name: string,
  maxBytes: number,
): BoundChannel<P> {
  const { counters, entries, link } = host;
  const encoder = envelopeEncoder(contract.version, host.origin, name);
  const bound: BoundChannel<P> = {
    name,
    maxBytes,
    publish(payload: P): boolean {
      if (!host.isOpen()) return host.refuse(name, 'bus is closed');
      const parsed = contract.parse(payload);
      if (!parsed.ok) return host.refuse(name, parsed.detail);
      const ts = Date.now();
      const data = encoder.encode(ts, parsed.value);
      const size = wireBytes(data, maxBytes);
      if (size > maxBytes) return host.refuse(name, `message of ${size} bytes exceeds ${maxBytes}`);
      counters.published++;
      const entry = entries.get(name);
      if (entry)
        host.dispatch(entry, parsed.value, { origin: host.origin, ts, local: true }, bound);
      try {
        link.send(name, data)?.then(undefined, host.onSendError);
      } catch (error) {
        host.onSendError(error);
      }
      return true;
    },

    scriptEnvelope(): ScriptEnvelope {
      const ts = Date.now();
      return { channel: name, head: encoder.head(ts), tail: ENVELOPE_TAIL, maxBytes, ts };
    },

    deliverLocal(payload: P, ts = Date.now()): void {
      if (!host.isOpen()) return;
      const entry = entries.get(name);
      if (entry) host.dispatch(entry, payload, { origin: host.origin, ts, local: true }, bound);
    },

    async subscribe(fn: Listener<P>, opts?: SubscribeOptions): Promise<Subscription> {
      if (!host.isOpen())
        throw new PubSubError('closed', `cannot subscribe to ${name}: the bus is closed`);
      let entry = entries.get(name);
      if (!entry) {
        entry = { contract, maxBytes, listeners: [], subscribed: undefined };
        entries.set(name, entry);
      }
      const record: ListenerRecord = {
        fn: fn as Listener<unknown>,
        owner: opts?.ignoreOwn ? bound : undefined,
      };
      entry.listeners = [...entry.listeners, record];
      if (entry.listeners.length === 1) {
        counters.subscribedChannels++;
        entry.subscribed = link.subscribe(name);
      }
      await entry.subscribed;
      let done: Promise<void> | undefined;
      return {
        unsubscribe() {
          done ??= (async () => {
            const current = entries.get(name);
            if (!current?.listeners.includes(record)) return;
            current.listeners = current.listeners.filter((r) => r !== record);
            if (current.listeners.length > 0) return;
            entries.delete(name);
            counters.subscribedChannels--;
            if (!host.isClosing()) await link.unsubscribe(name);
          })();
          return done;
        },
      };
    },
  };
  return bound;
}
