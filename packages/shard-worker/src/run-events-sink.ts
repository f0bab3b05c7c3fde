import type { Logger } from './logger.js';

export const EMITTED_TYPES = ['status', 'shard', 'result', 'progress', 'log', 'done'] as const;
export type EmittedType = (typeof EMITTED_TYPES)[number];

/** The slice of `@x/sse-relay`'s `RunEvents` this package uses; a `RunEvents` satisfies it. */
export interface RunEventsSink {
  emit(runId: string, type: EmittedType, payload: object): Promise<number>;
  /** When present, a redelivered shard can tell whether its run's `done` went out. */
  lastEvent?(runId: string): Promise<{ type: string } | undefined>;
}

/**
 * Emits run events without letting an event failure undo durable work: the database is the
 * source of truth and a client that missed an event recovers from its snapshot. Failures are
 * counted and logged, never thrown.
 */
export function safeEmitter(events: RunEventsSink, logger: Logger, onError: () => void) {
  return async (runId: string, type: EmittedType, payload: object): Promise<void> => {
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
 * Emits a stream of events in order without making the producer wait: each emit starts when
 * the previous one settled. `flush()` resolves when all have settled.
 */
export function orderedEmitter(emit: SafeEmit, runId: string) {
  let tail: Promise<void> = Promise.resolve();
  return {
    push(type: EmittedType, payload: object) {
      tail = tail.then(() => emit(runId, type, payload));
    },
    flush: () => tail,
  };
}
