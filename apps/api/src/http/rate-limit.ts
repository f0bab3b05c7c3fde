import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { ApiError } from './api-error.js';

/** Which limit a 429 came from (the metric's label). */
export type LimitName = 'creates' | 'requests';

/**
 * Spends one point of the caller's workspace (set by authentication before this runs) and
 * answers `429 rate_limited` with `Retry-After` when the window is spent. Workspaces never
 * share a key, so a limited one cannot slow another. A limiter failure (neither store could
 * count) lets the request through: a broken counter must not take the api down.
 */
export function rateLimit(
  name: LimitName,
  limiter: RateLimiterAbstract | undefined,
  opts: { onLimited: (name: LimitName) => void; logger: Logger },
): RequestHandler {
  if (!limiter) return (_req, _res, next) => next();
  return (req, res, next) => {
    const workspace = req.workspace;
    if (workspace === undefined) {
      next();
      return;
    }
    limiter.consume(workspace).then(
      () => next(),
      (rejected: unknown) => {
        if (!(rejected instanceof RateLimiterRes)) {
          opts.logger.warn(
            { err: String(rejected), limit: name },
            'rate limiter failed; let through',
          );
          next();
          return;
        }
        opts.onLimited(name);
        const retryAfterSec = Math.max(1, Math.ceil(rejected.msBeforeNext / 1000));
        res.set('Retry-After', String(retryAfterSec));
        next(
          new ApiError(
            'rate_limited',
            `workspace ${name} limit (${limiter.points} per ${limiter.duration} s) reached, retry in ${retryAfterSec} s`,
            { scope: 'workspace', rule: name, limit: limiter.points, retryAfterSec },
          ),
        );
      },
    );
  };
}
