import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { bearerToken } from '../auth/token-authenticator.js';

/** `GET /metrics` for either listener: a plain node handler, so Express and node:http both mount it. */
export type MetricsHandler = (req: IncomingMessage, res: ServerResponse) => void;

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

function json(res: ServerResponse, status: number, body: object, headers: object = {}): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(JSON.stringify(body));
}

/**
 * The Prometheus text of `registry`. With `token` (METRICS_TOKEN) it answers only requests
 * carrying `Authorization: Bearer <token>`, compared in constant time (both sides hashed to
 * 32 bytes first); anything else is a 401.
 */
export function metricsHandler(registry: Registry, token: string | undefined): MetricsHandler {
  const expected = token === undefined ? undefined : digest(token);
  return (req, res) => {
    if (expected) {
      const presented = bearerToken(req.headers.authorization);
      if (!presented || !timingSafeEqual(digest(presented), expected)) {
        json(
          res,
          401,
          {
            error: {
              code: 'unauthorized',
              message: 'metrics need Authorization: Bearer <METRICS_TOKEN>',
            },
          },
          { 'www-authenticate': 'Bearer realm="metrics"' },
        );
        return;
      }
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
        res.end(text);
      },
      () => json(res, 500, { error: { code: 'internal', message: 'metrics failed' } }),
    );
  };
}
