import type { Logger } from '@x/kernel';
import type { Bus } from '@x/pubsub-core';
import type { EventPosition } from './compute-replay.js';
import type { EmitBufferMetrics, SettleOutcome } from './emit-buffer.js';
import type { EventLog } from './event-log.js';
import type { ListenEndReason } from './listener-entry.js';
import type { EmittedEventType, RunEvent, RunEventPayloads } from './run-event-types.js';
import type { StreamCounters } from './run-stream.js';

// The public shape of `createRunEvents`: its options, its handle and its metrics.

export interface RunEventsOptions {
  /** The bus events travel on (`<prefix>:run:{<runId>}:events`, the run id its hash tag); the caller owns and closes it. */
  bus: Bus;
  /** Sequence counter and history: `memoryEventLog()` embedded, `redisEventLog()` distributed. */
  log: EventLog;
  /** Events kept per run for resume. Default 10,000: a long run's tail without unbounded memory. */
  historyLimit?: number;
  /** History lifetime after `done`, in ms. Default 10 minutes: late reconnects still replay. */
  doneTtlMs?: number;
  /**
   * History lifetime after the last event of a run that never finished. Default 24 h. The
   * Redis log refreshes it every eighth of it, not on every append, so the history goes
   * between 7/8 of this and this after the last event.
   */
  idleTtlMs?: number;
  /**
   * How long an early event waits for the ones before it before they are read from the
   * history, in ms. Default 250: concurrent emitters publish within a few ms of each other.
   */
  gapTimeoutMs?: number;
  /**
   * Every this many ms, each run with listeners reads its history past what it delivered:
   * the safety net for a publish lost while the subscription stayed up. Default 5,000.
   */
  catchUpIntervalMs?: number;
  /** Live events held for a listener still writing its replay before it is ended. Default 10,000. */
  maxHeldEvents?: number;
  /**
   * Events this process holds while the log is unavailable (all runs together), appended in
   * order once it answers. Default 10,000 (`EVENT_BUFFER_MAX_EVENTS`); past it the oldest
   * run's events are dropped and a gap is declared for it.
   */
  bufferMaxEvents?: number;
  /** Bytes of event JSON held the same way. Default 16 MiB (`EVENT_BUFFER_MAX_BYTES`). */
  bufferMaxBytes?: number;
  /**
   * How long a run's first emit waits for more of the same run before they are appended
   * together, in ms. Default 0: the emits of the same turn of the event loop (and those made
   * while the run's previous append is in flight) share one append.
   */
  emitCoalesceMs?: number;
  /** How long `close()` tries to flush buffered events before declaring their gaps. Default 2,000. */
  closeFlushTimeoutMs?: number;
  logger?: Logger;
}

export interface SettleOptions {
  /** Stops the wait (e.g. the run was aborted, or the process is shutting down). */
  signal?: AbortSignal;
  /** Stops the wait after this many ms. Default: no limit. */
  timeoutMs?: number;
  /**
   * Also waits for the run's emits still being coalesced or appended (default true). A caller
   * that awaited its own emits passes false: they are appended or buffered already, and the
   * wait then costs nothing while the log answers, whatever its siblings have in flight.
   */
  inFlight?: boolean;
}

export interface ListenOptions {
  /** Called once if the relay ends the listener (done, gap, overflow, closed). */
  onEnd?: (reason: ListenEndReason) => void;
}

export interface ListenHandle {
  /** Events after `afterSeq` up to `headSeq`, to send before live events (empty if not recovered). */
  readonly replay: readonly RunEvent[];
  /** False when `afterSeq` was given but the history no longer holds every missing event. */
  readonly recovered: boolean;
  /** The last seq delivered in this process when the listener joined. */
  readonly headSeq: number;
  /** The epoch of `headSeq`; undefined when the run had no history (then nothing was replayed). */
  readonly epoch: string | undefined;
  /** Starts live delivery: held events first, then as they come. Call after sending `replay`. */
  start(): void;
  /**
   * Reads the run's history past what this process delivered now, rather than at the next
   * catch-up tick: for a listener that knows later events exist (a finished run's `done` is in
   * the history) that this process may not have received.
   */
  catchUp(): void;
  /** Leaves the run; the last listener releases the subscription. Idempotent. */
  close(): void;
}

