import { CoordinatorError } from './coordinator-error.js';
/** The part of a test the partitioner looks at. */
export interface Partitionable {
  durationMs?: number | undefined;
}

/**
 * Splits `tests` into `shardCount` shards, deterministically (same input, same split) and
 * returns each shard's test indexes in their original order.
 *
 * When every test has a known `durationMs`, shards are balanced by duration with the
 * longest-processing-time-first greedy: tests sorted by duration (descending, index as the
 * tie-break) each go to the currently lightest shard (fewest tests, then lowest index, on ties). Otherwise tests
 * are dealt round-robin. Shards never outnumber tests (empty shards would only cost jobs),
 * except that zero tests still make one empty shard so the run can finalize.
 */
export function partition(tests: readonly Partitionable[], shardCount: number): number[][] {
  if (!Number.isInteger(shardCount) || shardCount < 1) {
    throw new CoordinatorError(
      'invalid_input',
      `shards must be a positive integer, got ${shardCount}`,
      { field: 'shards' },
    );
  }
  const count = Math.max(1, Math.min(shardCount, tests.length));
  const shards: number[][] = Array.from({ length: count }, () => []);
  const known = tests.every(
    (t) => typeof t.durationMs === 'number' && Number.isFinite(t.durationMs) && t.durationMs >= 0,
  );
  if (!known) {
    tests.forEach((_, i) => {
      shards[i % count]!.push(i);
    });
    return shards;
  }
  const order = tests
    .map((t, i) => ({ i, d: t.durationMs! }))
    .sort((a, b) => b.d - a.d || a.i - b.i);
  const load = new Array<number>(count).fill(0);
  for (const { i, d } of order) {
    let lightest = 0;
    for (let s = 1; s < count; s++) {
      const lighter = load[s]! < load[lightest]!;
      // Equal load (e.g. all-zero durations): the shard with fewer tests, so it stays balanced.
      const fewer = load[s] === load[lightest] && shards[s]!.length < shards[lightest]!.length;
      if (lighter || fewer) lightest = s;
    }
    load[lightest]! += d;
    shards[lightest]!.push(i);
  }
  for (const shard of shards) shard.sort((a, b) => a - b);
  return shards;
}
