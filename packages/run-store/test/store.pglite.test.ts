import { describe } from 'vitest';
import { migrate, openPglite } from '../src/index.js';
import { runStoreSuite } from './store-suite.js';

describe('RunStore on PGlite (embedded, in memory)', () => {
  runStoreSuite({
    async open() {
      const db = await openPglite('memory');
      await migrate(db);
      return { db, close: () => db.destroy() };
    },
  });
});
