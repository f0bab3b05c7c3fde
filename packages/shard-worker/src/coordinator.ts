import { randomUUID } from 'node:crypto';
import { MAX_SHARDS, plannedRunProblem } from '@x/protocol';
import type {
  CreateRunInput,
  CreateRunOnceResult,
  IdempotencyInput,
  Run,
  RunStore,
} from '@x/run-store';
import { CoordinatorError } from './coordinator-error.js';
import type { ExecutorRegistry } from './executor.js';
import { partition } from './partition.js';
import type { ShardEnqueuer } from './shard-enqueuer.js';
import type { StoredShardPayload } from './stored-shard-job.js';
import { describeIssues } from './test-schemas.js';
import { currentTraceCarrier } from './trace-context.js';

export interface CoordinatorOptions {
  store: Pick<RunStore, 'createRun' | 'createRunOnce'>;
  /** Hands the stored shards to the queue; the coordinator only wakes it. */
  enqueuer: Pick<ShardEnqueuer, 'wake'>;
  /** When given, the executor must exist and every test must match its schema. */
  executors?: ExecutorRegistry;
  /** Upper bound on `shards`. Default {@link MAX_SHARDS} (64). */
  maxShards?: number;
}

export interface EnqueueRunInput {
  workspaceId: string;
  executor: string;
  name?: string | null;
  callbackUrl?: string | null;
  /** Up to 10 tags (see @x/protocol `tagsSchema`). Default none. */
  tags?: readonly string[];
  /** A JSON object of at most 4 KiB. Default `{}`. */
  metadata?: Record<string, unknown> | null;
  /** Executor inputs; a numeric `durationMs` on every test enables duration balancing. */
  tests: readonly unknown[];
  /** Requested shard count (never more than tests). Default 1. */
  shards?: number;
}

export interface Coordinator {
  /**
   * Partitions the tests and creates the run and its shards, each with its tests, in
   * PostgreSQL (the enqueue outbox), then wakes the enqueuer without waiting for it: the run
   * is `queued` once written, whether or not the queue is reachable, and starts when the
   * enqueuer gets its jobs (ids `${runId}-${shardIndex}`) through.
   */
  enqueueRun(input: EnqueueRunInput): Promise<Run>;
  /**
   * `enqueueRun` at most once per (workspace, key) (`Idempotency-Key`): creates and enqueues the run only when
   * this call created it; `replayed` and `key_reused` enqueue nothing (see run-store's
   * `createRunOnce`).
   */
  enqueueRunOnce(
    input: EnqueueRunInput,
    idempotency: IdempotencyInput,
  ): Promise<CreateRunOnceResult>;
}

function durationOf(test: unknown): number | undefined {
  if (typeof test !== 'object' || test === null) return undefined;
  const value = (test as { durationMs?: unknown }).durationMs;
  return typeof value === 'number' ? value : undefined;
}

/**
 * @example
 * const enqueuer = createShardEnqueuer({ store, queue });
 * const coordinator = createCoordinator({ store, enqueuer, executors });
 * const run = await coordinator.enqueueRun({ workspaceId: 'acme', executor: 'demo',
 *   tests: [{ name: 'a', durationMs: 200 }, { name: 'b', durationMs: 50 }], shards: 2 });
 */
export function createCoordinator({
  store,
  enqueuer,
  executors,
  maxShards = MAX_SHARDS,
}: CoordinatorOptions): Coordinator {
  /** Validates, partitions, creates the run with `create` and wakes the enqueuer if it did. */
  const enqueue = async <R extends CreateRunOnceResult>(
    input: EnqueueRunInput,
    create: (run: CreateRunInput) => Promise<R>,
  ): Promise<R> => {
    const shards = input.shards ?? 1;
    if (!Number.isInteger(shards) || shards < 1 || shards > maxShards) {
      throw new CoordinatorError('invalid_input', `shards must be an integer in 1..${maxShards}`, {
        field: 'shards',
      });
    }
    if (executors) {
      const executor = executors.get(input.executor);
      if (!executor) {
        throw new CoordinatorError(
          'unknown_executor',
          `unknown executor ${JSON.stringify(input.executor)}; known: ${executors.names().join(', ')}`,
          { field: 'executor' },
        );
      }
      input.tests.forEach((test, i) => {
        const parsed = executor.testSchema.safeParse(test);
        if (!parsed.success) {
          throw new CoordinatorError(
            'invalid_input',
            `tests.${i}: ${describeIssues(parsed.error)}`,
            {
              field: `tests.${i}`,
            },
          );
        }
      });
    }
    // The same bound the api's request schema applies: a run may plan at most one hour.
    const tooLong = plannedRunProblem(input.tests);
    if (tooLong) throw new CoordinatorError('invalid_input', tooLong, { field: 'tests' });
    const split = partition(
      input.tests.map((t) => ({ durationMs: durationOf(t) })),
      shards,
    );
    const testId = (i: number) => `t${i}`;
    // The request's trace (OpenTelemetry on) travels with the shards to the workers' spans.
    const trace = currentTraceCarrier();
    const created = await create({
      id: randomUUID(),
      workspaceId: input.workspaceId,
      executor: input.executor,
      name: input.name ?? null,
      callbackUrl: input.callbackUrl ?? null,
      tags: input.tags ?? [],
      metadata: input.metadata ?? null,
      shards: split.map((indexes) => {
        const tests = indexes.map((i) => ({ testId: testId(i), test: input.tests[i] }));
        const payload: StoredShardPayload = trace ? { tests, trace } : tests;
        return { testIds: indexes.map(testId), payload };
      }),
    });
    // A replayed key names a run that was written (and woke an enqueuer) before.
    if (created.outcome === 'created') void enqueuer.wake();
    return created;
  };
  return {
    async enqueueRun(input) {
      const created = await enqueue(input, async (run) => ({
        outcome: 'created' as const,
        run: await store.createRun(run),
      }));
      return created.run;
    },
    enqueueRunOnce: (input, idempotency) =>
      enqueue(input, (run) => store.createRunOnce(run, idempotency)),
  };
}
