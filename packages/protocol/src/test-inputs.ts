import { z } from 'zod';

/**
 * The one definition of a test's input, read by the api (`POST /runs` validates with it, and
 * its OpenAPI document is generated from it), by clients (the request types) and by the
 * workers (a job is validated again when it is picked up, and the coordinator checks the run
 * as a whole). The bounds keep one run from holding a worker slot and its watchers'
 * streams for weeks: a demo test sleeps at most 10 minutes, and a run's planned time (the sum
 * of its tests' `durationMs`) is at most 1 hour.
 */
export const MAX_TESTS = 10_000;
export const MAX_SHARDS = 64;
/** One demo test's sleep: 10 minutes. */
export const MAX_DEMO_TEST_MS = 600_000;
/**
 * A run's planned time, the sum of its tests' `durationMs` (see {@link plannedRunMs}): 1 hour.
 * Shards run in parallel, so a run is usually done sooner; each retry of a shard replays its
 * tests, so the worst case is `attempts` times this, over all shards.
 */
export const MAX_PLANNED_RUN_MS = 3_600_000;
/** Failing attempts a demo test may ask for (a shard has 3 attempts by default). */
export const MAX_FAIL_ATTEMPTS = 10;
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const name = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(200, 'must be at most 200 characters');

/** An http(s) URL without credentials (a callback or an http test's target). */
export const httpUrlSchema = z
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

/** A `demo` test: sleeps `durationMs` and reports `outcome`, failing its first `failAttempts` attempts. */
export const demoTestSchema = z.strictObject({
  name,
  durationMs: z.number().int().min(0).max(MAX_DEMO_TEST_MS),
  outcome: z.enum(['pass', 'fail']).optional(),
  failAttempts: z.number().int().min(0).max(MAX_FAIL_ATTEMPTS).optional(),
});
export type DemoTest = z.infer<typeof demoTestSchema>;

/** An `http` test: one request whose status must equal `expectStatus` (default 200). */
export const httpTestSchema = z.strictObject({
  name,
  url: httpUrlSchema,
  method: z.enum(HTTP_METHODS).optional(),
  expectStatus: z.number().int().min(100).max(599).optional(),
  timeoutMs: z.number().int().min(1).max(60_000).optional(),
});
export type HttpTest = z.infer<typeof httpTestSchema>;

/** The planned time of a run: the sum of its tests' numeric `durationMs` (0 for an http test). */
export function plannedRunMs(tests: readonly unknown[]): number {
  let total = 0;
  for (const test of tests) {
    const value =
      typeof test === 'object' && test !== null
        ? (test as { durationMs?: unknown }).durationMs
        : undefined;
    if (typeof value === 'number' && Number.isFinite(value) && value > 0) total += value;
  }
  return total;
}

/** Why a run's tests plan too long a run, or null. */
export function plannedRunProblem(tests: readonly unknown[]): string | null {
  const planned = plannedRunMs(tests);
  return planned > MAX_PLANNED_RUN_MS
    ? `the tests' durationMs add up to ${planned} ms; a run may plan at most ${MAX_PLANNED_RUN_MS} ms (1 hour)`
    : null;
}
