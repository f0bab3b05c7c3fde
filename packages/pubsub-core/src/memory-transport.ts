import { PubSubError } from './pubsub-error.js';
import type { BusState, Transport, TransportLink, TransportSink } from './transport.js';

/**
 * In-process transport (the embedded mode). Every bus opened on the same `memoryTransport()`
 * shares one hub, like processes sharing one Redis. Messages go through the same encode /
 * decode path as on Redis (the publisher's own link receives its echo and the bus drops it),
 * and are delivered asynchronously, in publish order, as a network would.
 *
 * @example
 * const transport = memoryTransport();
 * const a = createBus({ transport, origin: createOrigin() });
 * const b = createBus({ transport, origin: createOrigin() });
 */
export function memoryTransport(): MemoryTransport {
  const hub = new Map<string, Set<MemoryLink>>();
  return {
    kind: 'memory',
    open: (sink) => new MemoryLink(hub, sink),
    subscriberCount: (channel) => hub.get(channel)?.size ?? 0,
  };
}

/** The memory transport, with the hub's equivalent of `PUBSUB NUMSUB` for diagnostics. */
export interface MemoryTransport extends Transport {
  /** How many links (buses) the hub delivers `channel` to. */
  subscriberCount(channel: string): number;
}

class MemoryLink implements TransportLink {
  state: BusState = 'connected';
  private readonly channels = new Set<string>();

  constructor(
    private readonly hub: Map<string, Set<MemoryLink>>,
    private readonly sink: TransportSink,
  ) {}

  ready(): Promise<void> {
    return this.state === 'closed'
      ? Promise.reject(new PubSubError('closed', 'the transport is closed'))
      : Promise.resolve();
  }

  send(channel: string, data: string): undefined {
    const links = this.hub.get(channel);
    if (!links) return;
    for (const link of links) queueMicrotask(() => link.deliver(channel, data));
  }

  private deliver(channel: string, data: string): void {
    if (this.channels.has(channel)) this.sink.message(channel, data);
  }

  subscribe(channel: string): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    this.channels.add(channel);
    const links = this.hub.get(channel) ?? new Set<MemoryLink>();
    this.hub.set(channel, links);
    links.add(this);
    return Promise.resolve();
  }

  unsubscribe(channel: string): Promise<void> {
    this.channels.delete(channel);
    const links = this.hub.get(channel);
    links?.delete(this);
    if (links?.size === 0) this.hub.delete(channel);
    return Promise.resolve();
  }

  subscribedChannels(): string[] {
    return [...this.channels];
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    for (const channel of [...this.channels]) await this.unsubscribe(channel);
    this.state = 'closed';
    this.sink.state('closed');
  }
}
