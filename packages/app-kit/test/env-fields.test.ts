import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, dispatchSettings, parseEnv, sharedEnvFields } from '../src/index.js';

const schema = z.object({ ...sharedEnvFields, TOKEN: z.string().min(20).optional() });

function refusal(env: NodeJS.ProcessEnv): ConfigError {
  try {
    parseEnv(schema, env, { secret: ['TOKEN', 'REDIS_URL', 'DATABASE_URL'] });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('configuration was accepted');
}

describe('shared env fields', () => {
  it('applies the shared defaults and treats an empty variable as unset', () => {
    expect(parseEnv(schema, { X_PREFIX: '', LOG_LEVEL: '' })).toMatchObject({
      X_PREFIX: 'x',
      WORKER_CONCURRENCY: 8,
      DATABASE_POOL_MAX: 10,
      DATABASE_PREPARED_STATEMENTS: 200,
      LOG_LEVEL: 'info',
      HTTP_ALLOWED_HOSTS: [],
      CALLBACK_ALLOWED_HOSTS: [],
    });
  });

  it.each([
    ['X_PREFIX', 'Has:Colons'],
    ['X_PREFIX', 'UPPER'],
    ['X_PREFIX', '{x'],
    ['X_PREFIX', 'a{x}'],
    ['X_PREFIX', '{}'],
    ['WORKER_CONCURRENCY', '0'],
    ['WORKER_CONCURRENCY', 'many'],
    ['DATABASE_POOL_MAX', '0'],
    ['DATABASE_POOL_MAX', '1001'],
    ['DATABASE_PREPARED_STATEMENTS', '-1'],
    ['DATABASE_PREPARED_STATEMENTS', 'none'],
    ['LOG_LEVEL', 'loud'],
    ['REDIS_URL', 'http://redis:6379'],
    ['DATABASE_URL', 'mysql://db'],
    ['METRICS_PORT', '-1'],
    ['METRICS_PORT', '70000'],
    ['HOST', 'bad host'],
    ['HTTP_ALLOWED_HOSTS', 'ok.example.com,bad host'],
    ['QUEUE_PARTITIONS', '0'],
    ['QUEUE_PARTITIONS', '65'],
    ['DISPATCH_MODE', 'lifo'],
    ['SHARD_QUEUE', 'kafka'],
    ['DISPATCH_WINDOW', '0'],
    ['WORKSPACE_MAX_RUNNING_SHARDS', '0'],
  ])('refuses %s=%s with one line naming it', (name, value) => {
    const err = refusal({ [name]: value });
    expect(err.code).toBe('invalid');
    expect(err.variable).toBe(name);
    expect(err.message).toMatch(new RegExp(`^invalid configuration: ${name} `));
    expect(err.message).not.toContain('\n');
  });

  it('defaults to fifo dispatch, no cap, no overrides, one queue partition', () => {
    const e = parseEnv(schema, {});
    expect(e).toMatchObject({ QUEUE_PARTITIONS: 1, DISPATCH_MODE: 'fifo', WORKSPACE_LIMITS: [] });
    expect(e.SHARD_QUEUE).toBe('redis');
    expect(parseEnv(schema, { SHARD_QUEUE: 'bullmq' }).SHARD_QUEUE).toBe('bullmq');
    expect(e.WORKSPACE_MAX_RUNNING_SHARDS).toBeUndefined();
    expect(e.DISPATCH_WINDOW).toBeUndefined();
  });

  it.each([
    [{}, 16],
    [{ WORKER_CONCURRENCY: '4' }, 16],
    [{ WORKER_CONCURRENCY: '8' }, 16],
    [{ WORKER_CONCURRENCY: '9' }, 18],
    [{ WORKER_CONCURRENCY: '32' }, 64],
    [{ WORKER_CONCURRENCY: '32', DISPATCH_WINDOW: '5' }, 5],
  ])(
    'a fair window of max(16, 2 x WORKER_CONCURRENCY) unless DISPATCH_WINDOW is set: %j -> %i',
    (env, window) => {
      const e = parseEnv(schema, { DISPATCH_MODE: 'fair', ...env });
      expect(dispatchSettings(e)).toMatchObject({ mode: 'fair', limits: { window } });
    },
  );

  it('parses WORKSPACE_LIMITS entries: cap, weight, either or both', () => {
    const e = parseEnv(schema, {
      DISPATCH_MODE: 'fair',
      WORKSPACE_LIMITS: 'ws-a:shards=8:weight=2, ws_b:weight=3,,wsC:shards=1',
    });
    expect(e.WORKSPACE_LIMITS).toEqual([
      { workspaceId: 'ws-a', maxShards: 8, weight: 2 },
      { workspaceId: 'ws_b', weight: 3 },
      { workspaceId: 'wsC', maxShards: 1 },
    ]);
  });

  it.each([
    ['ws-a', 'entry 1 (ws-a) needs shards=<n> and/or weight=<n>'],
    ['ws-a:shards=8,bad ws:weight=2', 'entry 2 (bad ws:weight=2) must start with a workspace'],
    ['ws-a:weight=0', 'entry 1 (ws-a:weight=0) weight must be an integer between 1 and 100'],
    ['ws-a:weight=101', 'weight must be an integer between 1 and 100'],
    ['ws-a:shards=x', 'shards must be an integer between 1 and 1000000'],
    ['ws-a:speed=2', 'has unknown key "speed"'],
    ['ws-a:shards=2,ws-a:weight=2', 'entry 2 (ws-a:weight=2) repeats workspace ws-a'],
  ])('refuses WORKSPACE_LIMITS=%s naming the entry', (value, phrase) => {
    const err = refusal({ WORKSPACE_LIMITS: value });
    expect(err.variable).toBe('WORKSPACE_LIMITS');
    expect(err.message).toMatch(/^invalid configuration: WORKSPACE_LIMITS entry /);
    expect(err.message).toContain(phrase);
    expect(err.message).not.toContain('\n');
  });

  it('takes X_PREFIX as a cluster hash tag ({x}) too', () => {
    expect(parseEnv(schema, { X_PREFIX: '{blue}' }).X_PREFIX).toBe('{blue}');
    expect(parseEnv(schema, { X_PREFIX: 'blue-2' }).X_PREFIX).toBe('blue-2');
  });

  it('names every bad variable in one line, the first in `variable`', () => {
    const err = refusal({ LOG_LEVEL: 'loud', WORKER_CONCURRENCY: 'many' });
    expect(err.message).toContain('LOG_LEVEL must be one of');
    expect(err.message).toContain('WORKER_CONCURRENCY must be an integer');
    expect(err.message).toContain('(got "loud")');
    expect(err.message).not.toContain('\n');
  });

  it('never echoes the value of a secret variable', () => {
    const err = refusal({ TOKEN: 'tiny-secret', REDIS_URL: 'http://user:hunter2@redis' });
    expect(err.message).not.toContain('tiny-secret');
    expect(err.message).not.toContain('hunter2');
  });

  it('parses the allowed-host lists: trimmed, lower-cased, blanks dropped', () => {
    const env = parseEnv(schema, {
      HTTP_ALLOWED_HOSTS: ' Example.com , localhost:8080,,',
      CALLBACK_ALLOWED_HOSTS: '[::1]:9000,10.0.0.1',
    });
    expect(env.HTTP_ALLOWED_HOSTS).toEqual(['example.com', 'localhost:8080']);
    expect(env.CALLBACK_ALLOWED_HOSTS).toEqual(['[::1]:9000', '10.0.0.1']);
  });
});
