import { type BackoffOptions, backoffDelay } from '@x/kernel';
import { PubSubError } from './pubsub-error.js';
import type { RedisPubSubClient } from './redis-client.js';
import type { BusState, TransportLink, TransportSink } from './transport.js';
import { Waiters } from './waiters.js';

export interface RedisLinkOptions {
  make: (role: 'publisher' | 'subscriber') => RedisPubSubClient;
  sharded: boolean;
  strict: boolean;
  connectTimeoutMs: number;
  backoff: BackoffOptions;
}

const NOT_CONNECTED = new PubSubError('connect_failed', 'publisher connection is not ready');

/**
 * One bus's pair of Redis connections. The subscriber's channel set is kept here (`desired`)
 * separately from what the server has acknowledged (`active`), and a single `message` handler
 * is registered once per connection: a retried SUBSCRIBE can never stack a second handler
 * (the double-dispatch bug of registering the handler next to the subscribe call).
 */
export class RedisLink implements TransportLink {
  state: BusState = 'reconnecting';
  private readonly pub: RedisPubSubClient;
  private readonly sub: RedisPubSubClient;
  private readonly desired = new Set<string>();
  private readonly active = new Set<string>();
  private readonly chains = new Map<string, Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly waiters = new Waiters();
  private pubReady = false;
  private subReady = false;
  /** Bumped whenever the subscriber connection drops: stale replies must not touch `active`. */
  private generation = 0;
  private everConnected = false;
  private closed = false;
  private failure: PubSubError | undefined;
  private lastError: unknown;
  private retryAttempt = 0;
  private corked: { uncork(): void } | undefined;
  private readonly uncork = () => {
    const stream = this.corked;
    this.corked = undefined;
    stream?.uncork();
  };

  constructor(
    private readonly opts: RedisLinkOptions,
    private readonly sink: TransportSink,
  ) {
    this.pub = opts.make('publisher');
    this.sub = opts.make('subscriber');
    this.watch(this.pub, 'publisher');
    this.watch(this.sub, 'subscriber');
    this.sub.on(opts.sharded ? 'smessage' : 'message', (channel: string, message: string) => {
      try {
        sink.message(channel, message);
      } catch (error) {
        // The sink never throws by contract; if it does, the connection must survive it.
        sink.error('receive', error, { channel });
      }
    });
    if (opts.strict) {
      this.schedule(opts.connectTimeoutMs, () => {
        if (this.everConnected) return;
        const cause = this.lastError instanceof Error ? `: ${this.lastError.message}` : '';
        this.fail(
          new PubSubError(
            'connect_timeout',
            `Redis not ready within ${opts.connectTimeoutMs} ms${cause}`,
            {
              cause: this.lastError,
            },
          ),
        );
      });
    }
    for (const client of [this.pub, this.sub]) {
      if (client.status === 'wait') {
        client.connect().catch((error: unknown) => {
          this.lastError = error; // ioredis keeps retrying per its retryStrategy
        });
      } else if (client.status === 'ready') {
        queueMicrotask(() => (client === this.pub ? this.onPubReady() : this.onSubReady()));
      }
    }
  }

  private watch(client: RedisPubSubClient, role: 'publisher' | 'subscriber'): void {
    client.on('ready', () => (role === 'publisher' ? this.onPubReady() : this.onSubReady()));
    client.on('close', () => {
      if (role === 'publisher') this.pubReady = false;
      else {
        this.subReady = false;
        this.generation++;
        this.active.clear(); // the server forgets a connection's subscriptions with it
      }
      this.update();
    });
    // An 'error' without a listener would crash the process; report it instead.
    client.on('error', (error: unknown) => {
      this.lastError = error;
      if (!this.closed) this.sink.error('connection', error, { role });
    });
  }

  private onPubReady(): void {
    if (this.closed) return;
    this.pubReady = true;
    this.update();
  }

  private onSubReady(): void {
    if (this.closed) return;
    void this.resubscribe(this.generation);
  }

  /** Brings the server in line with `desired`, then declares the subscriber ready. */
  private async resubscribe(generation: number): Promise<void> {
    try {
      for (;;) {
        if (generation !== this.generation || this.closed) return;
        const missing = [...this.desired].filter((c) => !this.active.has(c));
        const extra = [...this.active].filter((c) => !this.desired.has(c));
        if (missing.length === 0 && extra.length === 0) break;
        if (missing.length > 0) await this.command('subscribe', missing, generation);
        if (extra.length > 0) await this.command('unsubscribe', extra, generation);
      }
      this.retryAttempt = 0;
      this.subReady = true;
      this.update();
    } catch (error) {
      this.sink.error('subscribe', error, { channels: this.desired.size });
      // Still connected (e.g. an ACL refusal): retry later rather than spin or give up.
      if (generation === this.generation && this.sub.status === 'ready') {
        this.schedule(backoffDelay(++this.retryAttempt, this.opts.backoff), () =>
          this.onSubReady(),
        );
      }
    }
  }

