export const STOP_JOBS_ERROR_CODES = ['invalid_job', 'invalid_options', 'closed'] as const;
export type StopJobsErrorCode = (typeof STOP_JOBS_ERROR_CODES)[number];

/** Thrown for a stop job that does not match the contract, or for bad consumer options. */
export class StopJobsError extends Error {
  override readonly name = 'StopJobsError';
  readonly code: StopJobsErrorCode;

  constructor(code: StopJobsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
