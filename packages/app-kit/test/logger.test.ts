import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/index.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, stream };
}

describe('logger', () => {
  it('writes JSON lines with pid and the given base fields', () => {
    const { lines, stream } = capture();
    createLogger('info', { service: 'api' }, stream).info({ runId: 'r1' }, 'hello');
    expect(lines[0]).toMatchObject({ pid: process.pid, service: 'api', runId: 'r1', msg: 'hello' });
  });

  it('redacts tokens, authorization headers and secrets wherever they slip in', () => {
    const { lines, stream } = capture();
    createLogger('info', {}, stream).info(
      {
        token: 'tok-1',
        secret: 'sec-2',
        st: 'st-3',
        req: { headers: { authorization: 'Bearer abc-4' }, query: { st: 'st-5' } },
        user: { token: 'tok-6' },
      },
      'request',
    );
    const text = JSON.stringify(lines);
    for (const leaked of ['tok-1', 'sec-2', 'st-3', 'abc-4', 'st-5', 'tok-6'])
      expect(text).not.toContain(leaked);
    expect(lines[0]).toMatchObject({ token: '[redacted]', user: { token: '[redacted]' } });
  });

  it('respects the level (silent writes nothing)', () => {
    const { lines, stream } = capture();
    const logger = createLogger('silent', {}, stream);
    logger.error('nothing');
    expect(lines).toEqual([]);
  });
});
