import { describe, expectTypeOf, it } from 'vitest';
import type { NewRunEvent, RunEvent, RunEvents } from '../src/index.js';

// Checked by `tsc -p tsconfig.json` (the package's typecheck): each `@ts-expect-error` fails the
// build if the line below it compiles, i.e. if a payload that does not fit its type got through.

describe('run event types, from emit to the listener', () => {
  it('refuses at compile time a payload that does not match its type', () => {
    const check = (events: RunEvents, runId: string) => {
      void events.emit(runId, 'progress', {
        passed: 1,
        failed: 0,
        total: 2,
        shardsCompleted: 1,
        shardCount: 2,
      });
      // @ts-expect-error a status payload is not a progress payload
      void events.emit(runId, 'progress', { status: 'running' });
      // @ts-expect-error `level` is one of debug, info, warn, error
      void events.emit(runId, 'log', { level: 'loud', message: 'x' });
      // @ts-expect-error `snapshot` is the router's frame, never emitted
      void events.emit(runId, 'snapshot', {});
      void events.emitMany(runId, [{ type: 'status', payload: { status: 'running' } }]);
      // @ts-expect-error a batch item's payload must fit its own type
      void events.emitMany(runId, [{ type: 'status', payload: { level: 'info', message: 'x' } }]);
    };
    expectTypeOf(check).toBeFunction();
    expectTypeOf<Extract<NewRunEvent, { type: 'done' }>['payload']['durationMs']>().toEqualTypeOf<
      number | null
    >();
  });

  it('narrows a listener event on its type', () => {
    const onEvent = (event: RunEvent) => {
      if (event.type === 'progress') {
        expectTypeOf(event.data.shardsCompleted).toEqualTypeOf<number>();
      } else if (event.type === 'log') {
        expectTypeOf(event.data.level).toEqualTypeOf<'debug' | 'info' | 'warn' | 'error'>();
      }
    };
    onEvent({
      seq: 1,
      epoch: 'e1',
      type: 'log',
      runId: 'r',
      data: { level: 'info', message: 'm' },
      json: '{}',
    });
  });
});
