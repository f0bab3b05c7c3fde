import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RunStore } from '../src/index.js';
import { complete, expectStoreError, markRunning, runInput } from './helpers.js';

const URL = 'https://ci.example/cb';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The callback outbox contract; `store()` is the suite's store (created in its beforeAll). */
export function callbackOutboxSuite(store: () => RunStore): void {
  describe('callback outbox', () => {
    async function finished(callbackUrl: string | null = URL) {
      const s = store();
      const run = await s.createRun({ ...runInput(1, 1), callbackUrl });
      await markRunning(s, run.id);
      await complete(s, run.id, 0, 1, { passed: 1, failed: 0, skipped: 0 });
      expect((await s.finalizeRun(run.id)).won).toBe(true);
      return run;
    }

    it('finalizeRun queues the callback as pending in the same write; no URL or a live run queues nothing', async () => {
      const s = store();
      const run = await finished();
      expect(await s.getCallback(run.id)).toMatchObject({
        url: URL,
        state: 'pending',
        attempts: 0,
        sentAt: null,
      });
      expect((await s.getCallback(run.id))?.dueAt).toBeInstanceOf(Date);
      const silent = await finished(null);
      expect(await s.getCallback(silent.id)).toMatchObject({ url: null, state: null });
      const live = await s.createRun({ ...runInput(1), callbackUrl: URL });
      expect(await s.getCallback(live.id)).toMatchObject({ state: null, dueAt: null });
      expect(await s.getCallback(randomUUID())).toBeUndefined();
      expect(await s.getCallback('junk')).toBeUndefined();
    });

    it('the failed and aborted transitions and failInterruptedRuns queue it; a losing write leaves it alone', async () => {
      const s = store();
      const failed = await s.createRun({ ...runInput(1), callbackUrl: URL });
      const aborted = await s.createRun({ ...runInput(1), callbackUrl: URL });
      await s.transition(failed.id, ['queued', 'running'], 'failed', { error: 'boom' });
      await s.transition(aborted.id, ['queued', 'running'], 'aborted');
      expect((await s.getCallback(failed.id))?.state).toBe('pending');
      expect((await s.getCallback(aborted.id))?.state).toBe('pending');
      const [claim] = await s.claimCallbacks({ runId: failed.id });
      expect(claim?.payload).toEqual({
        runId: failed.id,
        status: 'failed',
        passed: 0,
        failed: 0,
        total: 2,
        error: 'boom',
      });
      await s.markCallbackSent(failed.id);
      // The losing abort of a failed run must not re-arm its delivered callback.
      expect((await s.transition(failed.id, ['queued', 'running'], 'aborted')).won).toBe(false);
      expect((await s.getCallback(failed.id))?.state).toBe('sent');
      const live = await s.createRun({ ...runInput(1), callbackUrl: URL });
      expect(await s.failInterruptedRuns('restarted')).toContain(live.id);
      expect((await s.getCallback(live.id))?.state).toBe('pending');
    });

    it('the first claimer wins; sent settles it and the payload is read from the run', async () => {
      const s = store();
      const run = await finished();
      const [claim] = await s.claimCallbacks({ runId: run.id });
      expect(claim).toEqual({
        // The outbox entry (one per run) and whose secret signs it.
        id: run.id,
        runId: run.id,
        workspaceId: run.workspaceId,
        url: URL,
        attempt: 1,
        payload: {
          runId: run.id,
          status: 'completed',
          passed: 1,
          failed: 0,
          total: 1,
          error: null,
        },
      });
      expect(await s.claimCallbacks({ runId: run.id })).toEqual([]);
      expect((await s.getCallback(run.id))?.state).toBe('sending');
      expect(await s.markCallbackSent(run.id)).toBe(true);
      expect(await s.markCallbackSent(run.id)).toBe(false);
      const after = await s.getCallback(run.id);
      expect(after).toMatchObject({ state: 'sent', attempts: 1, error: null });
      expect(after?.sentAt).toBeInstanceOf(Date);
      expect(await s.claimCallbacks({ runId: run.id })).toEqual([]);
    });

    it('a retry due now is claimable at once (the column keeps milliseconds, rounded)', async () => {
      // now() stored in a timestamptz(3) can round up by up to half a millisecond; a claim
      // right after must still find it due. Repeated so a sub-millisecond window is hit.
      const s = store();
      const run = await finished();
      for (let attempt = 1; attempt <= 100; attempt++) {
        const [claim] = await s.claimCallbacks({ runId: run.id });
        expect(claim?.attempt, `claim ${attempt}`).toBe(attempt);
        expect(await s.markCallbackFailed(run.id, attempt, 'try again', 0)).toBe(true);
      }
    });

    it('a failed attempt with a retry goes back to pending, claimable once due; without one it is failed for good', async () => {
      const s = store();
      const run = await finished();
      await s.claimCallbacks({ runId: run.id });
      expect(await s.markCallbackFailed(run.id, 1, 'callback answered 503', 60_000)).toBe(true);
      expect(await s.getCallback(run.id)).toMatchObject({
        state: 'pending',
        attempts: 1,
        error: 'callback answered 503',
      });
      // Not due for a minute: neither its own sender nor a sweep may take it.
      expect(await s.claimCallbacks({ runId: run.id })).toEqual([]);
      const swept = await s.claimCallbacks({ graceMs: 0, limit: 1_000 });
      expect(swept.map((c) => c.runId)).not.toContain(run.id);

      const other = await finished();
      await s.claimCallbacks({ runId: other.id });
      await s.markCallbackFailed(other.id, 1, 'timeout', 0);
      const [again] = await s.claimCallbacks({ runId: other.id });
      expect(again?.attempt).toBe(2);
      // A stale claim (attempt 1) cannot record over the current one.
      expect(await s.markCallbackFailed(other.id, 1, 'late', 0)).toBe(false);
      expect(await s.markCallbackFailed(other.id, 2, 'gave up')).toBe(true);
      expect(await s.getCallback(other.id)).toMatchObject({
        state: 'failed',
        attempts: 2,
        error: 'gave up',
      });
      const later = await s.claimCallbacks({ graceMs: 0, leaseMs: 1, limit: 1_000 });
      expect(later.map((c) => c.runId)).not.toContain(other.id);
    });

    it('the sweep leaves a fresh pending callback to its writer for graceMs, then claims it', async () => {
      const s = store();
      const run = await finished();
      const early = await s.claimCallbacks({ graceMs: 60_000, limit: 1_000 });
      expect(early.map((c) => c.runId)).not.toContain(run.id);
      const late = await s.claimCallbacks({ graceMs: 0, limit: 1_000 });
      expect(late.find((c) => c.runId === run.id)).toMatchObject({ attempt: 1, url: URL });
      for (const c of late) await s.markCallbackSent(c.runId);
    });

    it('the sweep takes over a sending claim only once its lease expired', async () => {
      const s = store();
      const run = await finished();
      await s.claimCallbacks({ runId: run.id });
      const held = await s.claimCallbacks({ graceMs: 0, leaseMs: 60_000, limit: 1_000 });
      expect(held.map((c) => c.runId)).not.toContain(run.id);
      await sleep(30);
      const taken = await s.claimCallbacks({ graceMs: 0, leaseMs: 10, limit: 1_000 });
      expect(taken.find((c) => c.runId === run.id)?.attempt).toBe(2);
      // The dead sender's late failure is ignored; a late success from it still counts.
      expect(await s.markCallbackFailed(run.id, 1, 'late')).toBe(false);
      expect(await s.markCallbackSent(run.id)).toBe(true);
      for (const c of taken) await s.markCallbackSent(c.runId);
    });

    it('refuses bad input', async () => {
      const s = store();
      await expectStoreError(s.claimCallbacks({ runId: 'junk' }), 'not_found');
      await expectStoreError(s.claimCallbacks({ limit: 0 }), 'invalid_input');
      await expectStoreError(s.claimCallbacks({ leaseMs: 0 }), 'invalid_input');
      await expectStoreError(s.claimCallbacks({ graceMs: -1 }), 'invalid_input');
      const id = randomUUID();
      await expectStoreError(s.markCallbackFailed(id, 0, 'x'), 'invalid_input');
      await expectStoreError(s.markCallbackFailed(id, 1, ''), 'invalid_input');
      await expectStoreError(s.markCallbackFailed(id, 1, 'x', -5), 'invalid_input');
      expect(await s.markCallbackFailed(id, 1, 'x')).toBe(false);
      expect(await s.markCallbackSent(id)).toBe(false);
    });
  });
}
