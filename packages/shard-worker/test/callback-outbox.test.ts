import { randomBytes } from 'node:crypto';
import { createRunStore, migrate, openPostgres, type RunStore } from '@x/run-store';
import { freePort, postgres, type TestDatabase, uniqueName, waitFor } from '@x/testkit';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type CallbackOutbox,
  createCallbackOutbox,
  createCallbackSender,
  deliverOwnCallback,
} from '../src/index.js';
import { type CallbackReceiver, callbackReceiver } from './callback-receiver.js';
import { sleep } from './helpers.js';

/** A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

let database: TestDatabase;
let db: ReturnType<typeof openPostgres>;
let store: RunStore;
let rx: CallbackReceiver;
const outboxes: CallbackOutbox[] = [];

beforeAll(async () => {
  [database, rx] = await Promise.all([postgres('shard-worker-outbox'), callbackReceiver()]);
  db = openPostgres(database.url, { max: 6 });
  await migrate(db);
  store = createRunStore(db);
});
afterEach(async () => {
  await Promise.all(outboxes.splice(0).map((o) => o.close()));
  rx.reply = () => 204;
});
afterAll(async () => {
  await rx.close();
  await db.destroy();
  await database.close();
});

const sender = (retry = {}) =>
  createCallbackSender({ allowedHosts: [rx.host], timeoutMs: 2_000, retry });

function outbox(opts: Partial<Parameters<typeof createCallbackOutbox>[0]> = {}) {
  const o = createCallbackOutbox({ store, sender: sender(), intervalMs: 50, ...opts });
  outboxes.push(o);
  return o;
}

/** A run that reached `status` (its callback now pending in the outbox), as a finalizer leaves it. */
async function terminalRun(
  status: 'completed' | 'failed' | 'aborted' = 'completed',
  url = rx.url,
  workspaceId = uniqueName('ws'),
) {
  const run = await store.createRun({
    workspaceId,
    executor: 'demo',
    callbackUrl: url,
    shards: [{ testIds: ['a', 'b'] }],
  });
  await store.transition(run.id, ['queued'], 'running');
  if (status === 'completed') {
    await store.completeShardWithResults(run.id, 0, 1, { passed: 1, failed: 1, skipped: 0 }, []);
    await store.finalizeRun(run.id);
  } else {
    await store.transition(run.id, ['running'], status, { error: `run ${status}` });
  }
  return run.id;
}

