import { postgres } from '@x/testkit';
import pg from 'pg';
import { createRunStore, migrate, openPostgres } from '../src/index.js';
const t = await postgres('explain-probe');
const db = openPostgres(t.url, { max: 1 });
await migrate(db);
const store = createRunStore(db);
const tests = [0, 1, 2, 3].map((i) => ({ testIds: [`t${i}`], payload: { tests: [{ testId: `t${i}`, test: { name: `t${i}`, durationMs: 0 } }] } }));
for (let i = 0; i < 500; i++) await store.createRun({ workspaceId: 'w', executor: 'demo', shards: tests } as never);
const c = new pg.Client({ connectionString: t.url });
await c.connect();
await c.query("set track_io_timing = off");
const json = JSON.stringify(tests.map((s) => ({ t: s.testIds, p: s.payload })));
const q = `explain (analyze, buffers, wal, timing on)
    with ws as (
      insert into workspaces (id) values ('w') on conflict (id) do nothing
    ), run as (
      insert into runs (id, workspace_id, executor, name, callback_url, shard_count, total, tags, metadata)
      select gen_random_uuid(), 'w', 'demo', null, null, 4, 4, '{}'::text[], '{}'::jsonb
      returning *
    ), shards as (
      insert into run_shards (run_id, shard_index, test_ids, payload)
      select run.id, (s.ord - 1)::int, array(select jsonb_array_elements_text(s.shard->'t')),
             nullif(s.shard->'p', 'null'::jsonb)
      from run, jsonb_array_elements('${json}'::jsonb) with ordinality as s(shard, ord)
    )
    select * from run`;
for (let i = 0; i < 3; i++) {
  const r = await c.query(q);
  if (i === 2) console.log(r.rows.map((x) => x['QUERY PLAN']).join('\n'));
}
await c.end(); await db.destroy(); await t.close();
