import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, parseEnv, sharedEnvFields } from '../src/index.js';

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
    ['LOG_LEVEL', 'loud'],
    ['REDIS_URL', 'http://redis:6379'],
    ['DATABASE_URL', 'mysql://db'],
    ['METRICS_PORT', '-1'],
    ['METRICS_PORT', '70000'],
    ['HOST', 'bad host'],
    ['HTTP_ALLOWED_HOSTS', 'ok.example.com,bad host'],
  ])('refuses %s=%s with one line naming it', (name, value) => {
    const err = refusal({ [name]: value });
    expect(err.code).toBe('invalid');
    expect(err.variable).toBe(name);
    expect(err.message).toMatch(new RegExp(`^invalid configuration: ${name} `));
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