describe('callback outbox (PostgreSQL, loopback receiver)', () => {
  it('the winner delivers its own callback once, with Idempotency-Key and X-Run-Id = run id', async () => {
    const runId = await terminalRun();
    const s = sender();
    expect(await deliverOwnCallback(store, s, runId)).toBe('sent');
    expect(await deliverOwnCallback(store, s, runId)).toBe('not_claimed');
    expect(rx.of(runId)).toMatchObject([
      {
        runId,
        idempotencyKey: runId,
        xRunId: runId,
        body: { runId, status: 'completed', passed: 1, failed: 1, total: 2, error: null },
      },
    ]);
    expect(await store.getCallback(runId)).toMatchObject({ state: 'sent', attempts: 1 });
  });

  it('signs every attempt with the workspace secret (Standard Webhooks): the verifier accepts it, the webhook-id is stable across retries, a tampered body is rejected', async () => {
    const workspace = uniqueName('signed');
    const runId = await terminalRun('completed', rx.url, workspace);
    rx.reply = (id, n) => (id === runId && n < 2 ? 503 : 204);
    const s = createCallbackSender({
      allowedHosts: [rx.host],
      retry: { baseDelayMs: 50, maxDelayMs: 100 },
      secrets: new Map([[workspace, SECRET]]),
    });
    expect(await deliverOwnCallback(store, s, runId)).toBe('retry');
    await sleep(150);
    expect(await deliverOwnCallback(store, s, runId)).toBe('sent');
    const seen = rx.of(runId);
    expect(seen).toHaveLength(2);
    const verifier = new Webhook(SECRET);
    for (const r of seen) {
      expect(r.webhook['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      expect(verifier.verify(r.raw, r.webhook)).toEqual(r.body);
    }
    // The outbox entry's id, on every attempt: receivers drop repeats by it.
    expect(seen.map((r) => r.webhook['webhook-id'])).toEqual([runId, runId]);
    const tampered = seen[1]!.raw.replace('"passed":1', '"passed":2');
    expect(tampered).not.toBe(seen[1]!.raw);
    expect(() => verifier.verify(tampered, seen[1]!.webhook)).toThrow(WebhookVerificationError);
    // Another workspace's secret does not verify it either.
    const other = new Webhook(`whsec_${randomBytes(32).toString('base64')}`);
    expect(() => other.verify(seen[1]!.raw, seen[1]!.webhook)).toThrow(WebhookVerificationError);
    expect(s.metrics()).toMatchObject({ unsigned: 0, sent: 1 });
  });

  it('a workspace without a secret gets its callback unsigned, counted', async () => {
    const runId = await terminalRun();
    const s = createCallbackSender({
      allowedHosts: [rx.host],
      secrets: new Map([['someone-else', SECRET]]),
    });
    expect(await deliverOwnCallback(store, s, runId)).toBe('sent');
    expect(rx.of(runId)[0]?.webhook).toEqual({});
    expect(s.metrics()).toMatchObject({ unsigned: 1, sent: 1 });
  });

  it('a malformed secret refuses to build the sender, naming the workspace only', () => {
    expect(() =>
      createCallbackSender({ secrets: new Map([['acme', 'whsec_not base64!']]) }),
    ).toThrow(/workspace acme/);
  });

  it('a failed POST is retried with backoff by the sweep, same key, until it lands', async () => {
    const runId = await terminalRun('failed');
    rx.reply = (id, n) => (id === runId && n < 3 ? 503 : 204);
    const s = sender({ baseDelayMs: 100, maxDelayMs: 400 });
    expect(await deliverOwnCallback(store, s, runId)).toBe('retry');
    expect(await store.getCallback(runId)).toMatchObject({
      state: 'pending',
      attempts: 1,
      error: 'callback answered 503',
    });
    const o = outbox({ sender: s, graceMs: 60_000 });
    o.start();
    await waitFor(async () => (await store.getCallback(runId))?.state === 'sent', {
      what: 'callback sent after retries',
    });
    const seen = rx.of(runId);
    expect(seen).toHaveLength(3);
    expect(new Set(seen.map((r) => r.idempotencyKey))).toEqual(new Set([runId]));
    expect(seen[0]?.body).toMatchObject({ status: 'failed', error: 'run failed' });
    expect(o.metrics()).toMatchObject({ sent: 1, retried: 1 });
  });

  it('gives up after maxAttempts with the last error; a refused URL fails at once', async () => {
    const runId = await terminalRun('aborted');
    rx.reply = () => 500;
    const s = sender({ maxAttempts: 2, baseDelayMs: 0, maxDelayMs: 0 });
    const o = outbox({ sender: s, graceMs: 0 });
    await waitFor(
      async () => {
        await o.sweep();
        return (await store.getCallback(runId))?.state === 'failed';
      },
      { what: 'callback failed' },
    );
    expect(await store.getCallback(runId)).toMatchObject({
      attempts: 2,
      error: 'callback answered 500',
    });
    expect(rx.of(runId)).toHaveLength(2);

    const refused = await terminalRun('completed', 'http://10.0.0.1/cb');
    expect(await deliverOwnCallback(store, s, refused)).toBe('failed');
    expect((await store.getCallback(refused))?.state).toBe('failed');
  });

  it('a pending callback nobody sent (its writer died) is swept after the grace period', async () => {
    const runId = await terminalRun();
    const o = outbox({ graceMs: 400 });
    o.start();
    await sleep(200);
    expect(rx.of(runId)).toHaveLength(0);
    await waitFor(() => rx.of(runId).length === 1, { what: 'swept callback' });
    await waitFor(async () => (await store.getCallback(runId))?.state === 'sent', {
      what: 'marked sent',
    });
    expect(rx.of(runId)[0]?.idempotencyKey).toBe(runId);
  });

  it('a sending callback whose claimer died is taken over after the lease, exactly once across two sweepers', async () => {
    const runIds = await Promise.all(Array.from({ length: 6 }, () => terminalRun()));
    // Claim them all as a sender that then dies without posting.
    for (const id of runIds) expect(await store.claimCallbacks({ runId: id })).toHaveLength(1);
    const a = outbox({ leaseMs: 600, graceMs: 0, batchSize: 2 });
    const b = outbox({ leaseMs: 600, graceMs: 0, batchSize: 2 });
    a.start();
    b.start();
    await sleep(300);
    expect(runIds.every((id) => rx.of(id).length === 0)).toBe(true);
    await waitFor(() => runIds.every((id) => rx.of(id).length === 1), { what: 'taken over' });
    await sleep(300);
    for (const id of runIds) {
      expect(rx.of(id)).toHaveLength(1);
      expect(await store.getCallback(id)).toMatchObject({ state: 'sent', attempts: 2 });
    }
    expect(a.metrics().sent + b.metrics().sent).toBe(runIds.length);
  });

  it('keeps sweeping through an unreachable database, counting errors, and closes promptly', async () => {
    const port = await freePort();
    const dead = openPostgres(`postgres://nobody@127.0.0.1:${port}/none`, {
      connectionTimeoutMs: 500,
    });
    try {
      const o = createCallbackOutbox({
        store: createRunStore(dead),
        sender: sender(),
        intervalMs: 20,
      });
      o.start();
      await waitFor(() => o.metrics().errors >= 2, { what: 'sweep errors counted' });
      const started = Date.now();
      await o.close();
      expect(Date.now() - started).toBeLessThan(2_000);
      const errors = o.metrics().errors;
      await sleep(200);
      expect(o.metrics().errors).toBe(errors);
    } finally {
      await dead.destroy();
    }
  });

  it('refuses bad options', () => {
    expect(() => createCallbackOutbox({ store, sender: sender(), leaseMs: 0 })).toThrow(/leaseMs/);
    expect(() => createCallbackSender({ retry: { maxAttempts: 0 } })).toThrow(/maxAttempts/);
  });
});
