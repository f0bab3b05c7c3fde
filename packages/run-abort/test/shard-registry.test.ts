import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RunAbortedError } from '../src/run-aborted-error.js';
import { createShardRegistry } from '../src/shard-registry.js';

describe('shard registry', () => {
  it('aborts every shard of a run, sharded and unsharded alike, and leaves other runs alone', () => {
    const registry = createShardRegistry();
    const run = randomUUID();
    const other = randomUUID();
    const legacy = new AbortController();
    const s0 = new AbortController();
    const s1 = new AbortController();
    const untouched = new AbortController();
    registry.register(run, null, legacy);
    registry.register(run, 0, s0);
    registry.register(run, 1, s1);
    registry.register(other, 0, untouched);
    expect(registry.size).toBe(4);

    expect(registry.abortAllShardsForRun(run, 'user abort')).toBe(3);
    for (const c of [legacy, s0, s1]) {
      expect(c.signal.aborted).toBe(true);
      expect(c.signal.reason).toBeInstanceOf(RunAbortedError);
      expect((c.signal.reason as RunAbortedError).code).toBe('run_aborted');
      expect((c.signal.reason as RunAbortedError).message).toBe('user abort');
    }
    expect(untouched.signal.aborted).toBe(false);
    expect(registry.size).toBe(1);
    expect(registry.runIds()).toEqual([other]);
    expect(registry.abortAllShardsForRun(run, 'again')).toBe(0);
  });

  it('calls a cancel function with the reason (the BullMQ worker.cancelJob shape)', () => {
    const registry = createShardRegistry();
    const run = randomUUID();
    const calls: string[] = [];
    registry.register(run, 3, (reason) => calls.push(reason));
    registry.abortAllShardsForRun(run, 'stop now');
    expect(calls).toEqual(['stop now']);
  });

  it('iterates over a snapshot, so the callback may unregister entries', () => {
    const registry = createShardRegistry();
    const run = randomUUID();
    const unregisters = [0, 1, 2, 3].map((i) => registry.register(run, i, new AbortController()));
    const seen: (number | null)[] = [];
    const visited = registry.forEachShardEntry(run, (entry) => {
      seen.push(entry.shardIndex);
      for (const unregister of unregisters) unregister();
    });
    expect(visited).toBe(4);
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(registry.size).toBe(0);
  });

  it('isolates a throwing cancel function: the other shards are still aborted and the error is counted', () => {
    const registry = createShardRegistry();
    const run = randomUUID();
    const before = new AbortController();
    const after = new AbortController();
    registry.register(run, 0, before);
    registry.register(run, 1, () => {
      throw new Error('cancel exploded');
    });
    registry.register(run, 2, after);
    expect(registry.abortAllShardsForRun(run, 'x')).toBe(3);
    expect(before.signal.aborted).toBe(true);
    expect(after.signal.aborted).toBe(true);
    expect(registry.cancelErrors).toBe(1);
    expect(registry.forEachShardEntry(run, () => {})).toBe(0);
  });

  it('counts and skips a throwing forEachShardEntry callback', () => {
    const registry = createShardRegistry();
    const run = randomUUID();
    registry.register(run, 0, new AbortController());
    registry.register(run, 1, new AbortController());
    const visited = registry.forEachShardEntry(run, (entry) => {
      if (entry.shardIndex === 0) throw new Error('bad callback');
    });
    expect(visited).toBe(1);
    expect(registry.cancelErrors).toBe(1);
  });

  it('cancels at once a shard that registers after its run was aborted here', () => {
    const registry = createShardRegistry();
    const run = randomUUID();
    registry.abortAllShardsForRun(run, 'aborted before any shard arrived');
    const late = new AbortController();
    const unregister = registry.register(run, 0, late);
    expect(late.signal.aborted).toBe(true);
    expect(registry.size).toBe(0);
    expect(registry.wasAborted(run)).toBe(true);
    unregister();
    expect(registry.size).toBe(0);
  });

  it('forgets the oldest aborted runs beyond tombstoneLimit', () => {
    const registry = createShardRegistry({ tombstoneLimit: 2 });
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    for (const run of [a, b, c]) registry.abortAllShardsForRun(run, 'x');
    expect([a, b, c].map((run) => registry.wasAborted(run))).toEqual([false, true, true]);
  });

  it('an old unregister does not remove a newer registration of the same shard', () => {
    const registry = createShardRegistry();
    const run = randomUUID();
    const unregisterFirst = registry.register(run, 0, new AbortController());
    const second = new AbortController();
    registry.register(run, 0, second);
    expect(registry.size).toBe(1);
    unregisterFirst();
    expect(registry.size).toBe(1);
    registry.abortAllShardsForRun(run, 'x');
    expect(second.signal.aborted).toBe(true);
  });

  it('labels a cancel for a completed run as run_finished', () => {
    const registry = createShardRegistry();
    const run = randomUUID();
    const c = new AbortController();
    registry.register(run, 0, c);
    registry.abortAllShardsForRun(run, 'run is completed', 'completed');
    expect((c.signal.reason as RunAbortedError).code).toBe('run_finished');
    expect((c.signal.reason as RunAbortedError).status).toBe('completed');
  });

  it('fires signals with a reason that carries no stack, and leaves the stack limit as it was', () => {
    const registry = createShardRegistry();
    const run = randomUUID();
    const c = new AbortController();
    registry.register(run, 0, c);
    const limit = Error.stackTraceLimit;
    registry.abortAllShardsForRun(run, 'user abort');
    // The stack would only show the registry's dispatch; capturing it cost the abort's latency.
    expect((c.signal.reason as RunAbortedError).stack).toBe('RunAbortedError: user abort');
    expect(Error.stackTraceLimit).toBe(limit);
    expect(new Error('x').stack).toMatch(/\n\s+at /);
  });
});
