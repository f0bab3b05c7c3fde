import { randomUUID } from 'node:crypto';
import { uniqueName, waitFor } from '@x/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createStopJobsConsumer,
  requestStop,
  type StopJobsConsumer,
  type StopJobsConsumerOptions,
  StopJobsError,
  type StopJobsRedis,
  type StopService,
} from '../src/index.js';
import { CountingService, MemoryRunStates, ThrowingService } from './support/services.js';
import {
  pendingCount,
  readResults,
  readStream,
  resultsLength,
  streamsOf,
} from './support/streams.js';

/** A Redis (one server or a cluster) for one run of the suite, shared by its tests. */
export interface StopJobsHarness {
  readonly redis: StopJobsRedis;
  close(): Promise<void>;
}

/**
 * The consumer's and requestStop's contract, run against every kind of Redis the apps use:
 * one server (names unchanged) and a Redis Cluster (the three streams in one slot). Each test
 * has its own prefix, so the tests of one file share the server.
 */
export function consumerContract(name: string, start: () => Promise<StopJobsHarness>): void {
  describe(`stop-jobs consumer (${name})`, () => {
    let harness: StopJobsHarness;
    let redis: StopJobsRedis;
    const consumers: StopJobsConsumer[] = [];
    const stopJobsStreams = (prefix: string) => streamsOf(redis, prefix);

    beforeAll(async () => {
      harness = await start();
      redis = harness.redis;
    });
    afterEach(async () => {
      await Promise.all(consumers.splice(0).map((c) => c.close()));
    });
    afterAll(async () => {
      await harness?.close();
    });

    async function startConsumer(
      opts: Partial<StopJobsConsumerOptions> & Pick<StopJobsConsumerOptions, 'prefix' | 'service'>,
    ) {
      const consumer = createStopJobsConsumer({
        redis,
        consumerName: uniqueName('c'),
        blockMs: 200,
        ...opts,
      });
      consumers.push(consumer);
      await consumer.start();
      return consumer;
    }

    async function addRaw(prefix: string, fields: string[]): Promise<string> {
      return String(await redis.xadd(stopJobsStreams(prefix).jobs, '*', ...fields));
    }

    it('handles a backlog in batches and publishes one result per entry', async () => {
      const prefix = uniqueName('sj');
      const ids = await Promise.all(
        Array.from({ length: 300 }, () =>
          requestStop(redis, { prefix }, { runId: randomUUID(), reason: 'user_request' }),
        ),
      );
      const consumer = await startConsumer({ prefix, service: new CountingService(), count: 128 });
      await waitFor(async () => (await resultsLength(redis, prefix)) === 300, {
        what: '300 results',
      });
      const results = await readResults(redis, prefix);
      expect(results.map((r) => r.source_entry_id).sort()).toEqual([...ids].sort());
      expect(results.every((r) => r.outcome === 'success' && r.final_status === 'aborted')).toBe(
        true,
      );
      expect(await pendingCount(redis, prefix)).toBe(0);
      const metrics = consumer.metrics();
      expect(metrics.batches.max).toBe(128);
      expect(metrics.batches.sum).toBe(300);
      expect(metrics.handled.success).toBe(300);
    });

    it('hands the service the decoded job with its entry id and delivery count', async () => {
      const prefix = uniqueName('sj');
      const service = new CountingService();
      await startConsumer({ prefix, service });
      const runId = randomUUID();
      const entryId = await requestStop(
        redis,
        { prefix },
        { runId, reason: 'admin_request', requestedBy: 'ops@example', requestedAtMs: 1234 },
      );
      await waitFor(() => service.jobs.length === 1);
      expect(service.jobs[0]).toEqual({
        runId,
        reason: 'admin_request',
        requestedAtMs: 1234,
        requestedBy: 'ops@example',
        entryId,
        deliveryCount: 1,
      });
    });

    it('answers poison entries with invalid_envelope and handles the good ones between them', async () => {
      const prefix = uniqueName('sj');
      const good = [randomUUID(), randomUUID(), randomUUID()];
      const service = new MemoryRunStates(Object.fromEntries(good.map((id) => [id, 'running'])));
      const g1 = await addRaw(prefix, ['run_id', good[0]!, 'reason', 'timeout']);
      const missing = await addRaw(prefix, ['run_id', randomUUID()]);
      const g2 = await addRaw(prefix, ['run_id', good[1]!, 'reason', 'user_request']);
      const unknownReason = await addRaw(prefix, ['run_id', randomUUID(), 'reason', 'because']);
      const badUuid = await addRaw(prefix, ['run_id', 'not-a-uuid', 'reason', 'timeout']);
      const badMillis = await addRaw(prefix, [
        'run_id',
        randomUUID(),
        'reason',
        'timeout',
        'requested_at_ms',
        'yesterday',
      ]);
      const g3 = await addRaw(prefix, ['run_id', good[2]!, 'reason', 'shutdown']);
      const consumer = await startConsumer({ prefix, service });
      await waitFor(async () => (await resultsLength(redis, prefix)) === 7, { what: '7 results' });
      const byEntry = new Map(
        (await readResults(redis, prefix)).map((r) => [r.source_entry_id, r]),
      );
      for (const id of [g1, g2, g3])
        expect(byEntry.get(id)).toMatchObject({ outcome: 'success', error_code: '' });
      for (const [id, field] of [
        [missing, 'reason'],
        [unknownReason, 'reason'],
        [badUuid, 'run_id'],
        [badMillis, 'requested_at_ms'],
      ] as const) {
        expect(byEntry.get(id)).toMatchObject({
          outcome: 'failure',
          error_code: 'invalid_envelope',
        });
        expect(byEntry.get(id)?.error_message).toContain(field);
      }
      expect(service.calls.map((c) => c.runId)).toEqual(good);
      expect(consumer.metrics().invalid).toBe(4);
      expect(await pendingCount(redis, prefix)).toBe(0);
    });

    it('answers replay_no_op when the same run is stopped twice, and not_found for an unknown run', async () => {
      const prefix = uniqueName('sj');
      const runId = randomUUID();
      const service = new MemoryRunStates({ [runId]: 'running' });
      await startConsumer({ prefix, service });
      const first = await requestStop(redis, { prefix }, { runId, reason: 'user_request' });
      const second = await requestStop(redis, { prefix }, { runId, reason: 'admin_request' });
      const unknown = await requestStop(
        redis,
        { prefix },
        { runId: randomUUID(), reason: 'timeout' },
      );
      await waitFor(async () => (await resultsLength(redis, prefix)) === 3);
      const byEntry = new Map(
        (await readResults(redis, prefix)).map((r) => [r.source_entry_id, r]),
      );
      expect(byEntry.get(first)).toMatchObject({
        outcome: 'success',
        error_code: '',
        final_status: 'aborted',
      });
      expect(byEntry.get(second)).toMatchObject({
        outcome: 'success',
        error_code: 'replay_no_op',
        final_status: 'aborted',
      });
      expect(byEntry.get(unknown)).toMatchObject({ outcome: 'failure', error_code: 'not_found' });
    });

    it('dead-letters an entry whose service call fails maxDeliveries times, with its count and last error', async () => {
      const prefix = uniqueName('sj');
      const service = new ThrowingService('database is down');
      const consumer = await startConsumer({
        prefix,
        service,
        maxDeliveries: 3,
        claimMinIdleMs: 30,
        claimIntervalMs: 20,
      });
      const runId = randomUUID();
      const entryId = await requestStop(redis, { prefix }, { runId, reason: 'timeout' });
      await waitFor(async () => (await redis.xlen(stopJobsStreams(prefix).dead)) === 1, {
        what: 'a dead letter',
      });
      const [dead] = await readStream(redis, stopJobsStreams(prefix).dead);
      expect(dead?.fields).toMatchObject({
        source_entry_id: entryId,
        delivery_count: '3',
        last_error: 'database is down',
      });
      expect(JSON.parse(dead!.fields.entry!)).toMatchObject({ run_id: runId, reason: 'timeout' });
      expect(service.deliveryCounts).toEqual([1, 2, 3]);
      const [result] = await readResults(redis, prefix);
      expect(result).toMatchObject({
        source_entry_id: entryId,
        outcome: 'failure',
        error_code: 'internal',
      });
      expect(result?.error_message).toMatch(/3 deliveries: database is down/);
      expect(await pendingCount(redis, prefix)).toBe(0);
      expect(consumer.metrics()).toMatchObject({ deadLettered: 1, errors: { service: 3 } });
    });

    it('gives up on a hung stop call at serviceTimeoutMs, aborting its signal, and dead-letters it in the end', async () => {
      const prefix = uniqueName('sj');
      const signals: AbortSignal[] = [];
      const hung: StopService = {
        stop: (_job, { signal }) => {
          signals.push(signal);
          return new Promise(() => {});
        },
      };
      await startConsumer({
        prefix,
        service: hung,
        serviceTimeoutMs: 100,
        maxDeliveries: 2,
        claimMinIdleMs: 30,
        claimIntervalMs: 20,
      });
      const entryId = await requestStop(
        redis,
        { prefix },
        { runId: randomUUID(), reason: 'timeout' },
      );
      await waitFor(async () => (await redis.xlen(stopJobsStreams(prefix).dead)) === 1, {
        what: 'a dead letter',
      });
      const [dead] = await readStream(redis, stopJobsStreams(prefix).dead);
      expect(dead?.fields).toMatchObject({ source_entry_id: entryId, delivery_count: '2' });
      expect(dead?.fields.last_error).toMatch(/timed out after 100 ms/);
      expect(signals).toHaveLength(2);
      expect(signals.every((s) => s.aborted)).toBe(true);
    });

    it('retries an entry whose service call failed, and publishes its result once it succeeds', async () => {
      const prefix = uniqueName('sj');
      const service = new CountingService({ failFirst: 1 });
      await startConsumer({ prefix, service, claimMinIdleMs: 30, claimIntervalMs: 20 });
      const entryId = await requestStop(
        redis,
        { prefix },
        { runId: randomUUID(), reason: 'timeout' },
      );
      await waitFor(async () => (await resultsLength(redis, prefix)) === 1);
      expect(service.jobs.map((j) => j.deliveryCount)).toEqual([1, 2]);
      expect(await readResults(redis, prefix)).toMatchObject([
        { source_entry_id: entryId, outcome: 'success' },
      ]);
    });

    it('dead-letters an entry that keeps coming back without an outcome (its consumers died)', async () => {
      const prefix = uniqueName('sj');
      const { jobs } = stopJobsStreams(prefix);
      await redis.call('XGROUP', 'CREATE', jobs, 'stop-jobs', '0', 'MKSTREAM');
      const entryId = await requestStop(
        redis,
        { prefix },
        { runId: randomUUID(), reason: 'timeout' },
      );
      // Five deliveries to consumers that never answer: one read, four claims.
      await redis.call('XREADGROUP', 'GROUP', 'stop-jobs', 'ghost0', 'STREAMS', jobs, '>');
      for (let i = 1; i < 5; i++)
        await redis.call('XCLAIM', jobs, 'stop-jobs', `ghost${i}`, 0, entryId);
      const service = new CountingService();
      await startConsumer({ prefix, service, maxDeliveries: 5, claimMinIdleMs: 1 });
      await waitFor(async () => (await redis.xlen(stopJobsStreams(prefix).dead)) === 1);
      const [dead] = await readStream(redis, stopJobsStreams(prefix).dead);
      expect(dead?.fields).toMatchObject({ source_entry_id: entryId, delivery_count: '6' });
      expect(dead?.fields.last_error).toMatch(/without an outcome/);
      expect(service.calls).toBe(0);
    });

    it('renews its hold on a batch slower than claimMinIdleMs, so no other consumer claims it', async () => {
      const prefix = uniqueName('sj');
      const slow = new CountingService({ delayMs: 80 });
      const idle = { claimMinIdleMs: 300, claimIntervalMs: 50 };
      await Promise.all(
        Array.from({ length: 10 }, () =>
          requestStop(redis, { prefix }, { runId: randomUUID(), reason: 'timeout' }),
        ),
      );
      const holder = await startConsumer({ prefix, service: slow, concurrency: 1, ...idle });
      await waitFor(() => slow.calls >= 1);
      const other = new CountingService();
      await startConsumer({ prefix, service: other, ...idle });
      await waitFor(async () => (await resultsLength(redis, prefix)) === 10, {
        what: '10 results',
      });
      await new Promise((r) => setTimeout(r, 400));
      expect(slow.calls).toBe(10);
      expect(other.calls).toBe(0);
      expect(await resultsLength(redis, prefix)).toBe(10);
      expect(holder.metrics().leaseRenewals).toBeGreaterThan(0);
    });

    it('re-reads its own pending entries first after a restart under the same name', async () => {
      const prefix = uniqueName('sj');
      const { jobs } = stopJobsStreams(prefix);
      await redis.call('XGROUP', 'CREATE', jobs, 'stop-jobs', '0', 'MKSTREAM');
      const ids = await Promise.all(
        Array.from({ length: 5 }, () =>
          requestStop(redis, { prefix }, { runId: randomUUID(), reason: 'shutdown' }),
        ),
      );
      // The previous life of "w1" read them and died before acknowledging.
      await redis.call('XREADGROUP', 'GROUP', 'stop-jobs', 'w1', 'STREAMS', jobs, '>');
      const service = new CountingService();
      const consumer = await startConsumer({
        prefix,
        service,
        consumerName: 'w1',
        claimMinIdleMs: 600_000,
      });
      await waitFor(async () => (await resultsLength(redis, prefix)) === 5);
      expect(service.jobs.map((j) => j.entryId)).toEqual(ids);
      expect(service.jobs.every((j) => j.deliveryCount === 2)).toBe(true);
      expect(consumer.metrics().claimed).toBe(0);
    });

    it('does not handle acknowledged entries again after a restart', async () => {
      const prefix = uniqueName('sj');
      const service = new CountingService();
      const first = await startConsumer({ prefix, service, consumerName: 'w1' });
      await Promise.all(
        Array.from({ length: 50 }, () =>
          requestStop(redis, { prefix }, { runId: randomUUID(), reason: 'timeout' }),
        ),
      );
      await waitFor(async () => (await resultsLength(redis, prefix)) === 50);
      await first.close();
      await startConsumer({ prefix, service, consumerName: 'w1', claimMinIdleMs: 1 });
      await startConsumer({ prefix, service, consumerName: 'w2', claimMinIdleMs: 1 });
      const late = await requestStop(redis, { prefix }, { runId: randomUUID(), reason: 'timeout' });
      await waitFor(async () => (await resultsLength(redis, prefix)) === 51);
      await new Promise((r) => setTimeout(r, 300));
      expect(service.calls).toBe(51);
      expect([...service.perEntry.values()].every((n) => n === 1)).toBe(true);
      expect(service.perEntry.has(late)).toBe(true);
    });

    it('recreates the group and keeps consuming after the stream is deleted (NOGROUP)', async () => {
      const prefix = uniqueName('sj');
      const service = new CountingService();
      const consumer = await startConsumer({ prefix, service });
      await requestStop(redis, { prefix }, { runId: randomUUID(), reason: 'timeout' });
      await waitFor(() => service.calls === 1);
      await redis.del(stopJobsStreams(prefix).jobs);
      const after = await requestStop(
        redis,
        { prefix },
        { runId: randomUUID(), reason: 'timeout' },
      );
      await waitFor(() => service.perEntry.has(after), {
        what: 'the entry written after the delete',
      });
      expect(consumer.metrics().groupsCreated).toBe(2);
    });

    it('finishes and acknowledges the batch in hand when closed, then stops reading', async () => {
      const prefix = uniqueName('sj');
      const service = new CountingService({ delayMs: 30 });
      await Promise.all(
        Array.from({ length: 10 }, () =>
          requestStop(redis, { prefix }, { runId: randomUUID(), reason: 'shutdown' }),
        ),
      );
      const consumer = await startConsumer({ prefix, service, concurrency: 1 });
      await waitFor(() => service.calls >= 1);
      await consumer.close();
      expect(service.calls).toBe(10);
      expect(await resultsLength(redis, prefix)).toBe(10);
      expect(await pendingCount(redis, prefix)).toBe(0);
      await requestStop(redis, { prefix }, { runId: randomUUID(), reason: 'shutdown' });
      await new Promise((r) => setTimeout(r, 300));
      expect(service.calls).toBe(10);
    });

    it('closes promptly while blocked on an empty stream', async () => {
      const consumer = await startConsumer({
        prefix: uniqueName('sj'),
        service: new CountingService(),
        blockMs: 10_000,
      });
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      await consumer.close();
      expect(Date.now() - started).toBeLessThan(1000);
    });

    it('stops consuming when its signal aborts', async () => {
      const prefix = uniqueName('sj');
      const service = new CountingService();
      const controller = new AbortController();
      await startConsumer({ prefix, service, signal: controller.signal });
      await requestStop(redis, { prefix }, { runId: randomUUID(), reason: 'shutdown' });
      await waitFor(() => service.calls === 1);
      controller.abort();
      await new Promise((r) => setTimeout(r, 100));
      await requestStop(redis, { prefix }, { runId: randomUUID(), reason: 'shutdown' });
      await new Promise((r) => setTimeout(r, 400));
      expect(service.calls).toBe(1);
    });

    it('trims the results stream to about maxLen', async () => {
      const prefix = uniqueName('sj');
      await Promise.all(
        Array.from({ length: 1000 }, () =>
          requestStop(redis, { prefix, maxLen: 200 }, { runId: randomUUID(), reason: 'timeout' }),
        ),
      );
      expect(await redis.xlen(stopJobsStreams(prefix).jobs)).toBeLessThan(400);
      const consumer = await startConsumer({ prefix, service: new CountingService(), maxLen: 200 });
      await waitFor(
        () =>
          consumer.metrics().handled.success >= (consumer.metrics().read || 1) &&
          consumer.metrics().read > 0,
      );
      expect(await resultsLength(redis, prefix)).toBeLessThan(400);
    });

    it('refuses a stop job outside the contract in requestStop', async () => {
      const error = await requestStop(
        redis,
        { prefix: 'x' },
        { runId: 'nope', reason: 'timeout' },
      ).catch((e) => e);
      expect(error).toBeInstanceOf(StopJobsError);
      expect(error.code).toBe('invalid_job');
      expect(error.message).toContain('run_id');
    });

    it('refuses bad options naming the option', () => {
      expect(() =>
        createStopJobsConsumer({
          redis,
          prefix: 'x',
          service: new CountingService(),
          consumerName: 'c',
          count: 0,
        }),
      ).toThrow(/count/);
    });
  });
}
