// pnpm --filter @x/run-store bench:abort-write
// Where an abort's write spends its time on the client side (issue 18 §3). One cold write
// every ~1 ms (as in @x/run-abort's bench), each on a run of its own, the variants in every
// order: store.transition; its SQL without the store's checks and Run mapping
// (transitionSql); the same text through Kysely's executeQuery; through a bare pg client;
// and the bare client returning only the 20 columns a Run is made of. All prepared, and the
// server's work is the same statement, so the differences are the layers and the columns.
import { LIVE_STATUSES } from '@x/protocol';
import { postgres } from '@x/testkit';
import { CompiledQuery } from 'kysely';
import pg from 'pg';
import { createRunStore, migrate, openPostgres } from '../src/index.js';
import { transitionSql } from '../src/sql/transition.js';

const ROUNDS = Number(process.env.ROUNDS ?? 1000);
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const q = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.floor(p * xs.length)] ?? Number.NaN;

const permutations = (n: number): number[][] =>
  n === 0
    ? [[]]
    : permutations(n - 1).flatMap((p) =>
        Array.from({ length: n }, (_, at) => [...p.slice(0, at), n - 1, ...p.slice(at)]),
      );

const TEXT = `
    update runs r set status = $3, error = $4, finished_at = now(), duration_ms = greatest(0, round(extract(epoch from
            (now() - coalesce(r.started_at, r.created_at))) * 1000))::int, callback_state = case when r.callback_url is not null then 'pending' end,
    callback_due_at = case when r.callback_url is not null then now() end
    where r.id = $1 and r.status = any($2::text[])
    returning r.*`;

// The columns a Run is made of (rowToRun), of the row's 29.
const RUN_COLUMNS = `r.id, r.workspace_id, r.status, r.executor, r.name, r.shard_count,
  r.shards_completed, r.total, r.passed, r.failed, r.retry_count, r.failed_after_retry,
  r.callback_url, r.error, r.created_at, r.started_at, r.finished_at, r.duration_ms, r.tags,
  r.metadata`;

const database = await postgres('run_abort_write_probe');
const db = openPostgres(database.url, { max: 2 });
try {
  await migrate(db);
  const store = createRunStore(db);
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  const variants: [string, (id: string) => Promise<unknown>][] = [
    ['store.transition', (id) => store.transition(id, LIVE_STATUSES, 'aborted', { error: 'x' })],
    [
      'transitionSql (no checks, no Run)',
      (id) => transitionSql(db, id, LIVE_STATUSES, 'aborted', { error: 'x' }),
    ],
    [
      'kysely executeQuery (same text)',
      (id) => db.executeQuery(CompiledQuery.raw(TEXT, [id, ['queued', 'running'], 'aborted', 'x'])),
    ],
    [
      'bare pg client, named',
      (id) =>
        client.query({
          name: 'c',
          text: TEXT,
          values: [id, ['queued', 'running'], 'aborted', 'x'],
        }),
    ],
    [
      'bare pg client, named, 20 columns',
      (id) =>
        client.query({
          name: 'n',
          text: TEXT.replace('returning r.*', `returning ${RUN_COLUMNS}`),
          values: [id, ['queued', 'running'], 'aborted', 'x'],
        }),
    ],
  ];
  const ORDERS = permutations(variants.length);
  const times = variants.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS + 100; round++) {
    const ids: string[] = [];
    for (let v = 0; v < variants.length; v++)
      ids.push(
        (
          await store.createRun({
            workspaceId: 'p',
            executor: 'demo',
            shards: [{ testIds: ['a'] }],
          })
        ).id,
      );
    // Every order in turn, and the runs (created in a row) taken in execution order: no
    // variant always follows the same one or always gets the same place on the page.
    const order = ORDERS[round % ORDERS.length] as number[];
    for (const [k, v] of order.entries()) {
      const write = (variants[v] as (typeof variants)[number])[1];
      await sleep(1);
      const t0 = now();
      await write(ids[k] as string);
      if (round >= 100) times[v]?.push(now() - t0);
    }
  }
  for (const [v, [name]] of variants.entries()) {
    const xs = times[v] as number[];
    console.log(
      `${name.padEnd(34)} p50 ${q(xs, 0.5).toFixed(3)} ms  p90 ${q(xs, 0.9).toFixed(3)} ms`,
    );
  }
  await client.end();
} finally {
  await db.destroy();
  await database.close();
}
