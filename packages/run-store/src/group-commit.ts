import type { BusyRuns, CallKind, RunCall } from './busy-runs.js';

/**
 * Group commit by contention domain: one kind of shard statement (begin, completion,
 * finalization) over the store's {@link BusyRuns}. A call is written at once, alone, unless a
 * statement of its run is in flight (or the pool's budget is spent); the calls that waited are
 * written as one statement when it returns (busy-runs.ts). Each caller gets its own result (or
 * the batch's error).
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
  /** The run a call writes to: its contention domain. */
  run: (input: I) => string;
  /** The store's runs in flight, shared with its other group commits. */
  runs: BusyRuns;
}

interface Waiting<I, O> extends RunCall {
  input: I;
  resolve: (out: O) => void;
  reject: (err: unknown) => void;
}

export function groupCommit<I, O>(opts: GroupCommitOptions<I, O>): (input: I) => Promise<O> {
  const kind: CallKind = {
    async send(calls) {
      // busy-runs batches only calls of this kind, so only calls made below.
      const batch = calls as readonly Waiting<I, O>[];
      try {
        const out = await opts.write(batch.map((w) => w.input));
        if (out.length !== batch.length) {
          throw new Error(`group commit: ${out.length} results for ${batch.length} calls`);
        }
        for (const [i, w] of batch.entries()) w.resolve(out[i] as O);
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    },
  };
  return (input) =>
    new Promise<O>((resolve, reject) => {
      const call: Waiting<I, O> = {
        run: opts.run(input),
        key: opts.key(input),
        kind,
        input,
        resolve,
        reject,
      };
      opts.runs.submit(call);
    });
}
