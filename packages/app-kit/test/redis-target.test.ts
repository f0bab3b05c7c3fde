import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ConfigError,
  parseClusterNodes,
  parseEnv,
  redisTargetFromEnv,
  sharedEnvFields,
} from '../src/index.js';

const schema = z.object(sharedEnvFields);
const SECRET = ['REDIS_URL', 'REDIS_CLUSTER_NODES'];

/** What the apps do: parse the fields, then pick the target. */
function load(env: NodeJS.ProcessEnv) {
  return redisTargetFromEnv(parseEnv(schema, env, { secret: SECRET }));
}

function refusal(env: NodeJS.ProcessEnv): ConfigError {
  try {
    load(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('configuration was accepted');
}

describe('REDIS_CLUSTER_NODES', () => {
  it('reads host:port startup nodes, IPv6 in brackets, blanks around entries trimmed', () => {
    expect(
      load({ REDIS_CLUSTER_NODES: ' 10.0.0.1:7000 , redis-b.internal:7001,[::1]:7002' }),
    ).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: 'redis-b.internal', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      tls: false,
    });
  });

  it('takes TLS and credentials from rediss:// URLs, the way REDIS_URL does', () => {
    expect(
      parseClusterNodes('rediss://app:p%40ss@a.example:6380,rediss://app:p%40ss@b.example:6380/'),
    ).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'a.example', port: 6380 },
        { host: 'b.example', port: 6380 },
      ],
      tls: true,
      username: 'app',
      password: 'p@ss',
    });
    expect(parseClusterNodes('redis://:secret@a:7000')).toMatchObject({
      tls: false,
      password: 'secret',
    });
    expect(parseClusterNodes('redis://:secret@a:7000')).not.toHaveProperty('username');
  });

  it.each([
    ['', undefined], // empty: unset, like every variable
    ['127.0.0.1', 'entry 1 must be host:port'],
    ['a:7000,,b:7001', 'entry 2 is empty'],
    ['a:7000,', 'entry 2 is empty'],
    ['a:0', 'entry 1 must have a port from 1 to 65535'],
    ['a:65536', 'entry 1 must have a port from 1 to 65535'],
    ['a:70x', 'entry 1 must be host:port'],
    ['bad_host!:7000', 'entry 1 has an invalid host'],
    ['a:7000,a:7000', 'entry 2 repeats an earlier node'],
    ['http://a:7000', 'entry 1 must use redis:// or rediss://'],
    ['redis://a', 'entry 1 must name its port'],
    ['redis://a:7000/2', 'entry 1 must not name a database'],
    ['redis://a:7000?x=1', 'entry 1 must not carry a query'],
    ['a:7000,rediss://b:7000', 'entries must all be host:port, or all redis://'],
    ['rediss://u:p@a:7000,rediss://u:q@b:7000', 'entries must all be host:port, or all redis://'],
    ['redis://a:7000,rediss://b:7000', 'entries must all be host:port, or all redis://'],
  ])('REDIS_CLUSTER_NODES=%j is refused with one line: %s', (value, phrase) => {
    if (phrase === undefined) {
      expect(load({ REDIS_CLUSTER_NODES: value })).toBeUndefined();
      return;
    }
    const err = refusal({ REDIS_CLUSTER_NODES: value });
    expect(err.variable).toBe('REDIS_CLUSTER_NODES');
    expect(err.message).toMatch(/^invalid configuration: REDIS_CLUSTER_NODES /);
    expect(err.message).toContain(phrase);
    expect(err.message).not.toContain('\n');
  });

  it('never echoes an entry, which may carry a password', () => {
    const err = refusal({ REDIS_CLUSTER_NODES: 'rediss://u:hunter2@a:7000/5' });
    expect(err.message).not.toContain('hunter2');
    expect(err.message).not.toContain('rediss://');
  });

  it('refuses REDIS_URL and REDIS_CLUSTER_NODES together, naming both', () => {
    const err = refusal({
      REDIS_URL: 'redis://:hunter2@127.0.0.1:6379',
      REDIS_CLUSTER_NODES: '127.0.0.1:7000',
    });
    expect(err.variable).toBe('REDIS_CLUSTER_NODES');
    expect(err.message).toMatch(
      /^invalid configuration: REDIS_CLUSTER_NODES and REDIS_URL are both set; /,
    );
    expect(err.message).not.toContain('hunter2');
    expect(err.message).not.toContain('\n');
  });

  it('picks one server for REDIS_URL and nothing when neither is set', () => {
    expect(load({ REDIS_URL: 'rediss://h:6380' })).toEqual({
      kind: 'single',
      url: 'rediss://h:6380',
    });
    expect(load({})).toBeUndefined();
    expect(load({ REDIS_URL: '', REDIS_CLUSTER_NODES: '' })).toBeUndefined();
  });
});
