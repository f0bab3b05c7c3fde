import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Database, RunStore } from '../src/index.js';
import { IDEMPOTENCY_KEY_EXPIRY_MS } from '../src/index.js';
import { expectStoreError, runInput } from './helpers.js';

/** `createRunOnce` and key cleanup: the same contract on every dialect. */
export function idempotencySuite(ctx: () => { db: Kysely<Database>; store: RunStore }): void {
  describe('createRunOnce', () => {
    it('creates once; the same key and hash replays the run, another hash is key_reused', async () => {
      const { store } = ctx();
      const input = runInput(2);
      const first = await store.createRunOnce(input, { key: 'k-1', requestHash: 'h1' });
      expect(first.outcome).toBe('created');
      if (first.outcome !== 'created') return;
      const again = await store.createRunOnce(input, { key: 'k-1', requestHash: 'h1' });
      expect(again).toEqual({ outcome: 'replayed', run: first.run });
      const other = await store.createRunOnce(input, { key: 'k-1', requestHash: 'h2' });
      expect(other).toEqual({ outcome: 'key_reused', runId: first.run.id });
      const { runs } = await store.listRuns(input.workspaceId);
      expect(runs.map((r) => r.id)).toEqual([first.run.id]);
    });

    it('scopes keys to the workspace', async () => {
      const { store } = ctx();
      const a = await store.createRunOnce(runInput(1), { key: 'shared', requestHash: 'h' });
      const b = await store.createRunOnce(runInput(1), { key: 'shared', requestHash: 'h' });
      expect([a.outcome, b.outcome]).toEqual(['created', 'created']);
    });

    it('a replay answers the run as it is now, not as it was created', async () => {
      const { store } = ctx();
      const input = runInput(1);
      const first = await store.createRunOnce(input, { key: 'k', requestHash: 'h' });
      if (first.outcome !== 'created') throw new Error('not created');
      await store.transition(first.run.id, ['queued'], 'aborted');
      const again = await store.createRunOnce(input, { key: 'k', requestHash: 'h' });
      expect(again.outcome === 'replayed' && again.run.status).toBe('aborted');
    });

    it('a key older than the expiry is taken over by a new run; deleting the run deletes its key', async () => {
      const { db, store } = ctx();
      const input = runInput(1);
      const old = await store.createRunOnce(input, { key: 'old', requestHash: 'h' });
      if (old.outcome !== 'created') throw new Error('not created');
      await sql`update idempotency_keys set created_at = now() - ${IDEMPOTENCY_KEY_EXPIRY_MS + 1000}::bigint * interval '1 millisecond'
        where run_id = ${old.run.id}`.execute(db);
      const fresh = await store.createRunOnce(input, { key: 'old', requestHash: 'other' });
      expect(fresh.outcome).toBe('created');
      if (fresh.outcome !== 'created') return;
      expect(fresh.run.id).not.toBe(old.run.id);
      await sql`delete from runs where id = ${fresh.run.id}`.execute(db);
      const keys = await sql<{ n: number }>`select count(*)::int as n from idempotency_keys
        where workspace_id = ${input.workspaceId}`.execute(db);
      expect(keys.rows[0]?.n).toBe(0);
    });

    it('deleteIdempotencyKeys removes keys past the age and keeps younger ones and every run', async () => {
      const { db, store } = ctx();
      const input = runInput(1);
      const aged = await store.createRunOnce(input, { key: 'aged', requestHash: 'h' });
      const young = await store.createRunOnce(input, { key: 'young', requestHash: 'h' });
      if (aged.outcome !== 'created' || young.outcome !== 'created') throw new Error('not created');
      await sql`update idempotency_keys set created_at = now() - interval '49 hours'
        where run_id = ${aged.run.id}`.execute(db);
      expect(await store.deleteIdempotencyKeys()).toBeGreaterThanOrEqual(1);
      const left = await sql<{ key: string }>`select key from idempotency_keys
        where workspace_id = ${input.workspaceId}`.execute(db);
      expect(left.rows.map((r) => r.key)).toEqual(['young']);
      expect(await store.getRunById(aged.run.id)).toBeDefined();
      await expectStoreError(store.deleteIdempotencyKeys(60_000), 'invalid_input');
    });

    it('refuses an empty or over-long key without writing', async () => {
      const { store } = ctx();
      const input = runInput(1);
      await expectStoreError(
        store.createRunOnce(input, { key: '', requestHash: 'h' }),
        'invalid_input',
      );
      await expectStoreError(
        store.createRunOnce(input, { key: 'k'.repeat(256), requestHash: 'h' }),
        'invalid_input',
      );
      expect((await store.listRuns(input.workspaceId)).runs).toEqual([]);
    });
  });
}
