/**
 * Group commit: callers that arrive together share one statement. A call joins the batch
 * being gathered; the batch is written once the current I/O callbacks have run (setImmediate)
 * or, while `maxInFlight` batches are already being written, as soon as one of them returns —
 * so under load the batches grow by themselves and an idle store adds no wait. Each caller
 * gets its own result (or the batch's error).
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
  /** Batches written at the same time. Default 2. */
  maxInFlight?: number;
  /** Calls in one batch at most. Default 64. */
  maxBatch?: number;
}

interface Waiting<I, O> {
  input: I;
  resolve: (out: O) => void;
  reject: (err: unknown) => void;
}

export function groupCommit<I, O>(opts: GroupCommitOptions<I, O>): (input: I) => Promise<O> {
  const maxInFlight = opts.maxInFlight ?? 2;
  const maxBatch = opts.maxBatch ?? 64;
  let queue: Waiting<I, O>[] = [];
  let inFlight = 0;
  let scheduled = false;

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

  const write = async (batch: Waiting<I, O>[]) => {
    try {
      const out = await opts.write(batch.map((w) => w.input));
      if (out.length !== batch.length) {
        throw new Error(`group commit: ${out.length} results for ${batch.length} calls`);
      }
      for (const [i, w] of batch.entries()) w.resolve(out[i] as O);
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  };

  const pump = () => {
    scheduled = false;
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = take();
      inFlight++;
      void write(batch).finally(() => {
        inFlight--;
        pump();
      });
    }
  };

  return (input) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ input, resolve, reject });
      if (!scheduled && inFlight < maxInFlight) {
        scheduled = true;
        setImmediate(pump);
      }
    });
}
