/**
 * The contention domain of a store's shard statements (begins, completions, finalizations):
 * the run. Every one of them locks its run's row, so two statements of one run in flight
 * only queue on that lock inside PostgreSQL, while statements of different runs never wait on
 * each other. So a call goes at once, alone, unless a statement of its run is already in flight;
 * then it waits, and when that statement returns the calls that gathered behind it (of one
 * kind) go as one statement. Batches so form exactly where rows contend — concurrent
 * completions of one run updating the same run row — and never hold back a call that had no
 * one to wait for. (The design before this one batched on a store-wide budget of statements
 * regardless of run, so only once the pool was saturated: 10.07 statements per 4-shard run in
 * the shard-worker bench, against 7.5 with this one; see the README for what it costs.)
 *
 * The pool is still never asked for more than `statementsInFlight` statements at once: a call
 * of an idle run that finds them all in flight waits too, and the runs waiting so are served
 * in order, each next batch taking the waiting calls of its kind from every such run.
 */
export interface BusyRuns {
  /** Sends `call` at once when it may go, or queues it behind its run or the budget. */
  submit(call: RunCall): void;
}

/** One call to one run's rows. */
export interface RunCall {
  /** The run whose rows the call writes: calls of one run never have two statements in flight. */
  readonly run: string;
  /** The row it writes: one batch never holds two calls with one key (a statement cannot
   * update one row twice, and the later call keeps waiting on the earlier, as it would alone). */
  readonly key: string;
  /** Its kind: only calls of one kind share a statement. */
  readonly kind: CallKind;
}

export interface CallKind {
  /** Writes `batch` (calls of this kind only) as one statement and settles each caller;
   * must not reject (a failed statement is its callers' error). */
  send(batch: readonly RunCall[]): Promise<void>;
}

export interface BusyRunsOptions {
  /** Statements in flight at most (the pool's size): an integer ≥ 1, validated by the caller. */
  statementsInFlight: number;
  /** Calls in one batch at most. Default 64. */
  maxBatch?: number;
}

export function busyRuns(opts: BusyRunsOptions): BusyRuns {
  const maxBatch = opts.maxBatch ?? 64;
  /** Runs with a statement in flight. */
  const busy = new Set<string>();
  /** Calls waiting, per run (busy, or ready below), in arrival order. */
  const waiting = new Map<string, RunCall[]>();
  /** Runs with no statement in flight whose calls wait for the budget, oldest first. */
  const ready = new Set<string>();
  let inFlight = 0;

  const send = (batch: readonly RunCall[], kind: CallKind) => {
    inFlight++;
    const runs = new Set(batch.map((c) => c.run));
    for (const run of runs) busy.add(run);
    void kind.send(batch).finally(() => {
      inFlight--;
      for (const run of runs) {
        busy.delete(run);
        if (waiting.has(run)) ready.add(run);
      }
      pump();
    });
  };

  /** The kind of the oldest ready run's first call, gathered from every ready run in order. */
  const take = (): { batch: RunCall[]; kind: CallKind } | undefined => {
    const [first] = ready;
    const head = first === undefined ? undefined : waiting.get(first)?.[0];
    if (!head) return undefined;
    const { kind } = head;
    const batch: RunCall[] = [];
    const keys = new Set<string>();
    for (const run of ready) {
      if (batch.length >= maxBatch) break;
      const rest: RunCall[] = [];
      let took = false;
      for (const c of waiting.get(run) ?? []) {
        if (c.kind === kind && batch.length < maxBatch && !keys.has(c.key)) {
          keys.add(c.key);
          batch.push(c);
          took = true;
        } else {
          rest.push(c);
        }
      }
      if (!took) continue;
      // Taken into the batch: the run is busy until it returns; what is left waits for that.
      ready.delete(run);
      if (rest.length > 0) waiting.set(run, rest);
      else waiting.delete(run);
    }
    return { batch, kind };
  };

  function pump() {
    while (inFlight < opts.statementsInFlight && ready.size > 0) {
      const next = take();
      if (!next) return;
      send(next.batch, next.kind);
    }
  }

  return {
    submit(call) {
      const queued = waiting.get(call.run);
      if (queued) {
        queued.push(call);
        return;
      }
      if (busy.has(call.run)) {
        waiting.set(call.run, [call]);
        return;
      }
      if (inFlight < opts.statementsInFlight) {
        send([call], call.kind);
        return;
      }
      waiting.set(call.run, [call]);
      ready.add(call.run);
    },
  };
}
