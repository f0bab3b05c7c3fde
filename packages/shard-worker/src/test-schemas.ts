import { z } from 'zod';
import { traceCarrierSchema } from './trace-context.js';

export const TEST_STATUSES = ['passed', 'failed', 'skipped'] as const;
export type TestStatus = (typeof TEST_STATUSES)[number];

/** One test's outcome as an executor reports it. */
export const testResultSchema = z.strictObject({
  testId: z.string().min(1),
  name: z.string(),
  status: z.enum(TEST_STATUSES),
  durationMs: z.number().min(0),
  error: z.string().nullable(),
});
export type TestResult = z.infer<typeof testResultSchema>;

/**
 * The payload of one shard job as it travels through the queue (and Redis): validated when a
 * worker picks it up, because anything could have written to the queue.
 */
export const shardJobDataSchema = z.strictObject({
  runId: z.string().min(1).max(100),
  workspaceId: z.string().min(1).max(200),
  shardIndex: z.number().int().min(0),
  shardCount: z.number().int().min(1),
  executor: z.string().min(1).max(100),
  callbackUrl: z.string().max(2048).nullable(),
  tests: z.array(z.strictObject({ testId: z.string().min(1), test: z.unknown() })),
  /** The trace of the request that created the run (OpenTelemetry on), for the worker's spans. */
  trace: traceCarrierSchema.optional(),
});
export type ShardJobData = z.infer<typeof shardJobDataSchema>;

/** Formats a zod error as one line naming every bad field. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}
