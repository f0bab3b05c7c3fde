import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { guardedRequest } from '../src/guarded-request.js';
import {
  checkOutboundUrl,
  createCallbackSender,
  httpExecutor,
  isBlockedAddress,
  OutboundUrlError,
  type TestResult,
} from '../src/index.js';

describe('isBlockedAddress', () => {
  it.each([
    '127.0.0.1',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '100.64.0.1',
    '169.254.169.254',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:8.8.8.8',
    '64:ff9b::a00:1',
    '2002:7f00:1::',
    // Local-use NAT64 (RFC 8215), whatever it embeds.
    '64:ff9b:1::808:808',
    '64:ff9b:1:ffff::1',
    // Teredo, whatever server and client it names.
    '2001::1',
    '2001:0:4136:e378:8000:63bf:3fff:fdd2',
    '2001:0:ffff:ffff:ffff:ffff:ffff:ffff',
  ])('refuses %s', (address) => {
    expect(isBlockedAddress(address)).toBe(true);
  });
  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700::1111',
    '64:ff9b::808:808',
    '64:ff9b:2::1',
    '2001:1::1',
    '2001:4860:4860::8888',
  ])('allows public %s', (address) => {
    expect(isBlockedAddress(address)).toBe(false);
  });
});

describe('checkOutboundUrl', () => {
  const resolveTo =
    (...addresses: string[]) =>
    async () =>
      addresses.map((address) => ({
        address,
        family: address.includes(':') ? (6 as const) : (4 as const),
      }));

  it('refuses a name when ANY resolved address is private', async () => {
    await expect(
      checkOutboundUrl('https://mixed.example/x', [], resolveTo('8.8.8.8', '10.0.0.5')),
    ).rejects.toMatchObject({ code: 'private_address' });
  });
  it('refuses non-http protocols, bad URLs and literal private hosts', async () => {
    await expect(checkOutboundUrl('file:///etc/passwd', [])).rejects.toMatchObject({
      code: 'protocol',
    });
    await expect(checkOutboundUrl('not a url', [])).rejects.toMatchObject({ code: 'invalid_url' });
    await expect(checkOutboundUrl('http://169.254.169.254/latest', [])).rejects.toMatchObject({
      code: 'private_address',
    });
    await expect(checkOutboundUrl('http://[::1]:8080/', [])).rejects.toMatchObject({
      code: 'private_address',
    });
    await expect(checkOutboundUrl('http://0x7f000001/', [])).rejects.toMatchObject({
      code: 'private_address',
    });
  });
  it('exempts hosts listed in allowedHosts, by host or host:port', async () => {
    await expect(checkOutboundUrl('http://127.0.0.1:9/', ['127.0.0.1'])).resolves.toMatchObject({
      allowed: true,
    });
    await expect(checkOutboundUrl('http://127.0.0.1:9/', ['127.0.0.1:9'])).resolves.toMatchObject({
      allowed: true,
    });
    await expect(checkOutboundUrl('http://127.0.0.1:9/', ['127.0.0.1:10'])).rejects.toMatchObject({
      code: 'private_address',
    });
  });
  it('answers a private address and a name that does not resolve alike, "address not allowed"; the detail is for the log', async () => {
    const refusal = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: unknown) => e as OutboundUrlError,
      );
    const internal = await refusal(
      checkOutboundUrl('http://db.corp.example/', [], resolveTo('10.0.0.7')),
    );
    const missing = await refusal(
      checkOutboundUrl('http://nothing.corp.example/', [], async () => {
        throw Object.assign(new Error('getaddrinfo ENOTFOUND nothing.corp.example'), {
          code: 'ENOTFOUND',
        });
      }),
    );
    const empty = await refusal(checkOutboundUrl('http://empty.corp.example/', [], resolveTo()));
    const loopback = await refusal(checkOutboundUrl('http://localhost/', []));
    for (const err of [internal, missing, empty, loopback]) {
      expect(err).toBeInstanceOf(OutboundUrlError);
      expect(err?.message).toBe('address not allowed');
    }
    expect(internal?.message).not.toContain('10.0.0.7');
    expect(internal?.detail).toContain('db.corp.example resolves to 10.0.0.7');
    expect(missing?.detail).toContain('could not resolve nothing.corp.example');
    expect(loopback?.detail).toMatch(/localhost resolves to (127\.0\.0\.1|::1)/);
  });

  it('connects to the checked address, never re-resolving the name (DNS rebinding)', async () => {
    const server = createServer((req, res) => res.end(req.headers.host));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    // 'rebind.invalid' cannot resolve through DNS; the request still reaches the checked address.
    const checked = await checkOutboundUrl(
      `http://rebind.invalid:${port}/`,
      ['rebind.invalid'],
      resolveTo('127.0.0.1'),
    );
    const res = await guardedRequest(checked, { timeoutMs: 2_000 });
    expect(res.status).toBe(200);
    server.close();
  });
});

