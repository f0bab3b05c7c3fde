import { describe, expect, it } from 'vitest';
import { busyRuns } from '../src/busy-runs.js';
import { groupCommit } from '../src/group-commit.js';

/** A writer that records its batches and answers only when `release` is called. */
function recorder() {
  const batches: string[][] = [];
  const gates: (() => void)[] = [];
  const write = async (batch: readonly string[]) => {
    batches.push([...batch]);
    await new Promise<void>((r) => gates.push(r));
    return batch.map((c) => `${c}!`);
  };
  /** Answers every statement in flight, then lets the next ones be sent. */
  const release = async () => {
    for (const open of gates.splice(0)) open();
    await new Promise((r) => setImmediate(r));
  };
  return { batches, write, release };
}

/** Calls are `run:shard` strings: the run is the part before the colon. */
const runOf = (c: string) => c.split(':')[0] ?? c;

describe('groupCommit by run (busy-runs)', () => {
  it('sends each call of a different run at once, alone (no batch without contention)', async () => {
    const rec = recorder();
    const runs = busyRuns({ statementsInFlight: 16 });
    const call = groupCommit({ write: rec.write, key: String, run: runOf, runs });
    const outs = ['a:0', 'b:0', 'c:0'].map(call);
    // Synchronously written: no tick waited for company.
    expect(rec.batches).toEqual([['a:0'], ['b:0'], ['c:0']]);
    await rec.release();
    expect(await Promise.all(outs)).toEqual(['a:0!', 'b:0!', 'c:0!']);
  });

  it("gathers the calls behind their run's statement in flight into one batch, written when it returns", async () => {
    const rec = recorder();
    const runs = busyRuns({ statementsInFlight: 16 });
    const call = groupCommit({ write: rec.write, key: String, run: runOf, runs });
    const outs = ['a:0', 'a:1', 'b:0', 'a:2', 'a:3'].map(call);
    // b is not held back by a's contention.
    expect(rec.batches).toEqual([['a:0'], ['b:0']]);
    await rec.release();
    expect(rec.batches).toEqual([['a:0'], ['b:0'], ['a:1', 'a:2', 'a:3']]);
    await rec.release();
    expect(await Promise.all(outs)).toEqual(['a:0!', 'a:1!', 'b:0!', 'a:2!', 'a:3!']);
    // With the run idle again, its next call goes alone at once.
    const later = call('a:4');
    expect(rec.batches.at(-1)).toEqual(['a:4']);
    await rec.release();
    expect(await later).toBe('a:4!');
  });

  it('keeps one run to one statement in flight across kinds, each kind batched on its own', async () => {
    const begins = recorder();
    const completions = recorder();
    const runs = busyRuns({ statementsInFlight: 16 });
    const begin = groupCommit({ write: begins.write, key: String, run: runOf, runs });
    const complete = groupCommit({ write: completions.write, key: String, run: runOf, runs });
    const outs = [begin('a:0'), complete('a:1'), begin('a:2'), complete('a:3'), complete('b:0')];
    expect(begins.batches).toEqual([['a:0']]);
    expect(completions.batches).toEqual([['b:0']]);
    await begins.release();
    // The oldest waiting call of run a is a completion: the completions go, the begin waits.
    expect(completions.batches).toEqual([['b:0'], ['a:1', 'a:3']]);
    expect(begins.batches).toEqual([['a:0']]);
    await completions.release();
    expect(begins.batches).toEqual([['a:0'], ['a:2']]);
    await begins.release();
    expect(await Promise.all(outs)).toEqual(['a:0!', 'a:1!', 'a:2!', 'a:3!', 'b:0!']);
  });

  it('never has more statements in flight than statementsInFlight; the runs that waited for the budget share the next batch', async () => {
    const rec = recorder();
    const runs = busyRuns({ statementsInFlight: 2 });
    const call = groupCommit({ write: rec.write, key: String, run: runOf, runs });
    const outs = ['a:0', 'b:0', 'c:0', 'd:0', 'c:1'].map(call);
    expect(rec.batches).toEqual([['a:0'], ['b:0']]);
    await rec.release();
    // Two statements returned: the first takes every waiting call; nothing is left for the second.
    expect(rec.batches).toEqual([['a:0'], ['b:0'], ['c:0', 'c:1', 'd:0']]);
    await rec.release();
    expect(await Promise.all(outs)).toEqual(['a:0!', 'b:0!', 'c:0!', 'd:0!', 'c:1!']);
  });

  it('never puts two calls with one key in a batch, and caps a batch at maxBatch', async () => {
    const rec = recorder();
    const runs = busyRuns({ statementsInFlight: 16, maxBatch: 2 });
    const call = groupCommit({ write: rec.write, key: String, run: runOf, runs });
    const outs = ['a:9', 'a:0', 'a:0', 'a:1', 'a:2'].map(call);
    await rec.release();
    await rec.release();
    await rec.release();
    expect(await Promise.all(outs)).toEqual(['a:9!', 'a:0!', 'a:0!', 'a:1!', 'a:2!']);
    // a:9 went alone; the two a:0 share a key, so the second waits; a:2 waits for room.
    expect(rec.batches).toEqual([['a:9'], ['a:0', 'a:1'], ['a:0', 'a:2']]);
  });

  it('rejects every caller of a failed batch with its error, frees the run, and the next batch still goes', async () => {
    let fail = true;
    const runs = busyRuns({ statementsInFlight: 1 });
    const call = groupCommit({
      key: String,
      run: runOf,
      runs,
      write: async (batch: readonly string[]) => {
        await new Promise((r) => setImmediate(r));
        if (fail) throw new Error('statement failed');
        return batch;
      },
    });
    const failed = ['a:1', 'a:2', 'a:3'].map((c) => call(c).catch((e: Error) => e.message));
    // a:1 alone, then a:2 and a:3 together: both statements fail.
    expect(await Promise.all(failed)).toEqual([
      'statement failed',
      'statement failed',
      'statement failed',
    ]);
    fail = false;
    expect(await Promise.all([call('a:4'), call('b:5')])).toEqual(['a:4', 'b:5']);
  });

  it('rejects a batch whose writer answers the wrong number of results', async () => {
    const runs = busyRuns({ statementsInFlight: 1 });
    const call = groupCommit({ key: String, run: runOf, runs, write: async () => [] });
    const outs = ['a:1', 'a:2'].map((c) => call(c).catch((e: Error) => e.message));
    expect(await Promise.all(outs)).toEqual([
      'group commit: 0 results for 1 calls',
      'group commit: 0 results for 1 calls',
    ]);
  });
});