  private async command(kind: 'subscribe' | 'unsubscribe', channels: string[], generation: number) {
    const { sub, opts } = this;
    if (opts.sharded) {
      // One command per channel: in a cluster, channels of one SSUBSCRIBE must share a slot.
      for (const channel of channels) {
        await (kind === 'subscribe' ? sub.ssubscribe(channel) : sub.sunsubscribe(channel));
      }
    } else {
      for (let i = 0; i < channels.length; i += 1_000) {
        const chunk = channels.slice(i, i + 1_000);
        await (kind === 'subscribe' ? sub.subscribe(...chunk) : sub.unsubscribe(...chunk));
      }
    }
    if (generation !== this.generation) return;
    for (const channel of channels) {
      if (kind === 'subscribe') this.active.add(channel);
      else this.active.delete(channel);
    }
  }

  private update(): void {
    if (this.closed) return;
    const next: BusState = this.pubReady && this.subReady ? 'connected' : 'reconnecting';
    if (next === this.state) return;
    this.state = next;
    this.sink.state(next);
    if (next !== 'connected') return;
    this.waiters.resolveAll();
    if (this.everConnected) this.sink.reconnected();
    this.everConnected = true;
  }

  ready(readyOpts: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new PubSubError('closed', 'the transport is closed'));
    if (this.state === 'connected') return Promise.resolve();
    return this.waiters.wait(readyOpts.signal);
  }

  send(channel: string, data: string): Promise<unknown> {
    if (!this.pubReady) return Promise.reject(NOT_CONNECTED);
    if (this.corked === undefined) {
      // Publishes issued in one tick leave in a single write: most of a publish's cost under
      // load is the syscall, and a lone message is only delayed to the end of the tick.
      const stream = this.pub.stream;
      if (stream) {
        stream.cork();
        this.corked = stream;
        process.nextTick(this.uncork);
      }
    }
    return this.opts.sharded ? this.pub.spublish(channel, data) : this.pub.publish(channel, data);
  }

  subscribe(channel: string): Promise<void> {
    this.desired.add(channel);
    return this.sync(channel);
  }

  unsubscribe(channel: string): Promise<void> {
    this.desired.delete(channel);
    return this.sync(channel);
  }

  subscribedChannels(): string[] {
    return [...this.active];
  }

  /** Serialises commands per channel so a quick subscribe/unsubscribe/subscribe stays ordered. */
  private sync(channel: string): Promise<void> {
    const previous = this.chains.get(channel) ?? Promise.resolve();
    const next = previous.then(() => this.apply(channel));
    this.chains.set(channel, next);
    void next.finally(() => {
      if (this.chains.get(channel) === next) this.chains.delete(channel);
    });
    return next;
  }

  private async apply(channel: string, attempt = 0): Promise<void> {
    // While not ready, resubscribe() reconciles everything once the connection is back.
    if (this.closed || !this.subReady) return;
    const want = this.desired.has(channel);
    if (want === this.active.has(channel)) return;
    const generation = this.generation;
    try {
      await this.command(want ? 'subscribe' : 'unsubscribe', [channel], generation);
    } catch (error) {
      this.sink.error('subscribe', error, { channel, op: want ? 'subscribe' : 'unsubscribe' });
      if (generation === this.generation && this.subReady) {
        this.schedule(backoffDelay(attempt + 1, this.opts.backoff), () => {
          void this.sync(channel);
        });
      }
    }
  }

  private schedule(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(timer);
  }

  private fail(error: PubSubError): void {
    this.failure = error;
    this.sink.error('connection', error, { strict: true });
    this.waiters.rejectAll(error);
    void this.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const closedError = this.failure ?? new PubSubError('closed', 'the transport was closed');
    this.waiters.rejectAll(closedError);
    this.state = 'closed';
    this.sink.state('closed');
    await Promise.all([shutdown(this.pub), shutdown(this.sub)]);
  }
}

async function shutdown(client: RedisPubSubClient): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
    } catch {
      // QUIT failing means the connection is already gone; disconnect() below finishes the job.
    }
  }
  client.disconnect();
}
