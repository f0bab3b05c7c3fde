import { z } from 'zod';
import { LIVE_STATUSES, RUN_STATUSES } from './run-status.js';
import { metadataSchema, tagSchema, tagsSchema } from './run-tags.js';
import {
  demoTestSchema,
  httpTestSchema,
  httpUrlSchema,
  MAX_SHARDS,
  MAX_TESTS,
  plannedRunProblem,
} from './test-inputs.js';

/** The executors a run can name. */
export const EXECUTORS = ['demo', 'http'] as const;
export type ExecutorName = (typeof EXECUTORS)[number];

const common = {
  shards: z
    .number()
    .int()
    .min(1)
    .max(MAX_SHARDS)
    .optional()
    .meta({ description: 'Shards to split the tests into. Default min(4, tests).' }),
  // A name of only spaces is no name.
  name: z
    .string()
    .trim()
    .max(200, 'must be at most 200 characters')
    .optional()
    .transform((name) => name || undefined),
  callbackUrl: httpUrlSchema
    .optional()
    .meta({ description: "POSTed the run's final state once it finishes (signed)." }),
  tags: tagsSchema.optional(),
  metadata: metadataSchema.optional(),
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
/** The body a client sends to `POST /runs`. */
export type CreateRunBody = z.input<typeof createRunSchema>;
/** The body as the api reads it after validation (a blank `name` is dropped). */
export type ParsedCreateRunBody = z.output<typeof createRunSchema>;

/**
 * `Idempotency-Key` of `POST /runs`: 1–255 printable ASCII characters (a UUID, a ULID, a job
 * name). Anything else is refused with a 400 naming the header, never silently ignored.
 */
export const MAX_IDEMPOTENCY_KEY_CHARS = 255;
export const idempotencyKeySchema = z
  .string()
  .min(1, 'must not be empty')
  .max(MAX_IDEMPOTENCY_KEY_CHARS, `must be at most ${MAX_IDEMPOTENCY_KEY_CHARS} characters`)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
  .meta({
    description:
      'Makes the create safe to retry: the same key with the same body answers the original run (200, `Idempotent-Replayed: true`) for at least 24 h; with another body, 422 `idempotency_key_reused`.',
  });

const limit = (max: number, dflt: number) =>
  z
    .string()
    .regex(/^\d{1,5}$/, `must be an integer between 1 and ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(1).max(max))
    .optional()
    .transform((v) => v ?? dflt)
    .meta({ description: `Page size, 1–${max}; default ${dflt}.` });
const cursor = z
  .string()
  .min(1)
  .max(512)
  .optional()
  .meta({ description: 'The `nextCursor` of the previous page.' });

/** A query parameter that may repeat (`?tag=a&tag=b`): always read as a list. */
const repeatable = <T extends z.ZodType>(item: T, max: number) =>
  z
    .union([item, z.array(item).max(max, `must be given at most ${max} times`)])
    .optional()
    .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]) as z.output<T>[]);
const instant = (description: string) =>
  z.iso
    .datetime({ offset: true, error: 'must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z' })
    .optional()
    .meta({ description });

/** `GET /runs` query. Every filter given must match; repeated `tag`s must all match. */
export const listRunsQuerySchema = z.object({
  status: repeatable(z.enum(RUN_STATUSES), RUN_STATUSES.length).meta({
    description: 'Only runs in one of these statuses (repeatable).',
  }),
  tag: repeatable(tagSchema, 10).meta({
    description: 'Only runs carrying every one of these tags (repeatable).',
  }),
  createdAfter: instant('Only runs created at or after this instant.'),
  createdBefore: instant('Only runs created before this instant.'),
  limit: limit(200, 50),
  cursor,
});
export type ListRunsQuery = z.input<typeof listRunsQuerySchema>;

/** `GET /runs/:id/results` query. */
export const resultsQuerySchema = z.object({ limit: limit(1000, 200), cursor });

/**
 * `POST /runs/abort`: aborts every live run of the workspace that matches. An empty filter is
 * refused (one typo must not abort a workspace): give a `tag`, a `status` list, or both.
 */
export const bulkAbortSchema = z
  .strictObject({
    tag: tagSchema.optional().meta({ description: 'Only runs carrying this tag.' }),
    status: z
      .array(z.enum(LIVE_STATUSES))
      .min(1, 'must list at least one status')
      .max(LIVE_STATUSES.length)
      .optional()
      .meta({ description: 'Only runs in one of these statuses. Default: queued and running.' }),
  })
  .refine((f) => f.tag !== undefined || f.status !== undefined, {
    message: 'an empty filter would abort every run of the workspace: give a tag or a status',
  });
export type BulkAbortBody = z.input<typeof bulkAbortSchema>;
