/**
 * The hand-written system of `pnpm bench:system` (e) behind the HTTP a user would put in front
 * of it, in processes of its own, so its CPU is measured as ours is: the durable runs of
 * reference-system.ts, with
 * - role `api`: `POST /api/v1/runs` (bearer check, the body checked with zod, the tests dealt
 *   round-robin into shards, the run row and its Flow; 201 `{run: {id}}`) and
 *   `GET /api/v1/runs/:id/events` (bearer check, the run read, 404 if absent, then its stream
 *   tailed with `XREAD BLOCK` from the start, one SSE frame per entry, closed after `done`);
 * - role `worker`: the Flow's workers, with the durable writes.
 * Prints READY. Env: REDIS_URL, DATABASE_URL, PREFIX, TOKEN, PORT (api), CONCURRENCY (worker).
 * Not in it: abort, shard events, gapless sequence numbers, exactly-once events, resume
 * semantics beyond the stream id, callbacks, rate limits, metrics.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { DURABLE_REFERENCE_SQL } from '@x/testkit';
import express from 'express';
import { Redis } from 'ioredis';
import { z } from 'zod';
import {
  addReferenceRun,
  bullmq,
  historyKey,
  referenceWorkers,
  type Sql,
} from './reference-system.js';

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`http-reference: ${name} is required`);
  return value;
};
const requireFromStore = createRequire(createRequire(import.meta.url).resolve('@x/run-store'));
const pg = requireFromStore('pg') as {
  Pool: new (opts: { connectionString: string; max: number }) => Sql;
};

const prefix = env('PREFIX');
const db = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 10 });
const redis = new Redis(env('REDIS_URL'), { maxRetriesPerRequest: null });

if (process.argv[2] === 'worker') {
  referenceWorkers({ connection: redis, prefix, concurrency: Number(env('CONCURRENCY')), db });
} else {
  await db.query(DURABLE_REFERENCE_SQL.SCHEMA);
  const producer = new bullmq.FlowProducer({ connection: redis, prefix });
  const bearer = `Bearer ${env('TOKEN')}`;
  const body = z.object({
    executor: z.string().min(1),
    tests: z
      .array(
        z.object({
          name: z.string().min(1).max(500),
          durationMs: z.int().min(0),
          outcome: z.enum(['pass', 'fail']).optional(),
        }),
      )
      .min(1)
      .max(10_000),
    shards: z.int().min(1).max(100),
  });
  const runId = z.uuid();
  // XREAD BLOCK holds its connection: one per open stream, kept for the next one.
  const idle: Redis[] = [];
  const app = express();
  app.use(express.json({ limit: '1mb' }));
  app.post('/api/v1/runs', async (req, res) => {
    if (req.get('authorization') !== bearer) return void res.status(401).end();
    const parsed = body.safeParse(req.body);
    if (!parsed.success) return void res.status(400).json({ error: parsed.error.message });
    const { tests, shards } = parsed.data;
    const dealt = Array.from({ length: shards }, (_, s) =>
      tests.filter((_, i) => i % shards === s).map((t) => t.name),
    );
    const id = randomUUID();
    await addReferenceRun(producer, db, id, dealt);
    res.status(201).json({ run: { id, status: 'running', total: tests.length } });
  });
  app.get('/api/v1/runs/:id/events', async (req, res) => {
    if (req.get('authorization') !== bearer) return void res.status(401).end();
    const { id } = req.params;
    if (!runId.safeParse(id).success) return void res.status(404).end();
    const { rows } = await db.query('select 1 from ref_runs where id = $1', [id]);
    if (rows.length === 0) return void res.status(404).end();
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    let open = true;
    res.on('close', () => {
      open = false;
    });
    const tail = idle.pop() ?? redis.duplicate();
    try {
      let last = '0-0';
      while (open) {
        const read = await tail.xread('BLOCK', 5_000, 'STREAMS', historyKey(prefix, id), last);
        for (const [entryId, fields] of read?.[0]?.[1] ?? []) {
          last = entryId;
          const data = fields[1] ?? '{}';
          res.write(`id: ${entryId}\ndata: ${data}\n\n`);
          if ((JSON.parse(data) as { type?: string }).type === 'done') open = false;
        }
      }
    } finally {
      idle.push(tail);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) =>
    app.listen(Number(env('PORT')), '127.0.0.1', (err) => (err ? reject(err) : resolve())),
  );
}
console.log('READY');
