import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  API_ERROR_STATUS,
  EMITTED_EVENT_TYPES,
  type EmittedRunEvent,
  isRunStatus,
  isTerminal,
  LIVE_STATUSES,
  RUN_EVENT_PAYLOAD_SCHEMAS,
  RUN_EVENT_TYPES,
  RUN_STATUSES,
  TERMINAL_STATUSES,
} from '../src/index.js';

describe('run statuses', () => {
  it('are live or terminal, never both', () => {
    expect([...LIVE_STATUSES, ...TERMINAL_STATUSES].sort()).toEqual([...RUN_STATUSES].sort());
    for (const s of LIVE_STATUSES) expect(isTerminal(s)).toBe(false);
    for (const s of TERMINAL_STATUSES) expect(isTerminal(s)).toBe(true);
    expect(isRunStatus('paused')).toBe(false);
    expect(isRunStatus('queued')).toBe(true);
  });
});

describe('run events', () => {
  it('has a payload schema for every emitted type, and snapshot is not emitted', () => {
    expect(Object.keys(RUN_EVENT_PAYLOAD_SCHEMAS).sort()).toEqual([...EMITTED_EVENT_TYPES].sort());
    expect(
      RUN_EVENT_TYPES.filter((t) => !(EMITTED_EVENT_TYPES as readonly string[]).includes(t)),
    ).toEqual(['snapshot']);
  });
  it('refuses a payload that does not fit its type', () => {
    expect(RUN_EVENT_PAYLOAD_SCHEMAS.status.safeParse({ status: 'paused' }).success).toBe(false);
    expect(
      RUN_EVENT_PAYLOAD_SCHEMAS.shard.safeParse({ shardIndex: -1, state: 'started', attempt: 1 })
        .success,
    ).toBe(false);
    expect(
      RUN_EVENT_PAYLOAD_SCHEMAS.done.safeParse({
        status: 'completed',
        passed: 1,
        failed: 0,
        total: 1,
        durationMs: null,
      }).success,
    ).toBe(true);
  });
  it('a result carries the attempt that produced it, or none (an older emitter)', () => {
    const result = { shardIndex: 0, testId: 't1', name: 'a', status: 'passed', durationMs: 3 };
    const parse = (p: object) => RUN_EVENT_PAYLOAD_SCHEMAS.result.safeParse(p);
    expect(parse({ ...result, attempt: 2 }).data?.attempt).toBe(2);
    expect(parse(result).success).toBe(true);
    expect(parse({ ...result, attempt: -1 }).success).toBe(false);
    expect(parse({ ...result, attempt: 1.5 }).success).toBe(false);
  });
  it('narrows an event to its payload by type', () => {
    const narrow = (e: EmittedRunEvent) => (e.type === 'progress' ? e.shardsCompleted : undefined);
    expectTypeOf(narrow).returns.toEqualTypeOf<number | undefined>();
  });
});

describe('api errors', () => {
  it('maps each code to an HTTP error status', () => {
    for (const status of Object.values(API_ERROR_STATUS))
      expect(status).toBeGreaterThanOrEqual(400);
    expect(API_ERROR_STATUS.rate_limited).toBe(429);
    expect(API_ERROR_STATUS.service_unavailable).toBe(503);
  });
});
