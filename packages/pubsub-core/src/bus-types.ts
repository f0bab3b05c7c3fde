import type { Logger } from '@x/kernel';
import type { ChannelContract } from './channel-contract.js';
import type { BusMetrics } from './metrics.js';
import type { BusState, Transport } from './transport.js';

/** Where a message came from. `local` is true when it was published by this very bus. */
export interface MessageMeta {
  readonly origin: string;
  /** Publish time (ms since the epoch, publisher's clock). */
  readonly ts: number;
  readonly local: boolean;
}

/** A listener may be async; a rejection is counted and logged like a throw, never awaited. */
export type Listener<P> = (payload: P, meta: MessageMeta) => void | Promise<void>;

export interface Subscription {
  /** Removes this listener; the last one out unsubscribes the channel. Idempotent. */
  unsubscribe(): Promise<void>;
}

export interface SubscribeOptions {
  /**
   * Do not deliver what this same bound channel publishes (`publish` or `deliverLocal`): a
   * component that acts on its own message before sending it (an aborter cancels its local
   * shards, then tells the others) hears only other publishers, including other bound channels
   * of the same contract on this bus. Default false. Skips are counted (`ownSkipped`).
   */
  ignoreOwn?: boolean;
}

/**
 * What a publisher outside the bus (a Redis script that writes and publishes in one atomic
 * step) needs to put a valid envelope of this channel on the wire: the message is
 * `head + payloadJson + tail`, where `payloadJson` is the JSON of a payload the channel's
 * schema accepts. Receivers decode it like any message, and this bus drops its echo.
 */
export interface ScriptEnvelope {
  /** Full channel name to publish on, prefix included. */
  readonly channel: string;
  /** The envelope up to its payload: version, this bus's origin, channel and `ts`. */
  readonly head: string;
  /** What closes the envelope after the payload. */
  readonly tail: string;
  /** Largest message receivers accept, in UTF-8 bytes, head and tail included. */
  readonly maxBytes: number;
  /** The publish time stamped in `head` (ms since the epoch): pass it to `deliverLocal`. */
  readonly ts: number;
}

/** A channel contract bound to a bus and its parameters. */
export interface BoundChannel<P> {
  /** Full channel name, prefix included, e.g. `x:run:42:events`. */
  readonly name: string;
  /** Largest message on this channel, in bytes: the contract's `maxBytes` or the bus's. */
  readonly maxBytes: number;
  /**
   * Validates the payload, delivers it to this bus's listeners synchronously, then mirrors it
   * to the transport fire-and-forget. Never throws: a refused payload is counted
   * (`publishRejected`) and logged, a failed send is counted (`publishErrors`).
   * Returns false when the payload was refused.
   */
  publish(payload: P): boolean;
  /**
   * Adds a listener. Resolves once the transport delivers the channel, or at once while the
   * transport is reconnecting (the channel is subscribed on reconnect, before `onReconnect`),
   * or after a refused SUBSCRIBE (counted in `subscribeErrors`, retried with backoff).
   * Rejects with `PubSubError('closed')` on a closed bus.
   */
  subscribe(listener: Listener<P>, opts?: SubscribeOptions): Promise<Subscription>;
  /**
   * The envelope for a message this process publishes without the bus (see `ScriptEnvelope`),
   * stamped now. Pair it with `deliverLocal`: the bus drops the message's echo by origin.
   */
  scriptEnvelope(): ScriptEnvelope;
  /**
   * Delivers a payload published outside the bus (with `scriptEnvelope`) to this bus's
   * listeners, synchronously and with `meta.local` true, as `publish` would have. Sends
   * nothing. Not validated again: the caller built the payload it sent (typed `P`). No-op on a
   * closed bus. `ts` defaults to now; pass the envelope's.
   */
  deliverLocal(payload: P, ts?: number): void;
}

/** Extra arguments of `bus.channel()`: parameters only when the name has placeholders. */
export type ChannelParamsArg<K extends string> = [K] extends [never]
  ? [params?: Record<string, never>]
  : [params: Record<K, string>];

export interface Bus {
  /** Origin id stamped on every message this bus publishes. */
  readonly origin: string;
  /** Namespace of every channel: `${prefix}:${name}`. */
  readonly prefix: string;
  readonly state: BusState;
  /** Binds a contract (with its parameters, validated) to this bus. */
  channel<P, K extends string>(
    contract: ChannelContract<P, K>,
    ...params: ChannelParamsArg<K>
  ): BoundChannel<P>;
  /** Resolves once the transport is connected; rejects if strict start-up failed. */
  ready(opts?: { signal?: AbortSignal }): Promise<void>;
  /** Called on every state change. Returns a function that removes the listener. */
  onState(listener: (state: BusState) => void): () => void;
  /** Called after each reconnect, once every channel is subscribed again. */
  onReconnect(listener: () => void | Promise<void>): () => void;
  /** A snapshot of the counters. */
  metrics(): BusMetrics;
  /** Channels the transport currently delivers to this bus (diagnostics, tests). */
  transportChannels(): string[];
  /** Releases the transport's connections, timers and listeners. Idempotent. */
  close(): Promise<void>;
}

export interface BusOptions {
  /** How messages reach other buses: `memoryTransport()` or `redisTransport({...})`. */
  transport: Transport;
  /**
   * Prefix of every channel name. Default `'x'`: lets several deployments share one Redis
   * without hearing each other. `[A-Za-z0-9_.-]` segments joined by `:`; the first may be a
   * Redis Cluster hash tag (`{x}`), which puts every channel of the bus in one slot.
   */
  prefix?: string;
  /**
   * Origin id for this bus. Default: a fresh `createOrigin()`, because a bus drops messages
   * carrying its own origin and two buses sharing one would never hear each other. Pass
   * `processOrigin()` for an id that is stable over the process's life (one bus per process).
   */
  origin?: string;
  /**
   * Largest message accepted, in bytes of JSON. Default 65,536 (64 KiB): pub/sub is for
   * signals and small events; bulk data belongs in a stream or a database. Channels may set
   * their own `maxBytes`.
   */
  maxMessageBytes?: number;
  /** Where refused payloads, drops and connection trouble are reported. Default: no logging. */
  logger?: Logger;
}
