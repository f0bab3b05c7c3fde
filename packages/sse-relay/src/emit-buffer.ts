import { backoffDelay, type Logger } from '@x/kernel';
import type { PreparedEvent } from './prepare-events.js';

/** Bytes counted for one buffered event besides its JSON (the object, the queue slot). */
const EVENT_OVERHEAD = 64;
/** Events of one run appended per call while flushing. */
const FLUSH_CHUNK = 500;

export interface EmitBufferOptions {
  /** Events held at most (all runs together). */
  maxEvents: number;
  /** Bytes held at most (all runs together), counted as JSON length plus a small overhead. */
  maxBytes: number;
  /**
   * Appends events of one run, in order; rejects while the log is unavailable. `token`: the
   * batch's number (`AppendToken.n`), the same when the batch is sent again.
   */
  append(runId: string, events: readonly PreparedEvent[], token: number): Promise<void>;
  /** A new batch number of this process (`AppendToken.n`). */
  nextToken(): number;
  /** Starts a new epoch for a run whose buffered events were dropped; rejects while unavailable. */
  declareGap(runId: string): Promise<void>;
  logger: Logger | undefined;
}

export interface EmitBufferMetrics {
  /** Events waiting now. */
  eventsBuffered: number;
  bufferedBytes: number;
  /** Events that ever went to the buffer. */
  eventsBufferedTotal: number;
  eventsFlushed: number;
  /** Events dropped by the bound (their runs get a gap). */
  eventsDropped: number;
  /** How long the oldest waiting event has waited, ms (0: none). */
  oldestBufferedAgeMs: number;
  gapsDeclared: number;
  /** Gaps that could not be declared (the process closed while the log was unavailable). */
  gapsUndeclared: number;
  flushErrors: number;
}

interface Held {
  readonly event: PreparedEvent;
  readonly bytes: number;
  readonly at: number;
  /**
   * The batch it was sent in, once sent: a send whose answer is lost may have been appended,
   * so the same events go again as one batch with the same token (never merged with others),
   * and the log answers what the first try assigned instead of appending them twice.
   */
  token: number | undefined;
}

/**
 * How `settled` ended for the events of a run emitted before the call:
 * `appended`: all are in the log. `gap`: some were dropped and the run's gap is declared (every
 * resume across it answers `recovered: false`). `gave-up`: the caller stopped waiting; the run's
 * held events were dropped and its gap is declared once the log answers, before any later event
 * of the run from this process. `lost`: dropped without a marker (closed while the log was away).
 */
export type SettleOutcome = 'appended' | 'gap' | 'gave-up' | 'lost';

interface Waiter {
  /** Settled once the run's events up to this position are appended or declared lost. */
  through: number;
  /** The queue's declared gaps when the wait began (more at the end: outcome `gap`). */
  readonly gapsBefore: number;
  readonly resolve: (outcome: SettleOutcome) => void;
}

interface RunQueue {
  held: Held[];
  /** Events of this run were dropped: declare the gap before appending what follows. */
  gap: boolean;
  /** Events ever added to this queue; `held[0]` is at position `added - held.length`. */
  added: number;
  /** Positions below this are appended or covered by a declared gap. */
  settledThrough: number;
  gapsDeclared: number;
  waiters: Waiter[];
}

/**
 * A process's events that could not reach the log yet, per run and in order. While it holds
 * anything for a run (or the log is known down), that run's new events queue behind, so they
 * reach the history in the order they were emitted, only later. Bounded in events and bytes:
 * past a bound the oldest run's events are dropped and a gap is declared for it once the log
 * answers (a new epoch: every resume across the loss answers `recovered: false`).
 */
export class EmitBuffer {
  /** Insertion order: the run whose oldest waiting event is oldest comes first. */
  private readonly runs = new Map<string, RunQueue>();
  private events = 0;
  private bytes = 0;
  private gaps = 0;
  private down = false;
  /** Appends in flight outside the buffer, per run: what it holds of that run waits for them. */
  private readonly sends = new Map<string, number>();
  private flushing: Promise<void> | undefined;
  /**
   * The chunk being appended (`held[0..count)` until its append settles). Dropping its run
   * drops it too (`detached`): left out, it would keep the oldest run's events inside the
   * bound while newer runs' events went, and be lost anyway when its append fails.
   */
  private inFlight: { queue: RunQueue; count: number; detached: boolean } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closed = false;
  private readonly totals = {
    eventsBufferedTotal: 0,
    eventsFlushed: 0,
    eventsDropped: 0,
    gapsDeclared: 0,
    gapsUndeclared: 0,
    flushErrors: 0,
  };

