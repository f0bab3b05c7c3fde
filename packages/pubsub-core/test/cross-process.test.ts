import { fileURLToPath } from 'node:url';
import type { NodeProcess, TestRedis } from '@x/testkit';
import { spawnNode, startRedis, uniqueName, waitFor } from '@x/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { BusMetrics } from '../src/index.js';

const peer = fileURLToPath(new URL('./fixtures/peer.ts', import.meta.url));
let redis: TestRedis;
const children: NodeProcess[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await Promise.all(children.map((c) => c.kill('SIGKILL')));
  await redis.close();
});

const got = (p: NodeProcess) =>
  p.lines
    .filter((l) => l.startsWith('GOT '))
    .map((l) => {
      const [, from, n, local, origin] = l.split(' ');
      return { from, n: Number(n), local: local === 'true', origin };
    });

it('two processes deliver to each other over Redis and never to themselves', async () => {
  const env = { REDIS_URL: redis.url, PREFIX: uniqueName('xproc') };
  const [a, b] = await Promise.all([
    spawnNode(peer, { ...env, PEER_NAME: 'a' }),
    spawnNode(peer, { ...env, PEER_NAME: 'b' }),
  ]);
  children.push(a, b);
  const originOf = (p: NodeProcess) => p.lines.find((l) => l.startsWith('READY '))?.split(' ')[1];
  expect(originOf(a)).toMatch(/^inst_[0-9a-f]{32}$/);
  expect(originOf(a)).not.toBe(originOf(b));
  for (let n = 1; n <= 5; n++) {
    a.send(`publish ${n}`);
    b.send(`publish ${n}`);
  }
  await a.waitForLine(/^GOT b 5 false/);
  await b.waitForLine(/^GOT a 5 false/);
  // A process's own 5th echo can come back from Redis after the other's 5th message: ask for
  // the counters until every echo is in (a wrong count still fails: it never reaches 5/5).
  const metricsLines = (p: NodeProcess) => p.lines.filter((l) => l.startsWith('METRICS '));
  const metrics = (p: NodeProcess) =>
    waitFor(
      async () => {
        const before = metricsLines(p).length;
        p.send('metrics');
        await waitFor(() => metricsLines(p).length > before, { what: 'a METRICS line' });
        const line = metricsLines(p).at(-1)!;
        const m = JSON.parse(line.slice('METRICS '.length)) as BusMetrics;
        return m.dropped.self >= 5 && m.received >= 5 ? m : undefined;
      },
      { what: 'every echo counted', timeoutMs: 5_000 },
    );
  const [ma, mb] = [await metrics(a), await metrics(b)];
  for (const [self, other, m] of [
    [a, b, ma],
    [b, a, mb],
  ] as const) {
    const lines = got(self);
    const mine = lines.filter((g) => g.origin === originOf(self));
    const theirs = lines.filter((g) => g.origin === originOf(other));
    // Own messages: exactly once each, delivered locally; the Redis echo dropped as 'self'.
    expect(mine.map((g) => [g.n, g.local])).toEqual([1, 2, 3, 4, 5].map((n) => [n, true]));
    expect(theirs.map((g) => [g.n, g.local])).toEqual([1, 2, 3, 4, 5].map((n) => [n, false]));
    expect(lines).toHaveLength(10);
    expect(m.dropped.self).toBe(5);
    expect(m.received).toBe(5);
  }
});
