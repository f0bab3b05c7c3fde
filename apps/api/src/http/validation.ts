import type { z } from 'zod';
import { ApiError } from './api-error.js';

/** How many field problems are itemized; a 10,000-test body can have 10,000. */
const MAX_DETAILS = 100;
const MAX_NAMED_IN_MESSAGE = 10;

export interface FieldIssue {
  readonly field: string;
  readonly message: string;
}

export function issuesToApiError(issues: readonly FieldIssue[], where = 'body'): ApiError {
  const named = issues.slice(0, MAX_NAMED_IN_MESSAGE).map((i) => `${i.field}: ${i.message}`);
  const more =
    issues.length > MAX_NAMED_IN_MESSAGE
      ? ` (and ${issues.length - MAX_NAMED_IN_MESSAGE} more)`
      : '';
  return new ApiError('invalid_input', `invalid ${where}: ${named.join('; ')}${more}`, {
    issues: issues.slice(0, MAX_DETAILS),
    ...(issues.length > MAX_DETAILS ? { truncated: issues.length - MAX_DETAILS } : {}),
  });
}

export function zodIssues(error: z.ZodError, root: string): FieldIssue[] {
  return error.issues.map((issue) => ({
    field: issue.path.length ? issue.path.map(String).join('.') : root,
    message: issue.message,
  }));
}

/** Parses `input` or throws a 400 naming every bad field. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  where: 'body' | 'query',
): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw issuesToApiError(zodIssues(result.error, where), where);
}
