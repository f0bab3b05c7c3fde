import type { Request, RequestHandler } from 'express';
import type { StreamTokenSigner } from '../auth/stream-token.js';
import { bearerToken, type TokenAuthenticator } from '../auth/token-authenticator.js';
import type { ApiMetrics } from '../observability/http-metrics.js';
import { ApiError } from './api-error.js';
import { runIdParam } from './run-id-param.js';

/** The scope of a workspace feed's stream token (`GET /events`): never a run id. */
export const FEED_TOKEN_SCOPE = 'workspace-feed';

/**
 * Authenticates `GET /runs/:id/events` (and, with `scope: () => FEED_TOKEN_SCOPE`, the
 * workspace feed `GET /events`): a stream token (`?st=`, minted for this very run, or for the
 * feed) or a bearer token. Sets `req.workspace`.
 */
export function eventsGuard(opts: {
  signer: StreamTokenSigner;
  authenticate: TokenAuthenticator;
  metrics: ApiMetrics;
  /** What the stream token must have been minted for. Default: the run of `:id`. */
  scope?: (req: Request) => string;
}): RequestHandler {
  const { signer, authenticate, metrics } = opts;
  const scopeOf = opts.scope ?? runIdParam;
  return (req, _res, next) => {
    const runId = scopeOf(req);
    const st = req.query.st;
    let workspace: string | undefined;
    if (st !== undefined) {
      workspace = typeof st === 'string' ? signer.verify(st, runId) : undefined;
      if (!workspace) {
        metrics.authFailures.inc({ kind: 'invalid_stream_token' });
        throw new ApiError('unauthorized', 'invalid or expired stream token');
      }
    } else {
      const token = bearerToken(req.get('authorization'));
      workspace = token ? authenticate(token) : undefined;
      if (!workspace) {
        metrics.authFailures.inc({ kind: token ? 'invalid_bearer' : 'missing' });
        throw new ApiError(
          'unauthorized',
          'missing or invalid credentials (?st=<stream token> or a bearer token)',
        );
      }
    }
    // The SSE router's authorize() then checks the run belongs to this workspace (else 404).
    req.workspace = workspace;
    next();
  };
}