describe('http executor', () => {
  it('fails a refused test with "address not allowed" only, whether the name is internal or missing, and logs the detail', async () => {
    const logged: object[] = [];
    const log = (obj: object) => logged.push(obj);
    const executor = httpExecutor({
      allowedHosts: [],
      logger: { debug: log, info: log, warn: log, error: log },
      resolve: async (host) => {
        if (host === 'db.corp.example') return [{ address: '10.0.0.7', family: 4 }];
        throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
      },
    });
    const emitted: TestResult[] = [];
    const results = await executor.execute({
      run: { id: 'run-1', workspaceId: 'ws', executor: 'http' },
      shardIndex: 0,
      attempt: 1,
      signal: new AbortController().signal,
      emit: (r) => emitted.push(r),
      tests: [
        { testId: 't0', test: { name: 'internal', url: 'http://db.corp.example/' } },
        { testId: 't1', test: { name: 'missing', url: 'http://nothing.corp.example/' } },
      ],
    });
    expect(results.map((r) => [r.status, r.error])).toEqual([
      ['failed', 'address not allowed'],
      ['failed', 'address not allowed'],
    ]);
    // The results (and the `result` events made from them) never carry the address.
    expect(JSON.stringify(emitted)).not.toContain('10.0.0.7');
    expect(logged).toEqual([
      expect.objectContaining({
        runId: 'run-1',
        testId: 't0',
        detail: expect.stringContaining('10.0.0.7'),
      }),
      expect.objectContaining({
        testId: 't1',
        detail: expect.stringContaining('could not resolve'),
      }),
    ]);
  });
});

describe('callback sender', () => {
  it('POSTs the JSON once, does not follow redirects, and counts refusals', async () => {
    const hits: string[] = [];
    const server = createServer((req, res) => {
      hits.push(`${req.method} ${req.url}`);
      if (req.url === '/redirect') res.writeHead(302, { location: '/elsewhere' }).end();
      else res.writeHead(204).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const payload = {
      runId: 'r',
      status: 'completed',
      passed: 1,
      failed: 0,
      total: 1,
      error: null,
    };
    const delivery = { id: 'r', workspaceId: 'ws' };
    const sender = createCallbackSender({ allowedHosts: [`127.0.0.1:${port}`] });
    expect(await sender.send(`http://127.0.0.1:${port}/cb`, payload, delivery)).toMatchObject({
      ok: true,
      status: 204,
    });
    expect(await sender.send(`http://127.0.0.1:${port}/redirect`, payload, delivery)).toMatchObject(
      {
        ok: false,
        status: 302,
      },
    );
    const strict = createCallbackSender();
    expect(await strict.send(`http://127.0.0.1:${port}/cb`, payload, delivery)).toMatchObject({
      ok: false,
    });
    expect(hits).toEqual(['POST /cb', 'POST /redirect']);
    expect(sender.metrics()).toMatchObject({ sent: 1, rejected: 1 });
    expect(strict.metrics()).toMatchObject({ refused: 1 });
    server.close();
  });
});
