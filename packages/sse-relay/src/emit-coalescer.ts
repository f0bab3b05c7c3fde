import type { PreparedEvent } from './prepare-events.js';

/** Sends one run's events in order, answering one seq per event. */
type Send = (runId: string, events: readonly PreparedEvent[]) => Promise<number[]>;

/**
 * Offered the events waiting behind a run's send in flight (in order, `bytes` their JSON):
 * answers their seqs if it took them at once, undefined to let them wait.
 */
type Overflow = (
  runId: string,
  waiting: readonly PreparedEvent[],
  bytes: number,
) => number[] | undefined;

interface Waiter {
  readonly start: number;
  readonly count: number;
  resolve(seqs: number[]): void;
  reject(error: unknown): void;
}

interface RunBatch {
  queue: PreparedEvent[];
  /** JSON bytes of `queue`. */
  bytes: number;
  waiters: Waiter[];
  /** The send in flight; events arriving meanwhile go in the next one. */
  inflight: Promise<void> | undefined;
  /**
   * A send is due: after `delayMs`, at the end of this turn of the event loop (`setImmediate`,
   * so the emits of other callbacks of the turn join), or, for an urgent batch, as soon as the
   * code that emitted has run to its end (a microtask).
   */
  timer: NodeJS.Timeout | NodeJS.Immediate | 'microtask' | undefined;
}

/**
 * Merges the emits of one run made close together into one send: those of the same tick
 * (or within `delayMs`), and those made while the run's previous send is in flight. One
 * history entry, one script call and one publish then carry what used to take one each
 * (a shard's first events, a workspace feed's frames of many runs). Per run, sends go one
 * at a time and in emit order, so nothing is reordered; each caller gets its own seqs.
 * A send in flight may last while the log is away: `overflow` can take what waits behind it
 * (the emit buffer, bounded), so nothing piles up here.
 */
export class EmitCoalescer {
  private readonly runs = new Map<string, RunBatch>();

  constructor(
    private readonly send: Send,
    private readonly delayMs: number,
    private readonly overflow?: Overflow,
  ) {}

  /** Whether events of `runId` wait here or are being sent: later ones must follow them. */
  holds(runId: string): boolean {
    return this.runs.has(runId);
  }

  /**
   * Queues `events` for the run's next send. `urgent` (a run's `done`: an abort's latency is
   * measured to it) sends without waiting for the turn's other callbacks.
   */
  add(runId: string, events: readonly PreparedEvent[], urgent = false): Promise<number[]> {
    let run = this.runs.get(runId);
    if (!run) {
      run = { queue: [], bytes: 0, waiters: [], inflight: undefined, timer: undefined };
      this.runs.set(runId, run);
    }
    const start = run.queue.length;
    run.queue.push(...events);
    for (const e of events) run.bytes += e.json.length;
    const answer = new Promise<number[]>((resolve, reject) => {
      run.waiters.push({ start, count: events.length, resolve, reject });
    });
    const taken = run.inflight ? this.overflow?.(runId, run.queue, run.bytes) : undefined;
    if (taken) {
      for (const w of run.waiters) w.resolve(taken.slice(w.start, w.start + w.count));
      run.queue = [];
      run.bytes = 0;
      run.waiters = [];
    }
    if (!run.inflight && (!run.timer || (urgent && run.timer !== 'microtask'))) {
      this.clearTimer(run);
      if (urgent) {
        // Before any I/O of this turn: with setImmediate an abort's `done` waited behind the
        // abort's queue cleanup and its HTTP answer (~3 ms of abort latency in bench:system).
        run.timer = 'microtask';
        queueMicrotask(() => {
          if (run.timer === 'microtask') this.fire(runId, run);
        });
      } else {
        const fire = () => this.fire(runId, run);
        run.timer = this.delayMs > 0 ? setTimeout(fire, this.delayMs) : setImmediate(fire);
      }
    }
    return answer;
  }

  /** Sends everything waiting now and resolves once every send settled (for close). */
  async drain(): Promise<void> {
    while (this.runs.size > 0) {
      for (const [runId, run] of this.runs) if (run.timer) this.fire(runId, run);
      await Promise.all([...this.runs.values()].map((run) => run.inflight));
    }
  }

  private clearTimer(run: RunBatch): void {
    if (run.timer !== 'microtask') {
      clearTimeout(run.timer as NodeJS.Timeout);
      clearImmediate(run.timer as NodeJS.Immediate);
    }
    run.timer = undefined;
  }

  private fire(runId: string, run: RunBatch): void {
    this.clearTimer(run);
    const { queue, waiters } = run;
    run.queue = [];
    run.bytes = 0;
    run.waiters = [];
    run.inflight = this.send(runId, queue)
      .then(
        (seqs) => {
          for (const w of waiters) w.resolve(seqs.slice(w.start, w.start + w.count));
        },
        (error: unknown) => {
          for (const w of waiters) w.reject(error);
        },
      )
      .finally(() => {
        run.inflight = undefined;
        // What came in meanwhile has waited a round trip already: it goes at once.
        if (run.queue.length > 0) this.fire(runId, run);
        else this.runs.delete(runId);
      });
  }
}
