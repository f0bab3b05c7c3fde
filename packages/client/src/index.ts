export type { EmittedRunEvent, ResultStatus, RunStatus } from '@x/protocol';
export { type ClientOptions, createClient, type XClient } from './create-client.js';
export type { FetchLike } from './http-transport.js';
export type { IdentifiedRunEvent, RunEvent, SnapshotEvent } from './run-event.js';
export type {
  BulkAbortBody,
  CreateRunBody,
  DemoTest,
  HttpMethod,
  HttpTest,
  Result,
  Run,
} from './run-types.js';
export type {
  CallOptions,
  CreateRunOptions,
  ListRunsOptions,
  ResultsOptions,
  RunsApi,
} from './runs-api.js';
export type { WatchOptions } from './watch/watch-run.js';
export type {
  FeedEvent,
  FeedRunEvent,
  FeedSnapshotEvent,
  WatchAllOptions,
} from './watch/watch-workspace.js';
export {
  CLIENT_ERROR_CODES,
  type ClientErrorCode,
  XClientError,
  type XClientErrorCode,
} from './x-client-error.js';
