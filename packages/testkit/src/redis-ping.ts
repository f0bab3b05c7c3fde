import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';

/**
 * Polls `127.0.0.1:port` with a raw PING until a redis-server answers PONG. False when the
 * child exits first (e.g. its port was taken) or nothing answers within `timeoutMs`.
 */
export async function pingUntilReady(
  port: number,
  child: ChildProcess,
  timeoutMs = 5_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.setTimeout(500);
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith('+PONG'));
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}
