import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { spawnNode } from '@x/testkit';
import { describe, expect, it } from 'vitest';

const FIXTURE = fileURLToPath(new URL('./fixtures/app-process.ts', import.meta.url));
const quiet = { LOG_LEVEL: 'silent' };

describe('process lifecycle', () => {
  it('exits 0 once the shutdown after SIGTERM resolves', async () => {
    const child = await spawnNode(FIXTURE, quiet, { args: ['ok'] });
    expect(await child.kill('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(child.lines).toContain('SHUTDOWN SIGTERM');
  });

  it('exits 1 when the shutdown fails', async () => {
    const child = await spawnNode(FIXTURE, quiet, { args: ['fail'] });
    expect(await child.kill('SIGINT')).toEqual({ code: 1, signal: null });
    expect(child.lines).toContain('SHUTDOWN SIGINT');
  });

  it('exits 1 at once on a second signal while the shutdown hangs', async () => {
    const child = await spawnNode(FIXTURE, quiet, { args: ['hang'] });
    child.child.kill('SIGTERM');
    await child.waitForLine(/^SHUTDOWN SIGTERM$/);
    expect(await child.kill('SIGTERM')).toEqual({ code: 1, signal: null });
  });

  it('turns a bad variable into one line on stderr and exit code 2', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', FIXTURE], {
      env: { ...process.env, WORKER_CONCURRENCY: 'zero' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^invalid configuration: WORKER_CONCURRENCY /),
    ]);
  });

  it.each([
    ['REDIS_URL and REDIS_CLUSTER_NODES both set', 'ok', { REDIS_URL: 'redis://127.0.0.1:6379' }],
    ['a malformed REDIS_CLUSTER_NODES', 'ok', { REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1' }],
  ])('refuses %s with one line on stderr and exit code 2', (_what, mode, extra) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', FIXTURE, mode], {
      env: { ...process.env, ...quiet, REDIS_CLUSTER_NODES: '127.0.0.1:7000', ...extra },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^invalid configuration: REDIS_CLUSTER_NODES[: ]/),
    ]);
  });

  it('prints a failure to start with its stack and exits 1', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', FIXTURE, 'crash'], {
      env: { ...process.env, ...quiet },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^x fixture failed to start: Error: cannot start\n\s+at /);
  });
});
