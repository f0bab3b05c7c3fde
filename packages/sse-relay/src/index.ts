export type { EventPosition } from './compute-replay.js';
export type { EmitBufferMetrics, SettleOutcome } from './emit-buffer.js';
export { EPOCH_PATTERN } from './epoch-id.js';
export type {
  AppendOptions,
  AppendResult,
  AppendToken,
  EventLog,
  HistoryRead,
  LogHead,
  NewStoredEvent,
  StoredEvent,
} from './event-log.js';
export { type EventLogKeys, eventLogKeys } from './event-log-keys.js';
export {
  createFeedRouter,
  type FeedRouter,
  type FeedRouterMetrics,
  type FeedRouterOptions,
} from './feed-router.js';
export { LISTEN_END_REASONS, type ListenEndReason } from './listener-entry.js';
export { memoryEventLog } from './memory-event-log.js';
export { type EventLogRedis, type RedisEventLogOptions, redisEventLog } from './redis-event-log.js';
export {
  EMITTED_EVENT_TYPES,
  type EmittedEventType,
  RUN_EVENT_PAYLOAD_SCHEMAS,
  RUN_EVENT_TYPES,
  type RunEvent,
  type RunEventPayloads,
  type RunEventType,
} from './run-event-types.js';
export { BUFFERED_SEQ, createRunEvents } from './run-events.js';
export type {
  EmitOptions,
  ListenHandle,
  ListenOptions,
  NewRunEvent,
  RunEvents,
  RunEventsMetrics,
  RunEventsOptions,
  SettleOptions,
} from './run-events-api.js';
export { runEventsChannel, type WireRunEvent, wireRunEventSchema } from './run-events-channel.js';
export {
  RUN_EVENTS_ERROR_CODES,
  RunEventsError,
  type RunEventsErrorCode,
} from './run-events-error.js';
export {
  createSseRouter,
  type SseRouter,
  type SseRouterMetrics,
  type SseRouterOptions,
} from './sse-router.js';
export {
  createWorkspaceFeed,
  type FeedRun,
  type FeedRunInfo,
  type WorkspaceFeed,
  type WorkspaceFeedMetrics,
  type WorkspaceFeedOptions,
  workspaceFeedKey,
} from './workspace-feed.js';
