import { describe, expect, it } from 'vitest';
import { groupCommit } from '../src/group-commit.js';

/** A writer that records its batches and answers when `release` is called. */
function recorder() {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  const write = async (batch: readonly number[]) => {
    batches.push([...batch]);
    await new Promise<void>((r) => gates.push(r));
    return batch.map((n) => n * 10);
  };
  const release = async () => {
    // Let the pump hand the next batch out before the gate opens.
    await new Promise((r) => setImmediate(r));
    for (const open of gates.splice(0)) open();
    await new Promise((r) => setImmediate(r));
  };
  return { batches, write, release };
}

describe('groupCommit', () => {
  it('writes the calls of one tick in one batch, each caller getting its own result', async () => {
    const rec = recorder();
    const call = groupCommit({ write: rec.write, key: String });
    const outs = [1, 2, 3].map(call);
    await rec.release();
    expect(await Promise.all(outs)).toEqual([10, 20, 30]);
    expect(rec.batches).toEqual([[1, 2, 3]]);
  });

  it('gathers the calls that arrive while maxInFlight batches are written into the next one', async () => {
    const rec = recorder();
    const call = groupCommit({ write: rec.write, key: String, maxInFlight: 1 });
    const first = call(1);
    await new Promise((r) => setImmediate(r));
    const later = [2, 3, 4].map(call);
    await new Promise((r) => setImmediate(r));
    expect(rec.batches).toEqual([[1]]);
    await rec.release();
    await rec.release();
    expect(await Promise.all([first, ...later])).toEqual([10, 20, 30, 40]);
    expect(rec.batches).toEqual([[1], [2, 3, 4]]);
  });

  it('never puts two calls with one key in a batch, and caps a batch at maxBatch', async () => {
    const rec = recorder();
    const call = groupCommit({ write: rec.write, key: (n: number) => String(n % 3), maxBatch: 2 });
    const outs = [0, 3, 1, 2].map(call);
    await rec.release();
    await rec.release();
    await rec.release();
    expect(await Promise.all(outs)).toEqual([0, 30, 10, 20]);
    // 0 and 3 share a key; 2 waits for room.
    expect(rec.batches).toEqual([
      [0, 1],
      [3, 2],
    ]);
  });

  it('rejects every caller of a failed batch with its error, and the next batch still goes', async () => {
    let fail = true;
    const call = groupCommit({
      key: String,
      write: async (batch: readonly number[]) => {
        if (fail) throw new Error('statement failed');
        return batch;
      },
    });
    const failed = [1, 2].map((n) => call(n).catch((e: Error) => e.message));
    expect(await Promise.all(failed)).toEqual(['statement failed', 'statement failed']);
    fail = false;
    expect(await call(3)).toBe(3);
  });

  it('rejects a batch whose writer answers the wrong number of results', async () => {
    const call = groupCommit({ key: String, write: async () => [1] });
    const outs = [1, 2].map((n) => call(n).catch((e: Error) => e.message));
    expect(await Promise.all(outs)).toEqual([
      'group commit: 1 results for 2 calls',
      'group commit: 1 results for 2 calls',
    ]);
  });
});
