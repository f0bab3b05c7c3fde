/** Connection state a bus reports. `reconnecting` also covers "not connected yet". */
export const BUS_STATES = ['connected', 'reconnecting', 'closed'] as const;
export type BusState = (typeof BUS_STATES)[number];

/** What a link reports back to the bus that opened it. */
export interface TransportSink {
  /** Bytes arrived on `channel` (a channel this link subscribed). Must not throw. */
  message(channel: string, raw: string | Buffer): void;
  /** The link's state changed. */
  state(state: BusState): void;
  /** The link reconnected and every channel was subscribed again. */
  reconnected(): void;
  /** Something went wrong below the bus (counted and logged by the bus). */
  error(kind: 'subscribe' | 'connection' | 'receive', error: unknown, context: object): void;
}

/**
 * One bus's connection to the medium. A link knows nothing of envelopes, origins or schemas:
 * the bus owns the protocol; a link only moves bytes and keeps channel subscriptions.
 */
export interface TransportLink {
  readonly state: BusState;
  /** Resolves once connected; rejects if the link failed for good (strict start-up). */
  ready(opts?: { signal?: AbortSignal }): Promise<void>;
  /** Sends bytes on a channel. May reject; the bus counts it and never throws to publishers. */
  send(channel: string, data: string): Promise<unknown> | undefined;
  /**
   * Makes sure the medium delivers `channel` to this link. Called once per channel (the bus
   * reference-counts listeners). Resolves once subscribed, or at once while disconnected (the
   * link subscribes it on reconnect). Never rejects: failures go to `sink.error`.
   */
  subscribe(channel: string): Promise<void>;
  /** The opposite of `subscribe`; same rules. */
  unsubscribe(channel: string): Promise<void>;
  /** Channels the medium currently delivers to this link (for tests and diagnostics). */
  subscribedChannels(): string[];
  /** Releases every connection, timer and listener. Idempotent. */
  close(): Promise<void>;
}

/** A way to reach other buses. `open` is called once per bus using it. */
export interface Transport {
  readonly kind: string;
  open(sink: TransportSink): TransportLink;
}
