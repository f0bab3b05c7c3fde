import type { CallbackOutbox } from './callback-outbox.js';
import type { EnqueueOutbox } from './enqueue-outbox.js';
import type { FairDispatch } from './fair-dispatch.js';
import type { IdempotentCreate } from './idempotent-create.js';
import type { Retention } from './retention.js';
import type { RunQueries } from './run-queries.js';
import type { ShardCompletion } from './shard-completion.js';

/**
 * The run repository: run queries, shard completion, the callback and enqueue outboxes over one
 * database. Every method is one statement (one round trip) unless noted.
 */
export interface RunStore
  extends RunQueries,
    ShardCompletion,
    CallbackOutbox,
    EnqueueOutbox,
    FairDispatch,
    IdempotentCreate,
    Retention {
  /**
   * One cheap round trip (`select 1`), for readiness probes. Throws RunStoreError
   * `unavailable` when the database cannot be reached.
   */
  ping(): Promise<void>;
}
