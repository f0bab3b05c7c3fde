import type { SseConnection } from './sse-connection.js';

/** Its own scope, so only a connection waiting for its `done` keeps the snapshot. */
export function armGrace(conn: SseConnection, run: object, graceMs: number): void {
  conn.graceTimer = setTimeout(() => finishFromSnapshot(conn, run), graceMs);
}

/**
 * A finished run's remaining events are being read from the history: if they have not all
 * arrived (its `done` ends the stream) within `graceMs`, the stream ends with a `retry:` hint
 * and the client resumes from the last id it got. Never a `done` from the snapshot here: the
 * history holds events the client has not seen.
 */
export function armResume(conn: SseConnection, graceMs: number, retryMs: number): void {
  conn.graceTimer = setTimeout(() => conn.end(`retry: ${retryMs}\n\n`), graceMs);
}

/** The history expired (or never existed): a `done` from the snapshot, without an id. */
export function finishFromSnapshot(conn: SseConnection, run: object): void {
  const runId = conn.runId;
  const r = run as Record<string, unknown>;
  const pick = (key: string) => (r[key] === undefined ? {} : { [key]: r[key] });
  conn.sendData({
    type: 'done',
    runId,
    ...pick('status'),
    ...pick('passed'),
    ...pick('failed'),
    ...pick('total'),
    ...pick('durationMs'),
  });
  conn.end();
}

export interface FinishedSweepOptions {
  snapshot: (runId: string) => Promise<object | undefined>;
  isFinished: (run: object) => boolean;
  graceMs: number;
  /** Snapshot reads at once: a replica watching thousands of runs must not burst its database. */
  concurrency: number;
}

/**
 * A live stream ends with its run's `done`. If that event never reaches this replica (it was
 * lost with Redis, or its emit failed for good) the stream would stay open forever: this
 * reads each watched run's status once (one read per run, not per stream) and gives the
 * streams of a finished one the same grace as at connect, then a `done` from the snapshot.
 * A run that no longer exists ends its streams too (the client's reconnect gets a 404).
 */
export async function sweepFinished(
  open: Iterable<SseConnection>,
  opts: FinishedSweepOptions,
): Promise<void> {
  const byRun = new Map<string, SseConnection[]>();
  for (const conn of open) {
    if (conn.ended || conn.graceTimer) continue;
    const list = byRun.get(conn.runId);
    if (list) list.push(conn);
    else byRun.set(conn.runId, [conn]);
  }
  const runIds = [...byRun.keys()];
  const errors: unknown[] = [];
  const worker = async () => {
    for (let runId = runIds.pop(); runId !== undefined; runId = runIds.pop()) {
      let run: object | undefined;
      try {
        run = await opts.snapshot(runId);
      } catch (err) {
        errors.push(err);
        continue;
      }
      if (run && !opts.isFinished(run)) continue;
      for (const conn of byRun.get(runId) ?? []) {
        if (conn.ended || conn.graceTimer) continue;
        if (run) armGrace(conn, run, opts.graceMs);
        else conn.end();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, runIds.length) }, worker));
  if (errors.length > 0) throw new AggregateError(errors, 'could not read the status of some runs');
}
