import type { StatementSlots } from './statement-slots.js';

/**
 * Adaptive group commit: a call goes at once, alone, while the store has a free statement
 * slot (statement-slots.ts); otherwise it joins its kind's queue, and when a slot comes back
 * everything gathered meanwhile is written as one statement. Each caller gets its own result
 * (or the batch's error). An idle or lightly loaded store so adds no wait and keeps as many
 * statements in flight as its callers; under contention the batches grow by themselves.
 *
 * Two calls with the same `key` never share a batch (the later one waits for the next): a
 * statement cannot update one row twice, and the single-call semantics between the two (the
 * later waits on the earlier's row lock) stay as they were.
 *
 * With `contends`, a call whose row (a run's) a statement of this kind has in flight waits in
 * the queue, even with a slot free, and goes in the first batch after that statement returns:
 * sent at once it would only wait for the same row lock inside PostgreSQL, holding a slot and a
 * connection. So a run's shards that begin or complete together take two statements (the
 * first alone, the rest in one batch, where one update of the run serves them all) instead of
 * one each, run one after another by the lock.
 */
export interface GroupCommitOptions<I, O> {
  /** Writes a batch; answers one result per input, in the same order. */
  write: (batch: readonly I[]) => Promise<readonly O[]>;
  /** Identity of the row a call writes; calls with equal keys go in different batches. */
  key: (input: I) => string;
  /** The statements in flight allowed, shared with the store's other group commits. */
  slots: StatementSlots;
  /** Calls in one batch at most. Default 64. */
  maxBatch?: number;
  /**
   * The row a call locks that others of this kind lock too (a run's): while a statement holding
   * it is in flight, calls on it wait for the next batch instead of taking a free slot.
   */
  contends?: (input: I) => string;
}

interface Waiting<I, O> {
  input: I;
  resolve: (out: O) => void;
  reject: (err: unknown) => void;
}

export function groupCommit<I, O>(opts: GroupCommitOptions<I, O>): (input: I) => Promise<O> {
  const maxBatch = opts.maxBatch ?? 64;
  const { slots, contends } = opts;
  let queue: Waiting<I, O>[] = [];
  /** This kind is among the slots' claimants (at most once). */
  let claiming = false;
  /** Contended rows of this kind's statements in flight, with how many hold each. */
  const inFlight = new Map<string, number>();

  const held = (w: Waiting<I, O>) => contends !== undefined && inFlight.has(contends(w.input));

  const take = (): Waiting<I, O>[] => {
    const batch: Waiting<I, O>[] = [];
    const rest: Waiting<I, O>[] = [];
    const keys = new Set<string>();
    for (const w of queue) {
      const k = opts.key(w.input);
      if (batch.length < maxBatch && !keys.has(k) && !held(w)) {
        keys.add(k);
        batch.push(w);
      } else {
        rest.push(w);
      }
    }
    queue = rest;
    return batch;
  };

  const rows = (batch: readonly Waiting<I, O>[]) =>
    contends ? new Set(batch.map((w) => contends(w.input))) : undefined;

  /** Writes `batch` on a slot already taken, and gives the slot back when it returns. */
  const send = (batch: Waiting<I, O>[]) => {
    const locked = rows(batch);
    for (const r of locked ?? []) inFlight.set(r, (inFlight.get(r) ?? 0) + 1);
    const written = (async () => {
      const out = await opts.write(batch.map((w) => w.input));
      if (out.length !== batch.length) {
        throw new Error(`group commit: ${out.length} results for ${batch.length} calls`);
      }
      return out;
    })();
    const settle = () => {
      // Released before the slot goes back, so the calls that waited for these rows can
      // take it.
      for (const r of locked ?? []) {
        const n = (inFlight.get(r) ?? 1) - 1;
        if (n === 0) inFlight.delete(r);
        else inFlight.set(r, n);
      }
      slots.give();
      if (locked) claim();
    };
    written.then(
      (out) => {
        settle();
        for (const [i, w] of batch.entries()) w.resolve(out[i] as O);
      },
      (err: unknown) => {
        settle();
        for (const w of batch) w.reject(err);
      },
    );
  };

  const claim = () => {
    if (claiming || !queue.some((w) => !held(w))) return;
    // A slot is free only while no claimant waits (give() serves them first): take it.
    if (slots.tryTake()) {
      send(take());
      claim();
      return;
    }
    claiming = true;
    slots.wait(onSlot);
  };

  function onSlot() {
    claiming = false;
    const batch = take();
    if (batch.length === 0) slots.give();
    else send(batch);
    // Calls left behind (a repeated key, a held row, or past maxBatch) wait for another slot.
    claim();
  }

  return (input) =>
    new Promise<O>((resolve, reject) => {
      const waiting = { input, resolve, reject };
      // Nobody of this kind is waiting and a slot is free: no contention, so no batch.
      if (queue.length === 0 && !held(waiting) && slots.tryTake()) {
        send([waiting]);
        return;
      }
      queue.push(waiting);
      claim();
    });
}
