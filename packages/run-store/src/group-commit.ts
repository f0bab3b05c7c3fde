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
}

interface Waiting<I, O> {
  input: I;
  resolve: (out: O) => void;
  reject: (err: unknown) => void;
}

export function groupCommit<I, O>(opts: GroupCommitOptions<I, O>): (input: I) => Promise<O> {
  const maxBatch = opts.maxBatch ?? 64;
  const { slots } = opts;
  let queue: Waiting<I, O>[] = [];
  /** This kind is among the slots' claimants (at most once). */
  let claiming = false;

  const take = (): Waiting<I, O>[] => {
    const batch: Waiting<I, O>[] = [];
    const rest: Waiting<I, O>[] = [];
    const keys = new Set<string>();
    for (const w of queue) {
      const k = opts.key(w.input);
      if (batch.length < maxBatch && !keys.has(k)) {
        keys.add(k);
        batch.push(w);
      } else {
        rest.push(w);
      }
    }
    queue = rest;
    return batch;
  };

  /** Writes `batch` on a slot already taken, and gives the slot back when it returns. */
  const send = (batch: Waiting<I, O>[]) => {
    const written = (async () => {
      const out = await opts.write(batch.map((w) => w.input));
      if (out.length !== batch.length) {
        throw new Error(`group commit: ${out.length} results for ${batch.length} calls`);
      }
      return out;
    })();
    written.then(
      (out) => {
        slots.give();
        for (const [i, w] of batch.entries()) w.resolve(out[i] as O);
      },
      (err: unknown) => {
        slots.give();
        for (const w of batch) w.reject(err);
      },
    );
  };

  const claim = () => {
    if (claiming || queue.length === 0) return;
    claiming = true;
    slots.wait(onSlot);
  };

  function onSlot() {
    claiming = false;
    send(take());
    // Calls left behind (a repeated key, or past maxBatch) wait for another slot.
    claim();
  }

  return (input) =>
    new Promise<O>((resolve, reject) => {
      const waiting = { input, resolve, reject };
      // Nobody of this kind is waiting and a slot is free: no contention, so no batch.
      if (queue.length === 0 && slots.tryTake()) {
        send([waiting]);
        return;
      }
      queue.push(waiting);
      claim();
    });
}
