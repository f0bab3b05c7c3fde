import { describe, expect, it } from 'vitest';
import { keySlot } from '../src/index.js';

// Answers from the Redis Cluster spec (CRC16 of "123456789" is 0x31C3) and `CLUSTER KEYSLOT`;
// redis-cluster.test.ts checks many more keys against a live cluster.
describe('keySlot', () => {
  it('hashes the whole key when it has no hash tag', () => {
    expect(keySlot('123456789')).toBe(0x31c3);
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('')).toBe(0);
  });

  it('hashes only the first non-empty {tag}', () => {
    expect(keySlot('{foo}:bar')).toBe(keySlot('foo'));
    expect(keySlot('x{foo}y{bar}')).toBe(keySlot('foo'));
    // An empty tag does not count: the whole key is hashed.
    expect(keySlot('{}foo')).toBe(9500);
    expect(keySlot('{}')).toBe(15257);
    expect(keySlot(Buffer.from('{}foo'))).toBe(9500);
  });
});
