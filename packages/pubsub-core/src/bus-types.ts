import type { ChannelContract } from './channel-contract.js';
import type { Logger } from './logger.js';
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

/** A channel contract bound to a bus and its parameters. */
export interface BoundChannel<P> {
  /** Full channel name, prefix included, e.g. `x:run:42:events`. */
  readonly name: string;
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
  subscribe(listener: Listener<P>): Promise<Subscription>;
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
   * without hearing each other. `[A-Za-z0-9_.:-]` only.
   */
  prefix?: string;
  /**
   * Origin id for this bus. Default: `processOrigin()` for the first open bus of the process,
   * a fresh `createOrigin()` for each further one, because a bus drops messages carrying its
   * own origin and two buses sharing one would never hear each other.
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
