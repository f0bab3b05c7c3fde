// Diagnostic, not a bench (no reference, no JSON line): three 2,000-shard floods through fair
// dispatch (window 32, concurrency 16) on a throwaway database whose sessions preload
// auto_explain, so every statement of >= 2 ms, the dispatcher's release statement among them,
// has its plan (analyze, buffers) in the PostgreSQL server log (the test kit's private cluster:
// <tmpdir>/x-testkit-pg-<uid>/log). How the pass's time splits between its parts was found
// this way (shard-worker README, fair share).
// Run: pnpm --filter @x/shard-worker exec tsx bench/explain-dispatch.ts
import { postgres, startRedis, uniqueName } from '@x/testkit';
import pg from 'pg';
import { createStack } from '../test/fixtures/stack.js';
import { until } from './settings.js';

const redis = await startRedis();
const db = await postgres('fair_explain');
const admin = new pg.Client({ connectionString: db.url });
await admin.connect();
const name = new URL(db.url).pathname.slice(1);
await admin.query(`alter database "${name}" set session_preload_libraries = 'auto_explain'`);
await admin.query(`alter database "${name}" set auto_explain.log_min_duration = '2ms'`);
await admin.query(`alter database "${name}" set auto_explain.log_analyze = on`);
await admin.query(`alter database "${name}" set auto_explain.log_buffers = on`);
const stack = await createStack({
  databaseUrl: db.url,
  redisUrl: redis.url,
  prefix: uniqueName('ex'),
  concurrency: 16,
  poolSize: 20,
  fair: { window: 32, maxRunningShards: null },
});
const tests = Array.from({ length: 4 }, (_, i) => ({ name: `t${i}`, durationMs: 10 }));
for (let round = 0; round < 3; round++) {
  const ws = uniqueName('flood');
  const ids: string[] = [];
  for (let r = 0; r < 500; r += 50) {
    const runs = await Promise.all(
      Array.from({ length: 50 }, () =>
        stack.coordinator.enqueueRun({ workspaceId: ws, executor: 'demo', tests, shards: 4 }),
      ),
    );
    ids.push(...runs.map((x) => x.id));
  }
  const t0 = performance.now();
  await until(async () => (await stack.store.terminalRuns(ids)).length === ids.length, 'drained');
  console.log(`round ${round}: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
}
console.log(`DATABASE ${name}; dispatcher ${JSON.stringify(stack.dispatcher?.metrics())}`);
await stack.close();
await admin.end();
await db.close();
await redis.close();
