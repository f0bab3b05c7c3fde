import { type ClientRequest, request } from 'node:http';

/**
 * The bench's SSE client: what a browser's EventSource does plus the application's
 * `JSON.parse` of each message, and nothing else, so the latency measured is the relay's and
 * not a test helper's (test/sse-client.ts keeps every frame and the raw body for assertions).
 * Socket.IO's side is measured through socket.io-client, its production client, which also
 * parses each packet's JSON.
 */
export function openLeanSse(
  url: string,
  headers: Record<string, string>,
  onData: (data: Record<string, unknown>) => void,
): Promise<{ close(): void }> {
  return new Promise((resolve, reject) => {
    const req: ClientRequest = request(url, {
      headers: { accept: 'text/event-stream', ...headers },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`SSE ${url} answered ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk: string) => {
        buffer = buffer ? buffer + chunk : chunk;
        let start = 0;
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n', start)) {
          const at = buffer.indexOf('data: ', start);
          if (at !== -1 && at < end) onData(JSON.parse(buffer.slice(at + 6, end)));
          start = end + 2;
        }
        buffer = start < buffer.length ? buffer.slice(start) : '';
      });
      resolve({ close: () => req.destroy() });
    });
    req.end();
  });
}
