import { randomUUID } from 'node:crypto';
import { createBus, memoryTransport } from '@x/pubsub-core';
import { waitFor } from '@x/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createRunEvents,
  createWorkspaceFeed,
  type FeedRunInfo,
  memoryEventLog,
  type RunEvent,
  workspaceFeedKey,
} from '../src/index.js';

const info = (workspaceId: string, tags: string[] = []): FeedRunInfo => ({
  workspaceId,
  tags,
  name: null,
  createdAt: new Date(0).toISOString(),
  total: 10,
  shardCount: 2,
});

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

function setup(runs: Map<string, FeedRunInfo>, progressIntervalMs = 200) {
  const events = createRunEvents({
    bus: createBus({ transport: memoryTransport() }),
    log: memoryEventLog(),
  });
  let lookups = 0;
  const feed = createWorkspaceFeed({
    events,
    progressIntervalMs,
    lookup: async (id) => {
      lookups++;
      if (id === 'boom') throw new Error('database down');
      return runs.get(id);
    },
  });
  closers.push(
    () => feed.close(),
    () => events.close(),
  );
  const frames = async (workspaceId: string) => {
    const got: RunEvent[] = [];
    const handle = await events.listen(workspaceFeedKey(workspaceId), 0, (e) => got.push(e));
    got.push(...handle.replay);
    handle.start();
    closers.push(handle.close);
    return got;
  };
  return { events, feed, frames, lookups: () => lookups };
}

describe('workspaceFeedKey', () => {
  it('is a stable version-8 UUID per workspace, never a random (version 4) run id', () => {
    const key = workspaceFeedKey('acme');
    expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(workspaceFeedKey('acme')).toBe(key);
    expect(workspaceFeedKey('acme2')).not.toBe(key);
  });
});

describe('createWorkspaceFeed', () => {
  it("reports status, progress and done of a run on its own workspace's feed only", async () => {
    const runId = randomUUID();
    const { feed, frames } = setup(new Map([[runId, info('ws-a', ['x'])]]));
    await feed.events.emit(runId, 'status', { status: 'running' });
    await feed.events.emit(runId, 'progress', {
      passed: 1,
      failed: 0,
      total: 10,
      shardsCompleted: 1,
      shardCount: 2,
    });
    await feed.events.emit(runId, 'done', {
      status: 'completed',
      passed: 10,
      failed: 0,
      total: 10,
      durationMs: 5,
    });
    await waitFor(() => feed.metrics().frames === 3, { what: 'three frames' });
    const a = await frames('ws-a');
    expect(a.map((e) => e.type === 'run' && [e.data.change, e.data.run.status])).toEqual([
      ['status', 'running'],
      ['progress', undefined],
      ['done', 'completed'],
    ]);
    expect(a[1]?.data).toMatchObject({ run: { id: runId, tags: ['x'], passed: 1, shardCount: 2 } });
    expect(await frames('ws-b')).toEqual([]);
  });

  it('folds a burst of progress into a leading and a trailing frame with the latest counts', async () => {
    const runId = randomUUID();
    const { feed, frames } = setup(new Map([[runId, info('ws-t')]]), 300);
    for (let i = 1; i <= 10; i++) {
      await feed.events.emit(runId, 'progress', {
        passed: i,
        failed: 0,
        total: 10,
        shardsCompleted: 0,
        shardCount: 2,
      });
    }
    await waitFor(() => feed.metrics().frames === 2, { what: 'the trailing frame' });
    await new Promise((r) => setTimeout(r, 400));
    const got = await frames('ws-t');
    expect(got.map((e) => (e.data as unknown as { run: { passed: number } }).run.passed)).toEqual([
      1, 10,
    ]);
    expect(feed.metrics().throttled).toBe(8);
  });

  it('drops a pending progress frame once the run is done', async () => {
    const runId = randomUUID();
    const { feed, frames } = setup(new Map([[runId, info('ws-d')]]), 300);
    const p = { failed: 0, total: 10, shardsCompleted: 0, shardCount: 2 };
    await feed.events.emit(runId, 'progress', { ...p, passed: 1 });
    await feed.events.emit(runId, 'progress', { ...p, passed: 2 });
    await feed.events.emit(runId, 'done', {
      status: 'aborted',
      passed: 2,
      failed: 0,
      total: 10,
      durationMs: 1,
    });
    await new Promise((r) => setTimeout(r, 400));
    const got = await frames('ws-d');
    expect(got.map((e) => (e.data as { change: string }).change)).toEqual(['progress', 'done']);
  });

  it('never fails the run event when the run cannot be read; reads a run once', async () => {
    const runId = randomUUID();
    const { feed, lookups } = setup(new Map([[runId, info('ws-e')]]));
    // A run never begun: its history starts in a rebuilt epoch, high; the emit still succeeds.
    expect(await feed.events.emit('boom', 'status', { status: 'running' })).toBeGreaterThan(0);
    await waitFor(() => feed.metrics().errors === 1, { what: 'the lookup error counted' });
    await feed.events.emit(runId, 'status', { status: 'running' });
    await feed.events.emit(runId, 'log', { level: 'info', message: 'not reported' });
    await feed.events.emit(runId, 'done', {
      status: 'completed',
      passed: 0,
      failed: 0,
      total: 10,
      durationMs: 1,
    });
    await waitFor(() => feed.metrics().frames === 2, { what: 'two frames' });
    expect(lookups()).toBe(2);
  });
});
