import { RunStoreError } from '@x/run-store';
import { CoordinatorError } from '@x/shard-worker';
import { RunEventsError } from '@x/sse-relay';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { ApiError } from './api-error.js';
import { fieldError } from './validation.js';

/** The shape body-parser (and other http-errors users) give their errors. */
interface HttpLikeError {
  type?: unknown;
  status?: unknown;
  statusCode?: unknown;
  expose?: unknown;
  message?: unknown;
}

/** body-parser's strict mode refuses valid JSON that is not an object or array too. */
function notParsed(e: HttpLikeError & { body?: unknown }): ApiError {
  try {
    if (typeof e.body === 'string') JSON.parse(e.body);
  } catch {
    return fieldError('body', 'request body is not valid JSON');
  }
  return fieldError('body', 'request body must be a JSON object');
}

const BODY_PARSER: Record<string, (e: HttpLikeError) => ApiError> = {
  'entity.too.large': () => new ApiError('payload_too_large', 'request body is larger than 1 MiB'),
  'entity.parse.failed': notParsed,
  'entity.verify.failed': () => fieldError('body', 'request body failed verification'),
  'encoding.unsupported': () =>
    new ApiError('unsupported_media_type', 'unsupported content encoding'),
  'charset.unsupported': () => new ApiError('unsupported_media_type', 'unsupported charset'),
  'request.aborted': () => new ApiError('invalid_input', 'request aborted by the client'),
  'request.size.invalid': () =>
    new ApiError('invalid_input', 'request size did not match Content-Length'),
  'parameters.too.many': () => new ApiError('invalid_input', 'too many parameters'),
};

/** Maps any thrown value to an ApiError; anything unrecognized is a genuine bug (500). */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof CoordinatorError) return fieldError(err.field ?? 'body', err.message);
  if (err instanceof RunStoreError) {
    // Store errors caused by the caller's input (a forged cursor, say) are 400s, not 500s.
    if (err.code === 'not_found') return new ApiError('not_found', 'run not found');
    if (err.code === 'invalid_input') {
      const field = (err.details as { field?: unknown } | undefined)?.field;
      return fieldError(typeof field === 'string' ? field : 'body', err.message);
    }
    if (err.code === 'unavailable') {
      return new ApiError('service_unavailable', 'database unavailable, try again', undefined, {
        cause: err,
      });
    }
  }
  if (err instanceof RunEventsError && (err.code === 'log_unavailable' || err.code === 'closed')) {
    // Redis is down (or this replica is shutting down): the stream can be retried elsewhere.
    return new ApiError('service_unavailable', 'live events unavailable, try again', undefined, {
      cause: err,
    });
  }
  if (typeof err === 'object' && err !== null) {
    const e = err as HttpLikeError;
    const mapped = typeof e.type === 'string' ? BODY_PARSER[e.type] : undefined;
    if (mapped) return mapped(e);
    const status =
      typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 0;
    // Other client errors raised by Express itself: the router's malformed-escape URIError
    // carries status 400 (without `expose`), http-errors' ones carry `expose`.
    if (status >= 400 && status < 500) {
      const code =
        status === 404
          ? 'not_found'
          : status === 413
            ? 'payload_too_large'
            : status === 415
              ? 'unsupported_media_type'
              : 'invalid_input';
      const message =
        err instanceof URIError
          ? 'malformed percent-encoding in the URL'
          : e.expose === true && typeof e.message === 'string'
            ? e.message
            : 'bad request';
      return new ApiError(code, message);
    }
  }
  return new ApiError('internal', 'internal error', undefined, { cause: err });
}

export function errorHandler(logger: Logger, onInternal: () => void): ErrorRequestHandler {
  return (err, req, res, next) => {
    const apiError = toApiError(err);
    if (apiError.code === 'internal') {
      onInternal();
      logger.error({ err, reqId: req.id, path: req.path }, 'unhandled error');
    }
    if (res.headersSent) {
      next(err);
      return;
    }
    res.status(apiError.status).json(apiError.toJSON());
  };
}

export const notFoundHandler: RequestHandler = (_req, _res, next) => {
  next(new ApiError('not_found', 'no such endpoint'));
};
