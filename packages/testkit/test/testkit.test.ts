import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { postgres, spawnNode, startRedis, uniqueName, waitFor } from '../src/index.js';

describe('startRedis', () => {
  it('serves a private server that can be killed and restarted on the same port', async () => {
    const redis = await startRedis();
    expect(redis.canInjectFaults).toBe(!process.env.REDIS_URL);
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    try {
      expect(await client.ping()).toBe('PONG');
      if (!redis.canInjectFaults) {
        await expect(redis.kill()).rejects.toThrow(/NOT RUNNABLE/);
        return;
      }
      await redis.kill();
      await expect(client.ping()).rejects.toThrow();
      await redis.restart();
      await waitFor(async () => (await client.ping()) === 'PONG', { what: 'reconnect' });
    } finally {
      client.disconnect();
      await redis.close();
    }
  });
});

describe('postgres', () => {
  const dbs: Awaited<ReturnType<typeof postgres>>[] = [];
  afterAll(async () => {
    for (const db of dbs) await db.close();
  });

  it('gives each caller its own empty database and drops it on close', async () => {
    const a = await postgres('kit');
    const b = await postgres('kit');
    dbs.push(a, b);
    expect(a.database).not.toBe(b.database);
    const client = new pg.Client({ connectionString: a.url });
    await client.connect();
    const { rows } = await client.query('select current_database() as name');
    expect(rows[0].name).toBe(a.database);
    await client.end();
  });

  it('close lets a client that is closing finish before it forces the drop', async () => {
    const db = await postgres('kit');
    const client = new pg.Client({ connectionString: db.url });
    const errors: Error[] = [];
    client.on('error', (err) => errors.push(err));
    await client.connect();
    const closing = db.close();
    // Still connected while close() runs: a forced drop now would terminate it (57P01).
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(errors).toEqual([]);
    await client.end();
    await closing;
    expect(errors).toEqual([]);
    const check = new pg.Client({ connectionString: db.url });
    await expect(check.connect()).rejects.toThrow(/does not exist/);
  });
});

describe('spawnNode', () => {
  it('runs a TypeScript file, waits for READY, and exchanges lines', async () => {
    const file = fileURLToPath(new URL('./fixtures/echo.ts', import.meta.url));
    const child = await spawnNode(file, { GREETING: 'hello' });
    expect(child.lines[0]).toBe('READY hello');
    child.send('ping');
    expect(await child.waitForLine(/^PING$/)).toBe('PING');
    const { signal } = await child.kill('SIGKILL');
    expect(signal).toBe('SIGKILL');
  });
});

describe('uniqueName', () => {
  it('is safe for keys and identifiers and does not repeat', () => {
    const names = new Set(Array.from({ length: 1000 }, () => uniqueName('Run-Store')));
    expect(names.size).toBe(1000);
    for (const name of names) expect(name).toMatch(/^runstore[0-9a-f]{10}$/);
  });
});
