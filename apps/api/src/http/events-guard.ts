import type { RequestHandler } from 'express';
import type { StreamTokenSigner } from '../auth/stream-token.js';
import { bearerToken, type TokenAuthenticator } from '../auth/token-authenticator.js';
import type { ApiMetrics } from '../observability/http-metrics.js';
import { ApiError } from './api-error.js';
import { runIdParam } from './run-id-param.js';

/**
 * Authenticates `GET /runs/:id/events`: a stream token (`?st=`, minted for this very run)
 * or a bearer token. Sets `req.workspace`.
 */
export function eventsGuard(opts: {
  signer: StreamTokenSigner;
  authenticate: TokenAuthenticator;
  metrics: ApiMetrics;
}): RequestHandler {
  const { signer, authenticate, metrics } = opts;
  return (req, _res, next) => {
    const runId = runIdParam(req);
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
