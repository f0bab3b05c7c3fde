import { describe, expect, it } from 'vitest';
import { verdictOf, type WatchedFrame } from './support/es-watcher.js';

// The chaos test's verdict decides on what a watcher saw; these cases pin its rules on
// hand-written frame sequences (a pure function: no Redis, PostgreSQL or process needed).

const RUN = { passed: 2, failed: 0, total: 2, status: 'completed' };
const NAMES = ['a', 'b'];

/** Numbers the frames of one connection contiguously in epoch `e1`, as the relay does. */
function stream(events: WatchedFrame['data'][]): WatchedFrame[] {
  let seq = 0;
  const frames: WatchedFrame[] = [
    { eventId: null, data: { type: 'snapshot', recovered: true }, at: 0 },
  ];
  for (const data of events) {
    const numbered = data.type !== 'done';
    frames.push({ eventId: numbered ? `${++seq}-e1` : null, data, at: seq });
  }
  return frames;
}

const started = (attempt: number) => ({ type: 'shard', shardIndex: 0, state: 'started', attempt });
const result = (name: string, attempt?: number) => ({
  type: 'result',
  shardIndex: 0,
  name,
  status: 'passed',
  ...(attempt === undefined ? {} : { attempt }),
});
const done = { type: 'done', ...RUN };

describe('verdictOf', () => {
  it('accepts each result once in the latest attempt', () => {
    const v = verdictOf(stream([started(1), result('a', 1), result('b', 1), done]), RUN, NAMES);
    expect(v).toMatchObject({ problems: [], duplicates: [], missing: [], gapped: false });
  });

  it('counts a result seen twice in one attempt as a duplicate', () => {
    const v = verdictOf(
      stream([started(1), result('a', 1), result('a', 1), result('b', 1), done]),
      RUN,
      NAMES,
    );
    expect(v.duplicates).toEqual(['a']);
  });

  it('drops the results of an earlier attempt when the shard starts again', () => {
    const v = verdictOf(
      stream([started(1), result('a', 1), started(2), result('a', 2), result('b', 2), done]),
      RUN,
      NAMES,
    );
    expect(v).toMatchObject({ problems: [], duplicates: [], missing: [] });
  });

  it('ignores a result of an older attempt flushed after the re-run started', () => {
    // The taken-over worker's buffered results land after attempt 2's `started`, even
    // interleaved with the re-run's own: neither a duplicate nor a result.
    const v = verdictOf(
      stream([
        started(1),
        started(2),
        result('a', 1),
        result('a', 2),
        result('b', 1),
        result('b', 2),
        done,
      ]),
      RUN,
      NAMES,
    );
    expect(v).toMatchObject({ problems: [], duplicates: [], missing: [] });
  });

  it('does not count a stale result as the result of its test', () => {
    // Only the old attempt reported `b`: the latest attempt's `b` is missing.
    const v = verdictOf(
      stream([started(1), started(2), result('a', 2), result('b', 1), done]),
      RUN,
      NAMES,
    );
    expect(v.missing).toEqual(['b']);
    expect(v.duplicates).toEqual([]);
  });

  it('keeps results without an attempt (an older emitter) as before', () => {
    const v = verdictOf(
      stream([started(1), result('a'), started(2), result('a'), result('b'), done]),
      RUN,
      NAMES,
    );
    expect(v).toMatchObject({ problems: [], duplicates: [], missing: [] });
  });
});
