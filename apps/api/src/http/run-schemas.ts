import { RUN_STATUSES } from '@x/protocol';
import {
  demoTestSchema,
  httpTestSchema,
  httpUrlSchema,
  MAX_SHARDS,
  MAX_TESTS,
  plannedRunProblem,
} from '@x/shard-worker';
import { z } from 'zod';

// The tests' schemas and every bound on them are @x/shard-worker's (test-schemas.ts): the
// workers validate jobs with the same definition, so api and workers cannot disagree.
export const EXECUTORS = ['demo', 'http'] as const;
export type ExecutorName = (typeof EXECUTORS)[number];

const common = {
  shards: z.number().int().min(1).max(MAX_SHARDS).optional(),
  // A name of only spaces is no name.
  name: z
    .string()
    .trim()
    .max(200, 'must be at most 200 characters')
    .optional()
    .transform((name) => name || undefined),
  callbackUrl: httpUrlSchema.optional(),
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
    const tooLong = plannedRunProblem(body.tests);
    if (tooLong) ctx.addIssue({ code: 'custom', path: ['tests'], message: tooLong });
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
  status: z.enum(RUN_STATUSES).optional(),
  limit: limit(200, 50),
  cursor,
});

export const resultsQuerySchema = z.object({ limit: limit(1000, 200), cursor });
