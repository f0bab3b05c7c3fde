import { randomBytes } from 'node:crypto';
import { waitFor } from '@x/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadApiConfig } from '../src/config/load-config.js';
import { type CallbackReceiver, callbackReceiver } from './support/callback-receiver.js';
import { startInProcessApi, TOKEN_A, TOKEN_B } from './support/in-process-api.js';

const whsec = () => `whsec_${randomBytes(32).toString('base64')}`;
const SECRET_A = whsec();

function post(url: string, token: string, body: unknown) {
  return fetch(`${url}/api/v1/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const run = (callbackUrl: string) => ({
  executor: 'demo',
  tests: [{ name: 'a', durationMs: 10 }],
  callbackUrl,
});

describe('signed callbacks (embedded api, CALLBACK_SECRETS for workspace ws-a)', () => {
  let rx: CallbackReceiver;
  let ctx: Awaited<ReturnType<typeof startInProcessApi>>;

  beforeAll(async () => {
    rx = await callbackReceiver(SECRET_A);
    ctx = await startInProcessApi({
      CALLBACK_SECRETS: `ws-a:${SECRET_A}`,
      CALLBACK_ALLOWED_HOSTS: rx.host,
    });
  });
  afterAll(async () => {
    await ctx?.close();
    await rx?.close();
  });

  it("a receiver verifies the callback with standardwebhooks' verifier, and refuses it tampered", async () => {
    const res = await post(ctx.api.url, TOKEN_A, run(rx.url));
    expect(res.status).toBe(201);
    const { run: created } = (await res.json()) as { run: { id: string } };
    await waitFor(() => rx.bodiesOf(created.id).length === 1, { what: 'verified callback' });
    expect(rx.bodiesOf(created.id)[0]).toMatchObject({ runId: created.id, status: 'completed' });
    const request = rx.requests.find((r) => r.raw.includes(created.id))!;
    expect(request.headers['webhook-id']).toBe(created.id);
    expect(request.headers['webhook-signature']).toMatch(/^v1,/);
    // The same signed request with one byte of the body changed: the receiver refuses it.
    const tampered = await fetch(rx.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...request.headers },
      body: request.raw.replace('"completed"', '"failed"'),
    });
    expect(tampered.status).toBe(401);
    expect(rx.bodiesOf(created.id)).toHaveLength(1);
  });

  it('outside production, a workspace without a secret gets an unsigned callback (which this receiver refuses)', async () => {
    const res = await post(ctx.api.url, TOKEN_B, run(rx.url));
    expect(res.status).toBe(201);
    const { run: created } = (await res.json()) as { run: { id: string } };
    await waitFor(() => rx.requests.some((r) => r.raw.includes(created.id) && r.answered === 401), {
      what: 'unsigned callback refused',
    });
    expect(rx.requests.find((r) => r.raw.includes(created.id))?.headers).toEqual({});
  });
});

describe('NODE_ENV=production', () => {
  let ctx: Awaited<ReturnType<typeof startInProcessApi>>;
  let rx: CallbackReceiver;

  beforeAll(async () => {
    rx = await callbackReceiver(SECRET_A);
    ctx = await startInProcessApi({
      NODE_ENV: 'production',
      CALLBACK_SECRETS: `ws-a:${SECRET_A}`,
      CALLBACK_ALLOWED_HOSTS: rx.host,
    });
  });
  afterAll(async () => {
    await ctx?.close();
    await rx?.close();
  });

  it('refuses a callbackUrl from a workspace without a secret with a 400 naming the field', async () => {
    const res = await post(ctx.api.url, TOKEN_B, run(rx.url));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: { code: 'invalid_input', details: { issues: [{ field: 'callbackUrl' }] } },
    });
    // Without a callbackUrl, and from a workspace with a secret, runs are accepted.
    expect((await post(ctx.api.url, TOKEN_B, { ...run(''), callbackUrl: undefined })).status).toBe(
      201,
    );
    expect((await post(ctx.api.url, TOKEN_A, run(rx.url))).status).toBe(201);
  });
});

describe('CALLBACK_SECRETS', () => {
  const env = (value: string) => ({ API_TOKENS: `ws-a:${TOKEN_A}`, CALLBACK_SECRETS: value });

  it('parses workspace:whsec_… entries', () => {
    const other = whsec();
    const config = loadApiConfig(env(`ws-a:${SECRET_A}, ws-b:${other}`));
    expect([...config.callbackSecrets]).toEqual([
      ['ws-a', SECRET_A],
      ['ws-b', other],
    ]);
  });

  it.each([
    ['no workspace', `:${whsec()}`, /CALLBACK_SECRETS.*entry 1/],
    [
      'no whsec_ prefix',
      `ws-a:${randomBytes(32).toString('base64')}`,
      /entry 1 \(workspace ws-a\)/,
    ],
    ['too short', `ws-a:whsec_${randomBytes(8).toString('base64')}`, /entry 1 \(workspace ws-a\)/],
    ['not base64', 'ws-a:whsec_!!!!', /entry 1 \(workspace ws-a\)/],
    ['a repeated workspace', `ws-a:${whsec()},ws-a:${whsec()}`, /entry 2 repeats workspace ws-a/],
  ])('refuses %s, naming the entry and never the secret', (_what, value, message) => {
    let error: unknown;
    try {
      loadApiConfig(env(value));
    } catch (err) {
      error = err;
    }
    expect(String(error)).toMatch(message);
    expect(String(error)).not.toContain(value.split(':').at(-1)!.slice(6, 20));
  });
});
