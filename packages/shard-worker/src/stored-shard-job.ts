import type { EnqueueRunFields, RunStore, StoredShard } from '@x/run-store';
import { shardJobPassesFast } from './shard-job-fast-check.js';
import { describeIssues, type ShardJobData, shardJobDataSchema } from './test-schemas.js';

/**
 * The payload the coordinator stores with each shard: the shard's tests, as the job carries
 * them, and the trace context of the creating request when tracing is on. A bare array of
 * tests (no trace; every row from before tracing) is read the same way.
 */
export type StoredShardPayload =
  | ShardJobData['tests']
  | { tests: ShardJobData['tests']; trace?: ShardJobData['trace'] };

function unwrap(payload: unknown): { tests: unknown; trace?: unknown } {
  if (
    typeof payload === 'object' &&
    payload !== null &&
    !Array.isArray(payload) &&
    'tests' in payload
  )
    return payload as { tests: unknown; trace?: unknown };
  return { tests: payload };
}

/**
 * A shard job rebuilt from PostgreSQL: the run's fields plus the shard's stored payload,
 * checked against the job schema (the database is the truth, but a row written by an older
 * release, or by hand, may not fit). Answers the problem instead of the job when it does not.
 */
export function storedShardJob(
  run: EnqueueRunFields,
  shard: StoredShard,
): { data: ShardJobData } | { problem: string } {
  const job = {
    runId: run.runId,
    workspaceId: run.workspaceId,
    shardIndex: shard.shardIndex,
    shardCount: run.shardCount,
    executor: run.executor,
    callbackUrl: run.callbackUrl,
    ...unwrap(shard.payload),
  };
  if (shardJobPassesFast(job)) return { data: job };
  const parsed = shardJobDataSchema.safeParse(job);
  if (parsed.success) return { data: parsed.data };
  return {
    problem: `shard ${shard.shardIndex} cannot be enqueued: its stored input is unusable (${describeIssues(parsed.error)})`,
  };
}

/**
 * A run one of whose shards can never be enqueued fails (first writer wins) rather than
 * waiting forever: the failure is its report, and the store queues its callback.
 */
export async function failUnusableRun(
  store: Pick<RunStore, 'transition'>,
  runId: string,
  problem: string,
): Promise<boolean> {
  const outcome = await store.transition(runId, ['queued', 'running'], 'failed', {
    error: problem,
  });
  return outcome.won;
}
