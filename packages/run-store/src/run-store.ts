import { type Kysely, sql } from 'kysely';
import { callbackOutbox } from './callback-outbox.js';
import { enqueueOutbox } from './enqueue-outbox.js';
import { fairDispatch } from './fair-dispatch.js';
import { idempotentCreate } from './idempotent-create.js';
import { guarded } from './map-error.js';
import { retention } from './retention.js';
import { runFactsMemory } from './run-facts.js';
import { runQueries } from './run-queries.js';
import type { Database } from './schema.js';
import { shardCompletion } from './shard-completion.js';
import type { RunStore } from './types/run-store.js';
import type { RunStoreOptions } from './types/run-store-options.js';
import { requireCount } from './validate.js';

/**
 * The run repository over a migrated database (see {@link migrate}): run queries, shard
 * completion, the callback outbox, the enqueue outbox and retention, each its own set of statements. Every call validates
 * its input before touching the database, so bad input never writes anything, and every
 * failure is a RunStoreError.
 *
 * @example
 * const store = createRunStore(db, { statementsInFlight: 20 }); // openPostgres(url, { max: 20 })
 * const run = await store.createRun({ workspaceId: 'acme', executor: 'demo', shards: [{ testIds: ['a'] }] });
 * const begun = await store.beginShard(run.id, 0, 1);
 * const done = await store.completeShardWithResults(run.id, 0, 1, { passed: 1, failed: 0, skipped: 0 }, [
 *   { testId: 'a', name: 'a', status: 'passed', durationMs: 12, error: null, attempt: 1 },
 * ]);
 * if (done.isFinalizer) await store.finalizeRun(run.id);
 */
export function createRunStore(db: Kysely<Database>, opts: RunStoreOptions = {}): RunStore {
  const facts = runFactsMemory();
  const inFlight = requireCount('statementsInFlight', opts.statementsInFlight ?? 10, 1);
  return {
    ping: () =>
      guarded('ping', async () => {
        await sql`select 1`.execute(db);
      }),
    ...runQueries(db, facts),
    ...shardCompletion(db, inFlight, facts),
    ...callbackOutbox(db),
    ...enqueueOutbox(db),
    ...fairDispatch(db),
    ...idempotentCreate(db),
    ...retention(db),
  };
}
