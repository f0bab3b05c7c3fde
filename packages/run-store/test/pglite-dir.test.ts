import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRunStore, migrate, openPglite } from '../src/index.js';
import { markRunning, runInput } from './helpers.js';

describe('PGlite in a data directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'run-store-pglite-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps runs across a restart, and failInterruptedRuns fails the ones left running', async () => {
    const first = await openPglite(dir);
    await migrate(first);
    const store = createRunStore(first);
    const run = await store.createRun(runInput(2));
    await markRunning(store, run.id);
    await first.destroy();

    const second = await openPglite(dir);
    try {
      await migrate(second);
      const again = createRunStore(second);
      expect((await again.getRunById(run.id))?.status).toBe('running');
      expect(await again.failInterruptedRuns('restarted while running')).toEqual([run.id]);
      expect(await again.getRunById(run.id)).toMatchObject({
        status: 'failed',
        error: 'restarted while running',
      });
    } finally {
      await second.destroy();
    }
  });
});
