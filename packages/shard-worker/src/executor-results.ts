import type { ExecutorTest } from './executor.js';
import type { TestResult } from './test-schemas.js';

/**
 * Refuses an executor's results unless each names one of the shard's tests, at most once.
 * The store keys a run's results by shard, not by test (run-store's migration 0013): a
 * result for a sibling's test would be stored as a second row for that test. Throws, as an
 * executor that throws does (the attempt fails), naming the first result out of place.
 */
export function checkExecutorResults(
  shardIndex: number,
  tests: readonly ExecutorTest<unknown>[],
  results: readonly TestResult[],
): void {
  const unreported = new Set(tests.map((t) => t.testId));
  for (const { testId } of results) {
    if (unreported.delete(testId)) continue;
    const problem = tests.some((t) => t.testId === testId)
      ? ' twice'
      : `, which is not a test of shard ${shardIndex}`;
    throw new Error(`the executor reported test ${JSON.stringify(testId)}${problem}`);
  }
}
