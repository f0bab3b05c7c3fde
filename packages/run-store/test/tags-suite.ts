import { uniqueName } from '@x/testkit';
import { type Kysely, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { Database, RunStore } from '../src/index.js';
import { expectStoreError, runInput } from './helpers.js';

/** Tags, metadata and the list filters: the same contract on every dialect. */
export function tagsSuite(ctx: () => { db: Kysely<Database>; store: RunStore }): void {
  describe('tags and metadata', () => {
    it('stores tags and metadata and returns them on every read', async () => {
      const { store } = ctx();
      const metadata = { commit: '1a2b3c', suite: { shard: [1, 2] }, flaky: false, n: null };
      const run = await store.createRun({
        ...runInput(1),
        tags: ['branch:main', 'sha.1a2b3c', 'nightly_1-x'],
        metadata,
      });
      expect(run.tags).toEqual(['branch:main', 'sha.1a2b3c', 'nightly_1-x']);
      expect(run.metadata).toEqual(metadata);
      expect(await store.getRunById(run.id)).toMatchObject({ tags: run.tags, metadata });
      const plain = await store.createRun(runInput(1));
      expect(plain).toMatchObject({ tags: [], metadata: {} });
    });

    it('refuses bad tags and metadata with invalid_input naming the field', async () => {
      const { store } = ctx();
      const base = runInput(1);
      const refusals: [Record<string, unknown>, string][] = [
        [{ tags: ['UPPER'] }, 'tags'],
        [{ tags: ['a b'] }, 'tags'],
        [{ tags: ['x'.repeat(65)] }, 'tags'],
        [{ tags: [''] }, 'tags'],
        [{ tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }, 'tags'],
        [{ tags: ['a', 'a'] }, 'tags'],
        [{ tags: 'a' }, 'tags'],
        [{ metadata: [1, 2] }, 'metadata'],
        [{ metadata: 'text' }, 'metadata'],
        [{ metadata: { big: 'x'.repeat(4_100) } }, 'metadata'],
      ];
      for (const [bad, field] of refusals) {
        const err = await expectStoreError(store.createRun({ ...base, ...bad }), 'invalid_input');
        expect(err.details).toMatchObject({ field });
      }
      expect((await store.listRuns(base.workspaceId)).runs).toEqual([]);
    });
  });

  describe('listRuns filters', () => {
    it('every tag must match, statuses are any-of, the time range is [after, before)', async () => {
      const { db, store } = ctx();
      const ws = uniqueName('ws');
      const mk = (tags: string[]) => store.createRun({ ...runInput(1, 1, ws), tags });
      const a = await mk(['branch:main', 'nightly']);
      const b = await mk(['branch:main']);
      const c = await mk(['branch:dev', 'nightly']);
      await store.transition(b.id, ['queued'], 'running');
      await store.transition(c.id, ['queued'], 'aborted');
      // Spread the creation times one hour apart, oldest first: a, b, c.
      for (const [i, run] of [a, b, c].entries()) {
        await sql`update runs set created_at = ${new Date(Date.UTC(2026, 0, 1, i))}::timestamptz
          where id = ${run.id}::uuid`.execute(db);
      }
      const newest = (await mk(['branch:main', 'nightly'])).id;
      // Another workspace's run with the same tags is never listed.
      await store.createRun({ ...runInput(1, 1), tags: ['branch:main', 'nightly'] });
      const ids = async (q: Parameters<RunStore['listRuns']>[1]) =>
        (await store.listRuns(ws, q)).runs.map((r) => r.id);

      expect(await ids({ tags: ['branch:main'] })).toEqual([newest, b.id, a.id]);
      expect(await ids({ tags: ['branch:main', 'nightly'] })).toEqual([newest, a.id]);
      expect(await ids({ tags: ['nightly', 'nightly'] })).toEqual([newest, c.id, a.id]);
      expect(await ids({ tags: ['nope'] })).toEqual([]);
      expect(await ids({ status: ['running', 'aborted'] })).toEqual([c.id, b.id]);
      expect(await ids({ status: 'queued', tags: ['nightly'] })).toEqual([newest, a.id]);
      const at = (h: number) => new Date(Date.UTC(2026, 0, 1, h));
      expect(await ids({ createdAfter: at(1), createdBefore: at(2) })).toEqual([b.id]);
      expect(await ids({ createdAfter: at(1), createdBefore: at(3) })).toEqual([c.id, b.id]);
      expect(await ids({ createdBefore: at(1) })).toEqual([a.id]);
    });

    it('pages a filtered list with the cursor, every match exactly once', async () => {
      const { store } = ctx();
      const ws = uniqueName('ws');
      const tagged: string[] = [];
      for (let i = 0; i < 7; i++) {
        const run = await store.createRun({
          ...runInput(1, 1, ws),
          tags: i % 2 === 0 ? ['even'] : ['odd'],
        });
        if (i % 2 === 0) tagged.push(run.id);
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listRuns(ws, { tags: ['even'], limit: 2, cursor });
        seen.push(...page.runs.map((r) => r.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(seen.sort()).toEqual([...tagged].sort());
    });

    it('refuses a bad filter with invalid_input naming it', async () => {
      const { store } = ctx();
      const ws = uniqueName('ws');
      const bad: [Parameters<RunStore['listRuns']>[1], string][] = [
        [{ tags: ['Bad Tag'] }, 'tags'],
        [{ tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }, 'tags'],
        [{ status: ['queued', 'nope' as 'queued'] }, 'status'],
        [{ createdAfter: new Date(Number.NaN) }, 'createdAfter'],
        [{ createdBefore: '2026-01-01' as unknown as Date }, 'createdBefore'],
      ];
      for (const [q, field] of bad) {
        const err = await expectStoreError(store.listRuns(ws, q), 'invalid_input');
        expect(err.details).toMatchObject({ field });
      }
    });
  });
}
