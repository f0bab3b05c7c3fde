/** Retry delays: exponential growth from `initialMs` to `maxMs`, each ± `jitter`. */
export interface BackoffOptions {
  /** First delay. Default 100 ms: a restarted Redis is usually back within a few hundred ms. */
  initialMs?: number;
  /** Ceiling. Default 5,000 ms, so an outage costs at most ~5 s of extra delay after it ends. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /**
   * Relative random spread, 0..1. Default 0.2 (±20 %): a fleet that failed together must not
   * retry in lock-step (thundering herd). 0 gives exact, testable delays.
   */
  jitter?: number;
}

/**
 * Delay before retry `attempt` (1-based: the first retry waits about `initialMs`).
 *
 * @example
 * for (let attempt = 1; ; attempt++) {
 *   try { return await connect(); } catch { await sleep(backoffDelay(attempt), { signal }); }
 * }
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const { initialMs = 100, maxMs = 5_000, factor = 2, jitter = 0.2 } = opts;
  // Capped exponent: 2 ** 1100 is Infinity, and Infinity * 0 jitter is NaN.
  const exponent = Math.min(Math.max(0, attempt - 1), 64);
  const base = Math.min(maxMs, initialMs * factor ** exponent);
  const spread = base * jitter * (Math.random() * 2 - 1);
  return Math.max(1, Math.round(base + spread));
}
