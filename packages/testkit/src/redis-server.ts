import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
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
  /**
   * Starts the server again on the same port (stopping it first if it runs). Empty, unless it
   * was started with `persistence`: then with its data, or empty with `{ empty: true }`.
   */
  restart(opts?: { empty?: boolean }): Promise<void>;
  /** Stops the server for good and removes its directory. */
  close(): Promise<void>;
}

const INSTALL = 'apt-get install -y redis-server';

export interface StartRedisOptions {
  /**
   * An append-only file, fsynced on every write, so a server killed with SIGKILL restarts
   * with every acknowledged write (a real outage with persistence). Always a private server:
   * `REDIS_URL` is ignored. Default false.
   */
  persistence?: boolean;
}

/**
 * A Redis server for one test file: a private `redis-server` on a free loopback port in a
 * temporary directory (no persistence unless asked), or the server at `REDIS_URL` when that
 * is set (and no persistence is asked). Isolate keys with `uniqueName()` prefixes either way.
 */
export async function startRedis(opts: StartRedisOptions = {}): Promise<TestRedis> {
  const persistence = opts.persistence ?? false;
  const external = process.env.REDIS_URL;
  if (external && !persistence) return externalRedis(external);
  const binary = findBinary('redis-server');
  if (!binary) throw new MissingServerError('redis', INSTALL, 'REDIS_URL');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'x-redis-'));
  let child: ChildProcess | undefined;

  const start = async () => {
    child = await spawnRedis(binary, port, dir, persistence);
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
    restart: async ({ empty = false } = {}) => {
      await halt('SIGTERM');
      if (empty) {
        for (const name of readdirSync(dir))
          rmSync(join(dir, name), { recursive: true, force: true });
      }
      await start();
    },
    close: async () => {
      await halt('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function spawnRedis(
  binary: string,
  port: number,
  dir: string,
  persistence: boolean,
): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', ''];
  if (persistence) args.push('--appendonly', 'yes', '--appendfsync', 'always');
  else args.push('--appendonly', 'no');
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
