import { abortReason, sleep } from '@x/kernel';
import { type DemoTest, demoTestSchema } from '@x/protocol';
import type { Executor } from './executor.js';
import type { TestResult } from './test-schemas.js';

/** Thrown by the demo executor for a test configured with `failAttempts`. */
export class DemoAttemptError extends Error {
  override readonly name = 'DemoAttemptError';
  readonly code = 'fail_attempt' as const;
}

/**
 * The `demo` executor: each test sleeps `durationMs` (waking as soon as the shard is
 * aborted), then reports `outcome` (default pass). A test with `failAttempts: n` throws on
 * attempts 1..n, failing the whole shard attempt, so retries can be exercised.
 */
export function demoExecutor(): Executor<DemoTest> {
  return {
    name: 'demo',
    testSchema: demoTestSchema,
    async execute({ tests, attempt, signal, emit }) {
      const results: TestResult[] = [];
      for (const { testId, test } of tests) {
        if (signal.aborted) throw abortReason(signal);
        const started = performance.now();
        // A zero-duration test takes no timer turn: `setTimeout(0)` waits ≥ 1 ms, which would
        // spread a fast shard's results over many event-log appends.
        if (test.durationMs > 0) await sleep(test.durationMs, { signal });
        if (test.failAttempts !== undefined && attempt <= test.failAttempts) {
          throw new DemoAttemptError(
            `${test.name} fails attempt ${attempt} of its first ${test.failAttempts}`,
          );
        }
        const failed = test.outcome === 'fail';
        const result: TestResult = {
          testId,
          name: test.name,
          status: failed ? 'failed' : 'passed',
          durationMs: Math.round(performance.now() - started),
          error: failed ? 'demo test configured to fail' : null,
        };
        results.push(result);
        emit(result);
      }
      return results;
    },
  };
}
