import { randomUUID } from 'node:crypto';
import {
  createBus,
  createOrigin,
  encodeEnvelope,
  memoryTransport,
  type TransportSink,
} from '@x/pubsub-core';
import { waitFor } from '@x/testkit';
import { expect, it } from 'vitest';
import { type RunAbortMessage, runAbortChannel } from '../src/index.js';
import { acceptRunAbort } from '../src/run-abort-channel.js';

const nullSink: TransportSink = { message() {}, state() {}, reconnected() {}, error() {} };

it('carries run ids in lower case: an upper-case id, published or received, names the same run', async () => {
  const transport = memoryTransport();
  const [a, b] = [createBus({ transport }), createBus({ transport })];
  const got: RunAbortMessage[] = [];
  await b.channel(runAbortChannel).subscribe((message) => void got.push(message));
  const runId = randomUUID();
  // Published in upper case: the bus sends the canonical id.
  expect(a.channel(runAbortChannel).publish({ runId: runId.toUpperCase(), reason: 'a' })).toBe(
    true,
  );
  // Sent in upper case by some other publisher (an older version): received canonical.
  const raw = transport.open(nullSink);
  await raw.send(
    'x:run-abort',
    encodeEnvelope({
      v: 1,
      origin: createOrigin(),
      channel: 'x:run-abort',
      ts: Date.now(),
      payload: { runId: runId.toUpperCase(), reason: 'b' },
    }),
  );
  await waitFor(() => got.length === 2, { what: 'both abort messages' });
  expect(got).toEqual([
    { runId, reason: 'a' },
    { runId, reason: 'b' },
  ]);
  await Promise.all([a.close(), b.close(), raw.close()]);
});

it("its hand check accepts only what the schema accepts, with the schema's output", () => {
  const id = randomUUID();
  const ids = [
    id,
    id.toUpperCase(),
    '00000000-0000-0000-0000-000000000000',
    'ffffffff-ffff-ffff-ffff-ffffffffffff',
    'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', // refused by z.uuid(): the max UUID in lower case only
    `${id.slice(0, 14)}0${id.slice(15)}`, // version 0
    `${id.slice(0, 14)}9${id.slice(15)}`, // version 9
    `${id.slice(0, 19)}c${id.slice(20)}`, // variant 110x
    `${id}\n`,
    ` ${id}`,
    id.replaceAll('-', ''),
    'run-1',
    '',
    42,
    null,
    undefined,
  ];
  const reasons = ['', 'user', 'x'.repeat(500), 'x'.repeat(501), '\u{1F600}'.repeat(250), 7, null];
  const payloads: unknown[] = [null, undefined, 'text', 1, [], [id, 'user'], { reason: 'user' }];
  for (const runId of ids)
    for (const reason of reasons) {
      payloads.push({ runId, reason });
      payloads.push({ runId, reason, extra: true });
    }
  payloads.push(Object.assign(Object.create({ runId: id }), { reason: 'inherited id' }));
  let accepted = 0;
  for (const payload of payloads) {
    const fast = acceptRunAbort(payload);
    const parsed = runAbortChannel.schema.safeParse(payload);
    if (fast === undefined) continue;
    accepted++;
    expect(parsed.success, JSON.stringify(payload)).toBe(true);
    expect(fast).toEqual(parsed.data);
  }
  // The common message takes the fast path (a check that accepts nothing would pass the above).
  expect(acceptRunAbort({ runId: id, reason: 'user' })).toEqual({ runId: id, reason: 'user' });
  expect(accepted).toBeGreaterThan(10);
  // What the check leaves alone the channel still refuses, with the schema's message.
  expect(runAbortChannel.parse({ runId: 'run-1', reason: 'user' })).toMatchObject({
    ok: false,
    detail: /^runId: /,
  });
  expect(runAbortChannel.parse({ runId: id, reason: 'x'.repeat(501) })).toMatchObject({
    ok: false,
    detail: /^reason: /,
  });
});
