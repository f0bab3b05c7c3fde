import { describe, expect, it } from 'vitest';
import {
  abortReason,
  backoffDelay,
  canonicalUuid,
  isPlainObject,
  isUuid,
  sleep,
  XError,
} from '../src/index.js';

describe('backoffDelay', () => {
  it('grows from initialMs by factor up to maxMs, exactly when jitter is 0', () => {
    const opts = { initialMs: 100, maxMs: 1_000, factor: 2, jitter: 0 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, opts))).toEqual([
      100, 200, 400, 800, 1_000, 1_000,
    ]);
  });
  it('stays within ±jitter of its base and never below 1 ms', () => {
    for (let i = 0; i < 1_000; i++) {
      const d = backoffDelay(3, { initialMs: 100, jitter: 0.2 });
      expect(d).toBeGreaterThanOrEqual(320);
      expect(d).toBeLessThanOrEqual(480);
    }
    expect(backoffDelay(1, { initialMs: 0 })).toBe(1);
  });
  it('stays finite for huge attempt counts', () => {
    expect(backoffDelay(5_000, { maxMs: 2_000, jitter: 0 })).toBe(2_000);
  });
});

describe('sleep', () => {
  it('resolves after the time', async () => {
    const t0 = performance.now();
    await sleep(20);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(15);
  });
  it('rejects with the abort reason in the abort’s own microtasks, not on a later timer', async () => {
    const controller = new AbortController();
    let error: unknown;
    const sleeping = sleep(10_000, { signal: controller.signal }).catch((e: unknown) => {
      error = e;
    });
    await new Promise((r) => setTimeout(r, 5));
    const reason = new Error('stop');
    controller.abort(reason);
    // setImmediate runs after every pending microtask: the sleep settled before any timer.
    await new Promise((r) => setImmediate(r));
    expect(error).toBe(reason);
    await sleeping;
  });
  it('rejects at once when already aborted, with an AbortError for a non-Error reason', async () => {
    const signal = AbortSignal.abort('gone');
    await expect(sleep(10_000, { signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(abortReason(signal).message).toBe('gone');
  });
});

describe('isPlainObject', () => {
  it('takes object literals, JSON output and null-prototype objects, nothing else', () => {
    for (const yes of [{}, { a: 1 }, JSON.parse('{"a":[1]}'), Object.create(null)])
      expect(isPlainObject(yes)).toBe(true);
    class Payload {}
    for (const no of [
      null,
      undefined,
      'x',
      1,
      [],
      new Payload(),
      Object.create({ a: 1 }),
      new Date(),
    ])
      expect(isPlainObject(no)).toBe(false);
  });
});

describe('uuid', () => {
  const id = '0b5c3a4e-1f2d-4c5b-9a8e-7d6c5b4a3f21';
  it('canonicalizes any case to lower case and refuses what is not a UUID', () => {
    expect(canonicalUuid(id.toUpperCase())).toBe(id);
    expect(canonicalUuid(id)).toBe(id);
    expect(canonicalUuid(`${id} `)).toBeUndefined();
    expect(canonicalUuid(42)).toBeUndefined();
    expect(isUuid(id.toUpperCase())).toBe(true);
    expect(isUuid('not-a-uuid')).toBe(false);
  });
});

describe('XError', () => {
  class DemoError extends XError<'a' | 'b'> {
    override readonly name = 'DemoError';
  }
  it('carries code, details, cause and its subclass name', () => {
    const cause = new Error('root');
    const e = new DemoError('b', 'went wrong', { cause, details: { field: 'x' } });
    expect(e).toBeInstanceOf(XError);
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({ name: 'DemoError', code: 'b', message: 'went wrong' });
    expect(e.details).toEqual({ field: 'x' });
    expect(e.cause).toBe(cause);
    expect('cause' in new DemoError('a', 'no cause')).toBe(false);
  });
});

describe('XError.named', () => {
  class NamedError extends XError.named('NamedError')<'x' | 'y'> {}
  it('gives a subclass its name and keeps code, details and cause', () => {
    const e = new NamedError('y', 'named', { details: { a: 1 } });
    expect(e).toBeInstanceOf(XError);
    expect(e).toMatchObject({ name: 'NamedError', code: 'y', message: 'named' });
    expect(e.details).toEqual({ a: 1 });
    expect(String(e)).toBe('NamedError: named');
  });
});
