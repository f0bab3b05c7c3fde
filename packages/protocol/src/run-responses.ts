import { z } from 'zod';
import { API_ERROR_CODES } from './api-errors.js';
import { RESULT_STATUSES, RUN_STATUSES, RUN_WAIT_REASONS } from './run-status.js';

const count = z.number().int().nonnegative();
const isoTime = z.iso.datetime();

/** A run as the API answers it: no workspace id, no callback URL. */
export const runSchema = z.strictObject({
  id: z.uuid(),
  status: z.enum(RUN_STATUSES),
  executor: z.string(),
  name: z.string().nullable(),
  shardCount: count,
  shardsCompleted: count,
  total: count,
  passed: count,
  failed: count,
  createdAt: isoTime,
  startedAt: isoTime.nullable(),
  finishedAt: isoTime.nullable(),
  durationMs: count.nullable(),
  error: z.string().nullable(),
  tags: z.array(z.string()),
  metadata: z.record(z.string(), z.unknown()),
  waitingFor: z
    .enum(RUN_WAIT_REASONS)
    .nullable()
    .optional()
    .meta({
      description:
        'Why a `queued` run has not started: `workspace_share` when fair dispatch holds all its ' +
        'shards back because its workspace already uses its share. Null or absent otherwise.',
    }),
});
export type RunDto = z.output<typeof runSchema>;

/** One test's result. */
export const resultSchema = z.strictObject({
  shardIndex: count,
  testId: z.string(),
  name: z.string(),
  status: z.enum(RESULT_STATUSES),
  durationMs: z.number().nonnegative(),
  error: z.string().nullable(),
  attempt: count.meta({
    description: '1-based attempt that produced it; 0 for a test that never ran.',
  }),
});
export type ResultDto = z.output<typeof resultSchema>;

/** `{run}`: `POST /runs`, `GET /runs/:id`, `POST /runs/:id/abort`. */
export const runResponseSchema = z.strictObject({ run: runSchema });
export type RunResponse = z.output<typeof runResponseSchema>;

/** `GET /runs`. */
export const runListResponseSchema = z.strictObject({
  runs: z.array(runSchema),
  nextCursor: z.string().nullable(),
});
export type RunListResponse = z.output<typeof runListResponseSchema>;

/** `GET /runs/:id/results`. */
export const resultsResponseSchema = z.strictObject({
  results: z.array(resultSchema),
  nextCursor: z.string().nullable(),
});
export type ResultsResponse = z.output<typeof resultsResponseSchema>;

/** `POST /runs/abort`: how many runs this call aborted (0 when repeated). */
export const bulkAbortResponseSchema = z.strictObject({ aborted: count });
export type BulkAbortResponse = z.output<typeof bulkAbortResponseSchema>;

/** `POST /runs/:id/stream-token`: opens `GET /runs/:id/events?st=…` until `expiresAt`. */
export const streamTokenResponseSchema = z.strictObject({
  token: z.string(),
  expiresAt: isoTime,
});
export type StreamTokenResponse = z.output<typeof streamTokenResponseSchema>;

/** The body of every error answer (see `ApiErrorBody`). */
export const apiErrorBodySchema = z.strictObject({
  error: z.strictObject({
    code: z.enum(API_ERROR_CODES as [string, ...string[]]),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});
