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

/** One problem with one field, in the `{issues: [{field, message}]}` shape of every 400. */
export function fieldError(field: string, message: string): ApiError {
  return new ApiError('invalid_input', message, { issues: [{ field, message }] });
}

export function zodIssues(error: z.ZodError, root: string): FieldIssue[] {
  return error.issues.flatMap((issue) => {
    const at = issue.path.map(String);
    // An unknown key is reported on its parent object: name the key itself.
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: [...at, key].join('.'), message: 'unknown field' }));
    }
    return [{ field: at.length ? at.join('.') : root, message: issue.message }];
  });
}

/** Parses `input` or throws a 400 naming every bad field. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  where: 'body' | 'query',
): z.infer<S> {
  // Every body and query is an object of named fields; anything else has none to name.
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw fieldError(where, `request ${where} must be a JSON object`);
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw issuesToApiError(zodIssues(result.error, where), where);
}
