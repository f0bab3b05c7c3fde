import { describe, expect, it } from 'vitest';
import { createRunStore, openPglite, RunStoreError } from '../src/index.js';
import { toRunStoreError } from '../src/map-error.js';

describe('toRunStoreError', () => {
  it('reads the SQLSTATE of a real database error', async () => {
    const db = await openPglite('memory');
    try {
      const err = await createRunStore(db)
        .listRuns('ws') // no migration: the table does not exist (42P01)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RunStoreError);
      expect((err as RunStoreError).code).toBe('internal');
      expect((err as RunStoreError).message).toMatch(/^listRuns: .*runs/);
    } finally {
      await db.destroy();
    }
  });

  it('never reads a SQLSTATE off an error that is not the database’s: a `code` property is not enough', () => {
    const lookalike = Object.assign(new Error('duplicate key'), { code: '23505' });
    expect(toRunStoreError(lookalike, 'op').code).not.toBe('conflict');
  });

  it('a TypeError is a bug (internal), not an outage; other client errors mean the database is away', () => {
    expect(toRunStoreError(new TypeError('x is undefined'), 'op').code).toBe('internal');
    expect(toRunStoreError(new RangeError('too big'), 'op').code).toBe('internal');
    expect(toRunStoreError('a string', 'op').code).toBe('internal');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
    });
    expect(toRunStoreError(refused, 'op')).toMatchObject({ code: 'unavailable', cause: refused });
    const same = new RunStoreError('not_found', 'run x not found');
    expect(toRunStoreError(same, 'op')).toBe(same);
  });

  it('ping on a closed database throws RunStoreError unavailable', async () => {
    const db = await openPglite('memory');
    const store = createRunStore(db);
    await store.ping();
    await db.destroy();
    const err = await store.ping().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunStoreError);
    expect((err as RunStoreError).code).toBe('unavailable');
  });
});
