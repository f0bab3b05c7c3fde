import { randomBytes } from 'node:crypto';

/**
 * A name no other test uses: for Redis key prefixes, queue names, schemas.
 * Lower-case letters and digits only, so it is valid everywhere.
 */
export function uniqueName(label = 't'): string {
  return `${label.toLowerCase().replace(/[^a-z0-9]/g, '')}${randomBytes(5).toString('hex')}`;
}
