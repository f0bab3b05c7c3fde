import { setTimeout as sleep } from 'node:timers/promises';
import { uniqueName } from '@x/testkit';
import { describe, expect, it } from 'vitest';
import type { DispatchQuery, DispatchShard, RunStore } from '../src/index.js';
import { complete, expectStoreError, runInput } from './helpers.js';

/** One pass; answers the released shards of `workspaces` as `runId:index`, in hand order. */
async function pass(store: RunStore, q: DispatchQuery, workspaces: readonly string[]) {
  const handed: DispatchShard[] = [];
  const outcome = await store.dispatchShards(q, async (shards) => {
    handed.push(...shards);
  });
  const mine = handed.filter((s) => workspaces.includes(s.workspaceId));
  return { outcome, mine, ids: mine.map((s) => `${s.runId}:${s.shardIndex}`) };
}

const ok = { passed: 1, failed: 0, skipped: 0 };

/**
 * Creates a run at least a millisecond after the one before: `created_at` has millisecond
 * precision and runs of the same millisecond are ordered by id, so "oldest first" needs apart.
 */
async function createApart(s: RunStore, input: ReturnType<typeof runInput>) {
  await sleep(2);
  return s.createRun(input);
}

/** The fair-dispatch contract; runs after other suites on the same database (their runs are released too). */
export function fairDispatchSuite(store: () => RunStore): void {
  describe('fair dispatch', () => {
    it('releases each workspace its window of waiting shards, oldest run first, and more as they start', async () => {
      const s = store();
      const [a, b] = [uniqueName('wsa'), uniqueName('wsb')];
      const flood = [];
      for (let i = 0; i < 3; i++) flood.push(await createApart(s, runInput(4, 1, a)));
      const victim = await createApart(s, runInput(4, 1, b));
      const q = { window: 2, maxRunningShards: null };
      const first = await pass(s, q, [a, b]);
      expect(first.ids.sort()).toEqual(
        [`${flood[0]!.id}:0`, `${flood[0]!.id}:1`, `${victim.id}:0`, `${victim.id}:1`].sort(),
      );
      expect(first.mine.find((x) => x.runId === victim.id)).toMatchObject({
        workspaceId: b,
        executor: 'demo',
        shardCount: 4,
        weight: 1,
      });
      // Nothing started: both windows are full.
      expect((await pass(s, q, [a, b])).ids).toEqual([]);
      // One of A's shards starts: A gets one more, the next in order.
      await s.beginShard(flood[0]!.id, 0, 1);
      expect((await pass(s, q, [a, b])).ids).toEqual([`${flood[0]!.id}:2`]);
      // Completing a started shard frees nothing of the window (it no longer waited).
      await complete(s, flood[0]!.id, 0, 1, ok);
      expect((await pass(s, q, [a, b])).ids).toEqual([]);
    });

    it('caps a workspace’s released-not-finished shards; completion and abort free the share at once', async () => {
      const s = store();
      const a = uniqueName('wsa');
      const r1 = await createApart(s, runInput(3, 1, a));
      const r2 = await createApart(s, runInput(3, 1, a));
      const q = { window: 10, maxRunningShards: 2 };
      expect((await pass(s, q, [a])).ids).toEqual([`${r1.id}:0`, `${r1.id}:1`]);
      await s.beginShard(r1.id, 0, 1);
      await s.beginShard(r1.id, 1, 1);
      expect((await pass(s, q, [a])).ids).toEqual([]);
      await complete(s, r1.id, 0, 1, ok);
      expect((await pass(s, q, [a])).ids).toEqual([`${r1.id}:2`]);
      // The run is aborted: its released shards count for nothing, r2 gets the whole cap.
      await s.transition(r1.id, ['queued', 'running'], 'aborted');
      expect((await pass(s, q, [a])).ids).toEqual([`${r2.id}:0`, `${r2.id}:1`]);
    });

    it('a queued run held back by its workspace share reads waitingFor workspace_share until a shard is released', async () => {
      const s = store();
      const [a, b] = [uniqueName('wsa'), uniqueName('wsb')];
      const runs = [await s.createRun(runInput(2, 1, a)), await s.createRun(runInput(2, 1, a))];
      const other = await s.createRun(runInput(2, 1, b));
      // Before any pass nothing of A is released: no share in use, no reason.
      for (const r of runs) expect((await s.getRun(a, r.id))?.waitingFor).toBeUndefined();
      const q = { window: 10, maxRunningShards: 2 };
      // One run takes the whole cap (the two may share a creation time: either can go first).
      const ids = (await pass(s, q, [a])).ids;
      const r1 = runs.find((r) => ids[0]?.startsWith(r.id))!;
      const r2 = runs.find((r) => r !== r1)!;
      expect(ids).toEqual([`${r1.id}:0`, `${r1.id}:1`]);
      expect((await s.getRun(a, r2.id))?.waitingFor).toBe('workspace_share');
      expect((await s.getRunById(r2.id))?.waitingFor).toBe('workspace_share');
      const listed = new Map((await s.listRuns(a)).runs.map((r) => [r.id, r.waitingFor]));
      expect(listed).toEqual(
        new Map([
          [r2.id, 'workspace_share'],
          [r1.id, undefined],
        ]),
      );
      // B's share is its own: its run was released, A's use does not hold it.
      expect((await s.getRun(b, other.id))?.waitingFor).toBeUndefined();
      // A's first run completes: the next pass releases r2, which no longer waits.
      for (const i of [0, 1]) {
        await s.beginShard(r1.id, i, 1);
        await complete(s, r1.id, i, 1, ok);
      }
      expect((await s.getRun(a, r2.id))?.waitingFor).toBeUndefined();
      expect((await pass(s, q, [a])).ids).toEqual([`${r2.id}:0`, `${r2.id}:1`]);
      expect((await s.getRun(a, r2.id))?.waitingFor).toBeUndefined();
    });

    it('a workspace override sets its own cap and weight', async () => {
      const s = store();
      const [a, b] = [uniqueName('wsa'), uniqueName('wsb')];
      const ra = await s.createRun(runInput(6, 1, a));
      const rb = await s.createRun(runInput(6, 1, b));
      const q = {
        window: 2,
        maxRunningShards: 5,
        overrides: [
          { workspaceId: a, weight: 2 },
          { workspaceId: b, maxShards: 1 },
        ],
      };
      const { mine } = await pass(s, q, [a, b]);
      expect(mine.filter((x) => x.runId === ra.id)).toHaveLength(4);
      expect(mine.filter((x) => x.runId === ra.id).every((x) => x.weight === 2)).toBe(true);
      expect(mine.filter((x) => x.runId === rb.id)).toHaveLength(1);
    });

    it('marks a run enqueued when its last shard is released; the repair sees released shards only', async () => {
      const s = store();
      const a = uniqueName('wsa');
      const run = await s.createRun(runInput(3, 1, a));
      const q = { window: 2, maxRunningShards: null };
      expect((await pass(s, q, [a])).ids).toHaveLength(2);
      const live = async () => {
        const all = [];
        let after: { runId: string; shardIndex: number } | undefined;
        for (;;) {
          const page = await s.liveShards({ limit: 1_000, after });
          all.push(...page.filter((x) => x.runId === run.id).map((x) => x.shardIndex));
          if (page.length < 1_000) return all;
          after = { runId: page.at(-1)!.runId, shardIndex: page.at(-1)!.shardIndex };
        }
      };
      expect(await live()).toEqual([0, 1]);
      // A fifo enqueuer (a fleet switched modes) gets only the shard not yet released.
      const claims = (await s.claimEnqueues({ limit: 1_000, leaseMs: 1 })).filter(
        (c) => c.runId === run.id,
      );
      expect(claims.map((c) => c.shards.map((x) => x.shardIndex))).toEqual([[2]]);
      await s.releaseEnqueues([run.id]);
      await s.beginShard(run.id, 0, 1);
      const last = await pass(s, q, [a]);
      expect(last.ids).toEqual([`${run.id}:2`]);
      expect(last.outcome.runsEnqueued).toBeGreaterThanOrEqual(1);
      expect(await live()).toEqual([0, 1, 2]);
      expect(
        (await s.claimEnqueues({ limit: 1_000, leaseMs: 1 })).map((c) => c.runId),
      ).not.toContain(run.id);
    });

    it('a hand that throws rolls the pass back: the same shards are handed again next time', async () => {
      const s = store();
      const a = uniqueName('wsa');
      const run = await s.createRun(runInput(2, 1, a));
      const q = { window: 5, maxRunningShards: null };
      await expect(
        s.dispatchShards(q, async () => {
          throw new Error('queue down');
        }),
      ).rejects.toThrow();
      expect((await pass(s, q, [a])).ids).toEqual([`${run.id}:0`, `${run.id}:1`]);
    });

    it('hands the shards after its commit: a worker starting one inside hand does not wait on the pass', async () => {
      const s = store();
      const a = uniqueName('wsa');
      const run = await s.createRun(runInput(2, 1, a));
      const q = { window: 5, maxRunningShards: null };
      let begun: Awaited<ReturnType<RunStore['beginShard']>>;
      const outcome = await s.dispatchShards(q, async (shards) => {
        if (!shards.some((x) => x.runId === run.id)) return;
        // With the pass's transaction still open this would wait for its commit forever.
        begun = await s.beginShard(run.id, 0, 1);
      });
      expect(outcome).toMatchObject({ runsEnqueued: expect.any(Number) });
      expect(outcome.runsEnqueued).toBeGreaterThanOrEqual(1);
      // Released by fair dispatch: a worker may not skip this begin (it writes the shard).
      expect(begun!).toMatchObject({ started: true, wasQueued: true, released: true });
      expect((await pass(s, q, [a])).ids).toEqual([]);
    });

    it('refuses a malformed query before touching the database', async () => {
      const s = store();
      const hand = async () => {};
      await expectStoreError(
        s.dispatchShards({ window: 0, maxRunningShards: null }, hand),
        'invalid_input',
      );
      await expectStoreError(
        s.dispatchShards(
          { window: 1, maxRunningShards: null, overrides: [{ workspaceId: 'x', weight: 101 }] },
          hand,
        ),
        'invalid_input',
      );
    });
  });
}
