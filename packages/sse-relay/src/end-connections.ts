import type { SseConnection } from './sse-connection.js';

/**
 * Ends every open stream with a `retry:` hint (clients come back to another replica) and waits
 * for them to close, at most `timeoutMs`. Shared by the run and the workspace feed routers.
 */
export async function endConnections(
  open: Iterable<SseConnection>,
  retryMs: number,
  timeoutMs: number,
): Promise<void> {
  const conns = [...open];
  const closing = conns.map((conn) => conn.closed());
  for (const conn of conns) conn.end(`retry: ${retryMs}\n\n`);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(closing),
    new Promise((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
}
