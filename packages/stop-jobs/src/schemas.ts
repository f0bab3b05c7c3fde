import { z } from 'zod';
import { RESULT_ERROR_CODES, STOP_OUTCOMES, STOP_REASONS } from './kinds.js';

// The wire schemas of the three streams. Redis stream field values are strings, so these
// describe the strings on the wire. They are the single source of truth: `asyncapi.yaml`
// holds the same schemas and test/asyncapi.test.ts fails if the two drift apart.
// Objects are loose: a newer producer may add fields without breaking older consumers.

const MILLIS = /^(0|[1-9][0-9]{0,15})$/;
const OPTIONAL_MILLIS = /^(|0|[1-9][0-9]{0,15})$/;
const ENTRY_ID = /^[0-9]{1,20}-[0-9]{1,20}$/;
const COUNT = /^[1-9][0-9]{0,9}$/;

/** Longest `error_message` / `last_error` kept; longer messages are cut. */
export const MAX_MESSAGE_LENGTH = 1000;
/** Longest `requested_by`. */
export const MAX_REQUESTED_BY_LENGTH = 200;

/** One `{prefix}:runs:stop_jobs` entry. */
export const stopJobSchema = z
  .looseObject({
    run_id: z.uuid(),
    reason: z.enum(STOP_REASONS),
    requested_at_ms: z.string().regex(OPTIONAL_MILLIS).optional(),
    requested_by: z.string().max(MAX_REQUESTED_BY_LENGTH).optional(),
  })
  .describe('A request to stop one run.');
export type StopJobFields = z.infer<typeof stopJobSchema>;

/** One `{prefix}:runs:job_results` entry. */
export const stopJobResultSchema = z
  .looseObject({
    run_id: z.union([z.uuid(), z.literal('')]),
    outcome: z.enum(STOP_OUTCOMES),
    error_code: z.enum(RESULT_ERROR_CODES),
    error_message: z.string().max(MAX_MESSAGE_LENGTH),
    final_status: z.string().regex(/^[a-z_]{0,32}$/),
    source_entry_id: z.string().regex(ENTRY_ID),
  })
  .describe('The outcome of one stop job.');
export type StopJobResultFields = z.infer<typeof stopJobResultSchema>;

/** One `{prefix}:runs:stop_jobs:dead` entry. */
export const deadStopJobSchema = z
  .looseObject({
    source_entry_id: z.string().regex(ENTRY_ID),
    delivery_count: z.string().regex(COUNT),
    last_error: z.string().max(MAX_MESSAGE_LENGTH),
    dead_at_ms: z.string().regex(MILLIS),
    consumer: z.string().max(MAX_REQUESTED_BY_LENGTH),
    entry: z.string(),
  })
  .describe('A stop job that failed too many deliveries.');
export type DeadStopJobFields = z.infer<typeof deadStopJobSchema>;
