import { canonicalUuid } from '@x/kernel';
import type { Request } from 'express';
import { notFound } from './api-error.js';

/**
 * The `:id` path parameter as the run id every layer uses: a UUID in lower case, however the
 * client wrote it (a UUID is case-insensitive; the store, channels and history keys use lower
 * case). Junk, traversal attempts and non-UUIDs are simply not runs: 404.
 */
export function runIdParam(req: Request): string {
  const id = canonicalUuid(req.params.id);
  if (id === undefined) throw notFound();
  return id;
}
