/**
 * The slice of an ioredis client (`Redis`, or a `Cluster` for sharded pub/sub) that the Redis
 * transport uses. Declared here so any compatible client fits and tests see what is needed.
 */
export interface RedisPubSubClient {
  /** ioredis connection status: `wait`, `connecting`, `connect`, `ready`, `close`, `end`, ... */
  readonly status: string;
  /**
   * The client's socket, when it has one (ioredis `Redis` does, a `Cluster` does not). The
   * transport corks it while a burst of publishes is written, so they leave in one syscall.
   */
  readonly stream?: { cork(): void; uncork(): void } | undefined;
  publish(channel: string, message: string): Promise<unknown>;
  spublish(channel: string, message: string): Promise<unknown>;
  subscribe(...channels: string[]): Promise<unknown>;
  unsubscribe(...channels: string[]): Promise<unknown>;
  ssubscribe(...channels: string[]): Promise<unknown>;
  sunsubscribe(...channels: string[]): Promise<unknown>;
  connect(): Promise<void>;
  quit(): Promise<unknown>;
  disconnect(): void;
  // biome-ignore lint/suspicious/noExplicitAny: mirrors EventEmitter's listener signature
  on(event: string, listener: (...args: any[]) => void): unknown;
}
