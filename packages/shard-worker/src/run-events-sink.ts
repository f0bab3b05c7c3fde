import type { Logger } from '@x/kernel';
import type { EmittedEventType as EmittedType, RunEventPayloads } from '@x/protocol';
import type { EmitOptions, RunEvents } from '@x/sse-relay';

// The event types and payloads are @x/protocol's: a payload that does not fit its type does
// not compile, here or at any emit call site.

/** One event of a batch: a union keyed on `type`, each with its own payload. */
export type SinkEvent = {
  [T in EmittedType]: { type: T; payload: RunEventPayloads[T] };
}[EmittedType];

/** An event of type `T`, as a member of the `SinkEvent` union. */
const sinkEvent = <T extends EmittedType>(type: T, payload: RunEventPayloads[T]) =>
  // TypeScript cannot see that `{ type: T; payload: RunEventPayloads[T] }` is a union member.
  ({ type, payload }) as SinkEvent;

/**
 * The slice of `@x/sse-relay`'s `RunEvents` this package uses. `emitMany` (several events of
 * one run in one call), `lastEvent` (did this run's `done` go out?) and `settled` (are this
 * process's events of a run in the log?) are optional: without them events go out one by
 * one, a redelivered shard cannot tell, and a completion does not wait for buffered events.
 */
export type RunEventsSink = Pick<RunEvents, 'emit'> &
  Partial<Pick<RunEvents, 'emitMany' | 'lastEvent' | 'settled'>>;

/**
 * Emits run events without letting an event failure undo durable work: the database is the
 * source of truth and a client that missed an event recovers from its snapshot. Failures are
 * counted and logged, never thrown.
 */
export function safeEmitter(events: RunEventsSink, logger: Logger, onError: () => void) {
  return async <T extends EmittedType>(
    runId: string,
    type: T,
    payload: RunEventPayloads[T],
  ): Promise<void> => {
    try {
      await events.emit(runId, type, payload);
    } catch (err) {
      onError();
      logger.warn({ err, runId, type }, 'run event not emitted');
    }
  };
}
export type SafeEmit = ReturnType<typeof safeEmitter>;

/**
 * `safeEmitter` for a batch: one round trip when the sink has `emitMany`. Calls keep their
 * order, like `RunEvents.emitMany`'s: without `emitMany` the batches go one after another.
 */
export function safeBatchEmitter(events: RunEventsSink, logger: Logger, onError: () => void) {
  const one = safeEmitter(events, logger, onError);
  let oneByOne: Promise<void> = Promise.resolve();
  return async (runId: string, batch: readonly SinkEvent[], opts?: EmitOptions): Promise<void> => {
    if (batch.length === 0) return;
    if (!events.emitMany) {
      oneByOne = oneByOne.then(async () => {
        for (const event of batch) await one(runId, event.type, event.payload);
      });
      return oneByOne;
    }
    try {
      await events.emitMany(runId, batch, opts);
    } catch (err) {
      onError();
      logger.warn({ err, runId, types: batch.map((e) => e.type) }, 'run events not emitted');
    }
  };
}
export type SafeEmitMany = ReturnType<typeof safeBatchEmitter>;

/**
 * A shard's events, in order, without making the producer wait, in as few round trips as
 * possible: a batch starts when the previous one settled and takes everything queued by
 * then. `add` events wait up to `lingerMs` for company (a shard's first events and the live
 * results of fast tests share a call), or for the next `flush`. `flush()` sends what is
 * queued at once, `urgent` (the shard's completion waits on it: it does not wait for the
 * sink's coalescing delay, nor for the batch before it), and resolves when every batch
 * settled. Order holds all the same: the sink keeps a run's calls in call order.
 */
export function orderedEmitter(emitMany: SafeEmitMany, runId: string, lingerMs = 0) {
  let queued: SinkEvent[] = [];
  let tail: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const stopTimer = () => {
    clearTimeout(timer);
    timer = undefined;
  };
  const schedule = () => {
    stopTimer();
    tail = tail.then(() => {
      const batch = queued;
      queued = [];
      return emitMany(runId, batch);
    });
  };
  return {
    add<T extends EmittedType>(type: T, payload: RunEventPayloads[T]) {
      queued.push(sinkEvent(type, payload));
      if (lingerMs <= 0) schedule();
      else timer ??= setTimeout(schedule, lingerMs);
    },
    /** Keeps what is queued for the next `flush` (the shard is about to finish). */
    hold: stopTimer,
    /** Drops what is not sent yet (an aborted shard's results would trail the abort). */
    discard() {
      stopTimer();
      queued = [];
    },
    flush() {
      stopTimer();
      if (queued.length > 0) {
        const batch = queued;
        queued = [];
        const sent = emitMany(runId, batch, { urgent: true });
        tail = Promise.all([tail, sent]).then(() => undefined);
      }
      return tail;
    },
  };
}
