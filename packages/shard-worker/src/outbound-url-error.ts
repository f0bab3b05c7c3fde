import { XError } from '@x/kernel';

export const OUTBOUND_URL_ERROR_CODES = [
  'invalid_url',
  'protocol',
  'private_address',
  'dns_failure',
] as const;
export type OutboundUrlErrorCode = (typeof OUTBOUND_URL_ERROR_CODES)[number];

/**
 * The public answer to a refused address, whether the name resolved somewhere private or did
 * not resolve at all: the caller must not learn which internal names exist or where they
 * point. The operator reads {@link OutboundUrlError.detail} in the log.
 */
export const ADDRESS_NOT_ALLOWED = 'address not allowed';

/**
 * An outbound URL (http test, callback) refused by the outbound-address guard. `message` may
 * be shown to the caller; `detail` (the resolved address, the DNS error) is for logs only.
 */
export class OutboundUrlError extends XError<OutboundUrlErrorCode> {
  override readonly name = 'OutboundUrlError';
  /** What an operator needs to see; never returned to the caller. Defaults to `message`. */
  readonly detail: string;

  constructor(
    code: OutboundUrlErrorCode,
    message: string,
    options: { cause?: unknown; detail?: string } = {},
  ) {
    super(code, message, { cause: options.cause });
    this.detail = options.detail ?? message;
  }
}
