import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary } from './find-binary.js';
import { freePort } from './free-port.js';
import { MissingServerError } from './missing-server-error.js';
import { pingUntilReady } from './redis-ping.js';

export interface TestRedis {
  /** `redis://host:port` to hand to clients. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /**
   * True when this kit owns the server process and can stop, kill and restart it.
   * False when the tests run against `REDIS_URL`: fault injection then throws.
   */
  readonly canInjectFaults: boolean;
  /** Graceful shutdown (SHUTDOWN NOSAVE via SIGTERM); the port stays reserved for restart(). */
  stop(): Promise<void>;
  /** SIGKILL: the server vanishes without closing its sockets cleanly. */
  kill(): Promise<void>;
  /** Starts the server again on the same port (empty: it keeps nothing on disk). */
  restart(): Promise<void>;
  /** Stops the server for good and removes its directory. */
  close(): Promise<void>;
}

const INSTALL = 'apt-get install -y redis-server';

/**
 * A Redis server for one test file: a private `redis-server` on a free loopback port in a
 * temporary directory (no persistence), or the server at `REDIS_URL` when that is set.
 * Isolate keys with `uniqueName()` prefixes either way.
 */
export async function startRedis(): Promise<TestRedis> {
  const external = process.env.REDIS_URL;
  if (external) return externalRedis(external);
  const binary = findBinary('redis-server');
  if (!binary) throw new MissingServerError('redis', INSTALL, 'REDIS_URL');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'x-redis-'));
  let child: ChildProcess | undefined;

  const start = async () => {
    child = await spawnRedis(binary, port, dir);
  };
  const halt = async (signal: NodeJS.Signals) => {
    const current = child;
    child = undefined;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = once(current, 'exit');
    current.kill(signal);
    await exited;
  };
  await start();
  // A test that forgets close() must not leave a server behind.
  process.once('exit', () => child?.kill('SIGKILL'));
  return {
    url: `redis://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    canInjectFaults: true,
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    restart: async () => {
      await halt('SIGTERM');
      await start();
    },
    close: async () => {
      await halt('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function spawnRedis(binary: string, port: number, dir: string): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  args.push('--dir', dir, '--daemonize', 'no', '--loglevel', 'warning', '--protected-mode', 'no');
  // A restart can race the kernel releasing the port; retry briefly.
  for (let attempt = 0; ; attempt++) {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    if (await pingUntilReady(port, child)) return child;
    child.kill('SIGKILL');
    if (attempt >= 20) throw new Error(`redis-server did not start on port ${port}: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function externalRedis(url: string): TestRedis {
  const parsed = new URL(url);
  const refuse = async () => {
    throw new Error(
      'NOT RUNNABLE: this fault-injection test needs a private redis-server, but REDIS_URL is set. ' +
        'Unset REDIS_URL so the test kit can start (and kill) its own server.',
    );
  };
  return {
    url,
    host: parsed.hostname,
    port: Number(parsed.port || 6379),
    canInjectFaults: false,
    stop: refuse,
    kill: refuse,
    restart: refuse,
    close: async () => {},
  };
}
