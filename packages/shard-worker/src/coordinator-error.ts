export const COORDINATOR_ERROR_CODES = [
  'unknown_executor',
  'invalid_input',
  'enqueue_failed',
] as const;
export type CoordinatorErrorCode = (typeof COORDINATOR_ERROR_CODES)[number];

/** A run the coordinator refused or could not enqueue; the message names the problem. */
export class CoordinatorError extends Error {
  override readonly name = 'CoordinatorError';
  readonly code: CoordinatorErrorCode;

  constructor(code: CoordinatorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
