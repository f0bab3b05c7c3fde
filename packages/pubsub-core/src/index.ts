export { createBus } from './bus.js';
export type {
  BoundChannel,
  Bus,
  BusOptions,
  ChannelParamsArg,
  Listener,
  MessageMeta,
  ScriptEnvelope,
  SubscribeOptions,
  Subscription,
} from './bus-types.js';
export {
  CHANNEL_PARAM_PATTERN,
  type ChannelContract,
  type ChannelDefinition,
  defineChannel,
  type ParamsOf,
  type ParseResult,
} from './channel-contract.js';
export { DROP_REASONS, type DropReason } from './drop-reasons.js';
export { type DecodeResult, decodeEnvelope, type Envelope, encodeEnvelope } from './envelope.js';
export { type MemoryTransport, memoryTransport } from './memory-transport.js';
export { type BusMetrics, emptyMetrics } from './metrics.js';
export { createOrigin, ORIGIN_PATTERN, processOrigin } from './origin.js';
export { PUBSUB_ERROR_CODES, PubSubError, type PubSubErrorCode } from './pubsub-error.js';
export type { RedisPubSubClient } from './redis-client.js';
export { type RedisTransportOptions, redisTransport } from './redis-transport.js';
export {
  BUS_STATES,
  type BusState,
  type Transport,
  type TransportLink,
  type TransportSink,
} from './transport.js';
