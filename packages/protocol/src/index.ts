export {
  API_ERROR_CODES,
  API_ERROR_STATUS,
  type ApiErrorBody,
  type ApiErrorCode,
} from './api-errors.js';
export {
  EMITTED_EVENT_TYPES,
  type EmittedEventType,
  type EmittedRunEvent,
  LOG_LEVELS,
  type LogLevel,
  RESERVED_PAYLOAD_KEYS,
  RUN_EVENT_PAYLOAD_SCHEMAS,
  RUN_EVENT_TYPES,
  type RunEventPayloads,
  type RunEventType,
  SHARD_STATES,
  type ShardState,
} from './run-events.js';
export {
  isRunStatus,
  isTerminal,
  LIVE_STATUSES,
  type LiveStatus,
  RESULT_STATUSES,
  type ResultStatus,
  RUN_STATUSES,
  type RunStatus,
  TERMINAL_STATUSES,
  type TerminalStatus,
} from './run-status.js';
