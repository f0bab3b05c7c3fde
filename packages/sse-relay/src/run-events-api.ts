import type { Logger } from '@x/kernel';
import type { Bus } from '@x/pubsub-core';
import type { EventLog } from './event-log.js';
import type { ListenEndReason } from './listener-entry.js';
import type { EmittedEventType, RunEvent, RunEventPayloads } from './run-event-types.js';
import type { StreamCounters } from './run-stream.js';

// The public shape of `createRunEvents`: its options, its handle and its metrics.

export interface RunEventsOptions {
  /** The bus events travel on (`{prefix}:run:{runId}:events`); the caller owns and closes it. */
  bus: Bus;
  /** Sequence counter and history: `memoryEventLog()` embedded, `redisEventLog()` distributed. */
  log: EventLog;
  /** Events kept per run for resume. Default 10,000: a long run's tail without unbounded memory. */
  historyLimit?: number;
  /** History lifetime after `done`, in ms. Default 10 minutes: late reconnects still replay. */
  doneTtlMs?: number;
  /** History lifetime after the last event of a run that never finished. Default 24 h. */
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
  logger?: Logger;
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
  /** Starts live delivery: held events first, then as they come. Call after sending `replay`. */
  start(): void;
  /** Leaves the run; the last listener releases the subscription. Idempotent. */
  close(): void;
}

export interface RunEventsMetrics extends StreamCounters {
  emitted: number;
  emitFailures: number;
  /** Events refused because the run's `done` was already emitted (`done` is the last frame). */
  droppedAfterDone: number;
  delivered: number;
  listeners: number;
  runs: number;
  foreignDropped: number;
  malformedLog: number;
}

/** One event of an `emitMany` batch. */
export type NewRunEvent = {
  [T in EmittedEventType]: { type: T; payload: RunEventPayloads[T] };
}[EmittedEventType];

export interface RunEvents {
  /**
   * Assigns the next seq, appends to the history, publishes; resolves with the seq, or 0 when
   * the run's `done` was already emitted (`done` is the last frame: the event is dropped and
   * counted in `droppedAfterDone`).
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
  emitMany(runId: string, events: readonly NewRunEvent[]): Promise<number[]>;
  /** Joins a run's live events, replaying from the history after `afterSeq` (null: live only). */
  listen(
    runId: string,
    afterSeq: number | null,
    listener: (event: RunEvent) => void,
    opts?: ListenOptions,
  ): Promise<ListenHandle>;
  /** The last event in the run's history (e.g. its `done`), if any. */
  lastEvent(runId: string): Promise<RunEvent | undefined>;
  metrics(): RunEventsMetrics;
  /** Ends every listener (`closed`) and releases subscriptions and timers; not the bus or log. */
  close(): Promise<void>;
}
