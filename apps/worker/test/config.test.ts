import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@x/app-kit';
import { describe, expect, it } from 'vitest';
import { loadWorkerConfig } from '../src/config/load-config.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const base = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/x',
};

function refusal(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadWorkerConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('configuration was accepted');
}

describe('worker configuration', () => {
  it('applies defaults', () => {
    expect(loadWorkerConfig(base)).toMatchObject({
      prefix: 'x',
      concurrency: 8,
      metricsPort: 9464,
      stalledMs: 30_000,
      repairIntervalMs: 30_000,
      queuePartitions: 1,
      shardQueue: 'redis',
      retention: { days: 30, intervalMs: 3_600_000 },
      logLevel: 'info',
      eventCoalesceMs: 40,
    });
    expect(
      loadWorkerConfig({ ...base, RUN_RETENTION_DAYS: '0', RETENTION_SWEEP_INTERVAL_MS: '60000' })
        .retention,
    ).toEqual({ days: 0, intervalMs: 60_000 });
    expect(loadWorkerConfig({ ...base, REPAIR_INTERVAL_MS: '5000' }).repairIntervalMs).toBe(5_000);
    expect(loadWorkerConfig({ ...base, QUEUE_PARTITIONS: '3' }).queuePartitions).toBe(3);
    expect(loadWorkerConfig({ ...base, SHARD_QUEUE: 'bullmq' }).shardQueue).toBe('bullmq');
    expect(loadWorkerConfig({ ...base, WORKER_EVENT_COALESCE_MS: '0' }).eventCoalesceMs).toBe(0);
    expect(loadWorkerConfig(base).siblingBeginMs).toBe(100);
    expect(loadWorkerConfig({ ...base, WORKER_SIBLING_BEGIN_MS: '0' }).siblingBeginMs).toBe(0);
    expect(loadWorkerConfig(base).databasePreparedStatements).toBe(200);
    expect(
      loadWorkerConfig({ ...base, DATABASE_PREPARED_STATEMENTS: '0' }).databasePreparedStatements,
    ).toBe(0);
  });

  it('requires REDIS_URL (or REDIS_CLUSTER_NODES) and DATABASE_URL (the worker exists only in distributed mode)', () => {
    const noRedis = refusal({ DATABASE_URL: base.DATABASE_URL });
    expect(noRedis.variable).toBe('REDIS_URL');
    expect(noRedis.message).toContain('REDIS_URL or REDIS_CLUSTER_NODES is required');
    expect(refusal({ REDIS_URL: base.REDIS_URL }).variable).toBe('DATABASE_URL');
    expect(refusal({ REDIS_CLUSTER_NODES: 'h:7000' }).variable).toBe('DATABASE_URL');
  });

  it('takes a Redis Cluster from REDIS_CLUSTER_NODES, one server from REDIS_URL', () => {
    expect(loadWorkerConfig(base).redis).toEqual({ kind: 'single', url: base.REDIS_URL });
    const cluster = loadWorkerConfig({
      DATABASE_URL: base.DATABASE_URL,
      REDIS_CLUSTER_NODES: 'rediss://:pw@a.example:6380,rediss://:pw@b.example:6380',
    });
    expect(cluster.redis).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'a.example', port: 6380 },
        { host: 'b.example', port: 6380 },
      ],
      tls: true,
      password: 'pw',
    });
  });

  it.each([
    ['both set', { ...base, REDIS_CLUSTER_NODES: 'h:7000' }, 'and REDIS_URL are both set'],
    [
      'malformed',
      { DATABASE_URL: base.DATABASE_URL, REDIS_CLUSTER_NODES: 'h:7000,,' },
      'entry 2 is empty',
    ],
  ])('refuses REDIS_CLUSTER_NODES %s with one line naming it', (_what, env, phrase) => {
    const err = refusal(env);
    expect(err.variable).toBe('REDIS_CLUSTER_NODES');
    expect(err.message).toMatch(/^invalid configuration: REDIS_CLUSTER_NODES /);
    expect(err.message).toContain(phrase);
    expect(err.message).not.toContain('\n');
  });

  it.each([
    // The shared fields are tested in @x/app-kit; WORKER_CONCURRENCY stands for them here.
    ['WORKER_CONCURRENCY', 'many'],
    ['WORKER_STALLED_MS', '10'],
    ['WORKER_EVENT_COALESCE_MS', '-1'],
    ['WORKER_EVENT_COALESCE_MS', '1001'],
    ['WORKER_SIBLING_BEGIN_MS', '-1'],
    ['WORKER_SIBLING_BEGIN_MS', 'soon'],
    ['REPAIR_INTERVAL_MS', '999'],
    ['REPAIR_INTERVAL_MS', 'soon'],
    ['QUEUE_PARTITIONS', '0'],
    ['QUEUE_PARTITIONS', '65'],
    ['SHARD_QUEUE', 'Redis'],
    ['RUN_RETENTION_DAYS', '-1'],
    ['RUN_RETENTION_DAYS', '1.5'],
    ['RETENTION_SWEEP_INTERVAL_MS', '999'],
  ])('refuses %s=%s naming it', (name, value) => {
    const err = refusal({ ...base, [name]: value });
    expect(err.variable).toBe(name);
    expect(err.message).not.toContain('\n');
  });

  it('refuses REDIS_URL together with REDIS_CLUSTER_NODES at start: exit code 2, one line', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN], {
      env: { ...process.env, ...base, REDIS_CLUSTER_NODES: '127.0.0.1:1' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^invalid configuration: REDIS_CLUSTER_NODES and REDIS_URL are both set; /,
      ),
    ]);
  });

  it('makes the process exit with code 2 and one line naming the variable', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN], {
      env: { ...process.env, ...base, WORKER_CONCURRENCY: 'zero' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^invalid configuration: WORKER_CONCURRENCY /),
    ]);
  });
});
