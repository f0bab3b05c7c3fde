import type { Request } from 'express';

declare global {
  namespace Express {
    interface Request {
      /** Request id: the caller's `X-Request-Id` when sane, else a fresh UUID. */
      id: string;
      /** The workspace the bearer token (or stream token) belongs to, once authenticated. */
      workspace?: string;
    }
  }
}

/** The authenticated workspace; only call behind the auth middleware. */
export function workspaceOf(req: Request): string {
  if (!req.workspace) throw new Error('workspaceOf() called on an unauthenticated request');
  return req.workspace;
}
