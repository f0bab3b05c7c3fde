import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RunStore } from '../src/index.js';
import { complete, expectStoreError, markRunning, runInput } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A run whose shards carry a payload naming their index. */
function withPayloads(shardCount: number) {
  const input = runInput(shardCount, 1);
  return {
    ...input,
    shards: input.shards.map((s, i) => ({ ...s, payload: { shard: i, tests: [{ n: i }] } })),
  };
}

/** The enqueue outbox contract; the suite runs its tests one after another on one database. */
export function enqueueOutboxSuite(store: () => RunStore): void {
  describe('enqueue outbox', () => {
    /** Settles every run earlier tests left in the outbox, so each test sees only its own. */
    async function drain() {
      const s = store();
      for (;;) {
        const claims = await s.claimEnqueues({ limit: 1_000, leaseMs: 1 });
        if (claims.length === 0) return;
        await s.markEnqueued(claims.map((c) => c.runId));
      }
    }

    it('a new run waits in the outbox; a claim hands out its shards with their payloads once', async () => {
      const s = store();
      await drain();
      const run = await s.createRun({ ...withPayloads(3), callbackUrl: 'https://ci.example/cb' });
      const [claim, ...more] = await s.claimEnqueues();
      expect(more).toEqual([]);
      expect(claim).toEqual({
        runId: run.id,
        workspaceId: run.workspaceId,
        executor: 'demo',
        callbackUrl: 'https://ci.example/cb',
        shardCount: 3,
        shards: [0, 1, 2].map((i) => ({ shardIndex: i, payload: { shard: i, tests: [{ n: i }] } })),
      });
      // Claimed: a second enqueuer finds nothing while the lease runs.
      expect(await s.claimEnqueues()).toEqual([]);
      expect(await s.markEnqueued([run.id, 'junk'])).toBe(1);
      expect(await s.markEnqueued([run.id])).toBe(0);
      expect(await s.claimEnqueues({ leaseMs: 1 })).toEqual([]);
    });

    it('a payload comes back as it went in, whatever its text holds', async () => {
      const s = store();
      await drain();
      const odd = {
        q: 'a "quoted" \\ back\nslash',
        u: 'é ✓ 🚀 \u2028',
        n: [0, -1.5, 1e21, null, true],
      };
      const run = await s.createRun({
        ...runInput(2, 1),
        shards: [
          { testIds: ['t0'], payload: odd },
          { testIds: ['t1'], payload: [odd, 'x'] },
        ],
      });
      const [claim] = await s.claimEnqueues();
      expect(claim?.runId).toBe(run.id);
      expect(claim?.shards).toEqual([
        { shardIndex: 0, payload: odd },
        { shardIndex: 1, payload: [odd, 'x'] },
      ]);
      await s.markEnqueued([run.id]);
    });

    it('a released claim is claimable at once; an expired one is taken over; without a payload it reads null', async () => {
      const s = store();
      await drain();
      const run = await s.createRun(runInput(1, 1));
      const [first] = await s.claimEnqueues({ leaseMs: 60_000 });
      expect(first?.shards).toEqual([{ shardIndex: 0, payload: null }]);
      expect(await s.claimEnqueues({ leaseMs: 60_000 })).toEqual([]);
      expect(await s.releaseEnqueues([run.id])).toBe(1);
      expect((await s.claimEnqueues({ leaseMs: 60_000 })).map((c) => c.runId)).toEqual([run.id]);
      await sleep(20);
      // The enqueuer that held it died: after the lease it is someone else's.
      expect((await s.claimEnqueues({ leaseMs: 10 })).map((c) => c.runId)).toEqual([run.id]);
      await s.markEnqueued([run.id]);
    });

    it('claims oldest first up to the limit, and never an aborted run', async () => {
      const s = store();
      await drain();
      const a = await s.createRun(runInput(1, 1));
      const b = await s.createRun(runInput(1, 1));
      const c = await s.createRun(runInput(1, 1));
      expect((await s.transition(b.id, ['queued'], 'aborted')).won).toBe(true);
      expect((await s.claimEnqueues({ limit: 1 })).map((x) => x.runId)).toEqual([a.id]);
      expect((await s.claimEnqueues({ limit: 5 })).map((x) => x.runId)).toEqual([c.id]);
      await s.markEnqueued([a.id, c.id]);
    });

    it('liveShards lists the not-completed shards of enqueued live runs, paged, never a terminal or unenqueued run', async () => {
      const s = store();
      await drain();
      const live = await s.createRun(withPayloads(3));
      const aborted = await s.createRun(withPayloads(2));
      const waiting = await s.createRun(withPayloads(1));
      await s.markEnqueued([live.id, aborted.id]);
      await markRunning(s, live.id);
      await complete(s, live.id, 1, 1, { passed: 1, failed: 0, skipped: 0 });
      await s.transition(aborted.id, ['queued'], 'aborted');
      const all = [];
      let after: { runId: string; shardIndex: number } | undefined;
      for (;;) {
        const page = await s.liveShards({ limit: 1, after });
        all.push(...page);
        const last = page.at(-1);
        if (!last) break;
        after = { runId: last.runId, shardIndex: last.shardIndex };
      }
      const mine = all.filter((x) => [live.id, aborted.id, waiting.id].includes(x.runId));
      expect(mine).toEqual(
        [0, 2].map((i) => ({
          runId: live.id,
          workspaceId: live.workspaceId,
          executor: 'demo',
          callbackUrl: null,
          shardCount: 3,
          shardIndex: i,
          payload: { shard: i, tests: [{ n: i }] },
        })),
      );
      await expectStoreError(
        s.liveShards({ after: { runId: 'junk', shardIndex: 0 } }),
        'invalid_input',
      );
    });

    it('createRun refuses a payload that is not JSON, naming the shard', async () => {
      const s = store();
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const input = runInput(2, 1);
      const err = await expectStoreError(
        s.createRun({
          ...input,
          shards: [input.shards[0]!, { ...input.shards[1]!, payload: cyclic }],
        }),
        'invalid_input',
      );
      expect(err.details).toEqual({ field: 'shards[1].payload' });
    });

    it('tryLease: one holder at a time, renewed by its holder, taken over once expired or released', async () => {
      const s = store();
      const name = `lease-${randomUUID()}`;
      expect(await s.tryLease(name, 'a', 60_000)).toBe(true);
      expect(await s.tryLease(name, 'b', 60_000)).toBe(false);
      expect(await s.tryLease(name, 'a', 20)).toBe(true);
      await sleep(40);
      expect(await s.tryLease(name, 'b', 60_000)).toBe(true);
      expect(await s.tryLease(name, 'a', 60_000)).toBe(false);
      // Released by its holder only; then free for anyone at once.
      expect(await s.releaseLease(name, 'a')).toBe(false);
      expect(await s.releaseLease(name, 'b')).toBe(true);
      expect(await s.tryLease(name, 'a', 60_000)).toBe(true);
      await expectStoreError(s.tryLease(name, '', 1), 'invalid_input');
      await expectStoreError(s.tryLease(name, 'a', 0), 'invalid_input');
    });
  });
}
