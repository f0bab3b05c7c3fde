import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBinary } from '../src/find-binary.js';
import {
  keySlot,
  MissingServerError,
  startRedisCluster,
  type TestClusterNode,
  type TestRedisCluster,
  uniqueName,
  waitFor,
} from '../src/index.js';

const direct = (node: TestClusterNode) =>
  new Redis(node.port, node.host, { maxRetriesPerRequest: 0, retryStrategy: () => null });

async function replicationOf(node: TestClusterNode): Promise<Record<string, string>> {
  const client = direct(node);
  try {
    const text = String(await client.call('INFO', 'replication'));
    return Object.fromEntries(text.split('\r\n').map((line) => line.split(':', 2)));
  } finally {
    client.disconnect();
  }
}

// One cluster for the file (about 3 s to start); the failover test runs last because it
// changes the topology.
describe('startRedisCluster', () => {
  let cluster: TestRedisCluster;
  let client: Cluster;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    client = new Cluster(cluster.startupNodes, {
      redisOptions: { connectTimeout: 1_000 },
      clusterRetryStrategy: () => 100,
    });
  });
  afterAll(async () => {
    client?.disconnect();
    await cluster?.close();
  });

  it('starts healthy with 3 primaries, each followed by its own replica', async () => {
    const primaries = cluster.nodes.filter((node) => node.role === 'primary');
    const replicas = cluster.nodes.filter((node) => node.role === 'replica');
    expect(primaries).toHaveLength(3);
    expect(replicas).toHaveLength(3);
    const followed = await Promise.all(
      replicas.map(async (r) => (await replicationOf(r)).master_port),
    );
    expect(new Set(followed)).toEqual(new Set(primaries.map((p) => String(p.port))));
    for (const node of cluster.nodes) expect(node.id).toMatch(/^[0-9a-f]{40}$/);
    expect(cluster.nodesEnv).toBe(cluster.nodes.map((n) => `127.0.0.1:${n.port}`).join(','));
    expect(cluster.startupNodes).toEqual(
      cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    );
    await cluster.waitHealthy({ timeoutMs: 1_000 });
  });

  it('serves keys of every slot range through an ioredis Cluster, each on the primary the kit names', async () => {
    const prefix = uniqueName('keys');
    const keys = Array.from({ length: 60 }, (_, i) => `${prefix}:${i}`);
    await Promise.all(keys.map((key, i) => client.set(key, String(i))));
    expect(await Promise.all(keys.map((key) => client.get(key)))).toEqual(
      keys.map((_, i) => String(i)),
    );
    const owners = await Promise.all(keys.slice(0, 12).map((key) => cluster.primaryForKey(key)));
    expect(new Set(owners.map((node) => node.port)).size).toBe(3);
    // The named primary serves the key itself; any other node redirects.
    const [key] = keys as [string];
    const owner = await cluster.primaryForKey(key);
    const other = cluster.nodes.find((node) => node.role === 'primary' && node !== owner)!;
    const [atOwner, atOther] = [direct(owner), direct(other)];
    try {
      expect(await atOwner.get(key)).toBe('0');
      await expect(atOther.get(key)).rejects.toThrow(
        `MOVED ${keySlot(key)} 127.0.0.1:${owner.port}`,
      );
    } finally {
      atOwner.disconnect();
      atOther.disconnect();
    }
  });

  it('computes the slot CLUSTER KEYSLOT answers, hash tags included', async () => {
    const keys: (string | Buffer)[] = [
      '',
      'a',
      'foo',
      'user:1000',
      `${uniqueName('k')}:events`,
      'é-ü-漢字',
      '{user1000}.following',
      'x{tag}y',
      '{run:42}:stop:{other}',
      '{}',
      '{}foo',
      'foo{}',
      'foo{}{bar}', // an empty tag: the whole key is hashed
      '{{a}}',
      '{a}{b}',
      'a}b{c}',
      '}{',
      '{a',
      'a}',
      '{ }',
      '{é}x',
      Buffer.from([0xff, 0x00, 0x7b, 0x01, 0x7d, 0xfe]),
    ];
    const node = cluster.nodes[0]!;
    const admin = direct(node);
    try {
      for (const key of keys) {
        expect(keySlot(key), String(key)).toBe(Number(await admin.call('CLUSTER', 'KEYSLOT', key)));
      }
    } finally {
      admin.disconnect();
    }
  });

  it('fails a SIGKILLed primary over to its replica, keeps replicated keys, and takes the node back as a replica', async () => {
    const key = `{${uniqueName('failover')}}:k`;
    const primary = await cluster.primaryForKey(key);
    const writer = direct(primary);
    await writer.set(key, 'before');
    expect(await writer.call('WAIT', '1', '1000')).toBe(1); // the replica has it
    writer.disconnect();
    const replicaPort = Number((await replicationOf(primary)).slave0?.match(/port=(\d+)/)?.[1]);

    const killedAt = Date.now();
    await cluster.kill(primary);
    expect(primary.running).toBe(false);
    await expect(cluster.waitHealthy({ timeoutMs: 100 })).rejects.toThrow(
      /timed out after 100 ms waiting for the Redis cluster to be healthy.*which is down/,
    );
    const promoted = await waitFor(
      async () => {
        const owner = await cluster.primaryForKey(key);
        return owner.port !== primary.port ? owner : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the replica to take over the slot' },
    );
    const failoverMs = Date.now() - killedAt;
    expect(promoted.port).toBe(replicaPort);
    expect(failoverMs).toBeLessThan(20_000);
    await waitFor(async () => (await client.get(key)) === 'before', {
      timeoutMs: 15_000,
      intervalMs: 100,
      what: 'the key through the ioredis Cluster after the failover',
    });

    await cluster.restart(primary);
    await cluster.waitHealthy({ timeoutMs: 20_000 });
    expect(primary.running).toBe(true);
    expect(primary.role).toBe('replica');
    expect((await replicationOf(primary)).master_port).toBe(String(promoted.port));
    const reader = direct(primary);
    try {
      await reader.call('READONLY');
      expect(await reader.get(key)).toBe('before'); // resynced from its new primary
    } finally {
      reader.disconnect();
    }
  });
});

describe('startRedisCluster without the binaries', () => {
  const path = process.env.PATH;
  afterAll(() => {
    process.env.PATH = path;
  });

  it('fails with MissingServerError naming the binary and the install command', async () => {
    const onlyServer = mkdtempSync(join(tmpdir(), 'x-path-'));
    symlinkSync(findBinary('redis-server')!, join(onlyServer, 'redis-server'));
    try {
      process.env.PATH = '';
      await expect(startRedisCluster()).rejects.toThrow(MissingServerError);
      await expect(startRedisCluster()).rejects.toThrow(
        'redis is not available: install the server with `apt-get install -y redis-server`',
      );
      process.env.PATH = onlyServer;
      await expect(startRedisCluster()).rejects.toThrow(/^redis-cli is not available: install/);
    } finally {
      process.env.PATH = path;
      rmSync(onlyServer, { recursive: true, force: true });
    }
  });
});
