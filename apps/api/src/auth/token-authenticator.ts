import { createHash, timingSafeEqual } from 'node:crypto';

export interface TokenEntry {
  readonly workspace: string;
  readonly token: string;
}

/** Resolves a presented bearer token to its workspace, or undefined. */
export type TokenAuthenticator = (presented: string) => string | undefined;

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * Compares in constant time: both sides are hashed to 32 bytes first (so lengths never
 * differ and timingSafeEqual cannot throw), and every entry is compared on every call
 * (so the position of a match does not show in the timing either).
 */
export function createTokenAuthenticator(entries: readonly TokenEntry[]): TokenAuthenticator {
  const hashed = entries.map((e) => ({ workspace: e.workspace, hash: digest(e.token) }));
  return (presented) => {
    const candidate = digest(presented);
    let match: string | undefined;
    for (const entry of hashed) {
      if (timingSafeEqual(candidate, entry.hash) && match === undefined) match = entry.workspace;
    }
    return match;
  };
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer[ ]+([^\s]{1,512})\s*$/i.exec(header);
  return match?.[1];
}
