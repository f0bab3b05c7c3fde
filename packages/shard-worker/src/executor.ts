import type { z } from 'zod';
import { ShardWorkerError } from './shard-worker-error.js';
import type { TestResult } from './test-schemas.js';

/** One test handed to an executor: the id the coordinator gave it and its validated input. */
export interface ExecutorTest<T> {
  testId: string;
  test: T;
}

export interface ExecuteInput<T> {
  run: { id: string; workspaceId: string; executor: string };
  shardIndex: number;
  tests: readonly ExecutorTest<T>[];
  /** 1-based attempt number of this shard. */
  attempt: number;
  /** Aborts on a run abort, a sibling's failure or a worker shutdown: stop promptly and throw. */
  signal: AbortSignal;
  /** Reports one test's result as soon as it lands (for live `result` events). */
  emit: (result: TestResult) => void;
}

/**
 * Runs the tests of one shard. Throwing fails the attempt (the shard is retried while it has
 * attempts left); a test that merely fails is a `failed` result, not a throw.
 */
export interface Executor<T = unknown> {
  readonly name: string;
  /** Validates one test's input, at enqueue and again when a worker picks the job up. */
  readonly testSchema: z.ZodType<T>;
  execute(input: ExecuteInput<T>): Promise<TestResult[]>;
}

export interface ExecutorRegistry {
  get(name: string): Executor | undefined;
  names(): string[];
}

/** A registry of executors by name; a duplicate name is a programming error and throws. */
export function createExecutorRegistry(executors: readonly Executor<unknown>[]): ExecutorRegistry {
  const byName = new Map<string, Executor>();
  for (const executor of executors) {
    if (byName.has(executor.name))
      throw new ShardWorkerError(
        'duplicate_executor',
        `executor ${executor.name} registered twice`,
      );
    byName.set(executor.name, executor);
  }
  return {
    get: (name) => byName.get(name),
    names: () => [...byName.keys()],
  };
}
