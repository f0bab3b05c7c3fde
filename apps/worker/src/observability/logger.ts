import { type Logger, pino } from 'pino';
import type { LogLevel } from '../config/load-config.js';

/**
 * JSON logs on stdout. Tokens are never logged: request logs carry the path without its
 * query string, and these paths are redacted anyway in case an object slips through.
 */
export function createLogger(level: LogLevel, base: Record<string, unknown> = {}): Logger {
  return pino({
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
  });
}
