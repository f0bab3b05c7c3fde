/**
 * A store's budget of shard statements in flight, shared by its group commits (begins,
 * completions, finalizations), which share one connection pool. A call that finds a free
 * slot is sent at once, alone, as bare `pg` would send it; calls that find none wait in
 * their kind's queue, and the kind that waited longest gets the next slot that comes back
 * and writes everything it gathered as one statement. So batches form only while the pool
 * is saturated — where they save connections and server work — and never hold back a call
 * that could have gone (measured: one batch at a time cut 16 callers to 0.18–0.66× of bare
 * `pg`, see the README's bench).
 */
export interface StatementSlots {
  /** Takes a free slot; false when every slot is in use. */
  tryTake(): boolean;
  /** Gives a slot back: to the longest-waiting claimant (already taken for it), or free. */
  give(): void;
  /** `onSlot` runs, holding a slot, once one comes back; claimants are served in order. */
  wait(onSlot: () => void): void;
}

/** `size` slots (an integer ≥ 1, validated by the caller). */
export function statementSlots(size: number): StatementSlots {
  let free = size;
  const claimants: (() => void)[] = [];
  return {
    tryTake() {
      if (free === 0) return false;
      free--;
      return true;
    },
    give() {
      const next = claimants.shift();
      if (next) next();
      else free++;
    },
    wait(onSlot) {
      claimants.push(onSlot);
    },
  };
}
