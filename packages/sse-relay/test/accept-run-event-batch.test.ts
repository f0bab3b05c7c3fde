import { EMITTED_EVENT_TYPES } from '@x/protocol';
import { expect, it } from 'vitest';
import { acceptRunEventBatch } from '../src/accept-run-event-batch.js';
import { runEventsChannel, wireRunEventBatchSchema } from '../src/run-events-channel.js';
import { ODD_VALUES, payloadVariants, VALID_PAYLOADS } from './payload-variants.js';

const item = (over: Record<string, unknown> = {}, event: unknown = undefined) => ({
  seq: 1,
  epoch: 'k3j9qa0',
  event: event ?? { type: 'log', runId: 'r-1', ...VALID_PAYLOADS.log },
  ...over,
});

function batches(): unknown[] {
  const out: unknown[] = [
    null,
    undefined,
    'x',
    1,
    {},
    [],
    [null],
    [[]],
    [item()],
    [item(), item({ seq: 2 })],
  ];
  for (const key of ['seq', 'epoch', 'event']) {
    for (const odd of [...ODD_VALUES, 'bad epoch!', 'a'.repeat(17), 'ABC123'])
      out.push([item({ [key]: odd })], [item(), item({ [key]: odd })]);
  }
  out.push([item({ extra: 1 })]);
  out.push(
    JSON.parse(
      `[{"seq":1,"epoch":"e1","event":{"type":"log","runId":"r","level":"info","message":"m","__proto__":{"x":1}}}]`,
    ),
  );
  out.push([Object.assign(Object.create(null), item())]);
  for (const { type, data } of payloadVariants()) {
    if (typeof data !== 'object' || data === null || Array.isArray(data)) continue;
    out.push([item({}, { type, runId: 'r-1', ...data })]);
    // Another key order: the schema's output puts `type` and `runId` first.
    out.push([item({}, { runId: 'r-1', type, ...data })]);
    out.push([item({}, { ...data, type, runId: 'r-1' })]);
  }
  for (const type of [...EMITTED_EVENT_TYPES, 'snapshot', 'nope', 7])
    for (const runId of ['r-1', '', 5, undefined])
      out.push([item({}, { type, runId, ...VALID_PAYLOADS.log })]);
  return out;
}

it("accepts only batches the schema accepts, with the schema's output, keys in its order", () => {
  let accepted = 0;
  for (const batch of batches()) {
    const fast = acceptRunEventBatch(batch);
    if (fast === undefined) continue;
    accepted++;
    const parsed = wireRunEventBatchSchema.safeParse(batch);
    expect(parsed.success, JSON.stringify(batch)).toBe(true);
    expect(fast).toEqual(parsed.data);
    // Relays serialise `event` again for SSE: byte for byte what the schema's output gives.
    expect(JSON.stringify(fast)).toBe(JSON.stringify(parsed.data));
  }
  expect(accepted).toBeGreaterThan(EMITTED_EVENT_TYPES.length);
});

it('is the channel’s accept: the usual batch skips the schema, others get its verdict', () => {
  const usual = [item(), item({ seq: 2 })];
  expect(acceptRunEventBatch(usual)).toEqual(usual);
  expect(runEventsChannel.parse(usual)).toEqual({ ok: true, value: usual });
  // A `run` frame is left to the schema (it orders the feed run's fields): it accepts it.
  const feed = [item({}, { type: 'run', runId: 'ws', ...VALID_PAYLOADS.run })];
  expect(acceptRunEventBatch(feed)).toBeUndefined();
  expect(runEventsChannel.parse(feed).ok).toBe(true);
  // Refused with the schema's message.
  const bad = runEventsChannel.parse([item({ seq: 0 })]);
  expect(bad.ok).toBe(false);
  expect(bad.ok ? '' : bad.detail).toMatch(/^0\.seq: /);
});
