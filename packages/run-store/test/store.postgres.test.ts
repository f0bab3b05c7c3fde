import { postgres } from '@x/testkit';
import { describe } from 'vitest';
import { migrate, openPostgres } from '../src/index.js';
import { runStoreSuite } from './store-suite.js';

describe('RunStore on PostgreSQL (pg pool)', () => {
  runStoreSuite({
    async open() {
      const database = await postgres('runstore_suite');
      const db = openPostgres(database.url, { max: 4 });
      await migrate(db);
      return {
        db,
        async close() {
          await db.destroy();
          await database.close();
        },
      };
    },
  });
});
