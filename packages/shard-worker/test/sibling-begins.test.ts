import type { BeginShardOutcome } from '@x/run-store';
import { describe, expect, it } from 'vitest';
import { type BeginCall, siblingBegins } from '../src/sibling-begins.js';

const running: BeginShardOutcome = {
  status: 'running',
  started: true,
  wasQueued: false,
  purged: 0,
  released: false,
  shardsCompleted: 0,
  shardCount: 4,
  passed: 0,
  failed: 0,
  total: 4,
};
const call = (shardIndex: number, extra: Partial<BeginCall> = {}): BeginCall => ({
  runId: 'r1',
  shardIndex,
  attempt: 1,
  redelivered: false,
  ...extra,
});

/** A begins instance on a hand-moved clock, counting its statements and shared answers. */
function setup(windowMs = 100) {
  let t = 0;
  let shared = 0;
  const statements: BeginCall[] = [];
  const begins = siblingBegins({ windowMs, now: () => t, onShared: () => shared++ });
  // 'none': the store found no such run (undefined).
  const begin = (c: BeginCall, outcome: BeginShardOutcome | Error | 'none' = running) =>
    begins.begin(c, async () => {
      statements.push(c);
      if (outcome instanceof Error) throw outcome;
      return outcome === 'none' ? undefined : outcome;
    });
  return {
    begin,
    statements,
    shared: () => shared,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

describe('siblingBegins', () => {
  it("answers a run's other first tries from one begin, in flight or done, as running and moved by the first", async () => {
    const s = setup();
    const queued = { ...running, status: 'queued' as const, wasQueued: true };
    const [first, second] = await Promise.all([s.begin(call(0), queued), s.begin(call(1))]);
    s.advance(50);
    const third = await s.begin(call(2));
    expect(s.statements.map((c) => c.shardIndex)).toEqual([0]);
    expect(s.shared()).toBe(2);
    expect(first).toEqual(queued);
    for (const o of [second, third])
      expect(o).toEqual({ ...queued, status: 'running', wasQueued: false, purged: 0 });
  });

  it('runs its own statement for a retry, a redelivery, another run, or a begin older than the window', async () => {
    const s = setup();
    await s.begin(call(0));
    await s.begin(call(1, { attempt: 2 }));
    await s.begin(call(2, { redelivered: true }));
    await s.begin(call(0, { runId: 'r2' }));
    s.advance(101);
    await s.begin(call(3));
    expect(s.statements.map((c) => `${c.runId}/${c.shardIndex}`)).toEqual([
      'r1/0',
      'r1/1',
      'r1/2',
      'r2/0',
      'r1/3',
    ]);
    expect(s.shared()).toBe(0);
  });

  it('does not share what a sibling saw unless the run was live, untouched and sent whole', async () => {
    const refusals: (BeginShardOutcome | Error | 'none')[] = [
      'none', // no such run
      new Error('database unreachable'),
      { ...running, status: 'aborted', started: false },
      { ...running, started: false }, // the sibling's shard was completed already
      { ...running, shardsCompleted: 1 }, // a shard completed: maybe this one
      { ...running, released: true }, // fair dispatch: this begin writes the shard
      { ...running, status: 'queued', wasQueued: false }, // an abort may have won the row
      { ...running, shardCount: 2 }, // shard 3 is out of range: the store says so
    ];
    for (const sibling of refusals) {
      const s = setup();
      await s.begin(call(0), sibling).catch(() => {});
      await s.begin(call(3));
      expect(s.statements).toHaveLength(2);
      expect(s.shared()).toBe(0);
    }
  });

  it('refuses a window that is not a non-negative number of ms, naming the option', () => {
    for (const windowMs of [-1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => siblingBegins({ windowMs })).toThrow(
        /siblingBeginWindowMs must be a non-negative number of ms/,
      );
  });

  it('with a window of 0 every begin is a statement', async () => {
    const s = setup(0);
    await Promise.all([s.begin(call(0)), s.begin(call(1))]);
    expect(s.statements).toHaveLength(2);
  });
});
