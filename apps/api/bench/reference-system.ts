/**
 * The hand-written system `pnpm bench:system` compares ours with (issue 18): runs done the way
 * a competent engineer would write them with a BullMQ Flow and a Redis stream per run as the
 * SSE history. Per run: a Flow, a parent with one child per shard; each child appends one event
 * per test with `XADD` (the history an SSE endpoint replays and tails); the parent reads its
 * children's values and appends the final `done`, then sets the history's expiry.
 * With `db`, durable as well, with the statements of the shard-worker bench's durable
 * reference (issue 18 §1): the run row before its Flow; each child inserts its results in one
 * multi-row statement, then records its completion and bumps the run's counters only when that
 * was new, in one statement; the parent writes the final status once: 10 statements a 4-shard
 * run. Not in it: shard events, abort, sequence numbers without gaps, exactly-once events,
 * callbacks, rate limits. Used in this process (flow-reference.ts) and behind HTTP in
 * processes of its own (http-reference.ts).
 */
import { createRequire } from 'node:module';
import { DURABLE_REFERENCE_SQL } from '@x/testkit';
import type { Redis } from 'ioredis';

/** The slice of BullMQ the reference uses (bullmq is @x/shard-worker's dependency). */
interface FlowJob {
  name: string;
  queueName: string;
  data: unknown;
  children?: FlowJob[];
}
interface Job {
  data: unknown;
  getChildrenValues(): Promise<Record<string, unknown>>;
}
export interface BullWorker {
  close(): Promise<void>;
}
export interface FlowProducer {
  add(flow: FlowJob): Promise<unknown>;
  close(): Promise<void>;
}
interface BullMq {
  FlowProducer: new (opts: { connection: Redis; prefix: string }) => FlowProducer;
  Worker: new (
    queue: string,
    processor: (job: Job) => Promise<unknown>,
    opts: { connection: Redis; prefix: string; concurrency: number },
  ) => BullWorker;
}
const requireFromWorker = createRequire(createRequire(import.meta.url).resolve('@x/shard-worker'));
export const bullmq = requireFromWorker('bullmq') as BullMq;

/** The slice of a `pg.Pool` the durable writes use. */
export interface Sql {
  query<R>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

/** The hand-written statements (shared with @x/shard-worker's bench; `SCHEMA` creates the tables). */
const SQL = DURABLE_REFERENCE_SQL;

/** The Redis stream that is a run's event history. */
export const historyKey = (prefix: string, runId: string) => `${prefix}:events:${runId}`;

export interface ReferenceWorkerOptions {
  /** The connection the workers duplicate theirs from (closed by the caller). */
  connection: Redis;
  prefix: string;
  /** Jobs each BullMQ worker runs at once. */
  concurrency: number;
  db?: Sql;
}

/** The Flow's workers: shards (events, results, completion) and runs (status, `done`). */
export function referenceWorkers(o: ReferenceWorkerOptions): { close(): Promise<void> } {
  const publisher = o.connection.duplicate();
  // BullMQ leaves the connections it is given open: they are closed below.
  const own = [o.connection.duplicate(), o.connection.duplicate()] as const;
  const history = (runId: string) => historyKey(o.prefix, runId);
  const workers = [
    new bullmq.Worker(
      'ref-shards',
      async (job) => {
        const { runId, shard, testIds } = job.data as {
          runId: string;
          shard: number;
          testIds: string[];
        };
        // Zero-duration tests: each one's result is published as it finishes.
        await Promise.all(
          testIds.map((testId) =>
            publisher.xadd(
              history(runId),
              '*',
              'e',
              JSON.stringify({ type: 'result', shard, testId, status: 'passed' }),
            ),
          ),
        );
        if (o.db) {
          await o.db.query(SQL.INSERT_RESULTS, [runId, shard, testIds, testIds]);
          await o.db.query(SQL.COMPLETE, [runId, shard, testIds.length, 0]);
        }
        return { passed: testIds.length, failed: 0 };
      },
      { connection: own[0], prefix: o.prefix, concurrency: o.concurrency },
    ),
    new bullmq.Worker(
      'ref-runs',
      async (job) => {
        const { runId } = job.data as { runId: string };
        const values = Object.values(await job.getChildrenValues()) as { passed: number }[];
        const passed = values.reduce((t, v) => t + v.passed, 0);
        // The final status before `done`: whoever sees `done` finds the run written.
        await o.db?.query(SQL.FINISH, [runId]);
        const done = { type: 'done', status: 'completed', passed };
        await publisher.xadd(history(runId), '*', 'e', JSON.stringify(done));
        await publisher.expire(history(runId), 3600);
        return { passed };
      },
      { connection: own[1], prefix: o.prefix, concurrency: o.concurrency },
    ),
  ];
  return {
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      for (const c of [publisher, ...own]) c.disconnect();
    },
  };
}

/** Creates a run: its row (with `db`), then its Flow, one child per shard of `testIds`. */
export async function addReferenceRun(
  producer: FlowProducer,
  db: Sql | undefined,
  runId: string,
  shards: string[][],
): Promise<void> {
  const total = shards.reduce((t, s) => t + s.length, 0);
  await db?.query(SQL.INSERT_RUN, [runId, shards.length, total]);
  await producer.add({
    name: 'run',
    queueName: 'ref-runs',
    data: { runId },
    children: shards.map((testIds, shard) => ({
      name: 'shard',
      queueName: 'ref-shards',
      data: { runId, shard, testIds },
    })),
  });
}

/** How many of `ids` are completed with every shard and test counted, once. */
export async function exactRuns(db: Sql, ids: string[], total: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int as n from ref_runs r
     where id = any($1::uuid[]) and status = 'completed' and shards_completed = shard_count
       and passed = $2 and (select count(*) from ref_results x where x.run_id = r.id) = $2`,
    [ids, total],
  );
  return rows[0]?.n ?? 0;
}
