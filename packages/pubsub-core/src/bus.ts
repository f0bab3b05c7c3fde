import type { Bus, BusOptions, Listener, MessageMeta, Subscription } from './bus-types.js';
import type { ChannelContract } from './channel-contract.js';
import type { DropReason } from './drop-reasons.js';
import { decodeEnvelope, envelopeEncoder, wireBytes } from './envelope.js';
import { noopLogger } from './logger.js';
import { type BusMetrics, emptyMetrics } from './metrics.js';
import { createOrigin, ORIGIN_PATTERN, processOrigin } from './origin.js';
import { PubSubError } from './pubsub-error.js';
import { rateLimitedLog } from './rate-limited-log.js';
import type { BusState, TransportSink } from './transport.js';

const PREFIX_PATTERN = /^[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)*$/;
const LOG_EVERY_MS = 10_000;

interface Entry {
  // biome-ignore lint/suspicious/noExplicitAny: entries hold contracts of every payload type
  contract: ChannelContract<any, string>;
  maxBytes: number;
  /** Copy-on-write, so a listener that (un)subscribes during dispatch cannot disturb it. */
  listeners: readonly { fn: Listener<unknown> }[];
  subscribed: Promise<void> | undefined;
}

let processOriginTaken = false;

/**
 * Creates a bus: typed channels over a transport, with origin stamping, echo suppression,
 * validation of everything that arrives and counters for everything that is dropped.
 *
 * @example
 * const bus = createBus({ transport: redisTransport({ url, strict: true }), logger });
 * await bus.ready();
 * const abort = bus.channel(runAbortChannel);
 * await abort.subscribe(({ runId }) => registry.abortAllShardsForRun(runId, 'remote'));
 * abort.publish({ runId, reason: 'user' });
 */
