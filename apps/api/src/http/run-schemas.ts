import { z } from 'zod';

export const EXECUTORS = ['demo', 'http'] as const;
export type ExecutorName = (typeof EXECUTORS)[number];
export const MAX_TESTS = 10_000;
export const MAX_SHARDS = 64;
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const testName = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters');

const httpUrl = z
  .string()
  .max(2048, 'must be at most 2048 characters')
  .refine((v) => {
    try {
      const u = new URL(v);
      return (
        (u.protocol === 'http:' || u.protocol === 'https:') &&
        u.username === '' &&
        u.password === ''
      );
    } catch {
      return false;
    }
  }, 'must be an http(s) URL without credentials');

export const demoTestSchema = z.strictObject({
  name: testName,
  /** Capped at 10 minutes: a demo test is a sleep. */
  durationMs: z.number().int().min(0).max(600_000),
  outcome: z.enum(['pass', 'fail']).optional(),
  failAttempts: z.number().int().min(0).max(10).optional(),
});

export const httpTestSchema = z.strictObject({
  name: testName,
  url: httpUrl,
  method: z.enum(HTTP_METHODS).optional(),
  expectStatus: z.number().int().min(100).max(599).optional(),
  timeoutMs: z.number().int().min(1).max(60_000).optional(),
});

export type DemoTest = z.infer<typeof demoTestSchema>;
export type HttpTest = z.infer<typeof httpTestSchema>;

const common = {
  shards: z.number().int().min(1).max(MAX_SHARDS).optional(),
  // A name of only spaces is no name.
  name: z
    .string()
    .trim()
    .max(200, 'must be at most 200 characters')
    .optional()
    .transform((name) => name || undefined),
  callbackUrl: httpUrl.optional(),
};
const tests = <T extends z.ZodType>(item: T) =>
  z
    .array(item)
    .min(1, 'must list at least one test')
    .max(MAX_TESTS, `must list at most ${MAX_TESTS} tests`);

/** `POST /runs`: the executor picks how each test is validated. */
export const createRunSchema = z
  .discriminatedUnion(
    'executor',
    [
      z.strictObject({ executor: z.literal('demo'), tests: tests(demoTestSchema), ...common }),
      z.strictObject({ executor: z.literal('http'), tests: tests(httpTestSchema), ...common }),
    ],
    { error: `executor must be one of ${EXECUTORS.join(', ')}` },
  )
  .superRefine((body, ctx) => {
    if (body.shards !== undefined && body.shards > body.tests.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['shards'],
        message: `must not exceed the number of tests (${body.tests.length})`,
      });
    }
  });
export type CreateRunBody = z.infer<typeof createRunSchema>;

const limit = (max: number, dflt: number) =>
  z
    .string()
    .regex(/^\d{1,5}$/, `must be an integer between 1 and ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(1).max(max))
    .optional()
    .transform((v) => v ?? dflt);
const cursor = z.string().min(1).max(512).optional();

export const listRunsQuerySchema = z.object({
  status: z.enum(['queued', 'running', 'completed', 'failed', 'aborted']).optional(),
  limit: limit(200, 50),
  cursor,
});

export const resultsQuerySchema = z.object({ limit: limit(1000, 200), cursor });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (v: unknown): v is string => typeof v === 'string' && UUID.test(v);
