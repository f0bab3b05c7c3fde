import type { StreamTokenResponse } from '@x/protocol';
import type { HttpTransport } from '../http-transport.js';

interface StreamToken {
  token: string;
  /** Local clock time after which the token is not offered any more. */
  refreshAt: number;
}

/** Refresh this long before `expiresAt` (at most a fifth of the lifetime), for clock skew and latency. */
const MARGIN_MS = 5_000;

/**
 * The stream token of one run (`POST /runs/:id/stream-token`) or of the workspace feed
 * (`POST /events/stream-token`), from `path`. The server checks it only when a
 * stream opens, so it is needed at (re)connect time: `get()` returns the cached token while it
 * is not about to expire and mints a new one otherwise; `invalidate()` forgets it after a 401
 * (a restarted api with a new secret, or a clock far off from the server's).
 */
export class StreamTokens {
  private current: StreamToken | undefined;

  constructor(
    private readonly http: HttpTransport,
    private readonly path: string,
  ) {}

  /** `fresh` tells the caller a 401 with this token is not a matter of age. */
  async get(signal: AbortSignal): Promise<{ token: string; fresh: boolean }> {
    if (this.current && Date.now() < this.current.refreshAt)
      return { token: this.current.token, fresh: false };
    const body = await this.http.json<StreamTokenResponse>(this.path, { method: 'POST', signal });
    const now = Date.now();
    const expiresAt = Date.parse(body.expiresAt);
    const lifetime = Number.isFinite(expiresAt) ? Math.max(0, expiresAt - now) : 0;
    this.current = {
      token: body.token,
      refreshAt: now + lifetime - Math.min(MARGIN_MS, lifetime / 5),
    };
    return { token: body.token, fresh: true };
  }

  invalidate(): void {
    this.current = undefined;
  }
}
