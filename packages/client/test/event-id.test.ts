import { describe, expect, it } from 'vitest';
import { isAfter } from '../src/watch/event-id.js';

describe('isAfter (which ids are new)', () => {
  it('compares bare sequence numbers numerically, not as text', () => {
    expect(isAfter('10', '9')).toBe(true);
    expect(isAfter('9', '10')).toBe(false);
    expect(isAfter('9', '9')).toBe(false);
  });

  it('takes anything when nothing was yielded yet (or after recovered:false)', () => {
    expect(isAfter('1', undefined)).toBe(true);
  });

  it('compares <seq>-<epoch> ids on the sequence within one epoch', () => {
    expect(isAfter('43-k3J9', '42-k3J9')).toBe(true);
    expect(isAfter('42-k3J9', '42-k3J9')).toBe(false);
    expect(isAfter('7-k3J9', '42-k3J9')).toBe(false);
  });

  it('takes an id of another epoch: the server started a new sequence', () => {
    expect(isAfter('1-zz99', '42-k3J9')).toBe(true);
  });

  it('reads an id without an epoch as the current epoch, as the server does', () => {
    expect(isAfter('43-k3J9', '42')).toBe(true);
    expect(isAfter('42-k3J9', '42')).toBe(false);
    expect(isAfter('41', '42-k3J9')).toBe(false);
  });

  it('takes an id it cannot read unless it is the very same id', () => {
    expect(isAfter('abc', '42')).toBe(true);
    expect(isAfter('abc', 'abc')).toBe(false);
  });
});
