import { canonicalUuid } from '@x/kernel';
import { z } from 'zod';
import type { StopReason } from './kinds.js';
import {
  type DeadStopJobFields,
  deadStopJobSchema,
  type StopJobResultFields,
  stopJobResultSchema,
  stopJobSchema,
} from './schemas.js';
import type { StopJob } from './stop-service.js';

/** More fields than any contract version needs: refuse before building a big object. */
const MAX_FIELDS = 32;

// Ahead-of-time compiled clones for the hot path: same schemas, same errors (invalid input
// falls back to the regular parser), several times faster per entry.
const compiledStopJob = z.compile(stopJobSchema);
const compiledResult = z.compile(stopJobResultSchema);
const compiledDead = z.compile(deadStopJobSchema);

export type DecodedStopJob =
  | { ok: true; job: Omit<StopJob, 'deliveryCount'> }
  | {
      ok: false;
      /** `trimmed`: the entry was deleted from the stream before anyone handled it. */
      reason: 'invalid' | 'trimmed';
      detail: string;
      /** The entry's run id when that field alone was valid, else `''`. */
      runId: string;
    };

/** Turns a stream entry's flat `[field, value, …]` list into an object, refusing duplicates. */
export function fieldsToRecord(
  fields: readonly string[],
): { ok: true; record: Record<string, string> } | { ok: false; detail: string } {
  if (fields.length % 2 !== 0) return { ok: false, detail: 'odd number of field/value items' };
  if (fields.length > MAX_FIELDS * 2)
    return { ok: false, detail: `more than ${MAX_FIELDS} fields` };
  const record: Record<string, string> = Object.create(null);
  for (let i = 0; i < fields.length; i += 2) {
    const key = fields[i]!;
    // A scan of the earlier keys (at most MAX_FIELDS) is cheaper than `in` on a
    // prototype-less dictionary object, and this runs for every entry.
    for (let j = 0; j < i; j += 2) {
      if (fields[j] === key) return { ok: false, detail: `field '${key}' appears more than once` };
    }
    record[key] = fields[i + 1]!;
  }
  return { ok: true, record };
}

/**
 * Decodes one `{prefix}:runs:stop_jobs` entry. Never throws: a bad entry comes back as
 * `{ ok: false }` with a message naming every offending field.
 */
export function decodeStopJob(entryId: string, fields: readonly string[] | null): DecodedStopJob {
  if (fields === null) {
    return { ok: false, reason: 'trimmed', detail: 'entry was deleted from the stream', runId: '' };
  }
  const converted = fieldsToRecord(fields);
  if (!converted.ok) return { ok: false, reason: 'invalid', detail: converted.detail, runId: '' };
  const parsed = compiledStopJob.safeParse(converted.record);
  if (!parsed.success) {
    const runId = stopJobSchema.shape.run_id.safeParse(converted.record.run_id);
    return {
      ok: false,
      reason: 'invalid',
      detail: describeIssues(parsed.error),
      runId: runId.success ? canonical(runId.data) : '',
    };
  }
  const { run_id, reason, requested_at_ms, requested_by } = parsed.data;
  return {
    ok: true,
    job: {
      runId: canonical(run_id),
      reason,
      requestedAtMs: requested_at_ms ? Number(requested_at_ms) : null,
      requestedBy: requested_by ? requested_by : null,
      entryId,
    },
  };
}

/** The fields `requestStop` writes; throws a ZodError for a job outside the contract. */
export function encodeStopJob(job: {
  runId: string;
  reason: StopReason;
  requestedAtMs?: number | null;
  requestedBy?: string | null;
}): string[] {
  const record: Record<string, string> = { run_id: canonical(job.runId), reason: job.reason };
  if (job.requestedAtMs != null) record.requested_at_ms = String(job.requestedAtMs);
  if (job.requestedBy) record.requested_by = job.requestedBy;
  return recordToFields(stopJobSchema.parse(record));
}

export function encodeStopJobResult(result: StopJobResultFields): string[] {
  return recordToFields(compiledResult.parse(result));
}

/**
 * The hot-path twin of encodeStopJobResult, for results the consumer assembles from parts
 * that are already validated (decoded run id, checked service answer, clipped message,
 * Redis entry id). Tests decode every published result with the schema.
 */
export function resultFields(r: StopJobResultFields): string[] {
  return [
    'run_id',
    r.run_id,
    'outcome',
    r.outcome,
    'error_code',
    r.error_code,
    'error_message',
    r.error_message,
    'final_status',
    r.final_status,
    'source_entry_id',
    r.source_entry_id,
  ];
}

export function encodeDeadStopJob(dead: DeadStopJobFields): string[] {
  return recordToFields(compiledDead.parse(dead));
}

/** For readers of `{prefix}:runs:job_results` (e.g. an api waiting for a stop's outcome). */
export function decodeStopJobResult(
  fields: readonly string[],
): { ok: true; result: StopJobResultFields } | { ok: false; detail: string } {
  const converted = fieldsToRecord(fields);
  if (!converted.ok) return converted;
  const parsed = compiledResult.safeParse(converted.record);
  if (!parsed.success) return { ok: false, detail: describeIssues(parsed.error) };
  // The parser's output is a fresh object: ours to canonicalize in place.
  parsed.data.run_id = canonical(parsed.data.run_id);
  return { ok: true, result: parsed.data };
}

/**
 * A run id as every stream reader and writer spells it: lower case (a UUID is
 * case-insensitive, and the store, channels and keys use lower case). Anything else is
 * left for the schema to refuse.
 */
function canonical(runId: string): string {
  return canonicalUuid(runId) ?? runId;
}

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(entry)'}: ${issue.message}`)
    .join('; ');
}

function recordToFields(record: Record<string, unknown>): string[] {
  const fields: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (value !== undefined) fields.push(key, String(value));
  }
  return fields;
}
