import { type Agent, type ClientRequest, request } from 'node:http';

export interface SseFrames {
  /** Resolves when the server ends the stream (or it breaks). */
  readonly ended: Promise<void>;
  close(): void;
}

/**
 * A lean SSE reader for benchmarks: what a browser's EventSource does to find each frame's
 * `data:` text, and nothing else, so a bench measures the server and not its client. Frames
 * are cut without re-slicing the buffer per frame; `onData` gets the raw text (JSON-parse it
 * only when needed). Resolves once the response is 200; rejects on any other status.
 */
export function openSseFrames(
  url: string | URL,
  headers: Record<string, string>,
  onData: (data: string) => void,
  agent?: Agent,
): Promise<SseFrames> {
  return new Promise((resolve, reject) => {
    const req: ClientRequest = request(url, {
      agent,
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
          if (at !== -1 && at < end) onData(buffer.slice(at + 6, end));
          start = end + 2;
        }
        buffer = start < buffer.length ? buffer.slice(start) : '';
      });
      const ended = new Promise<void>((done) => {
        res.on('end', done);
        res.on('error', () => done());
        res.on('close', done);
      });
      resolve({ ended, close: () => req.destroy() });
    });
    req.end();
  });
}
