import { EMITTED_EVENT_TYPES, RUN_EVENT_PAYLOAD_SCHEMAS } from '@x/protocol';
import { expect, it } from 'vitest';
import { payloadPassesFast } from '../src/payload-fast-check.js';
import { payloadVariants, VALID_PAYLOADS } from './payload-variants.js';

it("passes only payloads the type's schema accepts, and the frequent valid ones", () => {
  let passed = 0;
  for (const { type, data } of payloadVariants()) {
    const fast = payloadPassesFast(type, data as object);
    const schema = RUN_EVENT_PAYLOAD_SCHEMAS[type].safeParse(data);
    if (!fast) continue;
    passed++;
    expect(schema.success, `${type} ${JSON.stringify(data)}`).toBe(true);
    // Loose objects without transforms: what passes is the schema's output as is.
    expect(schema.data).toEqual(data);
  }
  // Every type passes its valid payloads without the schema.
  for (const type of EMITTED_EVENT_TYPES) {
    expect(payloadPassesFast(type, VALID_PAYLOADS[type]), type).toBe(true);
  }
  expect(
    payloadPassesFast('run', {
      change: 'status',
      run: { ...VALID_PAYLOADS.run.run, tags: ['a'], status: 'running' },
    }),
  ).toBe(true);
  expect(passed).toBeGreaterThan(EMITTED_EVENT_TYPES.length);
});

it('leaves every refusal and its message to the schema (an emit of a bad payload)', async () => {
  const { prepareEvents } = await import('../src/prepare-events.js');
  expect(() =>
    prepareEvents('r-1', [{ type: 'log', payload: { level: 'loud', message: 'x' } as never }]),
  ).toThrow(/log payload: .*level/s);
  expect(() =>
    prepareEvents('r-1', [
      { type: 'progress', payload: { ...VALID_PAYLOADS.progress, total: -1 } },
    ]),
  ).toThrow(/progress payload: .*total/s);
});
