/** Promises parked until an event (a connection becoming ready); abortable one by one. */
export class Waiters {
  private readonly pending = new Set<{ resolve: () => void; reject: (e: unknown) => void }>();

  wait(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.pending.delete(waiter);
        reject(signal?.reason);
      };
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      this.pending.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  resolveAll(): void {
    for (const waiter of this.pending) waiter.resolve();
    this.pending.clear();
  }

  rejectAll(error: unknown): void {
    for (const waiter of this.pending) waiter.reject(error);
    this.pending.clear();
  }
}
