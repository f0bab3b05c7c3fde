import type { ResultStatus, RunStatus } from '@x/protocol';
import type { ColumnType, Generated } from 'kysely';
import type { CallbackState, ShardStatus } from './run-status.js';

/** A column the database fills in on insert (defaults) but that reads back as `T`. */
type Defaulted<T> = ColumnType<T, T | undefined, T>;

export interface WorkspacesTable {
  id: string;
  created_at: Defaulted<Date>;
}

export interface RunsTable {
  id: Defaulted<string>;
  workspace_id: string;
  status: Defaulted<RunStatus>;
  executor: string;
  name: string | null;
  shard_count: number;
  shards_completed: Defaulted<number>;
  total: number;
  passed: Defaulted<number>;
  failed: Defaulted<number>;
  retry_count: Defaulted<number>;
  failed_after_retry: Defaulted<number>;
  /** Running sums of the completions that counted themselves (0015): see complete-shard.ts. */
  completion_retries: Defaulted<number>;
  completion_failed_after_retry: Defaulted<number>;
  completions_counted: Defaulted<number>;
  callback_url: string | null;
  error: string | null;
  created_at: Defaulted<Date>;
  started_at: Date | null;
  finished_at: Date | null;
  duration_ms: number | null;
  /** Outbox state of the completion callback; null while live or when there is no callback_url. */
  callback_state: Defaulted<CallbackState | null>;
  /** Claims so far (each claim is one delivery attempt). */
  callback_attempts: Defaulted<number>;
  /** Not before: when the callback became pending, or when its next retry is due. */
  callback_due_at: Defaulted<Date | null>;
  /** When the current `sending` claim was taken; its lease runs from here. */
  callback_claimed_at: Defaulted<Date | null>;
  callback_sent_at: Defaulted<Date | null>;
  /** The last failed attempt's error. */
  callback_error: Defaulted<string | null>;
  /** When the enqueuer handed every shard to the queue; null while the run waits in the outbox. */
  enqueued_at: Defaulted<Date | null>;
  /** When fair dispatch first released a shard of it (0008); null: not yet, or FIFO. A hint
   * that narrows the dispatcher's count: it may stay set after the queue refused the shards. */
  released_at: Defaulted<Date | null>;
  /** When an enqueuer claimed the run; its lease runs from here (a dead enqueuer's expires). */
  enqueue_claimed_at: Defaulted<Date | null>;
  /** Up to 10 tags (`[a-z0-9._:-]{1,64}`); `{}` when none. */
  tags: Defaulted<string[]>;
  /** A JSON object (≤ 4 KiB), `{}` when none. */
  metadata: Defaulted<Record<string, unknown>>;
}

export interface RunShardsTable {
  run_id: string;
  shard_index: number;
  status: Defaulted<ShardStatus>;
  /** The latest attempt recorded for this shard, 1-based; 0 = never started. */
  attempt: Defaulted<number>;
  test_ids: string[];
  passed: Defaulted<number>;
  failed: Defaulted<number>;
  skipped: Defaulted<number>;
  completed_at: Date | null;
  /** The shard's job input (JSON), kept to enqueue it later or again; null before 0003. */
  payload: Defaulted<unknown>;
  /** When fair dispatch handed this shard to the queue; null: not yet, or enqueued whole (0007). */
  released_at: Defaulted<Date | null>;
}

export interface RunResultsTable {
  /** Insertion order; the tiebreaker of result pagination. Read as text (it is a bigint). */
  seq: Generated<string>;
  run_id: string;
  shard_index: number;
  test_id: string;
  name: string;
  status: ResultStatus;
  duration_ms: number;
  error: string | null;
  /** 1-based attempt that produced this result; 0 = not executed (pre-seeded skip). */
  attempt: number;
}

/** A named lease: whoever holds an unexpired row is the one active instance. */
export interface LeasesTable {
  name: string;
  holder: string;
  expires_at: Date;
}

export interface IdempotencyKeysTable {
  workspace_id: string;
  key: string;
  /** The caller's fingerprint of the request body: the same key with another body is refused. */
  request_hash: string;
  run_id: string;
  created_at: Defaulted<Date>;
}

export interface MigrationsTable {
  name: string;
  applied_at: Defaulted<Date>;
}

/** The Kysely database type of the run store. */
export interface Database {
  workspaces: WorkspacesTable;
  runs: RunsTable;
  run_shards: RunShardsTable;
  run_results: RunResultsTable;
  leases: LeasesTable;
  idempotency_keys: IdempotencyKeysTable;
  x_run_store_migrations: MigrationsTable;
}
