import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port.js';
import { pingUntilReady } from './redis-ping.js';

export type ClusterRole = 'primary' | 'replica';

/** One node of a test cluster, as tests see it. */
export interface TestClusterNode {
  readonly host: string;
  readonly port: number;
  /** The cluster bus port (node-to-node gossip), picked free like `port`. */
  readonly busPort: number;
  /** The node's cluster id (40 hex digits); kept across restarts by its config file. */
  readonly id: string;
  /**
   * Its role when the kit last looked (start, `waitHealthy`, `primaryForSlot`): a failover
   * changes it, and the kit learns so on its next look.
   */
  readonly role: ClusterRole;
  /** False between `kill(node)` and `restart(node)`. */
  readonly running: boolean;
}

/** The per-node settings; `--port`, `--cluster-port` and `--dir` come from the node. */
function nodeArgs(node: ClusterNodeProcess, nodeTimeoutMs: number): string[] {
  // biome-ignore format: one flag and its value per line reads best
  return [
    '--port', String(node.port),
    '--cluster-port', String(node.busPort),
    '--bind', '127.0.0.1',
    '--protected-mode', 'no',
    '--cluster-enabled', 'yes',
    '--cluster-config-file', join(node.dir, 'nodes.conf'),
    // A short timeout makes failure detection, and so failover, take seconds instead of 15 s.
    '--cluster-node-timeout', String(nodeTimeoutMs),
    '--dir', node.dir,
    '--save', '',
    '--appendonly', 'no',
    // Replicas resync at once after a (re)start instead of waiting 5 s for more replicas.
    '--repl-diskless-sync', 'yes',
    '--repl-diskless-sync-delay', '0',
    // A graceful stop must not wait up to 10 s for lagging replicas.
    '--shutdown-on-sigterm', 'nosave now',
    '--daemonize', 'no',
    '--logfile', join(node.dir, 'redis.log'),
    '--loglevel', 'notice',
  ];
}

/** A redis-server process in cluster mode, in its own directory, restartable on its ports. */
export class ClusterNodeProcess implements TestClusterNode {
  readonly host = '127.0.0.1';
  id = '';
  role: ClusterRole = 'primary';
  private child: ChildProcess | undefined;

  private constructor(
    private readonly binary: string,
    readonly port: number,
    readonly busPort: number,
    readonly dir: string,
    private readonly nodeTimeoutMs: number,
  ) {}

  /**
   * Starts a node on fresh free ports (none of `taken`), trying new ports when another
   * process grabs them between the check and the bind.
   */
  static async launch(
    binary: string,
    dir: string,
    nodeTimeoutMs: number,
    taken: Set<number>,
  ): Promise<ClusterNodeProcess> {
    for (let attempt = 1; ; attempt++) {
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const node = new ClusterNodeProcess(
        binary,
        await distinctFreePort(taken),
        await distinctFreePort(taken),
        dir,
        nodeTimeoutMs,
      );
      if (await node.spawnOnce()) return node;
      if (attempt >= 5) {
        throw new Error(
          `redis-server (cluster node) did not start in 5 attempts, last on 127.0.0.1:${node.port}: ${node.logTail()}`,
        );
      }
    }
  }

  get running(): boolean {
    const child = this.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** SIGKILL: the node vanishes without a word to its peers or clients. */
  async kill(): Promise<void> {
    await this.halt('SIGKILL');
  }

  /**
   * Starts the node again on the same ports with the same `nodes.conf`, so it rejoins the
   * cluster as the same node (empty: it keeps no data). A running node is stopped first
   * (SIGTERM, SIGKILL after 5 s).
   */
  async restart(): Promise<void> {
    if (this.running) await this.halt('SIGTERM');
    // The kernel may not have released the ports yet, or another process took one: retry.
    for (let attempt = 1; attempt <= 20; attempt++) {
      if (await this.spawnOnce()) return;
      await sleep(100);
    }
    throw new Error(
      `redis-server (cluster node) did not restart on 127.0.0.1:${this.port}: ${this.logTail()}`,
    );
  }

  /** Synchronous last resort for a process that exits without `close()`. */
  killNow(): void {
    if (this.running) this.child?.kill('SIGKILL');
  }

  /** The end of the node's log, for error messages. */
  logTail(bytes = 2_000): string {
    const file = join(this.dir, 'redis.log');
    return existsSync(file) ? readFileSync(file, 'utf8').slice(-bytes) : '(no log)';
  }

  private async spawnOnce(): Promise<boolean> {
    const child = spawn(this.binary, nodeArgs(this, this.nodeTimeoutMs), { stdio: 'ignore' });
    child.on('error', () => {}); // reported through the failed ping and the log
    this.child = child;
    if (await pingUntilReady(this.port, child, 10_000)) return true;
    await this.halt('SIGKILL');
    return false;
  }

  private async halt(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

async function distinctFreePort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePort();
    if (!taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('could not find a free loopback port not already used by this cluster');
}
