import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { demoExecutor, httpExecutor, partition, type TestResult } from '../src/index.js';

const run = { id: 'r', workspaceId: 'w', executor: 'demo' };

describe('demo executor', () => {
  it('stops a test on the abort itself, not on a later timer, with the abort’s reason', async () => {
    const controller = new AbortController();
    let stoppedWith: unknown;
    const running = demoExecutor()
      .execute({
        run,
        shardIndex: 0,
        tests: [{ testId: 't0', test: { name: 'long', durationMs: 600_000 } }],
        attempt: 1,
        signal: controller.signal,
        emit: () => {},
      })
      .catch((e: unknown) => {
        stoppedWith = e;
      });
    await new Promise((r) => setTimeout(r, 5));
    const reason = new Error('stop');
    controller.abort(reason);
    // The kernel's sleep rejects from the abort listener, so the test settles in the
    // microtasks that follow, before the event loop reaches any timer or I/O callback
    // (setImmediate runs after those): "within 1 ms" without timing a loaded machine.
    await new Promise((r) => setImmediate(r));
    expect(stoppedWith).toBe(reason);
    await running;
  });
  it('reports outcomes and fails its first failAttempts attempts', async () => {
    const exec = demoExecutor();
    const tests = [
      { testId: 't0', test: { name: 'a', durationMs: 0 } },
      {
        testId: 't1',
        test: { name: 'b', durationMs: 0, outcome: 'fail' as const, failAttempts: 1 },
      },
    ];
    const emitted: TestResult[] = [];
    const signal = new AbortController().signal;
    await expect(
      exec.execute({ run, shardIndex: 0, tests, attempt: 1, signal, emit: (r) => emitted.push(r) }),
    ).rejects.toThrow(/fails attempt 1/);
    const results = await exec.execute({
      run,
      shardIndex: 0,
      tests,
      attempt: 2,
      signal,
      emit: () => {},
    });
    expect(results.map((r) => r.status)).toEqual(['passed', 'failed']);
  });
});

describe('http executor', () => {
  it('checks status, refuses private hosts unless allowed, and never follows redirects', async () => {
    const server = createServer((req, res) => {
      if (req.url === '/redirect') res.writeHead(301, { location: '/ok' }).end();
      else res.writeHead(req.url === '/ok' ? 200 : 500).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const tests = [
      { testId: 'a', test: { name: 'ok', url: `${base}/ok` } },
      { testId: 'b', test: { name: 'err', url: `${base}/err` } },
      { testId: 'c', test: { name: 'redir', url: `${base}/redirect`, expectStatus: 301 } },
    ];
    const signal = new AbortController().signal;
    const allowed = httpExecutor({ allowedHosts: ['127.0.0.1'] });
    const results = await allowed.execute({
      run,
      shardIndex: 0,
      tests,
      attempt: 1,
      signal,
      emit: () => {},
    });
    expect(results.map((r) => r.status)).toEqual(['passed', 'failed', 'passed']);
    expect(results[1]!.error).toBe('expected status 200, got 500');
    const strict = httpExecutor({ allowedHosts: [] });
    const refused = await strict.execute({
      run,
      shardIndex: 0,
      tests: tests.slice(0, 1),
      attempt: 1,
      signal,
      emit: () => {},
    });
    // The public answer only; the resolved address is for the log.
    expect(refused[0]!.error).toBe('address not allowed');
    server.close();
  });
});

describe('partition', () => {
  it('is deterministic and balances known durations longest-first', () => {
    const tests = [50, 10, 40, 30, 20, 60].map((durationMs) => ({ durationMs }));
    const a = partition(tests, 2);
    expect(a).toEqual(partition(tests, 2));
    const load = a.map((s) => s.reduce((sum, i) => sum + tests[i]!.durationMs, 0));
    expect(load).toEqual([110, 100]);
  });
  it('deals round-robin when any duration is unknown, and never makes more shards than tests', () => {
    expect(partition([{}, {}, {}, {}, {}], 2)).toEqual([
      [0, 2, 4],
      [1, 3],
    ]);
    expect(partition([{}, {}], 4)).toEqual([[0], [1]]);
    expect(partition([], 4)).toEqual([[]]);
  });
  it('spreads zero-duration tests evenly', () => {
    expect(
      partition(
        Array.from({ length: 8 }, () => ({ durationMs: 0 })),
        4,
      ).map((s) => s.length),
    ).toEqual([2, 2, 2, 2]);
  });
});
