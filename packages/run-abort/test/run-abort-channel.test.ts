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
