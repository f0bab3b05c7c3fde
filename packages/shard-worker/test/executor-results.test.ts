import { expect, it } from 'vitest';
import { checkExecutorResults } from '../src/executor-results.js';

const tests = [
  { testId: 't0', test: {} },
  { testId: 't2', test: {} },
];
const result = (testId: string) => ({
  testId,
  name: testId,
  status: 'passed' as const,
  durationMs: 0,
  error: null,
});

it("takes each of the shard's tests at most once, and refuses another shard's or a repeat", () => {
  expect(() => checkExecutorResults(1, tests, [result('t2'), result('t0')])).not.toThrow();
  expect(() => checkExecutorResults(1, tests, [result('t0')])).not.toThrow();
  expect(() => checkExecutorResults(1, tests, [result('t0'), result('t1')])).toThrow(
    'the executor reported test "t1", which is not a test of shard 1',
  );
  expect(() => checkExecutorResults(1, tests, [result('t2'), result('t2')])).toThrow(
    'the executor reported test "t2" twice',
  );
});
