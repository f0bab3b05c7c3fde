import { describe, expect, it } from 'vitest';
import { groupCommit } from '../src/group-commit.js';
import { statementSlots } from '../src/statement-slots.js';

/** A writer that records its batches and answers only when `release` is called. */
function recorder() {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  const write = async (batch: readonly number[]) => {
    batches.push([...batch]);
    await new Promise<void>((r) => gates.push(r));
    return batch.map((n) => n * 10);
  };
  /** Answers every statement in flight, then lets the next ones be sent. */
  const release = async () => {
    for (const open of gates.splice(0)) open();
    await new Promise((r) => setImmediate(r));
  };
  return { batches, write, release };
}

describe('groupCommit', () => {
  it('sends each call at once, alone, while a slot is free (no batch without contention)', async () => {
    const rec = recorder();
    const call = groupCommit({ write: rec.write, key: String, slots: statementSlots(3) });
    const outs = [1, 2, 3].map(call);
    // Synchronously written: no tick waited for company.
    expect(rec.batches).toEqual([[1], [2], [3]]);
    await rec.release();
    expect(await Promise.all(outs)).toEqual([10, 20, 30]);
  });

  it('gathers the calls that find every slot busy into one batch, written when a slot returns', async () => {
    const rec = recorder();
    const call = groupCommit({ write: rec.write, key: String, slots: statementSlots(2) });
    const outs = [1, 2, 3, 4, 5].map(call);
    expect(rec.batches).toEqual([[1], [2]]);
    await rec.release();
    // Two slots came back: the first takes everything that waited; nothing is left for the second.
    expect(rec.batches).toEqual([[1], [2], [3, 4, 5]]);
    await rec.release();
    expect(await Promise.all(outs)).toEqual([10, 20, 30, 40, 50]);
    // With the slots free again, the next call goes alone at once.
    const later = call(6);
    expect(rec.batches.at(-1)).toEqual([6]);
    await rec.release();
    expect(await later).toBe(60);
  });

  it('shares the slots between kinds: a returned slot goes to the kind that waited longest', async () => {
    const begins = recorder();
    const completions = recorder();
    const slots = statementSlots(1);
    const begin = groupCommit({ write: begins.write, key: String, slots });
    const complete = groupCommit({ write: completions.write, key: String, slots });
    const outs = [begin(1), complete(2), begin(3), complete(4)];
    expect(begins.batches).toEqual([[1]]);
    expect(completions.batches).toEqual([]);
    await begins.release();
    // The completions queued first (2 before 3): they get the slot.
    expect(completions.batches).toEqual([[2, 4]]);
    expect(begins.batches).toEqual([[1]]);
    await completions.release();
    expect(begins.batches).toEqual([[1], [3]]);
    await begins.release();
    expect(await Promise.all(outs)).toEqual([10, 20, 30, 40]);
  });

  it('never puts two calls with one key in a batch, and caps a batch at maxBatch', async () => {
    const rec = recorder();
    const call = groupCommit({
      write: rec.write,
      key: (n: number) => String(n % 3),
      slots: statementSlots(1),
      maxBatch: 2,
    });
    const outs = [9, 0, 3, 1, 2].map(call);
    await rec.release();
    await rec.release();
    await rec.release();
    expect(await Promise.all(outs)).toEqual([90, 0, 30, 10, 20]);
    // 9 went alone; 0 and 3 share a key, so 3 waits; 2 waits for room.
    expect(rec.batches).toEqual([[9], [0, 1], [3, 2]]);
  });

  it('rejects every caller of a failed batch with its error, gives its slot back, and the next batch still goes', async () => {
    let fail = true;
    const call = groupCommit({
      key: String,
      slots: statementSlots(1),
      write: async (batch: readonly number[]) => {
        await new Promise((r) => setImmediate(r));
        if (fail) throw new Error('statement failed');
        return batch;
      },
    });
    const failed = [1, 2, 3].map((n) => call(n).catch((e: Error) => e.message));
    // 1 alone, then 2 and 3 together: both statements fail.
    expect(await Promise.all(failed)).toEqual([
      'statement failed',
      'statement failed',
      'statement failed',
    ]);
    fail = false;
    expect(await Promise.all([call(4), call(5)])).toEqual([4, 5]);
  });

  it('rejects a batch whose writer answers the wrong number of results', async () => {
    const call = groupCommit({ key: String, slots: statementSlots(1), write: async () => [] });
    const outs = [1, 2].map((n) => call(n).catch((e: Error) => e.message));
    expect(await Promise.all(outs)).toEqual([
      'group commit: 0 results for 1 calls',
      'group commit: 0 results for 1 calls',
    ]);
  });
});
