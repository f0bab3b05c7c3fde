export { migrate } from './migrate.js';
export { MIGRATIONS, type Migration } from './migrations.js';
export { openPglite } from './open-pglite.js';
export { type OpenPostgresOptions, openPostgres } from './open-postgres.js';
export {
  CALLBACK_STATES,
  type CallbackState,
  SHARD_STATUSES,
  type ShardStatus,
} from './run-status.js';
export { createRunStore } from './run-store.js';
export { RUN_STORE_ERROR_CODES, RunStoreError, type RunStoreErrorCode } from './run-store-error.js';
export type { Database } from './schema.js';
export type {
  CallbackClaim,
  CallbackOutbox,
  CallbackPayload,
  CallbackStatus,
  ClaimCallbacksQuery,
} from './types/callback-outbox.js';
export type {
  ClaimEnqueuesQuery,
  EnqueueClaim,
  EnqueueOutbox,
  EnqueueRunFields,
  LiveShard,
  LiveShardsQuery,
  StoredShard,
} from './types/enqueue-outbox.js';
export type {
  DispatchOutcome,
  DispatchQuery,
  DispatchShard,
  FairDispatch,
  WorkspaceShare,
} from './types/fair-dispatch.js';
export {
  type CreateRunOnceResult,
  IDEMPOTENCY_KEY_EXPIRY_MS,
  IDEMPOTENCY_KEY_MIN_AGE_MS,
  type IdempotencyInput,
  type IdempotentCreate,
} from './types/idempotent-create.js';
export type { DeletedRows, DeleteFinishedRunsQuery, Retention } from './types/retention.js';
export type { NewResult, Run, RunResult, ShardStats } from './types/run.js';
export type {
  CreateRunInput,
  ListRunsQuery,
  ResultsQuery,
  RunFacts,
  RunQueries,
  TransitionFields,
  TransitionResult,
} from './types/run-queries.js';
export type { RunStore } from './types/run-store.js';
export type { RunStoreOptions } from './types/run-store-options.js';
export type {
  BeginShardOutcome,
  CompleteShardOutcome,
  ShardCompletion,
} from './types/shard-completion.js';
