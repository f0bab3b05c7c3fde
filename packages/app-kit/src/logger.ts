import { type DestinationStream, type Logger, pino } from 'pino';
import type { LogLevel } from './env-fields.js';

/**
 * JSON logs on stdout. Tokens are never logged: request logs carry the path without its
 * query string, and these paths are redacted anyway in case an object slips through.
 */
export function createLogger(
  level: LogLevel,
  base: Record<string, unknown> = {},
  /** Where lines go. Default stdout (tests pass a stream to read them back). */
  destination?: DestinationStream,
): Logger {
  const options = {
    level,
    base: { pid: process.pid, ...base },
    redact: {
      paths: [
        'authorization',
        'headers.authorization',
        'req.headers.authorization',
        'st',
        'query.st',
        'req.query.st',
        'token',
        '*.token',
        'secret',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
