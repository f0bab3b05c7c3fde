/** Reconnect delays: exponential growth from `initialMs` to `maxMs`, each ± `jitter`. */
export interface BackoffOptions {
  /** First delay. Default 100 ms: a restarted Redis is usually back within a few hundred ms. */
  initialMs?: number;
  /** Ceiling. Default 5,000 ms, so an outage costs at most ~5 s of extra delay after it ends. */
  maxMs?: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /**
   * Relative random spread, 0..1. Default 0.2 (±20 %): replicas that lost Redis together
   * must not reconnect in lock-step (thundering herd).
   */
  jitter?: number;
}

/** Delay before reconnect attempt `attempt` (1-based). */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const { initialMs = 100, maxMs = 5_000, factor = 2, jitter = 0.2 } = opts;
  const base = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt - 1));
  const spread = base * jitter * (Math.random() * 2 - 1);
  return Math.max(1, Math.round(base + spread));
}