  constructor(private readonly opts: EmitBufferOptions) {}

  /** Whether a new event of `runId` must queue here (behind older ones, or the log is down). */
  holds(runId: string): boolean {
    return this.down || this.runs.has(runId);
  }

  /** An append of `runId` outside the buffer began: the run's held events wait for it. */
  sending(runId: string): void {
    this.sends.set(runId, (this.sends.get(runId) ?? 0) + 1);
  }

  /**
   * That append ended; `failed`: its events, which go before any held after them, resent as
   * the same batch (`token`, the number it was sent with).
   */
  sent(runId: string, failed?: readonly PreparedEvent[], cause?: unknown, token?: number): void {
    if (failed) this.add(runId, failed, cause, true, token);
    const left = (this.sends.get(runId) ?? 1) - 1;
    if (left > 0) this.sends.set(runId, left);
    else this.sends.delete(runId);
    if (this.runs.has(runId) || this.down) this.schedule(0);
  }

  /**
   * Queues events of one run after a failed append or behind older ones; flushes later.
   * `first`: they were emitted before those held (a failed append outside the buffer), sent
   * as batch `token`.
   */
  add(
    runId: string,
    events: readonly PreparedEvent[],
    cause?: unknown,
    first = false,
    token?: number,
  ): void {
    if (!this.down && cause !== undefined) {
      this.opts.logger?.warn(
        { err: cause, runId },
        'sse-relay: event log unavailable; buffering run events until it answers',
      );
    }
    if (cause !== undefined) this.down = true;
    let queue = this.runs.get(runId);
    if (!queue) {
      queue = {
        held: [],
        gap: false,
        added: 0,
        settledThrough: 0,
        gapsDeclared: 0,
        waiters: [],
      };
      this.runs.set(runId, queue);
    }
    queue.added += events.length;
    this.totals.eventsBufferedTotal += events.length;
    const at = performance.now();
    const items = events.map((event) => ({
      event,
      bytes: event.json.length + EVENT_OVERHEAD,
      at,
      token,
    }));
    if (first) {
      // Emitted before every held event, so before every waiter's call too.
      for (const w of queue.waiters) w.through += events.length;
      // Later events were dropped (a gap is marked): older ones must not follow the gap, where
      // the loss would look contiguous. They go too, covered by it.
      if (queue.gap) this.totals.eventsDropped += events.length;
      else queue.held.unshift(...items);
    } else queue.held.push(...items);
    if (!first || !queue.gap) {
      for (const h of items) this.bytes += h.bytes;
      this.events += items.length;
    }
    this.enforceBounds();
    this.schedule(0);
  }

  /** Whether every event of `runId` added so far is settled (nothing of it held). */
  settledNow(runId: string): boolean {
    const queue = this.runs.get(runId);
    return !queue || queue.added <= queue.settledThrough;
  }

