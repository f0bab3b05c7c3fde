import { spawnSync } from 'node:child_process';
import { ConfigError } from '@x/app-kit';
import { describe, expect, it } from 'vitest';
import { loadApiConfig } from '../src/config/load-config.js';
import { API_MAIN } from './support/fleet.js';

const distributed = {
  REDIS_URL: 'redis://127.0.0.1:6379',
  DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/x',
  API_TOKENS: 'acme:0123456789abcdef0123',
  STREAM_TOKEN_SECRET: 'k'.repeat(32),
};

function refusal(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadApiConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('configuration was accepted');
}

describe('api configuration', () => {
  it('defaults to embedded mode with a generated dev token and ./.data', () => {
    const c = loadApiConfig({});
    expect(c).toMatchObject({
      mode: 'embedded',
      dataDir: './.data',
      port: 3000,
      host: '127.0.0.1',
      prefix: 'x',
    });
    expect(c.devToken).toMatch(/^dev_/);
    expect(c.tokens).toEqual([{ workspace: 'dev', token: c.devToken }]);
    expect(c.streamTokenSecret.length).toBeGreaterThanOrEqual(32);
    expect(c.streamTokenTtlMs).toBe(300_000);
    expect(loadApiConfig({ STREAM_TOKEN_TTL_MS: '2000' }).streamTokenTtlMs).toBe(2_000);
  });

  it('switches to distributed mode when REDIS_URL is set, and then requires the rest', () => {
    expect(loadApiConfig(distributed)).toMatchObject({
      mode: 'distributed',
      host: '0.0.0.0',
      devToken: null,
      shardQueue: 'redis',
      databasePreparedStatements: 200,
    });
    expect(loadApiConfig({ ...distributed, SHARD_QUEUE: 'bullmq' })).toMatchObject({
      shardQueue: 'bullmq',
    });
    expect(loadApiConfig({ ...distributed, DATABASE_PREPARED_STATEMENTS: '0' })).toMatchObject({
      databasePreparedStatements: 0,
    });
    for (const name of ['DATABASE_URL', 'API_TOKENS', 'STREAM_TOKEN_SECRET'] as const) {
      const err = refusal({ ...distributed, [name]: '' });
      expect(err.variable).toBe(name);
      expect(err.message).toContain(`${name} is required when REDIS_URL is set`);
    }
  });

  it('switches to distributed mode on a Redis Cluster when REDIS_CLUSTER_NODES is set', () => {
    const { REDIS_URL: _, ...rest } = distributed;
    const c = loadApiConfig({ ...rest, REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2:7000' });
    expect(c).toMatchObject({
      mode: 'distributed',
      host: '0.0.0.0',
      redis: {
        kind: 'cluster',
        nodes: [
          { host: '10.0.0.1', port: 7000 },
          { host: '10.0.0.2', port: 7000 },
        ],
        tls: false,
      },
    });
    expect(loadApiConfig(distributed)).toMatchObject({
      redis: { kind: 'single', url: distributed.REDIS_URL },
    });
    const err = refusal({ REDIS_CLUSTER_NODES: '10.0.0.1:7000' });
    expect(err.variable).toBe('DATABASE_URL');
    expect(err.message).toContain('DATABASE_URL is required when REDIS_CLUSTER_NODES is set');
  });

  it.each([
    [
      'both set',
      { ...distributed, REDIS_CLUSTER_NODES: '10.0.0.1:7000' },
      'and REDIS_URL are both set',
    ],
    ['malformed', { REDIS_CLUSTER_NODES: '10.0.0.1' }, 'entry 1 must be host:port'],
    [
      'a password in a bad list',
      { REDIS_CLUSTER_NODES: 'rediss://:hunter2@h:1/3' },
      'entry 1 must not name a database',
    ],
  ])(
    'refuses REDIS_CLUSTER_NODES %s with one line naming it, never echoing it',
    (_what, env, phrase) => {
      const err = refusal(env);
      expect(err.variable).toBe('REDIS_CLUSTER_NODES');
      expect(err.message).toMatch(/^invalid configuration: REDIS_CLUSTER_NODES /);
      expect(err.message).toContain(phrase);
      expect(err.message).not.toContain('hunter2');
      expect(err.message).not.toContain('\n');
    },
  );

  it.each([
    // The shared fields (X_PREFIX, REDIS_URL, host lists, …) are tested in @x/app-kit;
    // LOG_LEVEL stands here for "the api reads them".
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['LOG_LEVEL', 'loud'],
    ['SHARD_QUEUE', 'nats'],
    ['API_TOKENS', 'acme:short'],
    ['API_TOKENS', 'no-colon-here-0123456789'],
    ['STREAM_TOKEN_SECRET', 'too-short'],
    ['SSE_MAX_STREAMS', '0'],
    ['SSE_MAX_STREAMS_PER_WORKSPACE', 'lots'],
    ['SSE_STALL_TIMEOUT_MS', '5'],
    ['METRICS_PORT', 'nine'],
    ['METRICS_TOKEN', 'short'],
    ['STREAM_TOKEN_TTL_MS', '999'],
    ['STREAM_TOKEN_TTL_MS', '300001'],
    ['STREAM_TOKEN_TTL_MS', '5m'],
    ['RATE_LIMIT_CREATES_PER_MIN', '-1'],
    ['RATE_LIMIT_CREATES_PER_MIN', 'many'],
    ['RATE_LIMIT_REQUESTS_PER_S', '1.5'],
  ])('refuses %s=%s with a message naming it', (name, value) => {
    const err = refusal({ ...(name === 'STREAM_TOKEN_SECRET' ? distributed : {}), [name]: value });
    expect(err.variable).toBe(name);
    expect(err.message).toMatch(new RegExp(`^invalid configuration: ${name} `));
    expect(err.message).not.toContain('\n');
  });

  it('never prints secrets in its messages', () => {
    const err = refusal({ API_TOKENS: 'acme:tiny-secret' });
    expect(err.message).not.toContain('tiny-secret');
    const metrics = refusal({ METRICS_TOKEN: 'has blanks in it, a secret' });
    expect(metrics.variable).toBe('METRICS_TOKEN');
    expect(metrics.message).not.toContain('a secret');
  });

  it('serves /metrics on the api port without a token unless METRICS_PORT or METRICS_TOKEN say otherwise', () => {
    expect(loadApiConfig({}).metrics).toEqual({ port: undefined, token: undefined });
    expect(
      loadApiConfig({ METRICS_PORT: '9465', METRICS_TOKEN: 'metrics-token-0123456789' }).metrics,
    ).toEqual({ port: 9465, token: 'metrics-token-0123456789' });
  });

  it('keeps finished runs 30 days and sweeps hourly unless RUN_RETENTION_DAYS / RETENTION_SWEEP_INTERVAL_MS say otherwise (0 keeps all)', () => {
    expect(loadApiConfig({}).retention).toEqual({ days: 30, intervalMs: 3_600_000 });
    expect(
      loadApiConfig({
        ...distributed,
        RUN_RETENTION_DAYS: '0',
        RETENTION_SWEEP_INTERVAL_MS: '5000',
      }).retention,
    ).toEqual({ days: 0, intervalMs: 5_000 });
    expect(refusal({ RUN_RETENTION_DAYS: 'forever' }).variable).toBe('RUN_RETENTION_DAYS');
    expect(refusal({ RETENTION_SWEEP_INTERVAL_MS: '10' }).variable).toBe(
      'RETENTION_SWEEP_INTERVAL_MS',
    );
  });

  it('caps open streams at 5,000 per process and 100 per workspace, and cuts a stall after 30 s, unless told otherwise', () => {
    expect(loadApiConfig({}).streams).toEqual({
      maxStreams: 5_000,
      maxPerWorkspace: 100,
      stallTimeoutMs: 30_000,
    });
    expect(
      loadApiConfig({
        SSE_MAX_STREAMS: '50',
        SSE_MAX_STREAMS_PER_WORKSPACE: '5',
        SSE_STALL_TIMEOUT_MS: '2000',
      }).streams,
    ).toEqual({ maxStreams: 50, maxPerWorkspace: 5, stallTimeoutMs: 2_000 });
  });

  it('parses the allowed-host lists and API_TOKENS', () => {
    const c = loadApiConfig({
      HTTP_ALLOWED_HOSTS: ' Example.com , localhost:8080,,',
      API_TOKENS: 'a:0123456789abcdef,b:fedcba9876543210',
    });
    expect(c.httpAllowedHosts).toEqual(['example.com', 'localhost:8080']);
    expect(c.tokens.map((t) => t.workspace)).toEqual(['a', 'b']);
  });

  it.each([
    [
      'REDIS_URL together with REDIS_CLUSTER_NODES',
      { REDIS_URL: 'redis://127.0.0.1:1' },
      / and REDIS_URL are both set; /,
    ],
    // Refused at start, before any connection, rather than failing later.
    [
      'a malformed REDIS_CLUSTER_NODES',
      { REDIS_URL: '', REDIS_CLUSTER_NODES: '127.0.0.1:1,127.0.0.1' },
      / .*entry 2 must be host:port/,
    ],
  ])('refuses %s at start: exit code 2, one line', (_what, extra, line) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', API_MAIN], {
      env: {
        ...process.env,
        ...distributed,
        LOG_LEVEL: 'silent',
        DATABASE_URL: 'postgres://u:p@127.0.0.1:1/x',
        REDIS_CLUSTER_NODES: '127.0.0.1:1,127.0.0.1:2',
        ...extra,
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        new RegExp(`^invalid configuration: REDIS_CLUSTER_NODES${line.source}`),
      ),
    ]);
  });

  it('makes the process exit with code 2 and one line naming the variable', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', API_MAIN], {
      env: { ...process.env, PORT: 'not-a-port', REDIS_URL: '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^invalid configuration: PORT /),
    ]);
  });
});
