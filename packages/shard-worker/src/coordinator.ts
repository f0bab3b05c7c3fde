import { randomUUID } from 'node:crypto';
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
import type { ShardQueue } from './shard-queue.js';
import {
  describeIssues,
  MAX_SHARDS,
  plannedRunProblem,
  type ShardJobData,
} from './test-schemas.js';

export interface CoordinatorOptions {
  store: RunStore;
  queue: ShardQueue;
  /** Attempts per shard, the first included. Default 3: rides out a flaky host or a dead worker. */
  attempts?: number;
  /** Exponential backoff base between attempts. Default 1000 ms (then 2 s, 4 s…). */
  backoffMs?: number;
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
  /** Executor inputs; a numeric `durationMs` on every test enables duration balancing. */
  tests: readonly unknown[];
  /** Requested shard count (never more than tests). Default 1. */
  shards?: number;
}

export interface Coordinator {
  /**
   * Partitions the tests, creates the run and its shards, and enqueues one job per shard
   * (id `${runId}-${shardIndex}`). If enqueueing fails the run is marked failed and a
   * `CoordinatorError('enqueue_failed')` is thrown, so no run waits forever for jobs.
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
 * const coordinator = createCoordinator({ store, queue, executors, attempts: 3 });
 * const run = await coordinator.enqueueRun({ workspaceId: 'acme', executor: 'demo',
 *   tests: [{ name: 'a', durationMs: 200 }, { name: 'b', durationMs: 50 }], shards: 2 });
 */
export function createCoordinator({
  store,
  queue,
  attempts = 3,
  backoffMs = 1000,
  executors,
  maxShards = MAX_SHARDS,
}: CoordinatorOptions): Coordinator {
  /** Validates, partitions, creates the run with `create` and enqueues it if it was created. */
  const enqueue = async <R extends CreateRunOnceResult>(
    input: EnqueueRunInput,
    create: (run: CreateRunInput) => Promise<R>,
  ): Promise<R> => {
    {
      const shards = input.shards ?? 1;
      if (!Number.isInteger(shards) || shards < 1 || shards > maxShards) {
        throw new CoordinatorError(
          'invalid_input',
          `shards must be an integer in 1..${maxShards}`,
          {
            field: 'shards',
          },
        );
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
              { field: `tests.${i}` },
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
      const newRun = {
        id: randomUUID(),
        workspaceId: input.workspaceId,
        executor: input.executor,
        name: input.name ?? null,
        callbackUrl: input.callbackUrl ?? null,
        shards: split.map((indexes) => ({ testIds: indexes.map(testId) })),
      };
      const created = await create(newRun);
      // Another call with this key made the run (and enqueued it): nothing to enqueue here.
      if (created.outcome !== 'created') return created;
      const { run } = created;
      const jobs: ShardJobData[] = split.map((indexes, shardIndex) => ({
        runId: run.id,
        workspaceId: run.workspaceId,
        shardIndex,
        shardCount: split.length,
        executor: run.executor,
        callbackUrl: run.callbackUrl,
        tests: indexes.map((i) => ({ testId: testId(i), test: input.tests[i] })),
      }));
      try {
        await queue.add(jobs, { attempts, backoffMs });
      } catch (cause) {
        // The run must not stay queued with no jobs; if even that write fails, both errors go up.
        const marked = await store
          .transition(run.id, ['queued'], 'failed', { error: 'could not enqueue shards' })
          .then(
            () => undefined,
            (err: unknown) => err,
          );
        throw new CoordinatorError('enqueue_failed', `could not enqueue run ${run.id}`, {
          cause: marked === undefined ? cause : new AggregateError([cause, marked]),
        });
      }
      return created;
    }
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