  /**
   * Resolves once every event of `runId` added before the call is appended, or dropped with
   * its gap declared: a caller that records something durable after it (a shard completion)
   * knows that whoever acts on that record appends after these events. At once when nothing
   * of the run is held. When `signal` aborts first, the held events up to that position are
   * dropped and the run marked as having a gap (declared when the log answers): `gave-up`.
   */
  settled(runId: string, signal?: AbortSignal): Promise<SettleOutcome> {
    const queue = this.runs.get(runId);
    if (!queue || queue.added <= queue.settledThrough) return Promise.resolve('appended');
    return new Promise((resolve) => {
      const waiter: Waiter = {
        through: queue.added,
        gapsBefore: queue.gapsDeclared,
        resolve: (outcome) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(outcome);
        },
      };
      const onAbort = () => {
        const i = queue.waiters.indexOf(waiter);
        if (i < 0) return;
        queue.waiters.splice(i, 1);
        this.giveUp(runId, queue, waiter.through);
        waiter.resolve('gave-up');
      };
      queue.waiters.push(waiter);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Flushes now (the log's connection is back); resolves when the pass settles. */
  kick(): Promise<void> {
    if (this.runs.size === 0 && !this.down) return Promise.resolve();
    clearTimeout(this.timer);
    this.timer = undefined;
    this.flushing ??= this.flush().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /**
   * Flushes what it can within `timeoutMs`; then declares the gap of every run still holding
   * events (they are lost with this process), where the log answers. Logs what is lost.
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.closed) return;
    const deadline = performance.now() + timeoutMs;
    while (this.runs.size > 0 && performance.now() < deadline) {
      await this.kick();
      if (this.runs.size > 0) await new Promise((r) => setTimeout(r, 50));
    }
    this.closed = true;
    clearTimeout(this.timer);
    if (this.runs.size === 0) return;
    const lost = this.events;
    const queues = [...this.runs];
    const runIds = queues.map(([runId]) => runId);
    this.runs.clear();
    this.events = 0;
    this.bytes = 0;
    this.gaps = 0;
    this.totals.eventsDropped += lost;
    let declared = 0;
    for (const [runId, queue] of queues) {
      try {
        await this.opts.declareGap(runId);
        declared++;
        queue.gapsDeclared++;
        this.release(queue, Number.POSITIVE_INFINITY);
      } catch {
        this.totals.gapsUndeclared++;
        this.release(queue, Number.POSITIVE_INFINITY, 'lost');
      }
    }
    this.totals.gapsDeclared += declared;
    this.opts.logger?.error(
      { events: lost, runs: runIds.length, gapsDeclared: declared },
      declared === runIds.length
        ? 'sse-relay: closing with unflushed run events; gaps declared, clients resume from snapshots'
        : 'sse-relay: closing with unflushed run events; the log is unavailable, so some gaps are undeclared',
    );
  }

  metrics(): EmitBufferMetrics {
    let oldest = Number.POSITIVE_INFINITY;
    for (const queue of this.runs.values()) {
      const first = queue.held[0];
      if (first && first.at < oldest) oldest = first.at;
    }
    return {
      ...this.totals,
      eventsBuffered: this.events,
      bufferedBytes: this.bytes,
      oldestBufferedAgeMs: Number.isFinite(oldest) ? Math.round(performance.now() - oldest) : 0,
    };
  }

  private schedule(delayMs: number): void {
    if (this.closed || this.timer || this.flushing) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.kick();
    }, delayMs);
  }

  private async flush(): Promise<void> {
    let flushed = 0;
    let waiting = false;
    try {
      for (const [runId, queue] of this.runs) {
        // An append of this run is in flight outside the buffer: what is held follows it.
        if (this.sends.has(runId)) {
          waiting = true;
          continue;
        }
        // Events added meanwhile join this queue, and a gap marked meanwhile (drops while a
        // chunk was in flight) goes before what follows: the loop takes them too, in order.
        while (queue.gap || queue.held.length > 0) {
          if (!queue.gap) {
            flushed += await this.appendChunk(runId, queue);
            continue;
          }
          await this.opts.declareGap(runId);
          queue.gap = false;
          this.gaps--;
          this.totals.gapsDeclared++;
          queue.gapsDeclared++;
          this.opts.logger?.warn({ runId }, 'sse-relay: gap declared for dropped run events');
          this.release(queue, queue.added - queue.held.length);
        }
        this.runs.delete(runId);
        this.release(queue, Number.POSITIVE_INFINITY);
      }
      // A run skipped above is flushed when its append ends (`sent`).
      if (!waiting) this.down = false;
      this.failures = 0;
      if (flushed > 0)
        this.opts.logger?.info({ events: flushed }, 'sse-relay: buffered run events flushed');
    } catch (err) {
      // A chunk that failed is still held (retried), or was dropped meanwhile (its gap follows).
      this.inFlight = undefined;
      this.totals.flushErrors++;
      this.failures++;
      if (this.failures === 1 || this.failures % 20 === 0) {
        this.opts.logger?.warn(
          { err, failures: this.failures, buffered: this.events },
          'sse-relay: flushing buffered run events failed; retrying',
        );
      }
      this.flushing = undefined;
      this.schedule(backoffDelay(this.failures, { initialMs: 100, maxMs: 2_000 }));
    }
  }

  /**
   * Appends the run's first held events (one chunk); answers how many. A batch sent before
   * (its answer lost) goes again alone and with its token; otherwise up to `FLUSH_CHUNK`
   * events never sent get a new token, kept should this append fail too.
   */
  private async appendChunk(runId: string, queue: RunQueue): Promise<number> {
    const held = queue.held;
    const sentAs = held[0]?.token;
    let count = 0;
    if (sentAs !== undefined) {
      while (count < held.length && held[count]!.token === sentAs) count++;
    } else {
      const n = this.opts.nextToken();
      while (count < Math.min(FLUSH_CHUNK, held.length) && held[count]!.token === undefined)
        held[count++]!.token = n;
    }
    const chunk = held.slice(0, count);
    const inFlight = { queue, count: chunk.length, detached: false };
    this.inFlight = inFlight;
    await this.opts.append(
      runId,
      chunk.map((h) => h.event),
      chunk[0]!.token!,
    );
    this.inFlight = undefined;
    // Dropped while in flight: counted as dropped, and its gap is declared after it.
    if (inFlight.detached) return 0;
    queue.held.splice(0, chunk.length);
    for (const h of chunk) this.bytes -= h.bytes;
    this.events -= chunk.length;
    this.totals.eventsFlushed += chunk.length;
    this.release(queue, queue.added - queue.held.length);
    return chunk.length;
  }

  /** Past a bound: the oldest run's events go, and its stream is marked as having a gap. */
  private enforceBounds(): void {
    const { maxEvents, maxBytes } = this.opts;
    for (const [runId, queue] of this.runs) {
      if (this.events <= maxEvents && this.bytes <= maxBytes) break;
      const dropped = this.dropHeld(queue, Number.POSITIVE_INFINITY);
      if (dropped === 0) continue;
      this.opts.logger?.warn(
        { runId, dropped, maxEvents, maxBytes },
        'sse-relay: event buffer full; dropping the oldest run events and marking a gap',
      );
    }
    // Gap marks are kept per run, bounded too: past the bound the oldest mark is lost (logged).
    for (const [runId, queue] of this.runs) {
      if (this.gaps <= maxEvents) break;
      if (!queue.gap || queue.held.length > 0) continue;
      this.runs.delete(runId);
      this.gaps--;
      this.totals.gapsUndeclared++;
      this.release(queue, Number.POSITIVE_INFINITY, 'lost');
      this.opts.logger?.error(
        { runId },
        'sse-relay: too many runs with gaps; one gap is undeclared',
      );
    }
  }

  /** Positions below `through` are settled: resolves the waiters that asked for no more. */
  private release(queue: RunQueue, through: number, outcome?: SettleOutcome): void {
    queue.settledThrough = Math.max(queue.settledThrough, Math.min(through, queue.added));
    const ready = queue.waiters.filter((w) => w.through <= through);
    if (ready.length === 0) return;
    queue.waiters = queue.waiters.filter((w) => w.through > through);
    for (const w of ready) {
      w.resolve(outcome ?? (queue.gapsDeclared > w.gapsBefore ? 'gap' : 'appended'));
    }
  }

  /**
   * Drops the run's first `count` held events and marks its gap; answers how many went. A
   * chunk in flight goes whole (one append): should its append still succeed, its events are
   * in the log before the gap, which resumes across them answer as lost, never as contiguous.
   */
  private dropHeld(queue: RunQueue, count: number): number {
    const inFlight = this.inFlight?.queue === queue ? this.inFlight : undefined;
    const chunk = inFlight && !inFlight.detached && count > 0 ? inFlight.count : 0;
    const drop = Math.min(queue.held.length, Math.max(count, chunk));
    if (drop <= 0) return 0;
    if (inFlight && chunk > 0) inFlight.detached = true;
    for (const h of queue.held.splice(0, drop)) this.bytes -= h.bytes;
    this.events -= drop;
    this.totals.eventsDropped += drop;
    if (!queue.gap) {
      queue.gap = true;
      this.gaps++;
    }
    return drop;
  }

  /** A waiter stopped waiting: its run's held events up to `through` go, behind a gap mark. */
  private giveUp(runId: string, queue: RunQueue, through: number): void {
    const drop = this.dropHeld(queue, through - (queue.added - queue.held.length));
    if (drop === 0) return;
    this.opts.logger?.warn(
      { runId, dropped: drop },
      'sse-relay: gave up waiting for buffered run events; dropped, a gap is declared once the log answers',
    );
    this.schedule(0);
  }
}
