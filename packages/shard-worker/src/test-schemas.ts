import { z } from 'zod';

const name = z.string().trim().min(1, 'name must not be empty').max(200);

/** A `demo` test: sleeps `durationMs` and reports `outcome`, failing its first `failAttempts` attempts. */
export const demoTestSchema = z.strictObject({
  name,
  durationMs: z.number().int().min(0).max(3_600_000),
  outcome: z.enum(['pass', 'fail']).optional(),
  failAttempts: z.number().int().min(0).max(100).optional(),
});
export type DemoTest = z.infer<typeof demoTestSchema>;

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** An `http` test: one request whose status must equal `expectStatus` (default 200). */
export const httpTestSchema = z.strictObject({
  name,
  url: z.string().min(1).max(2048),
  method: z.enum(HTTP_METHODS).optional(),
  expectStatus: z.number().int().min(100).max(599).optional(),
  timeoutMs: z.number().int().min(1).max(60_000).optional(),
});
export type HttpTest = z.infer<typeof httpTestSchema>;

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
});
export type ShardJobData = z.infer<typeof shardJobDataSchema>;

/** Formats a zod error as one line naming every bad field. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}
