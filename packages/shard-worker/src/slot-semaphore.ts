/**
 * Counts a consumer's running shards across its partitions' workers: each BullMQ Worker
 * fetches on its own, so `WORKER_CONCURRENCY` holds only if they share one count. A job
 * fetched while every slot is taken waits here, its lock renewed by its Worker, until a slot
 * frees (first come, first served) or its wait is aborted (shutdown: it goes back to wait).
 */
export class SlotSemaphore {
  #free: number;
  readonly #waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  /** Callers of `whenFree`, woken when a slot is released with nobody waiting for it. */
  #freeWaiters: (() => void)[] = [];

  constructor(readonly size: number) {
    this.#free = size;
  }

  /** Slots in use. */
  get taken(): number {
    return this.size - this.#free;
  }

  /** Slots free now. */
  get free(): number {
    return this.#free;
  }

  /**
   * Resolves once a slot is free, without taking it: a fetch loop asks for as many jobs as
   * there are free slots, so it waits here while every slot is busy.
   */
  whenFree(): Promise<void> {
    if (this.#free > 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.#freeWaiters.push(resolve));
  }

  acquire(signal?: AbortSignal): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject,
      };
      const onAbort = () => {
        const at = this.#waiters.indexOf(waiter);
        if (at !== -1) this.#waiters.splice(at, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  release(): void {
    const next = this.#waiters.shift();
    // The slot passes straight to the next waiter: no window for a newcomer to take it.
    if (next) next.resolve();
    else {
      this.#free++;
      const woken = this.#freeWaiters;
      this.#freeWaiters = [];
      for (const wake of woken) wake();
    }
  }
}
