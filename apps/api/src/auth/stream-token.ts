import { createHmac, timingSafeEqual } from 'node:crypto';

/** Stream tokens live at most this long (the contract says ≤ 5 minutes). */
export const MAX_STREAM_TOKEN_TTL_MS = 5 * 60_000;

export interface StreamTokenSigner {
  /** A token for `runId` in `workspace`, valid until the returned `expiresAt`. */
  sign(runId: string, workspace: string): { token: string; expiresAt: Date };
  /** The workspace the token was issued to, when it is genuine, unexpired and for `runId`. */
  verify(token: string, runId: string): string | undefined;
}

export interface StreamTokenOptions {
  /** HMAC key (`STREAM_TOKEN_SECRET`); every api replica must share it. */
  secret: string;
  /** Lifetime. Default and maximum 5 minutes: long enough to connect, short if leaked. */
  ttlMs?: number;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
}

/**
 * `v1.<workspace>.<expiresAtMs>.<hmac>` with HMAC-SHA256 over run id, workspace and
 * expiry: scoped to one run, so a token leaked from a URL opens nothing else.
 */
export function createStreamTokenSigner(opts: StreamTokenOptions): StreamTokenSigner {
  const ttl = Math.min(opts.ttlMs ?? MAX_STREAM_TOKEN_TTL_MS, MAX_STREAM_TOKEN_TTL_MS);
  const now = opts.now ?? Date.now;
  const mac = (runId: string, workspace: string, exp: number) =>
    createHmac('sha256', opts.secret).update(`${runId}\n${workspace}\n${exp}`).digest();
  return {
    sign(runId, workspace) {
      const exp = now() + ttl;
      const sig = mac(runId, workspace, exp).toString('base64url');
      return { token: `v1.${workspace}.${exp}.${sig}`, expiresAt: new Date(exp) };
    },
    verify(token, runId) {
      const match = /^v1\.([A-Za-z0-9_-]{1,64})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(token);
      if (!match) return undefined;
      const [, workspace, expText, sigText] = match as unknown as [string, string, string, string];
      const exp = Number(expText);
      const t = now();
      // A token claiming to outlive the maximum was not minted by us (or the clock jumped).
      if (exp <= t || exp - t > MAX_STREAM_TOKEN_TTL_MS + 1_000) return undefined;
      // Compare the canonical text, not decoded bytes: base64url's last character carries
      // spare bits, so two different strings can decode to the same signature.
      const expected = Buffer.from(mac(runId, workspace, exp).toString('base64url'));
      const given = Buffer.from(sigText);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
      return workspace;
    },
  };
}
