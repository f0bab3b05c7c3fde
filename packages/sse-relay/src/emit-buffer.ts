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
  /** Appends events of one run, in order; rejects while the log is unavailable. */
  append(runId: string, events: readonly PreparedEvent[]): Promise<void>;
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
}

interface RunQueue {
  held: Held[];
  /** Events of this run were dropped: declare the gap before appending what follows. */
  gap: boolean;
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
  private flushing: Promise<void> | undefined;
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

  /** Queues events of one run after a failed append or behind older ones; flushes later. */
  add(runId: string, events: readonly PreparedEvent[], cause?: unknown): void {
    if (!this.down && cause !== undefined) {
      this.opts.logger?.warn(
        { err: cause, runId },
        'sse-relay: event log unavailable; buffering run events until it answers',
      );
    }
    if (cause !== undefined) this.down = true;
    let queue = this.runs.get(runId);
    if (!queue) {
      queue = { held: [], gap: false };
      this.runs.set(runId, queue);
    }
    const at = performance.now();
    for (const event of events) {
      const bytes = event.json.length + EVENT_OVERHEAD;
      queue.held.push({ event, bytes, at });
      this.events++;
      this.bytes += bytes;
    }
    this.totals.eventsBufferedTotal += events.length;
    this.enforceBounds();
    this.schedule(0);
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
    const runIds = [...this.runs.keys()];
    this.runs.clear();
    this.events = 0;
    this.bytes = 0;
    this.gaps = 0;
    this.totals.eventsDropped += lost;
    let declared = 0;
    for (const runId of runIds) {
      try {
        await this.opts.declareGap(runId);
        declared++;
      } catch {
        this.totals.gapsUndeclared++;
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
    try {
      for (const [runId, queue] of this.runs) {
        if (queue.gap) {
          await this.opts.declareGap(runId);
          queue.gap = false;
          this.gaps--;
          this.totals.gapsDeclared++;
          this.opts.logger?.warn({ runId }, 'sse-relay: gap declared for dropped run events');
        }
        // Events added meanwhile join this queue: the loop takes them too, in order.
        while (queue.held.length > 0) {
          const chunk = queue.held.slice(0, FLUSH_CHUNK);
          await this.opts.append(
            runId,
            chunk.map((h) => h.event),
          );
          queue.held.splice(0, chunk.length);
          for (const h of chunk) this.bytes -= h.bytes;
          this.events -= chunk.length;
          flushed += chunk.length;
          this.totals.eventsFlushed += chunk.length;
        }
        this.runs.delete(runId);
      }
      this.down = false;
      this.failures = 0;
      if (flushed > 0)
        this.opts.logger?.info({ events: flushed }, 'sse-relay: buffered run events flushed');
    } catch (err) {
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

  /** Past a bound: the oldest run's events go, and its stream is marked as having a gap. */
  private enforceBounds(): void {
    const { maxEvents, maxBytes } = this.opts;
    for (const [runId, queue] of this.runs) {
      if (this.events <= maxEvents && this.bytes <= maxBytes) break;
      if (queue.held.length === 0) continue;
      for (const h of queue.held) this.bytes -= h.bytes;
      this.events -= queue.held.length;
      this.totals.eventsDropped += queue.held.length;
      this.opts.logger?.warn(
        { runId, dropped: queue.held.length, maxEvents, maxBytes },
        'sse-relay: event buffer full; dropping the oldest run events and marking a gap',
      );
      queue.held = [];
      if (!queue.gap) {
        queue.gap = true;
        this.gaps++;
      }
    }
    // Gap marks are kept per run, bounded too: past the bound the oldest mark is lost (logged).
    for (const [runId, queue] of this.runs) {
      if (this.gaps <= maxEvents) break;
      if (!queue.gap || queue.held.length > 0) continue;
      this.runs.delete(runId);
      this.gaps--;
      this.totals.gapsUndeclared++;
      this.opts.logger?.error(
        { runId },
        'sse-relay: too many runs with gaps; one gap is undeclared',
      );
    }
  }
}
