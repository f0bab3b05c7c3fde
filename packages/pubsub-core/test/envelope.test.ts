import { describe, expect, it } from 'vitest';
import {
  createOrigin,
  decodeEnvelope,
  encodeEnvelope,
  ORIGIN_PATTERN,
  processOrigin,
} from '../src/index.js';

const origin = createOrigin();
const base = {
  v: 1,
  origin,
  channel: 'x:run-abort',
  ts: 1_700_000_000_000,
  payload: { runId: 'r' },
};

describe('origin', () => {
  it('is inst_ + 32 hex chars, fresh per createOrigin and stable per process', () => {
    expect(origin).toMatch(ORIGIN_PATTERN);
    expect(createOrigin()).not.toBe(origin);
    expect(processOrigin()).toMatch(ORIGIN_PATTERN);
    expect(processOrigin()).toBe(processOrigin());
  });
});

describe('envelope', () => {
  it('round-trips through encode and decode', () => {
    const decoded = decodeEnvelope(encodeEnvelope(base), { maxBytes: 1_024 });
    expect(decoded).toEqual({ ok: true, envelope: base });
    expect(decodeEnvelope(Buffer.from(encodeEnvelope(base)), { maxBytes: 1_024 }).ok).toBe(true);
  });

  it.each([
    ['not JSON', '{"v":1,', /not JSON/],
    ['a JSON array', '[1]', /not a JSON object/],
    ['null', 'null', /not a JSON object/],
    ['a non-integer version', encodeEnvelope({ ...base, v: 1.5 }), /envelope\.v/],
    ['a forged origin', encodeEnvelope({ ...base, origin: 'inst_zz' }), /envelope\.origin/],
    ['an empty channel', encodeEnvelope({ ...base, channel: '' }), /envelope\.channel/],
    ['a string timestamp', JSON.stringify({ ...base, ts: 'now' }), /envelope\.ts/],
    ['no payload', JSON.stringify({ ...base, payload: undefined }), /payload is missing/],
  ])('refuses %s as malformed, naming the problem', (_, raw, detail) => {
    const decoded = decodeEnvelope(raw, { maxBytes: 1_024 });
    expect(decoded).toMatchObject({ ok: false, reason: 'malformed' });
    expect(decoded.ok ? '' : decoded.detail).toMatch(detail);
  });

  it('refuses a message over the limit counting UTF-8 bytes, not characters', () => {
    const note = 'é'.repeat(300); // 300 chars, 600 bytes
    const raw = encodeEnvelope({ ...base, payload: { note } });
    expect(raw.length).toBeLessThan(512);
    expect(decodeEnvelope(raw, { maxBytes: 512 })).toMatchObject({ ok: false, reason: 'oversize' });
    expect(decodeEnvelope(raw, { maxBytes: 1_024 }).ok).toBe(true);
    expect(decodeEnvelope(Buffer.from(raw), { maxBytes: 512 })).toMatchObject({
      reason: 'oversize',
    });
  });

  it('never throws, whatever the bytes', () => {
    for (const raw of ['', '\u0000', '{"__proto__":{"v":1}}', 'x'.repeat(70_000), '1e999']) {
      expect(() => decodeEnvelope(raw, { maxBytes: 65_536 })).not.toThrow();
      expect(decodeEnvelope(raw, { maxBytes: 65_536 }).ok).toBe(false);
    }
  });
});
