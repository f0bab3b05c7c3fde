import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { findBinary } from './find-binary.js';
import { CLUSTER_SLOTS, keySlot } from './key-slot.js';
import { MissingServerError } from './missing-server-error.js';
import { healthProblems } from './redis-cluster-health.js';
import { ClusterNodeProcess, type TestClusterNode } from './redis-cluster-node.js';
import { type NodeView, ownsSlot, probeNode } from './redis-cluster-view.js';

const INSTALL = 'apt-get install -y redis-server';

export interface RedisClusterOptions {
  /** Primaries, each owning an even share of the 16384 slots. Default 3, Redis's minimum. */
  primaries?: number;
  /** Replicas of each primary. Default 1, so a killed primary can fail over. */
  replicasPerPrimary?: number;
  /**
   * `cluster-node-timeout`: how long a node may be silent before it is failed over. Default
   * 2,000 ms, so a failover takes seconds in a test (Redis's default is 15 s).
   */
  nodeTimeoutMs?: number;
  /** Bound on the whole start: processes, `redis-cli --cluster create`, health. Default 60 s. */
  startTimeoutMs?: number;
}

/** A node, by the object the kit handed out or just its port. */
export type ClusterNodeRef = Pick<TestClusterNode, 'port'>;

export interface TestRedisCluster {
  /** Every node, in start order; see `TestClusterNode.role` for when roles are refreshed. */
  readonly nodes: readonly TestClusterNode[];
  /** `[{ host, port }]` of every node, for `new Cluster(cluster.startupNodes)` (ioredis). */
  readonly startupNodes: { host: string; port: number }[];
  /** `127.0.0.1:p1,127.0.0.1:p2,...`: the value for `REDIS_CLUSTER_NODES`. */
  readonly nodesEnv: string;
  /**
   * The node serving `slot` as a primary, asked of every running node (the claim with the
   * highest config epoch wins, as in Redis). During a failover this may still be the dead one.
   */
  primaryForSlot(slot: number): Promise<TestClusterNode>;
  /** `primaryForSlot(keySlot(key))`: hash tags count, as in `CLUSTER KEYSLOT`. */
  primaryForKey(key: string | Uint8Array): Promise<TestClusterNode>;
  /** SIGKILLs a node: no goodbye to peers or clients; its replica takes over after the timeout. */
  kill(node: ClusterNodeRef): Promise<void>;
  /**
   * Starts a node again on its ports with its `nodes.conf`: it rejoins as the same node, empty
   * (nothing persists). A killed primary comes back as a replica if it was failed over; restart
   * it before the failover and it returns as an empty primary of its slots. A running node is
   * stopped first (SIGTERM).
   */
  restart(node: ClusterNodeRef): Promise<void>;
  /**
   * Resolves once every running node reports `cluster_state:ok`, all 16384 slots are owned by
   * running primaries that every node agrees on, no running node is flagged failed, and every
   * running replica has `master_link_status:up`. Rejects after `timeoutMs` (default 30 s) with
   * what was still wrong.
   */
  waitHealthy(opts?: { timeoutMs?: number }): Promise<void>;
  /** SIGKILLs every node and removes their directories. */
  close(): Promise<void>;
}

/**
 * A private Redis Cluster for one test file: `primaries` primaries with `replicasPerPrimary`
 * replicas each (default 3 + 3), each a `redis-server --cluster-enabled yes` on free loopback
 * ports in its own temp dir without persistence, joined by `redis-cli --cluster create`.
 * Resolves once healthy (see `waitHealthy`). Needs the `redis-server` and `redis-cli` binaries
 * (Debian: `apt-get install -y redis-server`, else `MissingServerError`); it never uses
 * `REDIS_URL`, because its tests kill nodes. Loopback only.
 *
 * Times measured on the 2-core dev machine at load average 7-10 (Redis 7.0): start 2.5-3.5 s;
 * with the default 2 s node timeout, a SIGKILLed primary's slots move to its replica in
 * 3.3-4.3 s; a restarted node is back as a linked replica (`waitHealthy`) in 0.2-0.4 s;
 * `close()` under 0.1 s. One cluster per test file keeps a file's budget small.
 *
 * @example
 * const cluster = await startRedisCluster();
 * const client = new Cluster(cluster.startupNodes);
 * await client.set('{run:1}:a', 'x');
 * await cluster.kill(await cluster.primaryForKey('{run:1}:a'));
 * await cluster.waitHealthy({ timeoutMs: 20_000 }); // its replica took over
 * await cluster.close();
 */
