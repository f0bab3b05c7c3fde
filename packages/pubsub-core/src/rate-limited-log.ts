import type { Logger } from '@x/kernel';

export type LimitedLog = (key: string, level: 'warn' | 'error', obj: object, msg: string) => void;

/**
 * Logs at most once per key and interval, reporting how many were suppressed: a flood of bad
 * input must not become a flood of log lines. Keys must come from a small fixed set (reasons,
 * kinds), never from input, so the map stays bounded.
 */
export function rateLimitedLog(logger: Logger, intervalMs = 10_000): LimitedLog {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (key, level, obj, msg) => {
    const now = Date.now();
    const seen = last.get(key);
    if (seen && now - seen.at < intervalMs) {
      seen.suppressed++;
      return;
    }
    last.set(key, { at: now, suppressed: 0 });
    logger[level](seen?.suppressed ? { ...obj, suppressed: seen.suppressed } : obj, msg);
  };
}
