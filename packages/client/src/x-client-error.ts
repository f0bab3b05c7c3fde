import { XError } from '@x/kernel';
import type { ApiErrorCode } from '@x/protocol';

/** Codes the client itself raises, next to the API's own (`ApiErrorCode`). */
export const CLIENT_ERROR_CODES = [
  /** The request never got an answer: connection refused or reset, DNS, TLS, CORS. */
  'network_error',
  /** An answer that is not the API's: a proxy's HTML page, JSON of another shape, a broken frame. */
  'invalid_response',
] as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

/**
 * `ApiErrorCode` (`invalid_input`, `unauthorized`, `not_found`, `conflict`, …), a client code,
 * or a code a newer server added (kept as sent, never rewritten).
 */
export type XClientErrorCode = ApiErrorCode | ClientErrorCode | (string & {});

export interface XClientErrorOptions {
  /** HTTP status; 0 when no answer arrived (`network_error`). */
  status: number;
  /** The API's `error.details` (`issues` naming the fields of a 400, …). */
  details?: unknown;
  cause?: unknown;
}

/**
 * Every failure of an `@x/client` call: the API's `{error: {code, message, details}}` with the
 * HTTP `status`, or a client code (`network_error`, `invalid_response`). An aborted call
 * rejects with the signal's reason instead, as `fetch` does.
 *
 * @example
 * try { await x.runs.abort(id); }
 * catch (err) { if (err instanceof XClientError && err.code === 'conflict') … }
 */
export class XClientError extends XError<XClientErrorCode> {
  override readonly name = 'XClientError';
  readonly status: number;

  constructor(code: XClientErrorCode, message: string, opts: XClientErrorOptions) {
    super(code, message, { cause: opts.cause, details: asDetails(opts.details) });
    this.status = opts.status;
  }
}

/** XError's details are a record; the API sends objects, anything else is kept under `value`. */
function asDetails(details: unknown): Readonly<Record<string, unknown>> | undefined {
  if (details === undefined || details === null) return undefined;
  if (typeof details === 'object' && !Array.isArray(details))
    return details as Record<string, unknown>;
  return { value: details };
}

/** The one place an HTTP answer that is not 2xx becomes an error. */
export async function errorFromResponse(res: Response): Promise<XClientError> {
  const text = await res.text().catch(() => '');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const error = (body as { error?: unknown } | undefined)?.error as
    | { code?: unknown; message?: unknown; details?: unknown }
    | undefined;
  if (error && typeof error.code === 'string' && typeof error.message === 'string') {
    return new XClientError(error.code, error.message, {
      status: res.status,
      details: error.details,
    });
  }
  const snippet = text.slice(0, 200);
  return new XClientError(
    'invalid_response',
    `HTTP ${res.status} without an API error body${snippet ? `: ${snippet}` : ''}`,
    { status: res.status },
  );
}

/** Worth retrying later: no answer, a timeout, rate limiting, or a server-side failure. */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof XClientError)) return false;
  return err.status === 0 || err.status === 408 || err.status === 429 || err.status >= 500;
}
