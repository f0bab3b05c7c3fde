import { describe, expect, it } from 'vitest';
import { settlesWithin } from '../src/settles-within.js';

const after = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('settlesWithin', () => {
  it('is true for work that settles before the deadline, false for work that does not', async () => {
    expect(await settlesWithin(after(5), 200)).toBe(true);
    expect(await settlesWithin(after(200), 5)).toBe(false);
  });

  it('passes a rejection on instead of calling it settled', async () => {
    await expect(settlesWithin(Promise.reject(new Error('close failed')), 50)).rejects.toThrow(
      'close failed',
    );
  });
});