export function createBus(opts: BusOptions): Bus {
  const prefix = opts.prefix ?? 'x';
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new PubSubError(
      'invalid_option',
      `prefix ${JSON.stringify(prefix)}: use [A-Za-z0-9_.-] segments joined by ':'`,
    );
  }
  const maxMessageBytes = opts.maxMessageBytes ?? 65_536;
  if (!Number.isInteger(maxMessageBytes) || maxMessageBytes < 64) {
    throw new PubSubError('invalid_option', 'maxMessageBytes must be an integer >= 64');
  }
  if (opts.origin !== undefined && !ORIGIN_PATTERN.test(opts.origin)) {
    throw new PubSubError(
      'invalid_option',
      'origin must be inst_ + 32 hex chars (see createOrigin())',
    );
  }
  const ownsProcessOrigin = opts.origin === undefined && !processOriginTaken;
  if (ownsProcessOrigin) processOriginTaken = true;
  const origin = opts.origin ?? (ownsProcessOrigin ? processOrigin() : createOrigin());
  const logger = opts.logger ?? noopLogger;
  const counters = emptyMetrics();
  const entries = new Map<string, Entry>();
  const stateListeners = new Set<(state: BusState) => void>();
  const reconnectListeners = new Set<() => void | Promise<void>>();
  let state: BusState;
  let closing: Promise<void> | undefined;

  const logLimited = rateLimitedLog(logger, LOG_EVERY_MS);

  const drop = (reason: DropReason, channel: string, detail: string) => {
    counters.dropped[reason]++;
    if (reason === 'self') return; // the normal echo of our own publish
    logLimited(
      `drop:${reason}`,
      'warn',
      { channel, reason, detail },
      `pubsub: dropped message (${reason})`,
    );
  };

  const onListenerError = (error: unknown) => {
    counters.listenerErrors++;
    logLimited('listener', 'error', { err: error }, 'pubsub: listener failed');
  };

  const dispatch = (entry: Entry, payload: unknown, meta: MessageMeta) => {
    for (const { fn } of entry.listeners) {
      counters.delivered++;
      try {
        const result = fn(payload, meta);
        if (result && typeof result.then === 'function') result.then(undefined, onListenerError);
      } catch (error) {
        onListenerError(error);
      }
    }
  };

  const emitState = (next: BusState) => {
    if (next === state) return;
    state = next;
    for (const listener of [...stateListeners]) {
      try {
        listener(next);
      } catch (error) {
        onListenerError(error);
      }
    }
  };

  const sink: TransportSink = {
    message(channel, raw) {
      const entry = entries.get(channel);
      if (!entry || entry.listeners.length === 0) {
        return drop('channel', channel, 'no listener on this channel');
      }
      const decoded = decodeEnvelope(raw, { maxBytes: entry.maxBytes });
      if (!decoded.ok) return drop(decoded.reason, channel, decoded.detail);
      const envelope = decoded.envelope;
      if (envelope.channel !== channel) {
        return drop('channel', channel, `envelope names channel ${envelope.channel}`);
      }
      if (envelope.origin === origin) return drop('self', channel, 'own echo');
      if (envelope.v !== entry.contract.version) {
        return drop('version', channel, `v=${envelope.v}, expected ${entry.contract.version}`);
      }
      const parsed = entry.contract.parse(envelope.payload);
      if (!parsed.ok) return drop('schema', channel, parsed.detail);
      counters.received++;
      dispatch(entry, parsed.value, { origin: envelope.origin, ts: envelope.ts, local: false });
    },
    state: (next) => {
      if (!closing) emitState(next);
    },
    reconnected() {
      counters.reconnects++;
      logger.info({ origin }, 'pubsub: reconnected, channels re-subscribed');
      for (const listener of [...reconnectListeners]) {
        try {
          const result = listener();
          if (result && typeof result.then === 'function') result.then(undefined, onListenerError);
        } catch (error) {
          onListenerError(error);
        }
      }
    },
    error(kind, error, context) {
      if (kind === 'subscribe') counters.subscribeErrors++;
      else if (kind === 'receive') counters.listenerErrors++;
      else counters.connectionErrors++;
      logLimited(`transport:${kind}`, 'warn', { ...context, err: error }, `pubsub: ${kind} error`);
    },
  };

  const link = opts.transport.open(sink);
  state = link.state;

  const onSendError = (error: unknown) => {
    counters.publishErrors++;
    logLimited('send', 'warn', { err: error }, 'pubsub: publish to transport failed');
  };

  const refuse = (channel: string, detail: string): false => {
    counters.publishRejected++;
    logLimited('refuse', 'error', { channel, detail }, 'pubsub: publish refused');
    return false;
  };

  const bus: Bus = {
    origin,
    prefix,
    get state() {
      return state;
    },
    channel<P, K extends string>(contract: ChannelContract<P, K>, ...args: unknown[]) {
      const name = `${prefix}:${contract.resolve(args[0] as Partial<Record<K, string>>)}`;
      const existing = entries.get(name);
      if (
        existing &&
        existing.contract !== contract &&
        (existing.contract.version !== contract.version ||
          existing.contract.schema !== contract.schema)
      ) {
        throw new PubSubError(
          'channel_conflict',
          `channel ${name} is already bound to another contract`,
        );
      }
      const maxBytes = contract.maxBytes ?? maxMessageBytes;
      const encode = envelopeEncoder(contract.version, origin, name);
      return {
        name,
        publish(payload: P): boolean {
          if (closing || state === 'closed') return refuse(name, 'bus is closed');
          const parsed = contract.parse(payload);
          if (!parsed.ok) return refuse(name, parsed.detail);
          const ts = Date.now();
          const data = encode(ts, parsed.value);
          const size = wireBytes(data, maxBytes);
          if (size > maxBytes) return refuse(name, `message of ${size} bytes exceeds ${maxBytes}`);
          counters.published++;
          const entry = entries.get(name);
          if (entry) dispatch(entry, parsed.value, { origin, ts, local: true });
          try {
            link.send(name, data)?.then(undefined, onSendError);
          } catch (error) {
            onSendError(error);
          }
          return true;
        },
        async subscribe(fn: Listener<P>): Promise<Subscription> {
          if (closing || state === 'closed')
            throw new PubSubError('closed', `cannot subscribe to ${name}: the bus is closed`);
          let entry = entries.get(name);
          if (!entry) {
            entry = { contract, maxBytes, listeners: [], subscribed: undefined };
            entries.set(name, entry);
          }
          const record = { fn: fn as Listener<unknown> };
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
                if (!closing) await link.unsubscribe(name);
              })();
              return done;
            },
          };
        },
      };
    },
    ready: (readyOpts) => link.ready(readyOpts),
    onState(listener) {
      stateListeners.add(listener);
      return () => stateListeners.delete(listener);
    },
    onReconnect(listener) {
      reconnectListeners.add(listener);
      return () => reconnectListeners.delete(listener);
    },
    metrics(): BusMetrics {
      return { ...counters, dropped: { ...counters.dropped } };
    },
    transportChannels: () => link.subscribedChannels(),
    close() {
      closing ??= (async () => {
        try {
          await link.close();
        } finally {
          counters.subscribedChannels = 0;
          entries.clear();
          if (ownsProcessOrigin) processOriginTaken = false;
          emitState('closed');
          stateListeners.clear();
          reconnectListeners.clear();
        }
      })();
      return closing;
    },
  };
  return bus;
}
