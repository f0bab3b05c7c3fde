import { XError } from '@x/kernel';

export const STOP_JOBS_ERROR_CODES = [
  'invalid_job',
  'invalid_options',
  'closed',
  'unexpected_reply',
] as const;
export type StopJobsErrorCode = (typeof STOP_JOBS_ERROR_CODES)[number];

/** Thrown for a stop job that does not match the contract, or for bad consumer options. */
export class StopJobsError extends XError.named('StopJobsError')<StopJobsErrorCode> {}
