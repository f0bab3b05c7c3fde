import { randomBytes } from 'node:crypto';

/** Shape of every origin id: `inst_` followed by 32 lowercase hex characters. */
export const ORIGIN_PATTERN = /^inst_[0-9a-f]{32}$/;

let processId: string | undefined;

/**
 * A fresh origin id (`inst_` + 32 hex chars from a CSPRNG). Use one per bus when several
 * buses live in one process (tests, multi-tenant hosts): a receiver drops messages carrying
 * its own origin, so two buses sharing an origin would never hear each other.
 */
export function createOrigin(): string {
  return `inst_${randomBytes(16).toString('hex')}`;
}

/** This process's origin id, created on first use and stable for the process's life. */
export function processOrigin(): string {
  processId ??= createOrigin();
  return processId;
}
