import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { createBus, memoryTransport } from '@x/pubsub-core';
import { waitFor } from '@x/testkit';
import express from 'express';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  createFeedRouter,
  createRunEvents,
  type FeedRouter,
  memoryEventLog,
  type RunEvents,
  workspaceFeedKey,
} from '../src/index.js';
import { openSse } from './sse-client.js';

let events: RunEvents;
let router: FeedRouter;
let server: Server;
let url: string;

beforeAll(async () => {
  events = createRunEvents({
    bus: createBus({ transport: memoryTransport() }),
    log: memoryEventLog(),
  });
  router = createFeedRouter({
    events,
    workspaceOf: (req) => req.get('x-workspace'),
    heartbeatMs: 100,
    maxBufferedBytes: 256 * 1024,
  });
  server = createServer(express().use(router));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await router.shutdown({ timeoutMs: 1_000 });
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await events.close();
});

const frame = (tags: string[], name = 'r') => ({
  change: 'status' as const,
  run: { id: randomUUID(), tags, status: 'running' as const, name },
});

it('sends a run frame named by its run, with an id; a tag filter counts what it keeps back', async () => {
  const ws = `ws-${randomUUID()}`;
  // As the feed's producer does before its first frame: the feed's first epoch, ids from 1.
  await events.begin(workspaceFeedKey(ws));
  const stream = await openSse(`${url}/events?tag=a`, { headers: { 'x-workspace': ws } });
  await waitFor(() => stream.events.length === 1);
  const before = router.metrics().filtered;
  const kept = frame(['a', 'b']);
  await events.emit(workspaceFeedKey(ws), 'run', frame(['b']));
  await events.emit(workspaceFeedKey(ws), 'run', kept);
  await waitFor(() => stream.events.length === 2);
  expect(stream.events[0]).toEqual({ type: 'snapshot' });
  expect(stream.events[1]).toMatchObject({ type: 'run', runId: kept.run.id, change: 'status' });
  // The second frame of the feed: the filtered one took the first id.
  expect(stream.frames.filter((f) => f.id !== undefined).map((f) => f.id?.split('-')[0])).toEqual([
    '2',
  ]);
  expect(router.metrics().filtered).toBe(before + 1);
  stream.close();
  await waitFor(() => events.metrics().listeners === 0, { what: 'the listener released' });
});

it('disconnects a feed client that stops reading, keeping its unsent bytes under maxBufferedBytes, and leaves the feed', async () => {
  const ws = `ws-${randomUUID()}`;
  await events.begin(workspaceFeedKey(ws));
  const before = router.metrics().slowClientDisconnects;
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  // The server resets it when it cuts it off.
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`GET /events HTTP/1.1\r\nHost: x\r\nx-workspace: ${ws}\r\n\r\n`);
  socket.pause(); // never reads: the kernel buffers fill, then Node's
  await waitFor(() => events.metrics().listeners > 0);
  const big = 'x'.repeat(16 * 1024);
  for (let i = 0; i < 3000 && router.metrics().slowClientDisconnects === before; i++) {
    await events.emit(workspaceFeedKey(ws), 'run', frame([], big));
  }
  expect(router.metrics().slowClientDisconnects).toBe(before + 1);
  expect(router.metrics().peakBufferedBytes).toBeLessThanOrEqual(256 * 1024 + 17 * 1024);
  await waitFor(() => events.metrics().listeners === 0, { what: 'the feed listener released' });
  socket.destroy();
});
