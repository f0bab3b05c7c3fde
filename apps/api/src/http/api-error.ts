import { XError } from '@x/kernel';
import { API_ERROR_STATUS, type ApiErrorBody, type ApiErrorCode } from '@x/protocol';

// The codes and their HTTP statuses are the wire contract: defined once, in @x/protocol.
export { API_ERROR_CODES, type ApiErrorCode } from '@x/protocol';

/** An error meant for the client: rendered as `{error: {code, message, details?}}`. */
export class ApiError extends XError<ApiErrorCode> {
  override readonly name = 'ApiError';
  readonly status: number;

  constructor(
    code: ApiErrorCode,
    message: string,
    details?: Readonly<Record<string, unknown>>,
    options?: { cause?: unknown },
  ) {
    super(code, message, { cause: options?.cause, details });
    this.status = API_ERROR_STATUS[code];
  }

  toJSON(): ApiErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

export const notFound = (what = 'run') => new ApiError('not_found', `${what} not found`);