export interface RunEventsMetrics extends StreamCounters, EmitBufferMetrics {
  emitted: number;
  /** Appends the log answered (one script call each on Redis): `emitted / appends` events each. */
  appends: number;
  emitFailures: number;
  /** Events refused because the run's `done` was already emitted (`done` is the last frame). */
  droppedAfterDone: number;
  delivered: number;
  listeners: number;
  runs: number;
  foreignDropped: number;
  malformedLog: number;
}

/** How `emitMany` sends a batch. */
export interface EmitOptions {
  /**
   * Send without waiting for `emitCoalesceMs` (the run's events waiting to be coalesced go
   * with it): the caller waits on this append, e.g. a shard's last events before its
   * completion is recorded. A batch with a `done` is always urgent.
   */
  urgent?: boolean;
}

/** One event of an `emitMany` batch. */
export type NewRunEvent = {
  [T in EmittedEventType]: { type: T; payload: RunEventPayloads[T] };
}[EmittedEventType];

export interface RunEvents {
  /**
   * Assigns the next seq, appends to the history, publishes; resolves with the seq, or 0 when
   * the run's `done` was already emitted (`done` is the last frame: the event is dropped and
   * counted in `droppedAfterDone`), or `BUFFERED_SEQ` (-1) when the log is unavailable: the
   * event waits in this process's bounded buffer and is appended, in order, once it answers.
   */
  emit<T extends EmittedEventType>(
    runId: string,
    type: T,
    payload: RunEventPayloads[T],
  ): Promise<number>;
  /**
   * Emits several events of one run in order, in one log round trip: consecutive seqs,
   * appended atomically, then published in order. Every event is validated first (a bad one
   * refuses the batch). Resolves with one seq per event, 0 for each dropped after `done`.
   */
  emitMany(runId: string, events: readonly NewRunEvent[], opts?: EmitOptions): Promise<number[]>;
  /**
   * Resolves once every event of the run this process emitted before the call is in the log
   * (`appended`), or was dropped with its gap declared (`gap`): at once while the log answers.
   * Record what ends a run's part (a shard's completion) after it, and whoever acts on that
   * record (the finalizer's `done`) appends after these events, whichever process it is.
   * When `signal` aborts or `timeoutMs` passes first: `gave-up` (the run's held events are
   * dropped, its gap declared once the log answers); `lost` when this process closed while
   * the log was unavailable.
   */
  settled(runId: string, opts?: SettleOptions): Promise<SettleOutcome>;
  /**
   * Starts the run's first epoch (its ids start at 1) unless it has a history. Call it once
   * the run is handed to the queue, before any of its events: a history that nobody began
   * (or that was lost) starts high, so no id a client holds is reused.
   */
  begin(runId: string): Promise<void>;
  /**
   * Joins a run's live events, replaying from the history after `after` (a bare number is
   * read as the current epoch; null: live only).
   */
  listen(
    runId: string,
    after: EventPosition | number | null,
    listener: (event: RunEvent) => void,
    opts?: ListenOptions,
  ): Promise<ListenHandle>;
  /**
   * False while the bus is not connected (Redis is away): a listener could not be served
   * now, so the router answers the snapshot only instead of waiting for commands to fail.
   */
  available(): boolean;
  /** The last event in the run's history (e.g. its `done`), if any. */
  lastEvent(runId: string): Promise<RunEvent | undefined>;
  metrics(): RunEventsMetrics;
  /** Ends every listener (`closed`) and releases subscriptions and timers; not the bus or log. */
  close(): Promise<void>;
}
