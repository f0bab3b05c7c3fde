/** What an aborted operation rejects with: the signal's reason when it is an Error. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error
    ? reason
    : new DOMException(String(reason ?? 'aborted'), 'AbortError');
}

/**
 * Waits `ms`, rejecting with {@link abortReason} the moment `signal` aborts — the platform's
 * convention (`fetch`, `timers/promises`). The abort listener runs synchronously with the
 * abort, so the sleeper wakes within a microtask, not at the end of its timer. A loop that
 * treats an abort as "stop waiting" catches it: `await sleep(ms, { signal }).catch(() => {})`.
 */
export function sleep(ms: number, opts: { signal?: AbortSignal } = {}): Promise<void> {
  const { signal } = opts;
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal as AbortSignal));
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
