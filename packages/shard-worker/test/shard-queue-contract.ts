import { randomUUID } from 'node:crypto';
import { waitFor } from '@x/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ShardJobError } from '../src/shard-job-error.js';
import { SHUTDOWN_REASON, type ShardJob, type ShardQueue } from '../src/shard-queue.js';
import type { ShardJobData } from '../src/test-schemas.js';

export function jobData(runId: string, shardIndex: number, shardCount = 1): ShardJobData {
  return {
    runId,
    workspaceId: 'ws',
    shardIndex,
    shardCount,
    executor: 'demo',
    callbackUrl: null,
    tests: [],
  };
}

const ONCE = { attempts: 1, backoffMs: 10 };

/** The behaviour every ShardQueue implementation must share. */
export function shardQueueContract(label: string, makeQueue: () => Promise<ShardQueue>) {
  describe(`ShardQueue contract: ${label}`, () => {
    let queue: ShardQueue;
    beforeEach(async () => {
      queue = await makeQueue();
    });
    afterEach(async () => {
      await queue.close();
    });

    it('delivers each added job once with attempt 1, and ignores a duplicate id', async () => {
      const runId = randomUUID();
      const seen: ShardJob[] = [];
      await queue.add([jobData(runId, 0, 2), jobData(runId, 1, 2)], ONCE);
      await queue.add([jobData(runId, 0, 2)], ONCE);
      const consumer = queue.consume(async (job) => {
        seen.push(job);
      });
      await waitFor(() => seen.length === 2, { what: 'two deliveries' });
      await new Promise((r) => setTimeout(r, 100));
      expect(seen.map((j) => j.id).sort()).toEqual([`${runId}-0`, `${runId}-1`]);
      expect(seen.every((j) => j.attempt === 1 && !j.redelivered && j.maxAttempts === 1)).toBe(
        true,
      );
      expect((seen[0]!.data as ShardJobData).runId).toBe(runId);
      await consumer.close();
    });

    it('retries a failing job with backoff, counting attempts, until it succeeds', async () => {
      const runId = randomUUID();
      const attempts: { attempt: number; redelivered: boolean; at: number }[] = [];
      const consumer = queue.consume(async (job) => {
        attempts.push({ attempt: job.attempt, redelivered: job.redelivered, at: Date.now() });
        if (job.attempt < 3) throw new Error('flaky');
      });
      await queue.add([jobData(runId, 0)], { attempts: 5, backoffMs: 50 });
      await waitFor(() => attempts.length === 3, { what: 'three attempts' });
      await new Promise((r) => setTimeout(r, 250));
      expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
      expect(attempts.map((a) => a.redelivered)).toEqual([false, true, true]);
      // exponential: 50 ms then 100 ms
      expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(45);
      expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(95);
      await consumer.close();
    });

    it('gives up after the configured attempts', async () => {
      const runId = randomUUID();
      let calls = 0;
      const consumer = queue.consume(async () => {
        calls++;
        throw new Error('always');
      });
      await queue.add([jobData(runId, 0)], { attempts: 2, backoffMs: 10 });
      await waitFor(() => calls === 2, { what: 'two attempts' });
      await new Promise((r) => setTimeout(r, 300));
      expect(calls).toBe(2);
      await consumer.close();
    });

    it.each([
      ['aborted', 'run aborted'],
      ['invalid_job', 'no executor named nope on this worker'],
    ] as const)(
      'never retries a job that failed as %s, whatever attempts it has left',
      async (code, message) => {
        const runId = randomUUID();
        let calls = 0;
        const consumer = queue.consume(async () => {
          calls++;
          throw new ShardJobError(code, message);
        });
        await queue.add([jobData(runId, 0)], { attempts: 3, backoffMs: 10 });
        await waitFor(() => calls === 1, { what: 'one attempt' });
        await new Promise((r) => setTimeout(r, 300));
        expect(calls).toBe(1);
        await consumer.close();
      },
    );

    it('cancel() aborts the in-flight job’s own signal with the reason', async () => {
      const runId = randomUUID();
      let reason: unknown;
      let started = false;
      const consumer = queue.consume(async (job) => {
        started = true;
        await new Promise<void>((resolve) => {
          job.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        reason = job.signal.reason;
        throw new ShardJobError('aborted', 'stopped');
      });
      await queue.add([jobData(runId, 0)], ONCE);
      await waitFor(() => started, { what: 'job start' });
      expect(consumer.cancel(`${runId}-0`, 'user abort')).toBe(true);
      await waitFor(() => reason !== undefined, { what: 'abort seen' });
      expect(reason).toBe('user abort');
      expect(consumer.cancel('no-such-job', 'x')).toBe(false);
      await consumer.close();
    });

    it('missing names the ids held in no state: never added or finished, not waiting or active', async () => {
      const runId = randomUUID();
      const [id0, id1, id2] = [0, 1, 2].map((i) => `${runId}-${i}`) as [string, string, string];
      await queue.add([jobData(runId, 0, 3), jobData(runId, 1, 3)], ONCE);
      expect(await queue.missing([id0, id1, id2])).toEqual([id2]);
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const started = new Set<string>();
      const consumer = queue.consume(
        async (job) => {
          started.add(job.id);
          if (job.id === id1) await gate;
        },
        { concurrency: 2 },
      );
      // Job 0 finished (and is gone); job 1 is active, held by this consumer.
      await waitFor(async () => started.has(id1) && (await queue.missing([id0])).length === 1, {
        what: 'job 0 finished while job 1 runs',
      });
      expect(await queue.missing([id0, id1, id2])).toEqual([id0, id2]);
      expect(await queue.missing([])).toEqual([]);
      release();
      await consumer.close(1_000);
    });

    it('removeWaiting removes a run’s waiting and delayed jobs and nothing else', async () => {
      const runA = randomUUID();
      const runB = randomUUID();
      await queue.add([jobData(runA, 0, 2), jobData(runA, 1, 2), jobData(runB, 0)], ONCE);
      expect(await queue.removeWaiting(runA, 2)).toBe(2);
      const seen: string[] = [];
      const consumer = queue.consume(async (job) => {
        seen.push(job.id);
      });
      await waitFor(() => seen.length === 1, { what: 'run B delivered' });
      await new Promise((r) => setTimeout(r, 150));
      expect(seen).toEqual([`${runB}-0`]);
      await consumer.close();
    });

    it('removeWaiting removes a job waiting out its retry backoff (delayed)', async () => {
      const runId = randomUUID();
      let calls = 0;
      const consumer = queue.consume(async () => {
        calls++;
        throw new Error('flaky');
      });
      await queue.add([jobData(runId, 0)], { attempts: 3, backoffMs: 400 });
      await waitFor(() => calls === 1, { what: 'first attempt' });
      // 0 while the attempt is still active; 1 once it waits out its backoff.
      await waitFor(async () => (await queue.removeWaiting(runId, 1)) === 1, {
        what: 'the delayed retry removed',
        intervalMs: 10,
      });
      await new Promise((r) => setTimeout(r, 600));
      expect(calls).toBe(1);
      await consumer.close();
    });

    it('removeWaiting leaves finished jobs alone: a failed job is neither counted nor removed', async () => {
      const runId = randomUUID();
      const other = randomUUID();
      const seen: string[] = [];
      const consumer = queue.consume(async (job) => {
        seen.push(job.id);
        if (job.id === `${runId}-0`) throw new ShardJobError('aborted', 'run aborted');
      });
      await queue.add([jobData(runId, 0, 2), jobData(other, 0)], ONCE);
      // One job at a time, in order: the next one starts after the first has failed.
      await waitFor(() => seen.length === 2, { what: 'both delivered' });
      expect(await queue.removeWaiting(runId, 2)).toBe(0);
      await consumer.close();
    });

    it('runs at most `concurrency` jobs at once per consumer', async () => {
      const runId = randomUUID();
      let active = 0;
      let peak = 0;
      let done = 0;
      const consumer = queue.consume(
        async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 40));
          active--;
          done++;
        },
        { concurrency: 2 },
      );
      await queue.add(
        Array.from({ length: 6 }, (_, i) => jobData(runId, i, 6)),
        ONCE,
      );
      await waitFor(() => done === 6, { what: 'six jobs' });
      expect(peak).toBe(2);
      await consumer.close();
    });

    it('close(deadline) lets an in-flight job finish within the deadline', async () => {
      const runId = randomUUID();
      let finished = false;
      let started = false;
      const consumer = queue.consume(async () => {
        started = true;
        await new Promise((r) => setTimeout(r, 100));
        finished = true;
      });
      await queue.add([jobData(runId, 0)], ONCE);
      await waitFor(() => started, { what: 'start' });
      await consumer.close(5_000);
      expect(finished).toBe(true);
    });

    it('close(deadline) aborts a job past the deadline and requeues it without spending an attempt', async () => {
      const runId = randomUUID();
      const deliveries: { attempt: number; redelivered: boolean }[] = [];
      let abortReason: unknown;
      const first = queue.consume(async (job) => {
        deliveries.push({ attempt: job.attempt, redelivered: job.redelivered });
        await new Promise<void>((resolve) => {
          job.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        abortReason = job.signal.reason;
        throw new Error('interrupted');
      });
      await queue.add([jobData(runId, 0)], { attempts: 1, backoffMs: 10 });
      await waitFor(() => deliveries.length === 1, { what: 'first delivery' });
      await first.close(50);
      expect(abortReason).toBe(SHUTDOWN_REASON);
      const second = queue.consume(async (job) => {
        deliveries.push({ attempt: job.attempt, redelivered: job.redelivered });
      });
      await waitFor(() => deliveries.length === 2, { what: 'redelivery' });
      expect(deliveries[1]).toEqual({ attempt: 1, redelivered: true });
      await second.close();
    });
  });
}
