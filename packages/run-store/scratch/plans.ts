import { postgres } from '@x/testkit';
import pg from 'pg';
import { createRunStore, migrate, openPostgres } from '../src/index.js';
const t = await postgres('plans-probe');
const db = openPostgres(t.url, { max: 1 });
await migrate(db);
const store = createRunStore(db);
const c = new pg.Client({ connectionString: t.url });
await c.connect();
const ids: string[] = [];
for (let i = 0; i < 12; i++) {
  const r = await store.createRun({ workspaceId: 'w', executor: 'demo', shards: [{ testIds: ['a'], payload: null }, { testIds: ['b'], payload: null }] } as never);
  ids.push(r.id);
}
const src = await import('../src/sql/begin-shard.ts');
void src;
const { COMPLETE_SHARD_SQL } = await import('../src/sql/complete-shard.ts');
const fs = await import('node:fs');
const beginText = /const BEGIN_SHARD = `([\s\S]*?)`;/.exec(fs.readFileSync('src/sql/begin-shard.ts', 'utf8'))![1]!;
for (const id of ids) {
  await c.query({ name: 'b', text: beginText, values: [id, 0, 1, false] });
  await c.query({ name: 'c', text: COMPLETE_SHARD_SQL, values: [id, 0, 1, 1, 0, 0, JSON.stringify([{ test_id: 'a', name: 'a', status: 'passed', duration_ms: 0, error: null, attempt: 1 }])] });
}
console.log((await c.query('select name, generic_plans, custom_plans from pg_prepared_statements')).rows);
await c.query('load \'auto_explain\'').catch((e) => console.log('no auto_explain', e.message));
const t0 = performance.now();
for (let k = 0; k < 3; k++) for (const id of ids) await c.query({ name: 'b', text: beginText, values: [id, 1, 1, false] });
console.log('begin ms each', (performance.now() - t0) / 36);
await c.end(); await db.destroy(); await t.close();
