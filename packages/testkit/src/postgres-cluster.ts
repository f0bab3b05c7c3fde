import { execFileSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { findBinary, postgresBinDirs } from './find-binary.js';
import { freePort } from './free-port.js';
import { MissingServerError } from './missing-server-error.js';

const INSTALL = 'apt-get install -y postgresql';

/**
 * A private PostgreSQL cluster under the temp dir, shared by every test process of this
 * machine (each test still gets its own database). Started once with initdb/pg_ctl, as the
 * `postgres` user when we are root (initdb refuses to run as root), and left running so the
 * next test run reuses it. Returns the admin connection URL.
 */
export async function privateClusterUrl(): Promise<string> {
  const dirs = postgresBinDirs();
  const initdb = findBinary('initdb', dirs);
  const pgCtl = findBinary('pg_ctl', dirs);
  if (!initdb || !pgCtl) throw new MissingServerError('postgres', INSTALL, 'DATABASE_URL');
  const asRoot = process.getuid?.() === 0;
  const root = join(tmpdir(), `x-testkit-pg-${process.getuid?.() ?? 'user'}`);
  const data = join(root, 'data');
  const portFile = join(root, 'port');
  mkdirSync(root, { recursive: true });
  if (asRoot) chownTo(root, 'postgres');

  return withLock(join(root, 'lock'), async () => {
    const run = (binary: string, args: string[]) => {
      const [cmd, argv] = asRoot
        ? ['runuser', ['-u', 'postgres', '--', binary, ...args]]
        : [binary, args];
      return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    };
    if (existsSync(portFile) && isRunning(() => run(pgCtl, ['status', '-D', data]))) {
      return urlFor(Number(readFileSync(portFile, 'utf8')));
    }
    if (!existsSync(join(data, 'PG_VERSION'))) {
      rmSync(data, { recursive: true, force: true });
      run(initdb, ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
    }
    const port = await freePort();
    // Durability is irrelevant for test data; these make the cluster several times faster.
    // pg_stat_statements, where the server has it, lets benchmarks count statements per run
    // (its library sits beside the real binary, not beside a /usr/local/bin symlink).
    const statements = existsSync(
      join(dirname(realpathSync(pgCtl)), '..', 'lib', 'pg_stat_statements.so'),
    )
      ? ' -c shared_preload_libraries=pg_stat_statements'
      : '';
    const options = `-p ${port} -c listen_addresses=127.0.0.1 -k ${root} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300${statements}`;
    run(pgCtl, ['start', '-w', '-D', data, '-l', join(root, 'log'), '-o', options]);
    writeFileSync(portFile, String(port));
    return urlFor(port);
  });
}

function urlFor(port: number): string {
  return `postgres://postgres@127.0.0.1:${port}/postgres`;
}

function isRunning(status: () => string): boolean {
  try {
    return status().includes('server is running');
  } catch {
    return false;
  }
}

function chownTo(path: string, user: string): void {
  const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
  const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }));
  chownSync(path, uid, gid);
}

/** A cross-process lock: mkdir is atomic. Stale locks (over 60 s) are broken. */
async function withLock<T>(lockDir: string, body: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lockDir);
      break;
    } catch {
      try {
        const { mtimeMs } = (await import('node:fs')).statSync(lockDir);
        if (Date.now() - mtimeMs > 60_000) rmSync(lockDir, { recursive: true, force: true });
      } catch {
        // The holder released it between our mkdir and stat: try again.
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockDir}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  try {
    return await body();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}
