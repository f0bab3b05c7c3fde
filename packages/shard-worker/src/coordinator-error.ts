import { XError } from '@x/kernel';

export const COORDINATOR_ERROR_CODES = ['unknown_executor', 'invalid_input'] as const;
export type CoordinatorErrorCode = (typeof COORDINATOR_ERROR_CODES)[number];

/**
 * A run the coordinator refused; the message names the problem and
 * `field` the input field it is about (`shards`, `executor`, `tests.3`), when there is one.
 */
export class CoordinatorError extends XError<CoordinatorErrorCode> {
  override readonly name = 'CoordinatorError';
  readonly field: string | undefined;

  constructor(
    code: CoordinatorErrorCode,
    message: string,
    options: { cause?: unknown; field?: string } = {},
  ) {
    const { field, cause } = options;
    super(code, message, { cause, ...(field !== undefined && { details: { field } }) });
    this.field = field;
  }
}