export async function startRedisCluster(opts: RedisClusterOptions = {}): Promise<TestRedisCluster> {
  const { primaries = 3, replicasPerPrimary = 1, nodeTimeoutMs = 2_000 } = opts;
  const startTimeoutMs = opts.startTimeoutMs ?? 60_000;
  if (!Number.isInteger(primaries) || primaries < 3) {
    throw new Error(`a Redis Cluster needs at least 3 primaries, got ${primaries}`);
  }
  if (!Number.isInteger(replicasPerPrimary) || replicasPerPrimary < 0) {
    throw new Error(`replicasPerPrimary must be a whole number >= 0, got ${replicasPerPrimary}`);
  }
  const server = findBinary('redis-server');
  if (!server) throw new MissingServerError('redis', INSTALL);
  const cli = findBinary('redis-cli');
  if (!cli) throw new MissingServerError('redis', INSTALL, undefined, 'redis-cli');

  const deadline = Date.now() + startTimeoutMs;
  const root = mkdtempSync(join(tmpdir(), 'x-redis-cluster-'));
  const nodes: ClusterNodeProcess[] = [];
  const killAll = () => {
    for (const node of nodes) node.killNow();
  };
  // A test that forgets close() must not leave six servers behind.
  process.once('exit', killAll);
  const close = async () => {
    process.off('exit', killAll);
    await Promise.all(nodes.map((node) => node.kill()));
    rmSync(root, { recursive: true, force: true });
  };

  const find = (ref: ClusterNodeRef) => {
    const node = nodes.find((candidate) => candidate.port === ref.port);
    if (!node) throw new Error(`no node of this cluster listens on port ${ref.port}`);
    return node;
  };
  const look = async () => {
    const views = new Map<number, NodeView | Error>();
    await Promise.all(
      nodes
        .filter((node) => node.running)
        .map(async (node) => {
          const view = await probeNode(node.host, node.port).catch((error: unknown) =>
            error instanceof Error ? error : new Error(String(error)),
          );
          views.set(node.port, view);
          if (view instanceof Error) return;
          node.id = view.myself.id;
          node.role = view.myself.flags.includes('master') ? 'primary' : 'replica';
        }),
    );
    return views;
  };
  const waitHealthy = async ({ timeoutMs = 30_000 }: { timeoutMs?: number } = {}) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const problems = healthProblems(nodes, await look());
      if (problems.length === 0) return;
      if (Date.now() >= until) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for the Redis cluster to be healthy (state ok, every slot served by a running primary, replicas linked); still: ${problems.slice(0, 8).join('; ')}`,
        );
      }
      await sleep(100);
    }
  };
  const primaryForSlot = async (slot: number) => {
    if (!Number.isInteger(slot) || slot < 0 || slot >= CLUSTER_SLOTS) {
      throw new Error(`a slot is a whole number from 0 to ${CLUSTER_SLOTS - 1}, got ${slot}`);
    }
    let best: { id: string; epoch: number } | undefined;
    for (const view of (await look()).values()) {
      if (view instanceof Error) continue;
      const owner = view.nodes.find((line) => ownsSlot(line, slot));
      if (owner && (!best || owner.configEpoch > best.epoch)) {
        best = { id: owner.id, epoch: owner.configEpoch };
      }
    }
    const node = best && nodes.find((candidate) => candidate.id === best.id);
    if (!node) throw new Error(`no running node of the cluster names an owner of slot ${slot}`);
    return node;
  };

  try {
    const taken = new Set<number>();
    const count = primaries * (1 + replicasPerPrimary);
    const launched = await Promise.allSettled(
      Array.from({ length: count }, (_, i) =>
        ClusterNodeProcess.launch(server, join(root, `node-${i}`), nodeTimeoutMs, taken),
      ),
    );
    // Keep every node that did start, so close() below stops it when another one failed.
    for (const result of launched) if (result.status === 'fulfilled') nodes.push(result.value);
    const failed = launched.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    await createCluster(cli, nodes, replicasPerPrimary, deadline);
    await waitHealthy({ timeoutMs: Math.max(deadline - Date.now(), 1_000) });
    const seen = nodes.filter((node) => node.role === 'primary').length;
    if (seen !== primaries) {
      throw new Error(`redis-cli made ${seen} primaries instead of ${primaries}`);
    }
  } catch (error) {
    await close();
    throw error;
  }

  return {
    nodes,
    startupNodes: nodes.map(({ host, port }) => ({ host, port })),
    nodesEnv: nodes.map(({ host, port }) => `${host}:${port}`).join(','),
    primaryForSlot,
    primaryForKey: (key) => primaryForSlot(keySlot(key)),
    kill: (ref) => find(ref).kill(),
    restart: (ref) => find(ref).restart(),
    waitHealthy,
    close,
  };
}

/** `redis-cli --cluster create`: assigns the slots, pairs replicas, waits for the join. */
async function createCluster(
  cli: string,
  nodes: readonly ClusterNodeProcess[],
  replicas: number,
  deadline: number,
): Promise<void> {
  const timeout = Math.max(deadline - Date.now(), 1_000);
  const args = ['--cluster', 'create', ...nodes.map(({ host, port }) => `${host}:${port}`)];
  args.push('--cluster-replicas', String(replicas), '--cluster-yes');
  try {
    await promisify(execFile)(cli, args, { timeout, killSignal: 'SIGKILL' });
  } catch (error) {
    const { killed, stdout, stderr } = error as {
      killed?: boolean;
      stdout?: string;
      stderr?: string;
    };
    const what = killed ? `did not finish within ${timeout} ms` : 'failed';
    throw new Error(
      `redis-cli --cluster create ${what}: ${`${stdout ?? ''}${stderr ?? ''}`.slice(-2_000)}`,
      { cause: error },
    );
  }
}
