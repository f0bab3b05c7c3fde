export const OUTBOUND_URL_ERROR_CODES = [
  'invalid_url',
  'protocol',
  'private_address',
  'dns_failure',
] as const;
export type OutboundUrlErrorCode = (typeof OUTBOUND_URL_ERROR_CODES)[number];

/** An outbound URL (http test, callback) refused by the outbound-address guard. */
export class OutboundUrlError extends Error {
  override readonly name = 'OutboundUrlError';
  readonly code: OutboundUrlErrorCode;

  constructor(code: OutboundUrlErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
