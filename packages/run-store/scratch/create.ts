import { postgres } from '@x/testkit';
import { createRunStore, migrate, openPostgres } from '../src/index.js';
const t = await postgres('create-probe');
const db = openPostgres(t.url, { max: 1 });
await migrate(db);
const store = createRunStore(db);
const tests = [0, 1, 2, 3].map((i) => ({ testIds: [`t${i}`], payload: { tests: [{ testId: `t${i}`, test: { name: `t${i}`, durationMs: 0 } }] } }));
for (let k = 0; k < 3; k++) {
  const t0 = performance.now();
  for (let i = 0; i < 300; i++) await store.createRun({ workspaceId: 'w', executor: 'demo', shards: tests } as never);
  console.log('createRun ms each', ((performance.now() - t0) / 300).toFixed(3));
}
await db.executeQuery({ sql: 'create table if not exists ref_runs (id uuid primary key, status text not null, shard_count int not null, shards_completed int not null default 0, total int not null, passed int not null default 0, failed int not null default 0, created_at timestamptz not null default now(), finished_at timestamptz)', parameters: [], query: { kind: 'RawNode' } } as never);
for (let k = 0; k < 2; k++) {
  const t0 = performance.now();
  for (let i = 0; i < 300; i++) await db.executeQuery({ sql: `insert into ref_runs (id, status, shard_count, total) values ($1, 'running', $2, $2)`, parameters: [crypto.randomUUID(), 4], query: { kind: 'RawNode' } } as never);
  console.log('ref insert ms each', ((performance.now() - t0) / 300).toFixed(3));
}
await db.destroy(); await t.close();
