import { silentLogger } from '@x/kernel';
import { bindChannel, type ChannelEntry, type ChannelHost } from './bound-channel.js';
import type { Bus, BusOptions, MessageMeta } from './bus-types.js';
import type { ChannelContract } from './channel-contract.js';
import type { DropReason } from './drop-reasons.js';
import { decodeEnvelope } from './envelope.js';
import { type BusMetrics, emptyMetrics } from './metrics.js';
import { createOrigin, ORIGIN_PATTERN } from './origin.js';
import { PubSubError } from './pubsub-error.js';
import { rateLimitedLog } from './rate-limited-log.js';
import type { BusState, TransportSink } from './transport.js';

// The first segment may be a Redis Cluster hash tag (`{x}`): a deployment in one slot.
const PREFIX_PATTERN = /^(?:\{[A-Za-z0-9_.-]+\}|[A-Za-z0-9_.-]+)(?::[A-Za-z0-9_.-]+)*$/;
const LOG_EVERY_MS = 10_000;

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
      `prefix ${JSON.stringify(prefix)}: use [A-Za-z0-9_.-] segments joined by ':' (the first may be a {hash tag})`,
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
  // Every bus its own origin (socket.io's adapters each draw a uid): echo suppression is per
  // bus, and no process-wide bookkeeping is needed to keep two buses hearing each other.
  const origin = opts.origin ?? createOrigin();
  const logger = opts.logger ?? silentLogger;
  const counters = emptyMetrics();
  const entries = new Map<string, ChannelEntry>();
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

  /** `from`: the bound channel that published locally; its `ignoreOwn` listeners skip it. */
  const dispatch = (entry: ChannelEntry, payload: unknown, meta: MessageMeta, from?: object) => {
    for (const { fn, owner } of entry.listeners) {
      if (from !== undefined && owner === from) {
        counters.ownSkipped++;
        continue;
      }
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

  const host: ChannelHost = {
    origin,
    counters,
    entries,
    link,
    isOpen: () => !closing && state !== 'closed',
    isClosing: () => closing !== undefined,
    dispatch,
    refuse,
    onSendError,
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
      return bindChannel(host, contract, name, contract.maxBytes ?? maxMessageBytes);
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
